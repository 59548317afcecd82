"""The defaults issue 12 revisited, each against the anchors it was weighed with: tuned's
realtime and cpu-partitioning profiles (2.20 and 2.25.1), tuned's intel_recommended_pstate
function (2.23+), OpenShift's performance profile and its RAN "performance-patch", and
systemd.exec(5). Each test names the anchor in its docstring and checks the knob's `why`
says so too, so the reason travels with the value into `lltune schema` and gen-config."""

import copy
import json

import pytest

from lltune.audit.run import audit
from lltune.config import knobs
from lltune.config.loader import load_text
from lltune.config.resolve import cmdline_tokens
from lltune.tune.plan import build
from lltune.tune.render import render
from tests.conftest import scan_root
from tests.unit.audit.test_audit import make_snapshot
from tests.unit.genconfig.test_genconfig import generated, prose
from tests.unit.tune.test_render import (
    CONFIG,
    HOOK_DATA,
    PROFILES_225,
    _bootloader,
    _ini,
    _with_profiles,
)

WHY = {knob.path: knob.why for knob in knobs.KNOBS}
SETS = 'isolated: "1-3,5-7,9-11,13-15", housekeeping: "0,4,8,12"'


def _config(cpu="", kernel=""):
    """The audit fixture host's CPU sets plus the given cpu and kernel keys (flow style)."""
    return "version: 1\npreset: low-latency\ncpu: {%s%s}\n%s" % (
        SETS, ", " + cpu if cpu else "", "kernel: {%s}\n" % kernel if kernel else "")


@pytest.fixture(scope="module")
def render_snapshot(hwloc_trees):
    """The host test_render's CONFIG is written for (40 CPUs, eth2)."""
    return scan_root(hwloc_trees["40intel64-2g2n4c+pcilocality"])


def _codes(text, snapshot):
    return {f.code: f.severity for f in audit(load_text(text, "c.yaml"), snapshot)}


def _with_stalld(snapshot, load="loaded"):
    changed = copy.deepcopy(snapshot)
    changed["services"]["units"]["stalld.service"] = {"load": load, "active": "inactive",
                                                      "file_state": "disabled"}
    return changed


def test_rt_throttling_goes_off_only_with_stalld_started_by_the_profile(render_snapshot):
    """OpenShift's performance-patch pairs kernel.sched_rt_runtime_us=-1 with
    service.stalld=start,enable; tuned's realtime profile sets -1 alone, which leaves a
    spinning SCHED_FIFO thread free to starve its CPU's kworkers and ksoftirqd."""
    assert "OpenShift" in WHY["kernel.sched_rt_runtime_us"] and \
        "tuned's realtime profile sets -1 alone" in WHY["kernel.sched_rt_runtime_us"]
    assert all(knobs.KNOBS_BY_PATH["kernel.sched_rt_runtime_us"].preset(p) is None
               for p in knobs.PRESETS), "no preset turns throttling off on its own"
    without = _with_stalld(make_snapshot(), "not-found")
    text, config = generated(without)
    assert config.value("kernel.sched_rt_runtime_us") is None
    assert "stalld is not installed here" in prose(text)
    _, config = generated(_with_stalld(make_snapshot()))
    assert config.value("kernel.sched_rt_runtime_us") == -1

    explicit = _config(kernel="sched_rt_runtime_us: -1")
    assert _codes(explicit, without)["kernel.rt-throttling-without-stalld"] == "error"
    acknowledged = _config(kernel="sched_rt_runtime_us: -1, "
                           "rt_throttling_off_acknowledged: true")
    assert "kernel.rt-throttling-without-stalld" not in _codes(acknowledged, without)
    assert "kernel.rt-throttling-without-stalld" not in _codes(explicit,
                                                               _with_stalld(without))

    text = CONFIG + "  sched_rt_runtime_us: -1\n"
    ini = _ini(render(load_text(text), _with_stalld(render_snapshot)))
    assert ini.get("service", "service.stalld") == "start,enable"
    assert ini.get("sysctl", "kernel.sched_rt_runtime_us") == "-1"
    ini = _ini(render(load_text(text), render_snapshot))
    assert not ini.has_section("service") or not ini.has_option("service", "service.stalld"), \
        "no stalld unit: nothing to start"


def test_network_latencys_own_tokens_stay_on_the_command_line(render_snapshot):
    """tuned's network-latency (2.21+) adds skew_tick=1 tsc=reliable
    rcupdate.rcu_normal_after_boot=1 (2.26 adds rcutree.nohz_full_patience_delay=1000): lltune
    inherits its cmdline instead of blanking it, so those survive the lltune profile."""
    boot = _bootloader(CONFIG.replace("  cmdline_remove: [quiet]\n", ""),
                       _with_profiles(render_snapshot, PROFILES_225))
    assert "cmdline_network_latency" not in boot, "inherited, not overridden"
    assert "rcupdate.rcu_normal_after_boot=1" not in boot["cmdline_lltune"].split(), \
        "not added twice either"


