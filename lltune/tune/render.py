"""Config + snapshot -> the host's tuned profile (lltune/ in tuned's user profile directory)
and the hook's data.

A pure function: the same config, snapshot and tuned plugin set give the same bytes. Only the
plugins and options the running tuned has are used (get_all_plugins); what tuned cannot do is
handed to the lltune hook (/usr/libexec/lltune/lltune-hook) through hook-data.json. Every value
is checked against a strict pattern before it lands in a file.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from lltune import __version__
from lltune.common.cpulist import format_cpulist, format_cpumask
from lltune.common.errors import HostError
from lltune.config.knobs import KNOBS, cpus_of
from lltune.config.loader import Config
from lltune.config.resolve import (
    boot_options,
    housekeeping,
    isolated,
    profile_includes,
    profile_sysctls,
    site_sysctl_conflicts,
    stalld_installed,
)
from lltune.model.profile import HostProfile, host_profile
from lltune.model.queries import (
    cpu_table,
    dig,
    find_nic,
    inherited_profile,
    kernel_version,
    tuned_user_dir,
    tuned_version,
)

HOOK_DATA_VERSION = 1

# tuned 2.20's plugins and the options lltune uses (what `get_all_plugins` answers on RHEL 9.2
# and Debian 12 with linux-perf and python3-schedutils); the plan uses it when tuned cannot be
# asked (offline, unprivileged).
TUNED_220_PLUGINS: Dict[str, Dict[str, str]] = {
    "cpu": {"governor": "", "energy_performance_preference": "", "min_perf_pct": "",
            "no_turbo": "", "force_latency": ""},
    "vm": {"transparent_hugepages": "", "transparent_hugepage.defrag": ""},
    "sysctl": {},
    "sysfs": {},
    "scheduler": {"isolated_cores": "", "default_irq_smp_affinity": "", "ps_blacklist": ""},
    "irqbalance": {"banned_cpus": ""},
    "service": {},
    "systemd": {"cpu_affinity": ""},
    "bootloader": {"cmdline": ""},
    "net": {"dynamic": "", "features": "", "coalesce": "", "ring": "", "channels": "",
            "pause": ""},
    "script": {"script": ""},
}

# What may appear in a tuned.conf value: no newline, no comment or variable syntax.
_SAFE_VALUE = re.compile(r"^[A-Za-z0-9 _.,:/=+@|-]*$")
# tuned's assignment modifier: "<0" writes 0 only over a larger value, and verify skips it
# otherwise. A kernel without a hard-lockup detector (no PMU, as in the Debian 12 guest) reads
# nmi_watchdog 0 and refuses a write with ENOTSUPP, which tuned logs as an ERROR at each apply.
CONDITIONAL_SYSCTLS = {("kernel.nmi_watchdog", "0"): "<0"}
_SAFE_SYSCTL = re.compile(r"^(?:[<>][0-9]+|[A-Za-z0-9 _.,:/=+@|-]*)$")
# Options whose values are regular expressions (knobs.THREAD_REGEX_PATTERN, joined by ';').
_SAFE_REGEXES = re.compile(r"^[A-Za-z0-9_.*+?^$()\[\]|\\;-]*$")
_REGEX_OPTIONS = {("scheduler", "ps_blacklist")}
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_./*@:-]+$")
_SECTION = re.compile(r"^[a-z][a-z0-9_]*$")
_INSTANCE_OPTIONS = {"type", "devices", "enabled", "replace", "priority", "drop"}
# Options whose values are option names of the plugin (a [sysfs] drop names glob paths).
_KEY_OPTIONS = {("sysfs", "drop")}
# ignore_ce is one setting behind every machinecheckN (mca_cfg.ignore_ce). tuned's [sysfs]
# saves each file a glob matches just before writing it, so all but the first are saved
# already changed and its unapply writes the changed value back: after a rollback of the glob
# that realtime and cpu-partitioning use, ignore_ce stayed 1 (Debian 13 guest, tuned 2.25.1).
# lltune writes one file and drops the glob from a base profile that sets it.
MCE_IGNORE_CE = "/sys/devices/system/machinecheck/machinecheck0/ignore_ce"
MCE_IGNORE_CE_GLOB = "/sys/devices/system/machinecheck/machinecheck*/ignore_ce"
_FREE_FORM = {"sysctl", "sysfs", "service"}  # their keys are sysctl names, paths, units


class RenderError(HostError):
    """A value that must not be written (should have been stopped by the schema or audit)."""


@dataclass
class Rendered:
    """The files to install (canonical path -> bytes) and what the renderer had to decide."""

    profile: HostProfile
    files: Dict[str, bytes]
    notes: List[str] = field(default_factory=list)
    sections: Dict[str, List[Tuple[str, str]]] = field(default_factory=dict)


class _Profile:
    def __init__(self, plugins: Dict[str, Dict[str, str]]):
        self.plugins = plugins
        self.sections: Dict[str, List[Tuple[str, str]]] = {}
        self.notes: List[str] = []

    def has(self, plugin: str, option: Optional[str] = None) -> bool:
        if plugin not in self.plugins:
            return False
        if option is None or option in _INSTANCE_OPTIONS or plugin in _FREE_FORM:
            return True
        if plugin == "bootloader":
            return option.startswith("cmdline")  # every cmdline* option is concatenated
        return option in self.plugins[plugin]

    def set(self, section: str, key: str, value: Any, plugin: Optional[str] = None) -> bool:
        plugin = plugin or section
        if not self.has(plugin, key):
            self.notes.append("tuned here has no [%s] %s: not set" % (plugin, key))
            return False
        text = _text(value)
        if not _SECTION.match(section) or not _SAFE_KEY.match(key) or \
                not _value_pattern(section, key).match(text):
            raise RenderError("refusing to write [%s] %s=%r into tuned.conf" % (section, key,
                                                                                 text))
        self.sections.setdefault(section, []).append((key, text))
        return True

    def drop(self, section: str, option: str) -> None:
        """Removes an option the included profiles set. tuned reads one drop= per section,
        its names separated by commas."""
        options = self.sections.get(section, [])
        for index, (key, text) in enumerate(options):
            if key == "drop":
                if not _SAFE_KEY.match(option):
                    raise RenderError("refusing to write [%s] drop=%r into tuned.conf"
                                      % (section, option))
                options[index] = (key, text + "," + option)
                return
        self.set(section, "drop", option)


def _value_pattern(section: str, key: str) -> "re.Pattern[str]":
    if (section, key) in _REGEX_OPTIONS:
        return _SAFE_REGEXES
    if section == "sysctl":
        return _SAFE_SYSCTL
    return _SAFE_KEY if (section, key) in _KEY_OPTIONS else _SAFE_VALUE


def _text(value: Any) -> str:
    if value is True:
        return "1"
    if value is False:
        return "0"
    return str(value)


def _pairs(values: Dict[str, Any]) -> str:
    """{"rx-usecs": 0, "adaptive-rx": False} -> "adaptive-rx off rx-usecs 0" (ethtool order)."""
    return " ".join(ethtool_words(values))


def ethtool_words(values: Dict[str, Any]) -> List[str]:
    """Settings as ethtool's "key value" words, sorted (what tuned compares at verify)."""
    words = []
    for key in sorted(values):
        value = values[key]
        if isinstance(value, bool):
            value = "on" if value else "off"
        words += [key, str(value)]
    return words


