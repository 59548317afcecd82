"""The one place that parses and formats CPU lists ("0-3,8") and hex CPU masks ("ff,00000001").

Both syntaxes follow the kernel's (lib/bitmap.c: bitmap_parselist, bitmap_parse), including
the group form "0-15:2/4" (every 4 CPUs, the first 2) that isolcpus= and nohz_full= accept.
"""

import re
from typing import Iterable, List, Optional

_RANGE = re.compile(r"^(\d+)(?:-(\d+)(?::(\d+)/(\d+))?)?$")
_HEX_WORD = re.compile(r"^[0-9a-fA-F]{1,8}$")
MAX_CPUS = 8192  # the kernel's NR_CPUS ceiling on x86_64 and aarch64 (CONFIG_NR_CPUS)


def parse_cpulist(text: str) -> List[int]:
    """"0-3,8,10-15:2/4" -> sorted, de-duplicated ids. "" and whitespace give []."""
    text = text.strip()
    if not text:
        return []
    if text.isdigit():  # one CPU: most IRQ affinities
        if int(text) >= MAX_CPUS:
            raise ValueError("bad CPU %r" % text)
        return [int(text)]
    cpus = set()
    for part in text.split(","):
        part = part.strip()
        match = _RANGE.match(part)
        if not match:
            raise ValueError("not a CPU list: %r" % text)
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first or last >= MAX_CPUS:
            raise ValueError("bad CPU range %r in %r" % (part, text))
        if match.group(3) is not None:
            used, group = int(match.group(3)), int(match.group(4))
            if group == 0 or used == 0 or used > group:
                raise ValueError("bad CPU group %r in %r" % (part, text))
            cpus.update(c for c in range(first, last + 1) if (c - first) % group < used)
        else:
            cpus.update(range(first, last + 1))
    return sorted(cpus)


def format_cpulist(cpus: Iterable[int]) -> str:
    """[0, 1, 2, 3, 8] -> "0-3,8" (the kernel's own compact form)."""
    ordered = sorted(set(cpus))
    parts = []
    index = 0
    while index < len(ordered):
        start = ordered[index]
        while index + 1 < len(ordered) and ordered[index + 1] == ordered[index] + 1:
            index += 1
        end = ordered[index]
        parts.append(str(start) if start == end else "%d-%d" % (start, end))
        index += 1
    return ",".join(parts)


def cpu_text(cpus: Optional[Iterable[int]]) -> str:
    """A CPU list for a message: "0-3,8", or "none" when there is no CPU (or None)."""
    return format_cpulist(cpus or ()) or "none"


def parse_cpumask(text: str) -> List[int]:
    """"ff,00000001" (32-bit words, most significant first) -> CPU ids."""
    text = text.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if not text:
        raise ValueError("empty CPU mask")
    if not text.strip("0,"):  # all zero: most RPS/XPS masks
        if not all(1 <= len(word) <= 8 for word in text.split(",")):
            raise ValueError("not a CPU mask: %r" % text)
        return []
    words = text.split(",")
    if not all(_HEX_WORD.match(word) for word in words):
        raise ValueError("not a CPU mask: %r" % text)
    value = 0
    for word in words:
        value = (value << 32) | int(word, 16)
    cpus = []
    bit = 0
    while value:
        if value & 1:
            cpus.append(bit)
        value >>= 1
        bit += 1
    return cpus


def format_cpumask(cpus: Iterable[int]) -> str:
    """[0, 40] -> "00000100,00000001": comma-separated 32-bit words, as /proc/irq/*/smp_affinity."""
    value = 0
    for cpu in cpus:
        value |= 1 << cpu
    words = []
    while True:
        words.append("%08x" % (value & 0xFFFFFFFF))
        value >>= 32
        if not value:
            break
    return ",".join(reversed(words))