def test_machine_check_polling_stops_as_cpu_partitioning_and_realtime_stop_it(
        render_snapshot):
    """tuned's cpu-partitioning and realtime write
    /sys/devices/system/machinecheck/machinecheck*/ignore_ce = 1 through [sysfs]."""
    assert "cpu-partitioning and realtime" in WHY["cpu.mce_ignore_ce"]
    assert [knobs.KNOBS_BY_PATH["cpu.mce_ignore_ce"].preset(p) for p in knobs.PRESETS] == \
        [None, True, True]
    one = "/sys/devices/system/machinecheck/machinecheck0/ignore_ce"
    glob = "/sys/devices/system/machinecheck/machinecheck*/ignore_ce"
    snapshot = copy.deepcopy(render_snapshot)
    snapshot["cpu"]["mce"] = {"ignore_ce": False}
    sysfs = dict(_ini(render(load_text(CONFIG), snapshot)).items("sysfs"))
    # One file, and the base's glob dropped: tuned saves every file the glob matches after
    # the first one already changed, and its rollback would write 1 back.
    assert sysfs[one] == "1" and sysfs["drop"] == glob and glob not in sysfs
    balanced = CONFIG.replace("preset: low-latency", "preset: balanced")
    assert not _ini(render(load_text(balanced), snapshot)).has_option("sysfs", one)
    snapshot["cpu"]["mce"] = {"ignore_ce": None}
    assert not _ini(render(load_text(CONFIG), snapshot)).has_option("sysfs", one), \
        "no machinecheck devices: nothing to write"


@pytest.mark.parametrize("vendor, pmu, token", [
    ("GenuineIntel", "skylake", "intel_pstate=disable"),
    ("GenuineIntel", "haswell", "intel_pstate=disable"),
    ("GenuineIntel", "icelake", "intel_pstate=active"),
    ("GenuineIntel", "sapphire_rapids", "intel_pstate=active"),
    ("GenuineIntel", None, "intel_pstate=disable"),
    ("AuthenticAMD", "zen", None),
])
def test_intel_pstate_follows_tuneds_recommendation(vendor, pmu, token):
    """tuned's intel_recommended_pstate (2.23+, function_intel_recommended_pstate.py) reads
    /sys/devices/cpu/caps/pmu_name: disable up to Skylake or with no PMU name, active after;
    lltune decides the same for any tuned, so tuned 2.20 hosts get it too."""
    assert "intel_recommended_pstate" in WHY["kernel.intel_pstate"]
    snapshot = make_snapshot()
    snapshot["cpu"].update(vendor=vendor, pmu_name=pmu)
    tokens = cmdline_tokens(load_text(_config(kernel="intel_pstate: recommended")), snapshot)
    pstate = [t for t in tokens if t.startswith("intel_pstate=")]
    assert pstate == ([token] if token else [])


def test_services_get_the_limits_as_a_dropin(render_snapshot):
    """systemd.exec(5): a service's limits come from LimitMEMLOCK=, LimitRTPRIO=,
    LimitNOFILE=; pam_limits (limits.d) is read by login sessions only."""
    text = CONFIG.replace('    rtprio: 99\n', '    rtprio: 99\n    units: [trader.service]\n')
    config = load_text(text)
    hook = json.loads(render(config, render_snapshot).files[HOOK_DATA])
    assert hook["limits"][0]["units"] == ["trader.service"]
    rows = {change.knob: change for change in build(config, render_snapshot)}
    assert rows["limits.trader.service.memlock"].desired == "unlimited"
    assert "drop-in" in rows["limits.trader.service.rtprio"].mechanism
    with pytest.raises(Exception, match="units"):
        load_text(text.replace("trader.service", "trader; reboot"))


def test_no_idle_polling_beside_an_active_smt_sibling():
    """tuned's profiles never poll in idle (latency-performance caps C-states through
    force_latency); idle=poll on an SMT host spins the isolated thread's sibling on its core."""
    assert "SMT sibling" in WHY["cpu.idle_poll"]
    assert all(knobs.KNOBS_BY_PATH["cpu.idle_poll"].preset(p) is False for p in knobs.PRESETS)
    smt_on = make_snapshot()  # 2 threads per core
    text, config = generated(smt_on, "extreme")
    assert config.value("cpu.idle_poll") is False and "SMT is active here" in prose(text)
    smt_off = make_snapshot()
    smt_off["cpu"]["smt"] = {"active": False, "threads_per_core": 1}
    _, config = generated(smt_off, "extreme")
    assert config.value("cpu.idle_poll") is True
    assert _codes(_config(cpu="idle_poll: true"), smt_on)["cpu.idle-poll-smt-active"] == \
        "error"
    assert "cpu.idle-poll-smt-active" not in _codes(_config(cpu="idle_poll: true, smt: 'off'"),
                                                    smt_on)


@pytest.mark.parametrize("preempt_rt, wanted", [(False, False), (True, True)])
def test_timer_migration_follows_both_anchors(preempt_rt, wanted):
    """tuned's network-latency (2.21+) and cpu-partitioning (2.20) set
    kernel.timer_migration=0; OpenShift's RAN performance-patch sets 1, and its docs say to drop
    that override on the standard kernel: gen-config writes 1 on PREEMPT_RT only."""
    assert "OpenShift's RAN profile sets 1 on the realtime kernel only" in \
        WHY["kernel.timer_migration"]
    snapshot = make_snapshot()
    snapshot["kernel"]["sysctls"]["kernel.timer_migration"] = "1"
    snapshot["host"]["preempt_rt"] = preempt_rt  # from uname -v (PREEMPT_RT)
    _, config = generated(snapshot)
    assert config.value("kernel.timer_migration") is wanted
