"""gen-config: a commented config whose every value is chosen from a snapshot.

The layout lives in templates/config.yaml.j2; this module decides each value and the comment
above it: the knob's `why` from the table, then what on this host led to the value.

Choices (each also explained in the generated comments):
- Housekeeping: one whole core (with its SMT siblings) per NUMA node that has online CPUs,
  the core holding the node's lowest CPU, which includes the lowest online CPU. Isolated: every
  other online CPU. Hosts with fewer than 3 online CPUs isolate nothing.
- The latency NIC: the fastest NIC with a PTP hardware clock, else the fastest NIC on a node
  with CPUs (link up first). Its IRQs are pinned to the housekeeping CPUs of its node, the
  usual choice for kernel-bypass stacks, which poll from the isolated cores and want no
  interrupt there; channels are cut to one per IRQ CPU; coalescing goes to zero where the NIC
  reports it (not for balanced).
- The management NIC: the physical NIC the default route leaves through (through a bond or
  VLAN too), else the lowest-numbered onboard port (eno<N>, em<N>), never the latency NIC;
  its IRQs go to housekeeping.
- Huge pages (low-latency and extreme only): 2 MiB pages worth 1/8 (low-latency) or 1/4
  (extreme) of each CPU node's memory, whole GiB, never below the pool the node has now and
  never above audit's headroom rule (audit.hugepage_limit_kb).
- A knob the host cannot support is null ("leave it alone"), with the reason.
"""

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from lltune import __version__, knobs
from lltune.audit import (
    GIB_KB,
    _get,
    audit,
    cores,
    cpu_table,
    hugepage_limit_kb,
    nic_node,
    node_cpus,
    node_memory_kb,
)
from lltune.config import load_text
from lltune.cpulist import format_cpulist
from lltune.errors import LLTuneError

TEMPLATE = os.path.join(os.path.dirname(__file__), "templates", "config.yaml.j2")
WIDTH = 96
HUGEPAGE_SHARE = {"balanced": 0, "low-latency": 8, "extreme": 4}  # 1/N of each node
ONBOARD = re.compile(r"^(?:eno|em)(\d+)")
# Units that fight a tuned profile, stopped by the low-latency and extreme presets when present.
FIGHTERS = ("ksm.service", "ksmtuned.service", "numad.service", "cpupower.service",
            "power-profiles-daemon.service")
SECTION_TITLES = {
    "cpu": "CPUs: which run the application, which run the OS, and how fast and how awake "
           "they stay.",
    "kernel": "Kernel command line, through tuned's [bootloader] plugin: takes effect at the "
              "next boot.",
    "memory": "Memory: huge pages, THP, KSM, swap and the VM sysctls that cause stalls.",
    "irq": "Interrupts: irqbalance and where new IRQs start.",
    "network": "Network: busy polling and the NICs lltune manages (the others are left "
               "alone).",
    "time": "Time: clocksource and PTP.",
    "services": "Services stopped or disabled while the profile is active (restored at "
                "rollback).",
    "limits": "Resource limits for the users and groups that run the application.",
    "tuned": "The stock tuned profile lltune's profile includes.",
    "sysctl": "Any other sysctl (names and values are validated).",
}


class GenerateError(LLTuneError):
    """A generated config that does not load: a bug in gen-config, reported in one line."""


# ------------------------------------------------------------------ text helpers


def _clean(text: Any) -> str:
    """Host-supplied text made safe for a comment: printable, one line."""
    return " ".join(re.sub(r"[^\x20-\x7e]", "?", str(text)).split())


def _wrap(text: str, width: int = WIDTH - 8) -> List[str]:
    words = _clean(text).split(" ")
    lines: List[str] = []
    current = ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = (current + " " + word).strip()
    if current:
        lines.append(current)
    return lines


