"""Collectors: one module per domain, each `collect(ctx) -> dict` over a Reader.

A collector never opens a file itself and never raises for a missing or malformed value: it
asks the context, which turns "absent" and "unparseable" into None and records the fact once,
so the report can say what the host did not expose.
"""

from typing import Any, Callable, Dict, List, Optional, Sequence

from lltune.common.cpulist import parse_cpulist, parse_cpumask
from lltune.host.reader import Missing, Reader


class ScanContext:
    """What every collector gets: the reader, a record of what was missing, shared results."""

    def __init__(self, reader: Reader, extra_sysctls: Sequence[str] = ()):
        self.reader = reader
        self.extra_sysctls = tuple(extra_sysctls)  # a config's own sysctls, for verify
        self.missing: List[Dict[str, str]] = []
        self.sections: Dict[str, Any] = {}  # what earlier collectors returned
        self._shared: Dict[str, Any] = {}

    def note(self, section: str, what: str, reason: str) -> None:
        """Record once that `what` could not be read in `section`."""
        self.missing.append({"section": section, "what": what, "reason": reason})

    def why(self, path: str, default: str = "absent") -> str:
        """Why `path` could not be read: "absent", or what the reader met (permission
        denied, larger than lltune reads, not a regular file)."""
        return self.reader.why(path, default)

    def shared(self, key: str, compute: Callable[[], Any]) -> Any:
        """A result several collectors need (the cmdline, the process table), computed once."""
        if key not in self._shared:
            self._shared[key] = compute()
        return self._shared[key]

    # Tolerant typed reads: None when absent or malformed.
    def text(self, path: str) -> Optional[str]:
        return self.reader.value(path)

    def int(self, path: str) -> Optional[int]:
        return to_int(self.reader.value(path))

    def cpus(self, path: str) -> Optional[List[int]]:
        """A cpulist file ("0-3,8")."""
        return to_cpus(self.reader.value(path))

    def mask(self, path: str) -> Optional[List[int]]:
        """A hex cpumask file ("00000000,0000000f")."""
        text = self.reader.value(path)
        if text is None:
            return None
        try:
            return parse_cpumask(text)
        except ValueError:
            return None

    def probe(self, section: str, key: str, func: Callable[[], Any]) -> Any:
        """A probe's answer, or None with the reason noted."""
        try:
            return self.reader.probe(key, func)
        except Missing as exc:
            self.note(section, key, exc.reason)
            return None


def to_int(text: Optional[str]) -> Optional[int]:
    if text is None:
        return None
    text = text.strip()
    if len(text) > 40:  # no kernel value is that long; int() of megabytes of digits is slow
        return None
    try:
        return int(text, 16) if text.startswith("0x") else int(text)
    except ValueError:
        return None


def to_cpus(text: Optional[str]) -> Optional[List[int]]:
    if text is None:
        return None
    try:
        return parse_cpulist(text)
    except ValueError:
        return None


def bracketed_choice(text: Optional[str]) -> Optional[str]:
    """"always [madvise] never" -> "madvise" (the selected value of a sysfs choice file)."""
    if text is None:
        return None
    for word in text.split():
        if word.startswith("[") and word.endswith("]"):
            return word[1:-1]
    return None


def key_value_lines(text: Optional[str], separator: str = ":") -> Dict[str, str]:
    """"Key: value" lines (/proc/meminfo, /proc/<pid>/status) -> dict; malformed lines skipped."""
    result: Dict[str, str] = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(separator)
        if sep:
            result[key.strip()] = value.strip()
    return result


def kib(text: Optional[str]) -> Optional[int]:
    """"16318252 kB" -> 16318252 (KiB); None when malformed."""
    if text is None:
        return None
    return to_int(text.split()[0]) if text.split() else None
