"""The hostile corpus (corpus.py), every case a `python -m lltune` process: the documented exit
code, one line on stderr for every refusal, no traceback, under 10 s and 200 MB, and nothing
written outside the case's scratch directory (its canary directory, the shared assets and
lltune's system paths are compared before and after).

The cases run three at a time in threads (each is its own process): the whole corpus takes
about a minute and a half on a 2-CPU machine. test_corpus_summary prints the counts per entry
point, the exit codes and the worst time and peak RSS of a refused input.
"""

import collections
import concurrent.futures
import os
import re
import time

import pytest

from tests.unit.hostile import corpus
from tests.unit.hostile.runner import run_lltune, tree_state

TIME_LIMIT = 10.0
RSS_LIMIT_MIB = 200.0
WORKERS = 3
# What lltune would write on this machine if a case escaped its scratch directory.
SYSTEM_PATHS = ("/var/lib/lltune", "/run/lltune.lock", "/etc/tuned", "/etc/security/limits.d",
                "/etc/sysconfig/ptp4l", "/etc/sysconfig/phc2sys", "/dev/null", "/dev/full",
                "/dev/zero", os.path.expanduser("~/.lltune"))


def _system_state():
    state = {}
    for path in SYSTEM_PATHS:
        try:
            info = os.lstat(path)
            state[path] = (info.st_mode, info.st_uid, info.st_rdev,
                           None if path.startswith("/dev/") else info.st_mtime_ns)
        except FileNotFoundError:
            state[path] = None
    return state


def _stderr_lines(text):
    return [line for line in text.splitlines() if line.strip()]


def _changed(before, after, allowed):
    changes = sorted(name for name in set(before) | set(after)
                     if before.get(name) != after.get(name))
    return [name for name in changes
            if not any(name == prefix or name.startswith(prefix.rstrip("/") + "/")
                       for prefix in allowed)]


def run_case(case, base, assets):
    """Build, run and judge one case: -> (result, [problems])."""
    scratch = corpus.Scratch(base, assets)
    argv = case.argv(scratch)
    if case.setup:
        case.setup(scratch)
    env = case.env(scratch) if case.env else None
    before, canary_before = tree_state(scratch.root), tree_state(scratch.canary)
    result = run_lltune(argv, scratch.root, os.path.join(base, "out"), case.stdout,
                        case.stderr, env)
    problems = []
    if result["hung"]:
        return result, ["hung: still running after %.0f s" % result["wall"]]
    err = result["stderr"]
    if result["code"] != case.code:
        problems.append("exit %s, documented %d: %s" % (result["code"], case.code,
                                                       err.strip()[-300:]))
    if "Traceback" in err or "Exception ignored" in err:
        problems.append("a traceback: %s" % err[-500:])
    if result["wall"] > TIME_LIMIT:
        problems.append("took %.1f s" % result["wall"])
    if result["rss_mib"] > RSS_LIMIT_MIB:
        problems.append("peak RSS %.0f MiB" % result["rss_mib"])
    lines = case.lines if case.lines is not None else (1 if case.code != 0 else None)
    if case.stderr == "file" and lines is not None and len(_stderr_lines(err)) != lines:
        problems.append("%d lines on stderr, not %d: %r" % (len(_stderr_lines(err)), lines,
                                                            err[-500:]))
    if case.message and case.message not in err:
        problems.append("stderr lacks %r: %r" % (case.message, err[-300:]))
    if case.stdout_has and case.stdout_has.encode("latin-1") not in result["stdout"]:
        problems.append("stdout lacks %r: %r" % (case.stdout_has, result["stdout"][:200]))
    if tree_state(scratch.canary) != canary_before:
        problems.append("wrote outside its scratch directory (the canary changed)")
    if case.code != 0:
        changed = _changed(before, tree_state(scratch.root), case.may_change)
        if changed:
            problems.append("a refused input changed %s" % changed[:5])
    if case.check and result["code"] == case.code:
        problem = case.check(scratch, result)
        if problem:
            problems.append(problem)
    return result, problems


@pytest.fixture(scope="session")
def hostile_assets(tmp_path_factory):
    return corpus.build_assets(str(tmp_path_factory.mktemp("hostile-assets")))


@pytest.fixture(scope="module")
def outcomes(hostile_assets, tmp_path_factory):
    """{case id: (result, problems)} for the whole corpus, run in a pool."""
    base = tmp_path_factory.mktemp("hostile-cases")
    assets_before = tree_state(hostile_assets.directory)
    system_before = _system_state()
    started = time.perf_counter()
    found = {}
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        futures = {pool.submit(run_case, case, os.path.join(
            str(base), re.sub(r"[^A-Za-z0-9_.-]", "_", case.id)), hostile_assets): case
            for case in corpus.CASES}
        for future in concurrent.futures.as_completed(futures):
            found[futures[future].id] = future.result()
    elapsed = time.perf_counter() - started
    found["(everything else)"] = (
        {"wall": elapsed},
        (["the shared assets changed"] if tree_state(hostile_assets.directory) != assets_before
         else []) + (["a system path changed: %s" % {
             k: v for k, v in _system_state().items() if system_before.get(k) != v}]
                     if _system_state() != system_before else []))
    return found


@pytest.mark.parametrize("case_id", [case.id for case in corpus.CASES])
def test_hostile_input(outcomes, case_id):
    result, problems = outcomes[case_id]
    assert problems == [], "%s: %s" % (case_id, "; ".join(problems))


def test_nothing_outside_the_scratch_directories_changed(outcomes):
    assert outcomes["(everything else)"][1] == []


def test_corpus_summary(outcomes, capsys):
    """At least 150 inputs over the eight entry points; the counts, exit codes and the worst
    refused input (time and peak RSS) are printed (pytest -s shows them)."""
    cases = corpus.CASES
    assert len(cases) >= 150 and len({c.id for c in cases}) == len(cases)
    entries = collections.Counter(c.entry for c in cases)
    assert set(entries) == {"cli", "config", "snapshot", "probes", "bundle", "root", "state",
                            "output"}
    codes = collections.Counter(outcomes[c.id][0].get("code") for c in cases)
    refused = [(outcomes[c.id][0]["wall"], outcomes[c.id][0]["rss_mib"], c.id) for c in cases
               if c.code != 0]
    slowest, biggest = max(refused), max(refused, key=lambda r: r[1])
    tracebacks = sum("Traceback" in outcomes[c.id][0].get("stderr", "") for c in cases)
    hangs = sum(bool(outcomes[c.id][0].get("hung")) for c in cases)
    with capsys.disabled():
        print("\nhostile corpus: %d inputs in %.0f s: %s" % (
            len(cases), outcomes["(everything else)"][0]["wall"],
            ", ".join("%s %d" % item for item in sorted(entries.items()))))
        print("exit codes: %s; %d tracebacks, %d hangs" % (
            ", ".join("%s: %d" % item for item in sorted(codes.items(), key=str)),
            tracebacks, hangs))
        print("worst refused input: %.2f s (%s), %.0f MiB peak RSS (%s)" % (
            slowest[0], slowest[2], biggest[1], biggest[2]))
    assert tracebacks == 0 and hangs == 0
