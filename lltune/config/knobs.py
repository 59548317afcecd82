"""The knob table: every setting lltune manages, declared once.

Each Knob says where it lives in the config, what values it takes (a JSON Schema fragment),
what each preset chooses, why it matters, how to read its current value from a snapshot, and
how tuned (or an lltune hook) sets it. The config schema, gen-config's comments, the plan, the
renderer and verify are all derived from this table.

A value of null in a config means "leave this alone": lltune neither sets nor checks it.
"""

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from lltune.common.cpulist import parse_cpulist
from lltune.model.queries import dig

PRESETS = ("balanced", "low-latency", "extreme")
DEFAULT_PRESET = "low-latency"

# Patterns every value must match before it is written into tuned.conf or a hook's data file.
# They are strict on purpose: anything a shell or an ini parser could read twice is refused.
CPULIST_PATTERN = r"^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$"
IFNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}$"
SERVICE_UNIT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,200}\.service$"
UNIT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,200}\.(service|timer|socket)$"
SYSCTL_NAME_PATTERN = r"^[a-z0-9_]+(\.[A-Za-z0-9_-]+)+$"
SYSCTL_VALUE_PATTERN = r"^[A-Za-z0-9_.,:/ -]{1,256}$"
CMDLINE_TOKEN_PATTERN = r"^[A-Za-z0-9_.-]+(=[A-Za-z0-9_.,:/+-]*)?$"
MAC_PATTERN = r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$"
PCI_PATTERN = r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$"
OPTIONS_PATTERN = r"^[A-Za-z0-9 _./=,:-]{0,512}$"
LIMIT_DOMAIN_PATTERN = r"^(\*|@?[a-z_][a-z0-9_-]{0,31}\$?)$"
# A regular expression tuned's ps_blacklist takes: no ';' (its separator), nothing tuned.conf
# or tuned's variable syntax would read ('#', '%', '{', '}', blanks); audit checks it compiles.
THREAD_REGEX_PATTERN = r"^[A-Za-z0-9_.*+?^$()\[\]|\\-]{1,64}$"

Snapshot = Dict[str, Any]




def _sysctl(name: str, convert: Callable[[str], Any] = str) -> Callable[[Snapshot], Any]:
    def read(snapshot: Snapshot) -> Any:
        value = (dig(snapshot, "kernel", "sysctls") or {}).get(name)
        if value is None:
            return None
        try:
            return convert(value)
        except ValueError:
            return value
    return read


def _int_bool(value: str) -> bool:
    return int(value) != 0


def _common(*path: str, policy_key: Optional[str] = None) -> Callable[[Snapshot], Any]:
    """A per-CPU value read as the one value all policies share (None when they differ)."""
    def read(snapshot: Snapshot) -> Any:
        values = {p.get(policy_key) for p in dig(snapshot, *path) or []}
        return values.pop() if len(values) == 1 else None
    return read


@dataclass(frozen=True)
class Knob:
    path: str  # where it lives in the config ("memory.thp")
    schema: Dict[str, Any]  # JSON Schema of its value (null is always allowed as well)
    why: str  # one sentence: what it does to latency (config comments, plan, docs)
    presets: Dict[str, Any] = field(default_factory=dict)  # preset -> value
    read: Optional[Callable[[Snapshot], Any]] = None  # current value, in config terms
    tuned: Optional[Tuple[str, str]] = None  # (tuned section, option) for scalar knobs
    to_tuned: Callable[[Any], str] = str  # config value -> tuned option value
    mechanism: str = ""  # how it is applied, for the plan ("[sysctl] vm.swappiness")
    reboot: bool = False  # takes effect only after a reboot

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0]

    @property
    def name(self) -> str:
        """The key inside its section; "" for a knob that is a whole section (limits)."""
        return self.path.partition(".")[2]

    def preset(self, preset: str) -> Any:
        return self.presets.get(preset)

    def how(self) -> str:
        if self.mechanism:
            return self.mechanism
        if self.tuned:
            return "[%s] %s" % self.tuned
        return "lltune"


