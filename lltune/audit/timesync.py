"""Time checks: the clocksource, the PTP interface and its hardware clock, NTP beside phc2sys."""

from lltune.audit.context import AuditContext
from lltune.model.queries import dig, ethtool_known, find_nic


def check_time(a: AuditContext) -> None:
    clocksource = a.value("time.clocksource")
    available = dig(a.snapshot, "kernel", "clocksource", "available")
    if clocksource is not None and isinstance(available, list) and \
            clocksource not in available:
        a.add("time.unknown-clocksource", ("time", "clocksource"), "clocksource %s is not "
              "available on this host" % clocksource,
              ["available_clocksource: %s" % " ".join(available)])
    ptp = a.value("time.ptp")
    if not isinstance(ptp, dict) or not ptp.get("interface"):
        return
    name = ptp["interface"]
    nic = find_nic(a.snapshot, {"name": name})
    if nic is None:
        a.add("time.ptp-unknown-interface", ("time", "ptp", "interface"), "%s is not a "
              "physical NIC of this host" % name)
    else:
        clocks = [c for c in dig(a.snapshot, "time", "ptp_clocks") or []
                  if isinstance(c, dict) and c.get("nic") == name]
        if nic.get("phc_index") is None and not clocks:
            if ethtool_known(a.snapshot, nic):
                a.add("time.ptp-no-phc", ("time", "ptp", "interface"), "%s has no PTP "
                      "hardware clock: ptp4l needs hardware timestamping" % name,
                      ["ethtool -T %s: PTP Hardware Clock: none" % name])
            else:
                a.add("network.ethtool-unknown", ("time", "ptp", "interface"), "%s: the "
                      "snapshot has no ethtool answers, so its PTP clock cannot be checked"
                      % name)
    stopped = set(a.value("services.stop") or []) | set(a.value("services.disable") or [])
    if ptp.get("manage_services", True):
        for unit in ("chronyd.service", "ntpd.service"):
            state = dig(a.snapshot, "services", "units", unit) or {}
            if state.get("active") == "active" and unit not in stopped:
                a.add("time.ntp-and-phc2sys", ("time", "ptp"), "%s is running and phc2sys "
                      "would steer the system clock too; stop one of them (services.stop)"
                      % unit, ["%s: active" % unit])
