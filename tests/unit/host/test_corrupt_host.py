"""Corrupt and missing host inputs never crash a scan: the values become null and are noted."""

import os
import shutil

import pytest

from lltune.model.snapshot import validate
from tests.conftest import scan_root

BASE = "8em64t-2s2ca2c"


@pytest.fixture()
def tree(tmp_path, hwloc_trees):
    """A private copy of a real tree the test may damage."""
    root = tmp_path / "root"
    shutil.copytree(hwloc_trees[BASE], str(root), symlinks=True)
    return root


def _write(root, path, text):
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink():
        target.unlink()
    target.write_text(text)


def _clean_scan(root):
    snapshot = scan_root(root)
    assert snapshot["collector_errors"] == []
    validate(snapshot, str(root))
    return snapshot


INTERRUPTS = (
    "           CPU0       CPU1\n"
    "  0:         44          0   IO-APIC   2-edge      timer\n"
    " 24:       1000       2000   PCI-MSI 524288-edge      eth0-TxRx-0\n"
    " 25:        300          0   PCI-MSI 524289-edge      eth0-TxRx-1, eth0-extra\n"
    "NMI:          1          2   Non-maskable interrupts\n"
    "LOC:       5000       6000   Local timer interrupts\n"
)


def test_truncated_proc_interrupts(tree):
    _write(tree, "/proc/interrupts", INTERRUPTS[:INTERRUPTS.index("eth0-TxRx-1") - 30])
    snapshot = _clean_scan(tree)
    rows = {row["irq"]: row for row in snapshot["irqs"]["irqs"]}
    assert rows[24]["actions"] == ["eth0-TxRx-0"] and rows[24]["total"] == 3000
    assert 25 in rows and rows[25]["counts"] == [[0, 300]], "the partial row keeps what parsed"
    assert any(m["what"] == "/proc/interrupts" for m in snapshot["missing"])


def test_full_proc_interrupts_parses_every_field(tree):
    _write(tree, "/proc/interrupts", INTERRUPTS)
    snapshot = _clean_scan(tree)
    rows = {row["irq"]: row for row in snapshot["irqs"]["irqs"]}
    assert rows[25]["chip"] == "PCI-MSI" and rows[25]["hwirq"] == "524289-edge"
    assert rows[25]["actions"] == ["eth0-TxRx-1", "eth0-extra"]
    assert snapshot["irqs"]["per_cpu_events"]["LOC"]["total"] == 11000
    assert snapshot["irqs"]["per_cpu_totals"] == [[0, 1344], [1, 2000]]
    assert not any(m["what"] == "/proc/interrupts" for m in snapshot["missing"])


def test_garbage_proc_interrupts(tree):
    _write(tree, "/proc/interrupts", "\x00\x01 nonsense\n:::\n12 13 14\nCPU0\n 7: x y z\n")
    snapshot = _clean_scan(tree)
    assert isinstance(snapshot["irqs"]["irqs"], list)


@pytest.mark.parametrize("path, value", [
    ("/sys/devices/system/cpu/cpu0/topology/physical_package_id", "banana"),
    ("/sys/devices/system/cpu/cpu0/topology/core_id", ""),
    ("/sys/devices/system/cpu/cpu0/topology/thread_siblings_list", "0-zz"),
    ("/sys/devices/system/cpu/cpu0/topology/thread_siblings", "not-hex"),
    ("/sys/devices/system/cpu/online", "garbage"),
    ("/sys/devices/system/node/node0/cpulist", "4-1"),
    ("/sys/devices/system/node/node0/distance", "ten twenty"),
    ("/proc/meminfo", "MemTotal: lots kB\nnonsense\n"),
    ("/sys/kernel/mm/transparent_hugepage/enabled", "always madvise never"),
    ("/proc/sys/vm/swappiness", "sixty"),
    ("/proc/swaps", "Filename Type\n/dev/sda2 partition x y z\n"),
    ("/proc/cmdline", 'isolcpus=bogus nohz_full= "unterminated'),
    ("/proc/irq/default_smp_affinity", "zz"),
    ("/etc/security/limits.conf", "@rt - rtprio\n* hard memlock unlimited extra\n"),
])
def test_non_numeric_sysfs_values(tree, path, value):
    _write(tree, path, value)
    snapshot = _clean_scan(tree)
    assert len(snapshot["cpu"]["cpus"]) == 8


