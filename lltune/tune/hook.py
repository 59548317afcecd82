"""The tuned [script] hook: what tuned 2.20 cannot do itself.

tuned runs lltune-hook.sh from the base profile (a thin exec of /usr/libexec/lltune/lltune-hook)
with `start`, `stop [full_rollback]` or `verify [ignore_missing]`. The hook reads
hook-data.json from the host profile in tuned's user profile directory (/etc/tuned/lltune/ on
RHEL 9's layout, /etc/tuned/profiles/lltune/ on RHEL 10's: found as lltune apply found it;
absent for the base profile alone) and manages: per-queue NIC IRQ affinity, IRQ isolation when
tuned lacks [scheduler], swap, the limits.d file, and the PTP daemons' sysconfig files. What
it changes it first saves under /var/lib/lltune/hook-state, and `stop` puts back exactly that.
"""

import contextlib
import json
import os
import re
import subprocess
import sys
from typing import Any, Dict, List, Optional, Tuple

from lltune.common.cpulist import format_cpulist, parse_cpulist
from lltune.common.documents import parse_json
from lltune.common.errors import InputError, LLTuneError
from lltune.common.files import atomic_write, decode_input, read_state_file, trusted_dir
from lltune.config.knobs import (
    IFNAME_PATTERN,
    LIMIT_DOMAIN_PATTERN,
    OPTIONS_PATTERN,
    SYSCTL_NAME_PATTERN,
    SYSCTL_VALUE_PATTERN,
)
from lltune.host.collectors import to_cpus
from lltune.host.collectors.irqs import parse_interrupts
from lltune.host.collectors.nics import pci_device_path
from lltune.host.collectors.processes import parse_stat, status_field
from lltune.host.collectors.tuned import profile_dirs
from lltune.host.reader import RootReader
from lltune.model.profile import host_profile

STATE_DIR = "/var/lib/lltune/hook-state"
LIMITS_FILE = "/etc/security/limits.d/99-lltune.conf"
PTP_FILES = {"ptp4l": "/etc/sysconfig/ptp4l", "phc2sys": "/etc/sysconfig/phc2sys"}
RESTORABLE = frozenset([LIMITS_FILE] + list(PTP_FILES.values()))  # what stop may write back
MAX_SAVED_BYTES = 64 * 1024 * 1024
_QUEUE = re.compile(r"(?:TxRx|txrx|comp|input|output|rx|tx|fp|queue|q)[-_.]?(\d+)")
_NOT_QUEUE = re.compile(r"(async|config|ctrl|misc|cmd|mbx|aux)", re.I)
COMMAND_TIMEOUT = 120.0


class HookError(Exception):
    pass


