"""CPUs: topology, isolation, frequency scaling, idle states, SMT and vulnerabilities.

Topology comes from /sys/devices/system/cpu/cpuN/topology (Documentation/ABI/stable/
sysfs-devices-system-cpu); the *_list files appeared in 2.6.x and the older hex masks
(thread_siblings) are the fallback. cpufreq is optional: most VMs and many ARM hosts have none.
"""

import re
from typing import Any, Dict, List, Optional, Tuple

from lltune.common.cpulist import MAX_CPUS, MAX_NUMNODES
from lltune.host.collectors import ScanContext
from lltune.host.collectors.host import cpuinfo_first_block
from lltune.host.collectors.kernel import cmdline_cpus, cmdline_tokens

CPU_ROOT = "/sys/devices/system/cpu"
MCE_ROOT = "/sys/devices/system/machinecheck"
_CPU_DIR = re.compile(r"^cpu(\d+)$")

# /proc/cpuinfo flags that change what a low-latency host can do.
FLAGS_OF_INTEREST = (
    "constant_tsc",  # TSC rate does not change with P-states
    "nonstop_tsc",  # TSC keeps counting in deep C-states: tsc=reliable is safe
    "tsc_known_freq",
    "tsc_deadline_timer",
    "rdtscp",
    "hypervisor",
    "ht",
    "pdpe1gb",  # 1 GiB huge pages
    "waitpkg",  # umwait/tpause: user-space polling without burning the core
    "monitor",
)

_POLICY_FILES = {
    "governor": "scaling_governor",
    "epp": "energy_performance_preference",
    "min_khz": "scaling_min_freq",
    "max_khz": "scaling_max_freq",
    "hw_min_khz": "cpuinfo_min_freq",
    "hw_max_khz": "cpuinfo_max_freq",
}
_INT_POLICY_FIELDS = ("min_khz", "max_khz", "hw_min_khz", "hw_max_khz")
# The same for every policy of a host: read from the first one only.
_DRIVER_FILES = {"driver": "scaling_driver", "available_governors": "scaling_available_governors",
                 "available_epp": "energy_performance_available_preferences"}


def cpu_ids(ctx: ScanContext) -> List[int]:
    names = ctx.reader.listdir(CPU_ROOT, [])
    ids = sorted(int(m.group(1)) for m in map(_CPU_DIR.match, names) if m)
    if ids and ids[-1] >= MAX_CPUS:
        ctx.note("cpu", CPU_ROOT, "cpu%d and above ignored: beyond the kernel's NR_CPUS (%d)"
                 % (MAX_CPUS, MAX_CPUS))
        ids = [cpu for cpu in ids if cpu < MAX_CPUS]
    if not ids:
        ctx.note("cpu", CPU_ROOT, "no cpuN directories")
    return ids


def online_from_each_cpu(ctx: ScanContext, ids: List[int]) -> List[int]:
    """Online CPUs from cpuN/online (drivers/base/cpu.c): "0" is offline; a CPU without the
    file cannot be taken offline (the boot CPU on most x86), so it is online."""
    return [cpu for cpu in ids if ctx.int("%s/cpu%d/online" % (CPU_ROOT, cpu)) != 0]


def _siblings(ctx: ScanContext, base: str) -> Optional[List[int]]:
    for name in ("thread_siblings_list", "core_cpus_list"):
        cpus = ctx.cpus("%s/%s" % (base, name))
        if cpus:
            return cpus
    return ctx.mask(base + "/thread_siblings")


def topology(ctx: ScanContext, cpu: int) -> Dict[str, Any]:
    base = "%s/cpu%d/topology" % (CPU_ROOT, cpu)
    cluster = ctx.int(base + "/cluster_id")
    return {
        "package": ctx.int(base + "/physical_package_id"),
        "die": ctx.int(base + "/die_id"),
        "core": ctx.int(base + "/core_id"),
        # cluster_id is -1 where the firmware describes no clusters (most x86 before 5.16).
        "cluster": cluster if cluster is not None and cluster >= 0 else None,
        "siblings": _siblings(ctx, base),
    }


def node_of_cpus(ctx: ScanContext, ids: List[int]) -> Dict[int, int]:
    """CPU -> NUMA node, from the nodes' CPU sets, else from the cpuN/nodeM links."""
    mapping: Dict[int, int] = {}
    numa = ctx.sections.get("numa") or {}
    if not numa.get("synthetic"):
        for node in numa.get("nodes", []):
            for cpu in node["cpus"]:
                mapping[cpu] = node["id"]
    for cpu in ids:
        if cpu not in mapping:
            for name in ctx.reader.listdir("%s/cpu%d" % (CPU_ROOT, cpu), []):
                match = re.match(r"^node(\d+)$", name)
                if match and int(match.group(1)) < MAX_NUMNODES:
                    mapping[cpu] = int(match.group(1))
    return mapping


