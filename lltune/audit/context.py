"""What every audit check gets: the config, the snapshot and what both say about CPUs, and the
one way to add a finding (at the config position the finding is about)."""

from typing import Any, Dict, Iterable, List, Optional, Tuple

from lltune.audit.registry import CHECKS, Finding
from lltune.common.cpulist import parse_cpulist
from lltune.common.documents import dotted
from lltune.config import resolve
from lltune.config.loader import Config
from lltune.model.queries import cpu_table, dig, online_cpus

Snapshot = Dict[str, Any]
KeyPath = Tuple[Any, ...]


def cpus_in(text: Any) -> List[int]:
    """A config CPU list as ids; [] for anything that is not one (reported elsewhere)."""
    try:
        return parse_cpulist(text) if isinstance(text, str) and text else []
    except ValueError:
        return []


class AuditContext:
    def __init__(self, config: Config, snapshot: Snapshot):
        self.config = config
        self.snapshot = snapshot
        self.findings: List[Finding] = []
        self.cpus = cpu_table(snapshot)
        self.online = online_cpus(snapshot)
        self.isolated = resolve.isolated(config)
        self.housekeeping = resolve.housekeeping(config, snapshot)
        self.live = dig(snapshot, "source", "kind") == "live"

    def value(self, path: str) -> Any:
        return self.config.value(path)

    def add(self, code: str, path: KeyPath, message: str, evidence: Iterable[str] = (),
            severity: Optional[str] = None) -> None:
        self.findings.append(Finding(severity or CHECKS[code][0], code,
                                     self.config.where(*path), dotted(path) or "(top level)",
                                     message, [e for e in evidence if e]))

    def interfaces(self) -> List[Tuple[int, Dict[str, Any]]]:
        return [(index, entry) for index, entry in
                enumerate(self.value("network.interfaces") or []) if isinstance(entry, dict)]
