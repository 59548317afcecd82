"""CPU checks: the CPU lists against the host, the isolated/housekeeping partition, SMT
splits, cpufreq (governor, EPP, min_perf_pct, turbo) and C-states."""

import re
from typing import Any, List, Tuple

from lltune.audit.context import AuditContext, KeyPath, cpus_in
from lltune.common.cpulist import cpu_text, format_cpulist
from lltune.model.queries import cores, dig


def check_cpu_lists(a: AuditContext) -> None:
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
    present = "CPUs on the host: %s (online: %s)" % (cpu_text(a.cpus), cpu_text(a.online))
    for path, text in lists:
        cpus = cpus_in(text)
        unknown = [cpu for cpu in cpus if cpu not in a.cpus]
        offline = [cpu for cpu in cpus if cpu in a.cpus and cpu not in a.online]
        if unknown:
            a.add("cpu.unknown-cpu", path, "CPU%s %s do%s not exist on this host" % (
                "s" if len(unknown) > 1 else "", cpu_text(unknown),
                "" if len(unknown) > 1 else "es"), [present])
        if offline:
            a.add("cpu.offline-cpu", path, "CPU%s %s %s offline" % (
                "s" if len(offline) > 1 else "", cpu_text(offline),
                "are" if len(offline) > 1 else "is"), [present])


def check_partition(a: AuditContext) -> None:
    if not a.cpus:
        return
    iso, house, online = set(a.isolated), set(a.housekeeping), set(a.online)
    both = iso & house
    if both:
        a.add("cpu.sets-overlap", ("cpu", "housekeeping"), "CPUs %s are both isolated and "
              "housekeeping" % cpu_text(both))
    if a.value("cpu.housekeeping"):
        missing = online - iso - house
        if missing:
            a.add("cpu.sets-incomplete", ("cpu", "housekeeping"), "online CPUs %s are neither "
                  "isolated nor housekeeping: say which they are" % cpu_text(missing),
                  ["online CPUs: %s" % cpu_text(online)])
    if online and not (house & online):
        a.add("cpu.no-housekeeping", ("cpu", "isolated"), "no online CPU is left for "
              "housekeeping: the kernel, IRQs and services need at least one",
              ["online CPUs: %s, isolated: %s" % (cpu_text(online), cpu_text(iso))])
    if 0 in iso:
        a.add("cpu.cpu0-isolated", ("cpu", "isolated"), "CPU 0 is isolated: it serves the "
              "timer, legacy IRQs and boot-time kernel threads that cannot move")
    for core in cores(a.snapshot):
        inside = [cpu for cpu in core if cpu in iso]
        if inside and len(inside) < len(core) and set(core) - iso & house:
            a.add("cpu.smt-split", ("cpu", "isolated"), "core of CPUs %s is split: %s "
                  "isolated, %s housekeeping; the housekeeping thread shares the core's "
                  "caches and execution units" % (cpu_text(core), cpu_text(inside),
                                                   cpu_text(set(core) - iso)),
                  ["thread siblings of CPU %d: %s" % (core[0], cpu_text(core))])
    if a.value("cpu.smt") == "off":
        named = iso | (set(cpus_in(a.value("cpu.housekeeping"))))
        gone = sorted(cpu for core in cores(a.snapshot) for cpu in core[1:] if cpu in named)
        if gone:
            a.add("cpu.smt-off-siblings", ("cpu", "smt"), "smt: off (nosmt) takes CPUs %s "
                  "offline at the next boot, but the config names them" % cpu_text(gone))


def check_cpufreq(a: AuditContext) -> None:
    value = a.value
    policies = [p for p in dig(a.snapshot, "cpu", "cpufreq", "policies") or []
                if isinstance(p, dict)]
    driver = dig(a.snapshot, "cpu", "cpufreq", "driver")
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
    boost = dig(a.snapshot, "cpu", "boost") or {}
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


def check_workload(a: AuditContext) -> None:
    for index, pattern in enumerate(a.value("cpu.workload_processes") or []):
        if not isinstance(pattern, str):
            continue
        try:
            re.compile(pattern)
        except re.error as exc:
            a.add("cpu.workload-regex-invalid", ("cpu", "workload_processes", index),
                  "%r is not a regular expression tuned can use: %s" % (pattern, exc))


def check_idle_poll(a: AuditContext) -> None:
    """idle=poll beside an active SMT sibling: the polling sibling takes the core's execution
    units from the isolated thread (OpenShift's performance profile turns SMT off for it)."""
    smt = dig(a.snapshot, "cpu", "smt") or {}
    if a.value("cpu.idle_poll") is True and a.value("cpu.smt") != "off" and \
            smt.get("active") and (smt.get("threads_per_core") or 1) > 1:
        a.add("cpu.idle-poll-smt-active", ("cpu", "idle_poll"), "idle=poll with SMT active: "
              "an idle sibling spins on the core the isolated thread runs on; set cpu.smt: "
              "off, or idle_poll: false", ["%d threads per core, SMT active" %
                                           smt["threads_per_core"]])
