"""The one place that parses and formats CPU lists ("0-3,8") and hex CPU masks ("ff,00000001").

Both syntaxes follow the kernel's (lib/bitmap.c: bitmap_parselist, bitmap_parse), including
the group form "0-15:2/4" (every 4 CPUs, the first 2) that isolcpus= and nohz_full= accept.
"""

import re
from typing import Iterable, List, Optional

# Up to 9 digits per number: every CPU id is below MAX_CPUS anyway, and CPython's int() of a
# long digit string is quadratic (a hostile tree can hold megabytes of digits).
_RANGE = re.compile(r"^([0-9]{1,9})(?:-([0-9]{1,9})(?::([0-9]{1,9})/([0-9]{1,9}))?)?$")
_HEX_WORD = re.compile(r"^[0-9a-fA-F]{1,8}$")
MAX_CPUS = 8192  # the kernel's NR_CPUS ceiling on x86_64 and aarch64 (CONFIG_NR_CPUS)
MAX_NUMNODES = 1024  # the kernel's MAX_NUMNODES with CONFIG_NODES_SHIFT=10 (RHEL 9 x86_64)
MAX_IRQS = 1 << 20  # above NR_IRQS for NR_CPUS=8192 (x86: NR_VECTORS + 64 * NR_CPUS)
MAX_QUEUES = 0xFFFF  # net/core/dev.c netif_alloc_netdev_queues(): count > 0xffff is EINVAL
_ONES = b"\x01" * MAX_CPUS


def _short(text: str) -> str:
    """A hostile list or mask can be megabytes long: messages quote its start only."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


def parse_cpulist(text: str) -> List[int]:
    """"0-3,8,10-15:2/4" -> sorted, de-duplicated ids. "" and whitespace give [].

    Linear in the length of the text: every id is checked against MAX_CPUS before a range
    is expanded, at most MAX_CPUS ranges are accepted, and ranges are marked in a bitmap of
    MAX_CPUS bytes (slice assignments), so no input makes it allocate or loop more."""
    text = text.strip()
    if not text:
        return []
    if len(text) <= 9 and text.isdigit():  # one CPU: most IRQ affinities
        if int(text) >= MAX_CPUS:
            raise ValueError("bad CPU %r" % text)
        return [int(text)]
    parts = text.split(",")
    if len(parts) > MAX_CPUS:
        raise ValueError("more than %d ranges in a CPU list %s" % (MAX_CPUS, _short(text)))
    flags = bytearray(MAX_CPUS)
    low, high = MAX_CPUS, -1
    for part in parts:
        part = part.strip()
        match = _RANGE.match(part)
        if not match:
            raise ValueError("not a CPU list: %s" % _short(text))
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first or last >= MAX_CPUS:
            raise ValueError("bad CPU range %s in %s" % (_short(part), _short(text)))
        low, high = min(low, first), max(high, last)
        if match.group(3) is None:
            flags[first:last + 1] = _ONES[:last + 1 - first]
            continue
        used, group = int(match.group(3)), int(match.group(4))
        if group == 0 or used == 0 or used > group:
            raise ValueError("bad CPU group %s in %s" % (_short(part), _short(text)))
        # Every `group` CPUs from `first`, the first `used` of them: by offset or by group,
        # whichever takes fewer slice assignments (at most about sqrt(MAX_CPUS) either way).
        starts = range(first, last + 1, group)
        if used <= len(starts):
            for offset in range(min(used, last + 1 - first)):
                span = flags[first + offset:last + 1:group]
                flags[first + offset:last + 1:group] = _ONES[:len(span)]
        else:
            for start in starts:
                end = min(start + used, last + 1)
                flags[start:end] = _ONES[:end - start]
    return [cpu for cpu in range(low, high + 1) if flags[cpu]]


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
    """"ff,00000001" (32-bit words, most significant first) -> CPU ids.

    Linear: each word is read on its own, from the least significant (a mask read as one
    Python integer costs time quadratic in its length), and a set bit at MAX_CPUS or above
    is refused. Leading all-zero words are fine (the kernel pads to nr_cpu_ids)."""
    text = text.strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    if not text:
        raise ValueError("empty CPU mask")
    words = text.split(",")
    cpus: List[int] = []
    for index, word in enumerate(reversed(words)):
        if not _HEX_WORD.match(word):
            raise ValueError("not a CPU mask: %s" % _short(text))
        value = int(word, 16)
        if not value:
            continue
        base = index * 32
        if base + value.bit_length() > MAX_CPUS:
            raise ValueError("CPU mask %s sets a CPU beyond %d" % (_short(text), MAX_CPUS - 1))
        bit = 0
        while value:
            if value & 1:
                cpus.append(base + bit)
            value >>= 1
            bit += 1
    return cpus


def format_cpumask(cpus: Iterable[int]) -> str:
    """[0, 40] -> "00000100,00000001": comma-separated 32-bit words, as /proc/irq/*/smp_affinity."""
    words = [0]
    for cpu in cpus:
        if not 0 <= cpu < MAX_CPUS:
            raise ValueError("CPU %r is beyond the kernel's %d" % (cpu, MAX_CPUS))
        index = cpu // 32
        if index >= len(words):
            words.extend([0] * (index + 1 - len(words)))
        words[index] |= 1 << (cpu % 32)
    return ",".join("%08x" % word for word in reversed(words))
