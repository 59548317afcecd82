"""Host findings: what in a snapshot costs latency, ranked, with evidence and lltune's remedy.

Each rule is a small function of the snapshot returning a Finding or None; RULES lists them.
`impact` orders the report (100 = dominates tail latency, 10 = cosmetic).
"""

from typing import Any, Callable, Dict, List, Optional

from lltune.common.cpulist import format_cpulist
from lltune.model.queries import cpu_table, dig, irq_rows, isolated_now, nics, online_cpus

Finding = Dict[str, Any]


def finding(code: str, impact: int, title: str, evidence: List[str], why: str,
            remedy: str) -> Finding:
    return {"code": code, "impact": impact, "title": title, "evidence": evidence, "why": why,
            "remedy": remedy}


def no_isolation(snapshot: Dict[str, Any]) -> Optional[Finding]:
    if isolated_now(snapshot) or len(online_cpus(snapshot)) < 2:
        return None
    nohz = (dig(snapshot, "cpu", "nohz_full") or {}).get("sysfs")
    return finding(
        "no-isolated-cpus", 100, "No CPU is isolated from the scheduler and the timer tick",
        ["/sys/devices/system/cpu/isolated = %r" % "",
         "/sys/devices/system/cpu/nohz_full = %r" % (format_cpulist(nohz or []))],
        "Without isolation every CPU runs kernel threads, timers and other tasks; a latency-"
        "critical thread is preempted at random.",
        "isolcpus=managed_irq,domain, nohz_full and rcu_nocbs for the application cores "
        "([bootloader]), and [scheduler] isolated_cores to move tasks and IRQs off them now.")


def governor(snapshot: Dict[str, Any]) -> Optional[Finding]:
    policies = dig(snapshot, "cpu", "cpufreq", "policies") or []
    slow = sorted({p["governor"] for p in policies if p.get("governor") not in (None,
                                                                                 "performance")})
    if not slow:
        return None
    return finding(
        "governor-not-performance", 90, "CPU frequency governor is %s" % ", ".join(slow),
        ["/sys/devices/system/cpu/cpufreq/policy*/scaling_governor = %s" % ", ".join(slow)],
        "Frequency ramps after idle add tens of microseconds to the first packets of a burst.",
        "[cpu] governor=performance, energy_performance_preference=performance.")


def deep_cstates(snapshot: Dict[str, Any]) -> Optional[Finding]:
    worst = 0
    names = set()
    for cpu in dig(snapshot, "cpu", "cpus") or []:
        for state in cpu.get("cpuidle") or []:
            latency = state.get("latency_us") or 0
            if latency > 10 and state.get("disabled") is False:
                worst = max(worst, latency)
                names.add(state.get("name"))
    if not worst:
        return None
    return finding(
        "deep-cstates-enabled", 85, "Deep C-states enabled (exit latency up to %d us)" % worst,
        ["/sys/devices/system/cpu/cpu*/cpuidle/state*/disable = 0 for %s"
         % ", ".join(sorted(n for n in names if n))],
        "Waking a core from a deep C-state costs its exit latency on the first interrupt.",
        "[cpu] force_latency (PM QoS) capping C-states; per-state disable through [sysfs] on "
        "the isolated CPUs; idle=poll only for the extreme preset.")


def irqbalance(snapshot: Dict[str, Any]) -> Optional[Finding]:
    unit = (dig(snapshot, "services", "units") or {}).get("irqbalance.service") or {}
    if unit.get("active") != "active":
        return None
    return finding(
        "irqbalance-running", 80, "irqbalance is running",
        ["irqbalance.service active=%s enabled=%s" % (unit.get("active"),
                                                       unit.get("file_state"))],
        "irqbalance rebalances IRQs every 10 s and will move them onto isolated CPUs.",
        "[irqbalance] banned_cpus = the isolated CPUs (or stop the service).")


def clocksource(snapshot: Dict[str, Any]) -> Optional[Finding]:
    current = dig(snapshot, "kernel", "clocksource", "current")
    arch = dig(snapshot, "host", "architecture")
    if arch != "x86_64" or current in (None, "tsc"):
        return None
    return finding(
        "clocksource-not-tsc", 75, "Clocksource is %s, not tsc" % current,
        ["/sys/devices/system/clocksource/clocksource0/current_clocksource = %s" % current],
        "Reading hpet/acpi_pm costs microseconds per clock_gettime(); tsc costs nanoseconds.",
        "tsc=reliable on the cmdline when the CPU has constant_tsc and nonstop_tsc.")


def thp(snapshot: Dict[str, Any]) -> Optional[Finding]:
    enabled = dig(snapshot, "memory", "thp", "enabled")
    if enabled != "always":
        return None
    return finding(
        "thp-always", 60, "Transparent huge pages: always",
        ["/sys/kernel/mm/transparent_hugepage/enabled = [always]"],
        "khugepaged compaction and THP faults stall threads for milliseconds.",
        "[vm] transparent_hugepages=never (madvise for the balanced preset).")


def ksm(snapshot: Dict[str, Any]) -> Optional[Finding]:
    if dig(snapshot, "memory", "ksm", "run") != 1:
        return None
    return finding(
        "ksm-running", 55, "KSM page merging is running", ["/sys/kernel/mm/ksm/run = 1"],
        "ksmd scans memory continuously and turns writes to merged pages into faults.",
        "[sysfs] /sys/kernel/mm/ksm/run=0 (a sysfs value, not a sysctl).")


