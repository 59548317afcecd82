"""`make bench`: lltune on a generated large host, timed the way a user runs it.

Generates the LARGE host of tests/hostgen.py into .bench/large-host/ (reused while hostgen.py
and the spec are unchanged), then runs each command as its own process, repeatedly:

    lltune scan --root ... --probes ... --output .bench/snap.yaml --md-report ... -q
    lltune scan ... --output .bench/snap.json (the JSON variant)
    lltune capture --root ... -o .bench/large.tar.gz
    lltune scan --from .bench/large.tar.gz ...
    lltune --help
    every refused input of the hostile corpus (tests/unit/hostile/corpus.py), once each

and, with --guest-result, judges the guest figure the system test
test_bench_lltune_apply_against_tuned_adm recorded (`make bench` runs both).

Each run is timed by a fresh, small helper process that spawns the command and reaps it with
os.wait4(), which gives that child's own peak RSS (getrusage(RUSAGE_CHILDREN) would give the
maximum over every child so far, and a child's ru_maxrss starts at its spawner's peak, which is
why the spawner is a small helper and not this process). One untimed run of each command
comes first (byte-code compiled, files in the page cache). The median decides against the
targets; min is shown too. Exit status: 0 every target met, 1 a target missed, 2 a command
failed or produced a wrong snapshot.

    .venv/bin/python tests/bench/run_bench.py [--runs N] [--regenerate] [--profile]
"""

import argparse
import hashlib
import importlib.util
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(REPO, ".bench")
HOSTGEN = os.path.join(REPO, "tests", "hostgen.py")
HOST_DIR = os.path.join(BENCH, "large-host")

# Issue 2's acceptance: scan <= 0.5 s wall and <= 80 MB peak RSS; --help <= 150 ms.
SCAN_WALL_S = 0.5
SCAN_RSS_MIB = 80.0
HELP_WALL_S = 0.150
# Issue 13's: a refused input costs at most a few seconds and 200 MB.
REFUSED_WALL_S = 5.0
REFUSED_RSS_MIB = 200.0
# Issue 12's: lltune apply at most 1.3 times tuned-adm switching to the same profile.
APPLY_RATIO = 1.3


