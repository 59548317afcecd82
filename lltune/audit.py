"""audit: a schema-valid config cross-checked against a host snapshot.

Each check is a small function of an `_Audit` (the config, the snapshot and what both say about
CPUs) that adds findings: a severity (error, warning, info), a stable code, the config position
(file:line:column) the finding is about, a message and the snapshot evidence. CHECKS lists every
code with its default severity; `lltune schema audit` documents the JSON output.

Rules worth stating once:
- Huge page headroom: the huge pages reserved on a NUMA node may take at most the node's memory
  minus max(2 GiB, a quarter of it); the rest stays for the kernel, page cache and the
  application's ordinary allocations (hugepage_limit_kb).
- tuned's presence and version are errors only for a snapshot of the live host; a --root tree
  or a capture may come from a machine still being prepared, so there they are info.
- A config value that ends up in tuned.conf, a hook's data file or a shell is re-checked here
  against the knob table's patterns (the schema checks them too): defence in depth for configs
  built in code rather than loaded.
"""

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

from lltune import knobs, resolve
from lltune.config import Config, _dotted
from lltune.cpulist import format_cpulist, parse_cpulist
from lltune.snapshot import dig as _get

Snapshot = Dict[str, Any]
KeyPath = Tuple[Any, ...]

SEVERITIES = ("error", "warning", "info")
GIB_KB = 1024 * 1024
HEADROOM_MIN_KB = 2 * GIB_KB  # at least this much of a node stays outside huge page pools
HEADROOM_FRACTION = 4  # ... and at least 1/4 of the node
TUNED_MIN_VERSION = (2, 20)
HUGEPAGE_KB = {"2M": 2048, "1G": 1048576}

# code -> (default severity, what it checks). Stable: scripts match on these.
CHECKS: Dict[str, Tuple[str, str]] = {
    "safety.unsafe-value": ("error", "a value written into tuned.conf, a hook's data or a "
                                     "shell does not match its strict pattern"),
    "cpu.no-topology": ("warning", "the snapshot has no CPU topology: CPU checks skipped"),
    "cpu.unknown-cpu": ("error", "a CPU list names a CPU the host does not have"),
    "cpu.offline-cpu": ("error", "a CPU list names an offline CPU"),
    "cpu.sets-overlap": ("error", "isolated and housekeeping share CPUs"),
    "cpu.sets-incomplete": ("error", "online CPUs are neither isolated nor housekeeping"),
    "cpu.no-housekeeping": ("error", "no online CPU is left for housekeeping"),
    "cpu.smt-split": ("warning", "SMT siblings of one core are split between isolated and "
                                 "housekeeping"),
    "cpu.cpu0-isolated": ("warning", "CPU 0 is isolated"),
    "cpu.smt-off-siblings": ("warning", "smt: off takes CPUs offline that the config names"),
    "cpu.governor-no-cpufreq": ("warning", "a governor is set but the host has no cpufreq"),
    "cpu.governor-unavailable": ("error", "the governor is not offered by the cpufreq driver"),
    "cpu.epp-unsupported": ("warning", "EPP is set but no CPU exposes it"),
    "cpu.min-perf-pct-unsupported": ("warning", "min_perf_pct is set but intel_pstate is not "
                                                "active"),
    "cpu.turbo-unsupported": ("warning", "turbo is set but the host exposes no turbo control"),
    "cpu.unknown-cstate": ("error", "disable_cstates names a C-state the host does not have"),
    "kernel.mitigations-unacknowledged": ("error", "mitigations are turned off without "
                                                   "mitigations_risk_acknowledged: true"),
    "kernel.boot-critical-token": ("error", "cmdline_add/cmdline_remove touches a token that "
                                            "can stop the host booting or leave it unusable"),
    "kernel.dash-token": ("error", "a cmdline token starts with '-' (tuned reads it as a "
                                   "removal)"),
    "kernel.cmdline-duplicates-knob": ("error", "cmdline_add sets a key a kernel.* or cpu.* "
                                                "knob already sets"),
    "kernel.cmdline-bad-cpulist": ("error", "a hand-written isolcpus=/nohz_full=/rcu_nocbs= "
                                            "value is not a CPU list"),
    "kernel.cmdline-cpus-outside-isolated": ("error", "a hand-written isolcpus=/nohz_full=/"
                                                      "rcu_nocbs= names CPUs outside "
                                                      "cpu.isolated"),
    "kernel.nohz-full-unsupported": ("error", "nohz_full requested but the kernel is built "
                                              "without CONFIG_NO_HZ_FULL"),
    "kernel.rcu-nocbs-unsupported": ("error", "rcu_nocbs requested but the kernel is built "
                                              "without CONFIG_RCU_NOCB_CPU"),
    "kernel.tsc-reliable-unsafe": ("warning", "tsc=reliable without constant_tsc and "
                                              "nonstop_tsc"),
    "kernel.pstate-wrong-vendor": ("warning", "intel_pstate= on a non-Intel or amd_pstate= on "
                                              "a non-AMD CPU"),
    "kernel.rcu-nocb-poll-no-effect": ("warning", "rcu_nocb_poll without any rcu_nocbs CPU"),
    "memory.hugepages-headroom": ("error", "huge pages leave a node less than max(2 GiB, 25%) "
                                           "of its memory"),
    "memory.hugepages-unknown-node": ("error", "per_node names a NUMA node the host does not "
                                               "have"),
    "memory.hugepages-size-unsupported": ("error", "the host offers no huge pages of that "
                                                   "size"),
    "memory.hugepages-duplicate-size": ("error", "two pools of the same page size"),
    "memory.hugepages-per-node-at-boot": ("error", "a per-node pool reserved at boot: the "
                                          "command line can only give a total"),
    "memory.hugepages-memory-unknown": ("info", "node memory unknown: headroom not checked"),
    "irq.irqbalance-absent": ("info", "an irqbalance policy is set but irqbalance is not "
                                      "installed"),
    "irq.irqbalance-moves-pins": ("error", "NIC IRQs pinned with irq_cpus while irqbalance "
                                  "keeps running: it moves them again"),
    "irq.default-affinity-isolated": ("warning", "default IRQ affinity includes isolated "
                                                 "CPUs"),
    "network.unknown-nic": ("error", "no NIC on the host matches an interface entry"),
    "network.duplicate-nic": ("error", "two interface entries match the same NIC"),
    "network.nic-node-no-housekeeping": ("warning", "the NIC's NUMA node has no housekeeping "
                                                    "CPU"),
    "network.nic-irqs-on-isolated": ("error", "the NIC's IRQs land on isolated CPUs and "
                                              "irq_cpus does not pin them"),
    "network.unlisted-nic-irqs-on-isolated": ("info", "IRQs of NICs the config does not name "
                                                      "land on isolated CPUs now"),
    "network.irq-cpus-remote": ("warning", "irq_cpus are on another NUMA node than the NIC"),
    "network.irq-cpus-isolated": ("info", "irq_cpus pins IRQs onto isolated CPUs on purpose"),
    "network.channels-exceed-max": ("error", "channels above the NIC's maximum"),
    "network.rings-exceed-max": ("error", "ring sizes above the NIC's maximum"),
    "network.channels-zero": ("error", "channels leave the NIC without an rx or a tx queue"),
    "network.ethtool-unsupported": ("error", "the NIC's driver does not support that ethtool "
                                             "setting"),
    "network.ethtool-unknown": ("info", "the snapshot has no ethtool answers for the NIC"),
    "network.coalesce-unsupported": ("error", "a coalescing parameter the NIC does not have"),
    "network.coalesce-type": ("error", "adaptive-* takes true/false, the others integers"),
    "network.offload-unknown": ("error", "an offload (feature) the NIC does not have"),
    "network.offload-fixed": ("error", "an offload the driver does not let change"),
    "network.rps-on-isolated": ("warning", "RPS/XPS sends packet work to isolated CPUs"),
    "time.unknown-clocksource": ("error", "the clocksource is not available on the host"),
    "time.ptp-unknown-interface": ("error", "the PTP interface is not a NIC of the host"),
    "time.ptp-no-phc": ("error", "the PTP interface has no PTP hardware clock"),
    "time.ntp-and-phc2sys": ("warning", "chronyd/ntpd and phc2sys would both steer the "
                                        "system clock"),
    "services.critical-unit": ("error", "stopping or disabling a unit the host or lltune "
                                        "needs"),
    "services.unknown-unit": ("warning", "the unit is not installed on the host"),
    "sysctl.duplicates-knob": ("error", "a free-form sysctl that a knob already sets"),
    "limits.duplicate-domain": ("error", "two limits entries for the same domain"),
    "tuned.missing": ("error", "tuned is not installed (info for an offline snapshot)"),
    "tuned.too-old": ("error", "tuned is older than 2.20 (info for an offline snapshot)"),
    "tuned.version-unknown": ("info", "tuned's version could not be read"),
}