def _scalar_knobs(profile: _Profile, config: Config, snapshot: Dict[str, Any]) -> None:
    cpufreq = bool((snapshot.get("cpu") or {}).get("cpufreq", {}).get("policies"))
    for knob in KNOBS:
        if not knob.tuned:
            continue
        value = config.value(knob.path)
        if value is None:
            continue
        section, option = knob.tuned
        if section == "sysctl":
            continue  # with the other sysctls (_sysctls)
        if section == "cpu" and option != "force_latency" and not cpufreq:
            profile.notes.append("%s: the host has no cpufreq driver; not set" % knob.path)
            continue
        if section == "scheduler" and option == "default_irq_smp_affinity":
            value = format_cpulist(cpus_of(value))
        profile.set(section, option, knob.to_tuned(value))


def _sysctls(profile: _Profile, config: Config, snapshot: Dict[str, Any],
             hook: Dict[str, Any]) -> None:
    for name, value in profile_sysctls(config).items():
        profile.set("sysctl", name, CONDITIONAL_SYSCTLS.get((name, value), value))
    # A site file tuned re-applies after [sysctl] would win: the hook, which runs after it,
    # sets these again (and puts back what it found at stop).
    hook["sysctls"] = {c.name: c.wanted for c in site_sysctl_conflicts(config, snapshot)}


