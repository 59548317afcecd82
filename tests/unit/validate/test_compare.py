"""compare(): per CPU and tool, whether the worst case and p99.99 got better or worse."""

import copy

from lltune.validate.compare import compare
from tests.unit.validate.results import make_result


def _row(comparison, cpu, tool):
    rows = [row for row in comparison["cpus"] if row["cpu"] == cpu and row["tool"] == tool]
    assert len(rows) == 1, comparison["cpus"]
    return rows[0]


def test_names_both_results_by_id():
    comparison = compare(make_result(run_id="A"), make_result(run_id="B"))
    assert (comparison["before"], comparison["after"]) == ("A", "B")


def test_one_row_per_cpu_and_compared_tool_in_cpu_order():
    comparison = compare(make_result(n_cpus=2, first_cpu=2), make_result(n_cpus=2, first_cpu=2))
    assert [(row["cpu"], row["tool"]) for row in comparison["cpus"]] == [
        (2, "cyclictest"), (2, "oslat"), (3, "cyclictest"), (3, "oslat")]


def test_higher_max_and_p9999_after_is_worse_with_the_changes():
    row = _row(compare(make_result(), make_result(shift_us=5)), 2, "cyclictest")
    assert (row["before_max_us"], row["after_max_us"], row["max_change_us"]) == (42, 47, 5)
    assert (row["before_p9999_us"], row["after_p9999_us"], row["p9999_change_us"]) == (8, 13, 5)
    assert row["verdict"] == "worse"


def test_lower_after_is_better_with_negative_changes():
    row = _row(compare(make_result(shift_us=5), make_result()), 2, "cyclictest")
    assert (row["max_change_us"], row["p9999_change_us"], row["verdict"]) == (-5, -5, "better")


def test_a_change_of_one_microsecond_is_the_same():
    row = _row(compare(make_result(), make_result(shift_us=1)), 2, "cyclictest")
    assert (row["max_change_us"], row["verdict"]) == (1, "same")


def test_a_change_just_over_one_microsecond_is_not_the_same():
    """oslat reports fractions: 1.25 us is over the tolerance."""
    before, after = make_result(), make_result()
    after["per_cpu"][0]["oslat"]["max_us"] += 1.25
    row = _row(compare(before, after), 2, "oslat")
    assert (row["max_change_us"], row["verdict"]) == (1.25, "worse")


def test_a_worse_max_outweighs_a_better_p9999():
    before, after = make_result(), make_result()
    after["per_cpu"][0]["cyclictest"]["max_us"] += 10
    after["per_cpu"][0]["cyclictest"]["p9999_us"] -= 3
    assert _row(compare(before, after), 2, "cyclictest")["verdict"] == "worse"


def test_oslat_rows_have_no_p9999():
    row = _row(compare(make_result(), make_result()), 2, "oslat")
    assert (row["before_p9999_us"], row["after_p9999_us"], row["p9999_change_us"]) == (
        None, None, None)
    assert (row["before_max_us"], row["after_max_us"], row["verdict"]) == (12.25, 12.25, "same")


def test_an_unknown_p9999_on_one_side_leaves_its_change_unknown():
    before, after = make_result(), make_result(shift_us=5)
    after["per_cpu"][0]["cyclictest"]["p9999_us"] = None
    row = _row(compare(before, after), 2, "cyclictest")
    assert (row["p9999_change_us"], row["max_change_us"], row["verdict"]) == (None, 5, "worse")


def test_a_cpu_measured_only_before_is_only_before():
    comparison = compare(make_result(n_cpus=2, first_cpu=2), make_result(n_cpus=1, first_cpu=2))
    row = _row(comparison, 3, "cyclictest")
    assert (row["verdict"], row["before_max_us"], row["after_max_us"], row["max_change_us"]) == (
        "only-before", 43, None, None)
    assert _row(comparison, 3, "oslat")["verdict"] == "only-before"


def test_a_cpu_measured_only_after_is_only_after():
    comparison = compare(make_result(n_cpus=1, first_cpu=2), make_result(n_cpus=2, first_cpu=2))
    row = _row(comparison, 3, "cyclictest")
    assert (row["verdict"], row["before_max_us"], row["after_max_us"]) == ("only-after", None, 43)


def test_a_tool_missing_on_one_side_is_only_that_side():
    before, after = make_result(), make_result()
    before["per_cpu"][0]["oslat"] = None
    after["per_cpu"][1]["cyclictest"] = None
    comparison = compare(before, after)
    assert _row(comparison, 2, "oslat")["verdict"] == "only-after"
    assert _row(comparison, 3, "cyclictest")["verdict"] == "only-before"
    assert _row(comparison, 2, "cyclictest")["verdict"] == "same"


def test_a_tool_missing_on_both_sides_has_no_row():
    before, after = make_result(), make_result()
    before["per_cpu"][0]["oslat"] = after["per_cpu"][0]["oslat"] = None
    assert [row["tool"] for row in compare(before, after)["cpus"] if row["cpu"] == 2] == [
        "cyclictest"]


def test_leaves_both_results_unchanged():
    before, after = make_result(), make_result(n_cpus=3, shift_us=4)
    kept = copy.deepcopy((before, after))
    compare(before, after)
    assert (before, after) == kept
