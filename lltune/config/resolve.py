"""Small pure functions that tie a config to a snapshot: which CPUs are isolated and
housekeeping, which kernel command-line tokens the config asks for.

gen-config, audit, the plan and the renderer all use these, so they agree by construction.
"""

from dataclasses import dataclass
from typing import Any, Dict, List

from lltune.common.cpulist import format_cpulist
from lltune.config.knobs import KNOBS, cpus_of
from lltune.config.loader import Config
from lltune.model.cmdline import token_key
from lltune.model.profile import PROFILE_NAME
from lltune.model.queries import (
    dig,
    inherited_cmdline,
    inherited_profile,
    online_cpus,
    sysctls_tuned_reapplies,
)

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


# Boolean knobs that each put one token on the command line: (knob, the value that adds the
# token, the token). Set the other way, the knob rules the token out (an included profile's
# copy is removed).
FLAG_TOKENS = (
    ("kernel.rcu_nocb_poll", True, "rcu_nocb_poll"),
    ("kernel.skew_tick", True, "skew_tick=1"),
    ("kernel.tsc_reliable", True, "tsc=reliable"),
    ("kernel.nosoftlockup", True, "nosoftlockup"),
    ("kernel.nmi_watchdog", False, "nmi_watchdog=0"),
    ("kernel.audit", False, "audit=0"),
    ("cpu.idle_poll", True, "idle=poll"),
)
# The base profile's variable-driven isolation (tuned-profile/lltune/tuned.conf): a host
# profile's isolation is its config's, so this option is always emptied.
BASE_ISOLATION_OPTION = "cmdline_lltune_isolation"
# What an empty option replaces when the host's profiles are not known (a snapshot without
# tuned's profile files): lltune then owns the whole command line, as before it read them.
UNKNOWN_INHERITED = ("cmdline_network_latency", BASE_ISOLATION_OPTION)


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
    for path, when, token in FLAG_TOKENS:
        if value(path) is when:
            tokens.append(token)
    if value("cpu.smt") == "off":
        tokens.append("nosmt")
    for path, key in (("kernel.intel_pstate", "intel_pstate"),
                      ("kernel.amd_pstate", "amd_pstate"),
                      ("kernel.mitigations", "mitigations")):
        setting = value(path)
        if setting == "recommended":
            setting = recommended_intel_pstate(snapshot)
        if setting:
            tokens.append("%s=%s" % (key, setting))
    tokens += _hugepage_tokens(config)
    tokens += list(value("kernel.cmdline_add") or [])
    return tokens


# CPUs whose intel_pstate tuned's intel_recommended_pstate (2.23+) turns off: their HWP is
# missing or too young to trust (tuned/profiles/functions/function_intel_recommended_pstate.py).
PSTATE_DISABLE_PMUS = ("sandybridge", "ivybridge", "haswell", "broadwell", "skylake")


def recommended_intel_pstate(snapshot: Snapshot) -> str:
    """tuned's recommendation, for any tuned: "disable" on Sandy Bridge to Skylake or a CPU
    that names no PMU, "active" after; "" off Intel CPUs (nothing to add)."""
    if dig(snapshot, "cpu", "vendor") != "GenuineIntel":
        return ""
    pmu = dig(snapshot, "cpu", "pmu_name") or ""
    return "disable" if not pmu or pmu in PSTATE_DISABLE_PMUS else "active"


def stalld_installed(snapshot: Snapshot) -> bool:
    unit = dig(snapshot, "services", "units", "stalld.service") or {}
    return unit.get("load") not in (None, "not-found")


def unwanted_tokens(config: Config) -> List[str]:
    """Tokens a knob set the other way rules out (skew_tick: false rules out skew_tick=1)."""
    return [token for path, when, token in FLAG_TOKENS
            if config.value(path) is (not when)]


def profile_includes(config: Config) -> List[str]:
    """What the host profile includes, in order: the stock profile, then lltune's base."""
    base = config.value("tuned.base_profile") or "network-latency"
    return [PROFILE_NAME] if base == "network-latency" else [base, PROFILE_NAME]


