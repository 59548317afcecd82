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


def test_profile_sections(snapshot):
    ini = _ini(render(load_text(CONFIG), snapshot))
    assert ini["main"]["include"] == "lltune"
    assert ini["scheduler"]["isolated_cores"] == "4-39"
    assert ini["irqbalance"]["banned_cpus"] == "4-39"
    assert ini["systemd"]["cpu_affinity"] == "0-3"
    assert ini["vm"]["transparent_hugepages"] == "never"
    assert ini["sysctl"]["net.core.rmem_max"] == "16777216"
    assert ini["sysctl"]["kernel.nmi_watchdog"] == "0"
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
    assert cmdline[-1] == "-quiet"
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
