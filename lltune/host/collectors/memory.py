"""Memory: THP, KSM, swap, huge page pools, and the memory sysctls that cause jitter."""

from typing import Any, Dict, List

from lltune.host.collectors import ScanContext, bracketed_choice, key_value_lines, kib, to_int
from lltune.host.collectors.kernel import read_sysctls
from lltune.host.collectors.numa import hugepages

THP_ROOT = "/sys/kernel/mm/transparent_hugepage"
KSM_ROOT = "/sys/kernel/mm/ksm"
MEMINFO_FIELDS = ("MemTotal", "MemFree", "MemAvailable", "SwapTotal", "SwapFree",
                  "HugePages_Total", "HugePages_Free", "Hugepagesize", "Mlocked", "AnonHugePages")


def parse_swaps(text: str) -> List[Dict[str, Any]]:
    """/proc/swaps: a header line, then "Filename Type Size Used Priority" (sizes in KiB)."""
    devices = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 5:
            continue
        devices.append({"device": fields[0], "type": fields[1], "size_kb": to_int(fields[2]),
                        "used_kb": to_int(fields[3]), "priority": to_int(fields[4])})
    return devices


def collect(ctx: ScanContext) -> Dict[str, Any]:
    meminfo = key_value_lines(ctx.reader.read("/proc/meminfo", None))
    if not meminfo:
        ctx.note("memory", "/proc/meminfo", ctx.why("/proc/meminfo", "absent or empty"))
    swaps = ctx.reader.read("/proc/swaps", None)
    if swaps is None:
        ctx.note("memory", "/proc/swaps", ctx.why("/proc/swaps"))
    sysctls = read_sysctls(ctx)
    ksm_run = ctx.int(KSM_ROOT + "/run")
    return {"memory": {
        "meminfo_kb": {
            field: (to_int(meminfo[field]) if field.startswith("HugePages_") else kib(
                meminfo[field])) if field in meminfo else None
            for field in MEMINFO_FIELDS},
        "thp": {
            "enabled": bracketed_choice(ctx.text(THP_ROOT + "/enabled")),
            "defrag": bracketed_choice(ctx.text(THP_ROOT + "/defrag")),
            "shmem_enabled": bracketed_choice(ctx.text(THP_ROOT + "/shmem_enabled")),
            "khugepaged_defrag": ctx.int(THP_ROOT + "/khugepaged/defrag"),
        },
        "ksm": {
            # 0 stopped, 1 running, 2 stopped and unmerged (Documentation/admin-guide/mm/ksm.rst)
            "run": ksm_run,
            "pages_shared": ctx.int(KSM_ROOT + "/pages_shared"),
            "pages_sharing": ctx.int(KSM_ROOT + "/pages_sharing"),
        },
        "swap": {"devices": parse_swaps(swaps) if swaps is not None else None},
        "hugepages": hugepages(ctx, "/sys/kernel/mm/hugepages"),
        "swappiness": to_int(sysctls["vm.swappiness"]),
        "zone_reclaim_mode": to_int(sysctls["vm.zone_reclaim_mode"]),
        "numa_balancing": to_int(sysctls["kernel.numa_balancing"]),
        "stat_interval": to_int(sysctls["vm.stat_interval"]),
    }}
