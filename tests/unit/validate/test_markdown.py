"""report(): the verdict first, then the environment, the CPUs, the tools, the interrupts."""

from lltune.validate.compare import compare
from lltune.validate.markdown import number_text, p9999_text, report, us_text
from tests.unit.validate.results import make_result


def _section(text, heading):
    """The lines under `heading` up to the next heading of the same or a higher level."""
    lines = text.splitlines()
    start = lines.index(heading) + 1
    level = heading.split(" ")[0]
    end = next((index for index in range(start, len(lines))
                if lines[index].startswith("#")
                and len(lines[index].split(" ")[0]) <= len(level)), len(lines))
    return lines[start:end]


def _cells(lines):
    """The body rows of the Markdown table in `lines`, each as its list of cells."""
    rows = [line for line in lines if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split(" | ")] for row in rows[1:]]


def _interrupts(text, cpu):
    """The lines about `cpu` in the interrupts section (the CPU tables use the same heading)."""
    return _section("\n".join(_section(text, "## What interrupted each CPU")), "### CPU %d" % cpu)


def _headings(text):
    return [line for line in text.splitlines() if line.startswith("## ")]


def test_the_title_names_the_run_and_the_host():
    assert report(make_result(run_id="20261203T113000Z")).splitlines()[0] == (
        "# lltune validate 20261203T113000Z on trade1.example.com")


def test_the_verdict_comes_before_everything_else():
    text = report(make_result(threshold_us=50), compare(make_result(), make_result()))
    assert _headings(text) == ["## Verdict: PASS", "## Environment", "## Measured CPUs",
                               "## Tools", "## What interrupted each CPU",
                               "## Compared with 20261203T113000Z"]


def test_the_verdict_lists_the_cpus_and_tools_over_the_threshold():
    verdict = _section(report(make_result(n_cpus=3, threshold_us=42)), "## Verdict: FAIL")
    assert "Threshold: 42 us (enforced)." in verdict
    assert [line for line in verdict if line.startswith("- ")] == [
        "- CPU 3, cyclictest: max 43 us", "- CPU 4, cyclictest: max 44 us"]


def test_without_a_threshold_the_verdict_says_none():
    verdict = _section(report(make_result()), "## Verdict: NO-THRESHOLD")
    assert "Threshold: none." in verdict
    assert not any(line.startswith("- ") for line in verdict)


def test_an_interrupted_run_says_its_numbers_are_partial():
    result = make_result()
    assert "interrupted" not in " ".join(_section(report(result), "## Verdict: NO-THRESHOLD"))
    result["interrupted"] = True
    assert "The run was interrupted: the numbers cover only part of it." in _section(
        report(result), "## Verdict: NO-THRESHOLD")


def test_the_environment_names_kernel_vm_cmdline_profile_config_verify_and_tools():
    result = make_result(virtualized="kvm")
    result["environment"]["verify"] = {"status": "drift",
                                       "drift": ["sysctl kernel.timer_migration", "irq 24"]}
    rows = dict(_cells(_section(report(result), "## Environment")))
    assert rows["Kernel"] == "5.14.0-427.13.1.el9_4.x86_64+rt (realtime)"
    assert rows["Virtualized"] == "kvm"
    assert rows["Kernel command line"] == result["environment"]["cmdline"]
    assert rows["tuned profile"] == "lltune"
    assert rows["Config sha256"] == "ab" * 32
    assert (rows["Verify"], rows["Drift"]) == ("drift", "sysctl kernel.timer_migration; irq 24")
    assert rows["Tools"] == ("cyclictest 2.6 (/usr/bin/cyclictest); oslat 2.6 (/usr/bin/oslat); "
                             "rtla not installed")
    assert rows["Measured CPUs"] == "2, 3"


def test_a_vm_run_says_these_are_not_the_hardwares_numbers():
    assert "Measured in a VM (kvm): not the hardware's numbers." in _section(
        report(make_result(virtualized="kvm")), "## Environment")
    assert "not the hardware's numbers" not in report(make_result())


def test_each_measured_cpu_has_its_table():
    text = report(make_result(n_cpus=2))
    rows = _cells(_section(text, "### CPU 2"))
    assert rows == [["cyclictest", "samples", "600000"], ["cyclictest", "min", "2 us"],
                    ["cyclictest", "avg", "2.2 us"], ["cyclictest", "max", "42 us"],
                    ["cyclictest", "p99", "4 us"], ["cyclictest", "p99.99", "8 us"],
                    ["cyclictest", "overflows", "0"], ["oslat", "max", "12.2 us"],
                    ["osnoise", "noise", "120 us"], ["osnoise", "max single", "8 us"]]
    assert ["cyclictest", "max", "43 us"] in _cells(_section(text, "### CPU 3"))


def test_absent_tools_leave_their_rows_out_and_unknown_values_show_a_dash():
    result = make_result(n_cpus=1)
    result["per_cpu"][0]["oslat"] = result["per_cpu"][0]["osnoise"] = None
    result["per_cpu"][0]["cyclictest"]["avg_us"] = None
    rows = _cells(_section(report(result), "### CPU 2"))
    assert [row[0] for row in rows] == ["cyclictest"] * 7
    assert ["cyclictest", "avg", "-"] in rows