# Tokens that turn CPU vulnerability mitigations off one by one (Documentation/admin-guide/
# kernel-parameters.txt; kpti and ssbd are arm64's).
MITIGATION_OFF_TOKENS = {
    "mitigations=off", "nospectre_v1", "nospectre_v2", "spectre_v2=off", "spectre_v2_user=off",
    "nopti", "pti=off", "mds=off", "tsx_async_abort=off", "l1tf=off",
    "nospec_store_bypass_disable", "spec_store_bypass_disable=off", "mmio_stale_data=off",
    "retbleed=off", "srbds=off", "gather_data_sampling=off", "spectre_bhi=off",
    "reg_file_data_sampling=off", "spec_rstack_overflow=off", "kpti=0", "ssbd=force-off",
    "nospectre_bhb",
}
# Units whose stop or disable takes the host (or lltune's own mechanism) away.
CRITICAL_UNITS = re.compile(r"^(tuned|dbus|dbus-broker|sshd|NetworkManager|network|"
                            r"systemd-.*|getty@.*|serial-getty@.*|auditd)\.service$")
# ethtool -K short names (ethtool's off_flag_def) -> the kernel feature names a snapshot holds.
OFFLOAD_ALIASES = {
    "rx": ("rx-checksum",), "tx": ("tx-checksum-",), "sg": ("tx-scatter-gather",),
    "tso": ("tx-tcp-segmentation",), "gso": ("tx-generic-segmentation",), "gro": ("rx-gro",),
    "lro": ("rx-lro",), "rxvlan": ("rx-vlan-hw-parse",), "txvlan": ("tx-vlan-hw-insert",),
    "ntuple": ("rx-ntuple-filter",), "rxhash": ("rx-hashing",),
    "ufo": ("tx-udp-fragmentation",),
}
RING_KEYS = {"rx": "rx", "tx": "tx", "rx-mini": "rx_mini", "rx-jumbo": "rx_jumbo"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CSTATE_PATTERN = r"^[A-Za-z0-9_-]{1,16}$"
_CLOCKSOURCE_PATTERN = r"^[a-z0-9_-]{1,32}$"
_OFFLOAD_PATTERN = r"^[a-z][a-z0-9-]{0,63}$"
_COALESCE_PATTERN = r"^[a-z][a-z-]{0,31}$"
_RPS_PATTERN = r"^$|" + knobs.CPULIST_PATTERN[1:]


@dataclass
class Finding:
    severity: str
    code: str
    where: str  # file:line:column of the config key the finding is about
    key: str  # the dotted key path ("network.interfaces[0].channels")
    message: str
    evidence: List[str] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        return {"severity": self.severity, "code": self.code, "where": self.where,
                "key": self.key, "message": self.message, "evidence": list(self.evidence)}

    def line(self) -> str:
        """One line of text: "SEVERITY code file:line:col: message (evidence)"."""
        text = "%s %s %s: %s" % (self.severity.upper(), self.code, self.where, self.message)
        if self.evidence:
            text += " (%s)" % "; ".join(self.evidence)
        return " ".join(text.split())


# ------------------------------------------------------------------ snapshot helpers




def cpu_table(snapshot: Snapshot) -> Dict[int, Dict[str, Any]]:
    return {cpu["id"]: cpu for cpu in _get(snapshot, "cpu", "cpus") or []
            if isinstance(cpu, dict) and isinstance(cpu.get("id"), int)}


def cores(snapshot: Snapshot) -> List[List[int]]:
    """Online CPUs grouped by physical core (SMT siblings together), lowest CPU first."""
    table = cpu_table(snapshot)
    online = {cpu for cpu, entry in table.items() if entry.get("online")}
    seen: Set[int] = set()
    groups = []
    for cpu in sorted(online):
        if cpu in seen:
            continue
        siblings = {s for s in table[cpu].get("siblings") or [cpu] if s in online} | {cpu}
        siblings -= seen
        seen.update(siblings)
        groups.append(sorted(siblings))
    return groups


def node_cpus(snapshot: Snapshot) -> Dict[Optional[int], List[int]]:
    """NUMA node -> its online CPUs (from each CPU's own node; None when unknown)."""
    result: Dict[Optional[int], List[int]] = {}
    for cpu, entry in sorted(cpu_table(snapshot).items()):
        if entry.get("online"):
            node = entry.get("node")
            result.setdefault(node if isinstance(node, int) else None, []).append(cpu)
    return result


def nic_node(snapshot: Snapshot, nic: Dict[str, Any]) -> Optional[int]:
    """The NIC's NUMA node; on a host with one node of CPUs, that node when sysfs says -1."""
    node = nic.get("numa_node")
    if isinstance(node, int):
        return node
    nodes = [n for n in node_cpus(snapshot) if n is not None]
    return nodes[0] if len(nodes) == 1 else None


def node_memory_kb(snapshot: Snapshot) -> Dict[int, Optional[int]]:
    return {node["id"]: node.get("memory_kb") for node in _get(snapshot, "numa", "nodes") or []
            if isinstance(node, dict) and isinstance(node.get("id"), int)}


def hugepage_limit_kb(memory_kb: int) -> int:
    """The most huge page memory a node of `memory_kb` may hold (the headroom rule)."""
    return max(0, memory_kb - max(HEADROOM_MIN_KB, memory_kb // HEADROOM_FRACTION))


def hugepage_sizes(snapshot: Snapshot) -> Set[str]:
    """Page sizes the host offers ("2048kB"), from the global and the per-node pools."""
    sizes = set((_get(snapshot, "memory", "hugepages") or {}).keys())
    for node in _get(snapshot, "numa", "nodes") or []:
        sizes.update((node.get("hugepages") or {}).keys() if isinstance(node, dict) else ())
    return sizes


def irq_cpus_now(snapshot: Snapshot, nic: Dict[str, Any]) -> Dict[int, List[int]]:
    """IRQ -> the CPUs it is delivered to now (effective affinity, else the affinity mask)."""
    rows = {row.get("irq"): row for row in _get(snapshot, "irqs", "irqs") or []
            if isinstance(row, dict)}
    result = {}
    for irq in nic.get("irqs") or []:
        row = rows.get(irq)
        if row:
            cpus = row.get("effective_affinity_list") or row.get("smp_affinity_list") or []
            result[irq] = list(cpus)
    return result


def irq_label(snapshot: Snapshot, irq: int) -> str:
    for row in _get(snapshot, "irqs", "irqs") or []:
        if isinstance(row, dict) and row.get("irq") == irq and row.get("name"):
            return "%d (%s)" % (irq, row["name"])
    return str(irq)


def ethtool_known(snapshot: Snapshot, nic: Dict[str, Any]) -> bool:
    """False when the snapshot could not ask the NIC at all (an offline tree without probes)."""
    probe = "ethtool:%s" % nic.get("name")
    return not any(isinstance(m, dict) and m.get("what") == probe
                   for m in snapshot.get("missing") or [])


def tuned_version(text: Any) -> Optional[Tuple[int, ...]]:
    if not isinstance(text, str):
        return None
    parts = re.findall(r"\d+", text)
    return tuple(int(p) for p in parts[:3]) if len(parts) >= 2 else None


def _token_key(token: str) -> str:
    return token.partition("=")[0]


def _cpus(text: Any) -> List[int]:
    try:
        return parse_cpulist(text) if isinstance(text, str) and text else []
    except ValueError:
        return []


def _list(cpus: Iterable[int]) -> str:
    return format_cpulist(cpus) or "none"


# ------------------------------------------------------------------ the audit


class _Audit:
    def __init__(self, config: Config, snapshot: Snapshot):
        self.config = config
        self.snapshot = snapshot
        self.findings: List[Finding] = []
        self.cpus = cpu_table(snapshot)
        self.online = sorted(cpu for cpu, entry in self.cpus.items() if entry.get("online"))
        self.isolated = resolve.isolated(config)
        self.housekeeping = resolve.housekeeping(config, snapshot)
        self.live = _get(snapshot, "source", "kind") == "live"

    def value(self, path: str) -> Any:
        return self.config.value(path)

    def add(self, code: str, path: KeyPath, message: str, evidence: Iterable[str] = (),
            severity: Optional[str] = None) -> None:
        self.findings.append(Finding(severity or CHECKS[code][0], code,
                                     self.config.where(*path), _dotted(path) or "(top level)",
                                     message, [e for e in evidence if e]))

    def interfaces(self) -> List[Tuple[int, Dict[str, Any]]]:
        return [(index, entry) for index, entry in
                enumerate(self.value("network.interfaces") or []) if isinstance(entry, dict)]


def _strings(a: _Audit) -> List[Tuple[KeyPath, Any, str]]:
    """Every config string that is rendered somewhere, with the pattern it must match."""
    value = a.value
    items: List[Tuple[KeyPath, Any, str]] = []
    for path in ("cpu.isolated", "cpu.housekeeping", "irq.default_affinity"):
        if value(path) is not None:
            items.append((tuple(path.split(".")), value(path), knobs.CPULIST_PATTERN))
    for index, name in enumerate(value("cpu.disable_cstates") or []):
        items.append((("cpu", "disable_cstates", index), name, _CSTATE_PATTERN))
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


def check_safety(a: _Audit) -> None:
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


def check_cpu_lists(a: _Audit) -> None:
    if not a.cpus:
        a.add("cpu.no-topology", ("cpu",), "the snapshot has no CPU topology; CPU lists "
              "cannot be checked", ["snapshot cpu.cpus is empty"])
        return
    lists: List[Tuple[KeyPath, Any]] = [
        (("cpu", "isolated"), a.value("cpu.isolated")),
        (("cpu", "housekeeping"), a.value("cpu.housekeeping")),
        (("irq", "default_affinity"), a.value("irq.default_affinity"))]
    for index, entry in a.interfaces():
        for key in ("irq_cpus", "rps_cpus", "xps_cpus"):
            lists.append((("network", "interfaces", index, key), entry.get(key)))
    present = "CPUs on the host: %s (online: %s)" % (_list(a.cpus), _list(a.online))
    for path, text in lists:
        cpus = _cpus(text)
        unknown = [cpu for cpu in cpus if cpu not in a.cpus]
        offline = [cpu for cpu in cpus if cpu in a.cpus and cpu not in a.online]
        if unknown:
            a.add("cpu.unknown-cpu", path, "CPU%s %s do%s not exist on this host" % (
                "s" if len(unknown) > 1 else "", _list(unknown),
                "" if len(unknown) > 1 else "es"), [present])
        if offline:
            a.add("cpu.offline-cpu", path, "CPU%s %s %s offline" % (
                "s" if len(offline) > 1 else "", _list(offline),
                "are" if len(offline) > 1 else "is"), [present])


def check_partition(a: _Audit) -> None:
    if not a.cpus:
        return
    iso, house, online = set(a.isolated), set(a.housekeeping), set(a.online)
    both = iso & house
    if both:
        a.add("cpu.sets-overlap", ("cpu", "housekeeping"), "CPUs %s are both isolated and "
              "housekeeping" % _list(both))
    if a.value("cpu.housekeeping"):
        missing = online - iso - house
        if missing:
            a.add("cpu.sets-incomplete", ("cpu", "housekeeping"), "online CPUs %s are neither "
                  "isolated nor housekeeping: say which they are" % _list(missing),
                  ["online CPUs: %s" % _list(online)])
    if online and not (house & online):
        a.add("cpu.no-housekeeping", ("cpu", "isolated"), "no online CPU is left for "
              "housekeeping: the kernel, IRQs and services need at least one",
              ["online CPUs: %s, isolated: %s" % (_list(online), _list(iso))])
    if 0 in iso:
        a.add("cpu.cpu0-isolated", ("cpu", "isolated"), "CPU 0 is isolated: it serves the "
              "timer, legacy IRQs and boot-time kernel threads that cannot move")
    for core in cores(a.snapshot):
        inside = [cpu for cpu in core if cpu in iso]
        if inside and len(inside) < len(core) and set(core) - iso & house:
            a.add("cpu.smt-split", ("cpu", "isolated"), "core of CPUs %s is split: %s "
                  "isolated, %s housekeeping; the housekeeping thread shares the core's "
                  "caches and execution units" % (_list(core), _list(inside),
                                                   _list(set(core) - iso)),
                  ["thread siblings of CPU %d: %s" % (core[0], _list(core))])
    if a.value("cpu.smt") == "off":
        named = iso | (set(_cpus(a.value("cpu.housekeeping"))))
        gone = sorted(cpu for core in cores(a.snapshot) for cpu in core[1:] if cpu in named)
        if gone:
            a.add("cpu.smt-off-siblings", ("cpu", "smt"), "smt: off (nosmt) takes CPUs %s "
                  "offline at the next boot, but the config names them" % _list(gone))


def check_cmdline(a: _Audit) -> None:
    value = a.value
    add = [t for t in value("kernel.cmdline_add") or [] if isinstance(t, str)]
    remove = [t for t in value("kernel.cmdline_remove") or [] if isinstance(t, str)]
    acknowledged = value("kernel.mitigations_risk_acknowledged") is True
    if not acknowledged:
        if value("kernel.mitigations") == "off":
            a.add("kernel.mitigations-unacknowledged", ("kernel", "mitigations"),
                  "mitigations: 'off' runs without CPU vulnerability mitigations; set "
                  "kernel.mitigations_risk_acknowledged: true to accept that")
        for index, token in enumerate(add):
            if token in MITIGATION_OFF_TOKENS or (
                    _token_key(token) == "mitigations" and "off" in token.split("=", 1)[1]):
                a.add("kernel.mitigations-unacknowledged", ("kernel", "cmdline_add", index),
                      "%s turns CPU vulnerability mitigations off; set kernel."
                      "mitigations_risk_acknowledged: true to accept that" % token)
    for section, tokens in (("cmdline_add", add), ("cmdline_remove", remove)):
        for index, token in enumerate(tokens):
            key = _token_key(token)
            if knobs.BOOT_CRITICAL_KEYS.match(key):
                a.add("kernel.boot-critical-token", ("kernel", section, index),
                      "%s is boot-critical: lltune never adds or removes it (a wrong value "
                      "stops the host booting or leaves it unusable)" % token)
            elif token.startswith("-"):
                a.add("kernel.dash-token", ("kernel", section, index),
                      "%s starts with '-', which tuned's bootloader plugin reads as 'remove'"
                      % token)
    own_keys = {_token_key(t) for t in resolve.cmdline_tokens(a.config, a.snapshot)[
        :-len(add) or None]} if add else set()
    iso = set(a.isolated)
    manual: Dict[str, List[int]] = {}
    for index, token in enumerate(add):
        key, _, text = token.partition("=")
        if key in own_keys:
            a.add("kernel.cmdline-duplicates-knob", ("kernel", "cmdline_add", index),
                  "%s: lltune already writes %s= from its kernel.*/cpu.* settings; set it "
                  "there (or turn that setting off) instead" % (token, key))
        if key in ("isolcpus", "nohz_full", "rcu_nocbs"):
            words = text.split(",")
            while key == "isolcpus" and words and words[0] in ("managed_irq", "domain",
                                                                "nohz"):
                words.pop(0)
            try:
                cpus = parse_cpulist(",".join(words))
            except ValueError:
                a.add("kernel.cmdline-bad-cpulist", ("kernel", "cmdline_add", index),
                      "%s: %r is not a CPU list" % (token, ",".join(words)))
                continue
            manual[key] = cpus
            outside = [cpu for cpu in cpus if cpu not in iso]
            if outside:
                a.add("kernel.cmdline-cpus-outside-isolated", ("kernel", "cmdline_add", index),
                      "%s names CPUs %s that cpu.isolated does not isolate" % (
                          token, _list(outside)), ["cpu.isolated: %s" % _list(iso)])
    config = _get(a.snapshot, "kernel", "config") or {}
    wants_nohz = bool(iso) and value("kernel.nohz_full") is True or "nohz_full" in manual
    if wants_nohz and config.get("CONFIG_NO_HZ_FULL") == "n":
        a.add("kernel.nohz-full-unsupported", ("kernel", "nohz_full"), "nohz_full is "
              "requested but this kernel is built without it: the boot option is ignored",
              ["/boot/config-<release>: CONFIG_NO_HZ_FULL is not set"])
    wants_nocbs = bool(iso) and value("kernel.rcu_nocbs") is True or "rcu_nocbs" in manual
    if wants_nocbs and config.get("CONFIG_RCU_NOCB_CPU") == "n":
        a.add("kernel.rcu-nocbs-unsupported", ("kernel", "rcu_nocbs"), "rcu_nocbs is "
              "requested but this kernel is built without it: the boot option is ignored",
              ["/boot/config-<release>: CONFIG_RCU_NOCB_CPU is not set"])
    if value("kernel.rcu_nocb_poll") is True and not wants_nocbs:
        a.add("kernel.rcu-nocb-poll-no-effect", ("kernel", "rcu_nocb_poll"), "rcu_nocb_poll "
              "only changes CPUs listed in rcu_nocbs, and there are none")
    if value("kernel.tsc_reliable") is True or "tsc=reliable" in add:
        arch = _get(a.snapshot, "host", "architecture")
        flags = _get(a.snapshot, "cpu", "flags")
        if arch not in (None, "x86_64"):
            a.add("kernel.tsc-reliable-unsafe", ("kernel", "tsc_reliable"), "tsc=reliable is "
                  "an x86 option; this host is %s" % arch)
        elif isinstance(flags, dict) and not (flags.get("constant_tsc") and
                                              flags.get("nonstop_tsc")):
            lacking = [f for f in ("constant_tsc", "nonstop_tsc") if not flags.get(f)]
            a.add("kernel.tsc-reliable-unsafe", ("kernel", "tsc_reliable"), "tsc=reliable "
                  "turns off the clocksource watchdog, but the TSC may drift or stop here",
                  ["/proc/cpuinfo flags lack %s" % ", ".join(lacking)])
    vendor = _get(a.snapshot, "cpu", "vendor")
    for path, wanted in (("kernel.intel_pstate", "GenuineIntel"),
                         ("kernel.amd_pstate", "AuthenticAMD")):
        if value(path) is not None and vendor and vendor != wanted:
            a.add("kernel.pstate-wrong-vendor", tuple(path.split(".")), "%s= does nothing on "
                  "a %s CPU" % (path.split(".")[1], vendor))


def check_cpufreq(a: _Audit) -> None:
    value = a.value
    policies = [p for p in _get(a.snapshot, "cpu", "cpufreq", "policies") or []
                if isinstance(p, dict)]
    driver = _get(a.snapshot, "cpu", "cpufreq", "driver")
    governor = value("cpu.governor")
    if governor is not None:
        if not policies:
            a.add("cpu.governor-no-cpufreq", ("cpu", "governor"), "governor: %s, but the host "
                  "has no cpufreq driver (a VM, or firmware-controlled): nothing will be set"
                  % governor, ["/sys/devices/system/cpu/cpufreq: no policies"])
        else:
            lacking = sorted({format_cpulist(p.get("cpus") or []) for p in policies
                              if p.get("available_governors") is not None and
                              governor not in p["available_governors"]})
            if lacking:
                offered = sorted({g for p in policies for g in p.get("available_governors")
                                  or []})
                a.add("cpu.governor-unavailable", ("cpu", "governor"), "%s does not offer "
                      "the %s governor" % (driver or "the cpufreq driver", governor),
                      ["scaling_available_governors: %s" % " ".join(offered)])
    if value("cpu.energy_perf_preference") is not None and not any(
            p.get("epp") for p in policies):
        a.add("cpu.epp-unsupported", ("cpu", "energy_perf_preference"), "no CPU exposes "
              "energy_performance_preference (needs HWP with intel_pstate or amd-pstate-epp)",
              ["cpufreq driver: %s" % (driver or "none")])
    boost = _get(a.snapshot, "cpu", "boost") or {}
    if value("cpu.min_perf_pct") is not None and boost.get("min_perf_pct") is None:
        a.add("cpu.min-perf-pct-unsupported", ("cpu", "min_perf_pct"), "min_perf_pct is an "
              "intel_pstate setting and intel_pstate is not active here",
              ["/sys/devices/system/cpu/intel_pstate/min_perf_pct: absent"])
    if value("cpu.turbo") is not None and boost.get("no_turbo") is None and \
            boost.get("boost") is None:
        a.add("cpu.turbo-unsupported", ("cpu", "turbo"), "the host exposes no turbo control "
              "(intel_pstate/no_turbo or cpufreq/boost): nothing will be set")
    names = {state.get("name") for cpu in a.cpus.values() if cpu.get("online")
             for state in cpu.get("cpuidle") or [] if isinstance(state, dict)}
    for index, name in enumerate(value("cpu.disable_cstates") or []):
        if name not in names:
            a.add("cpu.unknown-cstate", ("cpu", "disable_cstates", index), "C-state %r does "
                  "not exist on this host" % name,
                  ["cpuidle states: %s" % (", ".join(sorted(n for n in names if n))
                                           or "none exposed")])


def check_hugepages(a: _Audit) -> None:
    pools = [p for p in a.value("memory.hugepages") or [] if isinstance(p, dict)]
    memory = node_memory_kb(a.snapshot)
    sizes = hugepage_sizes(a.snapshot)
    flags = _get(a.snapshot, "cpu", "flags")
    arch = _get(a.snapshot, "host", "architecture")
    reserved: Dict[int, int] = {}
    seen: Dict[str, int] = {}
    for index, pool in enumerate(pools):
        path: KeyPath = ("memory", "hugepages", index)
        size = pool.get("size")
        size_kb = HUGEPAGE_KB.get(size)
        if size_kb is None:
            continue
        if size in seen:
            a.add("memory.hugepages-duplicate-size", path + ("size",), "a second %s pool "
                  "(the first is entry %d): merge them" % (size, seen[size]))
        seen.setdefault(size, index)
        no_pdpe1gb = size == "1G" and arch == "x86_64" and isinstance(flags, dict) and \
            not flags.get("pdpe1gb")
        if (sizes and "%dkB" % size_kb not in sizes) or no_pdpe1gb:
            a.add("memory.hugepages-size-unsupported", path + ("size",), "the host offers no "
                  "%s huge pages" % size, ["page sizes offered: %s" % (", ".join(
                      sorted(sizes)) or "none")] + (["/proc/cpuinfo flags lack pdpe1gb"]
                                                    if no_pdpe1gb else []))
            continue
        per_node = pool.get("per_node")
        if isinstance(per_node, dict) and per_node and pool.get("at_boot"):
            # hugepages=N on the command line is one total the kernel spreads evenly; the
            # node:count form needs Linux 5.16+ (RHEL 9 runs 5.14).
            a.add("memory.hugepages-per-node-at-boot", path + ("at_boot",), "a per-node "
                  "pool cannot be reserved at boot: use count with at_boot, or per_node "
                  "without it (set at run time)")
        if isinstance(per_node, dict) and per_node:
            for key, count in per_node.items():
                node = int(key)
                if node not in memory:
                    a.add("memory.hugepages-unknown-node", path + ("per_node", key), "NUMA "
                          "node %d does not exist on this host" % node,
                          ["nodes: %s" % _list(memory)])
                    continue
                reserved[node] = reserved.get(node, 0) + int(count) * size_kb
        elif isinstance(pool.get("count"), int):
            # The kernel spreads a global count over the nodes with memory, round robin.
            nodes = [n for n, kb in memory.items() if kb] or list(memory)
            for node in nodes:
                share = -(-pool["count"] // len(nodes))
                reserved[node] = reserved.get(node, 0) + share * size_kb
    for node, kb in sorted(reserved.items()):
        total = memory.get(node)
        if not kb:
            continue
        if not total:
            a.add("memory.hugepages-memory-unknown", ("memory", "hugepages"), "node %d's "
                  "memory is unknown: huge page headroom not checked" % node)
            continue
        limit = hugepage_limit_kb(total)
        if kb > limit:
            a.add("memory.hugepages-headroom", ("memory", "hugepages"), "huge pages on node %d "
                  "take %.1f GiB of its %.1f GiB; at most %.1f GiB may go to huge pages "
                  "(node memory minus max(2 GiB, 25%%))" % (node, kb / GIB_KB, total / GIB_KB,
                                                           limit / GIB_KB),
                  ["/sys/devices/system/node/node%d/meminfo MemTotal: %d kB" % (node, total)])


def check_irq(a: _Audit) -> None:
    policy = a.value("irq.irqbalance")
    unit = _get(a.snapshot, "services", "units", "irqbalance.service") or {}
    if policy in ("ban", "stop") and unit.get("load") == "not-found":
        a.add("irq.irqbalance-absent", ("irq", "irqbalance"), "irqbalance is not installed, "
              "so irqbalance: %s changes nothing" % policy,
              ["irqbalance.service: not found"])
    pinned = [index for index, entry in enumerate(a.value("network.interfaces") or [])
              if isinstance(entry, dict) and entry.get("irq_cpus")]
    if pinned and policy in ("ban", "keep") and unit.get("load") != "not-found":
        a.add("irq.irqbalance-moves-pins", ("irq", "irqbalance"), "network.interfaces[%d] "
              "pins its IRQs (irq_cpus) but irqbalance keeps running and moves them again "
              "(it honours banned CPUs, not pins): set irq.irqbalance: stop" % pinned[0],
              ["irqbalance.service: %s" % (unit.get("active") or "state unknown")])
    default = set(_cpus(a.value("irq.default_affinity")))
    if default & set(a.isolated):
        a.add("irq.default-affinity-isolated", ("irq", "default_affinity"), "new IRQs would "
              "start on isolated CPUs %s" % _list(default & set(a.isolated)))


def _ethtool_part(a: _Audit, nic: Dict[str, Any], part: str, path: KeyPath,
                  what: str) -> Optional[Dict[str, Any]]:
    """The NIC's ethtool answer for `part`, or None after reporting why it is missing."""
    data = nic.get(part)
    if isinstance(data, dict):
        return data
    if ethtool_known(a.snapshot, nic):
        a.add("network.ethtool-unsupported", path, "%s: the %s driver does not report %s "
              "(ethtool), so lltune cannot set it" % (nic.get("name"), nic.get("driver") or
                                                      "NIC's", what))
    else:
        a.add("network.ethtool-unknown", path, "%s: the snapshot has no ethtool answers, so "
              "%s cannot be checked" % (nic.get("name"), what),
              ["snapshot missing: ethtool:%s" % nic.get("name")])
    return None


def _check_limits(a: _Audit, nic: Dict[str, Any], entry: Dict[str, Any], base: KeyPath,
                  option: str, part: str, keys: Dict[str, str], code: str) -> None:
    wanted = entry.get(option)
    if not isinstance(wanted, dict) or not wanted:
        return
    data = _ethtool_part(a, nic, part, base + (option,), option)
    if data is None:
        return
    maximum = data.get("max") or {}
    for key, count in sorted(wanted.items()):
        top = maximum.get(keys.get(key, key))
        if isinstance(top, int) and isinstance(count, int) and count > top:
            a.add(code, base + (option, key), "%s %s %d is above the NIC's maximum %d" % (
                option, key, count, top), ["ethtool %s %s: %s" % (
                    "-l" if option == "channels" else "-g", nic.get("name"),
                    ", ".join("%s %s" % item for item in sorted(maximum.items())))])


def _check_channel_counts(a: _Audit, nic: Dict[str, Any], entry: Dict[str, Any],
                          base: KeyPath) -> None:
    """A zero in channels must leave an rx and a tx queue: the kernel refuses a set with
    neither combined nor rx channels, or neither combined nor tx (ethtool_set_channels in
    net/ethtool/ioctl.c, ethnl_set_channels in net/ethtool/channels.c). Keys the config leaves
    out keep the NIC's current count (ethtool -L changes only what it is given); an unknown
    count is taken as 0. rx 0 beside combined channels, or combined 0 beside rx and tx
    (bnxt's switch to separate queues), is fine."""
    wanted = entry.get("channels")
    if not isinstance(wanted, dict):
        return
    zeros = [key for key in ("combined", "rx", "tx") if _count(wanted.get(key)) == 0]
    if not zeros:
        return
    current = _get(nic, "channels", "current")
    current = current if isinstance(current, dict) else {}
    counts = {key: _count(wanted[key] if key in wanted else current.get(key)) or 0
              for key in ("combined", "rx", "tx")}
    lacking = [key for key in ("rx", "tx") if not counts["combined"] and not counts[key]]
    if lacking:
        a.add("network.channels-zero", base + ("channels", zeros[0]),
              "%s would have no %s queue: channels combined %d, rx %d, tx %d (the kernel "
              "refuses ethtool -L without an rx and a tx channel)" % (
                  nic.get("name"), " and no ".join(lacking), counts["combined"], counts["rx"],
                  counts["tx"]),
              ["ethtool -l %s: now %s" % (nic.get("name"), ", ".join(
                  "%s %s" % item for item in sorted(current.items())) or "unknown")])


def _count(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _feature_names(name: str, features: Dict[str, Any]) -> List[str]:
    if name in features:
        return [name]
    return [f for prefix in OFFLOAD_ALIASES.get(name, ()) for f in features
            if f == prefix or (prefix.endswith("-") and f.startswith(prefix))]


def _check_nic_settings(a: _Audit, nic: Dict[str, Any], entry: Dict[str, Any],
                        base: KeyPath) -> None:
    _check_limits(a, nic, entry, base, "channels", "channels", {}, "network.channels-exceed-max")
    _check_channel_counts(a, nic, entry, base)
    _check_limits(a, nic, entry, base, "rings", "rings", RING_KEYS, "network.rings-exceed-max")
    coalesce = entry.get("coalesce")
    if isinstance(coalesce, dict) and coalesce:
        data = _ethtool_part(a, nic, "coalesce", base + ("coalesce",), "coalescing")
        for key, setting in sorted(coalesce.items()):
            if data is not None and key not in data:
                a.add("network.coalesce-unsupported", base + ("coalesce", key), "%s has no "
                      "coalescing parameter %r" % (nic.get("name"), key),
                      ["ethtool -c %s: %s" % (nic.get("name"), ", ".join(sorted(data)))])
            adaptive = key.startswith("adaptive-")
            if adaptive != isinstance(setting, bool):
                a.add("network.coalesce-type", base + ("coalesce", key), "%s takes %s, not %r"
                      % (key, "true or false" if adaptive else "an integer", setting))
    offloads = entry.get("offloads")
    if isinstance(offloads, dict) and offloads:
        features = _ethtool_part(a, nic, "features", base + ("offloads",), "offloads")
        for name, setting in sorted(offloads.items()):
            if features is None:
                break
            names = _feature_names(name, features)
            if not names:
                a.add("network.offload-unknown", base + ("offloads", name), "%s has no "
                      "offload %r" % (nic.get("name"), name),
                      ["ethtool -k %s lists %d features" % (nic.get("name"), len(features))])
                continue
            fixed = [f for f in names if isinstance(features[f], dict) and
                     features[f].get("fixed") and features[f].get("active") != setting]
            if fixed:
                a.add("network.offload-fixed", base + ("offloads", name), "%s: %s is fixed "
                      "by the driver at %s" % (nic.get("name"), ", ".join(fixed),
                                               "on" if not setting else "off"),
                      ["ethtool -k %s: %s [fixed]" % (nic.get("name"), fixed[0])])
    pause = entry.get("pause")
    if isinstance(pause, dict) and pause:
        _ethtool_part(a, nic, "pause", base + ("pause",), "pause frames")


def check_network(a: _Audit) -> None:
    iso = set(a.isolated)
    house = set(a.housekeeping)
    by_node = node_cpus(a.snapshot)
    nics = [n for n in a.snapshot.get("nics") or [] if isinstance(n, dict)]
    names = ", ".join("%s (%s, %s)" % (n.get("name"), n.get("mac"), n.get("pci_address"))
                      for n in nics) or "none"
    matched: Dict[str, int] = {}
    for index, entry in a.interfaces():
        base: KeyPath = ("network", "interfaces", index)
        match = entry.get("match")
        nic = resolve.find_nic(a.snapshot, match) if isinstance(match, dict) else None
        if nic is None:
            a.add("network.unknown-nic", base + ("match",), "no NIC on this host matches %s" %
                  ", ".join("%s %s" % item for item in sorted((match or {}).items())),
                  ["NICs: %s" % names])
            continue
        name = nic.get("name")
        if name in matched:
            a.add("network.duplicate-nic", base + ("match",), "%s is already configured by "
                  "network.interfaces[%d]" % (name, matched[name]))
            continue
        matched[name] = index
        node = nic_node(a.snapshot, nic)
        if node is not None and not house & set(by_node.get(node, [])):
            a.add("network.nic-node-no-housekeeping", base + ("match",), "%s sits on NUMA "
                  "node %d, which has no housekeeping CPU: its IRQs and kernel work cross "
                  "the interconnect" % (name, node),
                  ["node %d CPUs: %s" % (node, _list(by_node.get(node, [])))])
        pins = _cpus(entry.get("irq_cpus"))
        if not pins:
            landing = {irq: sorted(set(cpus) & iso)
                       for irq, cpus in irq_cpus_now(a.snapshot, nic).items()
                       if set(cpus) & iso}
            if landing:
                shown = sorted(landing)[:4]
                a.add("network.nic-irqs-on-isolated", base, "%s of %s %s delivered to "
                      "isolated CPUs; pin them with irq_cpus" % (
                          "1 IRQ" if len(landing) == 1 else "%d IRQs" % len(landing), name,
                          "is" if len(landing) == 1 else "are"),
                      ["IRQ %s -> CPU %s (effective_affinity_list)" % (
                          irq_label(a.snapshot, irq), _list(landing[irq])) for irq in shown])
        else:
            remote = [cpu for cpu in pins if node is not None and
                      a.cpus.get(cpu, {}).get("node") not in (None, node)]
            if remote:
                a.add("network.irq-cpus-remote", base + ("irq_cpus",), "CPUs %s are not on "
                      "%s's NUMA node %d" % (_list(remote), name, node))
            if set(pins) & iso:
                a.add("network.irq-cpus-isolated", base + ("irq_cpus",), "%s's IRQs are "
                      "pinned onto isolated CPUs %s (fine for a kernel-stack application "
                      "that polls its own queue)" % (name, _list(set(pins) & iso)))
        for key in ("rps_cpus", "xps_cpus"):
            inside = set(_cpus(entry.get(key))) & iso
            if inside:
                a.add("network.rps-on-isolated", base + (key,), "%s sends packet processing "
                      "to isolated CPUs %s" % (key[:3].upper(), _list(inside)))
        _check_nic_settings(a, nic, entry, base)
    unlisted = []
    for nic in nics:
        if nic.get("name") in matched:
            continue
        if any(set(cpus) & iso for cpus in irq_cpus_now(a.snapshot, nic).values()):
            unlisted.append(nic.get("name"))
    if unlisted:
        a.add("network.unlisted-nic-irqs-on-isolated", ("cpu", "isolated"), "IRQs of %s the "
              "config does not name are delivered to isolated CPUs now; tuned's [scheduler] "
              "isolated_cores moves them when the profile applies" % (
                  "1 NIC" if len(unlisted) == 1 else "%d NICs" % len(unlisted)),
              ["NICs: %s" % ", ".join(str(n) for n in unlisted[:8])])


def check_time(a: _Audit) -> None:
    clocksource = a.value("time.clocksource")
    available = _get(a.snapshot, "kernel", "clocksource", "available")
    if clocksource is not None and isinstance(available, list) and \
            clocksource not in available:
        a.add("time.unknown-clocksource", ("time", "clocksource"), "clocksource %s is not "
              "available on this host" % clocksource,
              ["available_clocksource: %s" % " ".join(available)])
    ptp = a.value("time.ptp")
    if not isinstance(ptp, dict) or not ptp.get("interface"):
        return
    name = ptp["interface"]
    nic = resolve.find_nic(a.snapshot, {"name": name})
    if nic is None:
        a.add("time.ptp-unknown-interface", ("time", "ptp", "interface"), "%s is not a "
              "physical NIC of this host" % name)
    else:
        clocks = [c for c in _get(a.snapshot, "time", "ptp_clocks") or []
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
            state = _get(a.snapshot, "services", "units", unit) or {}
            if state.get("active") == "active" and unit not in stopped:
                a.add("time.ntp-and-phc2sys", ("time", "ptp"), "%s is running and phc2sys "
                      "would steer the system clock too; stop one of them (services.stop)"
                      % unit, ["%s: active" % unit])


def check_services(a: _Audit) -> None:
    units = _get(a.snapshot, "services", "units") or {}
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


def check_sysctl(a: _Audit) -> None:
    owned = {}
    for knob in knobs.KNOBS:
        names = []
        if knob.tuned and knob.tuned[0] == "sysctl":
            names.append(knob.tuned[1])
        names += re.findall(r"\[sysctl\] ([a-z0-9_.]+)", knob.mechanism)
        if names and a.value(knob.path) is not None:
            for name in names:
                owned[name] = knob.path
    for name in a.value("sysctl") or {}:
        if name in owned:
            a.add("sysctl.duplicates-knob", ("sysctl", name), "%s is set by %s already; set "
                  "it there (or make that null)" % (name, owned[name]))


def check_limits(a: _Audit) -> None:
    seen: Dict[str, int] = {}
    for index, entry in enumerate(a.value("limits") or []):
        domain = entry.get("domain") if isinstance(entry, dict) else None
        if domain is None:
            continue
        if domain in seen:
            a.add("limits.duplicate-domain", ("limits", index, "domain"), "a second entry for "
                  "%s (the first is limits[%d]): merge them" % (domain, seen[domain]))
        seen.setdefault(domain, index)


def check_tuned(a: _Audit) -> None:
    state = _get(a.snapshot, "services", "tuned") or {}
    severity = None if a.live else "info"
    where = "" if a.live else " (an offline snapshot: checked again on the live host)"
    if state.get("installed") is False:
        a.add("tuned.missing", ("tuned",), "tuned is not installed; lltune applies "
              "everything through it" + where, ["tuned.service: not found"], severity)
        return
    version = tuned_version(state.get("version"))
    if version is None:
        if state.get("installed"):
            a.add("tuned.version-unknown", ("tuned",), "tuned's version could not be read")
    elif version < TUNED_MIN_VERSION:
        a.add("tuned.too-old", ("tuned",), "tuned %s is older than %d.%d" % (
            state.get("version"), TUNED_MIN_VERSION[0], TUNED_MIN_VERSION[1]) + where,
            ["tuned/version.py: %s" % state.get("version")], severity)


CHECK_FUNCTIONS: List[Callable[[_Audit], None]] = [
    check_safety, check_cpu_lists, check_partition, check_cmdline, check_cpufreq,
    check_hugepages, check_irq, check_network, check_time, check_services, check_sysctl,
    check_limits, check_tuned,
]


def _position(finding: Finding) -> Tuple[int, int]:
    parts = finding.where.rsplit(":", 2)
    try:
        return int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return 0, 0


def audit(config: Config, snapshot: Snapshot) -> List[Finding]:
    """Every finding for the config on this host: errors first, then by config position."""
    state = _Audit(config, snapshot)
    for check in CHECK_FUNCTIONS:
        check(state)
    return sorted(state.findings, key=lambda f: (SEVERITIES.index(f.severity), _position(f),
                                                 f.code, f.message))


def counts(findings: List[Finding]) -> Dict[str, int]:
    return {severity: sum(1 for f in findings if f.severity == severity)
            for severity in SEVERITIES}


def exit_code(findings: List[Finding]) -> int:
    return 1 if any(f.severity == "error" for f in findings) else 0


def as_json(findings: List[Finding], config: Config, snapshot: Snapshot) -> Dict[str, Any]:
    """audit's JSON document (lltune/schemas/audit.schema.json)."""
    return {
        "format": "lltune-audit",
        "format_version": 1,
        "config": config.source,
        "preset": config.preset,
        "host": {"hostname": _get(snapshot, "host", "hostname"),
                 "source": snapshot.get("source"),
                 "generated_at": snapshot.get("generated_at")},
        "counts": counts(findings),
        "exit_code": exit_code(findings),
        "findings": [f.as_dict() for f in findings],
    }


def as_text(findings: List[Finding]) -> str:
    return "".join(f.line() + "\n" for f in findings)


def summary(findings: List[Finding], config: Config) -> str:
    numbers = counts(findings)
    return "audit of %s: %d error%s, %d warning%s, %d info\n" % (
        config.source, numbers["error"], "" if numbers["error"] == 1 else "s",
        numbers["warning"], "" if numbers["warning"] == 1 else "s", numbers["info"])
