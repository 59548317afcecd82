"""The measuring tools validate runs: where they are, their versions, their command lines.

One row per tool (TOOLS), in the order they run: the hardware floor first (hwlatdetect), then
the FIFO timer thread (cyclictest), user-space noise (oslat) and the kernel's own noise
tracers through rtla. Command lines are pure functions of a Measurement, so a test reads them
without running anything.
"""

import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

from lltune.common.cpulist import format_cpulist

# Where RHEL's and Debian's packages put them (root's PATH may lack the sbin directories
# under sudo -E); searched in this order, the first executable wins.
SEARCH_PATH = ("/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin", "/usr/local/sbin")
# The FIFO priority of the threads that sleep between samples (cyclictest, timerlat): above
# the threaded IRQs (50), below the kernel's watchdogs (99).
RT_PRIORITY = 95
# The tools that spin (oslat, osnoise) run at FIFO 1, as rtla's manual and OpenShift's oslat
# test do: at 95 with RT throttling off (a profile may set sched_rt_runtime_us=-1) they would
# starve the measured CPUs' kworkers, ksoftirqd and RCU for the whole run.
SPIN_PRIORITY = 1
# osnoise's share of each 1 s period: the rest is left to the CPU's own kernel work.
OSNOISE_PERIOD_US = 1000000
OSNOISE_RUNTIME_US = 900000
# cyclictest's histogram, in us: a sample above it is an overflow, counted, never lost.
HISTOGRAM_US = 10000
CYCLICTEST_INTERVAL_US = 1000


@dataclass(frozen=True)
class Measurement:
    """What one tool is asked to measure."""
    cpus: List[int]
    housekeeping: List[int]
    duration_s: int
    raw_dir: str
    threshold_us: Optional[int]


@dataclass(frozen=True)
class Tool:
    name: str
    binary: str
    package: str            # the RHEL 9 package that ships it (the RPM's weak dependency)
    version_args: Sequence[str]  # empty: the tool prints no version
    tracer: Optional[str]   # the ftrace tracer it needs (available_tracers)
    output: str             # the raw file it writes in the result directory
    command: Callable[["Tool", str, Measurement], List[str]]
    # The tool writes `output` itself (its --json/--report); otherwise its stdout is kept.
    writes_output: bool


def _raw(tool: Tool, measurement: Measurement) -> str:
    return os.path.join(measurement.raw_dir, tool.output)


def _hwlatdetect(tool: Tool, path: str, m: Measurement) -> List[str]:
    # hwlat spins with interrupts off on the listed CPUs, one at a time: the measured ones.
    argv = [path, "--duration=%ds" % m.duration_s, "--cpu-list=%s" % format_cpulist(m.cpus)]
    if m.threshold_us is not None:
        argv += ["--threshold=%dus" % m.threshold_us, "--hardlimit=%dus" % m.threshold_us]
    return argv


def _cyclictest(tool: Tool, path: str, m: Measurement) -> List[str]:
    # --default-system: measure the C-state limit the profile set, not the 0 us
    # /dev/cpu_dma_latency request cyclictest makes by default. -t with -a: one thread per
    # listed CPU (without -t there is one thread). -D always: a run without it never ends.
    return [path, "--quiet", "--mlockall", "--priority=%d" % RT_PRIORITY, "--policy=fifo",
            "--interval=%d" % CYCLICTEST_INTERVAL_US, "--default-system",
            "--affinity=%s" % format_cpulist(m.cpus), "--threads=%d" % len(m.cpus),
            "--mainaffinity=%s" % format_cpulist(m.housekeeping),
            "--duration=%d" % m.duration_s, "--histogram=%d" % HISTOGRAM_US,
            "--json=%s" % _raw(tool, m)]


def _oslat(tool: Tool, path: str, m: Measurement) -> List[str]:
    return [path, "--cpu-list=%s" % format_cpulist(m.cpus),
            "--cpu-main-thread=%d" % m.housekeeping[0], "--rtprio=%d" % SPIN_PRIORITY,
            "--duration=%ds" % m.duration_s, "--json=%s" % _raw(tool, m)]


def _rtla(mode: str) -> Callable[[Tool, str, Measurement], List[str]]:
    def command(tool: Tool, path: str, m: Measurement) -> List[str]:
        # -q: the summary only, read at the end. No -H (rtla 6.3+): rtla's main thread stays
        # where validate put itself, on housekeeping.
        argv = [path, mode, "top", "-q", "-c", format_cpulist(m.cpus), "-d", "%ds" % m.duration_s]
        if mode == "osnoise":
            return argv + ["-P", "f:%d" % SPIN_PRIORITY, "-p", str(OSNOISE_PERIOD_US),
                           "-r", str(OSNOISE_RUNTIME_US)]
        return argv + ["-P", "f:%d" % RT_PRIORITY]
    return command


TOOLS: List[Tool] = [
    Tool("hwlatdetect", "hwlatdetect", "realtime-tests", [], "hwlat",
         "hwlatdetect.txt", _hwlatdetect, False),
    Tool("cyclictest", "cyclictest", "realtime-tests", ["--help"], None,
         "cyclictest.json", _cyclictest, True),
    Tool("oslat", "oslat", "realtime-tests", ["--version"], None, "oslat.json", _oslat, True),
    Tool("osnoise", "rtla", "rtla", ["--help"], "osnoise", "osnoise.txt", _rtla("osnoise"),
         False),
    Tool("timerlat", "rtla", "rtla", ["--help"], "timerlat", "timerlat.txt",
         _rtla("timerlat"), False),
]
TOOL_NAMES = [tool.name for tool in TOOLS]
BY_NAME: Dict[str, Tool] = {tool.name: tool for tool in TOOLS}


def find(binary: str, search_path: Sequence[str] = SEARCH_PATH) -> Optional[str]:
    """The first executable regular file named `binary` on `search_path`."""
    for directory in search_path:
        path = os.path.join(directory, binary)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def parse_tool_list(text: str) -> List[str]:
    """--tools a,b: known names only, in TOOLS order (the order they run), each once."""
    from lltune.common.errors import InputError

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(TOOL_NAMES))
    if unknown or not names:
        raise InputError("--tools: unknown tool(s) %s; choose from %s"
                         % (", ".join(unknown) or "(none given)", ",".join(TOOL_NAMES)))
    return [name for name in TOOL_NAMES if name in names]
