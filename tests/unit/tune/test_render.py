"""The renderer: deterministic bytes, only the plugins tuned has, nothing unsafe lands."""

import configparser
import json

import pytest

from lltune.config.loader import load_text
from lltune.model.profile import host_profile
from lltune.tune.render import TUNED_220_PLUGINS, RenderError, render
from tests.conftest import scan_root

TUNED_CONF, HOOK_DATA = host_profile("/etc/tuned").files  # the fixture trees' layout

CONFIG = """
version: 1
preset: low-latency
cpu:
  isolated: "4-39"
  housekeeping: "0-3"
  disable_cstates: [C6]
memory:
  hugepages:
    - size: 2M
      per_node: {"0": 128, "1": 64}
network:
  interfaces:
    - match: {name: eth2}
      offloads: {gro: false, lro: false}
      coalesce: {adaptive-rx: false, rx-usecs: 0}
      rings: {rx: 4096, tx: 1024}
      channels: {combined: 4}
      rps_cpus: ""
      irq_cpus: "0-1"
services:
  stop: [ksm.service]
  disable: [ksm.service, ksmtuned.service]
limits:
  - domain: "@trading"
    memlock: unlimited
    rtprio: 99
sysctl:
  net.core.rmem_max: 16777216
kernel:
  cmdline_add: [intel_iommu=on]
  cmdline_remove: [quiet]
"""


@pytest.fixture(scope="module")
def snapshot(hwloc_trees):
    return scan_root(hwloc_trees["40intel64-2g2n4c+pcilocality"])


def _ini(rendered):
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str
    parser.read_string(rendered.files[TUNED_CONF].decode())
    return parser


def test_same_inputs_same_bytes(snapshot):
    config = load_text(CONFIG)
    first, second = render(config, snapshot), render(load_text(CONFIG), json.loads(
        json.dumps(snapshot)))
    assert first.files == second.files


def test_nmi_watchdog_is_turned_off_only_where_it_runs(snapshot):
    """A kernel with no hard-lockup detector reads 0 and refuses the write with ENOTSUPP
    (Debian 12 guest, no PMU): tuned's "<0" writes 0 only over a 1, and the command line
    still says nmi_watchdog=0."""
    ini = _ini(render(load_text(CONFIG), snapshot))
    assert ini["sysctl"]["kernel.nmi_watchdog"] == "<0"
    assert "nmi_watchdog=0" in ini["bootloader"]["cmdline_lltune"].split()


def test_profile_sections(snapshot):
    ini = _ini(render(load_text(CONFIG), snapshot))
    assert ini["main"]["include"] == "lltune"
    assert ini["scheduler"]["isolated_cores"] == "4-39"
    assert ini["irqbalance"]["banned_cpus"] == "4-39"
    assert ini["systemd"]["cpu_affinity"] == "0-3"
    assert ini["vm"]["transparent_hugepages"] == "never"
    assert ini["sysctl"]["net.core.rmem_max"] == "16777216"
    assert ini["sysfs"]["/sys/kernel/mm/ksm/run"] == "0"
    assert ini["sysfs"]["/sys/devices/virtual/workqueue/cpumask"] == "0000000f"
    assert ini["sysfs"]["/sys/devices/system/node/node1/hugepages/hugepages-2048kB/"
                        "nr_hugepages"] == "64"
    assert ini["service"]["service.ksm"] == "stop,disable"
    assert ini["service"]["service.ksmtuned"] == "disable"
    assert ini["bootloader"]["cmdline_network_latency"] == "", "no duplicate skew_tick"
    assert ini["bootloader"]["cmdline_lltune_isolation"] == "", "the base's isolation is off"
    cmdline = ini["bootloader"]["cmdline_lltune"].split()
    assert cmdline[:4] == ["isolcpus=managed_irq,domain,4-39", "nohz=on", "nohz_full=4-39",
                           "rcu_nocbs=4-39"]
    assert "irqaffinity=0-3" in cmdline and "intel_iommu=on" in cmdline
    assert cmdline[-1] == "intel_iommu=on", "quiet is no profile's to remove (audit refuses it)"
    net = ini["net_eth2"]
    assert net["type"] == "net" and net["devices"] == "eth2"
    assert net["features"] == "gro off lro off"
    assert "coalesce" not in net, "tuned 2.20 cannot set coalescing: the hook does"
    assert net["dynamic"] == "0"
    assert net["ring"] == "rx 4096 tx 1024"
    assert net["channels"] == "combined 4"


