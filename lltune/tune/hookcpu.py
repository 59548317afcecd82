"""The hook's CPU work: per-queue NIC IRQ pins, IRQ isolation when tuned's [scheduler] does
not place IRQs, and kernel threads started after [scheduler] ran."""

import contextlib
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from lltune.common.cpulist import format_cpulist, parse_cpulist
from lltune.config.knobs import IFNAME_PATTERN
from lltune.host.collectors import to_cpus
from lltune.host.collectors.irqs import parse_interrupts
from lltune.host.collectors.nics import pci_device_path
from lltune.host.collectors.processes import parse_stat, status_field
from lltune.tune.hookbase import HookBase, HookError

_QUEUE = re.compile(r"(?:TxRx|txrx|comp|input|output|rx|tx|fp|queue|q)[-_.]?(\d+)")
_NOT_QUEUE = re.compile(r"(async|config|ctrl|misc|cmd|mbx|aux)", re.I)


class CpuWork(HookBase):
    # -- IRQs ------------------------------------------------------------------------------
    def nic_queue_irqs(self, interface: str) -> List[Tuple[int, int]]:
        """(queue index, IRQ) for a NIC's queue interrupts, in queue order."""
        if not re.match(IFNAME_PATTERN, interface):
            raise HookError("bad interface name %r" % interface)
        device = self.reader.realpath("/sys/class/net/%s/device" % interface)
        pci = pci_device_path(device) if device else None
        if pci is None:
            raise HookError("%s: no PCI device (is the interface there?)" % interface)
        numbers = {int(n) for n in self.reader.listdir(pci + "/msi_irqs", []) if n.isdigit()}
        _, rows, _, _ = parse_interrupts(self.reader.read("/proc/interrupts", ""))
        queues = []
        for row in rows:
            if row["irq"] not in numbers or not row["name"] or _NOT_QUEUE.search(row["name"]):
                continue
            match = _QUEUE.search(row["name"])
            if match:
                queues.append((int(match.group(1)), row["irq"]))
        return sorted(queues)

    def irq_affinity(self, irq: int) -> Optional[str]:
        return self.reader.value("/proc/irq/%d/smp_affinity_list" % irq)

    def set_irq_affinity(self, irq: int, cpus: List[int]) -> bool:
        """False when the kernel refuses (managed IRQs answer EIO)."""
        try:
            with open(self.path("/proc/irq/%d/smp_affinity_list" % irq), "w") as handle:
                handle.write(format_cpulist(cpus) + "\n")
            return True
        except OSError as exc:
            self.messages.append("IRQ %d: cannot set affinity (%s)" % (irq, exc.strerror))
            return False

    def desired_pins(self, data: Dict[str, Any]) -> Dict[int, List[int]]:
        desired: Dict[int, List[int]] = {}
        for pin in data.get("irq_pins") or []:
            cpus = [int(c) for c in pin["cpus"]]
            for queue, irq in self.nic_queue_irqs(pin["interface"]):
                desired[irq] = [cpus[queue % len(cpus)]]
        isolate = data.get("isolate_irqs")
        if isolate:
            _, rows, _, _ = parse_interrupts(self.reader.read("/proc/interrupts", ""))
            for row in rows:
                desired.setdefault(row["irq"], [int(c) for c in isolate])
        return desired

    def start_irqs(self, data: Dict[str, Any]) -> None:
        desired = self.desired_pins(data)
        # Keep the affinity from before the *first* start: a re-apply must not save ours.
        original = self.saved("irq-affinity") or {}
        for irq in desired:
            if str(irq) not in original:
                current = self.irq_affinity(irq)
                if current is not None:
                    original[str(irq)] = current
        self.save("irq-affinity", original)
        for irq, cpus in sorted(desired.items()):
            self.set_irq_affinity(irq, cpus)

    def stop_irqs(self) -> List[str]:
        # A refused IRQ (managed, or gone) is reported by set_irq_affinity and not retried.
        for irq, cpus in sorted((self.saved("irq-affinity") or {}).items()):
            if os.path.exists(self.path("/proc/irq/%s" % irq)):
                self.set_irq_affinity(int(irq), parse_cpulist(cpus))
        self.forget("irq-affinity")
        return []

    def verify_irqs(self, data: Dict[str, Any]) -> List[str]:
        problems = []
        for irq, cpus in sorted(self.desired_pins(data).items()):
            current = self.irq_affinity(irq)
            if current is not None and parse_cpulist(current) != cpus:
                problems.append("IRQ %d affinity %s, wanted %s" % (irq, current,
                                                                  format_cpulist(cpus)))
        return problems

    # -- kernel threads ----------------------------------------------------------------------
    def movable_kthreads(self, house: List[int]) -> Dict[int, Tuple[str, List[int]]]:
        """pid -> (name, allowed CPUs) of movable kernel threads that may run outside `house`.

        [scheduler] moves the threads that exist when it runs; kernel threads started after
        it (by a driver's channel change) inherit nothing from it. Per-CPU threads (one
        allowed CPU) and those the kernel does not let move (PF_NO_SETAFFINITY) are left
        out."""
        found = {}
        for name in self.reader.listdir("/proc", []):
            if not name.isdigit():
                continue
            stat_text = self.reader.read("/proc/%s/stat" % name, None)
            entry = parse_stat(stat_text) if stat_text else None
            if not entry or not entry["kthread"] or entry["pinned"]:
                continue  # pinned: the kernel places it (workqueue workers follow their cpumask)
            allowed = to_cpus(status_field(self.reader.read("/proc/%s/status" % name, None),
                                           "Cpus_allowed_list")) or []
            if len(allowed) > 1 and not set(allowed) <= set(house):
                found[int(name)] = (entry["comm"], allowed)
        return found

    def start_kthreads(self, data: Dict[str, Any]) -> None:
        house = [int(c) for c in data.get("kthread_cpus") or []]
        if not house or self.root != "/":
            return  # the pids of another root are not this kernel's threads
        saved = self.saved("kthreads") or {}
        for pid, (name, allowed) in sorted(self.movable_kthreads(house).items()):
            try:
                os.sched_setaffinity(pid, house)
            except OSError:
                continue  # exited, or the kernel refuses (PF_NO_SETAFFINITY)
            saved.setdefault(str(pid), {"name": name, "cpus": allowed})
        self.save("kthreads", saved)

    def stop_kthreads(self) -> List[str]:
        if self.root != "/":
            return []
        for pid, record in sorted((self.saved("kthreads") or {}).items()):
            stat_text = self.reader.read("/proc/%s/stat" % pid, None)
            entry = parse_stat(stat_text) if stat_text else None
            if entry and entry["comm"] == record["name"]:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(pid), record["cpus"])
        self.forget("kthreads")
        return []

    def verify_kthreads(self, data: Dict[str, Any]) -> List[str]:
        house = [int(c) for c in data.get("kthread_cpus") or []]
        if not house:
            return []
        return ["kernel thread %s (%d) may run on CPUs %s" % (name, pid, format_cpulist(cpus))
                for pid, (name, cpus) in sorted(self.movable_kthreads(house).items())]
