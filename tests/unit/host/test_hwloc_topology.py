"""The scan of each real host tree agrees with hwloc's own ground truth for the same tree.

Ground truth is parsed from the fixture's lstopo console output (.console) or hwloc XML (.xml):
no number in this file is copied by hand from those files.
"""

import os
import re
import xml.etree.ElementTree as ElementTree

import pytest

from tests.conftest import HWLOC, HWLOC_NAMES, scan_root

_CONSOLE_OBJECT = re.compile(r"^(\s*)(\S+)(?: L#\d+)? \(P#(\d+)")  # "Machine (P#0" too


def _truth_from_console(path):
    """{pu: (package, core, node)} and sibling groups, from lstopo's indented text."""
    stack = []  # (indent, kind, os_index, node-of-this-object)
    pus = {}
    cores = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            match = _CONSOLE_OBJECT.match(line)
            if not match:
                continue
            indent, kind, index = len(match.group(1)), match.group(2), int(match.group(3))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            if kind == "NUMANode":
                # A memory child: its locality is its parent's CPU set.
                stack[-1][3] = index
                continue
            stack.append([indent, kind, index, None])
            if kind == "PU":
                package = next((s[2] for s in stack if s[1] == "Package"), None)
                core = next((s for s in reversed(stack) if s[1] == "Core"), None)
                node = next((s[3] for s in reversed(stack) if s[3] is not None), None)
                pus[index] = {"package": package, "core": core[2] if core else None,
                              "node": node}
                cores.setdefault(id(core), []).append(index)
    return pus, cores


def _bits(mask):
    value = 0
    for word in mask.split(","):
        value = (value << 32) | int(word, 16)
    return [bit for bit in range(value.bit_length()) if value >> bit & 1]


def _xml_truth(path):
    """PUs as in _truth_from_console, plus {nic name: node or None} from the OSDev objects."""
    root = ElementTree.parse(path).getroot()
    pus, cores, nics = {}, {}, {}

    def walk(element, ancestors):
        kind = element.get("type")
        if kind == "PU":
            package = next((a.get("os_index") for a in ancestors if a.get("type") == "Package"),
                           None)
            core = next((a for a in reversed(ancestors) if a.get("type") == "Core"), None)
            node = None
            for ancestor in reversed(ancestors):
                numa = [c for c in ancestor if c.get("type") == "NUMANode"]
                if numa:
                    node = int(numa[0].get("os_index")) if len(numa) == 1 else None
                    break
            index = int(element.get("os_index"))
            pus[index] = {"package": int(package) if package is not None else None,
                          "core": int(core.get("os_index")) if core is not None else None,
                          "node": node}
            cores.setdefault(id(core), []).append(index)
        if kind == "OSDev" and element.get("osdev_type") == "16":
            nodeset = next((a.get("nodeset") for a in reversed(ancestors) if a.get("nodeset")),
                           None)
            bits = _bits(nodeset) if nodeset and "f...f" not in nodeset else []
            nics[element.get("name")] = bits[0] if len(bits) == 1 else None
        for child in element:
            walk(child, ancestors + [element])

    walk(root, [])
    return pus, cores, nics


def ground_truth(name):
    console = os.path.join(HWLOC, name + ".console")
    if os.path.exists(console):
        pus, cores = _truth_from_console(console)
        return pus, cores, None
    return _xml_truth(os.path.join(HWLOC, name + ".xml"))


@pytest.fixture(scope="module")
def snapshots(hwloc_trees):
    return {name: scan_root(root) for name, root in hwloc_trees.items()}


@pytest.mark.parametrize("name", HWLOC_NAMES)
def test_cpus_packages_nodes_and_siblings_match_hwloc(name, snapshots):
    pus, cores, _ = ground_truth(name)
    snapshot = snapshots[name]
    assert snapshot["collector_errors"] == []
    online = {cpu["id"]: cpu for cpu in snapshot["cpu"]["cpus"] if cpu["online"]}
    assert set(online) == set(pus), "online CPUs differ from hwloc's PUs"
    online_nodes = {node["id"] for node in snapshot["numa"]["nodes"] if node["online"] is not False}
    for pu, truth in pus.items():
        cpu = online[pu]
        assert cpu["package"] == truth["package"], "CPU %d package" % pu
        assert cpu["core"] == truth["core"], "CPU %d core" % pu
        if truth["node"] is None:
            # hwloc shows no NUMANode for an offline node; the kernel still names the CPU's
            # node (cpuN/nodeM), which must then not be one of the online nodes.
            assert cpu["node"] not in online_nodes, "CPU %d NUMA node" % pu
        else:
            assert cpu["node"] == truth["node"], "CPU %d NUMA node" % pu
    for members in cores.values():
        for pu in members:
            assert online[pu]["siblings"] == sorted(members), "CPU %d SMT siblings" % pu


@pytest.mark.parametrize("name", HWLOC_NAMES)
def test_numa_nodes_match_hwloc(name, snapshots):
    pus, _, _ = ground_truth(name)
    expected = {}
    for pu, truth in pus.items():
        if truth["node"] is not None:
            expected.setdefault(truth["node"], set()).add(pu)
    nodes = {node["id"]: set(node["cpus"]) & set(pus) for node in snapshots[name]["numa"]["nodes"]
             if node["online"] is not False and set(node["cpus"]) & set(pus)}
    assert nodes == expected


@pytest.mark.parametrize("name", [n for n in HWLOC_NAMES
                                  if os.path.exists(os.path.join(HWLOC, n + ".xml"))])
def test_nic_numa_nodes_match_hwloc(name, snapshots):
    _, _, nics = ground_truth(name)
    assert nics, "the XML names NICs"
    scanned = {nic["name"]: nic for nic in snapshots[name]["nics"]}
    for nic_name, node in nics.items():
        assert nic_name in scanned, "NIC %s not found by the scan" % nic_name
        nic = scanned[nic_name]
        if node is not None:
            assert nic["numa_node"] == node, "NIC %s NUMA node" % nic_name
        elif nic["numa_node_source"] != "sysfs":
            # hwloc places a NIC by its bus's local_cpus; where those span several nodes it
            # names none, and so must we unless the kernel's numa_node says otherwise.
            assert nic["numa_node"] is None, "NIC %s NUMA node" % nic_name


def test_ground_truth_parsers_read_what_they_claim():
    """The parsers themselves: counts agree with lstopo's own summary lines."""
    for name in HWLOC_NAMES:
        console = os.path.join(HWLOC, name + ".console")
        if not os.path.exists(console):
            continue
        with open(console, encoding="utf-8") as handle:
            text = handle.read()
        pus, _ = _truth_from_console(console)
        counted = re.search(r"depth \d+:\s+(\d+) PU", text)
        assert counted and int(counted.group(1)) == len(pus), name
        packages = re.search(r"depth \d+:\s+(\d+) Package", text)
        assert packages and int(packages.group(1)) == len({p["package"] for p in pus.values()})