def test_hook_data(snapshot):
    hook = json.loads(render(load_text(CONFIG), snapshot).files[HOOK_DATA])
    assert hook["irq_pins"] == [{"interface": "eth2", "cpus": [0, 1]}]
    assert hook["coalesce"] == [{"interface": "eth2",
                                 "settings": {"adaptive-rx": False, "rx-usecs": 0}}]
    assert hook["swap"] == "off"
    assert hook["limits"] == [{"domain": "@trading", "memlock": "unlimited", "rtprio": 99}]
    assert hook["isolate_irqs"] is None


def test_no_cpufreq_means_no_cpu_governor(snapshot):
    rendered = render(load_text(CONFIG), snapshot)
    ini = _ini(rendered)
    assert "governor" not in ini["cpu"] and ini["cpu"]["force_latency"] == "2"
    assert any("cpufreq" in note for note in rendered.notes)


def test_only_plugins_tuned_has(snapshot):
    plugins = {k: v for k, v in TUNED_220_PLUGINS.items()
               if k not in ("scheduler", "irqbalance")}
    rendered = render(load_text(CONFIG), snapshot, plugins)
    ini = _ini(rendered)
    assert "scheduler" not in ini and "irqbalance" not in ini
    hook = json.loads(rendered.files[HOOK_DATA])
    assert hook["isolate_irqs"] == [0, 1, 2, 3], "the hook isolates IRQs instead"
    assert ini["service"]["service.irqbalance"] == "stop,disable"
    assert any("scheduler" in note for note in rendered.notes)


def test_option_missing_from_a_plugin_is_left_out(snapshot):
    plugins = json.loads(json.dumps(TUNED_220_PLUGINS))
    del plugins["vm"]["transparent_hugepage.defrag"]
    rendered = render(load_text(CONFIG), snapshot, plugins)
    assert "transparent_hugepage.defrag" not in _ini(rendered)["vm"]
    assert any("transparent_hugepage.defrag" in note for note in rendered.notes)


def test_base_profile_include(snapshot):
    config = load_text(CONFIG + "tuned:\n  base_profile: realtime\n")
    assert _ini(render(config, snapshot))["main"]["include"] == "realtime,lltune"


def test_unknown_nic_is_refused(snapshot):
    config = load_text(CONFIG.replace("name: eth2", "name: eth9"))
    with pytest.raises(RenderError):
        render(config, snapshot)


@pytest.mark.parametrize("name, value", [
    ("kernel.x", "1\n[main]"), ("kernel.x", "${f:exec:rm}"), ("kernel.x", "1 # c"),
])
def test_unsafe_values_never_land(snapshot, name, value):
    config = load_text(CONFIG)
    config.data["sysctl"] = {name: value}  # bypasses the schema, as a bug would
    with pytest.raises(RenderError):
        render(config, snapshot)


def test_nothing_but_the_version_renders_a_minimal_profile(snapshot):
    rendered = render(load_text("version: 1\npreset: balanced\n"), snapshot)
    ini = _ini(rendered)
    assert ini["scheduler"]["isolated_cores"] == "", "overrides the base profile's variable"
    assert ini["irqbalance"]["banned_cpus"] == ""
    assert "systemd" not in ini
    assert ini["bootloader"]["cmdline_lltune"] == "skew_tick=1 nmi_watchdog=0"


def test_the_host_profile_goes_where_the_hosts_tuned_reads_profiles(snapshot):
    rhel10 = dict(snapshot, services=dict(snapshot["services"], tuned=dict(
        snapshot["services"]["tuned"], profile_dirs=["/usr/lib/tuned/profiles",
                                                     "/etc/tuned/profiles"])))
    rendered = render(load_text(CONFIG), rhel10)
    assert rendered.profile.directory == "/etc/tuned/profiles/lltune"
    assert sorted(rendered.files) == ["/etc/tuned/profiles/lltune/hook-data.json",
                                      "/etc/tuned/profiles/lltune/tuned.conf"]
    # The fixture tree says nothing of tuned's layout: RHEL 9's.
    assert sorted(render(load_text(CONFIG), snapshot).files) == sorted([TUNED_CONF, HOOK_DATA])


