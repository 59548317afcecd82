"""Service and limits checks: units lltune must not stop, units the host does not have, and
limits entries."""

import re
from typing import Dict

from lltune.audit.context import AuditContext, KeyPath
from lltune.model.queries import dig

# Units whose stop or disable cuts the host off or stops lltune's own mechanism: with its
# sockets, paths and timers too (stopping dbus.socket takes the bus away as surely as
# dbus.service), and the aliases distributions install (ssh.service on Debian, messagebus,
# dbus-org.freedesktop.*). Names are case-sensitive, as systemd's are.
CRITICAL_UNIT_NAMES = (
    r"dbus", r"dbus-broker", r"messagebus", r"dbus-org\..+",  # the system bus: tuned, systemd
    r"systemd-.+",  # journald and its sockets, logind, networkd, resolved, udevd, ...
    r"sshd?", r"sshd?@.*", r"sshd?-keygen@.*",  # remote access
    r"NetworkManager.*", r"network", r"networking", r"wpa_supplicant",  # the network
    r"ifup@.*", r"getty@.*", r"serial-getty@.*", r"auditd", r"polkit",
    r"tuned",  # what applies lltune's profile
    r"lltune.*",  # lltune's own units
)
CRITICAL_UNITS = re.compile(r"^(%s)\.(service|socket|path|timer)$" % "|".join(
    CRITICAL_UNIT_NAMES))


def check_services(a: AuditContext) -> None:
    units = dig(a.snapshot, "services", "units") or {}
    for section in ("stop", "disable"):
        for index, unit in enumerate(a.value("services." + section) or []):
            path: KeyPath = ("services", section, index)
            if not isinstance(unit, str):
                continue
            if CRITICAL_UNITS.match(unit):
                a.add("services.critical-unit", path, "lltune will not %s %s: the host or "
                      "lltune itself needs it" % (section, unit))
            elif (units.get(unit) or {}).get("load") == "not-found":
                a.add("services.unknown-unit", path, "%s is not installed on this host"
                      % unit, ["%s: not-found" % unit])


# pam_limits (limits.conf(5)): the wildcard '*' applies to every user but root, and root's
# own limits come only from an entry for the literal name root. RLIMIT_NOFILE below 1024 (the
# kernel's default soft limit, include/asm-generic/resource.h INR_OPEN_CUR) starves root's
# daemons and logins of file descriptors.
ROOT_NOFILE_FLOOR = 1024


def check_limits(a: AuditContext) -> None:
    seen: Dict[str, int] = {}
    acknowledged = a.value("limits_risk_acknowledged") is True
    for index, entry in enumerate(a.value("limits") or []):
        domain = entry.get("domain") if isinstance(entry, dict) else None
        if domain is None:
            continue
        if domain in seen:
            a.add("limits.duplicate-domain", ("limits", index, "domain"), "a second entry for "
                  "%s (the first is limits[%d]): merge them" % (domain, seen[domain]))
        seen.setdefault(domain, index)
        rtprio, memlock, nofile = (entry.get(k) for k in ("rtprio", "memlock", "nofile"))
        if domain == "*" and not acknowledged:
            if isinstance(rtprio, int) and not isinstance(rtprio, bool) and rtprio > 0:
                a.add("limits.wildcard-unacknowledged", ("limits", index, "rtprio"),
                      "rtprio %d for '*' lets every user's process starve the host with a "
                      "real-time thread; name the application's user or group, or set "
                      "limits_risk_acknowledged: true to accept that" % rtprio)
            if memlock == "unlimited":
                a.add("limits.wildcard-unacknowledged", ("limits", index, "memlock"),
                      "memlock unlimited for '*' lets every user's process pin all memory; "
                      "name the application's user or group, or set "
                      "limits_risk_acknowledged: true to accept that")
        if domain == "root" and isinstance(nofile, int) and not isinstance(nofile, bool) and \
                nofile < ROOT_NOFILE_FLOOR:
            a.add("limits.root-nofile-low", ("limits", index, "nofile"),
                  "nofile %d for root is below %d: root's services and logins run out of file "
                  "descriptors" % (nofile, ROOT_NOFILE_FLOOR))
