"""The hook's CPU work: per-queue NIC IRQ pins, IRQ isolation when tuned's [scheduler] does
not place IRQs, and kernel threads started after [scheduler] ran."""

import contextlib
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from lltune.common.cpulist import format_cpulist, format_cpumask, parse_cpulist, parse_cpumask
from lltune.config.knobs import IFNAME_PATTERN
from lltune.host.collectors import to_cpus
from lltune.host.collectors.irqs import parse_interrupts
from lltune.host.collectors.nics import pci_device_path
from lltune.host.collectors.processes import parse_stat, status_field
from lltune.model.queries import queue_index
from lltune.tune.hookbase import HookBase, HookError

DEFAULT_AFFINITY = "/proc/irq/default_smp_affinity"


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
            queue = queue_index(row["name"]) if row["irq"] in numbers else None
            if queue is not None:
                queues.append((queue, row["irq"]))
        return sorted(queues)

    def irq_affinity(self, irq: int) -> Optional[str]:
        return self.reader.value("/proc/irq/%d/smp_affinity_list" % irq)

    def write_irq_affinity(self, irq: int, cpus: List[int]) -> Optional[str]:
        """None once written; else why the kernel refused (managed IRQs and, from Linux 6.12,
        the timer answer EIO or EPERM)."""
        try:
            with open(self.path("/proc/irq/%d/smp_affinity_list" % irq), "w") as handle:
                handle.write(format_cpulist(cpus) + "\n")
            return None
        except OSError as exc:
            return "IRQ %d: cannot set affinity (%s)" % (irq, exc.strerror)

    def set_irq_affinity(self, irq: int, cpus: List[int]) -> bool:
        """False when the kernel refuses: a note, as the IRQ stays where the kernel put it."""
        refusal = self.write_irq_affinity(irq, cpus)
        if refusal:
            self.notes.append(refusal)
        return refusal is None

    def queue_pins(self, data: Dict[str, Any]) -> Dict[int, List[int]]:
        """Each pinned NIC queue's IRQ on its one CPU."""
        pins: Dict[int, List[int]] = {}
        for pin in data.get("irq_pins") or []:
            cpus = [int(c) for c in pin["cpus"]]
            for queue, irq in self.nic_queue_irqs(pin["interface"]):
                pins[irq] = [cpus[queue % len(cpus)]]
        return pins

    def desired_pins(self, data: Dict[str, Any]) -> Dict[int, List[int]]:
        """The queue pins, and every other IRQ on the housekeeping CPUs when the hook
        isolates IRQs."""
        desired = self.queue_pins(data)
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
        # IRQs the kernel will not move (managed ones answer EIO), as tuned's [scheduler]
        # records them: verify leaves them out, as tuned's verify with ignore_missing does.
        refused = [irq for irq, cpus in sorted(desired.items())
                   if not self.set_irq_affinity(irq, cpus)]
        self.save("irq-unchangeable", refused)
        self.start_default_affinity(data)

    def stop_irqs(self) -> List[str]:
        # An IRQ refused at start was never moved; one gone since has nothing to restore.
        refused = set(self.saved("irq-unchangeable") or [])
        problems = []
        for irq, cpus in sorted((self.saved("irq-affinity") or {}).items()):
            if int(irq) not in refused and os.path.exists(self.path("/proc/irq/%s" % irq)):
                problems.append(self.write_irq_affinity(int(irq), parse_cpulist(cpus)))
        self.forget("irq-affinity")
        self.forget("irq-unchangeable")
        # A restore the kernel refuses is a problem of this stop (its exit status says so).
        return [p for p in problems if p] + self.stop_default_affinity()

    def verify_irqs(self, data: Dict[str, Any]) -> List[str]:
        """A pinned queue IRQ on exactly its CPU; any other within the housekeeping CPUs, as
        tuned's [scheduler] verifies it (irqbalance, banned from the isolated CPUs, may
        narrow it)."""
        problems = []
        unchangeable = set(self.saved("irq-unchangeable") or [])
        pinned = self.queue_pins(data)
        for irq, cpus in sorted(self.desired_pins(data).items()):
            current = self.irq_affinity(irq)
            if current is None or irq in unchangeable:
                continue
            now = parse_cpulist(current)
            if now != cpus if irq in pinned else not set(now) <= set(cpus):
                problems.append("IRQ %d affinity %s, wanted %s%s" % (
                    irq, current, "" if irq in pinned else "within ", format_cpulist(cpus)))
        return problems + self.verify_default_affinity(data)

    # -- where new IRQs start (when tuned's [scheduler] does not place IRQs) ----------------
    def start_default_affinity(self, data: Dict[str, Any]) -> None:
        cpus = data.get("default_irq_affinity")
        if not cpus:
            return
        if self.saved("irq-default") is None:
            self.save("irq-default", self.reader.value(DEFAULT_AFFINITY))
        self._write_default_affinity(format_cpumask([int(c) for c in cpus]))

    def _write_default_affinity(self, mask: str) -> None:
        if not re.match(r"^[0-9a-f,]{1,4200}$", mask):
            raise HookError("bad IRQ mask %r" % mask)
        with open(self.path(DEFAULT_AFFINITY), "w") as handle:
            handle.write(mask + "\n")

    def stop_default_affinity(self) -> List[str]:
        mask = self.saved("irq-default")
        if not mask:
            return []
        try:
            self._write_default_affinity(mask)
        except (HookError, OSError) as exc:
            return self._keep_failed("irq-default", mask, ["%s: %s" % (DEFAULT_AFFINITY, exc)])
        return self._keep_failed("irq-default", None, [])

    def verify_default_affinity(self, data: Dict[str, Any]) -> List[str]:
        cpus = data.get("default_irq_affinity")
        current = self.reader.value(DEFAULT_AFFINITY)
        if not cpus or current is None:
            return []
        try:
            now = parse_cpumask(current)
        except ValueError:
            now = None
        wanted = sorted(int(c) for c in cpus)
        return [] if now == wanted else ["%s is %s, wanted %s" % (
            DEFAULT_AFFINITY, current, format_cpumask(wanted))]

    # -- tasks off the isolated CPUs --------------------------------------------------------
    def movable_tasks(self, house: List[int], kernel_only: bool = True,
                      keep: Tuple[str, ...] = ()) -> Dict[int, Tuple[str, List[int]]]:
        """tid -> (name, allowed CPUs) of the threads that may run outside `house` and may be
        moved: what [scheduler] isolated_cores moves. Threads the kernel does not let move
        (PF_NO_SETAFFINITY: per-CPU kernel threads among them) are left out, and so are user
        threads whose name matches one of `keep` (the config's workload_processes, as
        [scheduler] ps_blacklist does)."""
        patterns = [re.compile(pattern) for pattern in keep]
        found = {}
        for pid in self.reader.listdir("/proc", []):
            if not pid.isdigit():
                continue
            tids = [pid] if kernel_only else self.reader.listdir("/proc/%s/task" % pid, [pid])
            for tid in tids:
                base = "/proc/%s" % pid if tid == pid and kernel_only else \
                    "/proc/%s/task/%s" % (pid, tid)
                stat_text = self.reader.read(base + "/stat", None)
                entry = parse_stat(stat_text) if stat_text else None
                if not entry or entry["pinned"] or (kernel_only and not entry["kthread"]):
                    continue
                if not entry["kthread"] and any(p.search(entry["comm"]) for p in patterns):
                    continue
                allowed = to_cpus(status_field(self.reader.read(base + "/status", None),
                                               "Cpus_allowed_list")) or []
                if allowed and not set(allowed) <= set(house) and (
                        not kernel_only or len(allowed) > 1):
                    found[int(tid)] = (entry["comm"], allowed)
        return found

    def movable_kthreads(self, house: List[int]) -> Dict[int, Tuple[str, List[int]]]:
        """Kernel threads started after [scheduler] ran (by a driver's channel change) inherit
        nothing from it: those that may run outside `house`, one allowed CPU excepted."""
        return self.movable_tasks(house)

    def _move_tasks(self, name: str, found: Dict[int, Tuple[str, List[int]]],
                    house: List[int]) -> None:
        saved = self.saved(name) or {}
        for tid, (comm, allowed) in sorted(found.items()):
            # As [scheduler]: keep what the task allowed of the housekeeping CPUs, if any.
            target = sorted(set(allowed) & set(house)) or house
            try:
                os.sched_setaffinity(tid, target)
            except OSError:
                continue  # exited, or the kernel refuses
            saved.setdefault(str(tid), {"name": comm, "cpus": allowed})
        self.save(name, saved)

    def _restore_tasks(self, name: str) -> List[str]:
        for tid, record in sorted((self.saved(name) or {}).items()):
            stat_text = self.reader.read("/proc/%s/stat" % tid, None) or self.reader.read(
                "/proc/%s/task/%s/stat" % (tid, tid), None)
            entry = parse_stat(stat_text) if stat_text else None
            if entry and entry["comm"] == record["name"]:
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(tid), record["cpus"])
        self.forget(name)
        return []

    def start_kthreads(self, data: Dict[str, Any]) -> None:
        if self.root != "/":
            return  # the pids of another root are not this kernel's threads
        tasks = data.get("isolate_tasks") or {}
        if tasks.get("cpus"):
            # tuned's [scheduler] is not used to isolate (it would take the IRQs pinned onto
            # isolated CPUs back): every movable thread moves here, as it would move them.
            house = [int(c) for c in tasks["cpus"]]
            self._move_tasks("tasks", self.movable_tasks(
                house, kernel_only=False, keep=tuple(tasks.get("keep") or ())), house)
        house = [int(c) for c in data.get("kthread_cpus") or []]
        if house:
            self._move_tasks("kthreads", self.movable_kthreads(house), house)

    def stop_kthreads(self) -> List[str]:
        if self.root != "/":
            return []
        return self._restore_tasks("tasks") + self._restore_tasks("kthreads")

    def verify_kthreads(self, data: Dict[str, Any]) -> List[str]:
        house = [int(c) for c in data.get("kthread_cpus") or []]
        if not house:
            return []
        return ["kernel thread %s (%d) may run on CPUs %s" % (name, pid, format_cpulist(cpus))
                for pid, (name, cpus) in sorted(self.movable_kthreads(house).items())]
