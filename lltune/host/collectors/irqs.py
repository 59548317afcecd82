"""Interrupts: /proc/interrupts, each IRQ's affinity (/proc/irq/N) and the PCI device it serves.

/proc/interrupts (kernel/irq/proc.c, show_interrupts) has one column per online CPU, then the
chip name, the hardware IRQ number and trigger, and the action names joined by ", ".
"""

import re
from typing import Any, Dict, List, Optional, Tuple

from lltune.common.cpulist import MAX_CPUS, MAX_IRQS, parse_cpumask
from lltune.host.collectors import ScanContext

_HWIRQ = re.compile(r"^\d+(-\w+)?$")


def parse_interrupts(text: str) -> Tuple[List[int], List[Dict[str, Any]], Dict[str, Any], bool]:
    """-> (CPU ids of the columns, numbered IRQ rows, named per-CPU event rows, complete?).

    Tolerant: a short or malformed row keeps what parsed and marks the file incomplete.
    """
    lines = text.splitlines()
    if not lines:
        return [], [], {}, False
    columns = []
    for word in lines[0].split():
        if word.startswith("CPU") and word[3:].isdigit() and len(word) <= 7:
            columns.append(int(word[3:]))
    if any(cpu >= MAX_CPUS for cpu in columns):
        return [], [], {}, False  # not a kernel's header: no CPU is numbered that high
    ncols = len(columns)
    complete = bool(columns) and text.endswith("\n")
    irqs: List[Dict[str, Any]] = []
    events: Dict[str, Any] = {}
    for line in lines[1:]:
        label, sep, rest = line.partition(":")
        label = label.strip()
        if not sep or not label:
            complete = False
            continue
        fields = rest.split()
        try:
            # int() of a huge digit string is slow (quadratic before Python 3.11): a row much
            # longer than its counts can be is checked word by word first.
            if len(rest) > 32 * ncols + 4096 and max(map(len, fields[:ncols]), default=0) > 20:
                raise ValueError("not a count")
            values = list(map(int, fields[:ncols]))
            used = len(values)
        except ValueError:  # a short row: the counts stop at the first word that is not one
            used = next((i for i, word in enumerate(fields[:ncols])
                         if not (word.isdigit() and len(word) <= 20)), ncols)
            values = [int(word) for word in fields[:used]]
        counts = [[cpu, value] for cpu, value in zip(columns, values) if value]
        total = sum(values)
        description = fields[used:]
        if label.isdigit():
            if used < ncols:
                complete = False
            if len(label) > 7 or int(label) >= MAX_IRQS:
                complete = False  # no kernel numbers an IRQ that high
                continue
            irqs.append(_irq_row(int(label), counts, total, description))
        else:
            events[label] = {"counts": counts, "total": total,
                             "description": " ".join(description) or None}
    return columns, irqs, events, complete


def _irq_row(number: int, counts: List[List[int]], total: int,
             description: List[str]) -> Dict[str, Any]:
    chip = description[0] if description else None
    index = 1
    hwirq = None
    if index < len(description) and _HWIRQ.match(description[index]):
        hwirq = description[index]
        index += 1
        if index < len(description) and description[index] in ("Level", "Edge"):
            hwirq += "-" + description[index].lower()
            index += 1
    name = " ".join(description[index:]) or None
    return {"irq": number, "chip": chip, "hwirq": hwirq, "name": name,
            "actions": name.split(", ") if name else [], "counts": counts, "total": total}


def pci_irq_owners(ctx: ScanContext) -> Dict[int, str]:
    """IRQ -> PCI address, from each device's msi_irqs (MSI/MSI-X) or its legacy `irq`."""
    def compute():
        owners: Dict[int, str] = {}
        root = "/sys/bus/pci/devices"
        for address in ctx.reader.listdir(root, []):
            msi = ctx.reader.listdir("%s/%s/msi_irqs" % (root, address), None)
            if msi:
                for name in msi:
                    if name.isdigit() and len(name) <= 7 and int(name) < MAX_IRQS:
                        owners[int(name)] = address
                continue
            legacy = ctx.int("%s/%s/irq" % (root, address))
            if legacy:
                owners.setdefault(legacy, address)
        return owners
    return ctx.shared("pci_irq_owners", compute)


def collect(ctx: ScanContext) -> Dict[str, Any]:
    text = ctx.reader.read("/proc/interrupts", None)
    if text is None:
        ctx.note("irqs", "/proc/interrupts", ctx.why("/proc/interrupts"))
        text = ""
    columns, irqs, events, complete = parse_interrupts(text)
    if text and not complete:
        ctx.note("irqs", "/proc/interrupts", "truncated or malformed rows were skipped")
    owners = pci_irq_owners(ctx)
    device_nodes: Dict[str, Optional[int]] = {}
    per_cpu = {cpu: 0 for cpu in columns}
    for row in irqs:
        base = "/proc/irq/%d" % row["irq"]
        row["smp_affinity_list"] = ctx.cpus(base + "/smp_affinity_list")
        row["effective_affinity_list"] = ctx.cpus(base + "/effective_affinity_list")
        device = owners.get(row["irq"])
        if device is not None:
            # An MSI vector's descriptor is allocated on its device's node
            # (kernel/irq/msi.c): one read per device instead of one per IRQ.
            if device not in device_nodes:
                device_nodes[device] = ctx.int("/sys/bus/pci/devices/%s/numa_node" % device)
            node = device_nodes[device]
        else:
            node = ctx.int(base + "/node")
        row["node"] = node if node is not None and node >= 0 else None
        row["device"] = device
        for cpu, count in row["counts"]:
            per_cpu[cpu] += count
    default = ctx.text("/proc/irq/default_smp_affinity")
    try:
        default_cpus: Optional[List[int]] = parse_cpumask(default) if default else None
    except ValueError:
        default_cpus = None
    return {"irqs": {
        "cpu_columns": columns,
        "default_smp_affinity": default_cpus,
        "per_cpu_totals": [[cpu, per_cpu[cpu]] for cpu in columns],
        "per_cpu_events": events,
        "irqs": irqs,
    }}
