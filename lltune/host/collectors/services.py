"""Services that decide or disturb latency, and tuned's own state.

Unit states come from systemd's D-Bus API when the bus answers; otherwise (offline, a container,
no systemd) from the unit files and the process table, marked `source: files`.
"""

from typing import Any, Dict, List

from lltune.host.collectors import ScanContext
from lltune.host.collectors.processes import process_table, running_commands
from lltune.host.collectors.tuned import tuned_state
from lltune.host.reader import Missing

# unit -> (process name, why it matters on a low-latency host)
WATCHED_UNITS = {
    "tuned.service": ("tuned", "applies and keeps lltune's profile"),
    "irqbalance.service": ("irqbalance", "moves IRQs onto isolated CPUs unless they are banned"),
    "ptp4l.service": ("ptp4l", "PTP synchronisation of the NIC clock"),
    "phc2sys.service": ("phc2sys", "steers the system clock from the NIC clock"),
    "timemaster.service": ("timemaster", "runs ptp4l/phc2sys/chronyd together"),
    "chronyd.service": ("chronyd", "NTP; fights phc2sys if both steer the system clock"),
    "ntpd.service": ("ntpd", "NTP; fights phc2sys if both steer the system clock"),
    "ksm.service": ("ksmd", "KSM page scanning steals cycles and adds page faults"),
    "ksmtuned.service": ("ksmtuned", "starts KSM scanning under memory pressure"),
    "numad.service": ("numad", "migrates memory and tasks between nodes at run time"),
    "cpupower.service": ("cpupower", "sets the governor behind tuned's back"),
    "power-profiles-daemon.service": ("power-profiles-daemon", "changes EPP behind tuned"),
    "thermald.service": ("thermald", "may cap frequency"),
    "sysstat.service": ("sadc", "periodic collection wakes CPUs"),
    "packagekit.service": ("packagekitd", "background package work"),
    "dnf-makecache.timer": (None, "periodic metadata downloads and CPU bursts"),
    "abrtd.service": ("abrtd", "crash collection bursts"),
    "rngd.service": ("rngd", "entropy daemon polling"),
    "stalld.service": ("stalld", "boosts starving threads: the safety net of RT throttling off"),
}
UNIT_DIRS = ("/etc/systemd/system", "/run/systemd/system", "/usr/lib/systemd/system",
             "/lib/systemd/system")


def _units_over_dbus(names: List[str]) -> Dict[str, Any]:
    # Imported here: asyncio costs an offline scan (--root, --from) 60 ms it never needs.
    from lltune.system.dbus import SYSTEMD, BusUnavailable, CallFailed, SystemBus

    try:
        with SystemBus(timeout=3.0) as bus:
            rows = bus.call(*SYSTEMD, "ListUnitsByNames", "as", [names])[0]
            # One call for every unit file's state (systemd 230+), where one GetUnitFileState
            # per unit cost apply a round trip each; a unit without a file is not listed.
            files = bus.call(*SYSTEMD, "ListUnitFilesByPatterns", "asas", [[], names])[0]
    except (BusUnavailable, CallFailed) as exc:
        raise Missing("dbus:systemd", str(exc)) from None
    file_states = {path.rsplit("/", 1)[-1]: state for path, state in files}
    states: Dict[str, Any] = {}
    for row in rows:
        states[row[0]] = {"load": row[2], "active": row[3], "sub": row[4]}
    for name in names:
        states.setdefault(name, {"load": "not-found", "active": "inactive",
                                 "sub": "dead"})["file_state"] = file_states.get(name)
    return states


def _units_from_files(ctx: ScanContext, names: List[str]) -> Dict[str, Any]:
    present = {directory: set(ctx.reader.listdir(directory, [])) for directory in UNIT_DIRS}
    wanted = set()
    for entry in present["/etc/systemd/system"]:
        if entry.endswith((".wants", ".requires")):
            wanted.update(ctx.reader.listdir("/etc/systemd/system/" + entry, []))
    processes = process_table(ctx)
    running = running_commands(ctx)
    states = {}
    for name in names:
        exists = any(name in entries for entries in present.values())
        masked = ctx.reader.realpath("/etc/systemd/system/" + name) == "/dev/null"
        process = WATCHED_UNITS[name][0]
        if not processes or process is None:
            active = None
        else:
            active = "active" if process in running else "inactive"
        states[name] = {
            "load": "masked" if masked else ("loaded" if exists else "not-found"),
            "active": active,
            "sub": None,
            "file_state": "masked" if masked else ("enabled" if name in wanted else (
                "disabled" if exists else None)),
        }
    return states


def collect(ctx: ScanContext) -> Dict[str, Any]:
    names = sorted(WATCHED_UNITS)
    units = ctx.probe("services", "dbus:systemd", lambda: _units_over_dbus(names))
    source = "dbus"
    if units is None:
        units = _units_from_files(ctx, names)
        source = "files"
    for name, state in units.items():
        state["why"] = WATCHED_UNITS.get(name, (None, None))[1]
    return {"services": {"source": source, "units": units, "tuned": tuned_state(ctx, units)}}
