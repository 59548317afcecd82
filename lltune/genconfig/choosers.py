"""One chooser per knob: the value gen-config proposes for this host and the reason, in words,
that goes into the comment above it. A knob without a chooser takes its preset's value."""

from typing import Any, Callable, Dict, List, Optional, Tuple

from lltune.audit.memory import GIB_KB, hugepage_limit_kb
from lltune.common.cpulist import cpu_text, format_cpulist
from lltune.config import knobs
from lltune.config.resolve import stalld_installed
from lltune.genconfig.facts import HostFacts
from lltune.genconfig.yamltext import Commented, clean
from lltune.model.queries import dig, nic_node, node_memory_kb

HUGEPAGE_SHARE = {"balanced": 0, "low-latency": 8, "extreme": 4}  # 1/N of each node
# Units that fight a tuned profile, stopped by the low-latency and extreme presets when present.
FIGHTERS = ("ksm.service", "ksmtuned.service", "numad.service", "cpupower.service",
            "power-profiles-daemon.service")


Choice = Tuple[Any, str]  # (value, what on this host decided it)


def _preset(host: HostFacts, path: str) -> Any:
    return knobs.KNOBS_BY_PATH[path].preset(host.preset)


def _sysctl_choice(host: HostFacts, path: str, name: str) -> Choice:
    value = _preset(host, path)
    current = host.sysctls.get(name)
    if value is None:
        return None, ""
    if current is None:
        if any(v is not None for v in host.sysctls.values()):
            return None, "this kernel has no %s: nothing to set." % name
        return value, "the snapshot holds no sysctls; the preset's value is kept."
    return value, "now %s = %s." % (name, current)


def choose_isolated(host: HostFacts) -> Choice:
    if not host.isolated:
        return None, host.partition_why
    order = []
    latency_node = nic_node(host.snapshot, host.latency) if host.latency else None
    for node in sorted(host.by_node, key=lambda n: (n != latency_node, n is None, n or 0)):
        cpus = [c for c in host.isolated if c in host.by_node[node]]
        if cpus:
            local = " (local to %s, the latency NIC: use these first)" % host.latency["name"] \
                if host.latency and node == latency_node and node is not None else ""
            order.append("node %s: %s%s" % ("?" if node is None else node, cpu_text(cpus), local))
    return format_cpulist(host.isolated), "Isolated: every online CPU not kept for " \
        "housekeeping, by node: %s." % "; ".join(order)


def choose_housekeeping(host: HostFacts) -> Choice:
    if not host.online:
        return None, host.partition_why
    return format_cpulist(host.housekeeping), "CPUs %s are housekeeping: %s" % (
        cpu_text(host.housekeeping), host.partition_why)


def choose_smt(host: HostFacts) -> Choice:
    threads = dig(host.snapshot, "cpu", "smt", "threads_per_core")
    value = _preset(host, "cpu.smt")
    if threads and threads > 1:
        return value, "%d threads per core here; isolated cores keep their siblings " \
                      "isolated too, so no other thread shares them." % threads
    return value, "no SMT on this host (one thread per core)."


def _policies(host: HostFacts) -> List[Dict[str, Any]]:
    return [p for p in dig(host.snapshot, "cpu", "cpufreq", "policies") or []
            if isinstance(p, dict)]


def choose_governor(host: HostFacts) -> Choice:
    policies = _policies(host)
    if not policies:
        return None, "no cpufreq driver (a VM, or the firmware controls frequency): " \
                     "nothing to set."
    value = _preset(host, "cpu.governor")
    offered = {g for p in policies for g in p.get("available_governors") or []}
    if offered and value not in offered:
        return None, "the %s driver does not offer %s: left alone." % (
            dig(host.snapshot, "cpu", "cpufreq", "driver"), value)
    now = sorted({str(p.get("governor")) for p in policies})
    return value, "driver %s; governor now: %s." % (
        dig(host.snapshot, "cpu", "cpufreq", "driver"), ", ".join(now))


def choose_epp(host: HostFacts) -> Choice:
    policies = _policies(host)
    if not any(p.get("epp") for p in policies):
        return None, "no CPU exposes energy_performance_preference (no HWP): nothing to set."
    now = sorted({str(p.get("epp")) for p in policies})
    return _preset(host, "cpu.energy_perf_preference"), "now: %s." % ", ".join(now)


