"""Network interfaces: the physical NICs with their PCI locality, queues, IRQs and ethtool
settings; bonds, VLANs and bridges mapped to the physical ports under them.

sysfs answers identity, locality and queues (/sys/class/net/X, the PCI device's numa_node and
local_cpulist, queues/rx-N/rps_cpus); the ethtool ioctls answer the rest (lltune.host.ethtool).
"""

import re
from typing import Any, Dict, List, Optional

from lltune.common.cpulist import MAX_NUMNODES
from lltune.host.collectors import ScanContext, to_int
from lltune.host.collectors.irqs import pci_irq_owners

NET_ROOT = "/sys/class/net"
_PCI_ADDRESS = re.compile(r"^[0-9a-f]{4,}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")


# net/core/dev.c dev_valid_name(): 1 to 15 characters, not "." or "..", no '/', ':' or blank
# (and no control character: the snapshot schema asks the same).
_VALID_NAME = re.compile(r"^(?!\.\.?$)[^/:\s\x00-\x1f\x7f]{1,15}$")


def pci_device_path(device_path: str) -> Optional[str]:
    """The PCI function a netdev hangs under, from its canonical sysfs path."""
    parts = device_path.split("/")
    for index in range(len(parts) - 1, -1, -1):
        if _PCI_ADDRESS.match(parts[index]):
            return "/".join(parts[:index + 1])
    return None


def node_from_local_cpus(local_cpus: Optional[List[int]],
                         nodes: List[Dict[str, Any]]) -> Optional[int]:
    """The one node whose CPUs contain all of `local_cpus`; None if none or several do."""
    if not local_cpus:
        return None
    wanted = set(local_cpus)
    matches = [node["id"] for node in nodes if node["cpus"] and wanted <= set(node["cpus"])]
    return matches[0] if len(matches) == 1 else None


def _ethtool_part(data: Optional[Dict[str, Any]], part: str) -> Optional[Any]:
    if not data:
        return None
    value = data.get(part)
    if not isinstance(value, dict) or "error" in value:
        return None
    return value


def queue_masks(ctx: ScanContext, ifname: str):
    """rx/tx queue counts and the non-empty RPS/XPS CPU sets per queue."""
    base = "%s/%s/queues" % (NET_ROOT, ifname)
    names = ctx.reader.listdir(base, [])
    rx = sorted((n for n in names if n.startswith("rx-")), key=lambda n: to_int(n[3:]) or 0)
    tx = sorted((n for n in names if n.startswith("tx-")), key=lambda n: to_int(n[3:]) or 0)
    rps = {}
    for queue in rx:
        cpus = ctx.mask("%s/%s/rps_cpus" % (base, queue))
        if cpus:
            rps[queue] = cpus
    xps = {}
    for queue in tx:
        cpus = ctx.mask("%s/%s/xps_cpus" % (base, queue))
        if cpus:
            xps[queue] = cpus
    return {"rx": len(rx), "tx": len(tx)}, rps, xps


