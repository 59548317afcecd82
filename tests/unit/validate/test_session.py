"""A validate run end to end without root: stand-in tools that write the fixtures' real-format
output, a /proc tree at a root prefix, the result checked against `lltune schema validate`."""

import json
import os
import shutil
import stat
from pathlib import Path

import jsonschema
import pytest

from lltune.common.errors import InputError
from lltune.host.reader import RootReader
from lltune.validate import result, session, tools

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
COPIES = """#!/bin/sh
# Writes %(fixture)s where its --json=FILE (or stdout) says, as the real tool would.
for arg in "$@"; do case "$arg" in --json=*) out="${arg#--json=}";; esac; done
if [ -n "$out" ]; then cat '%(fixture)s' > "$out"; else cat '%(fixture)s'; fi
exit %(rc)d
"""
STAND_INS = {"cyclictest": ("cyclictest-2.4.json", 0), "oslat": ("oslat-2.6.json", 0),
             "hwlatdetect": ("hwlatdetect-2.4.txt", 1), "rtla": ("osnoise-top-6.12.txt", 0)}


def _snapshot(online=(0, 1, 2, 3), isolated=(2, 3)):
    return {"cpu": {"cpus": [{"id": cpu, "online": cpu in online} for cpu in range(4)],
                    "isolated": {"sysfs": list(isolated)}}}


def test_durations():
    assert [session.parse_duration(t) for t in ("10", "10s", "5m", "2h", "1d")] == \
        [10, 10, 300, 7200, 86400]
    for bad in ("", "0s", "10x", "-5", "8d", "1.5m"):
        with pytest.raises(InputError, match="--duration"):
            session.parse_duration(bad)


def test_cpus_come_from_the_config_then_the_host_and_leave_housekeeping():
    assert session.choose_cpus("isolated", _snapshot(), None) == ([2, 3], [0, 1])
    assert session.choose_cpus("isolated", _snapshot(), [3]) == ([3], [0, 1, 2])
    assert session.choose_cpus("1,3", _snapshot(), None) == ([1, 3], [0, 2])
    with pytest.raises(InputError, match="isolates no CPUs"):
        session.choose_cpus("isolated", _snapshot(isolated=()), None)
    with pytest.raises(InputError, match="not online"):
        session.choose_cpus("3", _snapshot(online=(0, 1, 2)), None)
    with pytest.raises(InputError, match="no CPU for housekeeping"):
        session.choose_cpus("0-3", _snapshot(), None)


def _task(root, pid, tid, comm, state, cpu, allowed, kthread=False):
    directory = root / "proc" / str(pid) / "task" / str(tid)
    directory.mkdir(parents=True)
    flags = 0x00200040 if kthread else 0x00400100
    # Fields after "(comm) ": state is field 3, flags 9, processor 39 (proc(5)).
    rest = [state] + ["0"] * 5 + [str(flags)] + ["0"] * 29 + [str(cpu)] + ["0"] * 12
    (directory / "stat").write_text("%d (%s) %s\n" % (tid, comm, " ".join(rest)))
    (directory / "status").write_text("Name:\t%s\nCpus_allowed_list:\t%s\n" % (comm, allowed))


def test_busy_tasks_are_user_tasks_pinned_inside_the_measured_cpus(tmp_path):
    _task(tmp_path, 100, 100, "trader", "S", 2, "2")
    _task(tmp_path, 200, 201, "spinner (x)", "R", 3, "0-3")
    _task(tmp_path, 300, 300, "sshd", "S", 3, "0-3")
    _task(tmp_path, 400, 400, "ksoftirqd/2", "S", 2, "2", kthread=True)
    _task(tmp_path, 500, 500, "lltune", "R", 2, "2")

    def busy_of(root):
        return session.busy_tasks(RootReader(str(root)), [2, 3], own=[500])
    _task(tmp_path, 600, 601, "pinned (x)", "S", 3, "2-3")
    # The spinner runs on CPU 3 now but may run anywhere: the scheduler moves it.
    assert busy_of(tmp_path) == ["100/100 (trader) on CPUs 2", "600/601 (pinned (x)) on CPUs 2-3"]


@pytest.fixture()
def stand_ins(tmp_path):
    directory = tmp_path / "bin"
    directory.mkdir()
    for name, (fixture, rc) in STAND_INS.items():
        path = directory / name
        path.write_text(COPIES % {"fixture": os.path.join(FIXTURES, fixture), "rc": rc})
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return (str(directory),)


@pytest.fixture()
def proc_root(tmp_path):
    root = tmp_path / "root"
    (root / "proc").mkdir(parents=True)
    shutil.copy(os.path.join(FIXTURES, "interrupts-after.txt"), str(root / "proc/interrupts"))
    shutil.copy(os.path.join(FIXTURES, "softirqs-after.txt"), str(root / "proc/softirqs"))
    return RootReader(str(root))


@pytest.fixture()
def affinity_restored():
    before = os.sched_getaffinity(0)
    yield
    os.sched_setaffinity(0, before)


def _run(tmp_path, reader, search_path, wanted, threshold=None, run_id="20261203T113000Z"):
    plan, paths, found, missing = session.tool_plan(wanted, reader, search_path)
    raw = tmp_path / run_id
    raw.mkdir()
    options = session.Options(cpus="2,3", duration_s=1, threshold_us=threshold, tools=wanted)
    env = session.environment({"host": {"hostname": "h", "preempt_rt": False,
                                        "kernel": {"release": "6.1.0"},
                                        "virtualization": {"virtualized": True, "type": "kvm"}},
                               "kernel": {"cmdline": ["isolcpus=2,3"]}},
                              None, b"cpu: {}\n", found)
    document = session.measure_and_report(options, {}, [2, 3], [0], env, plan, paths, run_id,
                                          str(raw), reader, missing,
                                          tick=lambda name, left: None)
    return document, str(raw), missing


