"""lltune.validate.parse over fixtures that follow each tool's printf formats (fixtures/README)
and over broken output, which must raise ToolOutputError and nothing else."""

import json
import os

import pytest

from lltune.validate import parse
from lltune.validate.parse import ToolOutputError

FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as handle:
        return handle.read()


# ------------------------------------------------------------------ versions


@pytest.mark.parametrize("tool, text, expected", [
    ("cyclictest", "cyclictest V 2.40\nUsage:\ncyclictest <options>\n", "2.4"),
    ("cyclictest", "cyclictest V 2.60\nUsage:\n", "2.6"),
    ("cyclictest", "cyclictest V 2.10\nUsage:\n", "2.10"),
    ("oslat", "oslat V 2.70\n", "2.7"),
    ("osnoise", "\nrtla version 6.1.0\n\n  usage: rtla COMMAND ...\n", "6.1.0"),
    ("timerlat", "\nrtla version 6.12.38\n\n  usage: rtla COMMAND ...\n", "6.12.38"),
    ("rtla", "\nrtla version 6.12.38\n", "6.12.38"),
])
def test_version_reads_the_line_each_tool_prints(tool, text, expected):
    assert parse.version(tool, text) == expected


def test_version_is_none_for_hwlatdetect_which_prints_none():
    assert parse.version("hwlatdetect", "usage: hwlatdetect [-h] [--duration DURATION]\n") is None


def test_version_is_none_when_the_line_is_absent_or_the_tool_unknown():
    assert parse.version("cyclictest", "cyclictest: command not found\n") is None
    assert parse.version("oslat", "cyclictest V 2.40\n") is None
    assert parse.version("stress-ng", "stress-ng, version 0.15\n") is None


# ------------------------------------------------------------------ cyclictest


def test_cyclictest_2_4_keys_threads_by_cpu_and_counts_overflows():
    parsed = parse.cyclictest_json(fixture("cyclictest-2.4.json"))
    assert sorted(parsed) == [2, 3]
    assert parsed[2] == {
        "samples": 10000, "min_us": 3, "avg_us": 4.26, "max_us": 41,
        "histogram": [(3, 120), (4, 8000), (5, 1500), (6, 360), (7, 15), (9, 4), (41, 1)],
        "overflows": 0}
    # 9998 of CPU 3's 10000 cycles are in buckets: 2 were above the 10000 us histogram.
    assert parsed[3]["overflows"] == 2
    assert parsed[3]["max_us"] == 12873
    assert parsed[3]["histogram"][-1] == (250, 1)


def test_cyclictest_nan_average_of_a_thread_with_no_cycles_is_none():
    parsed = parse.cyclictest_json(fixture("cyclictest-2.9-nan.json"))
    assert parsed[3] == {"samples": 0, "min_us": None, "avg_us": None, "max_us": None,
                         "histogram": [], "overflows": 0}
    assert parsed[2]["avg_us"] == 4.26


def test_cyclictest_plain_nan_is_read_as_well_as_minus_nan():
    text = fixture("cyclictest-2.9-nan.json").replace('"avg": -nan', '"avg": nan')
    assert parse.cyclictest_json(text)[3]["avg_us"] is None


@pytest.mark.parametrize("name", ["cyclictest-2.6-no-histogram.json",
                                  "cyclictest-2.7-no-histogram.json"])
def test_cyclictest_without_histogram_option_has_no_overflows(name):
    parsed = parse.cyclictest_json(fixture(name))
    assert parsed[2]["histogram"] == []
    assert parsed[2]["overflows"] == 0
    assert parsed[2]["samples"] == 10000


def test_cyclictest_with_histogram_option_and_no_bucket_counts_every_cycle_as_overflow():
    """2.4-2.6 print an empty histogram object with or without -h: the command line tells."""
    text = fixture("cyclictest-2.6-no-histogram.json").replace(
        "--duration=10", "--duration=10 --histogram=10")
    assert parse.cyclictest_json(text)[2]["overflows"] == 10000