@dataclass
class BootOptions:
    """The host profile's [bootloader] options and what they are built from."""

    inherited: List[str]  # literal tokens the included profiles add (what tuned can remove)
    blank: List[str]  # included cmdline* options emptied (variables, or lltune's own)
    remove: List[str]  # inherited tokens removed ("-tok ..." option)
    add: List[str]  # tokens the config adds that no included profile adds already
    known: bool  # the snapshot holds the included profiles' files


def boot_options(config: Config, snapshot: Snapshot) -> BootOptions:
    """How tuned's [bootloader] gets the config's kernel parameters on top of what the
    included profiles add. tuned concatenates every cmdline* option in merged order, and an
    option whose value starts with '-' removes those literal tokens from what earlier options
    added (plugin_bootloader.py, _get_effective_options); it cannot remove what GRUB or a boot
    entry has. Included options built from variables are emptied: their text exists only
    after tuned expands it (realtime's isolcpus=${...}), and the config owns isolation."""
    includes = profile_includes(config)
    options = inherited_profile(snapshot, includes).get("bootloader") or {}
    known = bool(dig(snapshot, "services", "tuned", "profile_contents"))
    if known:
        blank = [name for name, value in options.items() if name.startswith("cmdline") and
                 ("$" in value or name == BASE_ISOLATION_OPTION)]
        inherited = inherited_cmdline(snapshot, includes, tuple(blank))
    else:
        blank, inherited = list(UNKNOWN_INHERITED), []
    ours = cmdline_tokens(config, snapshot)
    our_keys = {token_key(token) for token in ours}
    unwanted = set(unwanted_tokens(config))
    remove = [token for token in inherited if token in unwanted or (
        token_key(token) in our_keys and token not in ours)]
    remove += [token for token in config.value("kernel.cmdline_remove") or []
               if token in inherited and token not in remove]
    add = [token for token in ours if token not in inherited or token in remove]
    return BootOptions(inherited, blank, remove, add, known)


def profile_sysctls(config: Config) -> Dict[str, str]:
    """The sysctls the host profile sets, as written into [sysctl]: the knobs' (in table
    order), nmi_watchdog's sysctl, then the free-form ones."""
    values: Dict[str, str] = {}
    for knob in KNOBS:
        value = config.value(knob.path)
        if knob.tuned and knob.tuned[0] == "sysctl" and value is not None:
            values[knob.tuned[1]] = knob.to_tuned(value)
    if config.value("kernel.nmi_watchdog") is False:
        values["kernel.nmi_watchdog"] = "0"
    for name, value in sorted((config.value("sysctl") or {}).items()):
        values[name] = str(value)
    return values


@dataclass
class SiteSysctl:
    """A sysctl the merged profile sets that a site file tuned re-applies sets otherwise."""

    name: str
    wanted: str  # the profile's value
    site_value: str  # what the site file says
    where: str  # file:line
    knob: str  # the config key that sets it ("" for an included profile's own)


def site_sysctl_conflicts(config: Config, snapshot: Snapshot) -> List[SiteSysctl]:
    """tuned writes the sysctl files of /etc/sysctl.d, /run/sysctl.d and /etc/sysctl.conf
    again after a profile's [sysctl] (reapply_sysctl=1, tuned's default), so a site file that
    sets a sysctl the profile sets wins, and tuned's own verify then fails on it."""
    owner = {knob.tuned[1]: knob.path for knob in KNOBS
             if knob.tuned and knob.tuned[0] == "sysctl"}
    owner["kernel.nmi_watchdog"] = "kernel.nmi_watchdog"
    inherited = {name: value for name, value in (inherited_profile(
        snapshot, profile_includes(config)).get("sysctl") or {}).items()
        # ${...} and tuned's "<N"/">N" are decided on the host, not known here.
        if "$" not in value and not value.startswith(("<", ">"))}
    wanted = dict(inherited, **profile_sysctls(config))
    mine = profile_sysctls(config)
    found = []
    for name, entry in sorted(sysctls_tuned_reapplies(snapshot).items()):
        if name in wanted and " ".join(str(entry.get("value")).split()) != \
                " ".join(wanted[name].split()):
            found.append(SiteSysctl(name, wanted[name], str(entry.get("value")), "%s:%s" % (
                entry.get("file"), entry.get("line")),
                (owner.get(name) or "sysctl." + name) if name in mine else ""))
    return found
