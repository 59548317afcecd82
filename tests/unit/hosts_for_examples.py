"""Small host trees for the configs in examples/: `build(spec, root_dir)` writes the /proc,
/sys, /etc and /boot files `lltune scan --root` reads, and returns the recorded ethtool answers
(what `--probes` holds). The specs are JSON files in tests/fixtures/hosts/.

tests/hostgen.py generates one large machine with a fixed NIC layout; these hosts need other
shapes (one socket, mixed NIC drivers), so they have this small builder of their own. Files
follow the RHEL 9 kernel's formats; IRQ names are the drivers' own:
  mlx5_core  mlx5_async0@pci:<addr>, then mlx5_comp<N>@pci:<addr>
  ice        ice-<addr>:misc, then ice-<ifname>-TxRx-<N>
  i40e       i40e-<addr>:misc, then i40e-<ifname>-TxRx-<N>
  igb        <ifname> (link and other causes), then <ifname>-TxRx-<N>

    python -m tests.unit.hosts_for_examples OUTDIR   # OUTDIR/<host>/root and probes.json
"""

import json
import os
import posixpath
import sys
from typing import Any, Dict, List

from tests.hostgen import cpulist, cpumask, rhel9_tuned_files

HOSTS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "fixtures", "hosts")
HOST_NAMES = ("single-socket-mellanox", "dual-socket-mixed-nics", "lab-template")

PCI_IDS = {  # vendor, device
    "mlx5_core": ("0x15b3", "0x101d"),  # ConnectX-6 Dx
    "ice": ("0x8086", "0x1593"),  # E810-C
    "i40e": ("0x8086", "0x1572"),  # X710 for 10GbE SFP+
    "igb": ("0x8086", "0x1521"),  # I350
}
RINGS_MAX = {"mlx5_core": 8192, "ice": 8160, "i40e": 4096, "igb": 4096}
RINGS_NOW = {"mlx5_core": 1024, "ice": 2048, "i40e": 512, "igb": 256}
FEATURES = ("rx-checksum", "tx-checksum-ip-generic", "tx-scatter-gather",
            "tx-tcp-segmentation", "tx-tcp6-segmentation", "tx-generic-segmentation",
            "rx-gro", "rx-lro", "rx-vlan-hw-parse", "tx-vlan-hw-insert", "rx-vlan-filter",
            "rx-ntuple-filter", "rx-hashing", "highdma", "rx-gro-hw", "loopback")
FIXED_OFF = ("rx-lro", "rx-gro-hw", "loopback")  # fixed off on these drivers
COALESCE = ("rx-usecs", "rx-frames", "rx-usecs-irq", "rx-frames-irq", "tx-usecs", "tx-frames",
            "tx-usecs-irq", "tx-frames-irq", "stats-block-usecs", "adaptive-rx", "adaptive-tx",
            "pkt-rate-low", "rx-usecs-low", "rx-frames-low", "tx-usecs-low", "tx-frames-low",
            "pkt-rate-high", "rx-usecs-high", "rx-frames-high", "tx-usecs-high",
            "tx-frames-high", "sample-interval")