def test_cyclictest_nanosecond_run_is_brought_to_microsecond_buckets():
    parsed = parse.cyclictest_json(fixture("cyclictest-2.7-nsecs.json"))
    assert parsed[2] == {"samples": 70, "min_us": 3, "avg_us": pytest.approx(4.1005),
                         "max_us": 12, "histogram": [(3, 30), (4, 30), (9, 5)],
                         "overflows": 5}


def test_cyclictest_overflows_never_go_negative_when_a_cycle_races_the_writer():
    document = json.loads(fixture("cyclictest-2.4.json"))
    document["thread"]["0"]["cycles"] = 9999  # one bucketed sample not yet counted as a cycle
    assert parse.cyclictest_json(json.dumps(document))[2]["overflows"] == 0


def test_cyclictest_unpinned_thread_is_refused():
    document = json.loads(fixture("cyclictest-2.4.json"))
    document["thread"]["0"]["cpu"] = -1
    with pytest.raises(ToolOutputError, match="no single CPU"):
        parse.cyclictest_json(json.dumps(document))


def test_cyclictest_two_threads_on_one_cpu_are_refused():
    document = json.loads(fixture("cyclictest-2.4.json"))
    document["thread"]["1"]["cpu"] = 2
    with pytest.raises(ToolOutputError, match="two threads report CPU 2"):
        parse.cyclictest_json(json.dumps(document))


@pytest.mark.parametrize("text, message", [
    ("", "not JSON"),
    ('{"file_version": 1, "cmdline:": "cyclictest -"', "not JSON"),  # cut short
    ("[]", "no \"thread\" object"),
    ('{"thread": {}}', "lists no thread"),
    ('{"thread": {"0": []}}', "thread 0 is not an object"),
    ('{"thread": {"0": {"cpu": 2, "min": 1, "max": 2, "avg": 1.0}}}', "no number 'cycles'"),
    ('{"thread": {"0": {"cpu": 2, "cycles": 1, "min": 1, "max": 2, "avg": 1.0,'
     ' "histogram": {"x": 1}}}}', "bucket 'x' is not a number"),
    ('{"thread": {"0": {"cpu": 2, "cycles": 1, "min": 1, "max": 2, "avg": 1.0,'
     ' "histogram": {"1": -3}}}}', "not a count"),
])
def test_cyclictest_unreadable_json_raises_tool_output_error(text, message):
    with pytest.raises(ToolOutputError, match=message) as raised:
        parse.cyclictest_json(text)
    assert raised.value.tool == "cyclictest"


# ------------------------------------------------------------------ oslat


def test_oslat_2_4_text_takes_the_last_bucket_as_overflows():
    parsed = parse.oslat(fixture("oslat-2.4.txt"))
    assert sorted(parsed) == [2, 3]
    # Label "002 (us)" is bucket 1 ([1, 2) us); 2.4 reports min/max as floor + 1.
    assert parsed[2] == {"min_us": 2.0, "avg_us": 2.086, "max_us": 7.0,
                         "histogram": [(1, 9100000), (2, 850000), (3, 1200), (4, 30), (6, 2)],
                         "overflows": 0}
    assert parsed[3]["overflows"] == 3
    assert parsed[3]["max_us"] == 4711.0
    assert parsed[3]["histogram"][-1] == (5, 11)


def test_oslat_2_7_text_with_omitted_zero_buckets_reads_the_same_histogram():
    parsed = parse.oslat(fixture("oslat-2.7-zero-omit.txt"))
    assert parsed[2]["histogram"] == [(1, 9100000), (2, 850000), (3, 1200), (4, 30), (6, 2)]
    assert parsed[3]["overflows"] == 3
    assert (parsed[2]["min_us"], parsed[2]["max_us"]) == (1.0, 6.0)


def test_oslat_json_finds_the_overflow_bucket_from_the_default_bucket_count():
    parsed = parse.oslat(fixture("oslat-2.6.json"))
    assert parsed[2] == {"min_us": 1.0, "avg_us": 1.086, "max_us": 6.0,
                         "histogram": [(1, 9100000), (2, 850000), (3, 1200), (4, 30), (6, 2)],
                         "overflows": 0}
    assert parsed[3]["overflows"] == 3
    assert parsed[3]["histogram"][-1] == (5, 11)