def l3_groups(ctx: ScanContext, ids: List[int]) -> List[Dict[str, Any]]:
    """CPUs sharing a last-level (L3) cache; each group is read once, from its first CPU."""
    groups: List[Dict[str, Any]] = []
    covered = set()
    for cpu in ids:
        if cpu in covered:
            continue
        base = "%s/cpu%d/cache" % (CPU_ROOT, cpu)
        for index in ctx.reader.listdir(base, []):
            if index.startswith("index") and ctx.text("%s/%s/level" % (base, index)) == "3":
                shared = ctx.cpus("%s/%s/shared_cpu_list" % (base, index)) or \
                    ctx.mask("%s/%s/shared_cpu_map" % (base, index))
                if shared:
                    groups.append({"id": len(groups), "cpus": shared})
                    covered.update(shared)
                break
    return groups


def cpufreq_policies(ctx: ScanContext, ids: List[int]
                     ) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    """Each policy's CPUs and settings; and the directory of the first one."""
    root = CPU_ROOT + "/cpufreq"
    bases = ["%s/%s" % (root, name) for name in ctx.reader.listdir(root, [])
             if re.match(r"^policy\d+$", name)]
    if not bases:  # kernels before 4.3 have no policyN directories
        bases = ["%s/cpu%d/cpufreq" % (CPU_ROOT, cpu) for cpu in ids]
    policies = []
    for base in bases:
        cpus = ctx.cpus(base + "/related_cpus") or ctx.cpus(base + "/affected_cpus")
        if cpus is None:
            continue
        policy: Dict[str, Any] = {"cpus": cpus}
        for field, name in _POLICY_FILES.items():
            policy[field] = (ctx.int if field in _INT_POLICY_FIELDS else ctx.text)(
                "%s/%s" % (base, name))
        policies.append(policy)
    return policies, bases[0] if policies else None


def cpufreq_driver(ctx: ScanContext, base: Optional[str]) -> Dict[str, Any]:
    """The driver and what it offers, from one policy (every policy has the same driver)."""
    values: Dict[str, Any] = {field: None for field in _DRIVER_FILES}
    if base:
        for field, name in _DRIVER_FILES.items():
            text = ctx.text("%s/%s" % (base, name))
            values[field] = (text.split() if text and field != "driver" else text) or None
    return values


def cpuidle_states(ctx: ScanContext, cpu: int,
                   template: Dict[Tuple[str, ...], List[Dict[str, Any]]]
                   ) -> Optional[List[Dict[str, Any]]]:
    """cpuidle states of one CPU. Names and exit latencies come from the driver's table,
    the same for every CPU with the same states, so they are read once (`template`);
    `disable` is per CPU."""
    base = "%s/cpu%d/cpuidle" % (CPU_ROOT, cpu)
    names = ctx.reader.listdir(base, None)
    if names is None:
        return None
    key = tuple(sorted((n for n in names if re.match(r"^state\d+$", n)),
                       key=lambda n: int(n[5:])))
    if key not in template:
        template[key] = [{"state": int(name[5:]),
                          "name": ctx.text("%s/%s/name" % (base, name)),
                          "latency_us": ctx.int("%s/%s/latency" % (base, name))}
                         for name in key]
    states = []
    for name, known in zip(key, template[key]):
        disabled = ctx.int("%s/%s/disable" % (base, name))
        states.append(dict(known, disabled=None if disabled is None else disabled != 0))
    return states


def boost(ctx: ScanContext) -> Dict[str, Any]:
    no_turbo = ctx.int(CPU_ROOT + "/intel_pstate/no_turbo")
    generic = ctx.int(CPU_ROOT + "/cpufreq/boost")
    return {
        "intel_pstate_status": ctx.text(CPU_ROOT + "/intel_pstate/status"),
        "amd_pstate_status": ctx.text(CPU_ROOT + "/amd_pstate/status"),
        "no_turbo": None if no_turbo is None else no_turbo == 1,
        "boost": None if generic is None else generic == 1,
        "min_perf_pct": ctx.int(CPU_ROOT + "/intel_pstate/min_perf_pct"),
        "max_perf_pct": ctx.int(CPU_ROOT + "/intel_pstate/max_perf_pct"),
    }


def vulnerabilities(ctx: ScanContext) -> Dict[str, Optional[str]]:
    base = CPU_ROOT + "/vulnerabilities"
    return {name: ctx.text("%s/%s" % (base, name)) for name in ctx.reader.listdir(base, [])}


def core_types(ctx: ScanContext) -> Dict[int, str]:
    """Hybrid Intel parts name their P-cores and E-cores in the PMU devices (Linux 5.13+)."""
    types: Dict[int, str] = {}
    for pmu, kind in (("cpu_core", "performance"), ("cpu_atom", "efficiency")):
        for cpu in ctx.cpus("/sys/devices/%s/cpus" % pmu) or []:
            types[cpu] = kind
    return types


