"""The process table, read once per scan: who runs, which are kernel threads, where they may run.

/proc/<pid>/stat (fs/proc/array.c, do_task_stat): the comm sits in parentheses and may hold
spaces or parentheses itself, so fields are counted from the last ")". Field 9 is the task
flags (PF_KTHREAD = 0x00200000
# The kernel refuses sched_setaffinity for these (workqueue workers, per-CPU threads).
PF_NO_SETAFFINITY = 0x04000000, include/linux/sched.h); field 39 the CPU it last ran on.
"""

import re
from typing import Any, Dict, List, Optional

from lltune.host.collectors import ScanContext, to_cpus, to_int

PF_KTHREAD = 0x00200000
# The kernel refuses sched_setaffinity for these (workqueue workers, per-CPU threads).
PF_NO_SETAFFINITY = 0x04000000
# Per-CPU kernel threads are created bound to the CPU their name carries and cannot be moved
# (PF_NO_SETAFFINITY), so their affinity needs no /proc/<pid>/status read (a 256-CPU host
# has about 1,500 of them). irq/N-... threads name an IRQ, not a CPU, and are not matched.
_PER_CPU_KTHREAD = re.compile(r"^(?:ksoftirqd|migration|cpuhp|rcuc|ktimersoftd|ktimers|"
                              r"idle_inject|watchdog|posixcputmr)/(\d+)$|"
                              r"^kworker/(\d+):\d+H?(?:-.*)?$")


def parse_stat(text: str) -> Optional[Dict[str, Any]]:
    start, end = text.find("("), text.rfind(")")
    if start < 0 or end < start:
        return None
    fields = text[end + 1:].split()
    if len(fields) < 37:
        return None
    flags = to_int(fields[6])
    return {"comm": text[start + 1:end], "ppid": to_int(fields[1]),
            "kthread": bool(flags is not None and flags & PF_KTHREAD),
            "pinned": bool(flags is not None and flags & PF_NO_SETAFFINITY),
            "last_cpu": to_int(fields[36])}


def status_field(text: Optional[str], name: str) -> Optional[str]:
    """One field of /proc/<pid>/status without parsing the other sixty."""
    if not text:
        return None
    start = text.find("\n" + name + ":")
    if start < 0:
        return None
    start += len(name) + 2
    end = text.find("\n", start)
    return text[start:end if end >= 0 else None].strip()


def process_table(ctx: ScanContext) -> List[Dict[str, Any]]:
    def read():
        table = []
        for name in ctx.reader.listdir("/proc", []):
            if not name.isdigit():
                continue
            text = ctx.reader.read("/proc/%s/stat" % name, None)
            entry = parse_stat(text) if text else None
            if entry is None:
                continue  # exited between the listing and the read, or unreadable
            entry["pid"] = int(name)
            per_cpu = _PER_CPU_KTHREAD.match(entry["comm"]) if entry["kthread"] else None
            if per_cpu:
                entry["cpus_allowed"] = [int(per_cpu.group(1) or per_cpu.group(2))]
            elif entry["kthread"]:
                entry["cpus_allowed"] = to_cpus(status_field(
                    ctx.reader.read("/proc/%s/status" % name, None), "Cpus_allowed_list"))
            table.append(entry)
        return table
    return ctx.shared("processes", read)


def running_commands(ctx: ScanContext) -> set:
    """Names of the user-space processes now running."""
    return {entry["comm"] for entry in process_table(ctx) if not entry["kthread"]}
