"""A generated large Linux host: the /proc, /sys, /etc (and a little /usr, /boot) of a 256-CPU
RHEL 9 family machine, for `lltune scan --root DIR --probes PROBES`.

Deterministic (a fixed seed; the same spec gives the same bytes) and pure stdlib. The files
follow the kernel's own formats (5.14, the RHEL 9 kernel) and the links are relative, as sysfs
makes them, so the tree can be copied, tarred or scanned without anything pointing out of it.

    generate(root_dir, spec=LARGE) -> ground truth (a JSON-ready dict)

writes the tree into `root_dir` (which must not exist or be empty) and the recorded ethtool
answers (a `lltune-probes` document, what `--probes` reads) to `truth["probes"]`, by default
`probes.json` next to `root_dir`. `python tests/hostgen.py OUTDIR` writes OUTDIR/root,
OUTDIR/probes.json and OUTDIR/truth.json.

What the LARGE host is (each choice mirrors a real machine):
- 2 packages x 64 cores x 2 threads = 256 CPUs, Intel numbering: CPU N's SMT sibling is N+128;
  sub-NUMA clustering (SNC2) gives 4 nodes, each with its own L3; core ids have gaps (fused-off
  cores).
- intel_pstate (governor powersave, EPP balance_performance), intel_idle POLL/C1/C1E/C6.
- 16 physical ports: 4 dual-port ConnectX-6 Dx (mlx5_core) and 2 quad-port E810 (ice) spread
  over the 4 nodes; the card at 0000:b8 sits behind a root port without _PXM, so its functions
  read numa_node -1 and their local_cpulist names node 3 (the fallback a scanner must use).
  A bond (active-backup) over two ports, a VLAN on the bond, /sys/class/net/bonding_masters.
- /proc/interrupts with 256 CPU columns and about 1,400 numbered rows (64 queue IRQs + one
  control IRQ per port, 4 NVMe drives with 65 vectors each, PCIe ports, DMAR, legacy IO-APIC
  lines) in the 5.14 format, then the x86 named rows; /proc/irq/N for each.
- about 2,100 kernel threads (per-CPU cpuhp, idle_inject, migration, ksoftirqd, kworkers) and
  some daemons (tuned, irqbalance, chronyd, ptp4l), /proc/self a link to the reading process.
- Quirks kept on purpose: /sys/devices/system/cpu/nohz_full reads "(null)" padded to the CPU
  count (5.14 prints a NULL cpumask that way when nohz_full= is not given), /etc/os-release is
  a relative link into /usr/lib, /proc/net is the link "self/net", comms with spaces and
  parentheses, a NIC with no carrier (speed -1), a masked unit (a link to /dev/null inside the
  tree), a limits.d file that pam_limits ignores (.conf.bak).
"""

import json
import os
import posixpath
import random
import sys
from typing import Any, Dict, Iterable, List, Optional, Tuple

LARGE: Dict[str, Any] = {
    "name": "large",
    "seed": 9042024,
    "packages": 2,
    "nodes_per_package": 2,
    "cores_per_package": 64,
    "threads_per_core": 2,
    "queues_per_nic": 64,
    "nvme_drives": 4,
    "nvme_io_queues": 64,
    "hostname": "ldn-trade-gw07.example.net",
}

KERNEL_RELEASE = "5.14.0-427.13.1.el9_4.x86_64"
KERNEL_VERSION = "#1 SMP PREEMPT_DYNAMIC Wed May 1 19:11:28 EDT 2024"
NR_CPU_IDS_MAX = 8192  # CONFIG_NR_CPUS of the RHEL 9 x86_64 kernel
MAX_NUMNODES = 1024  # CONFIG_NODES_SHIFT=10
IRQ_PREC = 4  # kernel/irq/proc.c: digits of nr_irqs (a few thousand on a 256-CPU host)


# ------------------------------------------------------------------ formats


