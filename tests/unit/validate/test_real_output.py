"""The parsers on real tool output: what `make capture-rt-output` saved from the guests'
validate runs (Debian 12: rt-tests 2.4, rtla 6.1; Debian 13: rt-tests 2.6, rtla 6.12), with the
command lines lltune itself gives. cyclictest and oslat come from the run on the standard
kernel; hwlatdetect, osnoise and timerlat from the run on Debian's PREEMPT_RT kernel (the
standard one has none of their tracers). Every run measured the same CPUs."""

import os
import re

import pytest

from lltune.validate import interrupts, parse

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")
SUITES = {"bookworm": ("2.4", "6.1"), "trixie": ("2.6", "6.12")}  # rt-tests, rtla


def _read(suite, name):
    with open(os.path.join(FIXTURES, suite, name), encoding="utf-8") as handle:
        return handle.read()


def _listed(text):
    cpus = []
    for part in text.split(","):
        low, _, high = part.partition("-")
        cpus += list(range(int(low), int(high or low) + 1))
    return cpus


def _measured(suite):
    """The CPUs of cyclictest's --affinity, from its own record of its command line."""
    cmdline = re.search(r'"cmdline:": "([^"]*)"', _read(suite, "cyclictest.json")).group(1)
    return _listed(re.search(r"--affinity=([0-9,-]+)", cmdline).group(1))


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_the_versions_are_the_guests(suite):
    rt_tests, rtla = SUITES[suite]
    versions = _read(suite, "versions.txt")
    first = versions.splitlines()
    assert parse.version("cyclictest", first[0]) == rt_tests
    assert parse.version("oslat", first[1]) == rt_tests
    found = parse.version("rtla", first[2])
    assert found == rtla or found.startswith(rtla + "."), found


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_cyclictest_gives_every_measured_cpu_a_histogram(suite):
    threads = parse.cyclictest_json(_read(suite, "cyclictest.json"))
    assert sorted(threads) == _measured(suite)
    for data in threads.values():
        assert data["samples"] > 1000  # 10 s at a 1 ms interval
        counted = sum(count for _, count in data["histogram"]) + data["overflows"]
        assert abs(counted - data["samples"]) <= 1, "every sample in a bucket or an overflow"
        assert data["min_us"] <= data["avg_us"] <= data["max_us"]


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_oslat_gives_every_measured_cpu_its_noise(suite):
    cpus = parse.oslat(_read(suite, "oslat.json"))
    assert sorted(cpus) == _measured(suite)
    for data in cpus.values():
        assert 0 < data["min_us"] <= data["max_us"]
        assert data["histogram"], "oslat's buckets were read"


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_the_guests_proc_files_parse(suite):
    irqs = interrupts.parse_interrupts(_read(suite, "interrupts"))
    assert "LOC" in irqs and sorted(irqs["LOC"]) == list(range(4))
    soft = interrupts.parse_softirqs(_read(suite, "softirqs"))
    assert {"TIMER", "SCHED", "RCU"} <= set(soft)



@pytest.mark.parametrize("suite", sorted(SUITES))
def test_hwlatdetect_reports_its_run(suite):
    text = _read(suite, "hwlatdetect.txt")
    found = parse.hwlatdetect(text)
    assert _listed(re.search(r"CPU list: +([0-9,-]+)", text).group(1)) == _measured(suite)
    assert 0 < found["width_us"] < found["window_us"]
    assert found["samples"] >= 0 and found["exceeding"] >= 0
    # "Below threshold" is the one report without a number.
    assert (found["max_us"] is None) == ("Max Latency: Below threshold" in text)


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_osnoise_gives_every_measured_cpu_its_noise(suite):
    cpus = parse.osnoise_top(_read(suite, "osnoise.txt"))
    assert sorted(cpus) == _measured(suite)
    for row in cpus.values():
        assert row["periods"] > 0 and 0 <= row["noise_us"] <= row["runtime_us"]
        assert 0 <= row["percent_available"] <= 100
        assert 0 <= row["max_single_us"] <= row["max_noise_us"] <= row["noise_us"]


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_timerlat_gives_every_measured_cpu_its_wakeups(suite):
    cpus = parse.timerlat_top(_read(suite, "timerlat.txt"))
    assert sorted(cpus) == _measured(suite)
    for row in cpus.values():
        assert row["irq_count"] > 1000  # 10 s at rtla's 1 ms period
        for context in ("irq", "thread"):
            assert row[context + "_min_us"] <= row[context + "_avg_us"] <= row[
                context + "_max_us"], (context, row)