def _all(value: Any) -> Dict[str, Any]:
    return {preset: value for preset in PRESETS}


def _bool01(value: Any) -> str:
    return "1" if value else "0"


def _bool10(value: Any) -> str:
    return "0" if value else "1"


BOOL = {"type": "boolean"}
CPULIST = {"type": "string", "pattern": CPULIST_PATTERN}


def _int(minimum: int, maximum: int) -> Dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


def _enum(*values: str) -> Dict[str, Any]:
    return {"type": "string", "enum": list(values)}


INTERFACE_SCHEMA: Dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["match"],
    "properties": {
        "match": {
            "description": "which NIC: exactly one of name, mac or pci",
            "type": "object", "additionalProperties": False, "minProperties": 1,
            "maxProperties": 1,
            "properties": {"name": {"type": "string", "pattern": IFNAME_PATTERN},
                           "mac": {"type": "string", "pattern": MAC_PATTERN},
                           "pci": {"type": "string", "pattern": PCI_PATTERN}}},
        "role": _enum("latency", "management", "other"),
        "offloads": {"type": "object", "description": "ethtool -K feature: on/off",
                     "propertyNames": {"pattern": r"^[a-z][a-z0-9-]{0,63}$"},
                     "additionalProperties": BOOL},
        "coalesce": {"type": "object", "description": "ethtool -C parameter: value",
                     "propertyNames": {"pattern": r"^[a-z][a-z-]{0,31}$"},
                     "additionalProperties": {"type": ["integer", "boolean"], "minimum": 0,
                                              "maximum": 4294967295}},
        # rx and tx only: tuned 2.20's [net] never matches rx-mini/rx-jumbo in ethtool -g.
        "rings": {"type": "object", "additionalProperties": False,
                  "properties": {k: _int(1, 1 << 20) for k in ("rx", "tx")}},
        # 0 is meaningful (rx 0 beside combined queues, combined 0 beside rx and tx); audit's
        # network.channels-zero checks that an rx and a tx queue remain.
        "channels": {"type": "object", "additionalProperties": False,
                     "properties": {k: _int(0, 4096) for k in ("rx", "tx", "other",
                                                                "combined")}},
        "pause": {"type": "object", "additionalProperties": False,
                  "properties": {k: BOOL for k in ("autoneg", "rx", "tx")}},
        "rps_cpus": {"type": "string", "pattern": r"^$|" + CPULIST_PATTERN[1:]},
        "xps_cpus": {"type": "string", "pattern": r"^$|" + CPULIST_PATTERN[1:]},
        "irq_cpus": CPULIST,
    },
}

HUGEPAGES_SCHEMA: Dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object", "additionalProperties": False, "required": ["size"],
        "properties": {
            "size": _enum("2M", "1G"),
            "count": _int(0, 1 << 24),
            "per_node": {"type": "object", "propertyNames": {"pattern": r"^[0-9]{1,4}$"},
                         "additionalProperties": _int(0, 1 << 24)},
            "at_boot": BOOL,
        },
        "oneOf": [{"required": ["count"]}, {"required": ["per_node"]}],
    },
}

LIMITS_SCHEMA: Dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object", "additionalProperties": False, "required": ["domain"],
        "properties": {
            "domain": {"type": "string", "pattern": LIMIT_DOMAIN_PATTERN},
            "memlock": {"oneOf": [_enum("unlimited"), _int(0, 1 << 50)]},
            "rtprio": _int(0, 99),
            "nofile": _int(1, 1 << 30),
            # systemd services ignore limits.d (pam_limits is for logins): these get a
            # drop-in with LimitMEMLOCK=, LimitRTPRIO=, LimitNOFILE= instead.
            "units": {"type": "array", "uniqueItems": True, "maxItems": 64,
                      "items": {"type": "string", "pattern": SERVICE_UNIT_PATTERN}},
        },
    },
}

PTP_SCHEMA: Dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["interface"],
    "properties": {
        "interface": {"type": "string", "pattern": IFNAME_PATTERN},
        "ptp4l_options": {"type": "string", "pattern": OPTIONS_PATTERN},
        "phc2sys_options": {"type": "string", "pattern": OPTIONS_PATTERN},
        "manage_services": BOOL,
    },
}

