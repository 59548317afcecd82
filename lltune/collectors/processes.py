"""The process table, read once per scan: who runs, which are kernel threads, where they may run.

/proc/<pid>/stat (fs/proc/array.c, do_task_stat): the comm sits in parentheses and may hold
spaces or parentheses itself, so fields are counted from the last ")". Field 9 is the task
flags (PF_KTHREAD = 0x00200000, include/linux/sched.h); field 39 the CPU it last ran on.
"""

from typing import Any, Dict, List, Optional

from lltune.collectors import ScanContext, key_value_lines, to_cpus, to_int

PF_KTHREAD = 0x00200000


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
            "last_cpu": to_int(fields[36])}


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
            if entry["kthread"]:
                status = key_value_lines(ctx.reader.read("/proc/%s/status" % name, None))
                entry["cpus_allowed"] = to_cpus(status.get("Cpus_allowed_list"))
            table.append(entry)
        return table
    return ctx.shared("processes", read)


def running_commands(ctx: ScanContext) -> set:
    """Names of the user-space processes now running."""
    return {entry["comm"] for entry in process_table(ctx) if not entry["kthread"]}
