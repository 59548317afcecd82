"""Kernel threads and workqueues: what the kernel itself runs on each CPU.

Per-CPU kthreads (ksoftirqd/N, migration/N, kworker/N:M) cannot be moved; unbound ones and
unbound workqueues (/sys/devices/virtual/workqueue/cpumask, Documentation/core-api/
workqueue.rst) can, and must stay on housekeeping CPUs.
"""

import re
from typing import Any, Dict

from lltune.host.collectors import ScanContext
from lltune.host.collectors.processes import process_table

_PER_CPU_NAME = re.compile(r"^([^/]+)/(\d+)(?::\d+H?)?(?:-.*)?$")

def thread_kind(name: str, cpu: int) -> str:
    """"kworker/3:1H-kblockd" on CPU 3 -> "kworker": one name per kind, stable across scans."""
    match = _PER_CPU_NAME.match(name)
    if match and int(match.group(2)) == cpu:
        return match.group(1)
    return name

def collect(ctx: ScanContext) -> Dict[str, Any]:
    bound: Dict[int, set] = {}
    unbound_cpus: set = set()
    unbound_count = 0
    for entry in process_table(ctx):
        if not entry["kthread"] or not entry.get("cpus_allowed"):
            continue
        cpus = entry["cpus_allowed"]
        if len(cpus) == 1:
            bound.setdefault(cpus[0], set()).add(thread_kind(entry["comm"], cpus[0]))
        else:
            unbound_count += 1
            unbound_cpus.update(cpus)
    if not bound and not unbound_count:
        ctx.note("kthreads", "/proc/<pid>/status", "no kernel threads readable")
    return {"kthreads": {
        "workqueue_cpumask": ctx.mask("/sys/devices/virtual/workqueue/cpumask"),
        "writeback_cpumask": ctx.mask("/sys/bus/workqueue/devices/writeback/cpumask"),
        "bound": [{"cpu": cpu, "threads": sorted(names)} for cpu, names in sorted(bound.items())],
        "unbound": {"count": unbound_count, "cpus": sorted(unbound_cpus)},
    }}