def load_spec(name: str) -> Dict[str, Any]:
    with open(os.path.join(HOSTS_DIR, name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


class Tree:
    def __init__(self, root: str):
        self.root = os.path.abspath(root)

    def write(self, path: str, text: Any) -> None:
        host = self.root + path
        os.makedirs(os.path.dirname(host), exist_ok=True)
        with open(host, "w", encoding="utf-8") as handle:
            handle.write(text if isinstance(text, str) else "%s\n" % (text,))

    def link(self, path: str, target: str) -> None:
        host = self.root + path
        os.makedirs(os.path.dirname(host), exist_ok=True)
        os.symlink(posixpath.relpath(target, posixpath.dirname(path)), host)


class Topology:
    """Intel numbering: thread t of core c in package p is CPU t*P*C + p*C + c."""

    def __init__(self, spec: Dict[str, Any]):
        packages, cores, threads = spec["packages"], spec["cores_per_package"], \
            spec["threads_per_core"]
        self.ncpus = packages * cores * threads
        self.cpus: List[Dict[str, Any]] = []
        for package in range(packages):
            for core in range(cores):
                ids = [t * packages * cores + package * cores + core for t in range(threads)]
                for cpu in ids:
                    self.cpus.append({"id": cpu, "package": package, "core": core,
                                      "node": package, "siblings": ids})
        self.cpus.sort(key=lambda c: c["id"])
        self.nodes = {p: [c["id"] for c in self.cpus if c["node"] == p] for p in range(packages)}

    def spread(self, node: int, index: int) -> int:
        """cpumask_local_spread(index, node): the node's CPUs in order."""
        local = self.nodes[node]
        return local[index % len(local)]


def _cpus(t: Tree, topo: Topology, spec: Dict[str, Any]) -> None:
    base = "/sys/devices/system/cpu"
    every = cpulist(range(topo.ncpus))
    for name in ("online", "possible", "present"):
        t.write(base + "/" + name, every)
    t.write(base + "/isolated", "")
    t.write(base + "/smt/control", "on" if spec["threads_per_core"] > 1 else "notsupported")
    t.write(base + "/smt/active", 1 if spec["threads_per_core"] > 1 else 0)
    t.write(base + "/cpuidle/current_driver", "intel_idle")
    t.write(base + "/cpuidle/current_governor", "menu")
    t.write(base + "/vulnerabilities/spectre_v2", "Mitigation: Enhanced / Automatic IBRS")
    freq = spec["cpufreq"]
    for name, value in (("status", "active"), ("no_turbo", 0), ("min_perf_pct", 30),
                        ("max_perf_pct", 100)):
        t.write(base + "/intel_pstate/" + name, value)
    for cpu in topo.cpus:
        cid = cpu["id"]
        cdir = "%s/cpu%d" % (base, cid)
        topo_dir = cdir + "/topology"
        package = [c["id"] for c in topo.cpus if c["package"] == cpu["package"]]
        for name, value in (("physical_package_id", cpu["package"]), ("die_id", 0),
                            ("core_id", cpu["core"]),
                            ("thread_siblings_list", cpulist(cpu["siblings"])),
                            ("core_cpus_list", cpulist(cpu["siblings"])),
                            ("package_cpus_list", cpulist(package))):
            t.write("%s/%s" % (topo_dir, name), value)
        t.write(cdir + "/cache/index3/level", 3)
        t.write(cdir + "/cache/index3/shared_cpu_list", cpulist(topo.nodes[cpu["node"]]))
        if cid:
            t.write(cdir + "/online", 1)
        t.link("%s/node%d" % (cdir, cpu["node"]), "/sys/devices/system/node/node%d"
               % cpu["node"])
        policy = "%s/cpufreq/policy%d" % (base, cid)
        for name, value in (("related_cpus", cid), ("affected_cpus", cid),
                            ("scaling_driver", freq["driver"]),
                            ("scaling_governor", freq["governor"]),
                            ("scaling_available_governors", "performance powersave"),
                            ("energy_performance_preference", freq["epp"]),
                            ("scaling_min_freq", 800000), ("scaling_max_freq", freq["max_khz"]),
                            ("cpuinfo_min_freq", 800000), ("cpuinfo_max_freq", freq["max_khz"])):
            t.write("%s/%s" % (policy, name), value)
        for index, (name, latency) in enumerate(spec["cpuidle"]):
            state = "%s/cpuidle/state%d" % (cdir, index)
            t.write(state + "/name", name)
            t.write(state + "/latency", latency)
            t.write(state + "/disable", 0)
    blocks = []
    for cpu in topo.cpus:
        blocks.append("processor\t: %d\nvendor_id\t: %s\ncpu family\t: 6\nmodel\t\t: %d\n"
                      "model name\t: %s\nphysical id\t: %d\ncore id\t\t: %d\nflags\t\t: %s\n\n"
                      % (cpu["id"], spec["vendor"], spec["cpu_model"], spec["model_name"],
                         cpu["package"], cpu["core"], spec["cpu_flags"]))
    t.write("/proc/cpuinfo", "".join(blocks))


def _memory(t: Tree, topo: Topology, spec: Dict[str, Any]) -> None:
    base = "/sys/devices/system/node"
    nodes = sorted(topo.nodes)
    t.write(base + "/online", cpulist(nodes))
    t.write(base + "/possible", cpulist(nodes))
    total_kb = 0
    for node in nodes:
        kb = spec["memory_gib_per_node"] * 1024 * 1024 - 1048576 * (node == 0)
        total_kb += kb
        ndir = "%s/node%d" % (base, node)
        t.write(ndir + "/cpulist", cpulist(topo.nodes[node]))
        t.write(ndir + "/distance", " ".join("10" if other == node else "21"
                                             for other in nodes))
        t.write(ndir + "/meminfo", "Node %d MemTotal:       %d kB\nNode %d MemFree:        %d kB\n"
                % (node, kb, node, kb * 9 // 10))
        for size in ("2048kB", "1048576kB"):
            pool = "%s/hugepages/hugepages-%s" % (ndir, size)
            t.write(pool + "/nr_hugepages", 0)
            t.write(pool + "/free_hugepages", 0)
            t.write(pool + "/surplus_hugepages", 0)
        for cpu in topo.nodes[node]:
            t.link("%s/cpu%d" % (ndir, cpu), "/sys/devices/system/cpu/cpu%d" % cpu)
    t.write("/proc/meminfo", "MemTotal:       %d kB\nMemFree:        %d kB\nMemAvailable:   %d kB\n"
            "SwapTotal:      %d kB\nSwapFree:       %d kB\nHugePages_Total:       0\n"
            "HugePages_Free:        0\nHugepagesize:       2048 kB\nMlocked:               0 kB\n"
            % (total_kb, total_kb * 9 // 10, total_kb * 9 // 10, spec["swap_kb"],
               spec["swap_kb"]))
    swaps = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    if spec["swap_kb"]:
        swaps += "/dev/dm-1                               partition\t%d\t\t0\t\t-2\n" \
            % spec["swap_kb"]
    t.write("/proc/swaps", swaps)
    thp = "/sys/kernel/mm/transparent_hugepage"
    t.write(thp + "/enabled", "[always] madvise never")
    t.write(thp + "/defrag", "always defer defer+madvise [madvise] never")
    t.write(thp + "/shmem_enabled", "always within_size advise [never] deny force")
    t.write("/sys/kernel/mm/ksm/run", 0)
    for size in ("2048kB", "1048576kB"):
        pool = "/sys/kernel/mm/hugepages/hugepages-" + size
        for name in ("nr_hugepages", "free_hugepages", "surplus_hugepages"):
            t.write(pool + "/" + name, 0)


SYSCTLS = {
    "kernel.sched_rt_runtime_us": "950000", "kernel.timer_migration": "1",
    "kernel.numa_balancing": "1", "kernel.nmi_watchdog": "1", "kernel.watchdog": "1",
    "vm.stat_interval": "1", "vm.swappiness": "30", "vm.zone_reclaim_mode": "0",
    "vm.dirty_ratio": "20", "vm.dirty_background_ratio": "10", "net.core.busy_poll": "0",
    "net.core.busy_read": "0",
}


def _kernel(t: Tree, spec: Dict[str, Any]) -> None:
    release = spec["kernel_release"]
    t.write("/proc/cmdline", "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-%s root=/dev/mapper/rhel-root ro "
            "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap "
            "console=ttyS0,115200n8" % release)
    for name, value in SYSCTLS.items():
        t.write("/proc/sys/" + name.replace(".", "/"), value)
    t.write("/proc/sys/kernel/osrelease", release)
    t.write("/proc/sys/kernel/version", "#1 SMP PREEMPT_DYNAMIC Thu Oct 5 08:11:31 EDT 2023")
    t.write("/proc/sys/kernel/hostname", spec["hostname"])
    cs = "/sys/devices/system/clocksource/clocksource0"
    t.write(cs + "/current_clocksource", "tsc")
    t.write(cs + "/available_clocksource", "tsc hpet acpi_pm ")
    t.write("/boot/config-" + release, "CONFIG_NO_HZ_FULL=y\nCONFIG_RCU_NOCB_CPU=y\n"
            "# CONFIG_PREEMPT_RT is not set\nCONFIG_PREEMPT_DYNAMIC=y\nCONFIG_CPU_ISOLATION=y\n"
            "CONFIG_HZ=1000\n")
    t.write("/etc/os-release", 'NAME="%s"\nID="%s"\nVERSION_ID="%s"\nPRETTY_NAME="%s"\n' % (
        spec["os"][0], spec["os"][1], spec["os"][2], spec["os"][0] + " " + spec["os"][2]))
    t.write("/sys/class/dmi/id/sys_vendor", spec["vendor_dmi"])


def _services(t: Tree, spec: Dict[str, Any]) -> None:
    services = spec["services"]
    for unit in services["installed"]:
        t.write("/usr/lib/systemd/system/" + unit, "[Unit]\nDescription=%s\n" % unit)
    for unit in services["enabled"]:
        t.link("/etc/systemd/system/multi-user.target.wants/" + unit,
               "/usr/lib/systemd/system/" + unit)
    for pid, comm in enumerate(services["running"], 1000):
        t.write("/proc/%d/stat" % pid, "%d (%s) S 1 %d %d 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 "
                "0 100 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n"
                % (pid, comm, pid, pid))
    t.write("/usr/lib/python3.9/site-packages/tuned/version.py",
            "TUNED_VERSION_MAJOR = %s\nTUNED_VERSION_MINOR = %s\nTUNED_VERSION_PATCH = %s\n"
            % tuple(spec["tuned_version"].split(".")))
    t.write("/etc/tuned/active_profile", "throughput-performance")
    for path, text in sorted(rhel9_tuned_files(spec["kernel_release"]).items()):
        t.write(path, text)
    t.write("/etc/security/limits.conf", "# /etc/security/limits.conf\n")


def _nic_irq_names(nic: Dict[str, Any]) -> List[str]:
    driver, name, address = nic["driver"], nic["name"], nic["pci"]
    queues = range(nic["queues"])
    if driver == "mlx5_core":
        return ["mlx5_async0@pci:" + address] + ["mlx5_comp%d@pci:%s" % (q, address)
                                                  for q in queues]
    if driver in ("ice", "i40e"):
        return ["%s-%s:misc" % (driver, address)] + ["%s-%s-TxRx-%d" % (driver, name, q)
                                                      for q in queues]
    return [name] + ["%s-TxRx-%d" % (name, q) for q in queues]  # igb


def _nics(t: Tree, topo: Topology, spec: Dict[str, Any]) -> Dict[str, Any]:
    rows = []  # (irq, chip, hwirq, name, effective cpu, node, pci address)
    probes = {}
    irq = 40
    for nic in spec["nics"]:
        address, node, driver, name = nic["pci"], nic["node"], nic["driver"], nic["name"]
        root_bus = "pci0000:%s" % nic["root_bus"]
        path = "/sys/devices/%s/%s" % (root_bus, address)
        vendor, device = PCI_IDS[driver]
        for attr, value in (("vendor", vendor), ("device", device), ("numa_node", node),
                            ("local_cpulist", cpulist(topo.nodes[node])),
                            ("class", "0x020000"), ("irq", 0)):
            t.write("%s/%s" % (path, attr), value)
        t.link(path + "/driver", "/sys/bus/pci/drivers/" + driver)
        t.link("/sys/bus/pci/devices/" + address, path)
        irq += 8
        for vector, irq_name in enumerate(_nic_irq_names(nic)):
            cpu = topo.spread(node, max(0, vector - 1))
            rows.append((irq, "IR-PCI-MSIX-" + address, vector, irq_name, cpu, node, address))
            t.write("%s/msi_irqs/%d" % (path, irq), "msix")
            irq += 1
        net = "%s/net/%s" % (path, name)
        for attr, value in (("address", nic["mac"]), ("speed", nic["speed"]),
                            ("duplex", "full"), ("operstate", "up"), ("carrier", 1),
                            ("mtu", nic.get("mtu", 1500)), ("tx_queue_len", 1000)):
            t.write("%s/%s" % (net, attr), value)
        for queue in range(nic["queues"]):
            t.write("%s/queues/rx-%d/rps_cpus" % (net, queue), cpumask([], topo.ncpus))
            t.write("%s/queues/tx-%d/xps_cpus" % (net, queue),
                    cpumask([topo.spread(node, queue)], topo.ncpus))
        t.link(net + "/device", path)
        t.link("/sys/class/net/" + name, net)
        if nic.get("phc") is not None and nic.get("owns_phc", True):
            ptp = "%s/ptp/ptp%d" % (path, nic["phc"])
            t.write(ptp + "/clock_name", "mlx5_ptp" if driver == "mlx5_core" else
                    "%s-%s-clk" % (driver, address) if driver == "ice" else driver)
            t.link(ptp + "/device", path)
            t.link("/sys/class/ptp/ptp%d" % nic["phc"], ptp)
        combined = nic["queues"]
        probes["ethtool:" + name] = {"data": {
            "driver_info": {"driver": driver, "version": spec["kernel_release"],
                            "firmware_version": nic.get("firmware", "1.0"), "bus_info": address},
            "link": {"speed": nic["speed"], "duplex": "full", "autoneg": driver != "mlx5_core"},
            "channels": {"current": {"rx": 0, "tx": 0, "other": 0 if driver == "mlx5_core"
                                     else 1, "combined": combined},
                         "max": {"rx": 0, "tx": 0, "other": 0 if driver == "mlx5_core" else 1,
                                 "combined": nic["channels_max"]}},
            "rings": {"current": {"rx": RINGS_NOW[driver], "rx_mini": 0, "rx_jumbo": 0,
                                  "tx": RINGS_NOW[driver]},
                      "max": {"rx": RINGS_MAX[driver], "rx_mini": 0, "rx_jumbo": 0,
                              "tx": RINGS_MAX[driver]}},
            "coalesce": {key: (True if key.startswith("adaptive") else
                               (8 if key == "rx-usecs" else 0)) for key in COALESCE},
            "pause": {"autoneg": False, "rx": True, "tx": True},
            "timestamping": {"phc_index": nic.get("phc"),
                             "so_timestamping": ["hardware-transmit", "hardware-receive",
                                                 "hardware-raw-clock"],
                             "tx_types": ["off", "on"], "rx_filters": ["none", "all"]},
            "features": {feature: {"active": feature not in FIXED_OFF,
                                   "requested": feature not in FIXED_OFF,
                                   "fixed": feature in FIXED_OFF} for feature in FEATURES},
            "private_flags": {},
        }}
    # A few non-NIC interrupts, as every host has them.
    rows = [(0, "IR-IO-APIC", 2, "timer", 0, 0, None), (8, "IR-IO-APIC", 8, "rtc0", 0, 0, None),
            (9, "IR-IO-APIC", 9, "acpi", 0, 0, None)] + rows
    header = " " * 5 + "".join("CPU%-8d" % cpu for cpu in range(topo.ncpus)) + "\n"
    lines = [header]
    for number, chip, hwirq, name, cpu, node, address in rows:
        counts = "".join("%10d " % (1000 + number if c == cpu else 0)
                         for c in range(topo.ncpus))
        lines.append("%4d: %s %s %d-edge      %s\n" % (number, counts, chip, hwirq, name))
        base = "/proc/irq/%d" % number
        t.write(base + "/smp_affinity_list", cpulist(topo.nodes[node]) if address else
                cpulist(range(topo.ncpus)))
        t.write(base + "/effective_affinity_list", cpu)
        t.write(base + "/node", node)
    lines.append(" NMI: %s  Non-maskable interrupts\n" % "".join(
        "%10d " % 3 for _ in range(topo.ncpus)))
    t.write("/proc/interrupts", "".join(lines))
    t.write("/proc/irq/default_smp_affinity", cpumask(range(topo.ncpus), topo.ncpus))
    return probes


def build(spec: Dict[str, Any], root: str) -> Dict[str, Any]:
    """Write the host tree under `root` (which must not exist); return its probes mapping."""
    os.makedirs(root)
    tree = Tree(root)
    topo = Topology(spec)
    _cpus(tree, topo, spec)
    _memory(tree, topo, spec)
    _kernel(tree, spec)
    _services(tree, spec)
    return _nics(tree, topo, spec)


def build_named(name: str, directory: str) -> Dict[str, Any]:
    """Build tests/fixtures/hosts/<name>.json into directory/root; return its probes."""
    return build(load_spec(name), os.path.join(directory, "root"))


def main(argv: List[str]) -> int:
    if len(argv) != 2:
        print("usage: %s OUTDIR" % argv[0], file=sys.stderr)
        return 2
    for name in HOST_NAMES:
        directory = os.path.join(argv[1], name)
        probes = build_named(name, directory)
        with open(os.path.join(directory, "probes.json"), "w", encoding="utf-8") as handle:
            json.dump({"format": "lltune-probes", "format_version": 1, "probes": probes},
                      handle, indent=1, sort_keys=True)
        print("%s: lltune scan --root %s/root --probes %s/probes.json" % (name, directory,
                                                                          directory))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
