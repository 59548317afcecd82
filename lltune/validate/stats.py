"""Percentiles and a summary of a latency histogram (pure functions, no numpy).

A histogram is sorted (latency_us, count) pairs, count > 0 only; bucket b holds the samples in
[b, b+1) us. Overflows are the samples above the last bucket: they count towards every
fraction, but where in the tail they lie is unknown.
"""

from fractions import Fraction
from typing import Any, Dict, List, Optional, Tuple

Histogram = List[Tuple[int, int]]


def percentile(histogram: Histogram, overflows: int, fraction: float) -> Optional[float]:
    """The smallest bucket value b with at least `fraction` of all samples <= b (the bucket's
    lower bound is reported: cyclictest's values are whole us, so b is the sample's value).

    None when there is no sample, or when the percentile lies among the overflows (the caller
    says ">= N us").
    """
    if not 0 <= fraction <= 1:
        raise ValueError("fraction %r is not within [0, 1]" % fraction)
    total = sum(count for _value, count in histogram) + overflows
    if not total:
        return None
    # Exact: in floats 0.55 * 100 is 55.00000000000001, which would move the answer a bucket.
    needed = Fraction(str(fraction)) * total
    seen = 0
    for value, count in histogram:
        seen += count
        if seen >= needed:
            return value
    return None


def summary(histogram: Histogram, overflows: int) -> Dict[str, Any]:
    """{"samples", "min_us", "max_us", "avg_us", "p99_us", "p9999_us", "overflows"}.

    min/max/avg are those of the histogram; with overflows the maximum and the mean are not
    known from it (None: the tool's own max and avg cover them).
    """
    in_buckets = sum(count for _value, count in histogram)
    exact = not overflows and bool(histogram)
    return {
        "samples": in_buckets + overflows,
        "min_us": histogram[0][0] if histogram else None,
        "max_us": histogram[-1][0] if exact else None,
        "avg_us": sum(value * count for value, count in histogram) / in_buckets
        if exact else None,
        "p99_us": percentile(histogram, overflows, 0.99),
        "p9999_us": percentile(histogram, overflows, 0.9999),
        "overflows": overflows,
    }