# tuned 2.25.1's network-latency and lltune's base, as a scan of a RHEL 9 layout records them.
PROFILES_225 = {
    "network-latency": {"/usr/lib/tuned": {
        "main": {"include": "latency-performance"},
        "bootloader": {"cmdline_network_latency":
                       "skew_tick=1 tsc=reliable rcupdate.rcu_normal_after_boot=1"}}},
    "latency-performance": {"/usr/lib/tuned": {"cpu": {"force_latency": "cstate.id:1|3"}}},
    "lltune": {"/usr/lib/tuned": {
        "main": {"include": "network-latency"},
        "bootloader": {"cmdline_lltune_isolation": "${isolation_cmdline}"}}},
}


def _with_profiles(snapshot, contents):
    tuned = dict(snapshot["services"]["tuned"], profile_contents=contents,
                 profile_dirs=["/usr/lib/tuned", "/etc/tuned"])
    return dict(snapshot, services=dict(snapshot["services"], tuned=tuned))


def _bootloader(text, snapshot):
    return dict(_ini(render(load_text(text), snapshot)).items("bootloader"))


def test_network_latencys_own_kernel_parameters_are_kept(snapshot):
    """issue 12: blanking cmdline_network_latency dropped rcupdate.rcu_normal_after_boot=1;
    now only the base profile's variable-driven isolation is emptied and lltune adds what the
    included profiles do not."""
    boot = _bootloader(CONFIG.replace("  cmdline_remove: [quiet]\n", ""),
                       _with_profiles(snapshot, PROFILES_225))
    assert "cmdline_network_latency" not in boot, "inherited as network-latency has it"
    assert boot["cmdline_lltune_isolation"] == ""
    added = boot["cmdline_lltune"].split()
    assert "skew_tick=1" not in added and "tsc=reliable" not in added, "already inherited"
    assert any(token.startswith("isolcpus=") for token in added)
    assert "cmdline_lltune_remove" not in boot


def test_a_knob_set_off_removes_the_included_profiles_token(snapshot):
    text = CONFIG.replace("  cmdline_remove: [quiet]\n",
                          "  cmdline_remove: [rcupdate.rcu_normal_after_boot=1]\n"
                          "  skew_tick: false\n")
    boot = _bootloader(text, _with_profiles(snapshot, PROFILES_225))
    assert boot["cmdline_lltune_remove"] == "-skew_tick=1 rcupdate.rcu_normal_after_boot=1"
    keys = list(boot)
    assert keys.index("cmdline_lltune_remove") < keys.index("cmdline_lltune"), \
        "a '-' option removes only what earlier options added"


def test_removals_are_never_written_inside_the_additions(snapshot):
    """issue 12: `-quiet` was rendered inside cmdline_lltune, where tuned takes it literally."""
    boot = _bootloader(CONFIG, _with_profiles(snapshot, PROFILES_225))
    assert not any(token.startswith("-") for token in boot["cmdline_lltune"].split())
    assert "quiet" not in boot.get("cmdline_lltune_remove", ""), \
        "no included profile adds quiet: audit refuses it (kernel.cmdline-remove-unremovable)"


def test_without_the_included_profiles_lltune_owns_the_whole_command_line(snapshot):
    boot = _bootloader(CONFIG, snapshot)
    assert boot["cmdline_network_latency"] == "" and boot["cmdline_lltune_isolation"] == ""
    assert "skew_tick=1" in boot["cmdline_lltune"].split()