def _sysfs(profile: _Profile, config: Config, snapshot: Dict[str, Any],
           house: List[int], iso: List[int]) -> None:
    if config.value("memory.ksm") is not None:
        profile.set("sysfs", "/sys/kernel/mm/ksm/run", "1" if config.value("memory.ksm")
                    else "0")
    if house:
        # Set even without isolation: the base profile derives these from
        # /etc/tuned/lltune-variables.conf, and the host's config must win over that file.
        mask = format_cpumask(house)
        profile.set("sysfs", "/sys/devices/virtual/workqueue/cpumask", mask)
        profile.set("sysfs", "/sys/bus/workqueue/devices/writeback/cpumask", mask)
    states = _cstate_indexes(snapshot, config.value("cpu.disable_cstates") or [])
    for cpu in iso:
        for index in states.get(cpu, []):
            profile.set("sysfs", "/sys/devices/system/cpu/cpu%d/cpuidle/state%d/disable"
                        % (cpu, index), "1")
    if config.value("cpu.mce_ignore_ce") is not None and \
            dig(snapshot, "cpu", "mce", "ignore_ce") is not None:
        profile.drop("sysfs", MCE_IGNORE_CE_GLOB)
        profile.set("sysfs", MCE_IGNORE_CE, "1" if config.value("cpu.mce_ignore_ce") else "0")
    clocksource = config.value("time.clocksource")
    if clocksource:
        profile.set("sysfs", "/sys/devices/system/clocksource/clocksource0/"
                             "current_clocksource", clocksource)
    for pool in config.value("memory.hugepages") or []:
        size_kb = {"2M": 2048, "1G": 1048576}[pool["size"]]
        if pool.get("at_boot"):
            continue
        if pool.get("per_node"):
            for node, count in sorted(pool["per_node"].items(), key=lambda i: int(i[0])):
                profile.set("sysfs", "/sys/devices/system/node/node%d/hugepages/"
                                     "hugepages-%dkB/nr_hugepages" % (int(node), size_kb), count)
        else:
            profile.set("sysfs", "/sys/kernel/mm/hugepages/hugepages-%dkB/nr_hugepages"
                        % size_kb, pool["count"])


def _cstate_indexes(snapshot: Dict[str, Any], names: List[str]) -> Dict[int, List[int]]:
    """cpu -> cpuidle state indexes whose name is in `names` (indexes differ by driver)."""
    wanted = set(names)
    result: Dict[int, List[int]] = {}
    for cpu, entry in cpu_table(snapshot).items():
        for state in entry.get("cpuidle") or []:
            if state.get("name") in wanted:
                result.setdefault(cpu, []).append(state["state"])
    return result


