"""Defence in depth: every config string that lands in tuned.conf, a hook's data file or a shell
is checked again against its strict pattern (the schema checks them too, but a config can be
built in code rather than loaded)."""

import re
from typing import Any, List, Tuple

from lltune.audit.context import AuditContext, KeyPath
from lltune.config import knobs, resolve

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CSTATE_PATTERN = r"^[A-Za-z0-9_-]{1,16}$"
_CLOCKSOURCE_PATTERN = r"^[a-z0-9_-]{1,32}$"
_OFFLOAD_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"
_COALESCE_PATTERN = r"^[a-z][a-z-]{0,31}$"
_RPS_PATTERN = r"^$|" + knobs.CPULIST_PATTERN[1:]


def _strings(a: AuditContext) -> List[Tuple[KeyPath, Any, str]]:
    """Every config string that is rendered somewhere, with the pattern it must match."""
    value = a.value
    items: List[Tuple[KeyPath, Any, str]] = []
    for path in ("cpu.isolated", "cpu.housekeeping", "irq.default_affinity"):
        if value(path) is not None:
            items.append((tuple(path.split(".")), value(path), knobs.CPULIST_PATTERN))
    for index, name in enumerate(value("cpu.disable_cstates") or []):
        items.append((("cpu", "disable_cstates", index), name, _CSTATE_PATTERN))
    for index, pattern in enumerate(value("cpu.workload_processes") or []):
        items.append((("cpu", "workload_processes", index), pattern,
                      knobs.THREAD_REGEX_PATTERN))
    for section in ("kernel.cmdline_add", "kernel.cmdline_remove"):
        for index, token in enumerate(value(section) or []):
            items.append((tuple(section.split(".")) + (index,), token,
                          knobs.CMDLINE_TOKEN_PATTERN))
    for index, entry in a.interfaces():
        base: KeyPath = ("network", "interfaces", index)
        match = entry.get("match") or {}
        for key, pattern in (("name", knobs.IFNAME_PATTERN), ("mac", knobs.MAC_PATTERN),
                             ("pci", knobs.PCI_PATTERN)):
            if key in match:
                items.append((base + ("match", key), match[key], pattern))
        for key in ("irq_cpus",):
            if entry.get(key) is not None:
                items.append((base + (key,), entry[key], knobs.CPULIST_PATTERN))
        for key in ("rps_cpus", "xps_cpus"):
            if entry.get(key) is not None:
                items.append((base + (key,), entry[key], _RPS_PATTERN))
        for name in entry.get("offloads") or {}:
            items.append((base + ("offloads", name), name, _OFFLOAD_PATTERN))
        for name in entry.get("coalesce") or {}:
            items.append((base + ("coalesce", name), name, _COALESCE_PATTERN))
    if value("time.clocksource") is not None:
        items.append((("time", "clocksource"), value("time.clocksource"), _CLOCKSOURCE_PATTERN))
    ptp = value("time.ptp") or {}
    if isinstance(ptp, dict):
        for key, pattern in (("interface", knobs.IFNAME_PATTERN),
                             ("ptp4l_options", knobs.OPTIONS_PATTERN),
                             ("phc2sys_options", knobs.OPTIONS_PATTERN)):
            if ptp.get(key) is not None:
                items.append((("time", "ptp", key), ptp[key], pattern))
    for section in ("services.stop", "services.disable"):
        for index, unit in enumerate(value(section) or []):
            items.append((tuple(section.split(".")) + (index,), unit, knobs.UNIT_PATTERN))
    for name, setting in (value("sysctl") or {}).items():
        items.append((("sysctl", name), name, knobs.SYSCTL_NAME_PATTERN))
        if not isinstance(setting, int) or isinstance(setting, bool):
            items.append((("sysctl", name), setting, knobs.SYSCTL_VALUE_PATTERN))
    for index, entry in enumerate(value("limits") or []):
        if isinstance(entry, dict) and "domain" in entry:
            items.append((("limits", index, "domain"), entry["domain"],
                          knobs.LIMIT_DOMAIN_PATTERN))
    return items


def check_safety(a: AuditContext) -> None:
    for path, text, pattern in _strings(a):
        if not isinstance(text, str) or _CONTROL.search(text) or not re.search(pattern, text):
            a.add("safety.unsafe-value", path, "%r is not a safe value here; it must match %s "
                  "(and hold no control character)" % (text, pattern))
    try:
        tokens = resolve.cmdline_tokens(a.config, a.snapshot)
    except (TypeError, ValueError, KeyError, AttributeError):
        return  # values of the wrong type: reported above
    for token in tokens:
        if not isinstance(token, str) or _CONTROL.search(token) or not re.search(
                knobs.CMDLINE_TOKEN_PATTERN, token):
            a.add("safety.unsafe-value", ("kernel",), "kernel command-line token %r is not "
                  "safe to hand to the bootloader" % (token,))
