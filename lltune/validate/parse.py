"""Readers of the measuring tools' output (pure functions: text in, dict out).

Each follows the printf formats of the tool's source, rt-tests 2.4 to 2.10 (src/cyclictest,
src/oslat, src/hwlatdetect, src/lib/rt-utils.c's rt_write_json) and rtla 6.1 and 6.12
(tools/tracing/rtla/src/osnoise_top.c, timerlat_top.c). Output a reader cannot use raises
ToolOutputError, never a bare exception: the caller records the tool as failed with its message.
"""

import json
import re
from typing import Any, Dict, Iterator, List, Optional, Tuple

from lltune.validate.stats import Histogram

# rt_write_json prints avg as "%.2f" of sum/cycles: 0/0 for a thread that never ran is glibc's
# "nan" or "-nan", which is not JSON (json.loads takes only NaN).
_NAN_VALUE = re.compile(r"(:\s*)-?nan\b")
# rtla 6.1 colours its header even when stdout is no terminal; later rtla (6.12) only on one.
_ANSI = re.compile(r"\x1b(\[[0-9;]*[A-Za-z]|c)")


class ToolOutputError(Exception):
    """A tool's output that cannot be read: which tool, and what was expected instead."""

    def __init__(self, tool: str, message: str):
        super().__init__("%s: %s" % (tool, message))
        self.tool = tool
        self.message = message


# ------------------------------------------------------------------ versions

# rt-tests print VERSION with "%1.2f" (display_help, oslat's main): 2.4 reads "2.40".
# rtla has no --version: its usage (rtla -h, --help, or any unknown word) says
# "rtla version <kernel version>".
_RT_TESTS_VERSION = r"V (\d+)\.(\d\d)\b"
_VERSION_PATTERNS = {
    "cyclictest": re.compile(r"^cyclictest " + _RT_TESTS_VERSION, re.M),
    "oslat": re.compile(r"^oslat " + _RT_TESTS_VERSION, re.M),
    "rtla": re.compile(r"rtla version (\d+(?:\.\d+)*)"),
}
# validate names the two rtla modes as tools of their own.
_VERSION_PATTERNS["osnoise"] = _VERSION_PATTERNS["timerlat"] = _VERSION_PATTERNS["rtla"]


def version(tool: str, text: str) -> Optional[str]:
    """The version `tool` states in `text` (its --help or --version output), or None.

    hwlatdetect states none (its version = "0.8" is never printed): None. rt-tests' "%1.2f"
    makes 2.1 and 2.10 both "2.10"; it is read as 2.10, the release in the supported range.
    A build from the v2.9 tag says 2.80 (its Makefile was not bumped), and reads as 2.8.
    """
    pattern = _VERSION_PATTERNS.get(tool)
    found = pattern.search(text) if pattern else None
    if not found:
        return None
    if pattern.groups == 1:
        return found.group(1)
    major, minor = found.groups()
    if minor.endswith("0") and minor != "10":
        minor = minor[0]
    return "%s.%s" % (major, minor)


# ------------------------------------------------------------------ cyclictest --json

# cyclictest's -h takes its bucket count as the option argument (getopt "h:").
_HISTOGRAM_OPTION = re.compile(r"(?:^|\s)(?:-h\s*|--histogram[=\s]\s*)\d")


def _json_document(tool: str, text: str) -> Dict[str, Any]:
    try:
        document = json.loads(_NAN_VALUE.sub(r"\1null", text))
    except ValueError as exc:
        raise ToolOutputError(tool, "the --json file is not JSON (%s)" % exc) from None
    if not isinstance(document, dict) or not isinstance(document.get("thread"), dict):
        raise ToolOutputError(tool, "the --json file has no \"thread\" object")
    return document


def _number(tool: str, thread: Dict[str, Any], key: str, where: str) -> Any:
    value = thread.get(key)
    if value is None and key == "avg":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ToolOutputError(tool, "%s has no number %r" % (where, key))
    return value


