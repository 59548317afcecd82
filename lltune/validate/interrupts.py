"""What interrupted each measured CPU: /proc/interrupts and /proc/softirqs read before and after
a run, and the counts that grew (pure functions over the files' text).

Both files have a header of CPU names (online CPUs only, so "CPU0 CPU2" when CPU 1 is offline)
and one row per source: "label:" then one count per header CPU, then (interrupts) the chip,
hardware IRQ and action names. Tolerant: a row that does not read is skipped, never fatal.
"""

from typing import Dict, Iterable, List, Tuple

Counts = Dict[str, Dict[int, int]]

# A count is a u64 at most (20 digits); a longer word is not one (and int() of a huge digit
# string is slow before Python 3.11).
_MAX_COUNT_DIGITS = 20


def _header_cpus(line: str) -> List[int]:
    return [int(word[3:]) for word in line.split()
            if word.startswith("CPU") and word[3:].isdigit() and len(word) <= 8]


def _is_count(word: str) -> bool:
    return word.isdigit() and len(word) <= _MAX_COUNT_DIGITS


def _rows(text: str) -> Tuple[List[int], List[Tuple[str, Dict[int, int], List[str]]]]:
    """(header CPUs, [(label, {cpu: count}, words after the counts)])."""
    lines = text.splitlines()
    cpus = _header_cpus(lines[0]) if lines else []
    rows = []
    for line in lines[1:] if cpus else []:
        label, separator, rest = line.partition(":")
        label = label.strip()
        if not separator or not label or " " in label:
            continue
        words = rest.split()
        used = 0
        while used < min(len(words), len(cpus)) and _is_count(words[used]):
            used += 1
        if used:
            # ERR and MIS have one count, not one per CPU: keyed with the CPUs they reach.
            rows.append((label, dict(zip(cpus, map(int, words[:used]))), words[used:]))
    return cpus, rows


def parse_interrupts(text: str) -> Counts:
    """{source: {cpu: count}} of /proc/interrupts: "24 virtio0-input.0" (the IRQ number and the
    row's last word, its last action) for a numbered IRQ, "LOC", "RES", ... for the others."""
    counts: Counts = {}
    for label, per_cpu, description in _rows(text)[1]:
        name = label
        if label.isdigit() and description:
            name = "%s %s" % (label, description[-1])
        counts[name] = per_cpu
    return counts


def parse_softirqs(text: str) -> Counts:
    """{softirq name: {cpu: count}} of /proc/softirqs ("TIMER", "NET_RX", "RCU", ...)."""
    return {label: per_cpu for label, per_cpu, _rest in _rows(text)[1]}


def delta(before: Counts, after: Counts, cpus: Iterable[int]) -> Dict[int, Dict[str, int]]:
    """{cpu: {source: increase}} for each of `cpus` (an empty dict when nothing grew). A source
    missing before (an IRQ requested during the run) counts from 0; a count that went down (the
    IRQ freed and its number reused) is no increase."""
    grown: Dict[int, Dict[str, int]] = {}
    for cpu in cpus:
        grown[cpu] = {}
        for source, per_cpu in after.items():
            if cpu not in per_cpu:
                continue
            increase = per_cpu[cpu] - before.get(source, {}).get(cpu, 0)
            if increase > 0:
                grown[cpu][source] = increase
    return grown
