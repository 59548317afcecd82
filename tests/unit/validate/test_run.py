"""Running the tools, with stand-in binaries (shell scripts on a private search path) for the
faults a real tool shows only now and then: an option refused with exit status 0, a hang, a
Ctrl-C in the middle. The real tools run in the guests (tests/system/test_apply_guest.py,
test_validate_before_apply and test_validate_after_the_reboot)."""

import os
import stat

import pytest

from lltune.validate import run, tools
from lltune.validate.tools import Measurement

JSON_WRITER = """#!/bin/sh
# Writes its --json=FILE like cyclictest and oslat do; records its argv.
echo "$@" > "$(dirname "$0")/argv.$(basename "$0")"
for arg in "$@"; do case "$arg" in --json=*) out="${arg#--json=}";; esac; done
printf '{"thread": {}}' > "$out"
"""
REFUSES_EXIT_0 = """#!/bin/sh
# cyclictest 2.4 on an option it does not know: help on stdout, exit 0, no output file.
echo "cyclictest: unrecognized option '--bogus'"
echo "Usage:"
echo "cyclictest <options>"
exit 0
"""
HANGS = """#!/bin/sh
exec sleep 3600
"""
IGNORES_SIGINT = """#!/bin/sh
# A tool stuck where SIGINT does not reach it: only SIGKILL ends it.
trap '' INT
while :; do sleep 1; done
"""
STOPS_ON_SIGINT = """#!/bin/sh
# Writes what it measured when interrupted, as cyclictest does on SIGINT.
for arg in "$@"; do case "$arg" in --json=*) out="${arg#--json=}";; esac; done
trap 'printf "{\\"thread\\": {}}" > "$out"; exit 0' INT
touch "$(dirname "$0")/started"
while :; do sleep 1; done
"""
FAILS = """#!/bin/sh
echo "cannot open /dev/cpu_dma_latency: Permission denied" >&2
exit 1
"""