def physical_nic(ctx: ScanContext, ifname: str, device_path: str,
                 nodes: List[Dict[str, Any]]) -> Dict[str, Any]:
    from lltune.host import ethtool

    base = "%s/%s" % (NET_ROOT, ifname)
    pci_path = pci_device_path(device_path)
    pci_address = pci_path.rsplit("/", 1)[1] if pci_path else None
    driver_path = ctx.reader.realpath(base + "/device/driver")
    numa_node = ctx.int(pci_path + "/numa_node") if pci_path else None
    local_cpus = (ctx.cpus(pci_path + "/local_cpulist") or ctx.mask(pci_path + "/local_cpus")
                  if pci_path else None)
    if numa_node is not None and numa_node >= MAX_NUMNODES:
        numa_node = None  # no kernel has that many nodes: a damaged or hostile tree
    source = "sysfs" if numa_node is not None and numa_node >= 0 else None
    if source is None:
        # numa_node is -1 when the firmware gives no proximity (no ACPI _PXM); the bus's
        # local_cpulist can still tell, as hwloc uses it.
        numa_node = node_from_local_cpus(local_cpus, nodes)
        source = "local_cpus" if numa_node is not None else None
    queues, rps, xps = queue_masks(ctx, ifname)
    data = ctx.probe("nics", "ethtool:%s" % ifname, lambda: ethtool.read_all(ifname))
    drvinfo = _ethtool_part(data, "driver_info") or {}
    link = _ethtool_part(data, "link") or {}
    timestamping = _ethtool_part(data, "timestamping")
    speed = ctx.int(base + "/speed")
    owners = pci_irq_owners(ctx)
    return {
        "name": ifname,
        "mac": ctx.text(base + "/address"),
        "driver": driver_path.rsplit("/", 1)[1] if driver_path else drvinfo.get("driver"),
        "driver_version": drvinfo.get("version"),
        "firmware": drvinfo.get("firmware_version"),
        "pci_address": pci_address,
        "vendor_id": ctx.text(pci_path + "/vendor") if pci_path else None,
        "device_id": ctx.text(pci_path + "/device") if pci_path else None,
        "numa_node": numa_node,
        "numa_node_source": source,
        "local_cpus": local_cpus,
        "speed_mbps": speed if speed is not None and speed > 0 else link.get("speed"),
        "duplex": ctx.text(base + "/duplex") or link.get("duplex"),
        "link": ctx.text(base + "/operstate"),
        "carrier": ctx.int(base + "/carrier"),
        "mtu": ctx.int(base + "/mtu"),
        "tx_queue_len": ctx.int(base + "/tx_queue_len"),
        "queues": queues,
        "channels": _ethtool_part(data, "channels"),
        "rings": _ethtool_part(data, "rings"),
        "coalesce": _ethtool_part(data, "coalesce"),
        "features": _ethtool_part(data, "features"),
        "private_flags": _ethtool_part(data, "private_flags"),
        "pause": _ethtool_part(data, "pause"),
        "timestamping": timestamping,
        "phc_index": timestamping.get("phc_index") if timestamping else None,
        "rps": rps,
        "xps": xps,
        "irqs": sorted(irq for irq, owner in owners.items() if owner == pci_address),
    }


def vlan_table(ctx: ScanContext) -> Dict[str, Dict[str, Any]]:
    """/proc/net/vlan/config: "eth0.100 | 100 | eth0" rows after two header lines."""
    table = {}
    for line in (ctx.reader.read("/proc/net/vlan/config", None) or "").splitlines()[2:]:
        fields = [field.strip() for field in line.split("|")]
        if len(fields) == 3:
            table[fields[0]] = {"id": to_int(fields[1]), "parent": fields[2]}
    return table


