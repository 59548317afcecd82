"""lltune.validate.stats: percentiles over (us, count) buckets with overflows above them."""

import pytest

from lltune.validate.stats import percentile, summary


def test_percentile_is_the_smallest_bucket_holding_the_fraction():
    histogram = [(3, 50), (4, 40), (9, 10)]
    assert percentile(histogram, 0, 0.5) == 3
    assert percentile(histogram, 0, 0.51) == 4
    assert percentile(histogram, 0, 0.9) == 4
    assert percentile(histogram, 0, 0.91) == 9
    assert percentile(histogram, 0, 1) == 9


def test_percentile_rank_is_exact_where_float_products_are_not():
    """0.55 * 100 is 55.00000000000001 in floats: the 55th sample would not be enough."""
    histogram = [(2, 55), (9, 45)]
    assert percentile(histogram, 0, 0.55) == 2


def test_percentile_counts_overflows_as_above_every_bucket():
    histogram = [(3, 98), (4, 1)]
    assert percentile(histogram, 1, 0.99) == 4
    assert percentile(histogram, 1, 0.995) is None  # among the overflows: the caller says >=


def test_percentile_of_no_samples_is_none():
    assert percentile([], 0, 0.99) is None


def test_percentile_of_only_overflows_is_none():
    assert percentile([], 5, 0.5) is None


@pytest.mark.parametrize("fraction", [-0.1, 1.5])
def test_percentile_refuses_a_fraction_outside_0_1(fraction):
    with pytest.raises(ValueError):
        percentile([(1, 1)], 0, fraction)


def test_summary_of_a_histogram_without_overflows():
    histogram = [(3, 9000), (4, 900), (5, 99), (40, 1)]
    assert summary(histogram, 0) == {
        "samples": 10000, "min_us": 3, "max_us": 40,
        "avg_us": (3 * 9000 + 4 * 900 + 5 * 99 + 40) / 10000,
        "p99_us": 4, "p9999_us": 5, "overflows": 0}


def test_summary_with_overflows_leaves_max_and_mean_unknown():
    result = summary([(3, 9990)], 10)
    assert result["samples"] == 10000
    assert result["min_us"] == 3
    assert (result["max_us"], result["avg_us"]) == (None, None)
    assert result["p99_us"] == 3
    assert result["p9999_us"] is None
    assert result["overflows"] == 10


def test_summary_of_nothing():
    assert summary([], 0) == {"samples": 0, "min_us": None, "max_us": None, "avg_us": None,
                              "p99_us": None, "p9999_us": None, "overflows": 0}
