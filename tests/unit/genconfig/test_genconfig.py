"""gen-config: for every real host tree, a generated large host and this machine, scan ->
gen-config -> audit exits 0; and the choices themselves, on small synthetic snapshots."""

import copy
import importlib.util
import json
import os
import re
import sys

import pytest
import yaml

from lltune.audit.run import audit
from lltune.cli.main import main
from lltune.config import knobs
from lltune.config.loader import load_text
from lltune.genconfig.document import generate
from tests.conftest import HWLOC_NAMES, REPO, scan_root
from tests.unit.audit.test_audit import GIB_KB, make_snapshot

PRESETS = knobs.PRESETS
HOSTGEN = os.path.join(REPO, "tests", "hostgen.py")


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def audit_generated(snapshot, preset):
    text = generate(snapshot, preset)
    config = load_text(text, "generated.yaml")
    return text, config, audit(config, snapshot)


def assert_clean(text, findings):
    errors = [f.line() for f in findings if f.severity == "error"]
    assert errors == []
    for finding in findings:  # warnings and infos are explained in the header
        assert "# - %s %s:" % (finding.severity, finding.code) in text, finding.line()


# ------------------------------------------------------------------ real and generated hosts


@pytest.fixture(scope="module")
def hwloc_snapshots(hwloc_trees):
    return {name: scan_root(root) for name, root in hwloc_trees.items()}


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", HWLOC_NAMES)
def test_hwloc_hosts_generate_clean_configs(hwloc_snapshots, name, preset):
    text, _, findings = audit_generated(hwloc_snapshots[name], preset)
    assert_clean(text, findings)


@pytest.mark.parametrize("name", HWLOC_NAMES)
def test_scan_gen_config_audit_exits_0(hwloc_trees, tmp_path, capsys, name):
    snapshot, config = str(tmp_path / "s.yaml"), str(tmp_path / "c.yaml")
    assert main(["scan", "--root", hwloc_trees[name], "-q", "-o", snapshot]) == 0
    assert main(["gen-config", "--snapshot", snapshot, "-o", config]) == 0
    assert main(["audit", "-c", config, "--snapshot", snapshot]) == 0
    out = capsys.readouterr().out
    assert "ERROR" not in out


