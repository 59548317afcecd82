"""`lltune verify`: the live host against the config, knob by knob, plus tuned's own verify.

Drift is a knob whose live value differs from the desired one. Kernel command-line knobs count
only once the host has booted since apply (state.json keeps apply's boot id); before that they
are "pending reboot".
"""

from typing import Any, Dict, List, Optional

from lltune.audit.bootloader import why_parameters_are_missing
from lltune.common.errors import InputError, LLTuneError
from lltune.config.loader import Config
from lltune.host.reader import RootReader
from lltune.host.scan import scan
from lltune.system.dbus import BusUnavailable, SystemBus
from lltune.tune import backup
from lltune.tune.plan import Change, build


def _booted_since_apply(state: Optional[Dict[str, Any]], reader: RootReader) -> bool:
    if not state or not state.get("boot_id"):
        return True
    return reader.value("/proc/sys/kernel/random/boot_id") != state["boot_id"]


def _tuned_verdict() -> Dict[str, Any]:
    from lltune.system.tuned import Tuned, verify_failures

    try:
        with SystemBus(timeout=10.0) as bus:
            passed, log = Tuned(bus).verify()
            return {"available": True, "passed": passed,
                    "failures": verify_failures(passed, log)[-50:],
                    "log": [line for line in log.splitlines() if line.strip()][-50:]}
    except (BusUnavailable, LLTuneError) as exc:
        return {"available": False, "reason": str(exc)}


def verify(config: Config, state: Optional[Dict[str, Any]] = None,
           ask_tuned: bool = True, root: str = "/") -> Dict[str, Any]:
    """The verify report: every checked knob, the drift, and tuned's verdict (root: a tree
    instead of the live host, for tests)."""
    reader = RootReader(root)
    extra = sorted((config.value("sysctl") or {}).keys())
    live = scan(reader, {"kind": "live" if root == "/" else "root", "path": root},
                extra_sysctls=extra)
    booted = _booted_since_apply(state, reader)
    rows: List[Dict[str, Any]] = []
    drift: List[Change] = []
    for change in build(config, live):
        status = change.status
        if status == "change" and change.reboot and not booted:
            status = "pending-reboot"
        elif status == "change":
            drift.append(change)
            status = "drift"
        rows.append(dict(change.as_dict(), status=status))
    # Kernel parameters missing after the reboot: say what kept tuned's bootloader plugin from
    # putting them on this boot, when the host tells.
    boot_causes = why_parameters_are_missing(live) if any(c.reboot for c in drift) else []
    tuned = _tuned_verdict() if ask_tuned else {"available": False, "reason": "not asked"}
    # Before the reboot tuned's bootloader verify fails on every new kernel parameter.
    tuned_failed = bool(tuned.get("available") and not tuned.get("passed") and (
        booted or tuned.get("failures")))
    # A host whose tuned cannot be asked is not verified, whatever the knobs say: an
    # all-null config on a host without tuned checks nothing at all.
    unverified = ask_tuned and not tuned.get("available")
    return {
        "config": config.source,
        "booted_since_apply": booted,
        "knobs": rows,
        "drift": [change.knob for change in drift],
        "boot_causes": boot_causes,
        "tuned_verify": tuned,
        "tuned_unavailable": bool(unverified),
        "ok": not drift and not tuned_failed and not unverified,
    }


def latest_state() -> Optional[Dict[str, Any]]:
    """The state.json of the newest apply not rolled back (None when there is none); a state
    directory or bundle lltune cannot trust is an EnvironmentProblem, not "no apply"."""
    try:
        bundle = backup.find(None)
        return dict(backup.read_state(bundle), bundle=bundle.path)
    except InputError:
        return None