def swap(snapshot: Dict[str, Any]) -> Optional[Finding]:
    devices = dig(snapshot, "memory", "swap", "devices") or []
    if not devices:
        return None
    return finding(
        "swap-active", 50, "Swap is active on %s" % ", ".join(d["device"] for d in devices),
        ["/proc/swaps: %s" % ", ".join(d["device"] for d in devices)],
        "A page swapped out under the application costs a disk read on its next touch.",
        "swapoff through the lltune hook and vm.swappiness=1.")


def sysctl_rules(snapshot: Dict[str, Any]) -> List[Finding]:
    """Sysctls whose value on a latency host is well known (value lltune sets, impact, why)."""
    sysctls = dig(snapshot, "kernel", "sysctls") or {}
    table = (
        ("kernel.numa_balancing", "0", 45, "automatic NUMA balancing unmaps pages to sample "
         "them: the page faults land on the application"),
        ("kernel.timer_migration", "0", 25, "timers migrate towards busy CPUs, including "
         "isolated ones"),
        ("vm.stat_interval", "10", 25, "the vmstat worker wakes every CPU every second"),
        ("kernel.nmi_watchdog", "0", 20, "the NMI watchdog fires a perf interrupt on every "
         "CPU periodically"),
        ("kernel.sched_rt_runtime_us", "-1", 20, "RT throttling stops a spinning SCHED_FIFO "
         "thread for 50 ms every second"),
        ("net.core.busy_read", "50", 15, "without busy polling a blocking read waits for the "
         "interrupt and a wake-up"),
    )
    results = []
    for name, wanted, impact, why in table:
        value = sysctls.get(name)
        if value is not None and value != wanted:
            results.append(finding(
                "sysctl-" + name, impact, "%s = %s" % (name, value),
                ["/proc/sys/%s = %s" % (name.replace(".", "/"), value)],
                why[0].upper() + why[1:] + ".", "[sysctl] %s=%s." % (name, wanted)))
    return results


def smt(snapshot: Dict[str, Any]) -> Optional[Finding]:
    threads = dig(snapshot, "cpu", "smt", "threads_per_core") or 1
    if threads < 2:
        return None
    return finding(
        "smt-active", 40, "SMT is active (%d threads per core)" % threads,
        ["/sys/devices/system/cpu/cpu*/topology/thread_siblings_list"],
        "A hyperthread sibling shares the core's caches and execution units with the "
        "latency-critical thread.",
        "Isolate whole cores and leave the sibling idle, or nosmt for the extreme preset.")


def nic_irqs_remote(snapshot: Dict[str, Any]) -> List[Finding]:
    cpus = cpu_table(snapshot)
    irqs = irq_rows(snapshot)
    results = []
    for nic in nics(snapshot):
        node = nic.get("numa_node")
        if node is None or not nic.get("irqs"):
            continue
        remote = sorted({cpu for irq in nic["irqs"]
                         for cpu in (irqs.get(irq, {}).get("effective_affinity_list") or [])
                         if cpus.get(cpu, {}).get("node") not in (None, node)})
        if remote:
            results.append(finding(
                "nic-irqs-remote-" + nic["name"], 35,
                "%s IRQs are served on another NUMA node" % nic["name"],
                ["/proc/irq/N/effective_affinity_list of %s includes CPUs %s (NIC on node %d)"
                 % (nic["name"], format_cpulist(remote), node)],
                "Cross-node interrupt handling adds interconnect hops to every packet.",
                "Pin the NIC's queue IRQs to housekeeping CPUs on node %d." % node))
    return results


def tuned(snapshot: Dict[str, Any]) -> Optional[Finding]:
    state = dig(snapshot, "services", "tuned") or {}
    if state.get("running") and state.get("active_profile") in ("lltune", "cpu-partitioning",
                                                                "realtime"):
        return None
    if not state.get("installed"):
        return finding("tuned-missing", 30, "tuned is not installed",
                       ["tuned.service: not found"],
                       "lltune applies, persists and rolls back its settings through tuned.",
                       "dnf install tuned (a dependency of the lltune RPM).")
    return finding(
        "tuned-profile", 30, "tuned profile is %s" % (state.get("active_profile") or "none"),
        ["/etc/tuned/active_profile = %s" % state.get("active_profile")],
        "The active profile is not a low-latency one.", "lltune apply switches to `lltune`.")


def virtualized(snapshot: Dict[str, Any]) -> Optional[Finding]:
    virt = dig(snapshot, "host", "virtualization") or {}
    if not virt.get("virtualized"):
        return None
    return finding(
        "virtualized", 10, "Host is a virtual machine (%s)" % virt.get("type"),
        virt.get("evidence") or [],
        "A guest's vCPUs are preempted by the hypervisor; bare-metal numbers are not "
        "reachable.", "Nothing; tune the hypervisor host as well.")


RULES: List[Callable[[Dict[str, Any]], Any]] = [
    no_isolation, governor, deep_cstates, irqbalance, clocksource, thp, ksm, swap,
    sysctl_rules, smt, nic_irqs_remote, tuned, virtualized,
]


def evaluate(snapshot: Dict[str, Any]) -> List[Finding]:
    """Every finding for the snapshot, highest impact first."""
    results: List[Finding] = []
    for rule in RULES:
        outcome = rule(snapshot)
        if isinstance(outcome, list):
            results.extend(outcome)
        elif outcome:
            results.append(outcome)
    return sorted(results, key=lambda f: (-f["impact"], f["code"]))