def choose_min_perf(host: HostFacts) -> Choice:
    current = dig(host.snapshot, "cpu", "boost", "min_perf_pct")
    value = _preset(host, "cpu.min_perf_pct")
    if current is None:
        return None, "intel_pstate is not active here: nothing to set."
    return value, "now %s%%." % current


def choose_turbo(host: HostFacts) -> Choice:
    boost = dig(host.snapshot, "cpu", "boost") or {}
    value = _preset(host, "cpu.turbo")
    if boost.get("no_turbo") is None and boost.get("boost") is None:
        return None, "the host exposes no turbo control: nothing to set."
    on = not boost["no_turbo"] if boost.get("no_turbo") is not None else boost.get("boost")
    return value, "turbo is %s now; the %s preset %s it." % (
        "on" if on else "off", host.preset, "keeps" if value else "turns off")


def _cstates(host: HostFacts) -> List[Tuple[str, int]]:
    seen: Dict[str, int] = {}
    for cpu in host.online:
        for state in host.table[cpu].get("cpuidle") or []:
            if isinstance(state, dict) and state.get("name"):
                seen.setdefault(state["name"], state.get("latency_us") or 0)
    return sorted(seen.items(), key=lambda item: item[1])


def choose_exit_latency(host: HostFacts) -> Choice:
    value = _preset(host, "cpu.max_exit_latency_us")
    states = _cstates(host)
    if not states:
        return value, "the snapshot shows no cpuidle states; the cap costs nothing where " \
                      "there are none."
    kept = [name for name, latency in states if value is not None and latency <= value]
    return value, "C-states here (exit latency): %s; %s us keeps %s." % (
        ", ".join("%s %d us" % item for item in states), value, ", ".join(kept) or "none")


def _smt_active(host: HostFacts) -> bool:
    smt = dig(host.snapshot, "cpu", "smt") or {}
    return bool(smt.get("active")) and (smt.get("threads_per_core") or 1) > 1 and \
        _preset(host, "cpu.smt") != "off"


def choose_idle_poll(host: HostFacts) -> Choice:
    if host.preset != "extreme":
        return False, "off: idle CPUs halt (C-states are capped above instead)."
    if _smt_active(host):
        return False, ("SMT is active here: a polling idle sibling would take the core's "
                       "execution units from the isolated thread (set smt: off first).")
    return True, "the extreme preset spins idle CPUs: lowest wake-up latency, highest power."


def choose_rt_runtime(host: HostFacts) -> Choice:
    if host.preset == "balanced":
        return None, "the balanced preset keeps RT throttling."
    now = host.sysctls.get("kernel.sched_rt_runtime_us")
    if not stalld_installed(host.snapshot):
        return None, ("left on (now %s): turning RT throttling off needs stalld to rescue "
                      "what a spinning SCHED_FIFO thread starves, and stalld is not installed "
                      "here (dnf install stalld, then -1: the profile starts stalld)."
                      % ("unknown" if now is None else now))
    return -1, ("RT throttling off (now %s), with stalld started by the profile, as "
                "OpenShift's performance profile pairs them." % ("unknown" if now is None
                                                                   else now))


def choose_timer_migration(host: HostFacts) -> Choice:
    value, reason = _sysctl_choice(host, "kernel.timer_migration", "kernel.timer_migration")
    if value is None or not dig(host.snapshot, "host", "preempt_rt"):
        return value, reason
    return True, reason + " A PREEMPT_RT kernel: 1, as OpenShift's RAN profile sets it there."


def choose_intel_pstate(host: HostFacts) -> Choice:
    value = _preset(host, "kernel.intel_pstate")
    status = dig(host.snapshot, "cpu", "boost", "intel_pstate_status") or "not active"
    if value != "recommended" or dig(host.snapshot, "cpu", "vendor") != "GenuineIntel":
        return None, "left as the kernel has it (intel_pstate %s)." % status
    pmu = dig(host.snapshot, "cpu", "pmu_name")
    return value, "tuned's recommendation for this CPU (PMU %s): intel_pstate=%s; now %s." % (
        clean(pmu or "unnamed"), "disable" if not pmu or pmu in (
            "sandybridge", "ivybridge", "haswell", "broadwell", "skylake") else "active",
        status)