def _net_instances(profile: _Profile, config: Config, snapshot: Dict[str, Any],
          hook: Dict[str, Any]) -> None:
    for interface in config.value("network.interfaces") or []:
        nic = find_nic(snapshot, interface["match"])
        if nic is None:
            raise RenderError("network.interfaces: no NIC matches %s (audit reports this)"
                              % interface["match"])
        name = nic["name"]
        section = "net_" + re.sub(r"[^a-z0-9_]", "_", name.lower())
        settings = []
        if interface.get("offloads"):
            settings.append(("features", _pairs(interface["offloads"])))
        if interface.get("rings"):
            settings.append(("ring", _pairs(interface["rings"])))
        if interface.get("channels"):
            settings.append(("channels", _pairs(interface["channels"])))
        if interface.get("pause"):
            settings.append(("pause", _pairs(interface["pause"])))
        if settings and profile.set(section, "type", "net", plugin="net"):
            profile.set(section, "devices", name, plugin="net")
            # Dynamic tuning (on in Debian's tuned-main.conf) drops idle links to 100 Mb/s.
            profile.set(section, "dynamic", "0", plugin="net")
            for option, value in settings:
                profile.set(section, option, value, plugin="net")
        if interface.get("coalesce"):
            # tuned 2.20's [net] coalesce= never applies with ethtool >= 5.15 (it rejects the
            # "CQE mode RX" line, tuned issue #726, fixed in 2.25): the hook runs ethtool -C.
            hook["coalesce"].append({"interface": name, "settings": interface["coalesce"]})
        for option, prefix, count in (("rps_cpus", "rx", nic["queues"]["rx"]),
                                      ("xps_cpus", "tx", nic["queues"]["tx"])):
            value = interface.get(option)
            if value is None:
                continue
            mask = format_cpumask(cpus_of(value)) if value else "0"
            for queue in range(count):
                profile.set("sysfs", "/sys/class/net/%s/queues/%s-%d/%s" % (name, prefix, queue,
                                                                              option), mask)
        if interface.get("irq_cpus"):
            hook["irq_pins"].append({"interface": name,
                                     "cpus": cpus_of(interface["irq_cpus"])})


def _pins_on_isolated(config: Config, iso: List[int]) -> bool:
    return any(set(cpus_of(interface.get("irq_cpus"))) & set(iso)
               for interface in config.value("network.interfaces") or [])


def _tuned_skips_refused_irqs(snapshot: Dict[str, Any]) -> bool:
    """Whether tuned's [scheduler] verify leaves out the IRQs the kernel will not move. From
    Linux 6.12 the kernel refuses with EPERM where it said EIO; tuned records only EIO until
    2.28 (commit 00592c2, RHEL-153655), so before it the timer IRQ fails its verify ("SMP
    affinity of IRQ 0 = [0, 1, 2, 3]", seen with tuned 2.25.1 on Debian 13's 6.12). A tree
    without the kernel's release is taken at its word; an unknown tuned on 6.12 as affected
    (the hook then places IRQs, which is right with every tuned)."""
    kernel, tuned = kernel_version(snapshot), tuned_version(snapshot)
    if kernel is None or kernel < (6, 12):
        return True
    return tuned is not None and tuned >= (2, 28)


def _isolation(profile: _Profile, config: Config, snapshot: Dict[str, Any], iso: List[int],
               house: List[int], hook: Dict[str, Any]) -> None:
    """Tasks and IRQs off the isolated CPUs: tuned's [scheduler] isolated_cores, unless its
    IRQ handling would fail its own verify: on IRQs the config pins onto isolated CPUs (it
    wants every IRQ inside the housekeeping CPUs, plugin_scheduler.py,
    _verify_all_irq_affinity) and on IRQs the kernel refuses to move where this tuned does
    not know the refusal. There the hook places the IRQs: from tuned 2.22 [scheduler] keeps
    the tasks and leaves IRQs alone (irq_process=false); before, the hook moves the tasks
    too."""
    workload = config.value("cpu.workload_processes") or []
    if not profile.has("scheduler", "isolated_cores"):
        if iso:
            hook["isolate_irqs"] = house
            profile.notes.append("cpu.isolated: no [scheduler] plugin; the lltune hook moves "
                                 "IRQs to the housekeeping CPUs instead")
        return
    # After [net]: changing channels makes drivers spread their IRQs again (seen with
    # virtio-net); the base profile's [script] hook (priority 10) pins queues last.
    profile.set("scheduler", "priority", "5")
    hook_places_irqs = bool(iso) and (_pins_on_isolated(config, iso)
                                      or not _tuned_skips_refused_irqs(snapshot))
    if hook_places_irqs and not profile.has("scheduler", "irq_process"):
        # isolated_cores is rendered even when empty, to override the base profile's
        # variable: here it must not run at all.
        profile.set("scheduler", "isolated_cores", "")
        hook["isolate_tasks"] = {"cpus": house, "keep": list(workload)}
        profile.notes.append("IRQs are placed by the lltune hook (pinned onto isolated CPUs, "
                             "or refused by this kernel in a way this tuned's verify does not "
                             "know) and this tuned's [scheduler] cannot leave IRQs alone "
                             "(irq_process: tuned 2.22+): the hook moves tasks and IRQs off "
                             "the isolated CPUs instead")
    else:
        profile.set("scheduler", "isolated_cores", format_cpulist(iso))
        if hook_places_irqs:
            profile.set("scheduler", "irq_process", "false")
        if workload:
            # Matched against each thread's comm; the threads keep their own affinity.
            profile.set("scheduler", "ps_blacklist", ";".join(workload))
    if hook_places_irqs:
        hook["isolate_irqs"] = house
        default = cpus_of(config.value("irq.default_affinity"))
        hook["default_irq_affinity"] = default or house