def load_hostgen():
    spec = importlib.util.spec_from_file_location("hostgen", HOSTGEN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generator_hash(hostgen) -> str:
    digest = hashlib.sha256()
    with open(HOSTGEN, "rb") as handle:
        digest.update(handle.read())
    digest.update(json.dumps(hostgen.LARGE, sort_keys=True).encode())
    return digest.hexdigest()


def ensure_host(regenerate: bool) -> Dict[str, Any]:
    """The generated host's ground truth; the tree is generated only when hostgen changed."""
    hostgen = load_hostgen()
    stamp = os.path.join(HOST_DIR, "generator.sha256")
    wanted = generator_hash(hostgen)
    if not regenerate and os.path.exists(stamp):
        with open(stamp, encoding="utf-8") as handle:
            if handle.read().strip() == wanted:
                with open(os.path.join(HOST_DIR, "truth.json"), encoding="utf-8") as truth:
                    print("host: reusing %s (generator unchanged)" % HOST_DIR)
                    return json.load(truth)
    os.makedirs(BENCH, exist_ok=True)
    building = HOST_DIR + ".building"
    for stale in (building, HOST_DIR):
        if os.path.exists(stale):
            shutil.rmtree(stale)
    started = time.perf_counter()
    os.makedirs(building)
    truth = hostgen.generate(os.path.join(building, "root"), hostgen.LARGE,
                             os.path.join(building, "probes.json"))
    os.rename(building, HOST_DIR)  # only a complete tree gets the final name
    truth["root"] = os.path.join(HOST_DIR, "root")
    truth["probes"] = os.path.join(HOST_DIR, "probes.json")
    with open(os.path.join(HOST_DIR, "truth.json"), "w", encoding="utf-8") as handle:
        json.dump(truth, handle)
    with open(stamp, "w", encoding="utf-8") as handle:
        handle.write(wanted + "\n")
    print("host: generated %s in %.1f s (%d files)" % (HOST_DIR, time.perf_counter() - started,
                                                       truth["files"]))
    return truth


# ------------------------------------------------------------------ measuring


# The measuring helper: a small process (no site packages) that spawns the command, waits for
# it with wait4() and prints wall time and the child's peak RSS. A fresh helper per run, because
# the kernel carries the spawning process's own peak RSS into the child's ru_maxrss at exec
# (fs/exec.c exec_mmap -> setmax_mm_hiwater_rss); measured from this process, which holds the
# ground truth, every command would read at least this process's size.
HELPER = r"""
import json, os, sys, time
argv = json.loads(sys.argv[1])
out = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
err = os.open(sys.argv[3], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
           (os.POSIX_SPAWN_DUP2, out, 1), (os.POSIX_SPAWN_DUP2, err, 2)]
with open("/proc/self/status") as status:  # the floor the child inherits (VmHWM, KiB)
    floor = int(next(line for line in status if line.startswith("VmHWM:")).split()[1])
started = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, dict(os.environ), file_actions=actions)
_pid, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
print(json.dumps({"wall": wall, "maxrss_kib": usage.ru_maxrss,
                  "code": os.waitstatus_to_exitcode(status),
                  "helper_hwm_kib": floor}))
"""


def run_once(argv: List[str]) -> Tuple[float, int, int, str, int]:
    """(wall seconds, peak RSS KiB, exit code, stderr tail, the helper's peak RSS KiB)."""
    with tempfile.TemporaryDirectory(prefix="lltune-bench-") as scratch:
        out, err = os.path.join(scratch, "stdout"), os.path.join(scratch, "stderr")
        done = subprocess.run([sys.executable, "-S", "-c", HELPER, json.dumps(argv), out, err],
                              cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True,
                              check=False)
        if done.returncode != 0:
            return 0.0, 0, -1, done.stderr.decode("utf-8", "replace"), 0
        answer = json.loads(done.stdout)
        with open(err, "rb") as handle:
            tail = handle.read()[-2000:].decode("utf-8", "replace")
    return (answer["wall"], answer["maxrss_kib"], answer["code"], tail,
            answer["helper_hwm_kib"])


class Result:
    def __init__(self, label: str, argv: List[str], wall_target: Optional[float],
                 rss_target_mib: Optional[float]):
        self.label = label
        self.argv = argv
        self.wall_target = wall_target
        self.rss_target_mib = rss_target_mib
        self.walls: List[float] = []
        self.rss_kib: List[int] = []
        self.helper_kib: List[int] = []
        self.failure: Optional[str] = None

    @property
    def wall_min(self) -> float:
        return min(self.walls)

    @property
    def wall_median(self) -> float:
        return statistics.median(self.walls)

    @property
    def rss_mib(self) -> float:
        return max(self.rss_kib) / 1024.0

    def met(self) -> Optional[bool]:
        if self.failure:
            return False
        if self.wall_target is None and self.rss_target_mib is None:
            return None
        ok = True
        if self.wall_target is not None:
            ok = ok and self.wall_median <= self.wall_target
        if self.rss_target_mib is not None:
            ok = ok and self.rss_mib <= self.rss_target_mib
        return ok

    def target_text(self) -> str:
        parts = []
        if self.wall_target is not None:
            parts.append("<= %s" % _seconds(self.wall_target))
        if self.rss_target_mib is not None:
            parts.append("<= %.0f MiB" % self.rss_target_mib)
        return ", ".join(parts) or "-"


def _seconds(value: float) -> str:
    return "%.0f ms" % (value * 1000) if value < 1 else "%.2f s" % value


def measure(result: Result, runs: int) -> Result:
    for run in range(runs + 1):  # run 0 is the warm-up: .pyc files, page cache
        wall, rss, code, tail, helper = run_once(result.argv)
        if code != 0:
            result.failure = "exit %d: %s" % (code, tail.strip())
            return result
        if run:
            result.walls.append(wall)
            result.rss_kib.append(rss)
            result.helper_kib.append(helper)
    return result


# ------------------------------------------------------------------ checks and reporting


def check_snapshot(path: str, truth: Dict[str, Any], with_ethtool: bool) -> Optional[str]:
    """None when the snapshot shows the generated host; else what is wrong."""
    with open(path, encoding="utf-8") as handle:
        snap = json.load(handle)
    problems = []
    if len(snap["cpu"]["cpus"]) != truth["cpu_count"]:
        problems.append("%d CPUs" % len(snap["cpu"]["cpus"]))
    if len(snap["nics"]) != len(truth["nics"]):
        problems.append("%d NICs" % len(snap["nics"]))
    if len(snap["irqs"]["irqs"]) != truth["irq_count"]:
        problems.append("%d IRQ rows" % len(snap["irqs"]["irqs"]))
    if snap["collector_errors"]:
        problems.append("collector errors %s" % snap["collector_errors"])
    nodes = {nic["name"]: nic["numa_node"] for nic in snap["nics"]}
    if nodes != {nic["name"]: nic["numa_node"] for nic in truth["nics"]}:
        problems.append("NIC nodes %s" % nodes)
    if with_ethtool and any(nic["channels"] is None for nic in snap["nics"]):
        problems.append("ethtool answers missing")
    return "; ".join(problems) or None


def machine() -> List[str]:
    model = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    load = os.getloadavg()
    return ["machine: %s, %d CPUs (%s usable), %s" % (model, os.cpu_count() or 0, usable,
                                                      platform.platform()),
            "python: %s (%s)" % (platform.python_version(), sys.executable),
            "load average at start: %.2f %.2f %.2f" % load]


def table(results: List[Result], runs: int) -> List[str]:
    header = ("command", "wall min", "wall median", "peak RSS", "target", "")
    rows = []
    for r in results:
        verdict = {True: "ok", False: "MISSED", None: ""}[r.met()]
        if r.failure:
            rows.append((r.label, "-", "-", "-", r.target_text(), "FAILED"))
        else:
            rows.append((r.label, _seconds(r.wall_min), _seconds(r.wall_median),
                         "%.1f MiB" % r.rss_mib, r.target_text(), verdict))
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
              for row in rows]
    floor = max(k for r in results for k in r.helper_kib or [0]) / 1024.0
    lines.append("(%d timed runs each after one warm-up; the median decides; peak RSS is the "
                 "child's, with the spawning helper's %.1f MiB as its floor)" % (runs, floor))
    return lines