def _tool(directory, name, script):
    path = directory / name
    path.write_text(script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture()
def raw(tmp_path):
    directory = tmp_path / "raw"
    directory.mkdir()
    return directory


def _measurement(raw_dir, duration_s=1):
    return Measurement(cpus=[2, 3], housekeeping=[0, 1], duration_s=duration_s,
                       raw_dir=str(raw_dir), threshold_us=None)


def _quiet(name, left):
    pass


def test_a_tool_that_writes_its_output_and_exits_0_is_ok(tmp_path, raw):
    path = _tool(tmp_path, "cyclictest", JSON_WRITER)
    outcome = run.run_tool(tools.BY_NAME["cyclictest"], path, _measurement(raw), _quiet)
    assert (outcome.status, outcome.rc, outcome.raw) == ("ok", 0, "cyclictest.json")
    argv = (tmp_path / "argv.cyclictest").read_text().split()
    assert "--affinity=2-3" in argv and "--threads=2" in argv and "--duration=1" in argv
    assert "--mainaffinity=0-1" in argv and "--default-system" in argv


def test_an_option_refused_with_exit_status_0_is_not_a_result(tmp_path, raw):
    path = _tool(tmp_path, "cyclictest", REFUSES_EXIT_0)
    outcome = run.run_tool(tools.BY_NAME["cyclictest"], path, _measurement(raw), _quiet)
    assert outcome.rc == 0
    assert outcome.status == "refused-option"
    assert "unrecognized option '--bogus'" in outcome.message
    assert outcome.raw is None


def test_usage_printed_to_the_output_itself_is_a_refusal(tmp_path, raw):
    """rtla prints its usage on stdout (the output validate keeps) and exits 0."""
    path = _tool(tmp_path, "rtla", REFUSES_EXIT_0)
    outcome = run.run_tool(tools.BY_NAME["osnoise"], path, _measurement(raw), _quiet)
    assert (outcome.status, outcome.rc, outcome.raw) == ("refused-option", 0, None)


def test_a_failing_tool_says_its_last_line(tmp_path, raw):
    path = _tool(tmp_path, "oslat", FAILS)
    outcome = run.run_tool(tools.BY_NAME["oslat"], path, _measurement(raw), _quiet)
    assert (outcome.status, outcome.rc) == ("failed", 1)
    assert outcome.message.endswith("Permission denied")


def test_a_hanging_tool_is_stopped_after_its_grace(tmp_path, raw, monkeypatch):
    monkeypatch.setattr(run, "GRACE_S", 0.5)
    monkeypatch.setattr(run, "STOP_GRACE_S", 5.0)
    path = _tool(tmp_path, "oslat", HANGS)
    outcome = run.run_tool(tools.BY_NAME["oslat"], path, _measurement(raw), _quiet)
    assert outcome.status == "timeout"
    assert outcome.rc is not None and outcome.rc < 0, "killed by a signal, not left running"
    assert 1.5 <= outcome.seconds < 10


def test_a_tool_deaf_to_sigint_is_killed(tmp_path, raw, monkeypatch):
    monkeypatch.setattr(run, "GRACE_S", 0.5)
    monkeypatch.setattr(run, "STOP_GRACE_S", 1.0)
    path = _tool(tmp_path, "oslat", IGNORES_SIGINT)
    outcome = run.run_tool(tools.BY_NAME["oslat"], path, _measurement(raw), _quiet)
    assert (outcome.status, outcome.rc) == ("timeout", -9)


def test_a_killed_tools_tracer_is_put_back_only_if_it_is_still_current(tmp_path):
    tracing = tmp_path / "tracing"
    tracing.mkdir()
    current = tracing / "current_tracer"
    current.write_text("hwlat\n")
    assert run.reset_tracer("hwlat", (str(tmp_path / "absent"), str(tracing))) == str(tracing)
    assert current.read_text() == "nop\n"
    current.write_text("function\n")  # someone else's tracer: left alone
    assert run.reset_tracer("hwlat", (str(tracing),)) is None
    assert current.read_text() == "function\n"
    assert run.reset_tracer(None, (str(tracing),)) is None


def test_ctrl_c_stops_the_tool_keeps_its_output_and_skips_the_rest(tmp_path, raw):
    stopping = _tool(tmp_path, "cyclictest", STOPS_ON_SIGINT)
    writer = _tool(tmp_path, "oslat", JSON_WRITER)
    started = tmp_path / "started"

    def ctrl_c_once_started(name, left):
        # The terminal's Ctrl-C reaches lltune, not the tool (its own process group).
        if name == "cyclictest" and started.exists():
            raise KeyboardInterrupt

    plan = [tools.BY_NAME["cyclictest"], tools.BY_NAME["oslat"]]
    runs = run.measure(plan, {"cyclictest": stopping, "oslat": writer},
                       _measurement(raw, duration_s=30), ctrl_c_once_started)
    assert [(r.name, r.status) for r in runs] == [("cyclictest", "interrupted"),
                                                  ("oslat", "skipped")]
    assert runs[0].raw == "cyclictest.json"
    assert (raw / "cyclictest.json").read_text() == '{"thread": {}}'
    assert runs[0].seconds < 25, "stopped, not run to its duration"
    assert not (tmp_path / "argv.oslat").exists(), "the next tool never started"


def test_a_tool_that_cannot_start_is_a_failure_not_a_traceback(tmp_path, raw):
    outcome = run.run_tool(tools.BY_NAME["oslat"], str(tmp_path / "absent"),
                           _measurement(raw), _quiet)
    assert outcome.status == "failed" and outcome.rc is None
    assert "did not start" in outcome.message


def test_find_takes_the_first_executable_on_the_search_path(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "oslat").write_text("not executable")
    _tool(second, "oslat", FAILS)
    assert tools.find("oslat", (str(first), str(second))) == str(second / "oslat")
    assert tools.find("cyclictest", (str(first), str(second))) is None


def test_tool_lists_are_checked_and_run_in_the_fixed_order():
    assert tools.parse_tool_list("oslat, cyclictest") == ["cyclictest", "oslat"]
    with pytest.raises(Exception, match="unknown tool.*bogus"):
        tools.parse_tool_list("cyclictest,bogus")
    with pytest.raises(Exception, match="none given"):
        tools.parse_tool_list(" , ")


@pytest.mark.parametrize("name, bounds, cpus, priority", [
    ("hwlatdetect", ["--duration=10s"], ["--cpu-list=2-3"], []),
    ("cyclictest", ["--duration=10"], ["--affinity=2-3", "--threads=2"], ["--priority=95"]),
    ("oslat", ["--duration=10s"], ["--cpu-list=2-3"], ["--rtprio=1"]),
    ("osnoise", ["-d", "10s"], ["-c", "2-3"], ["-P", "f:1", "-p", "1000000", "-r", "900000"]),
    ("timerlat", ["-d", "10s"], ["-c", "2-3"], ["-P", "f:95"]),
])
def test_every_command_line_bounds_the_run_and_names_the_cpus(raw, name, bounds, cpus,
                                                              priority):
    """A run without its duration never ends; the spinning tools run at FIFO 1 (at 95 they
    would starve the CPU's kernel threads when RT throttling is off)."""
    tool = tools.BY_NAME[name]
    argv = tool.command(tool, "/bin/" + tool.binary, _measurement(raw, duration_s=10))
    for expected in (bounds, cpus, priority):
        text = " ".join(expected)
        assert not text or (" %s " % text) in " %s " % " ".join(argv), (name, expected, argv)
    assert os.path.basename(tools.BY_NAME["osnoise"].binary) == "rtla"
