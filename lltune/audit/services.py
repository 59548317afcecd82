"""Service and limits checks: units lltune must not stop, units the host does not have, and
limits entries."""

import re
from typing import Dict

from lltune.audit.context import AuditContext, KeyPath
from lltune.model.queries import dig

# Units whose stop or disable takes the host (or lltune's own mechanism) away.
CRITICAL_UNITS = re.compile(r"^(tuned|dbus|dbus-broker|sshd|NetworkManager|network|"
                            r"systemd-.*|getty@.*|serial-getty@.*|auditd)\.service$")


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


def check_limits(a: AuditContext) -> None:
    seen: Dict[str, int] = {}
    for index, entry in enumerate(a.value("limits") or []):
        domain = entry.get("domain") if isinstance(entry, dict) else None
        if domain is None:
            continue
        if domain in seen:
            a.add("limits.duplicate-domain", ("limits", index, "domain"), "a second entry for "
                  "%s (the first is limits[%d]): merge them" % (domain, seen[domain]))
        seen.setdefault(domain, index)
