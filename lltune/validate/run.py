"""Running the tools: one at a time, bounded, interruptible, their outputs checked.

A tool's exit status alone proves nothing (cyclictest 2.4 prints its help and exits 0 on an
option it does not know), so a run counts only when the tool returned 0 (hwlatdetect: 0 or
1, its "over the hard limit") and left the output it was asked for.
"""

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from lltune.tune.session import signals_held
from lltune.validate.tools import Measurement, Tool

# A tool gets its duration plus this long to start, write its output and exit before it is
# taken to hang (hwlatdetect mounts debugfs and resets the tracer; rtla sets up tracing).
GRACE_S = 60.0
# After SIGINT (how each tool is told to stop and still write what it measured).
STOP_GRACE_S = 15.0
POLL_S = 1.0
# What getopt and argparse print for an option they do not take (not "Invalid argument": that
# is an errno, a failure of the run itself).
REFUSAL_MARKS = ("unrecognized option", "invalid option", "unknown option", "usage:")
# hwlatdetect exits 1 when a sample exceeded the hard limit: a result, not a failure.
MEASURED_RC = {"hwlatdetect": (0, 1)}


@dataclass
class ToolRun:
    name: str
    status: str  # ok, failed, refused-option, timeout, interrupted, missing, skipped
    rc: Optional[int]
    message: str
    raw: Optional[str]  # the file (in the result directory) that holds its output
    seconds: float = 0.0


Tick = Callable[[str, float], None]  # (tool name, seconds left of this tool)
PR_SET_PDEATHSIG = 1
TRACING = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


def _stop_with_lltune() -> None:
    """In the child before exec: SIGINT when lltune dies however it dies (SIGKILL, a lost
    ssh session), so no FIFO measuring thread outlives the run on a production CPU."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)


def reset_tracer(tracer: Optional[str], tracing: Sequence[str] = TRACING) -> Optional[str]:
    """After a tool was killed: its tracer (hwlat spins with interrupts off) is switched back
    to nop, only when it is still the current one. The tracing directory changed, or None."""
    if not tracer:
        return None
    for directory in tracing:
        current = os.path.join(directory, "current_tracer")
        try:
            with open(current, encoding="ascii") as handle:
                if handle.read().strip() != tracer:
                    return None
            with open(current, "w", encoding="ascii") as handle:
                handle.write("nop\n")
            return directory
        except OSError:
            continue
    return None


def _stop(process: "subprocess.Popen[bytes]", tool: Tool) -> Optional[int]:
    """SIGINT to the tool's process group, then SIGKILL if it does not finish (and its tracer
    put back to nop: a killed tool cannot). A second Ctrl-C does not cut this short."""
    with signals_held():
        for sig, wait in ((signal.SIGINT, STOP_GRACE_S), (signal.SIGKILL, STOP_GRACE_S)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)
            try:
                rc = process.wait(wait)
            except subprocess.TimeoutExpired:
                continue
            if sig == signal.SIGKILL:
                reset_tracer(tool.tracer)
            return rc
        return None


def _wait(process: "subprocess.Popen[bytes]", name: str, deadline: float, end: float,
          tick: Tick) -> Optional[int]:
    """The tool's return code, or None when it outlived `deadline` (monotonic)."""
    while True:
        now = time.monotonic()
        if now >= deadline:
            return None
        tick(name, max(0.0, end - now))
        try:
            return process.wait(min(POLL_S, deadline - now))
        except subprocess.TimeoutExpired:
            continue


def _said(path: str) -> str:
    try:
        with open(path, "rb") as handle:
            return handle.read(1 << 16).decode("utf-8", "replace")
    except OSError:
        return ""


def judge(tool: Tool, rc: Optional[int], output_exists: bool, said: str) -> ToolRun:
    """What a finished run proves (pure: the caller has run the tool)."""
    raw = tool.output if output_exists else None
    accepted = MEASURED_RC.get(tool.name, (0,))
    refused = next((line.strip() for line in said.splitlines()
                    if any(mark in line.lower() for mark in REFUSAL_MARKS)), None)
    # First: rtla prints its usage to stdout, the output it was asked for, and exits 0.
    if refused is not None:
        return ToolRun(tool.name, "refused-option", rc, "%s refused its command line: %s"
                       % (tool.name, refused[:200]), None)
    if rc in accepted and output_exists:
        return ToolRun(tool.name, "ok", rc, "", raw)
    if rc in accepted:
        return ToolRun(tool.name, "failed", rc, "%s exited %d but wrote no %s"
                       % (tool.name, rc, tool.output), raw)
    last = [line.strip() for line in said.splitlines() if line.strip()]
    return ToolRun(tool.name, "failed", rc, "%s exited %s%s" % (
        tool.name, rc, (": " + last[-1][:200]) if last else ""), raw)


def run_tool(tool: Tool, path: str, measurement: Measurement, tick: Tick) -> ToolRun:
    """Run one tool to completion, a timeout, or Ctrl-C (which still keeps its output)."""
    argv = tool.command(tool, path, measurement)
    output = os.path.join(measurement.raw_dir, tool.output)
    log = os.path.join(measurement.raw_dir, tool.name + ".log")
    started = time.monotonic()
    end = started + measurement.duration_s
    with open(log, "wb") as said:
        stdout = said
        if not tool.writes_output:
            stdout = open(output, "wb")  # noqa: SIM115 (closed below)
        try:
            # Its own process group: the terminal's Ctrl-C reaches lltune, which stops the
            # tool with SIGINT so it writes what it measured.
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout,
                                       stderr=said, start_new_session=True,
                                       preexec_fn=_stop_with_lltune)
        except OSError as exc:
            if stdout is not said:
                stdout.close()
            return ToolRun(tool.name, "failed", None, "%s did not start: %s"
                           % (tool.name, exc.strerror or exc), None)
        try:
            rc = _wait(process, tool.name, end + GRACE_S, end, tick)
        except KeyboardInterrupt:
            rc = _stop(process, tool)
            if stdout is not said:
                stdout.close()
            exists = _nonempty(output)
            return ToolRun(tool.name, "interrupted", rc, "stopped by Ctrl-C after %ds"
                           % (time.monotonic() - started), tool.output if exists else None,
                           time.monotonic() - started)
        finally:
            if stdout is not said and not stdout.closed:
                stdout.close()
        if rc is None:
            rc = _stop(process, tool)
            return ToolRun(tool.name, "timeout", rc, "%s did not finish within %ds of its "
                           "%ds run; stopped" % (tool.name, GRACE_S, measurement.duration_s),
                           None, time.monotonic() - started)
    outcome = judge(tool, rc, _nonempty(output), _said(log) + _said(output)
                    if not tool.writes_output else _said(log))
    outcome.seconds = time.monotonic() - started
    return outcome


def _nonempty(path: str) -> bool:
    try:
        return os.path.getsize(path) > 0
    except OSError:
        return False


def measure(plan: List[Tool], paths: Dict[str, str], measurement: Measurement,
            tick: Tick) -> List[ToolRun]:
    """Each tool in turn; after Ctrl-C the rest are skipped and what ran is kept."""
    runs: List[ToolRun] = []
    for tool in plan:
        if runs and runs[-1].status == "interrupted":
            runs.append(ToolRun(tool.name, "skipped", None, "not run: interrupted", None))
            continue
        try:
            runs.append(run_tool(tool, paths[tool.name], measurement, tick))
        except KeyboardInterrupt:
            # Between tools or while one starts: what ran is still the result.
            runs.append(ToolRun(tool.name, "interrupted", None, "interrupted before it ran",
                                None))
    return runs