def markdown(results: List[Result], truth: Dict[str, Any], info: List[str],
             runs: int) -> str:
    lines = ["| command | wall min | wall median | peak RSS | target |", "|---|---|---|---|---|"]
    for r in results:
        if r.failure:
            lines.append("| `%s` | failed | | | %s |" % (r.label, r.target_text()))
        else:
            lines.append("| `%s` | %s | %s | %.1f MiB | %s |" % (
                r.label, _seconds(r.wall_min), _seconds(r.wall_median), r.rss_mib,
                r.target_text()))
    lines += ["", "Host: %d CPUs, %d NUMA nodes, %d NICs, %d IRQ rows (/proc/interrupts "
              "%.1f MB), %d kernel threads. %d timed runs each." % (
                  truth["cpu_count"], len(truth["nodes"]), len(truth["nics"]),
                  truth["irq_count"], truth["interrupts_bytes"] / 1e6, truth["kthreads"],
                  runs), ""] + ["- " + line for line in info]
    return "\n".join(lines) + "\n"


def refused_inputs() -> Tuple[List[str], bool]:
    """Every refused input of the hostile corpus (tests/unit/hostile/corpus.py) once, one at a
    time: -> (report lines, whether the worst stayed within REFUSED_WALL_S and _RSS_MIB)."""
    sys.path.insert(0, REPO)
    from tests.unit.hostile import corpus
    from tests.unit.hostile.test_corpus import run_case

    base = os.path.join(BENCH, "hostile")
    if os.path.exists(base):
        shutil.rmtree(base)
    assets = corpus.build_assets(os.path.join(base, "assets"), large=False)
    measured, failures = [], []
    refused = [case for case in corpus.CASES if case.code != 0]
    print("measuring: %d refused inputs of the hostile corpus, one at a time" % len(refused),
          flush=True)
    for number, case in enumerate(refused):
        result, problems = run_case(case, os.path.join(base, "case%03d" % number), assets)
        measured.append((result["wall"], result["rss_mib"], case.id))
        if problems:
            failures.append("%s: %s" % (case.id, "; ".join(problems)))
    slowest = max(measured)
    biggest = max(measured, key=lambda item: item[1])
    ok = slowest[0] <= REFUSED_WALL_S and biggest[1] <= REFUSED_RSS_MIB and not failures
    lines = ["worst refused input (%d hostile inputs, each its own process): %s wall (%s), "
             "%.1f MiB peak RSS (%s); targets <= %s, <= %.0f MiB: %s" % (
                 len(refused), _seconds(slowest[0]), slowest[2], biggest[1], biggest[2],
                 _seconds(REFUSED_WALL_S), REFUSED_RSS_MIB, "met" if ok else "MISSED")]
    lines += ["  %s" % failure for failure in failures]
    return lines, ok


def profile(scan_argv: List[str]) -> None:
    """cProfile one scan in a child and print where the time goes."""
    out = os.path.join(BENCH, "scan.prof")
    argv = [sys.executable, "-m", "cProfile", "-o", out] + scan_argv[1:]
    code = subprocess.call(argv, cwd=REPO, stdout=subprocess.DEVNULL)
    if code != 0:
        print("profile run failed (exit %d)" % code)
        return
    stats = pstats.Stats(out)
    print("\nprofile of one scan (%s; cProfile inflates the total):" % out)
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)