def _bucket_pairs(tool: str, buckets: Any, where: str) -> List[Tuple[float, int]]:
    if not isinstance(buckets, dict):
        raise ToolOutputError(tool, "%s: \"histogram\" is not an object" % where)
    pairs = []
    for label, count in buckets.items():
        try:
            value = float(label)
        except ValueError:
            raise ToolOutputError(tool, "%s: histogram bucket %r is not a number"
                                  % (where, label)) from None
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ToolOutputError(tool, "%s: bucket %s holds %r, not a count"
                                  % (where, label, count))
        if count:
            pairs.append((value, count))
    return sorted(pairs)


def _to_us_buckets(pairs: List[Tuple[float, int]], divisor: int) -> Histogram:
    """Buckets of `divisor` units merged into 1 us buckets (bucket b holds [b, b+1) us)."""
    merged: Dict[int, int] = {}
    for value, count in pairs:
        bucket = int(value // divisor)
        merged[bucket] = merged.get(bucket, 0) + count
    return sorted(merged.items())


def _cpu_of(tool: str, thread: Dict[str, Any], where: str, seen: Dict[int, Any]) -> int:
    cpu = _number(tool, thread, "cpu", where)
    if not isinstance(cpu, int) or cpu < 0:
        raise ToolOutputError(tool, "%s ran on no single CPU (cpu %r): run it pinned "
                              "(cyclictest -a, oslat --cpu-list)" % (where, cpu))
    if cpu in seen:
        raise ToolOutputError(tool, "two threads report CPU %d" % cpu)
    return cpu


def _thread_objects(tool: str, document: Dict[str, Any]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """("thread N", its object) of an rt-tests JSON document, in key order."""
    for index, thread in sorted(document["thread"].items()):
        where = "thread %s" % index
        if not isinstance(thread, dict):
            raise ToolOutputError(tool, "%s is not an object" % where)
        yield where, thread


def cyclictest_json(text: str) -> Dict[int, Dict[str, Any]]:
    """{cpu: {"samples", "min_us", "avg_us", "max_us", "histogram", "overflows"}} from the file
    cyclictest --json=FILE writes (write_stats, rt-tests 2.4 .. 2.10).

    The JSON has no overflow count: it is cycles minus the histogram's samples when -h was
    given (2.4-2.6 print an empty "histogram" without -h, 2.7+ none). With -N
    ("resolution_in_ns": 1) every value is in ns and is brought to us here.
    """
    tool = "cyclictest"
    document = _json_document(tool, text)
    divisor = 1000 if document.get("resolution_in_ns") == 1 else 1
    histogram_given = bool(_HISTOGRAM_OPTION.search(str(document.get("cmdline:", ""))))
    parsed: Dict[int, Dict[str, Any]] = {}
    for where, thread in _thread_objects(tool, document):
        cpu = _cpu_of(tool, thread, where, parsed)
        cycles = _number(tool, thread, "cycles", where)
        pairs = _bucket_pairs(tool, thread.get("histogram", {}), where)
        histogram = _to_us_buckets(pairs, divisor)
        in_buckets = sum(count for _bucket, count in histogram)
        # write_stats runs before the threads are joined: a last cycle can land between its
        # read of the buckets and of "cycles", so the difference is clamped at zero.
        overflows = max(0, cycles - in_buckets) if (pairs or histogram_given) else 0
        avg = _number(tool, thread, "avg", where)
        parsed[cpu] = {
            "samples": cycles,
            # min starts at 1000000 and max at 0: no cycle leaves them unset, not measured.
            "min_us": _number(tool, thread, "min", where) // divisor if cycles else None,
            "avg_us": avg / divisor if avg is not None and cycles else None,
            "max_us": _number(tool, thread, "max", where) // divisor if cycles else None,
            "histogram": histogram,
            "overflows": overflows,
        }
    if not parsed:
        raise ToolOutputError(tool, "the --json file lists no thread")
    return parsed


# ------------------------------------------------------------------ oslat

# oslat labels bucket j with its upper bound, bias + (j + 1) * width (1 us by default):
# "001 (us)" holds latencies in [0, 1) us, our bucket 0. Its last bucket also holds every
# latency above it: those are this reader's overflows.
_OSLAT_DEFAULT_BUCKETS = 32
_OSLAT_STAT_ROWS = {"Minimum": "min_us", "Average": "avg_us", "Maximum": "max_us"}
_OSLAT_BUCKET_LABEL = re.compile(r"^(\d+(?:\.\d+)?) \(us\)$")
_OSLAT_BUCKETS_OPTION = re.compile(r"(?:^|\s)(?:-b\s*|--bucket-size[=\s]\s*)(\d+)")
# With a bias (-B) or another bucket width (-W, 2.5+) the labels are no 1 us buckets from 0.
_OSLAT_SHIFTED_BUCKETS = re.compile(r"(?:^|\s)(?:-B|--bias|-W|--bucket-width)\b")


def _oslat_histogram(labelled: List[Tuple[float, int]], last_label: Optional[float]
                     ) -> Tuple[Histogram, Optional[int]]:
    """(histogram, overflows) from (label, count) pairs; ([], None) when the labels are not
    1 us buckets (a -W width below 1 us prints them with decimals)."""
    if any(label != int(label) for label, _count in labelled) or last_label is None:
        return [], None
    histogram = [(int(label) - 1, count) for label, count in labelled
                 if count and label < last_label]
    overflows = sum(count for label, count in labelled if label >= last_label)
    return histogram, overflows


def _float_or_none(word: str) -> Optional[float]:
    value = float(word)
    return None if value != value else value  # an average of no samples prints nan


def _oslat_rows(text: str) -> Dict[str, List[str]]:
    """{row label: its value words} of write_summary's "%12s:\\t %v %v ...%s" rows."""
    rows = {}
    for line in text.splitlines():
        label, separator, rest = line.partition(":\t")
        if separator:
            rows[label.strip()] = rest.split()
    return rows


def _oslat_text(text: str) -> Dict[int, Dict[str, Any]]:
    tool = "oslat"
    rows = _oslat_rows(text)
    if "Core" not in rows or not all(label in rows for label in _OSLAT_STAT_ROWS):
        raise ToolOutputError(tool, "no summary (its Core:, Minimum:, Average: and Maximum: "
                              "rows): did the run end early?")
    try:
        cores = [int(word) for word in rows["Core"]]
        values = {key: [_float_or_none(word) for word in rows[label][:len(cores)]]
                  for label, key in _OSLAT_STAT_ROWS.items()}
        buckets = []
        for label, words in rows.items():
            matched = _OSLAT_BUCKET_LABEL.match(label)
            if matched:
                buckets.append((float(matched.group(1)), [int(word) for word in
                                                          words[:len(cores)]], words))
    except ValueError as exc:
        raise ToolOutputError(tool, "a summary value is not a number (%s)" % exc) from None
    if any(len(column) != len(cores) for column in values.values()) or any(
            len(counts) != len(cores) for _label, counts, _words in buckets):
        raise ToolOutputError(tool, "a summary row has not one value per core (%d)"
                              % len(cores))
    last = [label for label, _counts, words in buckets if "(including" in words]
    parsed = {}
    for index, cpu in enumerate(cores):
        histogram, overflows = _oslat_histogram(
            [(label, counts[index]) for label, counts, _words in buckets],
            last[0] if last else None)
        parsed[cpu] = {key: column[index] for key, column in values.items()}
        parsed[cpu].update(histogram=histogram, overflows=overflows)
    return parsed


def _oslat_json(text: str) -> Dict[int, Dict[str, Any]]:
    tool = "oslat"
    document = _json_document(tool, text)
    cmdline = str(document.get("cmdline:", ""))
    option = _OSLAT_BUCKETS_OPTION.search(cmdline)
    last_label = None if _OSLAT_SHIFTED_BUCKETS.search(cmdline) else float(
        option.group(1) if option else _OSLAT_DEFAULT_BUCKETS)
    parsed: Dict[int, Dict[str, Any]] = {}
    for where, thread in _thread_objects(tool, document):
        cpu = _cpu_of(tool, thread, where, parsed)
        histogram, overflows = _oslat_histogram(
            _bucket_pairs(tool, thread.get("histogram", {}), where), last_label)
        avg = _number(tool, thread, "avg", where)
        parsed[cpu] = {"min_us": float(_number(tool, thread, "min", where)),
                       "avg_us": None if avg is None else float(avg),
                       "max_us": float(_number(tool, thread, "max", where)),
                       "histogram": histogram, "overflows": overflows}
    if not parsed:
        raise ToolOutputError(tool, "the --json file lists no thread")
    return parsed


def oslat(text: str) -> Dict[int, Dict[str, Any]]:
    """{cpu: {"min_us", "avg_us", "max_us", "histogram", "overflows"}} from oslat's stdout
    summary or its --json file (rt-tests 2.4 .. 2.10; both exist in every one of them).

    min/max are oslat's own: 2.4 reports floor + 1 us, 2.5-2.6 the latency rounded up, 2.7+
    rounded down; the histogram is the same in all. In the JSON the overflow bucket is found
    from the command line's -b (32 without), so a JSON of a run with -B or -W keeps no
    histogram.
    """
    if text.lstrip().startswith("{"):
        return _oslat_json(text)
    return _oslat_text(text)


# ------------------------------------------------------------------ hwlatdetect

_HWLAT_FIELDS = {
    "samples": re.compile(r"^Samples recorded: (\d+)", re.M),
    "exceeding": re.compile(r"^Samples exceeding threshold: (\d+)", re.M),
    "max_us": re.compile(r"^Max Latency: (\d+)us", re.M),
    "threshold_us": re.compile(r"^\s*Latency threshold: (\d+)us", re.M),
    "window_us": re.compile(r"^\s*Sample window: +(\d+)us", re.M),
    "width_us": re.compile(r"^\s*Sample width: +(\d+)us", re.M),
}
_HWLAT_REQUIRED = ("samples", "exceeding")


def hwlatdetect(text: str) -> Dict[str, Optional[int]]:
    """{"samples", "max_us", "threshold_us", "width_us", "window_us", "exceeding"} from
    hwlatdetect's report (run without --quiet, which silences it; rt-tests 2.4 .. 2.10).

    max_us is None for "Max Latency: Below threshold". "exceeding" is the sample count until
    2.9 and, from 2.10, the sum of the kernel's per-sample count fields.
    """
    found: Dict[str, Optional[int]] = {}
    for key, pattern in _HWLAT_FIELDS.items():
        matched = pattern.search(text)
        found[key] = int(matched.group(1)) if matched else None
    if any(found[key] is None for key in _HWLAT_REQUIRED) or not re.search(
            r"^Max Latency: ", text, re.M):
        raise ToolOutputError("hwlatdetect", "no report (its Max Latency:, Samples recorded: "
                              "and Samples exceeding threshold: lines): run without --quiet")
    return found


# ------------------------------------------------------------------ rtla top

# osnoise_top_print: "%3d #%-6d %12llu " cpu, periods, runtime; noise; "  %3d.%05d" %
# available; max noise, max single; hw, nmi; then (not in hwnoise mode) irq, softirq, thread.
_OSNOISE_COLUMNS = ("runtime_us", "noise_us", "percent_available", "max_noise_us",
                    "max_single_us", "hw", "nmi", "irq", "softirq", "thread")
_OSNOISE_HWNOISE_COLUMNS = 7
_RTLA_ROW = re.compile(r"^\s*(\d+) #(\d+)\s*(.*)$")
# timerlat_top_print: "%3d #%-9llu |" cpu, irq count; then "|"-separated groups of cur, min,
# avg, max (each "%9llu" or "        -" when that context saw nothing): IRQ, thread and, with
# user-space threads (-u; rtla's default in later versions), the return to user space.
_TIMERLAT_GROUPS = ("irq", "thread", "user")
_TIMERLAT_STATS = ("cur", "min", "avg", "max")
_TIMERLAT_UNIT = re.compile(r"IRQ Timer Latency \((us|ns)\)")


def _rtla_lines(text: str) -> List[str]:
    return _ANSI.sub("", text).splitlines()


def _osnoise_value(key: str, word: str) -> Any:
    return float(word) if key == "percent_available" else int(word)


def osnoise_top(text: str) -> Dict[int, Dict[str, Any]]:
    """{cpu: {"periods", "runtime_us", "noise_us", "percent_available", "max_noise_us",
    "max_single_us", "hw", "nmi", "irq", "softirq", "thread"}} from `rtla osnoise top -q`
    (rtla 6.1 .. 6.12; the counts are interference events, the rest us). A CPU with no
    runtime is not printed by rtla, so it is absent here."""
    lines = _rtla_lines(text)
    if not any(line.startswith("CPU Period") for line in lines):
        raise ToolOutputError("osnoise", "no osnoise top table (its \"CPU Period\" header)")
    parsed: Dict[int, Dict[str, Any]] = {}
    for line in lines:
        matched = _RTLA_ROW.match(line)
        if not matched:
            continue
        words = matched.group(3).split()
        if len(words) not in (_OSNOISE_HWNOISE_COLUMNS, len(_OSNOISE_COLUMNS)):
            raise ToolOutputError("osnoise", "CPU %s's row has %d values, not %d"
                                  % (matched.group(1), len(words), len(_OSNOISE_COLUMNS)))
        row: Dict[str, Any] = dict.fromkeys(_OSNOISE_COLUMNS)  # hwnoise has no irq..thread
        try:
            row.update((key, _osnoise_value(key, word))
                       for key, word in zip(_OSNOISE_COLUMNS, words))
        except ValueError:
            raise ToolOutputError("osnoise", "CPU %s's row has a word that is no number: %r"
                                  % (matched.group(1), line)) from None
        row["periods"] = int(matched.group(2))
        parsed[int(matched.group(1))] = row
    return parsed


def _timerlat_value(word: str, divisor: int) -> Optional[float]:
    if word == "-":
        return None
    return int(word) / divisor if divisor != 1 else int(word)


def timerlat_top(text: str) -> Dict[int, Dict[str, Any]]:
    """{cpu: {"irq_count", "irq_cur_us", "irq_min_us", "irq_avg_us", "irq_max_us",
    "thread_cur_us" ... "thread_max_us"[, "user_cur_us" ... "user_max_us"]}} from
    `rtla timerlat top -q` (rtla 6.1 .. 6.12). None where rtla prints "-" (no sample in that
    context); with -n (ns) the values are brought to us. The ALL summary row (later rtla,
    6.12 has it) is left out: it is the CPUs' rows summed."""
    lines = _rtla_lines(text)
    unit = next((found.group(1) for found in map(_TIMERLAT_UNIT.search, lines) if found), None)
    if unit is None:
        raise ToolOutputError("timerlat", "no timerlat top table (its \"IRQ Timer Latency\" "
                              "header)")
    divisor = 1000 if unit == "ns" else 1
    parsed: Dict[int, Dict[str, Any]] = {}
    for line in lines:
        matched = _RTLA_ROW.match(line)
        if not matched:
            continue
        groups = [group.split() for group in matched.group(3).split("|")[1:]]
        if not 2 <= len(groups) <= 3 or any(len(words) != 4 for words in groups):
            raise ToolOutputError("timerlat", "CPU %s's row is not groups of cur, min, avg, "
                                  "max: %r" % (matched.group(1), line))
        row: Dict[str, Any] = {"irq_count": int(matched.group(2))}
        try:
            for name, words in zip(_TIMERLAT_GROUPS, groups):
                for stat, word in zip(_TIMERLAT_STATS, words):
                    row["%s_%s_us" % (name, stat)] = _timerlat_value(word, divisor)
        except ValueError:
            raise ToolOutputError("timerlat", "CPU %s's row has a word that is no number: %r"
                                  % (matched.group(1), line)) from None
        parsed[int(matched.group(1))] = row
    return parsed
