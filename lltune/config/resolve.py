"""Small pure functions that tie a config to a snapshot: which CPUs are isolated and
housekeeping, which kernel command-line tokens the config asks for.

gen-config, audit, the plan and the renderer all use these, so they agree by construction.
"""

from typing import Any, Dict, List

from lltune.common.cpulist import format_cpulist
from lltune.config.knobs import cpus_of
from lltune.config.loader import Config
from lltune.model.queries import online_cpus

Snapshot = Dict[str, Any]


def isolated(config: Config) -> List[int]:
    return cpus_of(config.value("cpu.isolated"))


def housekeeping(config: Config, snapshot: Snapshot) -> List[int]:
    """The configured housekeeping set, else every online CPU that is not isolated."""
    configured = config.value("cpu.housekeeping")
    if configured:
        return cpus_of(configured)
    excluded = set(isolated(config))
    return [cpu for cpu in online_cpus(snapshot) if cpu not in excluded]


def _hugepage_tokens(config: Config) -> List[str]:
    tokens: List[str] = []
    for pool in config.value("memory.hugepages") or []:
        if not pool.get("at_boot"):
            continue
        count = pool.get("count")
        if count is None:
            count = sum((pool.get("per_node") or {}).values())
        tokens += ["hugepagesz=%s" % pool["size"], "hugepages=%d" % count]
    return tokens


def cmdline_tokens(config: Config, snapshot: Snapshot) -> List[str]:
    """The kernel command-line tokens lltune asks tuned's [bootloader] to add, in order."""
    value = config.value
    tokens: List[str] = []
    iso = format_cpulist(isolated(config))
    if iso:
        if value("kernel.isolcpus"):
            tokens.append("isolcpus=" + ",".join(list(value("kernel.isolcpus_flags") or [])
                                                 + [iso]))
        if value("kernel.nohz_full"):
            tokens += ["nohz=on", "nohz_full=" + iso]
        if value("kernel.rcu_nocbs"):
            tokens.append("rcu_nocbs=" + iso)
        if value("kernel.irqaffinity"):
            house = format_cpulist(housekeeping(config, snapshot))
            if house:
                tokens.append("irqaffinity=" + house)
    flags = (
        ("kernel.rcu_nocb_poll", True, "rcu_nocb_poll"),
        ("kernel.skew_tick", True, "skew_tick=1"),
        ("kernel.tsc_reliable", True, "tsc=reliable"),
        ("kernel.nosoftlockup", True, "nosoftlockup"),
        ("kernel.nmi_watchdog", False, "nmi_watchdog=0"),
        ("kernel.audit", False, "audit=0"),
        ("cpu.idle_poll", True, "idle=poll"),
    )
    for path, when, token in flags:
        if value(path) is when:
            tokens.append(token)
    if value("cpu.smt") == "off":
        tokens.append("nosmt")
    for path, key in (("kernel.intel_pstate", "intel_pstate"),
                      ("kernel.amd_pstate", "amd_pstate"),
                      ("kernel.mitigations", "mitigations")):
        if value(path):
            tokens.append("%s=%s" % (key, value(path)))
    tokens += _hugepage_tokens(config)
    tokens += list(value("kernel.cmdline_add") or [])
    return tokens


def cmdline_removals(config: Config) -> List[str]:
    """Tokens tuned should drop from the command line it builds ("-token" entries)."""
    return ["-" + token for token in config.value("kernel.cmdline_remove") or []]