def choose_mce(host: HostFacts) -> Choice:
    current = dig(host.snapshot, "cpu", "mce", "ignore_ce")
    if current is None:
        return None, "no /sys/devices/system/machinecheck here: nothing to set."
    return _preset(host, "cpu.mce_ignore_ce"), "ignore_ce is %d now." % int(current)


def _kernel_config(host: HostFacts, key: str) -> Optional[str]:
    return (dig(host.snapshot, "kernel", "config") or {}).get(key)


def choose_isolation_flag(host: HostFacts, path: str) -> Choice:
    value = _preset(host, path)
    config_key = {"kernel.nohz_full": "CONFIG_NO_HZ_FULL",
                  "kernel.rcu_nocbs": "CONFIG_RCU_NOCB_CPU"}.get(path)
    if config_key and value and _kernel_config(host, config_key) == "n":
        return False, "this kernel is built without %s: the option would be ignored." \
            % config_key
    if not host.isolated:
        return value, "no CPU is isolated on this host, so this adds nothing."
    return value, ""


def choose_nocb_poll(host: HostFacts) -> Choice:
    value = _preset(host, "kernel.rcu_nocb_poll")
    nocbs, _ = choose_isolation_flag(host, "kernel.rcu_nocbs")
    if value and not nocbs:
        return False, "no rcu_nocbs CPUs on this kernel, so polling would change nothing."
    return value, ""


def choose_tsc(host: HostFacts) -> Choice:
    value = _preset(host, "kernel.tsc_reliable")
    arch = dig(host.snapshot, "host", "architecture")
    flags = dig(host.snapshot, "cpu", "flags")
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


def choose_mitigations(host: HostFacts) -> Choice:
    current = (dig(host.snapshot, "kernel", "cmdline_parsed") or {}).get("mitigations")
    return None, "left as the kernel has it (%s); 'off' also needs " \
                 "mitigations_risk_acknowledged: true." % (
                     "mitigations=%s" % current[-1] if current else "auto")


def choose_thp(host: HostFacts, path: str) -> Choice:
    key = "enabled" if path == "memory.thp" else "defrag"
    current = dig(host.snapshot, "memory", "thp", key)
    if current is None:
        return None, "the snapshot shows no transparent_hugepage/%s: left alone." % key
    return _preset(host, path), "now %s." % current


def choose_ksm(host: HostFacts) -> Choice:
    run = dig(host.snapshot, "memory", "ksm", "run")
    if run is None:
        return None, "no /sys/kernel/mm/ksm on this host: nothing to set."
    return _preset(host, "memory.ksm"), "ksm/run is %s now." % run


def choose_swap(host: HostFacts) -> Choice:
    devices = dig(host.snapshot, "memory", "swap", "devices")
    value = _preset(host, "memory.swap")
    if devices is None:
        return value, "the snapshot does not show /proc/swaps."
    if not devices:
        return value, "no swap is active here, so this changes nothing now."
    return value, "swap now: %s." % ", ".join(clean(d.get("device")) for d in devices
                                              if isinstance(d, dict))


def choose_hugepages(host: HostFacts) -> Choice:
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
        for entry in dig(host.snapshot, "numa", "nodes") or []:
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


def choose_irqbalance(host: HostFacts) -> Choice:
    unit = dig(host.snapshot, "services", "units", "irqbalance.service") or {}
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
        unit.get("active") or "of unknown state", cpu_text(host.isolated))


def choose_default_affinity(host: HostFacts) -> Choice:
    if not host.isolated:
        return None, "no CPU is isolated: new IRQs may start anywhere."
    now = dig(host.snapshot, "irqs", "default_smp_affinity")
    return format_cpulist(host.housekeeping), "the housekeeping CPUs; now %s." % (
        cpu_text(now) if now else "unknown")


def choose_clocksource(host: HostFacts) -> Choice:
    current = dig(host.snapshot, "kernel", "clocksource", "current")
    available = dig(host.snapshot, "kernel", "clocksource", "available") or []
    flags = dig(host.snapshot, "cpu", "flags")
    if "tsc" not in available:
        return None, "no tsc clocksource here (%s): left as it is (%s)." % (
            " ".join(available) or "none listed", current)
    # Without an invariant TSC the kernel's watchdog may mark it unstable at a later boot:
    # tsc then leaves available_clocksource and this config would no longer pass audit.
    if not (isinstance(flags, dict) and flags.get("constant_tsc") and flags.get("nonstop_tsc")):
        return None, "tsc is available (%s) but the CPU does not show constant_tsc and " \
            "nonstop_tsc: the kernel may drop it at a later boot, left as it is (%s)." % (
                " ".join(available), current)
    return "tsc", "available here: %s; now %s; the TSC is invariant." % (
        " ".join(available), current)