def test_oslat_json_reads_the_bucket_count_from_the_command_line():
    text = fixture("oslat-2.6.json").replace("--duration=10s", "--duration=10s -b 16")
    parsed = parse.oslat(text)
    assert parsed[3]["overflows"] == 3  # the "32" bucket is above 16 too
    text = fixture("oslat-2.6.json").replace("--duration=10s", "--duration=10s --bucket-size=7")
    assert parse.oslat(text)[2]["overflows"] == 2  # label 7 is the last bucket now
    assert parse.oslat(text)[2]["histogram"][-1] == (4, 30)


def test_oslat_json_of_a_biased_run_keeps_no_histogram():
    text = fixture("oslat-2.6.json").replace("--duration=10s", "--duration=10s -B")
    parsed = parse.oslat(text)
    assert parsed[2]["histogram"] == [] and parsed[2]["overflows"] is None
    assert parsed[2]["max_us"] == 6.0


def test_oslat_nanosecond_labels_keep_no_histogram():
    text = fixture("oslat-2.7-zero-omit.txt").replace("    002 (us):", "  0.500 (us):")
    parsed = parse.oslat(text)
    assert parsed[2]["histogram"] == [] and parsed[2]["overflows"] is None


def test_oslat_nan_average_is_none():
    text = fixture("oslat-2.4.txt").replace(" 2.086 2.103 (us)", " -nan 2.103 (us)")
    assert parse.oslat(text)[2]["avg_us"] is None


@pytest.mark.parametrize("text, message", [
    ("", "no summary"),
    ("oslat V 2.40\nPre-heat for 1 seconds...\nTest starts...\n", "no summary"),
    ("        Core:\t 2 3\n     Minimum:\t 1 (us)\n     Average:\t 1.0 1.0 (us)\n"
     "     Maximum:\t 2 2 (us)\n", "not a number"),
    ("        Core:\t 2 3\n     Minimum:\t 1 1 (us)\n     Average:\t 1.0 1.0 (us)\n"
     "     Maximum:\t 2 2 (us)\n    001 (us):\t 5\n", "one value per core"),
    ("        Core:\t two\n     Minimum:\t 1 (us)\n     Average:\t 1.0 (us)\n"
     "     Maximum:\t 2 (us)\n", "not a number"),
    ('{"thread": {"0": {"cpu": 2, "min": 1, "avg": 1.0, "histogram": {}}}}', "no number 'max'"),
])
def test_oslat_unreadable_output_raises_tool_output_error(text, message):
    with pytest.raises(ToolOutputError, match=message) as raised:
        parse.oslat(text)
    assert raised.value.tool == "oslat"


# ------------------------------------------------------------------ hwlatdetect


def test_hwlatdetect_2_4_report():
    assert parse.hwlatdetect(fixture("hwlatdetect-2.4.txt")) == {
        "samples": 3, "exceeding": 3, "max_us": 14, "threshold_us": 10,
        "window_us": 1000000, "width_us": 500000}


def test_hwlatdetect_below_threshold_has_no_max():
    assert parse.hwlatdetect(fixture("hwlatdetect-2.6-below-threshold.txt")) == {
        "samples": 0, "exceeding": 0, "max_us": None, "threshold_us": 10,
        "window_us": 1000000, "width_us": 500000}


@pytest.mark.parametrize("text", [
    "",
    "Traceback (most recent call last):\nDetectorNotAvailable: hwlat tracer not available\n",
    "Max Latency: 12us\nSamples recorded: 3\n",  # cut before the exceeding line
])
def test_hwlatdetect_without_its_report_raises_tool_output_error(text):
    with pytest.raises(ToolOutputError, match="no report") as raised:
        parse.hwlatdetect(text)
    assert raised.value.tool == "hwlatdetect"


