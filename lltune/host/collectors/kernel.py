"""Kernel: the command line, clocksource, the tuning-relevant sysctls, watchdogs, build config."""

from typing import Any, Dict, List, Optional

from lltune.host.collectors import ScanContext, to_cpus
from lltune.model.cmdline import isolcpus_parts, kernel_tokens, split_cmdline, token_key_value

# The sysctls that decide latency and that lltune may set (through tuned's [sysctl]).
SYSCTLS = (
    "kernel.sched_rt_runtime_us",
    "kernel.sched_rt_period_us",
    "kernel.timer_migration",
    "kernel.numa_balancing",
    "kernel.watchdog",
    "kernel.nmi_watchdog",
    "kernel.soft_watchdog",
    "kernel.watchdog_thresh",
    "kernel.watchdog_cpumask",
    "kernel.hung_task_timeout_secs",
    "kernel.sched_autogroup_enabled",
    "kernel.perf_event_max_sample_rate",
    "kernel.split_lock_mitigate",
    "vm.stat_interval",
    "vm.swappiness",
    "vm.zone_reclaim_mode",
    "vm.dirty_ratio",
    "vm.dirty_background_ratio",
    "vm.dirty_expire_centisecs",
    "vm.dirty_writeback_centisecs",
    "vm.compaction_proactiveness",
    "vm.overcommit_memory",
    "vm.nr_hugepages",
    "net.core.busy_poll",
    "net.core.busy_read",
    "net.core.netdev_budget",
    "net.core.netdev_budget_usecs",
    "net.core.netdev_max_backlog",
    "net.core.rmem_max",
    "net.core.wmem_max",
    "net.core.rps_sock_flow_entries",
    "net.ipv4.tcp_fastopen",
    "net.ipv4.tcp_timestamps",
    "net.ipv4.tcp_sack",
)

# Command-line keys that matter for latency; the parsed view keeps these (every occurrence).
CMDLINE_KEYS = (
    "isolcpus", "nohz", "nohz_full", "rcu_nocbs", "rcu_nocb_poll", "irqaffinity", "skew_tick",
    "tsc", "nosoftlockup", "nmi_watchdog", "nowatchdog", "idle", "intel_idle.max_cstate",
    "processor.max_cstate", "intel_pstate", "amd_pstate", "mitigations", "audit",
    "transparent_hugepage", "hugepagesz", "hugepages", "default_hugepagesz", "numa_balancing",
    "kthread_cpus", "housekeeping", "clocksource", "preempt", "rcutree.kthread_prio",
    "rcupdate.rcu_normal_after_boot", "tuned.non_isolcpus", "cpuidle.off", "intel_iommu",
    "iommu", "selinux", "systemd.cpu_affinity", "workqueue.power_efficient",
)

# Kernel build options that decide whether cmdline isolation can work at all.
CONFIG_KEYS = ("CONFIG_NO_HZ_FULL", "CONFIG_RCU_NOCB_CPU", "CONFIG_PREEMPT_RT",
               "CONFIG_PREEMPT_DYNAMIC", "CONFIG_CPU_ISOLATION", "CONFIG_HZ")


def parse_cmdline(tokens: List[str]) -> Dict[str, List[str]]:
    """The tuning-relevant keys, every occurrence in order (a bare flag has value "")."""
    parsed: Dict[str, List[str]] = {}
    for token in kernel_tokens(tokens):
        key, value = token_key_value(token)
        if key in CMDLINE_KEYS:
            parsed.setdefault(key, []).append(value)
    return parsed


def cmdline_tokens(ctx: ScanContext) -> List[str]:
    def read():
        text = ctx.reader.read("/proc/cmdline", None)
        if text is None:
            ctx.note("kernel", "/proc/cmdline", ctx.why("/proc/cmdline"))
            return []
        return split_cmdline(text)
    return ctx.shared("cmdline", read)


def cmdline_cpus(tokens: List[str], key: str) -> Optional[List[int]]:
    """CPUs named by the last `key=` on the command line; None when absent or unparseable."""
    values = parse_cmdline(tokens).get(key)
    if not values:
        return None
    value = values[-1]
    if key == "isolcpus":
        value = isolcpus_parts(value)[1]
    return to_cpus(value)