def test_ptp_daemons_are_the_hooks_to_start_and_one_service_instance_stays(snapshot):
    """issue 12: [service] (priority 0) started ptp4l before the hook (priority 10) wrote
    its options, and a second [service] instance after the hook took the first one's
    services away (tuned keeps one instance's services: irqbalance was never stopped in the
    Debian 12 guest). The hook starts the PTP daemons; one [service] holds the rest."""
    text = CONFIG + "time:\n  ptp: {interface: eth2, ptp4l_options: '-2 -s'}\n"
    rendered = render(load_text(text), snapshot)
    ini = _ini(rendered)
    assert [name for name in ini.sections() if name.startswith("service")] == ["service"]
    assert not any("ptp" in key or "phc2sys" in key for key in ini["service"])
    assert json.loads(rendered.files[HOOK_DATA])["ptp"]["interface"] == "eth2"


def test_workload_threads_are_left_alone_by_the_scheduler(snapshot):
    text = CONFIG.replace('  disable_cstates: [C6]\n',
                          '  disable_cstates: [C6]\n  workload_processes: ["^trader$", md-.*]\n')
    ini = _ini(render(load_text(text), snapshot))
    assert ini["scheduler"]["ps_blacklist"] == "^trader$;md-.*"


PINNED_ON_ISOLATED = CONFIG.replace('      irq_cpus: "0-1"', '      irq_cpus: "4-7"')


def test_irqs_pinned_onto_isolated_cpus_on_tuned_2_22_and_later(snapshot):
    """issue 12: [scheduler]'s verify wants every IRQ on housekeeping CPUs. From tuned 2.22 it
    keeps the tasks and leaves IRQs to the hook (irq_process=false)."""
    plugins = dict(TUNED_220_PLUGINS, scheduler=dict(TUNED_220_PLUGINS["scheduler"],
                                                     irq_process="true"))
    rendered = render(load_text(PINNED_ON_ISOLATED), snapshot, plugins)
    ini = _ini(rendered)
    assert ini["scheduler"]["isolated_cores"] == "4-39"
    assert ini["scheduler"]["irq_process"] == "false"
    hook = json.loads(rendered.files[HOOK_DATA])
    assert hook["isolate_irqs"] == [0, 1, 2, 3] and hook["default_irq_affinity"] == [0, 1, 2, 3]
    assert hook["irq_pins"] == [{"interface": "eth2", "cpus": [4, 5, 6, 7]}]
    assert "isolate_tasks" not in hook


def test_irqs_pinned_onto_isolated_cpus_on_older_tuned(snapshot):
    """tuned 2.20 has no irq_process: [scheduler] isolates nothing and the hook moves tasks
    (keeping the workload's threads) and IRQs."""
    text = PINNED_ON_ISOLATED.replace('  disable_cstates: [C6]\n',
                                      '  disable_cstates: [C6]\n  workload_processes: [^trader]\n')
    rendered = render(load_text(text), snapshot)
    ini = _ini(rendered)
    assert ini["scheduler"]["isolated_cores"] == ""
    assert "irq_process" not in ini["scheduler"] and "ps_blacklist" not in ini["scheduler"]
    hook = json.loads(rendered.files[HOOK_DATA])
    assert hook["isolate_tasks"] == {"cpus": [0, 1, 2, 3], "keep": ["^trader"]}
    assert hook["isolate_irqs"] == [0, 1, 2, 3]
    assert any("irq_process" in note for note in rendered.notes)


def test_pins_on_housekeeping_keep_tuneds_scheduler_as_it_is(snapshot):
    ini = _ini(render(load_text(CONFIG), snapshot))
    assert ini["scheduler"]["isolated_cores"] == "4-39" and "irq_process" not in ini["scheduler"]


