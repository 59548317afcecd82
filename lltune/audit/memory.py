"""Huge page checks, and the headroom rule gen-config sizes its pools by: the huge pages reserved
on a NUMA node may take at most the node's memory minus max(2 GiB, a quarter of it); the rest
stays for the kernel, page cache and the application's ordinary allocations."""

from typing import Dict

from lltune.audit.context import AuditContext, KeyPath
from lltune.common.cpulist import cpu_text
from lltune.model.queries import dig, hugepage_sizes, node_memory_kb

GIB_KB = 1024 * 1024
HEADROOM_MIN_KB = 2 * GIB_KB  # at least this much of a node stays outside huge page pools
HEADROOM_FRACTION = 4  # ... and at least 1/4 of the node
HUGEPAGE_KB = {"2M": 2048, "1G": 1048576}


def hugepage_limit_kb(memory_kb: int) -> int:
    """The most huge page memory a node of `memory_kb` may hold (the headroom rule)."""
    return max(0, memory_kb - max(HEADROOM_MIN_KB, memory_kb // HEADROOM_FRACTION))


def check_hugepages(a: AuditContext) -> None:
    pools = [p for p in a.value("memory.hugepages") or [] if isinstance(p, dict)]
    memory = node_memory_kb(a.snapshot)
    sizes = hugepage_sizes(a.snapshot)
    flags = dig(a.snapshot, "cpu", "flags")
    arch = dig(a.snapshot, "host", "architecture")
    reserved: Dict[int, int] = {}
    seen: Dict[str, int] = {}
    for index, pool in enumerate(pools):
        path: KeyPath = ("memory", "hugepages", index)
        size = pool.get("size")
        size_kb = HUGEPAGE_KB.get(size)
        if size_kb is None:
            continue
        if size in seen:
            a.add("memory.hugepages-duplicate-size", path + ("size",), "a second %s pool "
                  "(the first is entry %d): merge them" % (size, seen[size]))
        seen.setdefault(size, index)
        no_pdpe1gb = size == "1G" and arch == "x86_64" and isinstance(flags, dict) and \
            not flags.get("pdpe1gb")
        if (sizes and "%dkB" % size_kb not in sizes) or no_pdpe1gb:
            a.add("memory.hugepages-size-unsupported", path + ("size",), "the host offers no "
                  "%s huge pages" % size, ["page sizes offered: %s" % (", ".join(
                      sorted(sizes)) or "none")] + (["/proc/cpuinfo flags lack pdpe1gb"]
                                                    if no_pdpe1gb else []))
            continue
        per_node = pool.get("per_node")
        if isinstance(per_node, dict) and per_node and pool.get("at_boot"):
            # hugepages=N on the command line is one total the kernel spreads evenly; the
            # node:count form needs Linux 5.16+ (RHEL 9 runs 5.14).
            a.add("memory.hugepages-per-node-at-boot", path + ("at_boot",), "a per-node "
                  "pool cannot be reserved at boot: use count with at_boot, or per_node "
                  "without it (set at run time)")
        if isinstance(per_node, dict) and per_node:
            for key, count in per_node.items():
                node = int(key)
                if node not in memory:
                    a.add("memory.hugepages-unknown-node", path + ("per_node", key), "NUMA "
                          "node %d does not exist on this host" % node,
                          ["nodes: %s" % cpu_text(memory)])
                    continue
                reserved[node] = reserved.get(node, 0) + int(count) * size_kb
        elif isinstance(pool.get("count"), int):
            # The kernel spreads a global count over the nodes with memory, round robin.
            nodes = [n for n, kb in memory.items() if kb] or list(memory)
            for node in nodes:
                share = -(-pool["count"] // len(nodes))
                reserved[node] = reserved.get(node, 0) + share * size_kb
    for node, kb in sorted(reserved.items()):
        total = memory.get(node)
        if not kb:
            continue
        if not total:
            a.add("memory.hugepages-memory-unknown", ("memory", "hugepages"), "node %d's "
                  "memory is unknown: huge page headroom not checked" % node)
            continue
        limit = hugepage_limit_kb(total)
        if kb > limit:
            a.add("memory.hugepages-headroom", ("memory", "hugepages"), "huge pages on node %d "
                  "take %.1f GiB of its %.1f GiB; at most %.1f GiB may go to huge pages "
                  "(node memory minus max(2 GiB, 25%%))" % (node, kb / GIB_KB, total / GIB_KB,
                                                           limit / GIB_KB),
                  ["/sys/devices/system/node/node%d/meminfo MemTotal: %d kB" % (node, total)])