def test_a_whole_run_gives_a_schema_valid_result_and_artifacts(tmp_path, stand_ins, proc_root,
                                                               affinity_restored):
    document, raw, missing = _run(tmp_path, proc_root, stand_ins,
                                  ["hwlatdetect", "cyclictest", "oslat", "osnoise"], 50)
    jsonschema.validate(document, result.schema())
    assert missing == {}
    assert os.sched_getaffinity(0) == {0}, "lltune itself moved to housekeeping"
    assert {name: row["status"] for name, row in document["tools"].items()} == {
        "hwlatdetect": "ok", "cyclictest": "ok", "oslat": "ok", "osnoise": "ok"}
    assert document["tools"]["hwlatdetect"]["rc"] == 1, "over its hard limit is a result"
    assert [row["cpu"] for row in document["per_cpu"]] == [2, 3]
    assert document["environment"]["virtualized"] == "kvm"
    assert document["environment"]["config_sha256"] is not None
    assert document["threshold_enforced"] is False, "a kernel without PREEMPT_RT"
    written = session.write_artifacts(raw, document, None)
    assert sorted(written) == ["latency.svg", "report.md", "result.json"]
    assert json.loads(Path(written["result.json"]).read_text()) == document
    again, raw2, _ = _run(tmp_path, proc_root, stand_ins, ["cyclictest"],
                          run_id="20261203T114000Z")
    written = session.write_artifacts(raw2, again, document)
    comparison = json.loads(Path(written["compare.json"]).read_text())
    assert comparison["before"] == "20261203T113000Z"
    assert {row["cpu"] for row in comparison["cpus"]} == {2, 3}


def test_missing_tools_and_tracers_are_named(tmp_path, stand_ins):
    root = tmp_path / "tracing-root"
    (root / "sys/kernel/tracing").mkdir(parents=True)
    (root / "sys/kernel/tracing/available_tracers").write_text("osnoise timerlat nop\n")
    plan, _, found, missing = session.tool_plan(None, RootReader(str(root)), stand_ins)
    assert [tool.name for tool in plan] == ["cyclictest", "oslat", "osnoise", "timerlat"]
    assert missing == {"hwlatdetect": "hwlatdetect: the kernel has no hwlat tracer"}
    assert found["cyclictest"]["path"].endswith("/cyclictest")
    _, _, _, missing = session.tool_plan(["oslat"], RootReader(str(root)), (str(tmp_path),))
    assert missing == {"oslat": "oslat (package realtime-tests)"}


def test_a_result_over_the_threshold_fails_unless_only_wakeup_latency_on_a_stock_kernel():
    rows = [{"cpu": 2, "cyclictest": {"max_us": 80, "overflows": 0}, "oslat": {"max_us": 20},
             "timerlat": None, "osnoise": None}]
    ok = [{"name": "cyclictest", "status": "ok"}]
    stock = result.verdict(rows, None, 50, False, ok)
    assert stock["status"] == "not-enforced" and stock["over"][0]["enforced"] is False
    assert result.verdict(rows, None, 50, True, ok)["status"] == "fail"
    assert result.verdict(rows, None, 100, True, ok)["status"] == "pass"
    assert result.verdict(rows, None, None, True, ok)["status"] == "no-threshold"
    rows[0]["oslat"]["max_us"] = 70
    assert result.verdict(rows, None, 50, False, ok)["status"] == "fail", "oslat is enforced"
    refused = [{"name": "oslat", "status": "refused-option"}]
    assert result.verdict(rows, None, 100, True, refused)["status"] == "incomplete"
    rows[0]["oslat"]["max_us"] = 20
    rows[0]["cyclictest"]["overflows"] = 3  # above the 10 ms histogram, below the threshold
    assert result.verdict(rows, None, 20000, True, ok)["status"] == "pass", \
        "the tool's own maximum decides, not the histogram's reach"
    assert result.verdict(rows, {"max_us": 120}, 100, True, ok)["over"] == [
        {"cpu": None, "tool": "hwlatdetect", "max_us": 120, "enforced": True}]


def test_verify_says_drift_only_for_drift():
    assert session.verify_status(None) == "not-checked"
    assert session.verify_status({"ok": True, "drift": []}) == "ok"
    assert session.verify_status({"ok": False, "drift": ["sysctl.vm.swappiness"],
                                  "tuned_unavailable": False}) == "drift"
    assert session.verify_status({"ok": False, "drift": [], "tuned_unavailable": False}) == \
        "drift", "tuned's own verify failed"
    assert session.verify_status({"ok": False, "drift": [], "tuned_unavailable": True}) == \
        "unverified"


def test_missing_tools_are_rows_of_the_result(tmp_path, stand_ins, proc_root,
                                              affinity_restored):
    plan, paths, found, _ = session.tool_plan(["cyclictest"], proc_root, stand_ins)
    raw = tmp_path / "20261203T120000Z"
    raw.mkdir()
    env = session.environment({}, None, None, found)
    document = session.measure_and_report(
        session.Options(duration_s=1), {}, [2, 3], [0], env, plan, paths, raw.name, str(raw),
        proc_root, {"oslat": "oslat (package realtime-tests)"}, tick=lambda name, left: None)
    jsonschema.validate(document, result.schema())
    assert document["tools"]["oslat"] == {"status": "missing", "rc": None, "raw": None,
                                          "message": "oslat (package realtime-tests)"}


def test_the_tools_run_in_order_and_every_name_is_known():
    assert tools.TOOL_NAMES == ["hwlatdetect", "cyclictest", "oslat", "osnoise", "timerlat"]
    assert set(result.PARSERS) == set(tools.TOOL_NAMES)
