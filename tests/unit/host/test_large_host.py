"""The scanner on a generated large host (tests/hostgen.py: 2 packages, 256 CPUs, 4 nodes,
16 NICs x 64 queues, ~1,300 IRQs, ~2,000 kernel threads): every fact the generator decided
must come back out of the snapshot, and a capture of it must scan the same.

The tree is generated once per session into a temporary directory; no timing is asserted here
(`make bench` measures the same host as separate processes).
"""

import importlib.util
import os
import shutil
import sys

import pytest

from lltune.host.capture import load_probes, open_bundle, write_bundle
from lltune.host.reader import RecordingReader, RootReader
from lltune.host.scan import VOLATILE_FIELDS, scan
from tests.conftest import REPO


def _load_hostgen():
    path = os.path.join(REPO, "tests", "hostgen.py")
    spec = importlib.util.spec_from_file_location("hostgen", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("hostgen", module)
    spec.loader.exec_module(module)
    return module


hostgen = _load_hostgen()


@pytest.fixture(scope="session")
def truth(tmp_path_factory):
    base = tmp_path_factory.mktemp("large-host")
    yield hostgen.generate(str(base / "root"), hostgen.LARGE)
    shutil.rmtree(str(base), ignore_errors=True)  # 40,000 files: do not keep three of them


@pytest.fixture(scope="session")
def snap(truth):
    reader = RootReader(truth["root"], load_probes(truth["probes"]))
    return scan(reader, {"kind": "root", "path": truth["root"]})


def by_name(items, key="name"):
    return {item[key]: item for item in items}


# ------------------------------------------------------------------ the generated tree


def test_generator_is_deterministic():
    # The bench reuses a generated tree while hostgen.py is unchanged: the same spec must
    # give the same host (every random draw happens while the model is built).
    one, two = hostgen.build_model(hostgen.LARGE), hostgen.build_model(hostgen.LARGE)
    assert one.cpus == two.cpus
    assert one.irqs == two.irqs
    assert one.processes == two.processes
    assert [nic["name"] for nic in one.nics] == [nic["name"] for nic in two.nics]


def test_the_tree_is_large(truth):
    assert truth["cpu_count"] == 256
    assert len(truth["nodes"]) >= 4
    assert len(truth["nics"]) == 16
    assert truth["irq_count"] >= 1000
    assert truth["interrupts_bytes"] >= 3 * 1024 * 1024
    assert truth["kthreads"] >= 1900


def test_links_are_relative_and_stay_inside(truth):
    # Like sysfs's: relative, resolving inside the tree, never dangling.
    root = os.path.realpath(truth["root"])
    assert len(truth["links"]) > 1000
    for link in truth["links"]:
        path = root + link
        assert not os.readlink(path).startswith("/"), link
        resolved = os.path.realpath(path)
        assert resolved.startswith(root + os.sep), (link, resolved)
        assert os.path.exists(resolved), link


# ------------------------------------------------------------------ the scan


def test_scan_is_clean(snap):
    assert snap["collector_errors"] == []
    # Only the D-Bus answers are absent: the generated probes hold ethtool answers only.
    assert {entry["what"] for entry in snap["missing"]} <= {"dbus:systemd", "dbus:tuned"}


def test_host(snap, truth):
    host = snap["host"]
    assert host["hostname"] == truth["hostname"]
    assert host["os"]["id"] == truth["os"]["id"]
    assert host["os"]["version_id"] == truth["os"]["version_id"]
    assert host["os"]["pretty_name"] == truth["os"]["pretty_name"]
    assert host["kernel"]["release"] == truth["kernel_release"]
    assert host["preempt_model"] == "dynamic"
    assert host["virtualization"]["virtualized"] is False
    assert host["architecture"] == "x86_64"


def test_every_cpu(snap, truth):
    cpus = snap["cpu"]["cpus"]
    assert [cpu["id"] for cpu in cpus] == list(range(truth["cpu_count"]))
    l3_of = {cpu: index for index, group in enumerate(truth["l3_groups"]) for cpu in group}
    groups = {tuple(group["cpus"]): group["id"] for group in snap["cpu"]["l3_groups"]}
    for got, want in zip(cpus, truth["cpus"]):
        assert got["online"] is True
        assert got["package"] == want["package"], got["id"]
        assert got["die"] == want["die"], got["id"]
        assert got["core"] == want["core"], got["id"]
        assert got["node"] == want["node"], got["id"]
        assert got["siblings"] == want["siblings"], got["id"]
        assert got["l3"] == groups[tuple(truth["l3_groups"][l3_of[got["id"]]])]
        assert got["cpufreq"]["governor"] == truth["cpufreq"]["governor"]
        assert got["cpufreq"]["epp"] == truth["cpufreq"]["epp"]
        assert [(s["state"], s["name"], s["latency_us"]) for s in got["cpuidle"]] == \
            [(s["state"], s["name"], s["latency_us"]) for s in truth["cpuidle_states"]]
        assert all(state["disabled"] is False for state in got["cpuidle"])
    # Intel numbering: CPU N's sibling is N + 128.
    assert cpus[5]["siblings"] == [5, 133]
    assert len({cpu["package"] for cpu in cpus}) == len(truth["packages"])


def test_cpu_summary(snap, truth):
    cpu = snap["cpu"]
    assert cpu["model_name"] == truth["model_name"]
    assert cpu["vendor"] == "GenuineIntel"
    assert cpu["flags"]["constant_tsc"] and cpu["flags"]["nonstop_tsc"]
    assert cpu["flags"]["hypervisor"] is False
    assert cpu["online"] == cpu["possible"] == cpu["present"] == list(range(256))
    assert cpu["smt"] == {"control": "on", "active": True, "threads_per_core": 2}
    assert cpu["isolated"]["sysfs"] == []
    assert cpu["cpufreq"]["driver"] == "intel_pstate"
    assert len(cpu["cpufreq"]["policies"]) == truth["cpufreq"]["policies"]
    assert cpu["boost"]["intel_pstate_status"] == "active"
    assert cpu["boost"]["no_turbo"] is False
    assert cpu["cpuidle"] == {"driver": "intel_idle", "governor": "menu"}
    assert [group["cpus"] for group in cpu["l3_groups"]] == truth["l3_groups"]
    assert cpu["vulnerabilities"] == truth["vulnerabilities"]


def test_numa_nodes(snap, truth):
    nodes = snap["numa"]["nodes"]
    assert snap["numa"]["online"] == [node["id"] for node in truth["nodes"]]
    assert [node["id"] for node in nodes] == [node["id"] for node in truth["nodes"]]
    for got, want in zip(nodes, truth["nodes"]):
        assert got["cpus"] == want["cpus"], got["id"]
        assert got["memory_kb"] == want["memory_kb"]
        assert got["free_kb"] == want["free_kb"]
        assert got["distances"] == want["distances"]
        assert got["hugepages"]["2048kB"]["total"] == hostgen.HUGEPAGES_2M_PER_NODE
    all_cpus = sorted(cpu for node in nodes for cpu in node["cpus"])
    assert all_cpus == list(range(truth["cpu_count"]))


def test_memory(snap, truth):
    memory = snap["memory"]
    for key, value in truth["meminfo_kb"].items():
        assert memory["meminfo_kb"][key] == value, key
    assert memory["meminfo_kb"]["HugePages_Total"] == truth["hugepages_2m_total"]
    assert memory["hugepages"]["2048kB"]["total"] == truth["hugepages_2m_total"]
    assert memory["thp"]["enabled"] == truth["thp"]["enabled"]
    assert memory["thp"]["defrag"] == truth["thp"]["defrag"]
    assert memory["thp"]["shmem_enabled"] == truth["thp"]["shmem_enabled"]
    assert memory["ksm"]["run"] == 0
    assert memory["swap"]["devices"] == truth["swaps"]


def test_kernel(snap, truth):
    kernel = snap["kernel"]
    assert kernel["cmdline"] == truth["cmdline"]
    assert [t for t in kernel["cmdline"] if t.startswith("rd.lvm.lv=")] == \
        ["rd.lvm.lv=almalinux/root", "rd.lvm.lv=almalinux/swap"]
    assert kernel["sysctls"] == truth["sysctls"]
    assert kernel["clocksource"] == {"current": "tsc", "available": ["tsc", "hpet", "acpi_pm"]}
    assert kernel["watchdogs"]["devices"] == [{"name": "watchdog0", "identity": "iTCO_wdt"}]
    assert kernel["config"]["CONFIG_NO_HZ_FULL"] == "y"
    assert kernel["config"]["CONFIG_PREEMPT_RT"] == "n"


def test_every_nic(snap, truth):
    nics = by_name(snap["nics"])
    assert sorted(nics) == sorted(nic["name"] for nic in truth["nics"])
    for want in truth["nics"]:
        got = nics[want["name"]]
        for key in ("driver", "pci_address", "numa_node", "numa_node_source", "local_cpus",
                    "irqs", "queues", "rps", "xps", "mac", "speed_mbps", "mtu", "link",
                    "phc_index", "vendor_id", "device_id"):
            assert got[key] == want[key], (want["name"], key)
        assert len(got["irqs"]) >= 65  # 64 queue vectors and a control vector
        assert got["channels"]["current"]["combined"] == 64
        assert got["driver_version"] == truth["kernel_release"]


def test_nics_behind_a_root_port_without_proximity(snap, truth):
    nics = by_name(snap["nics"])
    fallback = [nic for nic in truth["nics"] if nic["sysfs_numa_node"] == -1]
    assert len(fallback) == 2
    for want in fallback:
        got = nics[want["name"]]
        assert got["numa_node"] == want["numa_node"] == 3
        assert got["numa_node_source"] == "local_cpus"


def test_interrupts(snap, truth):
    irqs = snap["irqs"]
    assert irqs["cpu_columns"] == list(range(truth["cpu_count"]))
    assert len(irqs["irqs"]) == truth["irq_count"]
    for got, want in zip(irqs["irqs"], truth["irqs"]):
        assert got["irq"] == want["irq"]
        assert got["chip"] == want["chip"], got["irq"]
        assert got["hwirq"] == want["hwirq"], got["irq"]
        assert got["name"] == want["name"], got["irq"]
        assert got["smp_affinity_list"] == want["affinity"], got["irq"]
        assert got["effective_affinity_list"] == want["effective"], got["irq"]
        assert got["node"] == want["node"], got["irq"]
        assert got["device"] == want["device"], got["irq"]
        assert got["total"] == want["total"], got["irq"]
    assert irqs["per_cpu_totals"] == [[cpu, total] for cpu, total in
                                      enumerate(truth["irq_per_cpu_totals"])]
    assert {name: event["total"] for name, event in irqs["per_cpu_events"].items()} == \
        truth["irq_events"]
    assert irqs["default_smp_affinity"] == list(range(truth["cpu_count"]))
    owner = {irq: nic["name"] for nic in truth["nics"] for irq in nic["irqs"]}
    for row in irqs["irqs"]:
        assert row["interface"] == owner.get(row["irq"])


def test_bond_and_vlan(snap, truth):
    network = snap["network"]
    bonds = by_name(network["bonds"])
    vlans = by_name(network["vlans"])
    for want in truth["bonds"]:
        got = bonds[want["name"]]
        assert got["lower"] == want["lower"]
        assert got["mode"] == want["mode"]
        assert got["active_slave"] == want["active_slave"]
        assert got["physical_ports"] == want["physical_ports"]
    for want in truth["vlans"]:
        got = vlans[want["name"]]
        assert got["vlan_id"] == want["vlan_id"]
        assert got["lower"] == want["lower"]
        assert got["physical_ports"] == want["physical_ports"]
    names = {entry["name"] for entry in network["other_virtual"]}
    assert set(truth["other_virtual"]) <= names


def test_kernel_threads(snap, truth):
    kthreads = snap["kthreads"]
    assert {str(entry["cpu"]): entry["threads"] for entry in kthreads["bound"]} == \
        truth["kthreads_bound"]
    assert kthreads["unbound"]["count"] == truth["kthreads_unbound"]
    assert kthreads["unbound"]["cpus"] == list(range(truth["cpu_count"]))
    assert kthreads["workqueue_cpumask"] == list(range(truth["cpu_count"]))
    assert kthreads["writeback_cpumask"] == list(range(truth["cpu_count"]))


def test_services_time_limits(snap, truth):
    units = snap["services"]["units"]
    for unit, want in truth["services"].items():
        got = units[unit]
        assert (got["load"], got["active"], got["file_state"]) == \
            (want["load"], want["active"], want["file_state"]), unit
    tuned = snap["services"]["tuned"]
    assert (tuned["version"], tuned["active_profile"], tuned["profile_mode"]) == \
        (truth["tuned"]["version"], truth["tuned"]["active_profile"],
         truth["tuned"]["profile_mode"])
    assert tuned["running"] is True
    time = snap["time"]
    assert time["ptp_clocks"] == truth["ptp_clocks"]
    assert time["daemons"] == {"ptp4l": True, "phc2sys": False, "timemaster": False,
                               "chronyd": True, "ntpd": False}
    limits = snap["limits"]
    assert limits["files"] == truth["limits_files"]
    assert [{key: entry[key] for key in ("domain", "type", "item", "value")}
            for entry in limits["entries"]] == truth["limits"]


def test_capture_of_the_large_host_scans_the_same(snap, truth, tmp_path):
    recorder = RecordingReader(RootReader(truth["root"], load_probes(truth["probes"])))
    source = {"kind": "root", "path": truth["root"]}
    captured = scan(recorder, source)
    bundle = str(tmp_path / "large.tar.gz")
    write_bundle(recorder, captured, bundle)
    reader, _manifest, stored = open_bundle(bundle)
    again = scan(reader, source)

    def stable(snapshot):
        return {key: value for key, value in snapshot.items() if key not in VOLATILE_FIELDS}

    assert stable(again) == stable(captured) == stable(snap)
    assert stable(stored) == stable(captured)


# ------------------------------------------------------------------ kernel quirks


def test_bonding_masters_is_not_an_interface(snap, truth):
    names = {entry["name"] for kind in ("bonds", "vlans", "other_virtual")
             for entry in snap["network"][kind]}
    assert not names & set(truth["not_interfaces"])


def test_unset_nohz_full_reads_as_empty(snap):
    """5.14 prints an unset nohz_full mask as "(null)" padded to nr_cpu_ids."""
    assert snap["cpu"]["nohz_full"]["sysfs"] == []