def _services(profile: _Profile, config: Config, snapshot: Dict[str, Any], iso: List[int],
              hook: Dict[str, Any]) -> None:
    actions: Dict[str, List[str]] = {}
    for unit in config.value("services.stop") or []:
        actions.setdefault(unit, []).append("stop")
    for unit in config.value("services.disable") or []:
        actions.setdefault(unit, []).append("disable")
    policy = config.value("irq.irqbalance")
    if policy == "ban" and profile.has("irqbalance", "banned_cpus"):
        profile.set("irqbalance", "banned_cpus", format_cpulist(iso))
    elif policy == "ban" and iso:
        actions.setdefault("irqbalance.service", []).extend(["stop", "disable"])
        profile.notes.append("irq.irqbalance: no [irqbalance] plugin; stopping irqbalance")
    elif policy == "stop":
        actions.setdefault("irqbalance.service", []).extend(["stop", "disable"])
    if config.value("kernel.sched_rt_runtime_us") == -1 and stalld_installed(snapshot):
        # RT throttling off: stalld boosts what a spinning SCHED_FIFO thread starves.
        actions.setdefault("stalld.service", []).extend(["start", "enable"])
    # One [service] instance only (tuned keeps the services of one); the PTP daemons are the
    # hook's to start, after it wrote their options (hookhost.py).
    for unit, verbs in sorted(actions.items()):
        profile.set("service", "service." + _unit_name(unit), ",".join(dict.fromkeys(verbs)))


def _unit_name(unit: str) -> str:
    return unit[:-len(".service")] if unit.endswith(".service") else unit


# Options of the stock profiles (realtime) that are built from their [variables], which the
# host profile leaves without meaning: lltune's base empties isolated_cores (the config owns
# isolation) and its [variables] include replaces realtime's variables file. What stands in
# for each: "disable" (the instance is switched off) or "drop" (the option is removed from
# the merged profile).
INHERITED_STAND_INS = {
    # A glob over every unbound workqueue, writeback included. [sysfs] saves a file's value
    # each time a key reaches it: after the literal writeback key it saves the value already
    # changed and rollback writes that back (realtime alone leaves writeback on the
    # housekeeping mask). The global unbound cpumask the profile sets bounds every unbound
    # workqueue anyway.
    ("sysfs", "/sys/devices/virtual/workqueue/*/cpumask"): "drop",
    # channels=combined ${f:check_net_queue_count:${netdev_queue_count}}: with no
    # netdev_queue_count tuned up to 2.24.1 passes the text on ("unknown channels
    # parameter(s)"); the config sets each NIC's channels itself.
    ("net", "channels"): "disable",
}
_NOT_INHERITED = ("main", "variables", "bootloader", "script")