def judge_guest(path: str) -> int:
    """The guest figure (issue 12): lltune apply's wall time over `tuned-adm profile`'s."""
    try:
        with open(path, encoding="utf-8") as handle:
            figure = json.load(handle)
        ratio = float(figure["ratio"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print("no guest figure in %s: %s" % (path, exc), file=sys.stderr)
        return 2
    for number, row in enumerate(figure.get("rounds") or [], 1):
        print("round %d: lltune apply %d ms, tuned-adm profile %d ms" % (
            number, row["lltune_apply_ms"], row["tuned_adm_profile_ms"]))
    met = ratio <= APPLY_RATIO
    print("lltune apply / tuned-adm profile in the %s guest: %.2f (goal <= %.1f) %s" % (
        figure.get("guest"), ratio, APPLY_RATIO, "ok" if met else "MISSED"))
    return 0 if met else 1


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per command (7)")
    parser.add_argument("--regenerate", action="store_true",
                        help="generate the host again even when hostgen.py is unchanged")
    parser.add_argument("--profile", action="store_true",
                        help="also cProfile one scan and print the top functions")
    parser.add_argument("--guest-result", metavar="JSON",
                        help="judge the guest figure test_apply_guest.py recorded, only")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    if args.guest_result:
        return judge_guest(args.guest_result)

    info = machine()
    for line in info:
        print(line)
    truth = ensure_host(args.regenerate)
    root, probes = truth["root"], truth["probes"]
    bundle = os.path.join(BENCH, "large.tar.gz")
    py = [sys.executable, "-m", "lltune"]
    out = {name: os.path.join(BENCH, name) for name in (
        "snap.yaml", "snap.json", "report.md", "snap-from.json", "report-from.md")}
    scan_yaml = py + ["scan", "--root", root, "--probes", probes, "--output", out["snap.yaml"],
                      "--md-report", out["report.md"], "-q"]
    scan_json = py + ["scan", "--root", root, "--probes", probes, "--output", out["snap.json"],
                      "--md-report", out["report.md"], "-q"]
    capture = py + ["capture", "--root", root, "-o", bundle]
    scan_from = py + ["scan", "--from", bundle, "--output", out["snap-from.json"],
                      "--md-report", out["report-from.md"], "-q"]
    plan = [
        (Result("lltune scan --root (YAML + report)", scan_yaml, SCAN_WALL_S, SCAN_RSS_MIB),
         args.runs),
        (Result("lltune scan --root (JSON + report)", scan_json, SCAN_WALL_S, SCAN_RSS_MIB),
         args.runs),
        (Result("lltune capture --root", capture, None, None), min(args.runs, 3)),
        # The wall target is for the scan of the host; --from also checks the
        # SHA-256 and safety of ~11,000 tar members first. Shown, with the RSS bound only.
        (Result("lltune scan --from bundle (JSON + report)", scan_from, None,
                SCAN_RSS_MIB), args.runs),
        (Result("lltune --help", py + ["--help"], HELP_WALL_S, None), args.runs),
    ]
    results = []
    for result, runs in plan:
        print("measuring: %s (%d runs)" % (result.label, runs), flush=True)
        results.append(measure(result, runs))

    broken = [r for r in results if r.failure]
    for name, with_ethtool in (("snap.json", True), ("snap-from.json", False)):
        if os.path.exists(out[name]) and not broken:
            problem = check_snapshot(out[name], truth, with_ethtool)
            if problem:
                broken.append(Result(name, [], None, None))
                print("wrong snapshot %s: %s" % (out[name], problem))

    print()
    for line in table(results, args.runs):
        print(line)
    if os.path.exists(bundle):
        print("capture bundle: %.1f MiB; /proc/interrupts %.1f MB; %d files in the tree"
              % (os.path.getsize(bundle) / 1048576.0, truth["interrupts_bytes"] / 1e6,
                 truth["files"]))
    hostile, hostile_ok = refused_inputs()
    for line in hostile:
        print(line)
    info.append(hostile[0])
    info.append("load average at end: %.2f %.2f %.2f" % os.getloadavg())
    print(info[-1])
    with open(os.path.join(BENCH, "results.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown(results, truth, info, args.runs))
    print("markdown table for the README: %s" % os.path.join(BENCH, "results.md"))
    for r in results:
        if r.failure:
            print("FAILED %s: %s" % (r.label, r.failure))
    if args.profile:
        profile(scan_yaml)
    if broken:
        return 2
    missed = [r.label for r in results if r.met() is False] + (
        [] if hostile_ok else ["the worst refused input"])
    if missed:
        print("targets missed: %s" % ", ".join(missed))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
