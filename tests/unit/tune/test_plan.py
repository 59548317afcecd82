"""The plan: current -> desired per knob, from a snapshot; what verify compares."""

import copy
import json

import pytest

from lltune.config.loader import load_text
from lltune.tune.plan import build, table
from tests.conftest import scan_root

CONFIG = """
version: 1
preset: low-latency
cpu:
  isolated: "1"
  housekeeping: "0"
memory:
  thp: never
  swappiness: 1
network:
  interfaces:
    - match: {name: eth0}
      offloads: {gro: false}
      rings: {rx: 256}
      irq_cpus: "0"
sysctl:
  vm.max_map_count: 262144
limits:
  - domain: "@rt"
    rtprio: 99
"""


@pytest.fixture(scope="module")
def live():
    from lltune.host.reader import RootReader
    from lltune.host.scan import scan

    return scan(RootReader("/"), {"kind": "live", "path": "/"},
                extra_sysctls=["vm.max_map_count"])


def _by_knob(changes):
    return {change.knob: change for change in changes}


def test_plan_reads_current_values_from_the_snapshot(live):
    changes = _by_knob(build(load_text(CONFIG), live))
    thp = changes["memory.thp"]
    assert thp.current == live["memory"]["thp"]["enabled"] and thp.desired == "never"
    assert thp.status == ("ok" if thp.current == "never" else "change")
    swappiness = changes["memory.swappiness"]
    assert swappiness.current == int(live["kernel"]["sysctls"]["vm.swappiness"])
    assert changes["sysctl.vm.max_map_count"].current == \
        live["kernel"]["sysctls"]["vm.max_map_count"]
    assert changes["limits.@rt.rtprio"].desired == "99"
    assert changes["tuned.profile"].desired == "lltune"


def test_cmdline_changes_need_a_reboot(live):
    changes = _by_knob(build(load_text(CONFIG), live))
    isolcpus = changes["kernel.cmdline.isolcpus"]
    assert isolcpus.desired == "isolcpus=managed_irq,domain,1" and isolcpus.reboot
    assert isolcpus.status == "change", "this machine boots without isolcpus"
    assert not changes["memory.thp"].reboot


def test_a_host_already_tuned_shows_ok(live):
    tuned = copy.deepcopy(live)
    tuned["memory"]["thp"]["enabled"] = "never"
    # Before any "--": what follows it is for init, not the kernel.
    tuned["kernel"]["cmdline"] = ["ro", "isolcpus=managed_irq,domain,1", "nohz=on",
                                  "nohz_full=1", "--", "isolcpus=9"]
    changes = _by_knob(build(load_text(CONFIG), tuned))
    assert changes["memory.thp"].status == "ok"
    assert changes["kernel.cmdline.isolcpus"].status == "ok"
    assert changes["kernel.cmdline.nohz_full"].status == "ok"


def test_nic_settings_compare_with_ethtool_answers(live):
    if not any(nic["name"] == "eth0" for nic in live["nics"]):
        pytest.skip("this machine has no eth0")
    nic = next(n for n in live["nics"] if n["name"] == "eth0")
    changes = _by_knob(build(load_text(CONFIG), live))
    gro = changes["network.eth0.offloads.gro"]
    assert gro.current == nic["features"]["rx-gro"]["active"]
    rings = changes["network.eth0.rings.rx"]
    assert rings.current == (nic["rings"] or {}).get("current", {}).get("rx")


def test_unknown_values_are_not_drift(hwloc_trees):
    snapshot = scan_root(hwloc_trees["8em64t-2s2ca2c"])
    changes = _by_knob(build(load_text("version: 1\npreset: low-latency\n"), snapshot))
    assert changes["memory.thp"].status == "unknown", "the tree has no THP files"


def test_table_has_every_change(live):
    changes = build(load_text(CONFIG), live)
    text = table(changes)
    assert text.count("\n") == len(changes) + 2
    assert "| memory.thp " in text and "reboot" in text.splitlines()[0]


def test_a_site_sysctl_file_tuned_reapplies_is_named_in_the_plan():
    """issue 12: /etc/sysctl.d/99-site.conf sets vm.swappiness = 30 and an included profile's
    kernel.hung_task_timeout_secs; tuned writes both again after the profile. The plan says
    the hook sets them back; a /usr/lib/sysctl.d file (boot only) is no conflict."""
    from lltune.tune.render import render

    snapshot = {"kernel": {"sysctls": {"vm.swappiness": "30",
                                       "kernel.hung_task_timeout_secs": "120"},
                           "sysctl_files": [
        {"file": "/etc/sysctl.d/99-site.conf", "line": 3, "key": "vm.swappiness", "value": "30"},
        {"file": "/etc/sysctl.d/99-site.conf", "line": 4, "key": "kernel.hung_task_timeout_secs",
         "value": "120"},
        {"file": "/usr/lib/sysctl.d/50-default.conf", "line": 9, "key": "vm.stat_interval",
         "value": "1"}]},
        "services": {"tuned": {"profile_dirs": ["/usr/lib/tuned", "/etc/tuned"],
                               "profile_contents": {"lltune": {"/usr/lib/tuned": {
                                   "sysctl": {"kernel.hung_task_timeout_secs": "600",
                                              "vm.stat_interval": "10"}}}}}}}
    config = load_text(CONFIG)
    rows = {change.knob: change for change in build(config, snapshot)}
    assert rows["memory.swappiness"].mechanism.endswith(
        "lltune hook, after tuned re-applies /etc/sysctl.d/99-site.conf:3")
    inherited = rows["sysctl.kernel.hung_task_timeout_secs"]
    assert (inherited.current, inherited.desired) == ("120", "600")
    assert not any("50-default.conf" in change.mechanism for change in rows.values())
    without_nics = load_text(CONFIG.replace("  interfaces:\n    - match: {name: eth0}\n"
                                            "      offloads: {gro: false}\n      rings: {rx: 256}\n"
                                            "      irq_cpus: \"0\"\n", "  interfaces: []\n"))
    hook = json.loads(render(without_nics, snapshot).files["/etc/tuned/lltune/hook-data.json"])
    assert hook["sysctls"] == {"vm.swappiness": "1", "kernel.hung_task_timeout_secs": "600"}


def test_pinned_irqs_are_read_from_the_queue_irqs_only(live):
    """virtio-net's config IRQ serves no queue and is not pinned: the Debian 12 guest's verify
    read the union "0-3" of it (on housekeeping) and the queues (on 1,3) as drift."""
    snapshot = copy.deepcopy(live)
    snapshot["nics"] = [dict(snapshot["nics"][0] if snapshot["nics"] else {}, name="eth0",
                             irqs=[40, 41, 42])]
    snapshot["irqs"] = {"irqs": [
        {"irq": 40, "name": "virtio1-config", "smp_affinity_list": [0, 2]},
        {"irq": 41, "name": "virtio1-input.0", "smp_affinity_list": [0]},
        {"irq": 42, "name": "virtio1-output.0", "smp_affinity_list": [0]}]}
    change = _by_knob(build(load_text(CONFIG), snapshot))["network.eth0.irq_cpus"]
    assert (change.current, change.desired, change.status) == ("0", "0", "ok")


def test_a_units_limits_are_for_tuneds_verify_not_drift(live):
    text = CONFIG.replace("    rtprio: 99\n", "    rtprio: 99\n    units: [app.service]\n")
    change = _by_knob(build(load_text(text), live))["limits.app.service.rtprio"]
    assert change.status == "unknown" and change.desired == "99"