def _hostgen():
    if not os.path.exists(HOSTGEN):
        pytest.skip("tests/hostgen.py is not there yet")
    spec = importlib.util.spec_from_file_location("hostgen", HOSTGEN)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("hostgen", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def large_host(tmp_path_factory):
    hostgen = _hostgen()
    base = tmp_path_factory.mktemp("large-host-genconfig")
    truth = hostgen.generate(str(base / "root"), hostgen.LARGE)
    return truth["root"], truth["probes"]


def test_large_host_scan_gen_config_audit_exits_0(large_host, tmp_path, capsys):
    root, probes = large_host
    snapshot, config = str(tmp_path / "s.json"), str(tmp_path / "c.yaml")
    assert main(["scan", "--root", root, "--probes", probes, "-q", "-o", snapshot]) == 0
    for preset in PRESETS:
        assert main(["gen-config", "--snapshot", snapshot, "--preset", preset, "-o",
                     config]) == 0
        assert main(["audit", "-c", config, "--snapshot", snapshot]) == 0, preset
    text = read(config)
    loaded = load_text(text, config)
    latency = loaded.value("network.interfaces")[0]
    assert latency["role"] == "latency" and latency["match"] == {"name": "ens1f0np0"}
    assert "mlx5_comp0@pci:0000:16:00.0" in text
    capsys.readouterr()


def test_this_machine(tmp_path, capsys):
    """The live host: read-only. Errors, if any, are about tuned, which CI machines lack."""
    config = str(tmp_path / "c.yaml")
    assert main(["gen-config", "-o", config]) == 0
    code = main(["audit", "-c", config, "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    errors = [f["code"] for f in document["findings"] if f["severity"] == "error"]
    assert code == (1 if errors else 0)
    assert all(code.startswith("tuned.") for code in errors), errors


# ------------------------------------------------------------------ the choices


def prose(text):
    """The comments as one line (they are wrapped at about 96 columns)."""
    return " ".join(line.strip().lstrip("#").strip() for line in text.splitlines()
                    if line.strip().startswith("#"))


def generated(snapshot, preset="low-latency"):
    text, config, findings = audit_generated(snapshot, preset)
    assert_clean(text, findings)
    return text, config


def changed(*changes):
    snapshot = make_snapshot()
    for change in changes:
        change(snapshot)
    return snapshot


def test_housekeeping_is_one_whole_core_per_node():
    text, config = generated(make_snapshot())
    assert config.value("cpu.housekeeping") == "0,4,8,12"
    assert config.value("cpu.isolated") == "1-3,5-7,9-11,13-15"
    assert "node 0: CPUs 0,8 (core 0 of package 0, SMT siblings)" in prose(text)


def test_isolated_cpus_local_to_the_latency_nic_come_first():
    text, _ = generated(changed(lambda s: s["nics"][0].update(numa_node=1),
                                lambda s: s["time"].update(ptp_clocks=[])))
    assert re.search(r"node 1: 5-7,13-15 \(local to eth0, the latency NIC: use these "
                     r"first\); node 0", prose(text))


@pytest.mark.parametrize("count", [1, 2])
def test_tiny_hosts_isolate_nothing(count):
    def shrink(snapshot):
        snapshot["cpu"]["cpus"] = [dict(c, siblings=[c["id"]], node=0)
                                   for c in snapshot["cpu"]["cpus"][:count]]
    text, config = generated(changed(shrink))
    assert config.value("cpu.isolated") is None
    assert config.value("cpu.housekeeping") == ("0" if count == 1 else "0-1")
    assert "nothing is isolated" in prose(text)


def test_offline_cpus_are_left_out():
    def cpu0_offline(snapshot):
        snapshot["cpu"]["cpus"][0]["online"] = False
    _, config = generated(changed(cpu0_offline))
    assert config.value("cpu.housekeeping") == "1,4,9,12"  # CPU 1 and its sibling 9
    assert "0" not in config.value("cpu.isolated").split(",")


def test_latency_nic_is_the_fastest_with_a_ptp_clock():
    faster = lambda s: s["nics"][1].update(speed_mbps=400000)  # noqa: E731  (no PHC)
    _, config = generated(changed(faster))
    assert config.value("network.interfaces")[0]["match"] == {"name": "eth0"}
    no_clock = lambda s: s["nics"][0].update(phc_index=None)  # noqa: E731
    _, config = generated(changed(faster, no_clock))
    first = config.value("network.interfaces")[0]
    assert first["match"] == {"name": "eth1"} and first["role"] == "latency"
    assert first["irq_cpus"] == "4,12"  # housekeeping CPUs of eth1's node 1


def test_management_is_the_lowest_onboard_port():
    def more_ports(snapshot):
        eno2 = copy.deepcopy(snapshot["nics"][2])
        eno2.update(name="eno2", pci_address="0000:02:00.1", mac="d0:8e:79:00:00:02",
                    irqs=[])
        snapshot["nics"].insert(0, eno2)
    _, config = generated(changed(more_ports))
    roles = {e["role"]: e for e in config.value("network.interfaces")}
    assert roles["management"]["match"] == {"name": "eno1"}
    assert roles["management"]["irq_cpus"] == "0,8"


def test_management_is_the_default_route_nic():
    def more_ports(snapshot):
        eno2 = copy.deepcopy(snapshot["nics"][2])
        eno2.update(name="eno2", pci_address="0000:02:00.1", mac="d0:8e:79:00:00:02",
                    irqs=[])
        snapshot["nics"].insert(0, eno2)
        snapshot.setdefault("network", {})["default_route"] = {
            "interfaces": ["bond0"], "physical_ports": ["eno2", "eno1"]}
    _, config = generated(changed(more_ports))
    roles = {e["role"]: e for e in config.value("network.interfaces")}
    assert roles["management"]["match"] == {"name": "eno2"}, \
        "the default route wins over the lowest onboard port"


def test_latency_nic_settings():
    _, config = generated(make_snapshot())
    latency = config.value("network.interfaces")[0]
    assert latency["irq_cpus"] == "0,8"
    assert latency["channels"] == {"combined": 2}  # min(max 8, 2 IRQ CPUs)
    assert latency["coalesce"] == {"adaptive-rx": False, "adaptive-tx": False, "rx-usecs": 0}


@pytest.mark.parametrize("driver, wanted", [
    ("ixgbe", {"rx-usecs": 0}), ("sfc", {"adaptive-rx": False, "rx-usecs": 0}),
    ("e1000e", None), ("virtio_net", None), ("some_new_driver", None)])
def test_coalescing_only_where_the_driver_holds_it_as_written(driver, wanted):
    """issue 12: gen-config wrote rx-usecs 0 for an e1000e, which read it back as 3, and the
    unedited config rolled back at its verify."""
    text, config = generated(changed(lambda s: s["nics"][0].update(driver=driver)))
    assert config.value("network.interfaces")[0].get("coalesce") == wanted
    if wanted is None:
        assert "coalesce: left out:" in prose(text)
    if driver == "e1000e":
        assert "reads 0 back as 3" in prose(text)


def test_channels_never_above_the_nic_maximum():
    _, config = generated(changed(lambda s: s["nics"][0]["channels"]["max"].update(
        combined=1)))
    assert config.value("network.interfaces")[0]["channels"] == {"combined": 1}


def test_no_coalescing_where_the_nic_does_not_report_it_or_for_balanced():
    _, config = generated(changed(lambda s: s["nics"][0].update(coalesce=None,
                                                                channels=None)))
    latency = config.value("network.interfaces")[0]
    assert "coalesce" not in latency and "channels" not in latency
    _, config = generated(make_snapshot(), "balanced")
    assert "coalesce" not in config.value("network.interfaces")[0]


def test_unsupported_knobs_are_null_with_the_reason():
    def bare(snapshot):
        snapshot["cpu"]["cpufreq"] = {"driver": None, "policies": []}
        snapshot["cpu"]["boost"] = {"no_turbo": None, "boost": None, "min_perf_pct": None}
        snapshot["cpu"]["flags"]["nonstop_tsc"] = False
        snapshot["kernel"]["config"]["CONFIG_NO_HZ_FULL"] = "n"
    text, config = generated(changed(bare))
    for path in ("cpu.governor", "cpu.energy_perf_preference", "cpu.min_perf_pct",
                 "cpu.turbo"):
        assert config.is_set(path) and config.value(path) is None, path
    assert config.value("kernel.tsc_reliable") is False
    assert config.value("kernel.nohz_full") is False
    assert "no cpufreq driver (a VM, or the firmware controls frequency): nothing to set." \
        in prose(text)
    assert "lacks nonstop_tsc" in prose(text) and "without CONFIG_NO_HZ_FULL" in prose(text)


def test_presets_decide_cstates_idle_poll_and_turbo():
    without_smt = make_snapshot()
    without_smt["cpu"]["smt"] = {"active": False, "threads_per_core": 1}
    values = {}
    for preset in PRESETS:
        _, config = generated(without_smt, preset)
        values[preset] = tuple(config.value(p) for p in (
            "cpu.max_exit_latency_us", "cpu.idle_poll", "cpu.turbo"))
    assert values == {"balanced": (20, False, True), "low-latency": (2, False, True),
                      "extreme": (0, True, False)}


def test_extreme_does_not_poll_next_to_an_isolated_hyperthread():
    text, config = generated(make_snapshot(), "extreme")  # 2 threads per core, SMT on
    assert config.value("cpu.idle_poll") is False
    assert "SMT is active here: a polling idle sibling" in prose(text)


@pytest.mark.parametrize("flags, wanted", [
    ({"constant_tsc": True, "nonstop_tsc": True}, "tsc"),
    # The Debian 13 guest under TCG: tsc listed at one boot, marked unstable at the next.
    ({"constant_tsc": False, "nonstop_tsc": False}, None),
    (None, None),
])
def test_tsc_is_proposed_only_where_the_kernel_keeps_it(flags, wanted):
    host = make_snapshot()
    host["kernel"]["clocksource"] = {"current": "hpet", "available": ["tsc", "hpet", "acpi_pm"]}
    host["cpu"]["flags"] = flags
    text, config = generated(host, "low-latency")
    assert config.value("time.clocksource") == wanted
    if wanted is None:
        assert "the kernel may drop it at a later boot" in prose(text)


def test_hugepages_sized_to_each_node():
    _, config = generated(make_snapshot(), "low-latency")  # 32 GiB nodes: 1/8 = 4 GiB
    assert config.value("memory.hugepages") == [
        {"size": "2M", "per_node": {"0": 2048, "1": 2048}, "at_boot": False}]
    _, config = generated(make_snapshot(), "extreme")  # 1/4 = 8 GiB
    assert config.value("memory.hugepages")[0]["per_node"] == {"0": 4096, "1": 4096}
    _, config = generated(make_snapshot(), "balanced")
    assert config.value("memory.hugepages") is None


def test_hugepages_keep_a_bigger_pool_but_never_pass_the_headroom():
    def pools(snapshot):
        snapshot["numa"]["nodes"][0]["hugepages"]["2048kB"]["total"] = 6000  # kept
        snapshot["numa"]["nodes"][1]["hugepages"]["2048kB"]["total"] = 15000  # > 24 GiB
    _, config = generated(changed(pools))
    assert config.value("memory.hugepages")[0]["per_node"] == {
        "0": 6000, "1": 24 * GIB_KB // 2048}


# Keys gen-config writes as a commented example (site-specific, no default from the host).
COMMENTED = {"cpu.workload_processes"}


def test_every_knob_is_written_out():
    text, config = generated(make_snapshot())
    for knob in knobs.KNOBS:
        if knob.path in COMMENTED:
            assert not config.is_set(knob.path), knob.path
            assert re.search(r"^  # %s: \S" % knob.name, text, re.M), knob.path
        else:
            assert config.is_set(knob.path), knob.path


def test_the_commented_workload_example_loads_once_uncommented():
    text, _ = generated(make_snapshot())
    uncommented = re.sub(r"^  # workload_processes: ", "  workload_processes: ", text,
                         flags=re.M)
    config = load_text(uncommented, "<uncommented>")
    assert config.value("cpu.workload_processes") == ["^trader$", "^md-feed"]


def test_every_value_has_a_comment_above_it():
    text, _ = generated(make_snapshot())
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if re.match(r"^(  )?[a-z_]+: ", line) and not line.startswith(("version", "preset")):
            above = lines[index - 1].strip()
            assert above.startswith("#"), line


def test_output_is_deterministic():
    snapshot = make_snapshot()
    assert generate(snapshot, "extreme") == generate(copy.deepcopy(snapshot), "extreme")


def test_hostile_snapshot_strings_stay_comments():
    def hostile(snapshot):
        snapshot["host"]["hostname"] = "evil\nversion: 2\n# "
        snapshot["cpu"]["model_name"] = "x: [unbalanced #"
        snapshot["nics"][0]["name"] = "eth0\nrole: x"  # not a safe name: matched by PCI
        snapshot["nics"][0]["driver"] = "drv\r\n- y"
    text, config = generated(changed(hostile))
    assert config.value("network.interfaces")[0]["match"] == {"pci": "0000:17:00.0"}
    assert "\r" not in text and "version: 2" not in text.split("\n")[1:3]


def test_warnings_are_explained_in_the_header():
    def remote(snapshot):  # the only NIC with a clock sits on a node without CPUs
        snapshot["nics"][0]["numa_node"] = 3
    text, _, findings = audit_generated(changed(remote), "low-latency")
    assert "network.nic-node-no-housekeeping" in {f.code for f in findings}
    assert_clean(text, findings)


def test_the_output_is_plain_yaml():
    text, _ = generated(make_snapshot())
    data = yaml.safe_load(text)
    assert data["version"] == 1 and data["preset"] == "low-latency"


def test_cli_stdout_and_errors(tmp_path, capsys):
    snapshot = tmp_path / "s.json"
    snapshot.write_text("{not json")
    assert main(["gen-config", "--snapshot", str(snapshot)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "s.json:1:2" in err
    assert main(["gen-config", "--snapshot", str(tmp_path / "missing.json")]) == 2
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["gen-config", "--preset", "fastest"])
    assert exit_info.value.code == 2


def test_cli_prints_to_stdout(hwloc_trees, tmp_path, capsys):
    snapshot = str(tmp_path / "s.json")
    assert main(["scan", "--root", hwloc_trees["8em64t-2s2ca2c"], "-q", "-o", snapshot]) == 0
    assert main(["gen-config", "--snapshot", snapshot, "--preset", "extreme"]) == 0
    captured = capsys.readouterr()
    assert load_text(captured.out, "stdout").preset == "extreme"
    assert captured.err == ""
