"""A scan: run every collector over one reader and assemble the snapshot.

The order matters only where a collector uses an earlier one's result (nics reads numa's
nodes; time reads nics); each collector returns the top-level sections it owns.
"""

import datetime
import traceback
from typing import Any, Callable, Dict, List, Sequence, Tuple

from lltune import __version__
from lltune.host.collectors import (
    ScanContext,
    cpu,
    host,
    irqs,
    kernel,
    kthreads,
    limits,
    memory,
    nics,
    numa,
    services,
    timesync,
)
from lltune.host.reader import Reader
from lltune.model.snapshot import SCHEMA_VERSION

COLLECTORS: List[Tuple[str, Callable[[ScanContext], Dict[str, Any]]]] = [
    ("host", host.collect),
    ("kernel", kernel.collect),
    ("numa", numa.collect),
    ("cpu", cpu.collect),
    ("memory", memory.collect),
    ("irqs", irqs.collect),
    ("nics", nics.collect),
    ("time", timesync.collect),
    ("services", services.collect),
    ("limits", limits.collect),
    ("kthreads", kthreads.collect),
]

# Fields that change from one moment to the next on a live host; comparisons of two scans
# (capture vs live) leave them out.
VOLATILE_FIELDS = ("generated_at", "source")


def link_irqs_to_nics(snapshot: Dict[str, Any]) -> None:
    """Name the interface each NIC IRQ serves (the irqs and nics collectors each know half)."""
    owner = {irq: nic["name"] for nic in snapshot.get("nics", []) for irq in nic["irqs"]}
    for row in snapshot.get("irqs", {}).get("irqs", []):
        row["interface"] = owner.get(row["irq"])


def scan(reader: Reader, source: Dict[str, Any],
         extra_sysctls: Sequence[str] = ()) -> Dict[str, Any]:
    """The snapshot of what `reader` sees. Never raises for what the host does not expose."""
    ctx = ScanContext(reader, extra_sysctls)
    snapshot: Dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "lltune_version": __version__,
        "generated_at": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"),
        "source": source,
    }
    errors = []
    for name, collect in COLLECTORS:
        try:
            sections = collect(ctx)
        except Exception as exc:  # a collector bug must not cost the user the whole scan
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            errors.append({"collector": name, "error": "%s: %s" % (type(exc).__name__, exc),
                           "where": "%s:%d" % (frame.filename.rsplit("/", 1)[-1],
                                               frame.lineno or 0)})
            continue
        ctx.sections.update(sections)
        snapshot.update(sections)
    link_irqs_to_nics(snapshot)
    # Files the host has but lltune could not read (permission denied, over the size cap,
    # not a regular file, a link loop) are listed even where a collector did not ask.
    noted = {entry["what"] for entry in ctx.missing}
    for path, reason in sorted(getattr(reader, "refusals", {}).items()):
        if path not in noted:
            ctx.note("files", path, reason)
    snapshot["missing"] = ctx.missing
    snapshot["collector_errors"] = errors
    return snapshot
