"""NUMA nodes: CPUs, memory, distances and huge pages per node (/sys/devices/system/node)."""

import re
from typing import Any, Dict, List, Optional

from lltune.common.cpulist import MAX_CPUS, MAX_NUMNODES
from lltune.host.collectors import ScanContext, key_value_lines, kib, to_int

NODE_ROOT = "/sys/devices/system/node"


def node_meminfo(text: Optional[str]) -> Dict[str, int]:
    """"Node 0 MemTotal:  134204252 kB" lines -> {"MemTotal": 134204252} (KiB or pages)."""
    values: Dict[str, int] = {}
    for line in (text or "").splitlines():
        match = re.match(r"^Node\s+\d+\s+(\S+):\s+(\d{1,20})\b", line)
        if match:
            values[match.group(1)] = int(match.group(2))
    return values


def hugepages(ctx: ScanContext, base: str) -> Dict[str, Dict[str, Optional[int]]]:
    """hugepages-2048kB/{nr,free,surplus}_hugepages -> {"2048kB": {"total", "free", "surplus"}}."""
    pools = {}
    for name in ctx.reader.listdir(base, []):
        if not name.startswith("hugepages-"):
            continue
        path = "%s/%s" % (base, name)
        pools[name[len("hugepages-"):]] = {
            "total": ctx.int(path + "/nr_hugepages"),
            "free": ctx.int(path + "/free_hugepages"),
            "surplus": ctx.int(path + "/surplus_hugepages"),
        }
    return pools


def node_cpus(ctx: ScanContext, base: str, entries: List[str]) -> List[int]:
    """cpulist (2.6.26+), else the cpumap mask, else the node directory's cpuN links."""
    cpus = ctx.cpus(base + "/cpulist")
    if cpus is None:
        cpus = ctx.mask(base + "/cpumap")
    if cpus is None:
        cpus = sorted(int(name[3:]) for name in entries if re.match(r"^cpu\d{1,4}$", name)
                      and int(name[3:]) < MAX_CPUS)
    return cpus


def collect(ctx: ScanContext) -> Dict[str, Any]:
    names = ctx.reader.listdir(NODE_ROOT, None)
    online = ctx.cpus(NODE_ROOT + "/online")
    if names is None:
        # A kernel without CONFIG_NUMA: the whole machine is one node.
        ctx.note("numa", NODE_ROOT, "%s; the host is treated as one node" % ctx.why(NODE_ROOT))
        cpus = ctx.cpus("/sys/devices/system/cpu/online") or []
        total = kib(key_value_lines(ctx.reader.read("/proc/meminfo", None)).get("MemTotal"))
        return {"numa": {"online": [0], "synthetic": True, "nodes": [
            {"id": 0, "online": True, "cpus": cpus, "memory_kb": total, "free_kb": None,
             "distances": [10], "hugepages": {}}]}}
    ids = sorted(int(m.group(1)) for m in (re.match(r"^node(\d+)$", n) for n in names) if m)
    if ids and ids[-1] >= MAX_NUMNODES:
        ctx.note("numa", NODE_ROOT, "node%d and above ignored: beyond the kernel's %d nodes"
                 % (MAX_NUMNODES, MAX_NUMNODES))
        ids = [node for node in ids if node < MAX_NUMNODES]
    nodes: List[Dict[str, Any]] = []
    for node in ids:
        base = "%s/node%d" % (NODE_ROOT, node)
        meminfo = node_meminfo(ctx.reader.read(base + "/meminfo", None))
        distances = ctx.text(base + "/distance")
        nodes.append({
            "id": node,
            "online": None if online is None else node in online,
            "cpus": node_cpus(ctx, base, ctx.reader.listdir(base, [])),
            "memory_kb": meminfo.get("MemTotal"),
            "free_kb": meminfo.get("MemFree"),
            "distances": [to_int(d) for d in distances.split()] if distances else None,
            "hugepages": hugepages(ctx, base + "/hugepages"),
        })
    return {"numa": {"online": online, "synthetic": False, "nodes": nodes}}
