"""The facts gen-config decides from, computed once from a snapshot: which CPUs do housekeeping
and which are isolated, which NIC carries the latency traffic and which the management."""

import re
from typing import Any, Dict, List, Optional, Tuple

from lltune.common.cpulist import cpu_text
from lltune.config import knobs
from lltune.genconfig.yamltext import plural
from lltune.model.queries import cores, cpu_table, dig, nic_node, nics, node_cpus

ONBOARD = re.compile(r"^(?:eno|em)(\d+)")


class HostFacts:
    """The facts gen-config decides from, computed once from the snapshot."""

    def __init__(self, snapshot: Dict[str, Any], preset: str):
        self.snapshot = snapshot
        self.preset = preset
        self.table = cpu_table(snapshot)
        self.online = sorted(c for c, e in self.table.items() if e.get("online"))
        self.by_node = node_cpus(snapshot)
        self.cores = cores(snapshot)
        self.sysctls = dig(snapshot, "kernel", "sysctls") or {}
        self.nics = [n for n in nics(snapshot) if match_for(n) is not None]
        self._partition()
        self._nic_roles()

    # CPUs
    def _core_of(self, cpu: int) -> List[int]:
        for core in self.cores:
            if cpu in core:
                return core
        return [cpu]

    def _describe_core(self, core: List[int]) -> str:
        entry = self.table.get(core[0], {})
        where = []
        if entry.get("core") is not None:
            where.append("core %s" % entry["core"])
        if entry.get("package") is not None:
            where.append("package %s" % entry["package"])
        text = "CPU%s %s" % ("s" if len(core) > 1 else "", cpu_text(core))
        if where:
            text += " (%s%s)" % (" of ".join(where), ", SMT siblings" if len(core) > 1 else "")
        return text

    def _partition(self) -> None:
        self.housekeeping: List[int] = list(self.online)
        self.isolated: List[int] = []
        if not self.online:
            self.partition_why = "the snapshot shows no online CPU: nothing is isolated."
            return
        if len(self.online) < 3:
            self.partition_why = ("only %s online: isolating one would leave the OS too "
                                  "little room, so nothing is isolated and every CPU does "
                                  "housekeeping." % plural(len(self.online), "CPU"))
            return
        chosen = set()
        parts = []
        for node in sorted(self.by_node, key=lambda n: (n is None, n or 0)):
            core = self._core_of(min(self.by_node[node]))
            chosen.update(core)
            parts.append("node %s: %s" % ("?" if node is None else node,
                                          self._describe_core(core)))
        chosen.add(self.online[0])
        self.housekeeping = sorted(chosen)
        self.isolated = [cpu for cpu in self.online if cpu not in chosen]
        self.partition_why = (
            "one whole core with its SMT siblings per NUMA node with CPUs, the core of each "
            "node's lowest CPU, which includes the lowest online CPU (%d): %s." % (
                self.online[0], "; ".join(parts)))
        if not self.isolated:
            self.partition_why += " That takes every CPU, so nothing is isolated."
            self.housekeeping = list(self.online)

    # NICs
    def _nic_rank(self, nic: Dict[str, Any]) -> Tuple[Any, ...]:
        node = nic_node(self.snapshot, nic)
        return (node in self.by_node and node is not None, nic.get("link") == "up",
                nic.get("speed_mbps") or 0, -self.nics.index(nic))

    def _nic_roles(self) -> None:
        self.latency: Optional[Dict[str, Any]] = None
        self.latency_why = ""
        with_clock = [n for n in self.nics if n.get("phc_index") is not None]
        on_cpu_nodes = [n for n in self.nics if nic_node(self.snapshot, n) in self.by_node
                        and nic_node(self.snapshot, n) is not None]
        if with_clock:
            self.latency = max(with_clock, key=self._nic_rank)
            self.latency_why = ("the fastest NIC with a PTP hardware clock (ptp%s)"
                                % self.latency["phc_index"])
        elif on_cpu_nodes:
            self.latency = max(on_cpu_nodes, key=self._nic_rank)
            self.latency_why = ("the fastest NIC on a NUMA node with CPUs (no NIC has a PTP "
                                "hardware clock)")
        self.management: Optional[Dict[str, Any]] = None
        self.management_why = ""
        route_ports = ((self.snapshot.get("network") or {}).get("default_route") or {}).get(
            "physical_ports") or []
        by_name = {n["name"]: n for n in self.nics}
        routed = [by_name[p] for p in route_ports if p in by_name and
                  by_name[p] is not self.latency]
        onboard = sorted((int(ONBOARD.match(n["name"]).group(1)), n["name"], n)
                         for n in self.nics if n is not self.latency and
                         ONBOARD.match(str(n.get("name"))))
        if routed:
            self.management = routed[0]
            self.management_why = "the NIC the default route leaves through"
        elif onboard:
            self.management = onboard[0][2]
            self.management_why = ("the lowest-numbered onboard port (no default route "
                                   "through another NIC)")

    def nic_irq_cpus(self, nic: Dict[str, Any]) -> Tuple[List[int], str]:
        node = nic_node(self.snapshot, nic)
        local = [c for c in self.housekeeping if c in self.by_node.get(node, [])] \
            if node is not None else []
        if local:
            return local, "the housekeeping CPUs of its node %s" % node
        return list(self.housekeeping), "the housekeeping CPUs (its node %s has none)" % (
            "is unknown and" if node is None else node)

    def speed(self, nic: Dict[str, Any]) -> str:
        speed = nic.get("speed_mbps")
        if not speed:
            return "speed unknown"
        return "%g Gb/s" % (speed / 1000.0) if speed >= 1000 else "%d Mb/s" % speed


def match_for(nic: Dict[str, Any]) -> Optional[Dict[str, str]]:
    """How the config names this NIC: by name when the name is safe, else PCI, else MAC."""
    for key, field_name, pattern in (("name", "name", knobs.IFNAME_PATTERN),
                                     ("pci", "pci_address", knobs.PCI_PATTERN),
                                     ("mac", "mac", knobs.MAC_PATTERN)):
        value = nic.get(field_name)
        if isinstance(value, str) and re.search(pattern, value) and "\n" not in value:
            return {key: value}
    return None