def _inherited_variables(profile: _Profile, config: Config, snapshot: Dict[str, Any]) -> None:
    stock = profile_includes(config)[:-1]  # lltune's own base is the host profile's to set
    for section, options in sorted(inherited_profile(snapshot, stock).items()):
        if section in _NOT_INHERITED:
            continue
        ours = {key for key, _ in profile.sections.get(section, [])}
        for option, value in sorted(options.items()):
            if "${" not in value or option in ours:
                continue
            stand_in = INHERITED_STAND_INS.get((section, option))
            if stand_in == "drop":
                profile.drop(section, option)
                profile.notes.append("[%s] %s of %s dropped" % (section, option,
                                                               ",".join(stock)))
            elif stand_in == "disable" and section not in profile.sections:
                profile.set(section, "enabled", "false", plugin=options.get("type", section))
                profile.notes.append("[%s] of %s switched off: its %s is built from variables "
                                     "lltune's profile replaces" % (section, ",".join(stock),
                                                                    option))
            else:
                profile.notes.append("[%s] %s of %s is built from variables and left as it "
                                     "is" % (section, option, ",".join(stock)))


def _hook_data(config: Config, hook: Dict[str, Any]) -> None:
    hook["swap"] = config.value("memory.swap")
    hook["limits"] = config.value("limits") or []
    hook["ptp"] = config.value("time.ptp")


def render(config: Config, snapshot: Dict[str, Any],
           plugins: Optional[Dict[str, Dict[str, str]]] = None) -> Rendered:
    """The host profile and hook data for `config` on the host `snapshot` describes."""
    profile = _Profile(plugins if plugins is not None else TUNED_220_PLUGINS)
    iso = isolated(config)
    house = housekeeping(config, snapshot)
    hook: Dict[str, Any] = {"version": HOOK_DATA_VERSION, "irq_pins": [], "coalesce": [],
                            "isolate_irqs": None, "kthread_cpus": None}
    profile.sections["main"] = [
        ("summary", "lltune profile for %s" % _safe_word(
            (snapshot.get("host") or {}).get("hostname") or "this host")),
        ("include", ",".join(profile_includes(config))),
    ]
    _scalar_knobs(profile, config, snapshot)
    _sysctls(profile, config, snapshot, hook)
    _sysfs(profile, config, snapshot, house, iso)
    _isolation(profile, config, snapshot, iso, house, hook)
    if iso and house:
        profile.set("systemd", "cpu_affinity", format_cpulist(house))
        hook["kthread_cpus"] = house
    _services(profile, config, snapshot, iso, hook)
    boot = boot_options(config, snapshot)
    for option in boot.blank:
        profile.set("bootloader", option, "")
    # Before cmdline_lltune: a '-' option removes only what earlier options added.
    if boot.remove:
        profile.set("bootloader", "cmdline_lltune_remove", "-" + " ".join(boot.remove))
    profile.set("bootloader", "cmdline_lltune", " ".join(boot.add))
    _net_instances(profile, config, snapshot, hook)
    _inherited_variables(profile, config, snapshot)
    _hook_data(config, hook)
    text = _serialize(profile.sections, config.source)
    hook_text = json.dumps(hook, indent=1, sort_keys=True) + "\n"
    paths = host_profile(tuned_user_dir(snapshot))
    return Rendered(paths, files={paths.tuned_conf: text.encode(),
                                  paths.hook_data: hook_text.encode()},
                    notes=profile.notes, sections=profile.sections)


def _safe_word(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:64]


def _serialize(sections: Dict[str, List[Tuple[str, str]]], source: str) -> str:
    lines = ["# Written by lltune %s (lltune apply) from %s." % (__version__,
                                                              _safe_word(source) or "a config"),
             "# Do not edit: the next apply replaces it; lltune rollback restores what was "
             "here before.", ""]
    order = ["main", "cpu", "vm", "sysctl", "sysfs", "scheduler", "irqbalance", "service",
             "systemd", "bootloader"]
    names = [n for n in order if n in sections] + sorted(n for n in sections if n not in order)
    for name in names:
        lines.append("[%s]" % name)
        lines += ["%s=%s" % (key, value) for key, value in sections[name]]
        lines.append("")
    return "\n".join(lines)