class Hook:
    def __init__(self, root: str = "/"):
        self.root = root
        self.reader = RootReader(root)
        self.hook_data = host_profile(profile_dirs(self.reader)[0][-1]).hook_data
        self.messages: List[str] = []

    # -- paths and saved state --------------------------------------------------------------
    def path(self, canonical: str) -> str:
        return os.path.join(self.root, canonical.lstrip("/"))

    def load_data(self) -> Optional[Dict[str, Any]]:
        text = self.reader.read(self.hook_data, None)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise HookError("%s: %s" % (self.hook_data, exc)) from None
        if not isinstance(data, dict) or data.get("version") != 1:
            raise HookError("%s: unsupported hook data" % self.hook_data)
        return data

    def _state_path(self, name: str) -> str:
        return self.path("%s/%s.json" % (STATE_DIR, name))

    def _state_dir(self, create: bool) -> Optional[str]:
        """hook-state/ (and the state directory holding it), created 0700 or checked: owned
        by root and writable by nobody else, every directory above too; None when absent
        and not created. What is saved here is written back as root by `stop`."""
        directory = self.path(STATE_DIR)
        parent = os.path.dirname(directory)
        if not create and not os.path.lexists(directory):
            return None
        if create:
            os.makedirs(os.path.dirname(parent), 0o755, exist_ok=True)
        trusted_dir(parent, create=create)
        return trusted_dir(directory, create=create, ancestors=False)

    def saved(self, name: str) -> Optional[Any]:
        if self._state_dir(create=False) is None:
            return None
        path = self._state_path(name)
        try:
            raw = read_state_file(path, MAX_SAVED_BYTES)
            return None if raw is None else parse_json(decode_input(raw, path), path)
        except InputError as exc:
            raise HookError("saved state %s is unreadable: %s" % (name, exc)) from None

    def save(self, name: str, value: Any) -> None:
        self._state_dir(create=True)
        atomic_write(self._state_path(name), json.dumps(value, sort_keys=True).encode(), 0o600)

    def forget(self, name: str) -> None:
        if os.path.exists(self._state_path(name)):
            os.unlink(self._state_path(name))

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

    # -- NIC coalescing (tuned 2.20's [net] coalesce= cannot: tuned issue #726) --------------
    def current_coalesce(self, interface: str) -> Dict[str, Any]:
        from lltune.host import ethtool
        from lltune.host.reader import Missing

        if not re.match(IFNAME_PATTERN, interface):
            raise HookError("bad interface name %r" % interface)
        try:
            return ethtool.coalesce(interface)
        except Missing as exc:
            raise HookError("%s: cannot read coalescing: %s" % (interface, exc.reason)) from None

    def set_coalesce(self, interface: str, settings: Dict[str, Any]) -> None:
        from lltune.tune.render import ethtool_words

        words = ethtool_words(settings)
        if not all(re.match(r"^[a-z0-9-]{1,32}$", word) for word in words):
            raise HookError("bad coalesce settings for %s" % interface)
        # ethtool exits 80 when the driver already has these values.
        self.run(["ethtool", "-C", interface] + words, ok_codes=(0, 80))

    def start_coalesce(self, data: Dict[str, Any]) -> None:
        saved = self.saved("coalesce") or {}
        for entry in data.get("coalesce") or []:
            interface = entry["interface"]
            if interface not in saved:
                current = self.current_coalesce(interface)
                saved[interface] = {key: current.get(key) for key in entry["settings"]}
        self.save("coalesce", saved)
        for entry in data.get("coalesce") or []:
            self.set_coalesce(entry["interface"], entry["settings"])

    def stop_coalesce(self) -> List[str]:
        failed, problems = {}, []
        for interface, settings in sorted((self.saved("coalesce") or {}).items()):
            known = {k: v for k, v in settings.items() if v is not None}
            if known and self.reader.realpath("/sys/class/net/%s" % interface):
                try:
                    self.set_coalesce(interface, known)
                except HookError as exc:
                    failed[interface] = settings
                    problems.append(str(exc))
        return self._keep_failed("coalesce", failed, problems)

    def verify_coalesce(self, data: Dict[str, Any]) -> List[str]:
        problems = []
        for entry in data.get("coalesce") or []:
            current = self.current_coalesce(entry["interface"])
            for key, wanted in sorted(entry["settings"].items()):
                if current.get(key) != wanted:
                    problems.append("%s %s is %s, wanted %s" % (entry["interface"], key,
                                                               current.get(key), wanted))
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

    # -- sysctls a site file would win (tuned re-applies /etc/sysctl.d after [sysctl]) ------
    def _sysctl_path(self, name: str) -> str:
        if not re.match(SYSCTL_NAME_PATTERN, name):
            raise HookError("bad sysctl name %r" % name)
        return "/proc/sys/" + name.replace(".", "/")

    def start_sysctls(self, data: Dict[str, Any]) -> None:
        wanted = data.get("sysctls") or {}
        saved = self.saved("sysctls") or {}
        for name in sorted(wanted):
            if name not in saved:  # the value from before the first start
                saved[name] = self.reader.value(self._sysctl_path(name))
        self.save("sysctls", saved)
        for name, value in sorted(wanted.items()):
            self._write_sysctl(name, str(value))

    def _write_sysctl(self, name: str, value: str) -> None:
        if not re.match(SYSCTL_VALUE_PATTERN, value):
            raise HookError("bad value %r for sysctl %s" % (value, name))
        with open(self.path(self._sysctl_path(name)), "w") as handle:
            handle.write(value + "\n")

    def stop_sysctls(self) -> List[str]:
        failed, problems = {}, []
        for name, value in sorted((self.saved("sysctls") or {}).items()):
            if value is None:
                continue
            try:
                self._write_sysctl(name, value)
            except (HookError, OSError) as exc:
                failed[name] = value
                problems.append("sysctl %s: %s" % (name, exc))
        return self._keep_failed("sysctls", failed, problems)

    def verify_sysctls(self, data: Dict[str, Any]) -> List[str]:
        problems = []
        for name, wanted in sorted((data.get("sysctls") or {}).items()):
            current = self.reader.value(self._sysctl_path(name))
            if current is not None and " ".join(current.split()) != " ".join(str(
                    wanted).split()):
                problems.append("sysctl %s is %s, wanted %s" % (name, current, wanted))
        return problems

    # -- swap ------------------------------------------------------------------------------
    def swap_devices(self) -> List[str]:
        lines = (self.reader.read("/proc/swaps", "") or "").splitlines()[1:]
        return [line.split()[0] for line in lines if line.split()]

    def run(self, argv: List[str], ok_codes: Tuple[int, ...] = (0,)) -> None:
        try:
            done = subprocess.run(argv, capture_output=True, timeout=COMMAND_TIMEOUT,
                                  check=False, text=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HookError("%s: %s" % (" ".join(argv), exc)) from None
        if done.returncode not in ok_codes:
            raise HookError("%s failed (%d): %s" % (" ".join(argv), done.returncode,
                                                     done.stderr.strip()[:200]))

    def start_swap(self, data: Dict[str, Any]) -> None:
        if data.get("swap") != "off":
            return
        devices = self.swap_devices()
        if devices:
            self.save("swap", sorted(set(devices) | set(self.saved("swap") or [])))
            for device in devices:
                self.run(["swapoff", device])

    def stop_swap(self) -> List[str]:
        failed, problems = [], []
        for device in self.saved("swap") or []:
            if device not in self.swap_devices():
                try:
                    self.run(["swapon", device])
                except HookError as exc:
                    failed.append(device)
                    problems.append(str(exc))
        return self._keep_failed("swap", failed, problems)

    # -- limits ----------------------------------------------------------------------------
    @staticmethod
    def limits_text(limits: List[Dict[str, Any]]) -> str:
        lines = ["# Written by the lltune tuned hook; removed when the lltune profile is "
                 "switched off."]
        for entry in limits:
            domain = entry["domain"]
            if not re.match(LIMIT_DOMAIN_PATTERN, domain):
                raise HookError("bad limits domain %r" % domain)
            for item in ("memlock", "rtprio", "nofile"):
                if item in entry:
                    value = str(entry[item])
                    if not re.match(r"^(unlimited|[0-9]{1,16})$", value):
                        raise HookError("bad %s value %r" % (item, value))
                    lines.append("%s - %s %s" % (domain, item, value))
        return "\n".join(lines) + "\n"

    def start_limits(self, data: Dict[str, Any]) -> None:
        if data.get("limits"):
            self._save_file_once("limits-file", LIMITS_FILE)
            self.write(LIMITS_FILE, self.limits_text(data["limits"]))

    # -- PTP -------------------------------------------------------------------------------
    @staticmethod
    def ptp_texts(ptp: Dict[str, Any]) -> Dict[str, str]:
        interface = ptp["interface"]
        if not re.match(IFNAME_PATTERN, interface):
            raise HookError("bad PTP interface %r" % interface)
        options = {"ptp4l": "-f /etc/ptp4l.conf -i %s %s" % (interface,
                                                             ptp.get("ptp4l_options", "")),
                   "phc2sys": ptp.get("phc2sys_options") or "-a -r"}
        texts = {}
        for daemon, value in options.items():
            value = " ".join(value.split())
            if not re.match(OPTIONS_PATTERN, value):
                raise HookError("bad %s options %r" % (daemon, value))
            texts[PTP_FILES[daemon]] = 'OPTIONS="%s"\n' % value
        return texts

    def start_ptp(self, data: Dict[str, Any]) -> None:
        if data.get("ptp"):
            for path, text in sorted(self.ptp_texts(data["ptp"]).items()):
                self._save_file_once("file-" + os.path.basename(path), path)
                self.write(path, text)

    # -- files we replace ------------------------------------------------------------------
    def write(self, canonical: str, text: str) -> None:
        target = self.path(canonical)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        atomic_write(target, text.encode(), 0o644)

    def _save_file_once(self, name: str, canonical: str) -> None:
        if self.saved(name) is not None:
            return
        content = self.reader.read(canonical, None)
        self.save(name, {"path": canonical, "content": content})

    def restore_files(self) -> List[str]:
        directory = self._state_dir(create=False)
        names = sorted(os.listdir(directory)) if directory else []
        problems = []
        for name in names:
            if not (name.startswith("file-") or name == "limits-file.json"):
                continue
            # A file that cannot be restored keeps its saved copy for the next stop.
            try:
                record = self.saved(name[:-len(".json")])
                if record is None:
                    continue  # another stop restored it a moment ago
                if record["path"] not in RESTORABLE:
                    raise HookError("saved record names %r, not a file the hook writes"
                                    % (record["path"],))
                target = self.path(record["path"])
                if record["content"] is None:
                    if os.path.lexists(target):
                        os.unlink(target)
                else:
                    atomic_write(target, record["content"].encode(), 0o644)
                self.forget(name[:-len(".json")])
            except (HookError, LLTuneError, OSError, KeyError, TypeError) as exc:
                problems.append("%s: %s" % (name, exc))
        return problems

    def _keep_failed(self, name: str, failed: Any, problems: List[str]) -> List[str]:
        """Forget the saved state once everything in it is restored; otherwise keep only
        what failed, so the next stop tries again."""
        if failed:
            self.save(name, failed)
        else:
            self.forget(name)
        return problems

    def verify_files(self, data: Dict[str, Any]) -> List[str]:
        wanted = {}
        if data.get("limits"):
            wanted[LIMITS_FILE] = self.limits_text(data["limits"])
        if data.get("ptp"):
            wanted.update(self.ptp_texts(data["ptp"]))
        return ["%s differs from what lltune wrote" % path for path, text in wanted.items()
                if self.reader.read(path, None) != text]

    # -- the three verbs -------------------------------------------------------------------
    def start(self) -> int:
        data = self.load_data()
        if data is None:
            return 0
        # Validate everything first: a bad value must not leave half the work done.
        self.verify_files(data)
        self.desired_pins(data)
        for name, value in (data.get("sysctls") or {}).items():
            self._sysctl_path(name)
            if not re.match(SYSCTL_VALUE_PATTERN, str(value)):
                raise HookError("bad value %r for sysctl %s" % (value, name))
        self.start_limits(data)
        self.start_ptp(data)
        self.start_swap(data)
        self.start_irqs(data)
        self.start_coalesce(data)
        self.start_kthreads(data)
        self.start_sysctls(data)
        return 0

    def stop(self, full_rollback: bool = True) -> int:
        """Undo everything start did; one failure does not stop the rest of the undo.

        Without full_rollback (tuned stopping at shutdown, or on a restart with
        rollback=not_on_exit) nothing is undone: the next start finds its own changes in
        place, and the saved originals stay for the rollback that will come."""
        if not full_rollback:
            self.messages.append("stop without full_rollback: kept what start set")
            return 0
        problems = []
        for undo in (self.stop_sysctls, self.stop_kthreads, self.stop_coalesce, self.stop_irqs,
                     self.stop_swap, self.restore_files):
            # Any error, even from a malformed saved record: the other steps still run.
            try:
                problems += undo()
            except Exception as exc:
                problems.append("%s: %s" % (undo.__name__, exc))
        self.messages += problems
        return 1 if problems else 0

    def verify(self) -> int:
        data = self.load_data()
        if data is None:
            return 0
        problems = self.verify_irqs(data) + self.verify_files(data) + \
            self.verify_coalesce(data) + self.verify_kthreads(data) + \
            self.verify_sysctls(data)
        if data.get("swap") == "off" and self.swap_devices():
            problems.append("swap is on: %s" % ", ".join(self.swap_devices()))
        self.messages += problems
        return 1 if problems else 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = argv[0] if argv else ""
    hook = Hook("/")
    try:
        if verb == "start":
            status = hook.start()
        elif verb == "stop":
            status = hook.stop(full_rollback="full_rollback" in argv[1:])
        elif verb == "verify":
            status = hook.verify()
        else:
            print("usage: lltune-hook start|stop [full_rollback]|verify [ignore_missing]",
                  file=sys.stderr)
            return 2
    except (HookError, LLTuneError, OSError) as exc:
        print("lltune-hook %s: %s" % (verb, exc), file=sys.stderr)
        return 1
    for message in hook.messages:
        print("lltune-hook %s: %s" % (verb, message), file=sys.stderr)
    return status