# ------------------------------------------------------------------ rtla osnoise top


OSNOISE_CPU2 = {"periods": 10, "runtime_us": 9000000, "noise_us": 1234,
                "percent_available": 99.98628, "max_noise_us": 300, "max_single_us": 12,
                "hw": 0, "nmi": 0, "irq": 10012, "softirq": 3, "thread": 1}


@pytest.mark.parametrize("name", ["osnoise-top-6.1.txt", "osnoise-top-6.12.txt"])
def test_osnoise_top_rows_per_cpu_with_or_without_colour_escapes(name):
    parsed = parse.osnoise_top(fixture(name))
    assert sorted(parsed) == [2, 3]
    assert parsed[2] == OSNOISE_CPU2
    assert parsed[3]["hw"] == 1 and parsed[3]["percent_available"] == 99.9998


def test_osnoise_hwnoise_row_has_no_irq_columns():
    header = fixture("osnoise-top-6.12.txt").splitlines()[:3]
    row = ("  2 #10          9000000         1234    99.98628         300           12"
           "           0            0")
    parsed = parse.osnoise_top("\n".join(header + [row]) + "\n")
    assert parsed[2]["nmi"] == 0
    assert (parsed[2]["irq"], parsed[2]["softirq"], parsed[2]["thread"]) == (None, None, None)


@pytest.mark.parametrize("text, message", [
    ("", "no osnoise top table"),
    ("Could not init osnoise top\n", "no osnoise top table"),
    ("CPU Period       Runtime\n  2 #10          9000000         1234\n", "has 2 values"),
    ("CPU Period       Runtime\n  2 #10  a b c d e f g h i j\n", "no number"),
])
def test_osnoise_unreadable_output_raises_tool_output_error(text, message):
    with pytest.raises(ToolOutputError, match=message):
        parse.osnoise_top(text)


# ------------------------------------------------------------------ rtla timerlat top


def test_timerlat_6_1_two_groups_and_dashes_for_a_context_without_samples():
    parsed = parse.timerlat_top(fixture("timerlat-top-6.1.txt"))
    assert parsed[2] == {"irq_count": 10001,
                         "irq_cur_us": 1, "irq_min_us": 0, "irq_avg_us": 1, "irq_max_us": 9,
                         "thread_cur_us": 3, "thread_min_us": 2, "thread_avg_us": 3,
                         "thread_max_us": 21}
    assert parsed[3]["thread_max_us"] is None and parsed[3]["irq_max_us"] == 7


def test_timerlat_6_12_user_group_and_the_all_row_left_out():
    parsed = parse.timerlat_top(fixture("timerlat-top-6.12.txt"))
    assert sorted(parsed) == [2, 3]
    assert (parsed[2]["user_min_us"], parsed[2]["user_max_us"]) == (3, 25)
    assert parsed[3]["user_max_us"] is None
    assert parsed[3]["thread_max_us"] == 15


def test_timerlat_nanosecond_table_is_brought_to_microseconds():
    parsed = parse.timerlat_top(fixture("timerlat-top-6.12-nsecs.txt"))
    assert parsed[2]["irq_max_us"] == 9.5
    assert parsed[2]["thread_max_us"] == 21.999


@pytest.mark.parametrize("text, message", [
    ("", "no timerlat top table"),
    ("rtla needs root permission\n", "no timerlat top table"),
    ("CPU COUNT | IRQ Timer Latency (us)\n  2 #10 |  1 2 3 |  1 2 3 4\n", "groups of cur"),
    ("IRQ Timer Latency (us)\n  2 #10 |  1 2 3 x |  1 2 3 4\n", "no number"),
])
def test_timerlat_unreadable_output_raises_tool_output_error(text, message):
    with pytest.raises(ToolOutputError, match=message):
        parse.timerlat_top(text)


def test_tool_output_error_names_the_tool_and_what_was_expected():
    error = ToolOutputError("oslat", "no summary")
    assert str(error) == "oslat: no summary"
    assert (error.tool, error.message) == ("oslat", "no summary")