def inline(value: Any) -> str:
    """A value as one line of YAML (flow style), quoted where YAML would misread it."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1 << 16)
    text = text.strip()
    if text.endswith("\n..."):
        text = text[:-4].strip()
    elif text.endswith("..."):
        text = text[:-3].strip()
    return text


def _cpus(cpus: Any) -> str:
    return format_cpulist(cpus) or "none"


def _on_off(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return _clean(value)


def _plural(count: int, word: str) -> str:
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


# ------------------------------------------------------------------ what the host offers


@dataclass
class Item:
    key: str
    value: Any
    comments: List[str] = field(default_factory=list)
    block: List[str] = field(default_factory=list)  # nested YAML lines (after "key:")

    @property
    def text(self) -> str:
        return "" if self.block else inline(self.value)

    def blockify(self) -> "Item":
        """A list of mappings as block YAML (one "- key: value" line per field)."""
        if isinstance(self.value, list) and self.value and not self.block and all(
                isinstance(entry, dict) and entry for entry in self.value):
            for entry in self.value:
                for index, (key, value) in enumerate(entry.items()):
                    self.block.append("%s%s: %s" % ("  - " if index == 0 else "    ", key,
                                                    inline(value)))
        return self


@dataclass
class Section:
    name: str
    comments: List[str]
    items: List[Item] = field(default_factory=list)
    whole: Optional[Item] = None  # a knob that is the whole section (limits, sysctl)


class Host:
    """The facts gen-config decides from, computed once from the snapshot."""

    def __init__(self, snapshot: Dict[str, Any], preset: str):
        self.snapshot = snapshot
        self.preset = preset
        self.table = cpu_table(snapshot)
        self.online = sorted(c for c, e in self.table.items() if e.get("online"))
        self.by_node = node_cpus(snapshot)
        self.cores = cores(snapshot)
        self.sysctls = _get(snapshot, "kernel", "sysctls") or {}
        self.nics = [n for n in snapshot.get("nics") or [] if isinstance(n, dict)
                     and _match_for(n) is not None]
        self._partition()
        self._nic_roles()

    # CPUs
    def _core_of(self, cpu: int) -> List[int]:
        for core in self.cores:
            if cpu in core:
                return core
        return [cpu]

    def _describe_core(self, core: List[int]) -> str:
        entry = self.table.get(core[0], {})
        where = []
        if entry.get("core") is not None:
            where.append("core %s" % entry["core"])
        if entry.get("package") is not None:
            where.append("package %s" % entry["package"])
        text = "CPU%s %s" % ("s" if len(core) > 1 else "", _cpus(core))
        if where:
            text += " (%s%s)" % (" of ".join(where), ", SMT siblings" if len(core) > 1 else "")
        return text

    def _partition(self) -> None:
        self.housekeeping: List[int] = list(self.online)
        self.isolated: List[int] = []
        if not self.online:
            self.partition_why = "the snapshot shows no online CPU: nothing is isolated."
            return
        if len(self.online) < 3:
            self.partition_why = ("only %s online: isolating one would leave the OS too "
                                  "little room, so nothing is isolated and every CPU does "
                                  "housekeeping." % _plural(len(self.online), "CPU"))
            return
        chosen = set()
        parts = []
        for node in sorted(self.by_node, key=lambda n: (n is None, n or 0)):
            core = self._core_of(min(self.by_node[node]))
            chosen.update(core)
            parts.append("node %s: %s" % ("?" if node is None else node,
                                          self._describe_core(core)))
        chosen.add(self.online[0])
        self.housekeeping = sorted(chosen)
        self.isolated = [cpu for cpu in self.online if cpu not in chosen]
        self.partition_why = (
            "one whole core with its SMT siblings per NUMA node with CPUs, the core of each "
            "node's lowest CPU, which includes the lowest online CPU (%d): %s." % (
                self.online[0], "; ".join(parts)))
        if not self.isolated:
            self.partition_why += " That takes every CPU, so nothing is isolated."
            self.housekeeping = list(self.online)

    # NICs
    def _nic_rank(self, nic: Dict[str, Any]) -> Tuple[Any, ...]:
        node = nic_node(self.snapshot, nic)
        return (node in self.by_node and node is not None, nic.get("link") == "up",
                nic.get("speed_mbps") or 0, -self.nics.index(nic))

    def _nic_roles(self) -> None:
        self.latency: Optional[Dict[str, Any]] = None
        self.latency_why = ""
        with_clock = [n for n in self.nics if n.get("phc_index") is not None]
        on_cpu_nodes = [n for n in self.nics if nic_node(self.snapshot, n) in self.by_node
                        and nic_node(self.snapshot, n) is not None]
        if with_clock:
            self.latency = max(with_clock, key=self._nic_rank)
            self.latency_why = ("the fastest NIC with a PTP hardware clock (ptp%s)"
                                % self.latency["phc_index"])
        elif on_cpu_nodes:
            self.latency = max(on_cpu_nodes, key=self._nic_rank)
            self.latency_why = ("the fastest NIC on a NUMA node with CPUs (no NIC has a PTP "
                                "hardware clock)")
        self.management: Optional[Dict[str, Any]] = None
        self.management_why = ""
        route_ports = ((self.snapshot.get("network") or {}).get("default_route") or {}).get(
            "physical_ports") or []
        by_name = {n["name"]: n for n in self.nics}
        routed = [by_name[p] for p in route_ports if p in by_name and
                  by_name[p] is not self.latency]
        onboard = sorted((int(ONBOARD.match(n["name"]).group(1)), n["name"], n)
                         for n in self.nics if n is not self.latency and
                         ONBOARD.match(str(n.get("name"))))
        if routed:
            self.management = routed[0]
            self.management_why = "the NIC the default route leaves through"
        elif onboard:
            self.management = onboard[0][2]
            self.management_why = ("the lowest-numbered onboard port (no default route "
                                   "through another NIC)")

    def nic_irq_cpus(self, nic: Dict[str, Any]) -> Tuple[List[int], str]:
        node = nic_node(self.snapshot, nic)
        local = [c for c in self.housekeeping if c in self.by_node.get(node, [])] \
            if node is not None else []
        if local:
            return local, "the housekeeping CPUs of its node %s" % node
        return list(self.housekeeping), "the housekeeping CPUs (its node %s has none)" % (
            "is unknown and" if node is None else node)

    def speed(self, nic: Dict[str, Any]) -> str:
        speed = nic.get("speed_mbps")
        if not speed:
            return "speed unknown"
        return "%g Gb/s" % (speed / 1000.0) if speed >= 1000 else "%d Mb/s" % speed


def _match_for(nic: Dict[str, Any]) -> Optional[Dict[str, str]]:
    """How the config names this NIC: by name when the name is safe, else PCI, else MAC."""
    for key, field_name, pattern in (("name", "name", knobs.IFNAME_PATTERN),
                                     ("pci", "pci_address", knobs.PCI_PATTERN),
                                     ("mac", "mac", knobs.MAC_PATTERN)):
        value = nic.get(field_name)
        if isinstance(value, str) and re.search(pattern, value) and "\n" not in value:
            return {key: value}
    return None


# ------------------------------------------------------------------ choosers


Choice = Tuple[Any, str]  # (value, what on this host decided it)


def _preset(host: Host, path: str) -> Any:
    return knobs.KNOBS_BY_PATH[path].preset(host.preset)


def _sysctl_choice(host: Host, path: str, name: str) -> Choice:
    value = _preset(host, path)
    current = host.sysctls.get(name)
    if value is None:
        return None, ""
    if current is None:
        if any(v is not None for v in host.sysctls.values()):
            return None, "this kernel has no %s: nothing to set." % name
        return value, "the snapshot holds no sysctls; the preset's value is kept."
    return value, "now %s = %s." % (name, current)


def choose_isolated(host: Host) -> Choice:
    if not host.isolated:
        return None, host.partition_why
    order = []
    latency_node = nic_node(host.snapshot, host.latency) if host.latency else None
    for node in sorted(host.by_node, key=lambda n: (n != latency_node, n is None, n or 0)):
        cpus = [c for c in host.isolated if c in host.by_node[node]]
        if cpus:
            local = " (local to %s, the latency NIC: use these first)" % host.latency["name"] \
                if host.latency and node == latency_node and node is not None else ""
            order.append("node %s: %s%s" % ("?" if node is None else node, _cpus(cpus), local))
    return format_cpulist(host.isolated), "Isolated: every online CPU not kept for " \
        "housekeeping, by node: %s." % "; ".join(order)


def choose_housekeeping(host: Host) -> Choice:
    if not host.online:
        return None, host.partition_why
    return format_cpulist(host.housekeeping), "CPUs %s are housekeeping: %s" % (
        _cpus(host.housekeeping), host.partition_why)


def choose_smt(host: Host) -> Choice:
    threads = _get(host.snapshot, "cpu", "smt", "threads_per_core")
    value = _preset(host, "cpu.smt")
    if threads and threads > 1:
        return value, "%d threads per core here; isolated cores keep their siblings " \
                      "isolated too, so no other thread shares them." % threads
    return value, "no SMT on this host (one thread per core)."


def _policies(host: Host) -> List[Dict[str, Any]]:
    return [p for p in _get(host.snapshot, "cpu", "cpufreq", "policies") or []
            if isinstance(p, dict)]


def choose_governor(host: Host) -> Choice:
    policies = _policies(host)
    if not policies:
        return None, "no cpufreq driver (a VM, or the firmware controls frequency): " \
                     "nothing to set."
    value = _preset(host, "cpu.governor")
    offered = {g for p in policies for g in p.get("available_governors") or []}
    if offered and value not in offered:
        return None, "the %s driver does not offer %s: left alone." % (
            _get(host.snapshot, "cpu", "cpufreq", "driver"), value)
    now = sorted({str(p.get("governor")) for p in policies})
    return value, "driver %s; governor now: %s." % (
        _get(host.snapshot, "cpu", "cpufreq", "driver"), ", ".join(now))


def choose_epp(host: Host) -> Choice:
    policies = _policies(host)
    if not any(p.get("epp") for p in policies):
        return None, "no CPU exposes energy_performance_preference (no HWP): nothing to set."
    now = sorted({str(p.get("epp")) for p in policies})
    return _preset(host, "cpu.energy_perf_preference"), "now: %s." % ", ".join(now)


def choose_min_perf(host: Host) -> Choice:
    current = _get(host.snapshot, "cpu", "boost", "min_perf_pct")
    value = _preset(host, "cpu.min_perf_pct")
    if current is None:
        return None, "intel_pstate is not active here: nothing to set."
    return value, "now %s%%." % current


def choose_turbo(host: Host) -> Choice:
    boost = _get(host.snapshot, "cpu", "boost") or {}
    value = _preset(host, "cpu.turbo")
    if boost.get("no_turbo") is None and boost.get("boost") is None:
        return None, "the host exposes no turbo control: nothing to set."
    on = not boost["no_turbo"] if boost.get("no_turbo") is not None else boost.get("boost")
    return value, "turbo is %s now; the %s preset %s it." % (
        "on" if on else "off", host.preset, "keeps" if value else "turns off")


def _cstates(host: Host) -> List[Tuple[str, int]]:
    seen: Dict[str, int] = {}
    for cpu in host.online:
        for state in host.table[cpu].get("cpuidle") or []:
            if isinstance(state, dict) and state.get("name"):
                seen.setdefault(state["name"], state.get("latency_us") or 0)
    return sorted(seen.items(), key=lambda item: item[1])


def choose_exit_latency(host: Host) -> Choice:
    value = _preset(host, "cpu.max_exit_latency_us")
    states = _cstates(host)
    if not states:
        return value, "the snapshot shows no cpuidle states; the cap costs nothing where " \
                      "there are none."
    kept = [name for name, latency in states if value is not None and latency <= value]
    return value, "C-states here (exit latency): %s; %s us keeps %s." % (
        ", ".join("%s %d us" % item for item in states), value, ", ".join(kept) or "none")


def choose_idle_poll(host: Host) -> Choice:
    value = _preset(host, "cpu.idle_poll")
    return value, ("the extreme preset spins idle CPUs: lowest wake-up latency, highest power."
                   if value else "off: idle CPUs halt (C-states are capped above instead).")


def _kernel_config(host: Host, key: str) -> Optional[str]:
    return (_get(host.snapshot, "kernel", "config") or {}).get(key)


def choose_isolation_flag(host: Host, path: str) -> Choice:
    value = _preset(host, path)
    config_key = {"kernel.nohz_full": "CONFIG_NO_HZ_FULL",
                  "kernel.rcu_nocbs": "CONFIG_RCU_NOCB_CPU"}.get(path)
    if config_key and value and _kernel_config(host, config_key) == "n":
        return False, "this kernel is built without %s: the option would be ignored." \
            % config_key
    if not host.isolated:
        return value, "no CPU is isolated on this host, so this adds nothing."
    return value, ""


def choose_nocb_poll(host: Host) -> Choice:
    value = _preset(host, "kernel.rcu_nocb_poll")
    nocbs, _ = choose_isolation_flag(host, "kernel.rcu_nocbs")
    if value and not nocbs:
        return False, "no rcu_nocbs CPUs on this kernel, so polling would change nothing."
    return value, ""


def choose_tsc(host: Host) -> Choice:
    value = _preset(host, "kernel.tsc_reliable")
    arch = _get(host.snapshot, "host", "architecture")
    flags = _get(host.snapshot, "cpu", "flags")
    if arch not in (None, "x86_64"):
        return False, "%s has no TSC; this is an x86 option." % arch
    if not isinstance(flags, dict):
        return False, "the snapshot does not show the CPU flags: not assumed."
    if not (flags.get("constant_tsc") and flags.get("nonstop_tsc")):
        lacking = [f for f in ("constant_tsc", "nonstop_tsc") if not flags.get(f)]
        return False, "the CPU lacks %s: the TSC may drift or stop, keep the watchdog." \
            % " and ".join(lacking)
    return value, "the CPU has constant_tsc and nonstop_tsc%s." % (
        "" if value else "; the balanced preset keeps the watchdog anyway")


def choose_mitigations(host: Host) -> Choice:
    current = (_get(host.snapshot, "kernel", "cmdline_parsed") or {}).get("mitigations")
    return None, "left as the kernel has it (%s); 'off' also needs " \
                 "mitigations_risk_acknowledged: true." % (
                     "mitigations=%s" % current[-1] if current else "auto")


def choose_thp(host: Host, path: str) -> Choice:
    key = "enabled" if path == "memory.thp" else "defrag"
    current = _get(host.snapshot, "memory", "thp", key)
    if current is None:
        return None, "the snapshot shows no transparent_hugepage/%s: left alone." % key
    return _preset(host, path), "now %s." % current


def choose_ksm(host: Host) -> Choice:
    run = _get(host.snapshot, "memory", "ksm", "run")
    if run is None:
        return None, "no /sys/kernel/mm/ksm on this host: nothing to set."
    return _preset(host, "memory.ksm"), "ksm/run is %s now." % run


def choose_swap(host: Host) -> Choice:
    devices = _get(host.snapshot, "memory", "swap", "devices")
    value = _preset(host, "memory.swap")
    if devices is None:
        return value, "the snapshot does not show /proc/swaps."
    if not devices:
        return value, "no swap is active here, so this changes nothing now."
    return value, "swap now: %s." % ", ".join(_clean(d.get("device")) for d in devices
                                              if isinstance(d, dict))


def choose_hugepages(host: Host) -> Choice:
    share = HUGEPAGE_SHARE.get(host.preset, 0)
    if not share:
        return None, "the balanced preset leaves huge page pools alone."
    memory = node_memory_kb(host.snapshot)
    per_node: Dict[str, int] = {}
    notes = []
    for node in sorted(n for n in host.by_node if n is not None):
        total = memory.get(node)
        if not total:
            notes.append("node %d: memory unknown, none" % node)
            continue
        pools = {}
        for entry in _get(host.snapshot, "numa", "nodes") or []:
            if isinstance(entry, dict) and entry.get("id") == node:
                pools = entry.get("hugepages") or {}
        now = (pools.get("2048kB") or {}).get("total") or 0
        limit_pages = hugepage_limit_kb(total) // 2048
        wanted = (total // share) // GIB_KB * 512  # whole GiB of 2 MiB pages
        count = min(max(wanted, now), limit_pages)
        if count:
            per_node[str(node)] = count
        notes.append("node %d: %d pages = %g GiB of %.0f GiB%s" % (
            node, count, count / 512.0, total / GIB_KB,
            " (the %d it has now)" % now if count == now and now > wanted else ""))
    if not per_node:
        return None, "no node with known memory and CPUs: left alone (%s)." % "; ".join(notes)
    pool = {"size": "2M", "per_node": per_node, "at_boot": False}
    return [pool], "2 MiB pages worth 1/%d of each CPU node's memory (whole GiB), within " \
        "audit's headroom (node memory minus max(2 GiB, 25%%)): %s. Allocated per node at " \
        "apply through sysfs; set at_boot: true if a fragmented host comes up short. Size " \
        "them to the application." % (share, "; ".join(notes))


def choose_irqbalance(host: Host) -> Choice:
    unit = _get(host.snapshot, "services", "units", "irqbalance.service") or {}
    if unit.get("load") == "not-found":
        return None, "irqbalance is not installed here: nothing to ban or stop."
    value = _preset(host, "irq.irqbalance")
    if host.latency is not None or host.management is not None:
        return "stop", ("the NICs below pin their queue IRQs to chosen CPUs, and irqbalance "
                        "would move them again (it honours banned CPUs, not pins): stopped "
                        "while the profile is active.")
    if not host.isolated:
        return value, "no CPU is isolated here, so there is nothing to ban yet."
    return value, "irqbalance.service is %s now; banned from CPUs %s." % (
        unit.get("active") or "of unknown state", _cpus(host.isolated))


def choose_default_affinity(host: Host) -> Choice:
    if not host.isolated:
        return None, "no CPU is isolated: new IRQs may start anywhere."
    now = _get(host.snapshot, "irqs", "default_smp_affinity")
    return format_cpulist(host.housekeeping), "the housekeeping CPUs; now %s." % (
        _cpus(now) if now else "unknown")


def choose_clocksource(host: Host) -> Choice:
    current = _get(host.snapshot, "kernel", "clocksource", "current")
    available = _get(host.snapshot, "kernel", "clocksource", "available") or []
    if "tsc" in available:
        return "tsc", "available here: %s; now %s." % (" ".join(available), current)
    return None, "no tsc clocksource here (%s): left as it is (%s)." % (
        " ".join(available) or "none listed", current)


def choose_ptp(host: Host) -> Choice:
    nic = host.latency
    if nic is None or nic.get("phc_index") is None:
        return None, "no NIC with a PTP hardware clock was chosen: PTP left alone."
    running = _get(host.snapshot, "time", "daemons") or {}
    daemons = [d for d in ("ptp4l", "phc2sys", "chronyd") if running.get(d)]
    return None, "left alone: PTP settings are site-specific. To run ptp4l on %s's clock " \
        "(ptp%s), replace null with: {interface: %s, ptp4l_options: '-2 -s', " \
        "phc2sys_options: '-a -r', manage_services: true}%s." % (
            nic["name"], nic["phc_index"], nic["name"],
            "; running now: %s" % ", ".join(daemons) if daemons else "")


def choose_stop(host: Host) -> Choice:
    if host.preset == "balanced":
        return [], "the balanced preset stops nothing."
    units = _get(host.snapshot, "services", "units") or {}
    chosen = [u for u in FIGHTERS if (units.get(u) or {}).get("load") == "loaded" and (
        (units.get(u) or {}).get("active") == "active" or
        (units.get(u) or {}).get("file_state") == "enabled")]
    if not chosen:
        return [], "none of %s is running or enabled here." % ", ".join(FIGHTERS)
    return chosen, "; ".join("%s: %s" % (u, _clean((units.get(u) or {}).get("why") or ""))
                             for u in chosen) + "."


def choose_limits(host: Host) -> Choice:
    entries = [e for e in _get(host.snapshot, "limits", "entries") or [] if isinstance(e, dict)]
    now = ", ".join("%s %s %s" % (_clean(e.get("domain")), _clean(e.get("item")),
                                  _clean(e.get("value"))) for e in entries[:6])
    return None, "left alone: the users are site-specific. For a group 'trading', replace " \
        "null with: [{domain: '@trading', memlock: unlimited, rtprio: 99, nofile: 1048576}]%s." \
        % ("; set now: " + now if now else "")


def _sysctl_path(name: str) -> Callable[[Host], Choice]:
    return lambda host: _sysctl_choice(host, name[0], name[1])


CHOOSERS: Dict[str, Callable[[Host], Choice]] = {
    "cpu.isolated": choose_isolated,
    "cpu.housekeeping": choose_housekeeping,
    "cpu.smt": choose_smt,
    "cpu.governor": choose_governor,
    "cpu.energy_perf_preference": choose_epp,
    "cpu.min_perf_pct": choose_min_perf,
    "cpu.turbo": choose_turbo,
    "cpu.max_exit_latency_us": choose_exit_latency,
    "cpu.idle_poll": choose_idle_poll,
    "kernel.isolcpus": lambda h: choose_isolation_flag(h, "kernel.isolcpus"),
    "kernel.isolcpus_flags": lambda h: (_preset(h, "kernel.isolcpus_flags"), ""),
    "kernel.nohz_full": lambda h: choose_isolation_flag(h, "kernel.nohz_full"),
    "kernel.rcu_nocbs": lambda h: choose_isolation_flag(h, "kernel.rcu_nocbs"),
    "kernel.rcu_nocb_poll": choose_nocb_poll,
    "kernel.irqaffinity": lambda h: choose_isolation_flag(h, "kernel.irqaffinity"),
    "kernel.tsc_reliable": choose_tsc,
    "kernel.mitigations": choose_mitigations,
    "kernel.intel_pstate": lambda h: (None, "left as the kernel has it (intel_pstate %s)." % (
        _get(h.snapshot, "cpu", "boost", "intel_pstate_status") or "not active")),
    "kernel.amd_pstate": lambda h: (None, "left as the kernel has it (amd_pstate %s)." % (
        _get(h.snapshot, "cpu", "boost", "amd_pstate_status") or "not active")),
    "kernel.mitigations_risk_acknowledged": lambda h: (False, ""),
    "kernel.cmdline_add": lambda h: ([], "nothing beyond the settings above."),
    "kernel.cmdline_remove": lambda h: ([], ""),
    "memory.thp": lambda h: choose_thp(h, "memory.thp"),
    "memory.thp_defrag": lambda h: choose_thp(h, "memory.thp_defrag"),
    "memory.ksm": choose_ksm,
    "memory.swap": choose_swap,
    "memory.hugepages": choose_hugepages,
    "irq.irqbalance": choose_irqbalance,
    "irq.default_affinity": choose_default_affinity,
    "time.clocksource": choose_clocksource,
    "time.ptp": choose_ptp,
    "services.stop": choose_stop,
    "services.disable": lambda h: ([], "nothing is disabled for good; stop is enough while "
                                       "the profile is active."),
    "limits": choose_limits,
    "sysctl": lambda h: ({}, "none beyond the knobs above."),
}
for _knob in knobs.KNOBS:
    if _knob.tuned and _knob.tuned[0] == "sysctl" and _knob.path not in CHOOSERS:
        CHOOSERS[_knob.path] = _sysctl_path((_knob.path, _knob.tuned[1]))


def choose(host: Host, path: str) -> Choice:
    chooser = CHOOSERS.get(path)
    if chooser is None:
        value = _preset(host, path)
        return value, "" if value is not None else "not set by the %s preset." % host.preset
    return chooser(host)


# ------------------------------------------------------------------ interfaces


def _nic_summary(host: Host, nic: Dict[str, Any]) -> str:
    node = nic_node(host.snapshot, nic)
    role = ""
    if nic is host.latency:
        role = "  <- latency"
    elif nic is host.management:
        role = "  <- management"
    return "%s: %s, %s, link %s, node %s, %s%s" % (
        _clean(nic.get("name")), _clean(nic.get("driver") or "driver unknown"),
        host.speed(nic), _clean(nic.get("link") or "?"), "?" if node is None else node,
        "ptp%s" % nic["phc_index"] if nic.get("phc_index") is not None else "no PTP clock",
        role)


def _field(lines: List[str], first: bool, key: str, value: Any, why: str) -> None:
    indent = "    "
    for line in _wrap(why, WIDTH - 10):
        lines.append(indent + "# " + line)
    lines.append(("  - " if first else indent) + "%s: %s" % (key, inline(value)))


def _interface(host: Host, nic: Dict[str, Any], role: str, why: str) -> List[str]:
    lines: List[str] = []
    match = _match_for(nic)
    identity = ", ".join("%s %s" % (k, _clean(nic.get(f))) for k, f in
                         (("mac", "mac"), ("pci", "pci_address")) if nic.get(f))
    head = "%s: %s. Matched by %s; it could also be matched by %s." % (
        nic.get("name"), why, list(match)[0], identity or "nothing else")
    for line in _wrap(head, WIDTH - 8):
        lines.append("  # " + line)
    lines.append("  - match: %s" % inline(match))
    _field(lines, False, "role", role, "")
    pins, pins_why = host.nic_irq_cpus(nic)
    irqs = nic.get("irqs") or []
    names = [row.get("name") for row in _get(host.snapshot, "irqs", "irqs") or []
             if isinstance(row, dict) and row.get("irq") in irqs and row.get("name")]
    named = " (%s ...)" % ", ".join(_clean(n) for n in names[:2]) if names else ""
    if role == "latency":
        pin_why = ("Pins its %s%s to %s, CPUs %s. Kernel-bypass stacks (Onload, VMA, DPDK) "
                   "poll from the isolated cores and want no interrupt there. For a "
                   "kernel-stack application, pin one isolated core per queue instead "
                   "(irq_cpus: isolated CPUs of this node) and set channels to match." % (
                       _plural(len(irqs), "IRQ") if irqs else "IRQs", named, pins_why,
                       _cpus(pins)))
    else:
        pin_why = "Pins its %s%s to %s, CPUs %s, away from the isolated cores." % (
            _plural(len(irqs), "IRQ") if irqs else "IRQs", named, pins_why, _cpus(pins))
    if pins:
        _field(lines, False, "irq_cpus", format_cpulist(pins), pin_why)
    if role != "latency":
        return lines
    channels = nic.get("channels") if isinstance(nic.get("channels"), dict) else None
    maximum = (channels or {}).get("max") or {}
    maximum = {k: v for k, v in maximum.items() if isinstance(v, int) and
               not isinstance(v, bool)} if isinstance(maximum, dict) else {}
    if maximum.get("combined"):
        count = max(1, min(maximum["combined"], len(pins)))
        _field(lines, False, "channels", {"combined": count}, "%d combined channel%s: one "
               "per IRQ CPU (max %d, now %s)." % (count, "" if count == 1 else "s",
                                                 maximum["combined"],
                                                 _clean(_get(channels, "current",
                                                             "combined"))))
    elif maximum.get("rx") and maximum.get("tx"):
        count = max(1, min(maximum["rx"], maximum["tx"], len(pins)))
        _field(lines, False, "channels", {"rx": count, "tx": count}, "%d rx and tx channels: "
               "one per IRQ CPU (max rx %d, tx %d)." % (count, maximum["rx"], maximum["tx"]))
    coalesce = nic.get("coalesce") if isinstance(nic.get("coalesce"), dict) else None
    if coalesce and host.preset != "balanced":
        wanted = {k: v for k, v in (("adaptive-rx", False), ("adaptive-tx", False),
                                    ("rx-usecs", 0)) if k in coalesce}
        if wanted:
            _field(lines, False, "coalesce", wanted, "Interrupt coalescing off: an "
                   "interrupt per packet instead of waiting up to rx-usecs (now %s, "
                   "adaptive-rx %s)." % (coalesce.get("rx-usecs"), _on_off(
                       coalesce.get("adaptive-rx"))))
    return lines


def interfaces_item(host: Host) -> Item:
    knob = knobs.KNOBS_BY_PATH["network.interfaces"]
    comments = _wrap(knob.why)
    if not host.nics:
        comments += _wrap("The snapshot shows no physical NIC: none to manage.")
        return Item("interfaces", [], comments)
    comments.append("NICs on this host:")
    comments += ["  " + _nic_summary(host, nic) for nic in host.nics[:24]]
    if len(host.nics) > 24:
        comments.append("  ... and %d more" % (len(host.nics) - 24))
    comments += _wrap("NICs not listed below are left alone (tuned's [scheduler] still moves "
                      "their IRQs off the isolated CPUs).")
    block: List[str] = []
    if host.latency is not None:
        block += _interface(host, host.latency, "latency", "the latency NIC: " +
                            host.latency_why)
    if host.management is not None:
        block += _interface(host, host.management, "management", "the management NIC: " +
                            host.management_why)
    if not block:
        comments += _wrap("No NIC sits on a NUMA node with CPUs: none chosen.")
        return Item("interfaces", [], comments)
    return Item("interfaces", None, comments, block)


# ------------------------------------------------------------------ the document


def _item(host: Host, knob: knobs.Knob) -> Item:
    value, reason = choose(host, knob.path)
    comments = _wrap(knob.why)
    if reason:
        comments += _wrap(reason)
    elif value is None:
        comments += _wrap("null: lltune leaves it as it is.")
    return Item(knob.name or knob.section, value, comments).blockify()


def sections(host: Host) -> List[Section]:
    result: List[Section] = []
    for knob in knobs.KNOBS:
        if not result or result[-1].name != knob.section:
            title = SECTION_TITLES.get(knob.section, "") if knob.name else ""
            result.append(Section(knob.section, _wrap(title)))
        section = result[-1]
        item = interfaces_item(host) if knob.path == "network.interfaces" else _item(host, knob)
        if knob.name:
            section.items.append(item)
        else:
            section.whole = item
    return result


def _header(host: Host) -> List[str]:
    snapshot = host.snapshot
    hostname = _clean(_get(snapshot, "host", "hostname") or "an unnamed host")
    model = _clean(_get(snapshot, "cpu", "model_name") or "CPU model unknown")
    packages = {e.get("package") for e in host.table.values() if e.get("package") is not None}
    nodes = [n for n in host.by_node if n is not None]
    source = _get(snapshot, "source") or {}
    lines = [
        "lltune config for %s, preset %s." % (hostname, host.preset),
        "Host: %s; %s online in %s, %s; %s." % (
            model, _plural(len(host.online), "CPU"), _plural(len(packages) or 1, "package"),
            _plural(len(nodes) or 1, "NUMA node"), _plural(len(host.nics), "physical NIC")),
        "Generated by lltune %s gen-config from a %s snapshot (%s) taken %s." % (
            __version__, _clean(source.get("kind") or "?"), _clean(source.get("path") or "?"),
            _clean(snapshot.get("generated_at") or "at an unknown time")),
        "Every value was chosen from that snapshot; the comment above it says why. An absent",
        "key takes the preset's value; null means lltune leaves that setting alone.",
        "Check it against the host: lltune audit -c THIS_FILE",
    ]
    return lines


_TEMPLATES: Dict[str, Any] = {}


def _template() -> Any:
    """The compiled template (Jinja2 2.11 and 3.x: only trim_blocks/lstrip_blocks options)."""
    if "config" not in _TEMPLATES:
        import jinja2

        with open(TEMPLATE, encoding="utf-8") as handle:
            source = handle.read()
        environment = jinja2.Environment(trim_blocks=True, lstrip_blocks=True,
                                         keep_trailing_newline=True, autoescape=False,
                                         undefined=jinja2.StrictUndefined)
        _TEMPLATES["config"] = environment.from_string(source)
    return _TEMPLATES["config"]


def render(host: Host, notes: List[str]) -> str:
    template = _template()
    lines = [wrapped for line in _header(host) for wrapped in _wrap(line, WIDTH - 4)] + notes
    header = ["#" + (" " + line if line else "") for line in lines]
    formatted = []
    for section in sections(host):
        formatted.append({
            "name": section.name,
            "comments": ["# " + line for line in section.comments],
            "whole": _format_item(section.whole) if section.whole else None,
            "entries": [_format_item(item) for item in section.items],
        })
    return template.render(header=header, preset=host.preset, sections=formatted)


def _format_item(item: Item) -> Dict[str, Any]:
    return {"key": item.key, "text": item.text, "block": list(item.block),
            "comments": ["# " + line if line else "#" for line in item.comments]}


def generate(snapshot: Dict[str, Any], preset: str = knobs.DEFAULT_PRESET) -> str:
    """The commented config text for this snapshot and preset. Loads clean by construction;
    audit's warnings and infos for its own host are listed in the header."""
    if preset not in knobs.PRESETS:
        from lltune.errors import InputError
        raise InputError("unknown preset %r (one of %s)" % (preset, ", ".join(knobs.PRESETS)))
    host = Host(snapshot, preset)
    text = render(host, [])
    try:
        config = load_text(text, "<generated>")
    except LLTuneError as exc:
        raise GenerateError("gen-config produced a config that does not load (a bug): %s"
                            % exc) from None
    findings = audit(config, snapshot)
    if findings:
        wrapped = ["", "What `lltune audit` says about this config on this host:"]
        for finding in findings:
            lines = _wrap("%s %s: %s" % (finding.severity, finding.code, finding.message),
                          WIDTH - 8)
            wrapped += ["- " + lines[0]] + ["  " + line for line in lines[1:]]
        text = render(host, wrapped)
    return text