def _flag(value: Optional[int]) -> Optional[bool]:
    return None if value is None else value == 1


def sysfs_cpus(ctx: ScanContext, path: str) -> Optional[List[int]]:
    """A cpulist file that 5.14 kernels print as "(null)" (padded) when the mask is unset."""
    text = ctx.text(path)
    if text is not None and text.startswith("(null)"):
        return []
    return ctx.cpus(path)


def collect(ctx: ScanContext) -> Dict[str, Any]:
    ids = cpu_ids(ctx)
    online = ctx.cpus(CPU_ROOT + "/online")
    if online is None:
        ctx.note("cpu", CPU_ROOT + "/online", "%s or malformed; read each cpuN/online"
                 % ctx.why(CPU_ROOT + "/online"))
        online = online_from_each_cpu(ctx, ids)
    online_set = set(online)
    nodes = node_of_cpus(ctx, ids)
    groups = l3_groups(ctx, [cpu for cpu in ids if cpu in online_set])
    l3_of = {cpu: group["id"] for group in groups for cpu in group["cpus"]}
    policies, first_policy = cpufreq_policies(ctx, ids)
    driver = cpufreq_driver(ctx, first_policy)
    for policy in policies:  # what each policy may be set to (audit checks governors)
        policy["available_governors"] = driver["available_governors"]
    policy_of = {cpu: policy for policy in policies for cpu in policy["cpus"]}
    types = core_types(ctx)
    idle_tables: Dict[Tuple[str, ...], List[Dict[str, Any]]] = {}
    cpus = []
    for cpu in ids:
        entry: Dict[str, Any] = {"id": cpu, "online": cpu in online_set}
        entry.update(topology(ctx, cpu))
        entry["node"] = nodes.get(cpu)
        entry["l3"] = l3_of.get(cpu)
        entry["core_type"] = types.get(cpu)
        policy = policy_of.get(cpu)
        entry["cpufreq"] = None if policy is None else {
            key: policy[key] for key in ("governor", "epp", "min_khz", "max_khz")}
        entry["cpuidle"] = cpuidle_states(ctx, cpu, idle_tables) if cpu in online_set else None
        cpus.append(entry)
    if not policies:
        ctx.note("cpu", CPU_ROOT + "/cpufreq", "no cpufreq policies (VM, or no driver loaded)")

    info = ctx.shared("cpuinfo", lambda: cpuinfo_first_block(ctx.reader.read("/proc/cpuinfo",
                                                                              None)))
    flags = set(info.get("flags", info.get("Features", "")).split())
    tokens = cmdline_tokens(ctx)
    smt_active = ctx.int(CPU_ROOT + "/smt/active")
    return {"cpu": {
        "vendor": info.get("vendor_id") or info.get("CPU implementer"),
        "model_name": info.get("model name") or info.get("CPU part"),
        "family": info.get("cpu family"),
        "model": info.get("model"),
        "flags": {flag: flag in flags for flag in FLAGS_OF_INTEREST} if flags else None,
        "possible": ctx.cpus(CPU_ROOT + "/possible"),
        "present": ctx.cpus(CPU_ROOT + "/present"),
        "online": online,
        "smt": {
            "control": ctx.text(CPU_ROOT + "/smt/control"),
            "active": None if smt_active is None else smt_active == 1,
            "threads_per_core": max((len(c["siblings"] or [1]) for c in cpus), default=None),
        },
        "isolated": {"sysfs": sysfs_cpus(ctx, CPU_ROOT + "/isolated"),
                     "cmdline": cmdline_cpus(tokens, "isolcpus")},
        "nohz_full": {"sysfs": sysfs_cpus(ctx, CPU_ROOT + "/nohz_full"),
                      "cmdline": cmdline_cpus(tokens, "nohz_full")},
        "rcu_nocbs": {"cmdline": cmdline_cpus(tokens, "rcu_nocbs")},
        "cpufreq": dict(driver, policies=policies),
        "boost": boost(ctx),
        "cpuidle": {
            "driver": ctx.text(CPU_ROOT + "/cpuidle/current_driver"),
            "governor": ctx.text(CPU_ROOT + "/cpuidle/current_governor")
            or ctx.text(CPU_ROOT + "/cpuidle/current_governor_ro"),
        },
        "l3_groups": groups,
        # The CPU's PMU name (arch/x86/events: "skylake", "icelake"...): what tuned's
        # intel_recommended_pstate decides by.
        "pmu_name": ctx.text("/sys/devices/cpu/caps/pmu_name"),
        # ignore_ce is one setting for every CPU (mca_cfg.ignore_ce): machinecheck0 tells.
        "mce": {"ignore_ce": _flag(ctx.int(MCE_ROOT + "/machinecheck0/ignore_ce"))},
        "vulnerabilities": vulnerabilities(ctx),
        "cpus": cpus,
    }}