UNITS_SCHEMA: Dict[str, Any] = {"type": "array", "uniqueItems": True,
                                "items": {"type": "string", "pattern": UNIT_PATTERN}}

CMDLINE_TOKENS_SCHEMA: Dict[str, Any] = {
    "type": "array", "uniqueItems": True,
    "items": {"type": "string", "pattern": CMDLINE_TOKEN_PATTERN}}


def _cstate_limit(snapshot: Snapshot) -> Any:
    return None  # PM QoS requests are held by a process; a snapshot cannot see them


KNOBS: List[Knob] = [
    # --- cpu ---------------------------------------------------------------------------
    Knob("cpu.isolated", CPULIST,
         "CPUs reserved for the latency-critical application: no other tasks, no unbound "
         "IRQs, no timer tick (nohz_full), no RCU callbacks.",
         read=lambda s: _format(dig(s, "cpu", "isolated", "sysfs")),
         mechanism="[scheduler] isolated_cores + [bootloader] isolcpus/nohz_full/rcu_nocbs"),
    Knob("cpu.housekeeping", CPULIST,
         "CPUs that run the OS: kernel threads, IRQs, system services, workqueues.",
         mechanism="[systemd] cpu_affinity + [sysfs] workqueue cpumask", reboot=True),
    Knob("cpu.smt", _enum("on", "off"),
         "off adds nosmt: no hyperthread sibling competes with an isolated core.",
         presets={"balanced": "on", "low-latency": "on", "extreme": "on"},
         read=lambda s: None if dig(s, "cpu", "smt", "active") is None else (
             "on" if dig(s, "cpu", "smt", "active") else "off"),
         mechanism="[bootloader] nosmt", reboot=True),
    Knob("cpu.governor", _enum("performance", "powersave", "schedutil", "ondemand",
                               "conservative", "userspace"),
         "performance keeps the clock at its top; other governors ramp after idle.",
         presets=_all("performance"),
         read=_common("cpu", "cpufreq", "policies", policy_key="governor"),
         tuned=("cpu", "governor")),
    Knob("cpu.energy_perf_preference", _enum("performance", "balance_performance", "default",
                                             "balance_power", "power"),
         "EPP tells HWP how eagerly to raise the frequency.",
         presets=_all("performance"),
         read=_common("cpu", "cpufreq", "policies", policy_key="epp"),
         tuned=("cpu", "energy_performance_preference")),
    Knob("cpu.min_perf_pct", _int(0, 100),
         "intel_pstate's floor as a percentage of the maximum: 100 pins the top P-state.",
         presets={"balanced": None, "low-latency": 100, "extreme": 100},
         read=lambda s: dig(s, "cpu", "boost", "min_perf_pct"), tuned=("cpu", "min_perf_pct")),
    Knob("cpu.turbo", BOOL,
         "Turbo raises the clock but varies it with thermal and power headroom: jitter.",
         presets={"balanced": True, "low-latency": True, "extreme": False},
         read=lambda s: None if dig(s, "cpu", "boost", "no_turbo") is None else
         not dig(s, "cpu", "boost", "no_turbo"),
         tuned=("cpu", "no_turbo"), to_tuned=_bool10),
    Knob("cpu.max_exit_latency_us", _int(0, 10000),
         "Caps C-states through PM QoS (/dev/cpu_dma_latency): deeper states wake slower.",
         presets={"balanced": 20, "low-latency": 2, "extreme": 0},
         read=_cstate_limit, tuned=("cpu", "force_latency")),
    Knob("cpu.disable_cstates", {"type": "array", "uniqueItems": True,
                                 "items": {"type": "string", "pattern": r"^[A-Za-z0-9_-]{1,16}$"}},
         "C-states (by cpuidle name) disabled on the isolated CPUs only.",
         presets={"balanced": [], "low-latency": [], "extreme": []},
         mechanism="[sysfs] cpuN/cpuidle/stateK/disable"),
    Knob("cpu.workload_processes", {"type": "array", "uniqueItems": True,
                                    "items": {"type": "string", "pattern": THREAD_REGEX_PATTERN}},
         "Threads of the latency-critical application that tuned's scheduler leaves where they "
         "are pinned: regular expressions on the thread's name (/proc/PID/task/TID/comm, 15 "
         "characters). At every apply and tuned restart, [scheduler] moves every other task "
         "off the isolated CPUs, the trading process pinned there included.",
         presets=_all([]), mechanism="[scheduler] ps_blacklist"),
    Knob("cpu.mce_ignore_ce", BOOL,
         "true: machinecheck*/ignore_ce = 1, no corrected-error polling timer and no CMCI on "
         "the CPUs (the kernel applies it to every CPU), as tuned's cpu-partitioning and "
         "realtime profiles do; corrected memory errors then go unlogged.",
         presets={"balanced": None, "low-latency": True, "extreme": True},
         read=lambda s: dig(s, "cpu", "mce", "ignore_ce"),
         mechanism="[sysfs] /sys/devices/system/machinecheck/machinecheck0/ignore_ce (one "
                   "file: the setting is global)"),
    Knob("cpu.idle_poll", BOOL,
         "idle=poll: idle CPUs spin instead of halting (burns power and thermal headroom). "
         "Not beside an active SMT sibling: the spinning thread takes the core's execution "
         "units from the isolated one (audit refuses it unless smt: off), so no preset "
         "sets it: gen-config proposes it for the extreme preset where SMT is off.",
         presets=_all(False),
         read=lambda s: "idle" in (dig(s, "kernel", "cmdline_parsed") or {}) and
         "poll" in dig(s, "kernel", "cmdline_parsed")["idle"],
         mechanism="[bootloader] idle=poll", reboot=True),
    # --- kernel command line (tuned's [bootloader]; effective after a reboot) ---------------
    Knob("kernel.isolcpus", BOOL,
         "isolcpus=<flags>,<isolated>: the scheduler never balances tasks onto those CPUs.",
         presets=_all(True), mechanism="[bootloader] isolcpus", reboot=True),
    Knob("kernel.isolcpus_flags", {"type": "array", "uniqueItems": True,
                                   "items": _enum("managed_irq", "domain", "nohz")},
         "managed_irq keeps managed device IRQs off isolated CPUs; domain removes them from "
         "scheduling domains.",
         presets=_all(["managed_irq", "domain"]), mechanism="[bootloader] isolcpus",
         reboot=True),
    Knob("kernel.nohz_full", BOOL,
         "nohz_full=<isolated>: no scheduler tick while one task runs.",
         presets={"balanced": False, "low-latency": True, "extreme": True},
         mechanism="[bootloader] nohz=on nohz_full", reboot=True),
    Knob("kernel.rcu_nocbs", BOOL, "rcu_nocbs=<isolated>: RCU callbacks run elsewhere.",
         presets={"balanced": False, "low-latency": True, "extreme": True},
         mechanism="[bootloader] rcu_nocbs", reboot=True),
    Knob("kernel.rcu_nocb_poll", BOOL,
         "rcu_nocb_poll: offloaded RCU threads poll instead of being woken by isolated CPUs.",
         presets={"balanced": False, "low-latency": False, "extreme": True},
         mechanism="[bootloader] rcu_nocb_poll", reboot=True),
    Knob("kernel.irqaffinity", BOOL,
         "irqaffinity=<housekeeping>: IRQs start on housekeeping CPUs from boot.",
         presets=_all(True), mechanism="[bootloader] irqaffinity", reboot=True),
    Knob("kernel.skew_tick", BOOL, "skew_tick=1: CPUs' ticks do not fire in lockstep.",
         presets=_all(True), mechanism="[bootloader] skew_tick=1", reboot=True),
    Knob("kernel.tsc_reliable", BOOL,
         "tsc=reliable: no clocksource watchdog on the TSC (needs constant and nonstop TSC).",
         presets={"balanced": False, "low-latency": True, "extreme": True},
         mechanism="[bootloader] tsc=reliable", reboot=True),
    Knob("kernel.nosoftlockup", BOOL, "nosoftlockup: no soft-lockup detector thread per CPU.",
         presets={"balanced": False, "low-latency": True, "extreme": True},
         mechanism="[bootloader] nosoftlockup", reboot=True),
    Knob("kernel.nmi_watchdog", BOOL,
         "false: nmi_watchdog=0, no periodic NMI on every CPU.",
         presets=_all(False), read=_sysctl("kernel.nmi_watchdog", _int_bool),
         mechanism="[sysctl] kernel.nmi_watchdog=<0 + [bootloader] nmi_watchdog=0"),
    Knob("kernel.intel_pstate", _enum("recommended", "active", "passive", "disable", "no_hwp"),
         "intel_pstate= mode; disable hands control to acpi-cpufreq. recommended: as tuned's "
         "intel_recommended_pstate (2.23+) decides, for any tuned: disable on Sandy Bridge to "
         "Skylake (and where the CPU does not name its PMU), active on later Intel CPUs; "
         "nothing on other vendors (tuned's cpu-partitioning and realtime set disable always).",
         presets={"balanced": None, "low-latency": "recommended", "extreme": "recommended"},
         read=lambda s: (dig(s, "cpu", "boost", "intel_pstate_status") or None),
         mechanism="[bootloader] intel_pstate", reboot=True),
    Knob("kernel.amd_pstate", _enum("active", "passive", "guided", "disable"),
         "amd_pstate= mode.", read=lambda s: dig(s, "cpu", "boost", "amd_pstate_status"),
         mechanism="[bootloader] amd_pstate", reboot=True),
    Knob("kernel.audit", BOOL, "false: audit=0, no audit records on syscalls.",
         mechanism="[bootloader] audit=0", reboot=True),
    Knob("kernel.mitigations", _enum("auto", "off", "auto,nosmt"),
         "CPU vulnerability mitigations; off needs mitigations_risk_acknowledged: true.",
         read=lambda s: ((dig(s, "kernel", "cmdline_parsed") or {}).get("mitigations")
                         or ["auto"])[-1],
         mechanism="[bootloader] mitigations", reboot=True),
    Knob("kernel.mitigations_risk_acknowledged", BOOL,
         "true: you accept running without CPU vulnerability mitigations on this host."),
    Knob("kernel.cmdline_add", CMDLINE_TOKENS_SCHEMA,
         "Extra kernel command-line tokens (validated; boot-critical keys refused).",
         mechanism="[bootloader] cmdline_lltune", reboot=True),
    Knob("kernel.cmdline_remove", CMDLINE_TOKENS_SCHEMA,
         "Tokens tuned removes from the command line it manages (-token).",
         mechanism="[bootloader] -token", reboot=True),
    Knob("kernel.sched_rt_runtime_us", _int(-1, 1000000),
         "-1 turns off RT throttling, which stops a spinning SCHED_FIFO thread 50 ms a second; "
         "then nothing stops that thread starving its CPU's kworkers and ksoftirqd, so lltune "
         "starts stalld with it (OpenShift's performance profile does: stalld on whenever it "
         "sets -1; tuned's realtime profile sets -1 alone) or needs "
         "kernel.rt_throttling_off_acknowledged: true. No preset sets it, since it depends "
         "on the host: gen-config proposes -1 where stalld is installed.",
         presets=_all(None),
         read=_sysctl("kernel.sched_rt_runtime_us", int),
         tuned=("sysctl", "kernel.sched_rt_runtime_us")),
    Knob("kernel.rt_throttling_off_acknowledged", BOOL,
         "true: you accept RT throttling off (sched_rt_runtime_us: -1) without stalld, so a "
         "spinning SCHED_FIFO thread may starve its CPU's kernel work."),
    Knob("kernel.timer_migration", BOOL,
         "false: timers stay on the CPU that armed them (tuned's network-latency and "
         "cpu-partitioning: 0). OpenShift's RAN profile sets 1 on the realtime kernel only, "
         "where pinned tasks' TCP timers may then run elsewhere; gen-config follows both: 1 on "
         "a PREEMPT_RT kernel, 0 otherwise.",
         presets=_all(False), read=_sysctl("kernel.timer_migration", _int_bool),
         tuned=("sysctl", "kernel.timer_migration"), to_tuned=_bool01),
    # --- memory --------------------------------------------------------------------------
    Knob("memory.thp", _enum("always", "madvise", "never"),
         "Transparent huge pages: compaction and khugepaged stall threads.",
         presets={"balanced": "madvise", "low-latency": "never", "extreme": "never"},
         read=lambda s: dig(s, "memory", "thp", "enabled"),
         tuned=("vm", "transparent_hugepages")),
    Knob("memory.thp_defrag", _enum("always", "defer", "defer+madvise", "madvise", "never"),
         "When THP compaction may stall a fault.",
         presets={"balanced": "madvise", "low-latency": "never", "extreme": "never"},
         read=lambda s: dig(s, "memory", "thp", "defrag"),
         tuned=("vm", "transparent_hugepage.defrag")),
    Knob("memory.ksm", BOOL, "false stops KSM page scanning (a sysfs value, not a sysctl).",
         presets=_all(False),
         read=lambda s: None if dig(s, "memory", "ksm", "run") is None else
         dig(s, "memory", "ksm", "run") == 1,
         mechanism="[sysfs] /sys/kernel/mm/ksm/run"),
    Knob("memory.swap", _enum("off", "keep"),
         "off: swapoff at apply, swapon at rollback (a page swapped out costs a disk read).",
         presets={"balanced": "keep", "low-latency": "off", "extreme": "off"},
         read=lambda s: None if dig(s, "memory", "swap", "devices") is None else (
             "keep" if dig(s, "memory", "swap", "devices") else "off"),
         mechanism="lltune hook (swapoff/swapon)"),
    Knob("memory.swappiness", _int(0, 200), "Reluctance to swap anonymous memory.",
         presets={"balanced": 10, "low-latency": 1, "extreme": 1},
         read=_sysctl("vm.swappiness", int), tuned=("sysctl", "vm.swappiness")),
    Knob("memory.numa_balancing", BOOL,
         "Automatic NUMA balancing unmaps pages to sample them: faults on the hot path.",
         presets=_all(False), read=_sysctl("kernel.numa_balancing", _int_bool),
         tuned=("sysctl", "kernel.numa_balancing"), to_tuned=_bool01),
    Knob("memory.stat_interval", _int(1, 3600),
         "Seconds between vmstat updates; the worker wakes every CPU.",
         presets={"balanced": 10, "low-latency": 10, "extreme": 120},
         read=_sysctl("vm.stat_interval", int), tuned=("sysctl", "vm.stat_interval")),
    Knob("memory.dirty_ratio", _int(0, 100), "Dirty page ceiling before writers block.",
         presets=_all(10), read=_sysctl("vm.dirty_ratio", int),
         tuned=("sysctl", "vm.dirty_ratio")),
    Knob("memory.dirty_background_ratio", _int(0, 100), "Dirty pages that start writeback.",
         presets=_all(3), read=_sysctl("vm.dirty_background_ratio", int),
         tuned=("sysctl", "vm.dirty_background_ratio")),
    Knob("memory.zone_reclaim_mode", _int(0, 7), "0: allocate remote before reclaiming local.",
         presets=_all(0), read=_sysctl("vm.zone_reclaim_mode", int),
         tuned=("sysctl", "vm.zone_reclaim_mode")),
    Knob("memory.hugepages", HUGEPAGES_SCHEMA,
         "Huge page pools, per size and NUMA node (1G pools are best reserved at boot).",
         mechanism="[sysfs] nr_hugepages per node / [bootloader] hugepagesz"),
    # --- irq -----------------------------------------------------------------------------
    Knob("irq.irqbalance", _enum("ban", "stop", "keep"),
         "ban keeps irqbalance off the isolated CPUs; stop turns it off.",
         presets=_all("ban"),
         read=lambda s: None if dig(s, "services", "units", "irqbalance.service",
                                     "active") is None else (
             "stop" if dig(s, "services", "units", "irqbalance.service", "active") !=
             "active" else "keep"),
         mechanism="[irqbalance] banned_cpus / [service] irqbalance"),
    Knob("irq.default_affinity", CPULIST,
         "Where new IRQs start (/proc/irq/default_smp_affinity); default: housekeeping.",
         read=lambda s: _format(dig(s, "irqs", "default_smp_affinity")),
         tuned=("scheduler", "default_irq_smp_affinity")),
    # --- network -------------------------------------------------------------------------
    Knob("network.busy_poll", _int(0, 1000000),
         "Microseconds poll()/select() busy-wait on the NIC queue before sleeping.",
         presets={"balanced": None, "low-latency": 50, "extreme": 50},
         read=_sysctl("net.core.busy_poll", int), tuned=("sysctl", "net.core.busy_poll")),
    Knob("network.busy_read", _int(0, 1000000),
         "Microseconds a blocking read busy-waits on the NIC queue.",
         presets={"balanced": None, "low-latency": 50, "extreme": 50},
         read=_sysctl("net.core.busy_read", int), tuned=("sysctl", "net.core.busy_read")),
    Knob("network.interfaces", {"type": "array", "items": INTERFACE_SCHEMA},
         "Per-NIC settings: offloads, coalescing, rings, channels, pause, RPS/XPS, IRQ pins.",
         mechanism="[net] one instance per NIC + [sysfs] rps/xps + lltune hook (IRQ pins)"),
    # --- time ----------------------------------------------------------------------------
    Knob("time.clocksource", {"type": "string", "pattern": r"^[a-z0-9_-]{1,32}$"},
         "The kernel clocksource; tsc is the cheap one to read.",
         read=lambda s: dig(s, "kernel", "clocksource", "current"),
         mechanism="[sysfs] clocksource0/current_clocksource"),
    Knob("time.ptp", PTP_SCHEMA,
         "PTP: which NIC ptp4l runs on, and its ptp4l/phc2sys options.",
         mechanism="lltune hook (/etc/sysconfig/ptp4l, phc2sys) + [service]"),
    # --- services and limits -------------------------------------------------------------
    Knob("services.stop", UNITS_SCHEMA, "Units stopped while the profile is active.",
         mechanism="[service] service.NAME=stop"),
    Knob("services.disable", UNITS_SCHEMA, "Units disabled while the profile is active.",
         mechanism="[service] service.NAME=disable"),
    Knob("limits", LIMITS_SCHEMA,
         "memlock, rtprio and nofile for the users and groups that run the application.",
         mechanism="lltune hook (/etc/security/limits.d/99-lltune.conf)"),
    Knob("limits_risk_acknowledged", BOOL,
         "true: you accept rtprio or unlimited memlock for every user ('*' in limits)."),
    # --- tuned ---------------------------------------------------------------------------
    Knob("tuned.base_profile", _enum("network-latency", "latency-performance",
                                     "network-throughput", "realtime"),
         "The stock tuned profile lltune's profile builds on.",
         presets=_all("network-latency"), mechanism="[main] include"),
    # --- free-form sysctls ---------------------------------------------------------------
    Knob("sysctl", {"type": "object",
                           "propertyNames": {"pattern": SYSCTL_NAME_PATTERN},
                           "additionalProperties": {"type": ["string", "integer"],
                                                    "pattern": SYSCTL_VALUE_PATTERN}},
         "Any other sysctl, name: value (names and values validated).",
         mechanism="[sysctl]"),
]

KNOBS_BY_PATH: Dict[str, Knob] = {knob.path: knob for knob in KNOBS}
SECTIONS: Tuple[str, ...] = tuple(dict.fromkeys(knob.section for knob in KNOBS))


def _format(cpus: Optional[List[int]]) -> Optional[str]:
    from lltune.common.cpulist import format_cpulist

    return None if cpus is None else format_cpulist(cpus)


def cpus_of(value: Optional[str]) -> List[int]:
    """A config CPU list (already schema-checked) as ids."""
    return parse_cpulist(value) if value else []