def test_a_cpu_no_tool_measured_says_so():
    result = make_result(n_cpus=1)
    entry = result["per_cpu"][0]
    entry["cyclictest"] = entry["oslat"] = entry["osnoise"] = None
    assert "No latency tool measured this CPU." in _section(report(result), "### CPU 2")


def test_tools_show_status_rc_and_message():
    rows = _cells(_section(report(make_result()), "## Tools"))
    assert ["timerlat", "missing", "-", "rtla is not installed"] in rows
    assert ["cyclictest", "ok", "0", ""] in rows


def test_hwlatdetect_gets_its_line_when_it_ran():
    result = make_result()
    assert not any(line.startswith("hwlatdetect") for line in _section(report(result),
                                                                         "## Tools"))
    result["hwlatdetect"] = {"samples": 30, "max_us": 3, "threshold_us": 10, "width_us": 500000,
                             "window_us": 1000000, "exceeding": 0}
    assert "hwlatdetect: max 3 us over 30 samples, 0 above its threshold of 10 us." in _section(
        report(result), "## Tools")


def test_pipes_in_cells_are_escaped():
    result = make_result()
    result["tools"]["cyclictest"]["message"] = "refused -a | -t"
    assert "| cyclictest | ok | 0 | refused -a \\| -t |" in report(result).splitlines()


def test_what_interrupted_lists_the_top_five_irq_and_softirq_sources_by_increase():
    interrupts = _interrupts(report(make_result(n_cpus=1)), 2)
    assert _cells(interrupts) == [
        ["IRQ", "LOC", "10000"], ["IRQ", "24 virtio0-input.0", "31"], ["IRQ", "RES", "12"],
        ["IRQ", "CAL", "7"], ["IRQ", "IWI", "5"],
        ["softirq", "TIMER", "1000"], ["softirq", "RCU", "300"], ["softirq", "SCHED", "50"],
        ["softirq", "HRTIMER", "4"], ["softirq", "NET_RX", "2"]]


def test_equal_increases_are_listed_by_name():
    result = make_result(n_cpus=1)
    result["per_cpu"][0]["interrupts"] = {"RES": 4, "CAL": 4, "LOC": 9}
    result["per_cpu"][0]["softirqs"] = {}
    interrupts = _interrupts(report(result), 2)
    assert [row[1] for row in _cells(interrupts)] == ["LOC", "CAL", "RES"]


def test_a_cpu_nothing_interrupted_says_so():
    result = make_result(n_cpus=1)
    result["per_cpu"][0]["interrupts"] = result["per_cpu"][0]["softirqs"] = {}
    interrupts = _interrupts(report(result), 2)
    assert "No interrupt counter rose during the run." in interrupts


def test_the_comparison_table_shows_before_after_change_and_verdict():
    before, after = make_result(run_id="BEFORE", n_cpus=2), make_result(n_cpus=1, shift_us=5)
    rows = _cells(_section(report(after, compare(before, after)), "## Compared with BEFORE"))
    assert rows == [
        ["2", "cyclictest", "42 us", "47 us", "+5 us", "8 us", "13 us", "+5 us", "worse"],
        ["2", "oslat", "12.2 us", "17.2 us", "+5.0 us", "-", "-", "-", "worse"],
        ["3", "cyclictest", "43 us", "-", "-", "8 us", "-", "-", "only-before"],
        ["3", "oslat", "13.2 us", "-", "-", "-", "-", "-", "only-before"]]


def test_a_better_run_shows_negative_changes():
    before, after = make_result(run_id="BEFORE", shift_us=3), make_result()
    rows = _cells(_section(report(after, compare(before, after)), "## Compared with BEFORE"))
    assert rows[0] == ["2", "cyclictest", "45 us", "42 us", "-3 us", "11 us", "8 us", "-3 us",
                       "better"]


def test_without_a_comparison_there_is_no_comparison_section():
    assert not any(heading.startswith("## Compared") for heading in _headings(
        report(make_result())))


def test_numbers_read_the_same_everywhere():
    assert [number_text(None), number_text(7), number_text(2.25), number_text(3.0)] == [
        "-", "7", "2.2", "3.0"]
    assert [us_text(None), us_text(5), us_text(0.5)] == ["-", "5 us", "0.5 us"]


def test_a_p9999_among_the_overflows_reads_as_at_least_past_the_last_bucket():
    cyclictest = {"p9999_us": None, "overflows": 200, "histogram": [[3, 1000], [17, 2]]}
    assert p9999_text(cyclictest) == ">= 18 us"
    assert p9999_text({"p9999_us": None, "overflows": 0, "histogram": []}) == "-"


def test_smis_are_shown_only_where_the_counter_was_read():
    result = make_result(n_cpus=2)
    result["per_cpu"][0]["smi"] = 3
    text = report(result)
    assert text.count("| MSR_SMI_COUNT | SMIs during the run | 3 |") == 1
    assert text.count("MSR_SMI_COUNT") == 1, "the CPU whose counter is unknown shows none"