def read_sysctls(ctx: ScanContext) -> Dict[str, Optional[str]]:
    def read():
        values = {}
        for name in SYSCTLS + tuple(n for n in ctx.extra_sysctls if n not in SYSCTLS):
            text = ctx.text("/proc/sys/" + name.replace(".", "/"))
            values[name] = None if text is None else " ".join(text.split())
        return values
    return ctx.shared("sysctls", read)


# Where sysctl settings files live (sysctl.d(5)): systemd-sysctl applies them at boot, and
# tuned's [sysctl] writes those of /run/sysctl.d, /etc/sysctl.d and /etc/sysctl.conf again
# after its own values (tuned-main.conf reapply_sysctl, on by default).
SYSCTL_DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d")
SYSCTL_CONF = "/etc/sysctl.conf"
MAX_SYSCTL_FILES = 512


def parse_sysctl_file(text: str) -> List[Dict[str, Any]]:
    """`key = value` lines (sysctl.d(5)): '#' and ';' comment lines, a leading '-' (ignore
    errors) dropped, '/' in keys read as '.'; a line without '=' is skipped."""
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().lstrip("-").strip().replace("/", ".")
        if key:
            entries.append({"line": number, "key": key, "value": " ".join(value.split())})
    return entries


def sysctl_files(ctx: ScanContext) -> List[Dict[str, Any]]:
    """Every setting of the host's sysctl files, with its file and line."""
    paths = ["%s/%s" % (directory, name) for directory in SYSCTL_DIRS
             for name in ctx.reader.listdir(directory, []) if name.endswith(".conf")]
    paths = paths[:MAX_SYSCTL_FILES] + [SYSCTL_CONF]
    found = []
    for path in paths:
        text = ctx.reader.read(path, None)
        for entry in parse_sysctl_file(text) if text else []:
            found.append(dict(entry, file=path))
    return found


def kernel_config(ctx: ScanContext, release: Optional[str]) -> Dict[str, Optional[str]]:
    text = ctx.reader.read("/boot/config-%s" % release, None) if release else None
    if text is None:
        ctx.note("kernel", "/boot/config-<release>", "absent")
        return {key: None for key in CONFIG_KEYS}
    found = {key: None for key in CONFIG_KEYS}
    # String tests, not a regular expression per line: a distribution config has ~10,000
    # lines and apply reads it on every run.
    for line in text.splitlines():
        name, equals, value = line.partition("=")
        if equals and name in found:
            found[name] = value
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            name = line[2:-len(" is not set")]
            if name in found:
                found[name] = "n"
    return found


def watchdog_devices(ctx: ScanContext) -> List[Dict[str, Any]]:
    devices = []
    for name in ctx.reader.listdir("/sys/class/watchdog", []):
        devices.append({"name": name,
                        "identity": ctx.text("/sys/class/watchdog/%s/identity" % name)})
    return devices


def collect(ctx: ScanContext) -> Dict[str, Any]:
    tokens = cmdline_tokens(ctx)
    sysctls = read_sysctls(ctx)
    parsed = parse_cmdline(tokens)
    isolcpus = parsed.get("isolcpus")
    available = ctx.text("/sys/devices/system/clocksource/clocksource0/available_clocksource")
    release = ctx.text("/proc/sys/kernel/osrelease")
    return {"kernel": {
        "cmdline": tokens,
        "cmdline_parsed": parsed,
        "isolcpus_flags": isolcpus_parts(isolcpus[-1])[0] if isolcpus else None,
        "clocksource": {
            "current": ctx.text(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource"),
            "available": available.split() if available else None,
        },
        "sysctls": sysctls,
        "sysctl_files": sysctl_files(ctx),
        "watchdogs": {
            "watchdog": sysctls["kernel.watchdog"],
            "nmi_watchdog": sysctls["kernel.nmi_watchdog"],
            "soft_watchdog": sysctls["kernel.soft_watchdog"],
            "watchdog_thresh": sysctls["kernel.watchdog_thresh"],
            "watchdog_cpumask": sysctls["kernel.watchdog_cpumask"],
            "devices": watchdog_devices(ctx),
        },
        "timer_migration": sysctls["kernel.timer_migration"],
        "sched_rt_runtime_us": sysctls["kernel.sched_rt_runtime_us"],
        "config": kernel_config(ctx, release),
    }}
