"""Running every audit check over a config and a snapshot, and the result as text or JSON.

Each check is a small function of an AuditContext that adds findings: a severity (error,
warning, info), a stable code (registry.py), the config position (file:line:column) the finding
is about, a message and the snapshot evidence. `lltune schema audit` documents the JSON output.
"""

import json
import os
from typing import Any, Callable, Dict, List, Tuple

from lltune.audit import (
    bootloader,
    cmdline,
    cpu,
    memory,
    network,
    safety,
    services,
    sysctl,
    timesync,
    tuned,
)
from lltune.audit.context import AuditContext, Snapshot
from lltune.audit.registry import SEVERITIES, Finding
from lltune.config.loader import Config
from lltune.model.queries import dig

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "audit.schema.json")


CHECK_FUNCTIONS: List[Callable[[AuditContext], None]] = [
    safety.check_safety, cpu.check_cpu_lists, cpu.check_partition, cpu.check_workload,
    cpu.check_idle_poll, cmdline.check_rt_throttling,
    cmdline.check_cmdline,
    cpu.check_cpufreq, memory.check_hugepages, network.check_irq, network.check_network,
    timesync.check_time, services.check_services, sysctl.check_sysctl,
    sysctl.check_site_files, services.check_limits,
    tuned.check_tuned, bootloader.check_bootloader, bootloader.check_cmdline_removals,
]


def _position(finding: Finding) -> Tuple[int, int]:
    parts = finding.where.rsplit(":", 2)
    try:
        return int(parts[1]), int(parts[2])
    except (IndexError, ValueError):
        return 0, 0


def audit(config: Config, snapshot: Snapshot) -> List[Finding]:
    """Every finding for the config on this host: errors first, then by config position."""
    state = AuditContext(config, snapshot)
    for check in CHECK_FUNCTIONS:
        check(state)
    return sorted(state.findings, key=lambda f: (SEVERITIES.index(f.severity), _position(f),
                                                 f.code, f.message))


def counts(findings: List[Finding]) -> Dict[str, int]:
    return {severity: sum(1 for f in findings if f.severity == severity)
            for severity in SEVERITIES}


def exit_code(findings: List[Finding]) -> int:
    return 1 if any(f.severity == "error" for f in findings) else 0


def as_json(findings: List[Finding], config: Config, snapshot: Snapshot) -> Dict[str, Any]:
    """audit's JSON document (audit.schema.json beside this module)."""
    return {
        "format": "lltune-audit",
        "format_version": 1,
        "config": config.source,
        "preset": config.preset,
        "host": {"hostname": dig(snapshot, "host", "hostname"),
                 "source": snapshot.get("source"),
                 "generated_at": snapshot.get("generated_at")},
        "counts": counts(findings),
        "exit_code": exit_code(findings),
        "findings": [f.as_dict() for f in findings],
    }


def as_text(findings: List[Finding]) -> str:
    return "".join(f.line() + "\n" for f in findings)


def summary(findings: List[Finding], config: Config) -> str:
    numbers = counts(findings)
    return "audit of %s: %d error%s, %d warning%s, %d info\n" % (
        config.source, numbers["error"], "" if numbers["error"] == 1 else "s",
        numbers["warning"], "" if numbers["warning"] == 1 else "s", numbers["info"])


def schema() -> Dict[str, Any]:
    """The JSON Schema of `lltune audit --format json`."""
    with open(SCHEMA_FILE, encoding="utf-8") as handle:
        return json.load(handle)
