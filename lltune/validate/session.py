"""One validate run end to end: preflight, the tools, the result and its artifacts.

The host is read through a RootReader (tests point it at a tree) and the tools are found on a
search path (tests put stand-ins there); everything else is the pure modules beside this one.
"""

import datetime
import hashlib
import json
import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

from lltune.common.cpulist import format_cpulist, parse_cpulist
from lltune.common.errors import EnvironmentProblem, InputError
from lltune.common.files import atomic_write, trusted_dir
from lltune.host.reader import RootReader
from lltune.model.queries import dig, isolated_now, online_cpus
from lltune.system import journal
from lltune.validate import interrupts, result, smi, tools
from lltune.validate.run import ToolRun, measure
from lltune.validate.tools import Measurement, Tool

PF_KTHREAD = 0x00200000
MAX_DURATION_S = 7 * 24 * 3600


@dataclass
class Options:
    cpus: str = "isolated"
    duration_s: int = 60
    threshold_us: Optional[int] = None
    tools: Optional[List[str]] = None  # None: every tool found
    force: bool = False
    enforce_wakeup: bool = False


def parse_duration(text: str) -> int:
    """10, 10s, 5m, 2h, 1d -> seconds (1 s .. 7 days)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip().lower()
    factor = units.get(value[-1:])
    number = value[:-1] if factor else value
    if not number.isdigit():
        raise InputError("--duration %r: a whole number of seconds, or with s, m, h or d "
                         "(10s, 5m, 2h)" % text)
    seconds = int(number) * (factor or 1)
    if not 1 <= seconds <= MAX_DURATION_S:
        raise InputError("--duration %r: between 1s and 7d" % text)
    return seconds


def choose_cpus(spec: str, snapshot: Dict[str, Any],
                config_isolated: Optional[List[int]]) -> Tuple[List[int], List[int]]:
    """(CPUs to measure, housekeeping CPUs) from --cpus, the config and the host."""
    online = online_cpus(snapshot)
    if spec == "isolated":
        cpus = sorted(config_isolated or isolated_now(snapshot))
        if not cpus:
            raise InputError("--cpus isolated: this host isolates no CPUs (and no config "
                             "names any); give --cpus LIST")
    else:
        try:
            cpus = parse_cpulist(spec)
        except ValueError as exc:
            raise InputError("--cpus %r: %s" % (spec, exc)) from None
    offline = sorted(set(cpus) - set(online))
    if offline:
        raise InputError("--cpus: CPU(s) %s are not online here (online: %s)"
                         % (format_cpulist(offline), format_cpulist(online)))
    housekeeping = sorted(set(online) - set(cpus))
    if not housekeeping:
        raise InputError("--cpus %s leaves no CPU for housekeeping: lltune and the tools' "
                         "main threads need one" % format_cpulist(cpus))
    return cpus, housekeeping


def busy_tasks(reader: RootReader, cpus: List[int], own: List[int]) -> List[str]:
    """User tasks the measurement would preempt: those whose allowed CPUs all lie inside
    `cpus` (the workload placed there), which cannot move away from the FIFO threads. A task
    that may run anywhere is not counted even when it runs on one now: the scheduler moves
    it (before isolation every short-lived command would otherwise stop validate). Kernel
    threads and the pids in `own` (lltune, its parents) are not counted either."""
    measured = set(cpus)
    found = []
    for pid in reader.listdir("/proc", []):
        if not pid.isdigit() or int(pid) in own:
            continue
        for tid in reader.listdir("/proc/%s/task" % pid, []):
            stat = reader.read("/proc/%s/task/%s/stat" % (pid, tid), None)
            status = reader.read("/proc/%s/task/%s/status" % (pid, tid), None)
            if not stat or not status or ")" not in stat:
                continue  # gone since the listing
            comm = stat[stat.index("(") + 1:stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2:].split()
            if len(fields) < 7 or int(fields[6]) & PF_KTHREAD:
                continue
            allowed = next((line.split(":", 1)[1].strip() for line in status.splitlines()
                            if line.startswith("Cpus_allowed_list:")), "")
            try:
                pinned = set(parse_cpulist(allowed)) <= measured if allowed else False
            except ValueError:
                pinned = False
            if pinned:
                found.append("%s/%s (%s) on CPUs %s" % (pid, tid, comm, allowed or "?"))
    return sorted(found)


def own_pids() -> List[int]:
    """lltune's pid and its parents' (a shell, sudo, sshd): never "busy" tasks."""
    pids, pid = [], os.getpid()
    while pid > 1:
        pids.append(pid)
        try:
            with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as handle:
                pid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def tool_plan(wanted: Optional[List[str]], reader: RootReader,
              search_path: Tuple[str, ...]) -> Tuple[List[Tool], Dict[str, str],
                                                      Dict[str, Any], Dict[str, str]]:
    """(tools to run, their paths, {tool: {path, version}}, {tool: why it cannot run})."""
    tracers = (reader.read("/sys/kernel/tracing/available_tracers", None)
               or reader.read("/sys/kernel/debug/tracing/available_tracers", None) or "")
    plan, paths, found, missing = [], {}, {}, {}
    for tool in tools.TOOLS:
        if wanted is not None and tool.name not in wanted:
            continue
        path = tools.find(tool.binary, search_path)
        info: Dict[str, Any] = {"path": path, "version": tools_version(tool, path)}
        found[tool.name] = info
        if path is None:
            missing[tool.name] = "%s (package %s)" % (tool.name, tool.package)
        elif tool.tracer and tracers and tool.tracer not in tracers.split():
            missing[tool.name] = "%s: the kernel has no %s tracer" % (tool.name, tool.tracer)
        else:
            plan.append(tool)
            paths[tool.name] = path
    return plan, paths, found, missing


def tools_version(tool: Tool, path: Optional[str]) -> Optional[str]:
    import subprocess

    from lltune.validate import parse

    if path is None or not tool.version_args:
        return None
    try:
        done = subprocess.run([path] + list(tool.version_args), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse.version(tool.name, done.stdout.decode("utf-8", "replace"))


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def result_dir(base: str) -> Tuple[str, str]:
    """(id, path) of a new directory under <state>/validate/, 0700."""
    trusted_dir(base, create=True)
    root = trusted_dir(os.path.join(base, "validate"), create=True, ancestors=False)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    for suffix in [""] + ["-%d" % n for n in range(2, 100)]:
        path = os.path.join(root, stamp + suffix)
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        return stamp + suffix, path
    raise EnvironmentProblem("cannot make a new result directory in %s" % root)


class Progress:
    """On a terminal: the time left, rewritten in place; in the journal: a line a minute."""

    def __init__(self, total_s: float, stream: Any = None):
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.end = time.monotonic() + total_s
        self.logged = time.monotonic()

    def __call__(self, name: str, left_s: float) -> None:
        total_left = max(0, int(self.end - time.monotonic()))
        if self.tty:
            self.stream.write("\r%-12s %4ds left of this tool, about %ds in all   "
                              % (name, left_s, total_left))
            self.stream.flush()
        if time.monotonic() - self.logged >= 60:
            self.logged = time.monotonic()
            journal.info("validate: %s running, about %ds left" % (name, total_left))

    def done(self) -> None:
        if self.tty:
            self.stream.write("\r%s\r" % (" " * 70))


def verify_status(report: Optional[Dict[str, Any]]) -> str:
    """ok, drift (knobs drifted or tuned's verify failed), unverified (tuned could not be
    asked: not drift, and not proof either), not-checked (no config)."""
    if report is None:
        return "not-checked"
    if report["ok"]:
        return "ok"
    return "unverified" if report.get("tuned_unavailable") and not report["drift"] else "drift"


def environment(snapshot: Dict[str, Any], verify_report: Optional[Dict[str, Any]],
                config_text: Optional[bytes], found: Dict[str, Any]) -> Dict[str, Any]:
    virt = dig(snapshot, "host", "virtualization") or {}
    tuned = dig(snapshot, "services", "tuned") or {}
    checked = {"status": verify_status(verify_report),
               "drift": list(verify_report["drift"]) if verify_report else []}
    return {
        "hostname": dig(snapshot, "host", "hostname") or socket.gethostname(),
        "kernel": dig(snapshot, "host", "kernel", "release"),
        "realtime_kernel": bool(dig(snapshot, "host", "preempt_rt")),
        "virtualized": (virt.get("type") or "yes") if virt.get("virtualized") else None,
        "cmdline": " ".join(dig(snapshot, "kernel", "cmdline") or []),
        "tuned_profile": tuned.get("active_profile"),
        "config_sha256": hashlib.sha256(config_text).hexdigest() if config_text else None,
        "verify": checked,
        "tools": {name: {"path": info["path"], "version": info["version"]}
                  for name, info in found.items()},
    }


def measure_and_report(options: Options, snapshot: Dict[str, Any], cpus: List[int],
                       housekeeping: List[int], env: Dict[str, Any], plan: List[Tool],
                       paths: Dict[str, str], run_id: str, raw_dir: str,
                       reader: RootReader, missing: Optional[Dict[str, str]] = None,
                       tick: Optional[Callable[[str, float], None]] = None) -> Dict[str, Any]:
    """Run the plan with lltune on housekeeping CPUs; the result document."""
    # Inherited by every tool: their main threads start here, and only the measuring
    # threads each tool pins go to the measured CPUs.
    try:
        os.sched_setaffinity(0, housekeeping)
    except OSError as exc:
        raise EnvironmentProblem("cannot move lltune to the housekeeping CPUs %s: %s"
                                 % (format_cpulist(housekeeping), exc.strerror)) from None
    measurement = Measurement(cpus, housekeeping, options.duration_s, raw_dir,
                              options.threshold_us)
    progress = Progress(options.duration_s * len(plan))
    started = _now()
    irq_before = reader.read("/proc/interrupts", "")
    soft_before = reader.read("/proc/softirqs", "")
    smi_before = smi.smi_counts(cpus)
    try:
        runs: List[ToolRun] = measure(plan, paths, measurement, tick or progress)
    finally:
        progress.done()
    irq_after = reader.read("/proc/interrupts", "")
    soft_after = reader.read("/proc/softirqs", "")
    smis = smi.smi_delta(smi_before, smi.smi_counts(cpus))
    rows_in = [dict(vars(run)) for run in runs] + [
        {"name": name, "status": "missing", "rc": None, "message": why, "raw": None}
        for name, why in sorted((missing or {}).items())]
    parsed, rows_in = result.parsed_outputs(rows_in, raw_dir)
    irq_delta = interrupts.delta(interrupts.parse_interrupts(irq_before),
                                 interrupts.parse_interrupts(irq_after), cpus)
    soft_delta = interrupts.delta(interrupts.parse_softirqs(soft_before),
                                  interrupts.parse_softirqs(soft_after), cpus)
    rows = result.per_cpu(cpus, parsed, irq_delta, soft_delta, smis)
    interrupted = any(run.status == "interrupted" for run in runs)
    return result.document(run_id, started, _now(), options.duration_s, interrupted, env,
                           cpus, housekeeping, options.threshold_us, options.enforce_wakeup,
                           rows_in, parsed, rows)


def write_artifacts(path: str, document: Dict[str, Any], before: Optional[Dict[str, Any]]
                    ) -> Dict[str, str]:
    from lltune.validate import compare, markdown, picture

    comparison = compare.compare(before, document) if before else None
    files = {
        "result.json": json.dumps(document, indent=1, sort_keys=True) + "\n",
        "report.md": markdown.report(document, comparison),
        "latency.svg": picture.svg(document, before),
    }
    if comparison:
        files["compare.json"] = json.dumps(comparison, indent=1, sort_keys=True) + "\n"
    written = {}
    for name, text in files.items():
        atomic_write(os.path.join(path, name), text.encode("utf-8"), 0o600)
        written[name] = os.path.join(path, name)
    return written