def choose_ptp(host: HostFacts) -> Choice:
    nic = host.latency
    if nic is None or nic.get("phc_index") is None:
        return None, "no NIC with a PTP hardware clock was chosen: PTP left alone."
    running = dig(host.snapshot, "time", "daemons") or {}
    daemons = [d for d in ("ptp4l", "phc2sys", "chronyd") if running.get(d)]
    return None, "left alone: PTP settings are site-specific. To run ptp4l on %s's clock " \
        "(ptp%s), replace null with: {interface: %s, ptp4l_options: '-2 -s', " \
        "phc2sys_options: '-a -r', manage_services: true}%s." % (
            nic["name"], nic["phc_index"], nic["name"],
            "; running now: %s" % ", ".join(daemons) if daemons else "")


def choose_stop(host: HostFacts) -> Choice:
    if host.preset == "balanced":
        return [], "the balanced preset stops nothing."
    units = dig(host.snapshot, "services", "units") or {}
    chosen = [u for u in FIGHTERS if (units.get(u) or {}).get("load") == "loaded" and (
        (units.get(u) or {}).get("active") == "active" or
        (units.get(u) or {}).get("file_state") == "enabled")]
    if not chosen:
        return [], "none of %s is running or enabled here." % ", ".join(FIGHTERS)
    return chosen, "; ".join("%s: %s" % (u, clean((units.get(u) or {}).get("why") or ""))
                             for u in chosen) + "."


def choose_limits(host: HostFacts) -> Choice:
    entries = [e for e in dig(host.snapshot, "limits", "entries") or [] if isinstance(e, dict)]
    now = ", ".join("%s %s %s" % (clean(e.get("domain")), clean(e.get("item")),
                                  clean(e.get("value"))) for e in entries[:6])
    return None, "left alone: the users are site-specific. For a group 'trading', replace " \
        "null with: [{domain: '@trading', memlock: unlimited, rtprio: 99, nofile: 1048576}]; " \
        "for a systemd service add units: [trader.service] (services never read limits.d: " \
        "they get LimitMEMLOCK=, LimitRTPRIO=, LimitNOFILE= in a drop-in)%s." % (
            "; set now: " + now if now else "")


def _sysctl_path(name: str) -> Callable[[HostFacts], Choice]:
    return lambda host: _sysctl_choice(host, name[0], name[1])


CHOOSERS: Dict[str, Callable[[HostFacts], Choice]] = {
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
    "kernel.intel_pstate": choose_intel_pstate,
    "kernel.sched_rt_runtime_us": choose_rt_runtime,
    "kernel.timer_migration": choose_timer_migration,
    "kernel.rt_throttling_off_acknowledged": lambda h: (False, ""),
    "cpu.mce_ignore_ce": choose_mce,
    "kernel.amd_pstate": lambda h: (None, "left as the kernel has it (amd_pstate %s)." % (
        dig(h.snapshot, "cpu", "boost", "amd_pstate_status") or "not active")),
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
    "limits_risk_acknowledged": lambda h: (False, ""),
    "sysctl": lambda h: ({}, "none beyond the knobs above."),
    "cpu.workload_processes": lambda h: (Commented(["^trader$", "^md-feed"]), (
        "Name your application's threads here and uncomment: each thread whose name matches "
        "keeps the CPU it is pinned to when tuned applies or restarts (tuned's own "
        "cpu-partitioning keeps DPDK's PMD threads so: .*pmd.*;^DPDK).")),
}
for _knob in knobs.KNOBS:
    if _knob.tuned and _knob.tuned[0] == "sysctl" and _knob.path not in CHOOSERS:
        CHOOSERS[_knob.path] = _sysctl_path((_knob.path, _knob.tuned[1]))


def choose(host: HostFacts, path: str) -> Choice:
    chooser = CHOOSERS.get(path)
    if chooser is None:
        value = _preset(host, path)
        return value, "" if value is not None else "not set by the %s preset." % host.preset
    return chooser(host)