def test_non_numeric_topology_becomes_null(tree):
    _write(tree, "/sys/devices/system/cpu/cpu0/topology/physical_package_id", "banana")
    cpu0 = _clean_scan(tree)["cpu"]["cpus"][0]
    assert cpu0["id"] == 0 and cpu0["package"] is None


@pytest.mark.parametrize("directory", [
    "/sys/devices/system/node", "/sys/devices/system/cpu", "/sys/class", "/proc", "/sys",
    "/sys/devices/system/cpu/cpu3",
])
def test_missing_directories(tree, directory):
    shutil.rmtree(str(tree / directory.lstrip("/")))
    snapshot = _clean_scan(tree)
    assert snapshot["missing"], "what was missing is recorded"


def test_missing_numa_tree_gives_one_synthetic_node(tree):
    shutil.rmtree(str(tree / "sys/devices/system/node"))
    numa = _clean_scan(tree)["numa"]
    assert numa["synthetic"] and [n["cpus"] for n in numa["nodes"]] == [list(range(8))]


def test_empty_root(tmp_path):
    snapshot = _clean_scan(tmp_path)
    assert snapshot["cpu"]["cpus"] == [] and snapshot["nics"] == []


def test_unreadable_and_special_files(tree):
    target = tree / "sys/devices/system/cpu/cpu1/topology/core_id"
    target.unlink()
    os.mkfifo(str(target))  # a FIFO where a value should be must not block the scan
    (tree / "proc").mkdir(exist_ok=True)
    if (tree / "proc/cmdline").exists():
        (tree / "proc/cmdline").unlink()
    os.symlink("/etc/shadow", str(tree / "proc/cmdline"))  # absolute: re-rooted, not followed
    snapshot = _clean_scan(tree)
    assert snapshot["cpu"]["cpus"][1]["core"] is None
    assert snapshot["kernel"]["cmdline"] == []


def test_symlink_loops_and_escapes_stay_inside_the_root(tree):
    os.symlink("loop", str(tree / "sys/class/loop"))
    net = tree / "sys/class/net"
    net.mkdir(parents=True, exist_ok=True)
    os.symlink("../../../../../../../../../etc", str(net / "escape0"))
    snapshot = _clean_scan(tree)
    # escape0 resolves inside the root, to /etc, which is no netdev: not listed at all.
    assert [n["name"] for n in snapshot["nics"]] == []
    assert [v["name"] for v in snapshot["network"]["other_virtual"]] == []


def test_relative_links_at_the_top_of_the_tree(tree):
    """/lib -> usr/lib, as every merged-/usr distribution has it."""
    (tree / "usr/lib/systemd/system").mkdir(parents=True)
    (tree / "usr/lib/systemd/system/tuned.service").write_text("[Unit]\n")
    os.symlink("usr/lib", str(tree / "lib"))
    snapshot = _clean_scan(tree)
    assert snapshot["services"]["units"]["tuned.service"]["load"] == "loaded"


ROUTE = """Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth1\t00000000\t010200C0\t0003\t0\t0\t100\t00000000\t0\t0\t0
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
eth2\t00000000\t010200C0\t0002\t0\t0\t0\t00000000\t0\t0\t0
"""
IPV6_ROUTE = ("00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
              "fe800000000000000000000000000001 00000400 00000001 00000000 00000003 eth3\n"
              "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
              "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n")


def test_default_route_interfaces(tree):
    _write(tree, "/proc/net/route", ROUTE)
    _write(tree, "/proc/net/ipv6_route", IPV6_ROUTE)
    route = _clean_scan(tree)["network"]["default_route"]
    # metric order; eth2's route is not up (no RTF_UP); lo's IPv6 unreachable route ignored
    assert route["interfaces"] == ["eth0", "eth1", "eth3"]