@pytest.mark.parametrize("kernel, tuned, hook_places_irqs", [
    ("6.12.38+deb13-amd64", "2.25.1", True),   # Debian 13, RHEL 10: EPERM unknown to tuned
    ("6.12.0-55.el10.x86_64", None, True),     # tuned's version unknown: the safe side
    ("6.12.0-55.el10.x86_64", "2.28.0", False),  # tuned records EPERM (commit 00592c2)
    ("5.14.0-503.el9.x86_64", "2.25.1", False),  # EIO, which every tuned records
    (None, "2.25.1", False),                   # a tree without the release: tuned's own way
])
def test_irqs_the_kernel_refuses_are_left_to_the_hook_where_tuned_misreads_them(
        snapshot, kernel, tuned, hook_places_irqs):
    """Linux 6.12 refuses the timer IRQ with EPERM; tuned before 2.28 records only EIO as
    unchangeable, so its [scheduler] verify failed on IRQ 0 in the Debian 13 guest."""
    host = json.loads(json.dumps(snapshot))
    host["host"]["kernel"]["release"] = kernel
    host["services"]["tuned"]["version"] = tuned
    plugins = dict(TUNED_220_PLUGINS, scheduler=dict(TUNED_220_PLUGINS["scheduler"],
                                                     irq_process="true"))
    rendered = render(load_text(CONFIG), host, plugins)
    ini = _ini(rendered)
    hook = json.loads(rendered.files[HOOK_DATA])
    assert ini["scheduler"]["isolated_cores"] == "4-39"
    assert ("irq_process" in ini["scheduler"]) is hook_places_irqs
    assert (hook["isolate_irqs"] == [0, 1, 2, 3]) is hook_places_irqs
    if hook_places_irqs:
        assert ini["scheduler"]["irq_process"] == "false"
        assert hook["default_irq_affinity"] == [0, 1, 2, 3]


REALTIME_225 = dict(PROFILES_225, realtime={"/usr/lib/tuned": {
    "main": {"include": "network-latency"},
    "variables": {"include": "/etc/tuned/realtime-variables.conf",
                  "isolated_cores": "${isolated_cores}",
                  "not_isolated_cpumask": "${f:cpulist2hex_invert:${isolated_cores}}"},
    "net": {"channels": "combined ${f:check_net_queue_count:${netdev_queue_count}}"},
    "sysctl": {"kernel.sched_rt_runtime_us": "-1"},
    "sysfs": {"/sys/bus/workqueue/devices/writeback/cpumask": "${not_isolated_cpumask}",
              "/sys/devices/virtual/workqueue/*/cpumask": "${not_isolated_cpumask}",
              "/sys/devices/system/machinecheck/machinecheck*/ignore_ce": "1"},
    "bootloader": {"cmdline_realtime": "+isolcpus=${managed_irq}${isolated_cores} "
                                       "intel_pstate=disable nosoftlockup"},
    "irqbalance": {"banned_cpus": "${isolated_cores}"},
    "scheduler": {"isolated_cores": "${isolated_cores}"}}})


def test_the_realtime_base_keeps_lltunes_isolation(snapshot):
    """issue 12: realtime's options built from its variables (which lltune's base replaces)
    are set from the config or switched off, so tuned's verify agrees with what was set."""
    text = CONFIG.replace("kernel:\n", "tuned:\n  base_profile: realtime\nkernel:\n").replace(
        "  cmdline_remove: [quiet]\n", "")
    with_mce = dict(snapshot, cpu=dict(snapshot["cpu"], mce={"ignore_ce": False}))
    rendered = render(load_text(text), _with_profiles(with_mce, REALTIME_225))
    ini = _ini(rendered)
    assert ini.get("main", "include") == "realtime,lltune"
    assert ini.get("sysfs", "/sys/bus/workqueue/devices/writeback/cpumask") == \
        ini.get("sysfs", "/sys/devices/virtual/workqueue/cpumask")
    assert not ini.has_option("sysfs", "/sys/devices/virtual/workqueue/*/cpumask")
    assert dict(ini.items("net")) == {"enabled": "false"}
    assert ini.get("bootloader", "cmdline_realtime") == "", "its isolcpus= would come first"
    assert ini.get("irqbalance", "banned_cpus") == "4-39"
    assert any("[net] of realtime switched off" in note for note in rendered.notes)
    # Each glob over a file the profile also names literally would leave it changed after a
    # rollback (tuned saves the file's value again at the second key, after its first write
    # changed it): the workqueue cpumasks, machinecheck's ignore_ce.
    assert ini.get("sysfs", "drop").split(",") == [
        "/sys/devices/system/machinecheck/machinecheck*/ignore_ce",
        "/sys/devices/virtual/workqueue/*/cpumask"]
    assert ini.get("sysfs", "/sys/devices/system/machinecheck/machinecheck0/ignore_ce") == "1"