def virtual_interface(ctx: ScanContext, ifname: str,
                      vlans: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    base = "%s/%s" % (NET_ROOT, ifname)
    entries = ctx.reader.listdir(base, [])
    uevent = dict(line.split("=", 1) for line in (ctx.reader.read(base + "/uevent", "")
                                                   .splitlines()) if "=" in line)
    lower = [entry[len("lower_"):] for entry in entries if entry.startswith("lower_")]
    entry: Dict[str, Any] = {"name": ifname, "kind": uevent.get("DEVTYPE"), "lower": lower}
    if "bonding" in entries:
        slaves = ctx.text(base + "/bonding/slaves")
        mode = ctx.text(base + "/bonding/mode")
        entry.update(kind="bond", lower=slaves.split() if slaves else lower,
                     mode=mode.split()[0] if mode else None,
                     active_slave=ctx.text(base + "/bonding/active_slave"))
    elif "bridge" in entries:
        entry.update(kind="bridge", lower=ctx.reader.listdir(base + "/brif", lower))
    elif ifname in vlans:
        entry.update(kind="vlan", vlan_id=vlans[ifname]["id"], lower=[vlans[ifname]["parent"]])
    elif entry["kind"] is None and ifname == "lo":
        entry["kind"] = "loopback"
    return entry


def physical_ports(name: str, virtual: Dict[str, Dict[str, Any]], physical: set,
                   seen: Optional[set] = None) -> List[str]:
    """The physical NICs under a stacked interface (a VLAN on a bond on two ports -> both)."""
    seen = seen or set()
    if name in physical:
        return [name]
    if name in seen or name not in virtual:
        return []
    seen.add(name)
    ports: List[str] = []
    for lower in virtual[name]["lower"]:
        ports.extend(p for p in physical_ports(lower, virtual, physical, seen) if p not in ports)
    return ports


def default_route_interfaces(ctx: ScanContext) -> List[str]:
    """Interfaces of the IPv4 and IPv6 default routes, lowest metric first."""
    routes = []
    for line in (ctx.reader.read("/proc/net/route", None) or "").splitlines()[1:]:
        fields = line.split()
        # Iface Destination Gateway Flags RefCnt Use Metric Mask ...; RTF_UP = 0x1
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000" and \
                (to_int("0x" + fields[3]) or 0) & 1:
            routes.append((to_int(fields[6]) or 0, fields[0]))
    for line in (ctx.reader.read("/proc/net/ipv6_route", None) or "").splitlines():
        fields = line.split()
        # dest plen src plen next-hop metric refcnt use flags iface (all hex)
        if len(fields) == 10 and fields[0] == "0" * 32 and fields[1] == "00" and \
                fields[9] != "lo":
            routes.append((to_int("0x" + fields[5]) or 0, fields[9]))
    ordered: List[str] = []
    for _, name in sorted(routes):
        if name not in ordered:
            ordered.append(name)
    return ordered


def collect(ctx: ScanContext) -> Dict[str, Any]:
    nodes = ctx.sections.get("numa", {}).get("nodes", [])
    names = ctx.reader.listdir(NET_ROOT, None)
    if names is None:
        ctx.note("nics", NET_ROOT, ctx.why(NET_ROOT))
        names = []
    nics = []
    virtual: Dict[str, Dict[str, Any]] = {}
    vlans = vlan_table(ctx)
    for ifname in names:
        if not _VALID_NAME.match(ifname):
            # The kernel never names an interface so (dev_valid_name): a hostile tree.
            ctx.note("nics", "%s/%r" % (NET_ROOT, ifname[:40]), "not an interface name the "
                     "kernel allows; ignored")
            continue
        path = ctx.reader.realpath("%s/%s" % (NET_ROOT, ifname))
        if path is None or not path.startswith("/sys/devices/"):
            continue  # not a netdev: bonding_masters is a plain file the bonding driver adds
        device_path = ctx.reader.realpath("%s/%s/device" % (NET_ROOT, ifname))
        if path.startswith("/sys/devices/virtual/") or device_path is None:
            virtual[ifname] = virtual_interface(ctx, ifname, vlans)
        else:
            nics.append(physical_nic(ctx, ifname, path, nodes))
    physical = {nic["name"] for nic in nics}
    for entry in virtual.values():
        entry["physical_ports"] = physical_ports(entry["name"], virtual, physical)
    route = default_route_interfaces(ctx)
    route_ports: List[str] = []
    for name in route:
        for port in physical_ports(name, virtual, physical):
            if port not in route_ports:
                route_ports.append(port)
    return {
        "nics": nics,
        "network": {
            "default_route": {"interfaces": route, "physical_ports": route_ports},
            "bonds": [v for v in virtual.values() if v["kind"] == "bond"],
            "vlans": [v for v in virtual.values() if v["kind"] == "vlan"],
            "other_virtual": [v for v in virtual.values() if v["kind"] not in ("bond", "vlan")],
        },
    }