def cpulist(cpus: Iterable[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5" (bitmap_print_to_pagebuf(true, ...))."""
    ordered = sorted(set(cpus))
    parts = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else "%d-%d" % (ordered[i], ordered[j]))
        i = j + 1
    return ",".join(parts)


def cpumask(cpus: Iterable[int], nbits: int) -> str:
    """The kernel's "%*pb": 32-bit hex words, most significant first, `nbits` wide."""
    value = 0
    for cpu in cpus:
        value |= 1 << cpu
    nwords = max(1, (nbits + 31) // 32)
    words = ["%08x" % ((value >> (32 * i)) & 0xFFFFFFFF) for i in range(nwords)]
    text = ",".join(reversed(words))
    rem = nbits % 32
    if rem:  # the top word is printed with only as many digits as it has bits
        digits = (rem + 3) // 4
        text = text[8 - digits:]
    return text


# ------------------------------------------------------------------ the writer


class Tree:
    """Writes canonical paths ("/proc/cpuinfo") under a root; links are made relative."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self._dirs = set()  # type: set
        self.files = 0
        self.links: List[str] = []

    def _dir(self, host_dir: str) -> None:
        if host_dir not in self._dirs:
            os.makedirs(host_dir, exist_ok=True)
            self._dirs.add(host_dir)

    def mkdir(self, path: str) -> None:
        self._dir(self.root + path)

    def write(self, path: str, text: str) -> None:
        host = self.root + path
        self._dir(host.rsplit("/", 1)[0])
        data = text.encode("utf-8")
        fd = os.open(host, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        self.files += 1

    def line(self, path: str, value: Any) -> None:
        """A one-value sysfs/procfs attribute: the value and a newline."""
        self.write(path, "%s\n" % (value,))

    def link(self, path: str, target: str) -> None:
        """A symlink at `path` to the canonical `target`, written relative like sysfs's."""
        host = self.root + path
        self._dir(host.rsplit("/", 1)[0])
        os.symlink(posixpath.relpath(target, posixpath.dirname(path)), host)
        self.links.append(path)


# ------------------------------------------------------------------ the model


class Model:
    """Everything about the host, decided before a byte is written."""

    def __init__(self, spec: Dict[str, Any]):
        self.spec = spec
        self.rng = random.Random(spec["seed"])
        self.cpus: List[Dict[str, Any]] = []
        self.nodes: List[Dict[str, Any]] = []
        self.pci: Dict[str, Dict[str, Any]] = {}  # address -> device
        self.irqs: List[Dict[str, Any]] = []
        self.nics: List[Dict[str, Any]] = []
        self.nvme: List[Dict[str, Any]] = []
        self.ptp: List[Dict[str, Any]] = []
        self.processes: List[Dict[str, Any]] = []
        self._next_irq = 120  # after the IO-APIC GSIs of all sockets
        self._topology()

    # CPUs and nodes
    def _topology(self) -> None:
        s = self.spec
        npkg, ncore, nthr = s["packages"], s["cores_per_package"], s["threads_per_core"]
        per_node = ncore // s["nodes_per_package"]
        self.ncpus = npkg * ncore * nthr
        self.nodes = [{"id": n, "package": n // s["nodes_per_package"], "cpus": []}
                      for n in range(npkg * s["nodes_per_package"])]
        for pkg in range(npkg):
            # Core ids with gaps, as on parts with fused-off cores.
            core_ids = sorted(self.rng.sample(range(ncore + ncore // 8), ncore))
            for core in range(ncore):
                node = pkg * s["nodes_per_package"] + core // per_node
                ids = [t * npkg * ncore + pkg * ncore + core for t in range(nthr)]
                for t, cpu in enumerate(ids):
                    self.cpus.append({"id": cpu, "package": pkg, "die": 0,
                                      "core": core_ids[core], "node": node,
                                      "siblings": ids, "thread": t, "l3": node})
                    self.nodes[node]["cpus"].append(cpu)
        self.cpus.sort(key=lambda c: c["id"])
        for node in self.nodes:
            node["cpus"].sort()
        self.all_cpus = list(range(self.ncpus))

    def node_cpus(self, node: int) -> List[int]:
        return self.nodes[node]["cpus"]

    def local_spread(self, index: int, node: Optional[int]) -> int:
        """cpumask_local_spread(i, node): the node's CPUs first; every online CPU for -1."""
        if node is None or node < 0:
            return self.all_cpus[index % self.ncpus]
        local = self.node_cpus(node)
        if index < len(local):
            return local[index]
        others = [c for c in self.all_cpus if c not in set(local)]
        return others[(index - len(local)) % len(others)]

    # IRQs
    def add_irq(self, chip: str, hwirq: int, trigger: str, actions: str,
                affinity: List[int], effective: List[int], node: int,
                device: Optional[str], counts: Dict[int, int], irq: Optional[int] = None,
                gap: int = 0) -> int:
        if irq is None:
            self._next_irq += gap
            irq = self._next_irq
            self._next_irq += 1
        self.irqs.append({"irq": irq, "chip": chip, "hwirq": hwirq, "trigger": trigger,
                          "actions": actions, "affinity": affinity, "effective": effective,
                          "node": node, "device": device, "counts": counts})
        return irq

    def busy_counts(self, cpu: int, low: int, high: int, boot_cpu0: bool = True,
                    strays: int = 0) -> Dict[int, int]:
        """Counts concentrated on `cpu`, a few from boot on CPU 0, a few strays elsewhere."""
        rng = self.rng
        counts = {cpu: rng.randint(low, high)}
        if boot_cpu0 and cpu != 0:
            counts[0] = counts.get(0, 0) + rng.randint(1, 40)
        for _ in range(strays):
            other = rng.randrange(self.ncpus)
            counts[other] = counts.get(other, 0) + rng.randint(1, 5000)
        return counts


# PCI: vendor, device, subsystem, class per kind.
PCI_IDS = {
    "mlx5": ("0x15b3", "0x101d", "0x15b3", "0x0016", "0x020000"),  # ConnectX-6 Dx
    "ice": ("0x8086", "0x1593", "0x8086", "0x0002", "0x020000"),  # E810-C 4x25G
    "nvme": ("0x144d", "0xa80a", "0x144d", "0xa813", "0x010802"),  # PM9A3
    "rootport": ("0x8086", "0x352a", "0x0000", "0x0000", "0x060400"),
    "hostbridge": ("0x8086", "0x09a2", "0x8086", "0x0000", "0x088000"),
    "uncore": ("0x8086", "0x3240", "0x8086", "0x0000", "0x088000"),
    "xhci": ("0x8086", "0x1bcd", "0x1028", "0x0b1a", "0x0c0330"),
    "mei": ("0x8086", "0x1be0", "0x1028", "0x0b1a", "0x078000"),
    "ahci": ("0x8086", "0x1bf2", "0x1028", "0x0b1a", "0x010601"),
    "lpc": ("0x8086", "0x1b81", "0x1028", "0x0b1a", "0x060100"),
    "smbus": ("0x8086", "0x1bc9", "0x1028", "0x0b1a", "0x0c0500"),
    "spi": ("0x8086", "0x1bca", "0x1028", "0x0b1a", "0x0c8000"),
    "vga": ("0x102b", "0x0536", "0x1028", "0x0b1a", "0x030000"),  # Matrox G200eW3 (BMC)
}
DRIVERS = {"mlx5": "mlx5_core", "ice": "ice", "nvme": "nvme", "rootport": "pcieport",
           "xhci": "xhci_hcd", "mei": "mei_me", "ahci": "ahci", "lpc": None,
           "smbus": "i801_smbus", "spi": "intel-spi", "vga": "mgag200", "hostbridge": None,
           "uncore": None}

# (root bus, node, what sits behind its root port): the IIO stacks of the two sockets.
# Cards: (kind, functions, slot, numa_node override (None: the stack's node)).
STACKS = (
    (0x15, 0, ("mlx5", 2, 1, None)),
    (0x26, 0, ("nvme", 1, 0, None)),
    (0x37, 1, ("mlx5", 2, 2, None)),
    (0x48, 1, ("ice", 4, 3, None)),
    (0x59, 1, ("nvme", 1, 0, None)),
    (0x97, 2, ("mlx5", 2, 5, None)),
    (0xa7, 2, ("nvme", 1, 0, None)),
    (0xb7, 3, ("mlx5", 2, 6, -1)),  # no _PXM for this root port: numa_node reads -1
    (0xc7, 3, ("ice", 4, 7, None)),
    (0xd7, 3, ("nvme", 1, 0, None)),
)
UNCORE_BUSES = ((0x7e, 0), (0x7f, 0), (0xfe, 1), (0xff, 1))  # (bus, package)

# The NIC whose link is down, the one with RPS configured, the bond and the VLAN.
DOWN_NIC = "ens7f3"
RPS_NIC = "ens3f1"
BOND = ("bond0", ["ens1f0np0", "ens2f0np0"])
VLAN = ("bond0.100", 100, "bond0")


def pci_sysfs(root_bus: int, *path: str) -> str:
    return "/sys/devices/pci0000:%02x/%s" % (root_bus, "/".join(path))


def build_pci(m: Model) -> None:
    """PCI functions, their IRQs (in probe order) and the NICs and NVMe drives on them."""
    rng = m.rng
    nodes_of_pkg = {pkg: [n["id"] for n in m.nodes if n["package"] == pkg]
                    for pkg in range(m.spec["packages"])}

    def add(kind: str, address: str, path: str, node: int, local_node: Optional[int],
            **extra: Any) -> Dict[str, Any]:
        local = m.node_cpus(local_node) if local_node is not None else m.all_cpus
        device = {"kind": kind, "address": address, "path": path, "numa_node": node,
                  "local_cpus": local, "msi": [], "msi_kind": None, "legacy_irq": 0,
                  "driver": DRIVERS[kind]}
        device.update(extra)
        m.pci[address] = device
        return device

    # Legacy IO-APIC lines (fixed numbers, before everything else).
    m.add_irq("IR-IO-APIC", 2, "edge", "timer", m.all_cpus, [0], 0, None, {0: 44}, irq=0)
    m.add_irq("IR-IO-APIC", 4, "edge", "ttyS0", m.all_cpus, [3], 0, None, {3: 1871}, irq=4)
    m.add_irq("IR-IO-APIC", 8, "edge", "rtc0", m.all_cpus, [0], 0, None, {}, irq=8)
    m.add_irq("IR-IO-APIC", 9, "fasteoi", "acpi", m.all_cpus, [0], 0, None, {0: 2}, irq=9)

    # Chipset on socket 0, root bus 00.
    add("hostbridge", "0000:00:00.0", pci_sysfs(0, "0000:00:00.0"), 0, 0)
    for kind, address, legacy in (("lpc", "0000:00:1f.0", 0), ("smbus", "0000:00:1f.4", 16),
                                  ("spi", "0000:00:1f.5", 0)):
        add(kind, address, pci_sysfs(0, address), 0, 0, legacy_irq=legacy)
    m.add_irq("IR-IO-APIC", 16, "fasteoi", "i801_smbus", m.all_cpus, [17], 0, "0000:00:1f.4",
              {17: 0}, irq=16)
    # DMAR units, one per IIO stack and the chipset's.
    for index in range(len(STACKS) + 2):
        cpu = m.node_cpus(0)[index % 4]
        m.add_irq("DMAR-MSI", index, "edge", "dmar%d" % index, m.all_cpus, [cpu], 0, None, {})
    for kind, address in (("xhci", "0000:00:14.0"), ("mei", "0000:00:16.0"),
                          ("ahci", "0000:00:17.0")):
        device = add(kind, address, pci_sysfs(0, address), 0, 0, msi_kind="msi")
        name = {"xhci": "xhci_hcd", "mei": "mei_me", "ahci": "ahci[0000:00:17.0]"}[kind]
        cpu = rng.choice(m.node_cpus(0))
        device["msi"].append(m.add_irq("IR-PCI-MSI-" + address, 0, "edge", name, [cpu], [cpu],
                                       0, address, m.busy_counts(cpu, 0, 900)))
    # The BMC's VGA behind a chipset root port.
    port = add("rootport", "0000:00:1c.0", pci_sysfs(0, "0000:00:1c.0"), 0, 0, msi_kind="msi")
    cpu = m.node_cpus(0)[5]
    port["msi"].append(m.add_irq("IR-PCI-MSI-0000:00:1c.0", 0, "edge", "PCIe PME", m.all_cpus,
                                 [cpu], 0, "0000:00:1c.0", {}))
    add("vga", "0000:02:00.0", pci_sysfs(0, "0000:00:1c.0", "0000:02:00.0"), 0, 0)

    # Uncore devices (no driver, no interrupts): what fills `lspci` on a server.
    for bus, pkg in UNCORE_BUSES:
        node = nodes_of_pkg[pkg][0]
        for dev_fn in ("00.0", "00.1", "00.2", "00.3", "00.5", "01.0", "01.1", "02.0",
                       "02.1", "02.4", "03.0", "03.1", "0b.0", "0b.1", "0b.2", "1e.0"):
            address = "0000:%02x:%s" % (bus, dev_fn)
            add("uncore", address, "/sys/devices/pci0000:%02x/%s" % (bus, address), node, node)

    # IIO stacks: host bridge, root port, and the card or drive behind it.
    nvme_index = 0
    ptp_index = 0
    pending_nics: List[Tuple[Dict[str, Any], int, int, str]] = []
    for root_bus, node, (kind, nfunc, slot, override) in STACKS:
        add("hostbridge", "0000:%02x:00.0" % root_bus,
            pci_sysfs(root_bus, "0000:%02x:00.0" % root_bus), node, node)
        rp_address = "0000:%02x:01.0" % root_bus
        port = add("rootport", rp_address, pci_sysfs(root_bus, rp_address), node, node,
                   msi_kind="msi")
        cpu = rng.choice(m.node_cpus(node))
        port["msi"].append(m.add_irq("IR-PCI-MSI-" + rp_address, 0, "edge", "PCIe PME, aerdrv",
                                     m.all_cpus, [cpu], node, rp_address, {}, gap=1))
        bus = root_bus + 1
        for function in range(nfunc):
            address = "0000:%02x:00.%d" % (bus, function)
            numa_node = node if override is None else override
            device = add(kind, address, pci_sysfs(root_bus, rp_address, address), numa_node,
                         node, msi_kind="msix", card_slot=slot, function=function)
            if kind == "nvme":
                device["nvme"] = "nvme%d" % nvme_index
                m.nvme.append(device)
                nvme_index += 1
            else:
                owns_clock = kind == "mlx5" or function == 0  # ice: one PHC per adapter
                if owns_clock:
                    device["ptp"] = "ptp%d" % ptp_index
                    device["phc_index"] = ptp_index
                    ptp_index += 1
                else:
                    device["phc_index"] = m.pci["0000:%02x:00.0" % bus]["phc_index"]
                if kind == "mlx5":
                    name = "ens%df%dnp%d" % (slot, function, function)
                else:
                    name = "ens%df%d" % (slot, function)
                pending_nics.append((device, slot, function, name))

    # Drivers probe storage first (nvme is built in to the initramfs), then the NICs.
    for device in m.nvme:
        nvme_irqs(m, device)
    for device, _slot, _function, name in pending_nics:
        nic_irqs(m, device, name)


def nvme_irqs(m: Model, device: Dict[str, Any]) -> None:
    """nvme: the admin queue (not managed), then managed I/O vectors spread over all CPUs."""
    nq = m.spec["nvme_io_queues"]
    address, name = device["address"], device["nvme"]
    node = device["numa_node"]
    admin_cpu = m.rng.choice(m.node_cpus(node))
    chip = "IR-PCI-MSIX-" + address
    device["msi"].append(m.add_irq(chip, 0, "edge", name + "q0", m.all_cpus, [admin_cpu], node,
                                   address, m.busy_counts(admin_cpu, 40, 400), gap=2))
    # irq_create_affinity_masks: node by node, siblings kept together.
    per_vector = max(1, m.ncpus // nq)
    cores = []
    for n in m.nodes:
        seen = set()
        for cpu in n["cpus"]:
            if cpu in seen:
                continue
            sibs = m.cpus[cpu]["siblings"]
            seen.update(sibs)
            cores.append(sibs)
    flat = [cpu for sibs in cores for cpu in sibs]
    for q in range(nq):
        mask = sorted(flat[q * per_vector:(q + 1) * per_vector])
        eff = mask[0]
        counts = {cpu: m.rng.randint(100000, 90000000) for cpu in mask if m.rng.random() < 0.8}
        counts[eff] = counts.get(eff, 0) + m.rng.randint(1000, 5000000)
        device["msi"].append(m.add_irq(chip, q + 1, "edge", "%sq%d" % (name, q + 1), mask,
                                       [eff], node, address, counts))


def nic_irqs(m: Model, device: Dict[str, Any], ifname: str) -> None:
    """mlx5: async (control) vector then mlx5_comp<N>; ice: misc then ice-<if>-TxRx-<N>.

    Both drivers place queue vector i on cpumask_local_spread(i, numa_node): the node's CPUs in
    order, or every online CPU from 0 when numa_node is -1 (so that card's IRQs land on nodes 0
    and 1 although it is local to node 3).
    """
    rng = m.rng
    address = device["address"]
    node = device["numa_node"]
    irq_node = node  # /proc/irq/N/node: the device's node, -1 included
    chip = "IR-PCI-MSIX-" + address
    down = ifname == DOWN_NIC
    first_cpu = m.local_spread(0, node)
    if device["kind"] == "mlx5":
        control = "mlx5_async0@pci:" + address
        queue_name = "mlx5_comp%d@pci:" + address
    else:
        control = "ice-%s:misc" % address
        queue_name = "ice-" + ifname + "-TxRx-%d"
    control_mask = m.node_cpus(node) if node >= 0 else m.all_cpus
    device["msi"].append(m.add_irq(chip, 0, "edge", control, control_mask, [first_cpu],
                                   irq_node, address, m.busy_counts(first_cpu, 1000, 90000),
                                   gap=3))
    queue_cpus = []
    for q in range(m.spec["queues_per_nic"]):
        cpu = m.local_spread(q, node)
        queue_cpus.append(cpu)
        if down:
            counts = {cpu: rng.randint(0, 3)} if rng.random() < 0.3 else {}
        else:
            counts = m.busy_counts(cpu, 50000, 2000000000, boot_cpu0=rng.random() < 0.2,
                                   strays=1 if rng.random() < 0.1 else 0)
        device["msi"].append(m.add_irq(chip, q + 1, "edge", queue_name % q, [cpu], [cpu],
                                       irq_node,
                                       address, counts))
    device["queue_cpus"] = queue_cpus
    m.nics.append({"name": ifname, "device": device})


def build_processes(m: Model) -> None:
    """Kernel threads in creation order (per-CPU ones interleaved), then user processes."""
    procs = m.processes
    pid = [1]

    def add(comm: str, cpus: List[int], kthread: bool, flags: int, ppid: int,
            prio: int = 20, nice: int = 0, policy: int = 0, rt: int = 0,
            last_cpu: Optional[int] = None, threads: int = 1, uid: int = 0,
            exe_kb: int = 0, at: Optional[int] = None) -> int:
        if at is not None:
            pid[0] = at
        this = pid[0]
        pid[0] += 1
        procs.append({"pid": this, "comm": comm, "cpus": cpus, "kthread": kthread,
                      "flags": flags, "ppid": ppid, "prio": prio, "nice": nice,
                      "policy": policy, "rt": rt, "threads": threads, "uid": uid,
                      "last_cpu": cpus[0] if last_cpu is None else last_cpu,
                      "vm_kb": exe_kb})
        return this

    KT = 0x00208040  # PF_KTHREAD | PF_NOFREEZE | PF_FORKNOEXEC
    KT_BOUND = KT | 0x04000000  # PF_NO_SETAFFINITY
    WQ = KT_BOUND | 0x20  # PF_WQ_WORKER
    all_cpus = m.all_cpus
    n = m.ncpus
    add("systemd", all_cpus, False, 0x400100, 0, threads=1, exe_kb=174000, last_cpu=12)
    add("kthreadd", all_cpus, True, KT, 0, last_cpu=77)
    for comm in ("rcu_gp", "rcu_par_gp", "slub_flushwq", "netns"):
        add(comm, all_cpus, True, WQ, 2, prio=0, nice=-20)
    pid[0] += 1
    add("kworker/0:0H-events_highpri", [0], True, WQ, 2, prio=0, nice=-20)
    pid[0] += 1
    add("mm_percpu_wq", all_cpus, True, WQ, 2, prio=0, nice=-20)
    for comm in ("rcu_tasks_kthre", "rcu_tasks_rude_", "rcu_tasks_trace"):
        add(comm, all_cpus, True, KT, 2)
    add("ksoftirqd/0", [0], True, KT_BOUND, 2)
    add("rcu_preempt", all_cpus, True, KT, 2, prio=-2, policy=1, rt=1, last_cpu=40)
    add("migration/0", [0], True, KT_BOUND, 2, prio=-100, policy=1, rt=99)
    add("idle_inject/0", [0], True, KT_BOUND, 2, prio=-51, policy=1, rt=50)
    pid[0] += 1
    add("cpuhp/0", [0], True, KT_BOUND, 2)
    for cpu in range(1, n):
        add("cpuhp/%d" % cpu, [cpu], True, KT_BOUND, 2)
        add("idle_inject/%d" % cpu, [cpu], True, KT_BOUND, 2, prio=-51, policy=1, rt=50)
        add("migration/%d" % cpu, [cpu], True, KT_BOUND, 2, prio=-100, policy=1, rt=99)
        add("ksoftirqd/%d" % cpu, [cpu], True, KT_BOUND, 2)
        pid[0] += 1
        add("kworker/%d:0H-events_highpri" % cpu, [cpu], True, WQ, 2, prio=0, nice=-20)
    for comm in ("kdevtmpfs", "inet_frag_wq", "kauditd", "khungtaskd", "oom_reaper",
                 "writeback", "kcompactd0", "kcompactd1", "kcompactd2", "kcompactd3", "ksmd",
                 "khugepaged", "kintegrityd", "kblockd", "blkcg_punt_bio", "tpm_dev_wq",
                 "md", "edac-poller", "watchdogd", "kswapd0", "kswapd1", "kswapd2", "kswapd3",
                 "kthrotld", "acpi_thermal_pm", "mld", "ipv6_addrconf", "kstrp",
                 "zswap-shrink", "nvme-wq", "nvme-reset-wq", "nvme-delete-wq", "scsi_eh_0",
                 "scsi_tmf_0", "scsi_eh_1", "scsi_tmf_1", "kdmflush/253:0", "kdmflush/253:1",
                 "xfsalloc", "xfs_mru_cache", "xfs-buf/dm-0", "xfs-conv/dm-0",
                 "xfs-reclaim/dm-", "xfs-log/dm-0", "xfsaild/dm-0", "ib-comp-wq",
                 "ib-comp-unb-wq", "ib_mcast", "ib_nl_sa_wq", "mlx5_events",
                 "mlx5_fw_reset_ev", "ice", "ice_lag", "ptp0", "ptp2", "ptp4"):
        node_bound = comm[:-1] in ("kcompactd", "kswapd")
        cpus = m.node_cpus(int(comm[-1])) if node_bound else all_cpus
        flags = KT if comm.startswith(("k", "xfsaild", "ptp", "watchdogd", "oom")) else WQ
        add(comm, cpus, True, flags, 2, prio=0 if flags == WQ else 20,
            nice=-20 if flags == WQ else 0)
    for nic in m.nics:
        if nic["device"]["kind"] == "mlx5":
            # Rescuer threads are named after their workqueue, cut to 15 characters.
            add(("mlx5_health" + nic["device"]["address"])[:15], all_cpus, True, WQ, 2,
                prio=0, nice=-20)
    for cpu in range(n):
        add("kworker/%d:1-events" % cpu, [cpu], True, WQ, 2)
        add("kworker/%d:1H-kblockd" % cpu, [cpu], True, WQ, 2, prio=0, nice=-20)
        if cpu % 4 == 0:
            add("kworker/%d:2-mm_percpu_wq" % cpu, [cpu], True, WQ, 2)
    # Unbound workers: the default pool's and one pool per node.
    pool = 2 * n
    for index in range(24):
        add("kworker/u%d:%d-events_unbound" % (pool, index), all_cpus, True, WQ, 2)
    for node in m.nodes:
        for index in range(3):
            add("kworker/u%d:%d-flush-253:0" % (pool + 1 + node["id"], index),
                node["cpus"], True, WQ, 2)

    # User space.
    # User space, started after the boot-time kernel threads.
    pid[0] += 40
    add("systemd-journal", all_cpus, False, 0x400100, 1, exe_kb=92000)
    add("systemd-udevd", all_cpus, False, 0x400140, 1, exe_kb=31000)
    pid[0] += 300  # udev workers came and went
    add("auditd", all_cpus, False, 0x400140, 1, exe_kb=88000, threads=4)
    launcher = add("dbus-broker-lau", all_cpus, False, 0x400100, 1, exe_kb=25000)
    add("dbus-broker", all_cpus, False, 0x400100, launcher, exe_kb=6000, uid=81)
    add("irqbalance", all_cpus, False, 0x400100, 1, exe_kb=84000, threads=2)
    add("chronyd", all_cpus, False, 0x400140, 1, exe_kb=85000, uid=994)
    add("systemd-logind", all_cpus, False, 0x400100, 1, exe_kb=32000)
    add("tuned", all_cpus, False, 0x400100, 1, exe_kb=520000, threads=4)
    add("NetworkManager", all_cpus, False, 0x400100, 1, exe_kb=260000, threads=3)
    sshd = add("sshd", all_cpus, False, 0x400140, 1, exe_kb=16000)
    add("rsyslogd", all_cpus, False, 0x400140, 1, exe_kb=230000, threads=3)
    add("crond", all_cpus, False, 0x400100, 1, exe_kb=222000)
    add("agetty", all_cpus, False, 0x400100, 1, exe_kb=221000)
    add("polkitd", all_cpus, False, 0x400100, 1, exe_kb=2700000, threads=6, uid=998)
    add("ptp4l", all_cpus, False, 0x400100, 1, exe_kb=7000)
    # An interactive session, much later: the user's systemd, sd-pam, a shell, tmux, lltune.
    session = add("sshd", all_cpus, False, 0x400140, sshd, exe_kb=19000, at=48100)
    user_systemd = add("systemd", all_cpus, False, 0x400100, 1, exe_kb=22000, uid=1000)
    add("(sd-pam)", all_cpus, False, 0x400140, user_systemd, exe_kb=170000, uid=1000)
    child = add("sshd", all_cpus, False, 0x400140, session, exe_kb=19000, uid=1000)
    add("bash", all_cpus, False, 0x400000, child, exe_kb=224000, uid=1000)
    tmux = add("tmux: server", all_cpus, False, 0x400040, 1, exe_kb=226000, uid=1000)
    shell = add("bash", all_cpus, False, 0x400000, tmux, exe_kb=224000, uid=1000)
    m.self_pid = add("lltune", all_cpus, False, 0x400000, shell, exe_kb=60000, at=48213)
    pids = [p["pid"] for p in procs]
    assert len(set(pids)) == len(pids) and pids == sorted(pids), "pids must be unique, rising"


def build_model(spec: Dict[str, Any]) -> Model:
    m = Model(spec)
    build_pci(m)
    build_processes(m)
    m.irqs.sort(key=lambda row: row["irq"])
    return m


# ------------------------------------------------------------------ writers per domain

VULNERABILITIES = {
    "gather_data_sampling": "Not affected",
    "itlb_multihit": "Not affected",
    "l1tf": "Not affected",
    "mds": "Not affected",
    "meltdown": "Not affected",
    "mmio_stale_data": "Not affected",
    "reg_file_data_sampling": "Not affected",
    "retbleed": "Not affected",
    "spec_rstack_overflow": "Not affected",
    "spec_store_bypass": "Mitigation: Speculative Store Bypass disabled via prctl",
    "spectre_v1": "Mitigation: usercopy/swapgs barriers and __user pointer sanitization",
    "spectre_v2": "Mitigation: Enhanced / Automatic IBRS; IBPB: conditional; RSB filling; "
                  "PBRSB-eIBRS: SW sequence; BHI: BHI_DIS_S",
    "srbds": "Not affected",
    "tsx_async_abort": "Not affected",
}

CPU_FLAGS = (
    "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi "
    "mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon "
    "pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf tsc_known_freq pni "
    "pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca "
    "sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm "
    "abm 3dnowprefetch cpuid_fault epb cat_l3 cat_l2 cdp_l3 invpcid_single cdp_l2 ssbd mba "
    "ibrs ibpb stibp ibrs_enhanced tpr_shadow flexpriority ept vpid ept_ad fsgsbase "
    "tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid rtm cqm rdt_a avx512f avx512dq rdseed "
    "adx smap avx512ifma clflushopt clwb intel_pt avx512cd sha_ni avx512bw avx512vl xsaveopt "
    "xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local split_lock_detect "
    "avx_vnni avx512_bf16 wbnoinvd dtherm ida arat pln pts hwp hwp_act_window hwp_epp hwp_pkg_req "
    "vnmi avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni "
    "avx512_bitalg tme avx512_vpopcntdq la57 rdpid bus_lock_detect cldemote movdiri movdir64b "
    "enqcmd fsrm md_clear serialize tsxldtrk pconfig arch_lbr ibt amx_bf16 avx512_fp16 amx_tile "
    "amx_int8 flush_l1d arch_capabilities")
MODEL_NAME = "INTEL(R) XEON(R) PLATINUM 8592+"

CPUIDLE_STATES = (  # name, desc, exit latency (us), target residency (us): intel_idle EMR table
    ("POLL", "CPUIDLE CORE POLL IDLE", 0, 0),
    ("C1", "MWAIT 0x00", 1, 1),
    ("C1E", "MWAIT 0x01", 2, 4),
    ("C6", "MWAIT 0x20", 290, 800),
)
CACHES = (  # index, level, type, size, ways, shared by
    (0, 1, "Data", "48K", 12, "core"),
    (1, 1, "Instruction", "32K", 8, "core"),
    (2, 2, "Unified", "2048K", 16, "core"),
    (3, 3, "Unified", "163840K", 15, "node"),
)


def write_cpus(t: Tree, m: Model) -> None:
    base = "/sys/devices/system/cpu"
    n = m.ncpus
    every = cpulist(m.all_cpus)
    for name in ("online", "possible", "present"):
        t.line(base + "/" + name, every)
    t.line(base + "/offline", "")
    t.line(base + "/isolated", "")
    t.line(base + "/kernel_max", NR_CPU_IDS_MAX - 1)
    # A NULL cpumask printed with "%*pbl": "(null)" right-aligned to nr_cpu_ids columns.
    t.line(base + "/nohz_full", "(null)".rjust(n))
    t.line(base + "/smt/control", "on")
    t.line(base + "/smt/active", 1)
    for name, text in VULNERABILITIES.items():
        t.line(base + "/vulnerabilities/" + name, text)
    for name, value in (("status", "active"), ("no_turbo", 0), ("min_perf_pct", 21),
                        ("max_perf_pct", 100), ("num_pstates", 31), ("turbo_pct", 42),
                        ("hwp_dynamic_boost", 0)):
        t.line(base + "/intel_pstate/" + name, value)
    t.line(base + "/cpuidle/current_driver", "intel_idle")
    t.line(base + "/cpuidle/current_governor", "menu")
    t.line(base + "/cpuidle/current_governor_ro", "menu")
    t.line(base + "/cpuidle/available_governors", "ladder menu teo haltpoll")
    t.mkdir(base + "/hotplug")
    t.mkdir(base + "/power")
    t.line(base + "/uevent", "")
    for cpu in m.cpus:
        cid = cpu["id"]
        policy = "%s/cpufreq/policy%d" % (base, cid)
        for name, value in (
                ("affected_cpus", cid), ("related_cpus", cid),
                ("scaling_driver", "intel_pstate"), ("scaling_governor", "powersave"),
                ("scaling_available_governors", "performance powersave"),
                ("energy_performance_preference", "balance_performance"),
                ("energy_performance_available_preferences",
                 "default performance balance_performance balance_power power "),
                ("scaling_min_freq", 800000), ("scaling_max_freq", 3900000),
                ("cpuinfo_min_freq", 800000), ("cpuinfo_max_freq", 3900000),
                ("scaling_cur_freq", 800000 + (cid * 7919) % 3000000)):
            t.line("%s/%s" % (policy, name), value)
        cdir = "%s/cpu%d" % (base, cid)
        if cid:
            t.line(cdir + "/online", 1)  # x86 cpu0 has no online file unless hotpluggable
        t.link(cdir + "/cpufreq", policy)
        t.link("%s/node%d" % (cdir, cpu["node"]), "/sys/devices/system/node/node%d" % cpu["node"])
        sibs = cpu["siblings"]
        pkg_cpus = m.package_cpus[cpu["package"]]
        topo = cdir + "/topology"
        for name, value in (
                ("physical_package_id", cpu["package"]), ("die_id", cpu["die"]),
                ("core_id", cpu["core"]), ("core_cpus_list", cpulist(sibs)),
                ("core_cpus", cpumask(sibs, n)), ("thread_siblings_list", cpulist(sibs)),
                ("thread_siblings", cpumask(sibs, n)),
                ("core_siblings_list", cpulist(pkg_cpus)),
                ("package_cpus_list", cpulist(pkg_cpus)),
                ("package_cpus", cpumask(pkg_cpus, n)), ("die_cpus_list", cpulist(pkg_cpus))):
            t.line("%s/%s" % (topo, name), value)
        node_cpus = m.node_cpus(cpu["node"])
        for index, level, kind, size, ways, shared_by in CACHES:
            shared = sibs if shared_by == "core" else node_cpus
            cache = "%s/cache/index%d" % (cdir, index)
            for name, value in (("level", level), ("type", kind), ("size", size),
                                ("ways_of_associativity", ways),
                                ("shared_cpu_list", cpulist(shared)),
                                ("shared_cpu_map", cpumask(shared, n)),
                                ("id", cpu["node"] if shared_by == "node" else
                                 cpu["package"] * 128 + cpu["core"])):
                t.line("%s/%s" % (cache, name), value)
        for index, (name, desc, latency, residency) in enumerate(CPUIDLE_STATES):
            state = "%s/cpuidle/state%d" % (cdir, index)
            usage = 0 if index == 0 else (cid * 104729 + index * 7) % 90000000
            for attr, value in (("name", name), ("desc", desc), ("latency", latency),
                                ("residency", residency), ("disable", 0), ("usage", usage),
                                ("time", usage * (index + 1) * 3)):
                t.line("%s/%s" % (state, attr), value)


def cpuinfo(m: Model) -> str:
    blocks = []
    for cpu in m.cpus:
        apic = cpu["package"] * 256 + cpu["core"] * 2 + cpu["thread"]
        blocks.append(
            "processor\t: %d\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 207\n"
            "model name\t: %s\nstepping\t: 2\nmicrocode\t: 0x21000200\n"
            "cpu MHz\t\t: %.3f\ncache size\t: 327680 KB\nphysical id\t: %d\n"
            "siblings\t: %d\ncore id\t\t: %d\ncpu cores\t: %d\napicid\t\t: %d\n"
            "initial apicid\t: %d\nfpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: 31\n"
            "wp\t\t: yes\nflags\t\t: %s\nvmx flags\t: vnmi preemption_timer posted_intr "
            "invvpid ept_x_only ept_ad ept_1gb flexpriority apicv tsc_offset vtpr mtf vapic "
            "ept vpid unrestricted_guest vapic_reg vid ple shadow_vmcs pml ept_mode_based_exec "
            "tsc_scaling usr_wait_pause notify_vm_exiting ipi_virt\nbugs\t\t: spectre_v1 "
            "spectre_v2 spec_store_bypass swapgs eibrs_pbrsb bhi\nbogomips\t: 3800.00\n"
            "clflush size\t: 64\ncache_alignment\t: 64\naddress sizes\t: 52 bits physical, "
            "57 bits virtual\npower management:\n\n"
            % (cpu["id"], MODEL_NAME, 800.0 + (cpu["id"] * 7919) % 3000, cpu["package"],
               m.spec["cores_per_package"] * m.spec["threads_per_core"], cpu["core"],
               m.spec["cores_per_package"], apic, apic, CPU_FLAGS))
    return "".join(blocks)


def node_memory_kb(m: Model, node: int) -> Tuple[int, int]:
    total = 268435456 - (5242880 if node == 0 else 1048576) - node * 4096
    free = total - 4000000 - (node * 731) % 100000 - 2097152
    return total, free


HUGEPAGES_2M_PER_NODE = 1024


def write_numa_memory(t: Tree, m: Model) -> None:
    base = "/sys/devices/system/node"
    nodes = [n["id"] for n in m.nodes]
    for name in ("online", "possible", "has_cpu", "has_memory", "has_normal_memory"):
        t.line(base + "/" + name, cpulist(nodes))
    t.line(base + "/uevent", "")
    for node in m.nodes:
        nid = node["id"]
        ndir = "%s/node%d" % (base, nid)
        t.line(ndir + "/cpulist", cpulist(node["cpus"]))
        t.line(ndir + "/cpumap", cpumask(node["cpus"], m.ncpus))
        t.line(ndir + "/distance", " ".join(
            "10" if other["id"] == nid else ("12" if other["package"] == node["package"]
                                             else "21") for other in m.nodes))
        total, free = node_memory_kb(m, nid)
        huge = HUGEPAGES_2M_PER_NODE
        rows = (("MemTotal", total), ("MemFree", free), ("MemUsed", total - free),
                ("SwapCached", 0), ("Active", 812344), ("Inactive", 1203988),
                ("Active(anon)", 411200), ("Inactive(anon)", 92112),
                ("Active(file)", 401144), ("Inactive(file)", 1111876), ("Unevictable", 0),
                ("Mlocked", 0), ("Dirty", 12), ("Writeback", 0), ("FilePages", 1560000),
                ("Mapped", 190000), ("AnonPages", 500000), ("Shmem", 24000),
                ("KernelStack", 31000), ("PageTables", 9000), ("NFS_Unstable", 0),
                ("Bounce", 0), ("WritebackTmp", 0), ("KReclaimable", 300000),
                ("Slab", 900000), ("SReclaimable", 300000), ("SUnreclaim", 600000),
                ("AnonHugePages", 202752), ("ShmemHugePages", 0), ("ShmemPmdMapped", 0),
                ("FileHugePages", 0), ("FilePmdMapped", 0))
        text = "".join("Node %d %-15s %8d kB\n" % (nid, key + ":", value) for key, value in rows)
        text += "Node %d HugePages_Total: %5d\nNode %d HugePages_Free:  %5d\n" \
                "Node %d HugePages_Surp:  %5d\n" % (nid, huge, nid, huge - 24, nid, 0)
        t.write(ndir + "/meminfo", text)
        t.write(ndir + "/numastat", "numa_hit 91234567\nnuma_miss 0\nnuma_foreign 0\n"
                "interleave_hit 3411\nlocal_node 91200000\nother_node 34567\n")
        for size, count, free_pages in (("2048kB", huge, huge - 24), ("1048576kB", 0, 0)):
            hdir = "%s/hugepages/hugepages-%s" % (ndir, size)
            t.line(hdir + "/nr_hugepages", count)
            t.line(hdir + "/free_hugepages", free_pages)
            t.line(hdir + "/surplus_hugepages", 0)
        for cpu in node["cpus"]:
            t.link("%s/cpu%d" % (ndir, cpu), "/sys/devices/system/cpu/cpu%d" % cpu)

    nnodes = len(m.nodes)
    total = sum(node_memory_kb(m, n)[0] for n in nodes)
    free = sum(node_memory_kb(m, n)[1] for n in nodes)
    huge = HUGEPAGES_2M_PER_NODE * nnodes
    rows = (
        ("MemTotal", total), ("MemFree", free), ("MemAvailable", free + 3100000),
        ("Buffers", 6532), ("Cached", 5312044), ("SwapCached", 0), ("Active", 3249376),
        ("Inactive", 4815952), ("Active(anon)", 1644800), ("Inactive(anon)", 368448),
        ("Active(file)", 1604576), ("Inactive(file)", 4447504), ("Unevictable", 0),
        ("Mlocked", 0), ("SwapTotal", 4194300), ("SwapFree", 4194300), ("Zswap", 0),
        ("Zswapped", 0), ("Dirty", 48), ("Writeback", 0), ("AnonPages", 2000000),
        ("Mapped", 760000), ("Shmem", 96000), ("KReclaimable", 1200000), ("Slab", 3600000),
        ("SReclaimable", 1200000), ("SUnreclaim", 2400000), ("KernelStack", 124000),
        ("PageTables", 36000), ("SecPageTables", 0), ("NFS_Unstable", 0), ("Bounce", 0),
        ("WritebackTmp", 0), ("CommitLimit", (total - huge * 2048) // 2 + 4194300),
        ("Committed_AS", 5811240), ("VmallocTotal", 13743895347199), ("VmallocUsed", 812004),
        ("VmallocChunk", 0), ("Percpu", 1327104), ("HardwareCorrupted", 0),
        ("AnonHugePages", 811008), ("ShmemHugePages", 0), ("ShmemPmdMapped", 0),
        ("FileHugePages", 0), ("FilePmdMapped", 0), ("CmaTotal", 0), ("CmaFree", 0))
    text = "".join("%-16s%8d kB\n" % (key + ":", value) for key, value in rows)
    text += "HugePages_Total:   %5d\nHugePages_Free:    %5d\nHugePages_Rsvd:    %5d\n" \
            "HugePages_Surp:    %5d\nHugepagesize:       2048 kB\nHugetlb:        %8d kB\n" \
            "DirectMap4k:     1313536 kB\nDirectMap2M:    71583744 kB\n" \
            "DirectMap1G:  1001390080 kB\n" % (huge, huge - 24 * nnodes, 0, 0, huge * 2048)
    t.write("/proc/meminfo", text)
    m.meminfo = dict(rows)
    m.meminfo.update({"HugePages_Total": huge, "HugePages_Free": huge - 24 * nnodes,
                      "Hugepagesize": 2048})
    t.write("/proc/swaps", "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
            "/dev/dm-1                               partition\t4194300\t\t0\t\t-2\n")
    thp = "/sys/kernel/mm/transparent_hugepage"
    t.line(thp + "/enabled", "[always] madvise never")
    t.line(thp + "/defrag", "always defer defer+madvise [madvise] never")
    t.line(thp + "/shmem_enabled", "always within_size advise [never] deny force")
    t.line(thp + "/use_zero_page", 1)
    t.line(thp + "/hpage_pmd_size", 2097152)
    for name, value in (("defrag", 1), ("pages_to_scan", 4096), ("scan_sleep_millisecs", 10000),
                        ("alloc_sleep_millisecs", 60000), ("max_ptes_none", 511)):
        t.line(thp + "/khugepaged/" + name, value)
    for name, value in (("run", 0), ("pages_shared", 0), ("pages_sharing", 0),
                        ("pages_unshared", 0), ("pages_volatile", 0), ("full_scans", 0),
                        ("sleep_millisecs", 20), ("pages_to_scan", 100),
                        ("merge_across_nodes", 1), ("max_page_sharing", 256)):
        t.line("/sys/kernel/mm/ksm/" + name, value)
    for size, count, free_pages in (("2048kB", huge, huge - 24 * nnodes), ("1048576kB", 0, 0)):
        hdir = "/sys/kernel/mm/hugepages/hugepages-" + size
        for name, value in (("nr_hugepages", count), ("free_hugepages", free_pages),
                            ("surplus_hugepages", 0), ("resv_hugepages", 0),
                            ("nr_overcommit_hugepages", 0), ("nr_hugepages_mempolicy", count)):
            t.line("%s/%s" % (hdir, name), value)


CMDLINE = ("BOOT_IMAGE=(hd0,gpt2)/vmlinuz-%s root=/dev/mapper/almalinux-root ro "
           "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/almalinux-swap "
           "rd.lvm.lv=almalinux/root rd.lvm.lv=almalinux/swap intel_iommu=on iommu=pt "
           "console=tty0 console=ttyS0,115200n8 rhgb quiet" % KERNEL_RELEASE)


def sysctl_values(m: Model) -> Dict[str, str]:
    huge = HUGEPAGES_2M_PER_NODE * len(m.nodes)
    return {
        "kernel.sched_rt_runtime_us": "950000",
        "kernel.sched_rt_period_us": "1000000",
        "kernel.timer_migration": "1",
        "kernel.numa_balancing": "1",
        "kernel.watchdog": "1",
        "kernel.nmi_watchdog": "1",
        "kernel.soft_watchdog": "1",
        "kernel.watchdog_thresh": "10",
        "kernel.watchdog_cpumask": cpulist(m.all_cpus),
        "kernel.hung_task_timeout_secs": "120",
        "kernel.sched_autogroup_enabled": "1",
        "kernel.perf_event_max_sample_rate": "25000",
        "kernel.split_lock_mitigate": "1",
        "vm.stat_interval": "1",
        "vm.swappiness": "30",
        "vm.zone_reclaim_mode": "0",
        "vm.dirty_ratio": "20",
        "vm.dirty_background_ratio": "10",
        "vm.dirty_expire_centisecs": "3000",
        "vm.dirty_writeback_centisecs": "500",
        "vm.compaction_proactiveness": "20",
        "vm.overcommit_memory": "0",
        "vm.nr_hugepages": str(huge),
        "net.core.busy_poll": "0",
        "net.core.busy_read": "0",
        "net.core.netdev_budget": "300",
        "net.core.netdev_budget_usecs": "2000",
        "net.core.netdev_max_backlog": "1000",
        "net.core.rmem_max": "212992",
        "net.core.wmem_max": "212992",
        "net.core.rps_sock_flow_entries": "0",
        "net.ipv4.tcp_fastopen": "1",
        "net.ipv4.tcp_timestamps": "1",
        "net.ipv4.tcp_sack": "1",
    }


def write_kernel(t: Tree, m: Model) -> None:
    t.line("/proc/cmdline", CMDLINE)
    for name, value in sysctl_values(m).items():
        t.line("/proc/sys/" + name.replace(".", "/"), value)
    for name, value in (("kernel/osrelease", KERNEL_RELEASE), ("kernel/version", KERNEL_VERSION),
                        ("kernel/ostype", "Linux"), ("kernel/hostname", m.spec["hostname"]),
                        ("kernel/domainname", "(none)"), ("kernel/pid_max", 4194304),
                        ("kernel/threads-max", 8251020), ("kernel/sched_rr_timeslice_ms", 100),
                        ("fs/file-max", 9223372036854775807),
                        ("vm/min_free_kbytes", 1048576), ("net/core/somaxconn", 4096),
                        ("net/ipv4/ip_forward", 0)):
        t.line("/proc/sys/" + name, value)
    cs = "/sys/devices/system/clocksource/clocksource0"
    t.line(cs + "/current_clocksource", "tsc")
    t.line(cs + "/available_clocksource", "tsc hpet acpi_pm ")
    t.write("/boot/config-" + KERNEL_RELEASE, "\n".join((
        "#", "# Automatically generated file; DO NOT EDIT.",
        "# Linux/x86_64 5.14.0-427.13.1.el9_4.x86_64 Kernel Configuration", "#",
        "CONFIG_CC_VERSION_TEXT=\"gcc (GCC) 11.4.1 20231218 (Red Hat 11.4.1-3)\"",
        "CONFIG_64BIT=y", "CONFIG_X86_64=y", "CONFIG_SMP=y", "CONFIG_NR_CPUS=8192",
        "CONFIG_NODES_SHIFT=10", "CONFIG_NO_HZ_COMMON=y", "# CONFIG_HZ_PERIODIC is not set",
        "# CONFIG_NO_HZ_IDLE is not set", "CONFIG_NO_HZ_FULL=y", "CONFIG_NO_HZ=y",
        "CONFIG_HIGH_RES_TIMERS=y", "CONFIG_PREEMPT_VOLUNTARY=y", "# CONFIG_PREEMPT is not set",
        "# CONFIG_PREEMPT_RT is not set", "CONFIG_PREEMPT_DYNAMIC=y", "CONFIG_CPU_ISOLATION=y",
        "CONFIG_TREE_RCU=y", "CONFIG_PREEMPT_RCU=y", "CONFIG_RCU_NOCB_CPU=y", "CONFIG_HZ_1000=y",
        "CONFIG_HZ=1000", "CONFIG_SCHED_HRTICK=y", "CONFIG_INTEL_IDLE=y",
        "CONFIG_X86_INTEL_PSTATE=y", "CONFIG_MLX5_CORE=m", "CONFIG_ICE=m",
        "CONFIG_PTP_1588_CLOCK=y",
        "")))
    wd = "/sys/devices/pci0000:00/0000:00:1f.4/iTCO_wdt.1.auto/watchdog/watchdog0"
    t.line(wd + "/identity", "iTCO_wdt")
    t.line(wd + "/state", "inactive")
    t.line(wd + "/timeout", 30)
    t.link("/sys/class/watchdog/watchdog0", wd)
    t.line("/sys/devices/virtual/workqueue/cpumask", cpumask(m.all_cpus, m.ncpus))
    t.line("/sys/devices/virtual/workqueue/writeback/cpumask", cpumask(m.all_cpus, m.ncpus))
    t.line("/sys/devices/virtual/workqueue/writeback/numa", 1)
    t.link("/sys/bus/workqueue/devices/writeback", "/sys/devices/virtual/workqueue/writeback")


OS_RELEASE = """NAME="AlmaLinux"
VERSION="9.4 (Seafoam Ocelot)"
ID="almalinux"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="AlmaLinux 9.4 (Seafoam Ocelot)"
ANSI_COLOR="0;34"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:almalinux:almalinux:9::baseos"
HOME_URL="https://almalinux.org/"
DOCUMENTATION_URL="https://wiki.almalinux.org/"
BUG_REPORT_URL="https://bugs.almalinux.org/"

ALMALINUX_MANTISBT_PROJECT="AlmaLinux-9"
ALMALINUX_MANTISBT_PROJECT_VERSION="9.4"
REDHAT_SUPPORT_PRODUCT="AlmaLinux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.4"
SUPPORT_END=2032-06-01
"""

LIMITS_CONF = """# /etc/security/limits.conf
#
#This file sets the resource limits for the users logged in via PAM.
#It does not affect resource limits of the system services.
#
#Also note that configuration files in /etc/security/limits.d directory,
#which are read in alphabetical order, override the settings in this
#file in case the domain is the same or more specific.
#
#Each line describes a limit for a user in the form:
#
#<domain>        <type>  <item>  <value>
#
#<domain>        <type>  <item>         <value>
#

#*               soft    core            0
#*               hard    rss             10000
#@student        hard    nproc           20
#@faculty        soft    nproc           20
#@faculty        hard    nproc           50
#ftp             hard    nproc           0
#@student        -       maxlogins       4

# End of file
"""

LIMITS_D = {
    "95-trading.conf": "# latency-critical applications (change CHG-20931)\n"
                       "@trading   soft   memlock   unlimited\n"
                       "@trading   hard   memlock   unlimited\n"
                       "@trading   -      rtprio    99\n"
                       "*          soft   nofile    65536   # raised for the gateways\n"
                       "*          hard   nofile    262144\n",
    "95-trading.conf.bak": "@trading   -      rtprio    50\n",  # pam_limits reads *.conf only
}

UNIT_FILES = ("tuned.service", "irqbalance.service", "chronyd.service", "ptp4l.service",
              "phc2sys.service", "timemaster.service", "cpupower.service", "packagekit.service",
              "dnf-makecache.timer", "dnf-makecache.service", "sshd.service",
              "NetworkManager.service", "crond.service", "rsyslog.service", "auditd.service",
              "multi-user.target", "getty@.service")
ENABLED = {"multi-user.target.wants": ("tuned.service", "irqbalance.service", "chronyd.service",
                                       "ptp4l.service", "sshd.service",
                                       "NetworkManager.service", "crond.service",
                                       "rsyslog.service", "auditd.service"),
           "timers.target.wants": ("dnf-makecache.timer",),
           "getty.target.wants": ("getty@tty1.service",)}
MASKED = ("packagekit.service",)


# tuned's stock profiles on RHEL 9 (/usr/lib/tuned/NAME) that lltune may include.
RHEL9_STOCK_PROFILES = ("balanced", "throughput-performance", "latency-performance",
                        "network-latency", "network-throughput", "realtime", "cpu-partitioning")
MACHINE_ID = "4c4c544e45484f5354000000000000a1"


def rhel9_tuned_files(kernel_release: str, machine_id: str = MACHINE_ID) -> Dict[str, str]:
    """What a RHEL 9 host with tuned and lltune's RPM installed has, as far as lltune reads it:
    tuned's profile directories (its consts.py), the stock profiles and lltune's base profile in
    /usr/lib/tuned, the GRUB hook of tuned's bootloader plugin, and a BLS entry for this
    machine carrying $tuned_params (what kernel-install writes with tuned installed)."""
    files = {
        "/usr/lib/python3.9/site-packages/tuned/consts.py":
            'LOAD_DIRECTORIES = ["/usr/lib/tuned", "/etc/tuned"]\n',
        "/usr/lib/tuned/lltune/tuned.conf": "[main]\ninclude=network-latency\n",
        "/etc/grub.d/00_tuned": "#!/bin/sh\n",
        "/etc/machine-id": machine_id + "\n",
        "/boot/grub2/grubenv": "# GRUB Environment Block\nkernelopts=root=/dev/sda1 ro\n",
        "/boot/loader/entries/%s-%s.conf" % (machine_id, kernel_release):
            "title Linux\nlinux /vmlinuz-%s\noptions root=/dev/sda1 ro $tuned_params\n"
            % kernel_release,
    }
    for name in RHEL9_STOCK_PROFILES:
        files["/usr/lib/tuned/%s/tuned.conf" % name] = "[main]\nsummary=%s\n" % name
    return files


def write_etc(t: Tree, m: Model) -> None:
    t.write("/usr/lib/os-release", OS_RELEASE)
    for name in ("bin", "sbin", "lib", "lib64"):  # the merged /usr of RHEL 9: relative links
        t.mkdir("/usr/" + name)
        t.link("/" + name, "/usr/" + name)
    t.link("/etc/os-release", "/usr/lib/os-release")
    t.line("/etc/almalinux-release", "AlmaLinux release 9.4 (Seafoam Ocelot)")
    t.link("/etc/redhat-release", "/etc/almalinux-release")
    t.line("/etc/hostname", m.spec["hostname"])
    t.line("/etc/tuned/active_profile", "balanced")
    t.line("/etc/tuned/profile_mode", "manual")
    t.write("/etc/tuned/bootcmdline", "TUNED_BOOT_CMDLINE=\nTUNED_BOOT_INITRD_ADD=\n")
    t.write("/etc/tuned/tuned-main.conf", "daemon = 1\ndynamic_tuning = 0\nsleep_interval = 1\n"
            "update_interval = 10\nrecommend_command = 1\nreapply_sysctl = 1\n")
    t.write("/usr/lib/python3.9/site-packages/tuned/version.py",
            "TUNED_VERSION_MAJOR = 2\nTUNED_VERSION_MINOR = 22\nTUNED_VERSION_PATCH = 1\n\n"
            "TUNED_VERSION_STR = \"%d.%d.%d\" % (TUNED_VERSION_MAJOR, TUNED_VERSION_MINOR, "
            "TUNED_VERSION_PATCH)\n")
    t.mkdir("/usr/lib/python3.9/site-packages/tuned/plugins")
    for path, text in sorted(rhel9_tuned_files(KERNEL_RELEASE).items()):
        t.write(path, text)
    t.mkdir("/usr/lib/systemd/system")
    for unit in UNIT_FILES:
        t.write("/usr/lib/systemd/system/" + unit, "[Unit]\nDescription=%s\n" % unit)
    for wants, units in ENABLED.items():
        for unit in units:
            target = "/usr/lib/systemd/system/" + (
                "getty@.service" if unit.startswith("getty@") else unit)
            t.link("/etc/systemd/system/%s/%s" % (wants, unit), target)
    t.link("/etc/systemd/system/default.target", "/usr/lib/systemd/system/multi-user.target")
    t.write("/dev/null", "")  # the target of masked units, inside the tree
    for unit in MASKED:
        t.link("/etc/systemd/system/" + unit, "/dev/null")
    t.write("/etc/security/limits.conf", LIMITS_CONF)
    for name, text in LIMITS_D.items():
        t.write("/etc/security/limits.d/" + name, text)
    t.write("/etc/chrony.conf", "server 10.20.0.1 iburst\nserver 10.20.0.2 iburst\n"
            "driftfile /var/lib/chrony/drift\nmakestep 1.0 3\nrtcsync\nlogdir /var/log/chrony\n")
    t.write("/etc/ptp4l.conf", "[global]\nslaveOnly 1\ntime_stamping hardware\n"
            "delay_mechanism E2E\nnetwork_transport L2\n[ens1f1np1]\n")
    t.write("/etc/sysconfig/ptp4l", 'OPTIONS="-f /etc/ptp4l.conf -i ens1f1np1"\n')
    t.write("/etc/sysconfig/phc2sys", 'OPTIONS="-a -r"\n')
    t.write("/etc/timemaster.conf", "[ntp_server ntp.example.net]\nminpoll 4\nmaxpoll 4\n")
    dmi = "/sys/devices/virtual/dmi/id"
    for name, value in (("sys_vendor", "Dell Inc."), ("product_name", "PowerEdge R760"),
                        ("bios_vendor", "Dell Inc."), ("bios_version", "2.1.5"),
                        ("board_vendor", "Dell Inc."), ("board_name", "0DNMM8"),
                        ("chassis_type", 23)):
        t.line("%s/%s" % (dmi, name), value)
    t.link("/sys/class/dmi/id", dmi)


def write_pci(t: Tree, m: Model) -> None:
    n = m.ncpus
    for group, (address, dev) in enumerate(sorted(m.pci.items())):
        path = dev["path"]
        vendor, device, svendor, sdevice, klass = PCI_IDS[dev["kind"]]
        for name, value in (("vendor", vendor), ("device", device),
                            ("subsystem_vendor", svendor), ("subsystem_device", sdevice),
                            ("class", klass), ("revision", "0x00"),
                            ("numa_node", dev["numa_node"]),
                            ("local_cpulist", cpulist(dev["local_cpus"])),
                            ("local_cpus", cpumask(dev["local_cpus"], n)),
                            ("irq", dev["legacy_irq"]), ("enable", 1 if dev["driver"] else 0),
                            ("msi_bus", 1), ("d3cold_allowed", 1)):
            t.line("%s/%s" % (path, name), value)
        t.write(path + "/uevent", "%sPCI_CLASS=%X\nPCI_ID=%s:%s\nPCI_SUBSYS_ID=%s:%s\n"
                "PCI_SLOT_NAME=%s\n" % (
                    "DRIVER=%s\n" % dev["driver"] if dev["driver"] else "",
                    int(klass, 16), vendor[2:].upper(), device[2:].upper(),
                    svendor[2:].upper(), sdevice[2:].upper(), address))
        for irq in dev["msi"]:
            t.line("%s/msi_irqs/%d" % (path, irq), dev["msi_kind"])
        if dev["kind"] in ("mlx5", "ice", "nvme", "rootport"):
            for name, value in (("current_link_speed", "16.0 GT/s PCIe"),
                                ("current_link_width", 16 if dev["kind"] != "nvme" else 4),
                                ("max_link_speed", "16.0 GT/s PCIe"),
                                ("max_link_width", 16 if dev["kind"] != "nvme" else 4)):
                t.line("%s/%s" % (path, name), value)
        if dev["kind"] in ("mlx5", "ice"):
            t.line(path + "/sriov_totalvfs", 8 if dev["kind"] == "mlx5" else 64)
            t.line(path + "/sriov_numvfs", 0)
        if dev["driver"]:
            drv = "/sys/bus/pci/drivers/" + dev["driver"]
            t.link(path + "/driver", drv)
            t.link("%s/%s" % (drv, address), path)
        t.link(path + "/subsystem", "/sys/bus/pci")
        t.link(path + "/iommu_group", "/sys/kernel/iommu_groups/%d" % group)
        t.link("/sys/kernel/iommu_groups/%d/devices/%s" % (group, address), path)
        t.link("/sys/bus/pci/devices/" + address, path)
        if dev.get("nvme"):
            ndir = "%s/nvme/%s" % (path, dev["nvme"])
            t.line(ndir + "/model", "SAMSUNG MZQL23T8HCLS-00B7C")
            t.line(ndir + "/firmware_rev", "GDC5902Q")
            t.link(ndir + "/device", path)
            t.link("/sys/class/nvme/" + dev["nvme"], ndir)
        if dev.get("ptp"):
            pdir = "%s/ptp/%s" % (path, dev["ptp"])
            t.line(pdir + "/clock_name", "mlx5_ptp" if dev["kind"] == "mlx5"
                   else "ice-%s-clk" % address)
            t.line(pdir + "/max_adjustment", 100000000 if dev["kind"] == "mlx5" else 999999999)
            t.line(pdir + "/n_external_timestamps", 0 if dev["kind"] == "mlx5" else 3)
            t.line(pdir + "/pps_available", 0)
            t.link(pdir + "/device", path)
            t.link(pdir + "/subsystem", "/sys/class/ptp")
            t.link("/sys/class/ptp/" + dev["ptp"], pdir)
            m.ptp.append({"name": dev["ptp"], "index": dev["phc_index"], "pci_address": address,
                          "clock_name": "mlx5_ptp" if dev["kind"] == "mlx5"
                          else "ice-%s-clk" % address})
    for driver in sorted({d["driver"] for d in m.pci.values() if d["driver"]}):
        for name in ("bind", "unbind", "new_id", "remove_id", "uevent"):
            t.write("/sys/bus/pci/drivers/%s/%s" % (driver, name), "")


def _mac(index: int) -> str:
    return "b8:3f:d2:%02x:%02x:%02x" % (0x40 + index // 256, index % 256, 0x10 + index)


def write_netdev_common(t: Tree, path: str, ifname: str, ifindex: int, mac: str, mtu: int,
                        operstate: str, carrier: Optional[int], kind_type: int, flags: str,
                        rxq: int, txq: int, rps: Dict[int, List[int]],
                        xps: Dict[int, List[int]], ncpus: int,
                        uevent_extra: str = "") -> None:
    for name, value in (("address", mac), ("broadcast", "ff:ff:ff:ff:ff:ff"), ("addr_len", 6),
                        ("addr_assign_type", 0), ("ifindex", ifindex), ("iflink", ifindex),
                        ("mtu", mtu), ("operstate", operstate), ("type", kind_type),
                        ("flags", flags), ("tx_queue_len", 1000 if kind_type == 1 else 0),
                        ("dev_id", "0x0"), ("dev_port", 0), ("link_mode", 0),
                        ("gro_flush_timeout", 0), ("napi_defer_hard_irqs", 0),
                        ("netdev_group", 0), ("proto_down", 0), ("dormant", 0),
                        ("carrier_changes", 2 if carrier else 1)):
        t.line("%s/%s" % (path, name), value)
    if carrier is not None:
        t.line(path + "/carrier", carrier)
    t.write(path + "/uevent", "%sINTERFACE=%s\nIFINDEX=%d\n" % (uevent_extra, ifname, ifindex))
    for name in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets", "rx_dropped", "tx_dropped",
                 "rx_errors", "tx_errors", "multicast"):
        t.line("%s/statistics/%s" % (path, name), (ifindex * 7919 * len(name)) % 10 ** 12
               if "bytes" in name or "packets" in name else 0)
    zero = cpumask([], ncpus)
    for q in range(rxq):
        qdir = "%s/queues/rx-%d" % (path, q)
        t.line(qdir + "/rps_cpus", cpumask(rps[q], ncpus) if q in rps else zero)
        t.line(qdir + "/rps_flow_cnt", 0)
    for q in range(txq):
        qdir = "%s/queues/tx-%d" % (path, q)
        t.line(qdir + "/xps_cpus", cpumask(xps[q], ncpus) if q in xps else zero)
        t.line(qdir + "/tx_maxrate", 0)
    t.link(path + "/subsystem", "/sys/class/net")


def write_net(t: Tree, m: Model) -> Dict[str, Any]:
    n = m.ncpus
    nq = m.spec["queues_per_nic"]
    bond_name, bond_ports = BOND
    vlan_name, vlan_id, vlan_parent = VLAN
    ifindex = 1
    # Loopback first.
    lo = "/sys/devices/virtual/net/lo"
    write_netdev_common(t, lo, "lo", 1, "00:00:00:00:00:00", 65536, "unknown", 1, 772, "0x9",
                        1, 1, {}, {}, n)
    t.link("/sys/class/net/lo", lo)
    nic_truth = []
    paths: Dict[str, str] = {}
    for index, nic in enumerate(m.nics):
        ifindex += 1
        dev = nic["device"]
        name = nic["name"]
        path = "%s/net/%s" % (dev["path"], name)
        paths[name] = path
        down = name == DOWN_NIC
        rps = {q: m.node_cpus(1)[:4] for q in range(nq)} if name == RPS_NIC else {}
        xps = {q: [cpu] for q, cpu in enumerate(dev["queue_cpus"])}
        mac = _mac(index)
        speed = -1 if down else (100000 if dev["kind"] == "mlx5" else 25000)
        mtu = 9000 if name in bond_ports else 1500
        write_netdev_common(t, path, name, ifindex, mac, mtu, "down" if down else "up",
                            0 if down else 1, 1, "0x1003", nq, nq, rps, xps, n)
        t.line(path + "/speed", speed)
        t.line(path + "/duplex", "unknown" if down else "full")
        if dev["kind"] == "mlx5":
            t.line(path + "/phys_port_name", "p%d" % dev["function"])
        t.link(path + "/device", dev["path"])
        t.link("/sys/class/net/" + name, path)
        numa = dev["numa_node"]
        nic_truth.append({
            "name": name, "driver": dev["driver"], "pci_address": dev["address"],
            "numa_node": numa if numa >= 0 else m.cpus[dev["local_cpus"][0]]["node"],
            "numa_node_source": "sysfs" if numa >= 0 else "local_cpus",
            "sysfs_numa_node": numa, "local_cpus": dev["local_cpus"], "irqs": list(dev["msi"]),
            "queues": {"rx": nq, "tx": nq},
            "rps": {"rx-%d" % q: cpus for q, cpus in sorted(rps.items())},
            "xps": {"tx-%d" % q: cpus for q, cpus in sorted(xps.items())},
            "mac": mac, "speed_mbps": None if down else speed, "mtu": mtu,
            "link": "down" if down else "up", "phc_index": dev["phc_index"],
            "vendor_id": PCI_IDS[dev["kind"]][0], "device_id": PCI_IDS[dev["kind"]][1],
        })
    # The bond and the VLAN on it.
    ifindex += 1
    bond = "/sys/devices/virtual/net/" + bond_name
    bond_mac = _mac(m.nics.index(next(x for x in m.nics if x["name"] == bond_ports[0])))
    write_netdev_common(t, bond, bond_name, ifindex, bond_mac, 9000, "up", 1, 1, "0x1403", 16,
                        16, {}, {}, n, uevent_extra="DEVTYPE=bond\n")
    for name, value in (("mode", "active-backup 1"), ("slaves", " ".join(bond_ports)),
                        ("active_slave", bond_ports[0]), ("miimon", 100), ("primary", ""),
                        ("fail_over_mac", "none 0"), ("xmit_hash_policy", "layer2 0"),
                        ("num_grat_arp", 1), ("updelay", 0), ("downdelay", 0)):
        t.line("%s/bonding/%s" % (bond, name), value)
    t.link("/sys/class/net/" + bond_name, bond)
    for port in bond_ports:
        t.link("%s/lower_%s" % (bond, port), paths[port])
        t.link("%s/upper_%s" % (paths[port], bond_name), bond)
        t.link("%s/master" % paths[port], bond)
        for name, value in (("state", "active" if port == bond_ports[0] else "backup"),
                            ("mii_status", "up"), ("link_failure_count", 0),
                            ("perm_hwaddr", _mac(m.nics.index(
                                next(x for x in m.nics if x["name"] == port)))),
                            ("queue_id", 0)):
            t.line("%s/bonding_slave/%s" % (paths[port], name), value)
    ifindex += 1
    vlan = "/sys/devices/virtual/net/" + vlan_name
    write_netdev_common(t, vlan, vlan_name, ifindex, bond_mac, 9000, "up", 1, 1, "0x1003", 1,
                        1, {}, {}, n, uevent_extra="DEVTYPE=vlan\n")
    t.link("%s/lower_%s" % (vlan, vlan_parent), bond)
    t.link("%s/upper_%s" % (bond, vlan_name), vlan)
    t.link("/sys/class/net/" + vlan_name, vlan)
    # bonding_masters: a plain file among the interface links (drivers/net/bonding/bond_sysfs.c).
    t.line("/sys/class/net/bonding_masters", bond_name)
    # /proc/net is a link to self/net; the tables live in the reading process's directory.
    net = "/proc/%d/net" % m.self_pid
    t.write(net + "/vlan/config", "VLAN Dev name\t | VLAN ID\n"
            "Name-Type: VLAN_NAME_TYPE_RAW_PLUS_VID_NO_PAD\n"
            "%-15s| %d  | %s\n" % (vlan_name, vlan_id, vlan_parent))
    t.write("%s/vlan/%s" % (net, vlan_name), "%s  VID: %d\t REORDER_HDR: 1  dev->priv_flags: "
            "1021\n" % (vlan_name, vlan_id))
    t.write(net + "/bonding/" + bond_name, "Ethernet Channel Bonding Driver: v%s\n\n"
            "Bonding Mode: fault-tolerance (active-backup)\nPrimary Slave: None\n"
            "Currently Active Slave: %s\nMII Status: up\n" % (KERNEL_RELEASE, bond_ports[0]))
    t.write(net + "/dev", "Inter-|   Receive |  Transmit\n face |bytes    packets\n")
    t.link("/proc/net", "/proc/self/net")
    physical = {nic["name"] for nic in nic_truth}
    return {
        "nics": nic_truth,
        "bonds": [{"name": bond_name, "mode": "active-backup", "lower": list(bond_ports),
                   "active_slave": bond_ports[0], "physical_ports": list(bond_ports)}],
        "vlans": [{"name": vlan_name, "vlan_id": vlan_id, "lower": [vlan_parent],
                   "physical_ports": list(bond_ports)}],
        "other_virtual": ["lo"],
        "not_interfaces": ["bonding_masters"],
        "physical": sorted(physical),
    }


# ------------------------------------------------------------------ interrupts

NAMED_ROWS = (  # arch/x86/kernel/irq.c arch_show_interrupts, in its order
    ("NMI", "Non-maskable interrupts", (800, 4000)),
    ("LOC", "Local timer interrupts", (2000000, 900000000)),
    ("SPU", "Spurious interrupts", None),
    ("PMI", "Performance monitoring interrupts", (800, 4000)),
    ("IWI", "IRQ work interrupts", (10, 9000)),
    ("RTR", "APIC ICR read retries", None),
    ("RES", "Rescheduling interrupts", (1000, 5000000)),
    ("CAL", "Function call interrupts", (5000, 900000)),
    ("TLB", "TLB shootdowns", (100, 300000)),
    ("TRM", "Thermal event interrupts", None),
    ("THR", "Threshold APIC interrupts", None),
    ("DFR", "Deferred Error APIC interrupts", None),
    ("MCE", "Machine check exceptions", None),
    ("MCP", "Machine check polls", (1100, 1200)),
    ("ERR", None, None),
    ("MIS", None, None),
    ("PIN", "Posted-interrupt notification event", None),
    ("NPI", "Nested posted-interrupt event", None),
    ("PIW", "Posted-interrupt wakeup event", None),
)


def write_interrupts(t: Tree, m: Model) -> Dict[str, Any]:
    """/proc/interrupts as kernel/irq/proc.c show_interrupts (5.14) prints it, and /proc/irq."""
    n = m.ncpus
    prec = IRQ_PREC
    zero = "%10u " % 0
    out = [" " * (prec + 8) + "".join("CPU%-8d" % cpu for cpu in range(n)) + "\n"]
    per_cpu = [0] * n
    for row in m.irqs:
        cells = [zero] * n
        for cpu, count in row["counts"].items():
            cells[cpu] = "%10u " % count
            per_cpu[cpu] += count
        out.append("%*d: %s %8s %*d-%-8s  %s\n" % (prec, row["irq"], "".join(cells), row["chip"],
                                                    prec, row["hwirq"], row["trigger"],
                                                    row["actions"]))
    events = {}
    for label, text, span in NAMED_ROWS:
        if text is None:
            out.append("%*s: %10u\n" % (prec, label, 0))
            events[label] = 0
            continue
        counts = [m.rng.randint(*span) if span else 0 for _ in range(n)]
        events[label] = sum(counts)
        out.append("%*s: %s  %s\n" % (prec, label, "".join("%10u " % c for c in counts), text))
    data = "".join(out)
    t.write("/proc/interrupts", data)
    for row in m.irqs:
        base = "/proc/irq/%d" % row["irq"]
        t.line(base + "/smp_affinity", cpumask(row["affinity"], n))
        t.line(base + "/smp_affinity_list", cpulist(row["affinity"]))
        t.line(base + "/effective_affinity", cpumask(row["effective"], n))
        t.line(base + "/effective_affinity_list", cpulist(row["effective"]))
        t.line(base + "/node", row["node"])
    t.line("/proc/irq/default_smp_affinity", cpumask(m.all_cpus, n))
    return {"bytes": len(data), "per_cpu_totals": per_cpu, "events": events}


# ------------------------------------------------------------------ processes


def _status(p: Dict[str, Any], ncpus: int, nnodes: int) -> str:
    mems = cpumask(range(nnodes), MAX_NUMNODES)
    lines = ["Name:\t%s" % p["comm"], "Umask:\t%s" % ("0000" if p["kthread"] else "0022"),
             "State:\tS (sleeping)", "Tgid:\t%d" % p["pid"], "Ngid:\t0", "Pid:\t%d" % p["pid"],
             "PPid:\t%d" % p["ppid"], "TracerPid:\t0",
             "Uid:\t{0}\t{0}\t{0}\t{0}".format(p["uid"]),
             "Gid:\t{0}\t{0}\t{0}\t{0}".format(p["uid"]),
             "FDSize:\t%d" % (64 if p["kthread"] else 128), "Groups:\t",
             "NStgid:\t%d" % p["pid"], "NSpid:\t%d" % p["pid"],
             "NSpgid:\t%d" % (0 if p["kthread"] else p["pid"]),
             "NSsid:\t%d" % (0 if p["kthread"] else p["pid"])]
    if not p["kthread"]:
        kb = p["vm_kb"]
        lines += ["VmPeak:\t%8d kB" % (kb + 4096), "VmSize:\t%8d kB" % kb, "VmLck:\t       0 kB",
                  "VmPin:\t       0 kB", "VmHWM:\t%8d kB" % (kb // 8),
                  "VmRSS:\t%8d kB" % (kb // 9), "RssAnon:\t%8d kB" % (kb // 20),
                  "RssFile:\t%8d kB" % (kb // 12), "RssShmem:\t       0 kB",
                  "VmData:\t%8d kB" % (kb // 4), "VmStk:\t     132 kB",
                  "VmExe:\t     420 kB", "VmLib:\t    9000 kB", "VmPTE:\t     112 kB",
                  "VmSwap:\t       0 kB", "HugetlbPages:\t       0 kB", "CoreDumping:\t0",
                  "THP_enabled:\t1"]
    lines += ["Threads:\t%d" % p["threads"], "SigQ:\t0/4125498",
              "SigPnd:\t0000000000000000", "ShdPnd:\t0000000000000000",
              "SigBlk:\t0000000000000000",
              "SigIgn:\t%s" % ("ffffffffffffffff" if p["kthread"] else "0000000000001000"),
              "SigCgt:\t%s" % ("0000000000000000" if p["kthread"] else "0000000180004a02"),
              "CapInh:\t0000000000000000",
              "CapPrm:\t%s" % ("000001ffffffffff" if p["uid"] == 0 else "0000000000000000"),
              "CapEff:\t%s" % ("000001ffffffffff" if p["uid"] == 0 else "0000000000000000"),
              "CapBnd:\t000001ffffffffff", "CapAmb:\t0000000000000000", "NoNewPrivs:\t0",
              "Seccomp:\t0", "Seccomp_filters:\t0",
              "Speculation_Store_Bypass:\tthread vulnerable",
              "SpeculationIndirectBranch:\tconditional enabled",
              "Cpus_allowed:\t%s" % cpumask(p["cpus"], ncpus),
              "Cpus_allowed_list:\t%s" % cpulist(p["cpus"]),
              "Mems_allowed:\t%s" % mems, "Mems_allowed_list:\t%s" % cpulist(range(nnodes)),
              "voluntary_ctxt_switches:\t%d" % (p["pid"] * 37 % 100000),
              "nonvoluntary_ctxt_switches:\t%d" % (p["pid"] % 17)]
    return "\n".join(lines) + "\n"


def _stat(p: Dict[str, Any]) -> str:
    """fs/proc/array.c do_task_stat: 52 fields, the comm in parentheses."""
    kt = p["kthread"]
    vsize = 0 if kt else p["vm_kb"] * 1024
    rss = 0 if kt else p["vm_kb"] // 36
    fields = [p["pid"], "(%s)" % p["comm"], "S", p["ppid"], 0 if kt else p["pid"],
              0 if kt else p["pid"], 0, -1, p["flags"], 0 if kt else 4213, 0, 0, 0,
              p["pid"] % 50, p["pid"] % 900, 0, 0, p["prio"], p["nice"], p["threads"], 0,
              2 + p["pid"] // 10, vsize, rss, 18446744073709551615,
              0 if kt else 94187325636608, 0 if kt else 94187325849173,
              0 if kt else 140729870381808, 0, 0, 0, 0, 2147483647 if kt else 4096,
              0 if kt else 87555, 1, 0, 0, 17, p["last_cpu"], p["rt"], p["policy"], 0, 0, 0,
              0, 0, 0, 0, 0, 0, 0, 0]
    assert len(fields) == 52, len(fields)
    return " ".join(str(f) for f in fields) + "\n"


def write_processes(t: Tree, m: Model) -> None:
    for p in m.processes:
        base = "/proc/%d" % p["pid"]
        t.write(base + "/stat", _stat(p))
        t.write(base + "/status", _status(p, m.ncpus, len(m.nodes)))
        t.line(base + "/comm", p["comm"])
        if not p["kthread"]:  # a kernel thread's cmdline is empty
            t.write(base + "/cmdline", p["comm"] + "\0")
    t.link("/proc/self", "/proc/%d" % m.self_pid)
    t.write("/proc/uptime", "1204567.31 301122001.77\n")
    t.write("/proc/loadavg", "0.41 0.38 0.36 2/2631 48213\n")
    t.write("/proc/version", "Linux version %s (mockbuild@x64-builder01.almalinux.org) "
            "(gcc (GCC) 11.4.1 20231218 (Red Hat 11.4.1-3), GNU ld version 2.35.2-43.el9) %s\n"
            % (KERNEL_RELEASE, KERNEL_VERSION))


# ------------------------------------------------------------------ ethtool probes

_FEATURES_COMMON = (
    ("rx-checksum", True, False), ("tx-checksum-ip-generic", True, False),
    ("tx-checksum-ipv4", False, True), ("tx-checksum-ipv6", False, True),
    ("tx-checksum-fcoe-crc", False, True), ("tx-checksum-sctp", False, True),
    ("tx-scatter-gather", True, False), ("tx-scatter-gather-fraglist", False, True),
    ("tx-tcp-segmentation", True, False), ("tx-tcp-ecn-segmentation", False, True),
    ("tx-tcp-mangleid-segmentation", False, False), ("tx-tcp6-segmentation", True, False),
    ("tx-generic-segmentation", True, False), ("rx-gro", True, False), ("rx-lro", False, False),
    ("rx-vlan-hw-parse", True, False), ("tx-vlan-hw-insert", True, False),
    ("rx-vlan-filter", True, False), ("rx-ntuple-filter", False, False),
    ("rx-hashing", True, False), ("tx-lockless", False, True), ("netns-local", False, True),
    ("rx-gro-hw", False, True), ("tx-gre-segmentation", True, False),
    ("tx-udp_tnl-segmentation", True, False), ("tx-udp-segmentation", True, False),
    ("rx-fcs", False, False), ("rx-all", False, False), ("highdma", True, True),
    ("loopback", False, True), ("hw-tc-offload", False, False),
    ("rx-udp-gro-forwarding", False, False), ("rx-gro-list", False, False),
)
_PRIV_FLAGS = {
    "mlx5": {"rx_cqe_moder": True, "tx_cqe_moder": False, "rx_cqe_compress": False,
             "rx_striding_rq": True, "rx_no_csum_complete": False, "xdp_tx_mpwqe": True,
             "skb_tx_mpwqe": True, "tx_port_ts": False},
    "ice": {"link-down-on-close": False, "fw-lldp-agent": False,
            "vf-true-promisc-support": False, "mdd-auto-reset-vf": False,
            "vf-vlan-pruning": False, "legacy-rx": False},
}


def _coalesce(values: Dict[str, Any]) -> Dict[str, Any]:
    names = ("rx-usecs", "rx-frames", "rx-usecs-irq", "rx-frames-irq", "tx-usecs", "tx-frames",
             "tx-usecs-irq", "tx-frames-irq", "stats-block-usecs", "adaptive-rx",
             "adaptive-tx", "pkt-rate-low", "rx-usecs-low", "rx-frames-low", "tx-usecs-low",
             "tx-frames-low", "pkt-rate-high", "rx-usecs-high", "rx-frames-high",
             "tx-usecs-high", "tx-frames-high", "sample-interval")
    return {name: values.get(name, False if name.startswith("adaptive") else 0)
            for name in names}


def ethtool_answer(m: Model, nic: Dict[str, Any]) -> Dict[str, Any]:
    """What lltune.host.ethtool.read_all(ifname) returns for this port."""
    dev = nic["device"]
    mlx = dev["kind"] == "mlx5"
    down = nic["name"] == DOWN_NIC
    nq = m.spec["queues_per_nic"]
    priv = _PRIV_FLAGS[dev["kind"]]
    return {
        "driver_info": {"driver": dev["driver"], "version": KERNEL_RELEASE,
                        "firmware_version": "22.39.1002 (MT_0000000359)" if mlx
                        else "4.40 0x8001c967 1.3534.0", "bus_info": dev["address"],
                        "erom_version": "", "n_priv_flags": len(priv),
                        "n_stats": 1560 if mlx else 1244, "testinfo_len": 1 if mlx else 5,
                        "eedump_len": 0 if mlx else 2048, "regdump_len": 0 if mlx else 1264},
        "link": {"speed": None if down else (100000 if mlx else 25000),
                 "duplex": None if down else "full", "autoneg": not mlx,
                 "port": "da" if mlx else "fibre", "source": "GLINKSETTINGS"},
        "rings": {"current": {"rx": 1024 if mlx else 2048, "rx_mini": 0, "rx_jumbo": 0,
                              "tx": 1024 if mlx else 2048},
                  "max": {"rx": 8192 if mlx else 8160, "rx_mini": 0, "rx_jumbo": 0,
                          "tx": 8192 if mlx else 8160}},
        "channels": {"current": {"rx": 0, "tx": 0, "other": 0 if mlx else 1, "combined": nq},
                     "max": {"rx": 0 if mlx else 256, "tx": 0 if mlx else 256,
                             "other": 0 if mlx else 1, "combined": nq if mlx else 256}},
        "coalesce": _coalesce({"rx-usecs": 8, "rx-frames": 128, "tx-usecs": 16,
                               "tx-frames": 32, "adaptive-rx": True, "adaptive-tx": True}
                              if mlx else {"rx-usecs": 50, "tx-usecs": 50,
                                           "adaptive-rx": True, "adaptive-tx": True}),
        "pause": {"autoneg": False, "rx": mlx, "tx": mlx},
        "timestamping": {"phc_index": dev["phc_index"],
                         "so_timestamping": ["hardware-transmit", "software-transmit",
                                             "hardware-receive", "software-receive",
                                             "software-system-clock", "hardware-raw-clock"],
                         "tx_types": ["off", "on"], "rx_filters": ["none", "all"]},
        "features": {name: {"active": active, "requested": active, "fixed": fixed}
                     for name, active, fixed in _FEATURES_COMMON},
        "private_flags": dict(priv),
    }


# ------------------------------------------------------------------ generate


def _services_truth() -> Dict[str, Any]:
    running = {"tuned", "irqbalance", "chronyd", "ptp4l"}
    enabled = set(ENABLED["multi-user.target.wants"]) | set(ENABLED["timers.target.wants"])
    truth = {}
    for unit, process in (("tuned.service", "tuned"), ("irqbalance.service", "irqbalance"),
                          ("chronyd.service", "chronyd"), ("ptp4l.service", "ptp4l"),
                          ("phc2sys.service", "phc2sys"), ("packagekit.service", "packagekitd"),
                          ("dnf-makecache.timer", None), ("ntpd.service", "ntpd"),
                          ("cpupower.service", "cpupower")):
        exists = unit in UNIT_FILES
        masked = unit in MASKED
        truth[unit] = {
            "load": "masked" if masked else ("loaded" if exists else "not-found"),
            "active": None if process is None else ("active" if process in running
                                                    else "inactive"),
            "file_state": "masked" if masked else ("enabled" if unit in enabled else (
                "disabled" if exists else None)),
        }
    return truth


def generate(root_dir: str, spec: Optional[Dict[str, Any]] = None,
             probes_path: Optional[str] = None) -> Dict[str, Any]:
    """Write the host tree into `root_dir` and its probes; return the ground truth."""
    spec = dict(LARGE if spec is None else spec)
    root_dir = os.path.abspath(root_dir)
    if os.path.isdir(root_dir) and os.listdir(root_dir):
        raise FileExistsError("%s exists and is not empty" % root_dir)
    if probes_path is None:
        probes_path = os.path.join(os.path.dirname(root_dir), "probes.json")
    m = build_model(spec)
    m.package_cpus = {pkg: [c["id"] for c in m.cpus if c["package"] == pkg]
                      for pkg in range(spec["packages"])}
    t = Tree(root_dir)
    os.makedirs(root_dir, exist_ok=True)
    write_cpus(t, m)
    t.write("/proc/cpuinfo", cpuinfo(m))
    write_numa_memory(t, m)
    write_kernel(t, m)
    write_etc(t, m)
    write_pci(t, m)
    write_processes(t, m)
    net = write_net(t, m)
    interrupts = write_interrupts(t, m)
    probes = {"ethtool:" + nic["name"]: {"data": ethtool_answer(m, nic)} for nic in m.nics}
    with open(probes_path, "w", encoding="utf-8") as handle:
        json.dump({"format": "lltune-probes", "format_version": 1, "probes": probes}, handle,
                  indent=1, sort_keys=True)

    nodes = []
    for node in m.nodes:
        total, free = node_memory_kb(m, node["id"])
        nodes.append({"id": node["id"], "package": node["package"], "cpus": node["cpus"],
                      "memory_kb": total, "free_kb": free,
                      "distances": [10 if o["id"] == node["id"] else
                                    (12 if o["package"] == node["package"] else 21)
                                    for o in m.nodes]})
    kthreads = [p for p in m.processes if p["kthread"]]
    bound: Dict[int, set] = {}
    for p in kthreads:
        if len(p["cpus"]) == 1:
            name = p["comm"].split("/")[0]
            bound.setdefault(p["cpus"][0], set()).add(name)
    nic_by_pci = {nic["pci_address"]: nic["name"] for nic in net["nics"]}
    return {
        "spec": spec,
        "root": root_dir,
        "probes": probes_path,
        "files": t.files,
        "links": t.links,
        "hostname": spec["hostname"],
        "kernel_release": KERNEL_RELEASE,
        "os": {"id": "almalinux", "version_id": "9.4",
               "pretty_name": "AlmaLinux 9.4 (Seafoam Ocelot)"},
        "cmdline": CMDLINE.split(),
        "model_name": MODEL_NAME,
        "cpu_count": m.ncpus,
        "packages": sorted({c["package"] for c in m.cpus}),
        "threads_per_core": spec["threads_per_core"],
        "cpus": [{"id": c["id"], "package": c["package"], "die": c["die"], "core": c["core"],
                  "node": c["node"], "siblings": c["siblings"], "l3": c["l3"]} for c in m.cpus],
        "l3_groups": [node["cpus"] for node in m.nodes],
        "cpuidle_states": [{"state": i, "name": s[0], "latency_us": s[2]}
                           for i, s in enumerate(CPUIDLE_STATES)],
        "cpufreq": {"driver": "intel_pstate", "governor": "powersave",
                    "epp": "balance_performance", "policies": m.ncpus},
        "vulnerabilities": dict(VULNERABILITIES),
        "nodes": nodes,
        "meminfo_kb": {key: m.meminfo[key] for key in ("MemTotal", "MemFree", "SwapTotal")},
        "hugepages_2m_total": HUGEPAGES_2M_PER_NODE * len(m.nodes),
        "thp": {"enabled": "always", "defrag": "madvise", "shmem_enabled": "never"},
        "swaps": [{"device": "/dev/dm-1", "type": "partition", "size_kb": 4194300,
                   "used_kb": 0, "priority": -2}],
        "sysctls": sysctl_values(m),
        "nics": net["nics"],
        "bonds": net["bonds"],
        "vlans": net["vlans"],
        "other_virtual": net["other_virtual"],
        "not_interfaces": net["not_interfaces"],
        "irq_count": len(m.irqs),
        "irqs": [{"irq": r["irq"], "chip": r["chip"], "hwirq": "%d-%s" % (r["hwirq"],
                                                                         r["trigger"]),
                  "name": r["actions"], "affinity": r["affinity"], "effective": r["effective"],
                  "node": r["node"] if r["node"] >= 0 else None, "device": r["device"],
                  "total": sum(r["counts"].values())} for r in m.irqs],
        "interrupts_bytes": interrupts["bytes"],
        "irq_per_cpu_totals": interrupts["per_cpu_totals"],
        "irq_events": interrupts["events"],
        "processes": len(m.processes),
        "kthreads": len(kthreads),
        "kthreads_bound": {str(cpu): sorted(names) for cpu, names in sorted(bound.items())},
        "kthreads_unbound": sum(1 for p in kthreads if len(p["cpus"]) > 1),
        "running": sorted({p["comm"] for p in m.processes if not p["kthread"]}),
        "ptp_clocks": [dict(clock, nic=nic_by_pci.get(clock["pci_address"]))
                       for clock in sorted(m.ptp, key=lambda c: c["index"])],
        "services": _services_truth(),
        "tuned": {"version": "2.22.1", "active_profile": "balanced", "profile_mode": "manual"},
        "limits": [{"domain": d, "type": ty, "item": it, "value": v}
                   for d, ty, it, v in (("@trading", "soft", "memlock", "unlimited"),
                                        ("@trading", "hard", "memlock", "unlimited"),
                                        ("@trading", "-", "rtprio", "99"),
                                        ("*", "soft", "nofile", "65536"),
                                        ("*", "hard", "nofile", "262144"))],
        "limits_files": ["/etc/security/limits.conf", "/etc/security/limits.d/95-trading.conf"],
    }


def main(argv: List[str]) -> int:
    if len(argv) != 2 or argv[1].startswith("-"):
        print("usage: %s OUTDIR   (writes OUTDIR/root, OUTDIR/probes.json, OUTDIR/truth.json)"
              % argv[0], file=sys.stderr)
        return 2
    out = os.path.abspath(argv[1])
    truth = generate(os.path.join(out, "root"), LARGE, os.path.join(out, "probes.json"))
    with open(os.path.join(out, "truth.json"), "w", encoding="utf-8") as handle:
        json.dump(truth, handle, indent=1)
    print("%s: %d CPUs, %d nodes, %d NICs, %d IRQ rows (/proc/interrupts %.1f MB), "
          "%d processes; %d files, %d links"
          % (truth["root"], truth["cpu_count"], len(truth["nodes"]), len(truth["nics"]),
             truth["irq_count"], truth["interrupts_bytes"] / 1e6, truth["processes"],
             truth["files"], len(truth["links"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
