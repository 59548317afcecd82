"""IRQ and NIC checks: irqbalance against IRQ pins, where each NIC's IRQs land, and every ethtool
setting against what the NIC reports (limits, coalescing parameters, offloads)."""

from typing import Any, Dict, List, Optional

from lltune.audit.context import AuditContext, KeyPath, cpus_in
from lltune.common.cpulist import cpu_text
from lltune.model.queries import (
    dig,
    ethtool_known,
    find_nic,
    irq_cpus_now,
    irq_label,
    nic_node,
    nics,
    node_cpus,
)

# ethtool -K short names (ethtool's off_flag_def) -> the kernel feature names a snapshot holds.
OFFLOAD_ALIASES = {
    "rx": ("rx-checksum",), "tx": ("tx-checksum-",), "sg": ("tx-scatter-gather",),
    "tso": ("tx-tcp-segmentation",), "gso": ("tx-generic-segmentation",), "gro": ("rx-gro",),
    "lro": ("rx-lro",), "rxvlan": ("rx-vlan-hw-parse",), "txvlan": ("tx-vlan-hw-insert",),
    "ntuple": ("rx-ntuple-filter",), "rxhash": ("rx-hashing",),
    "ufo": ("tx-udp-fragmentation",),
}
RING_KEYS = {"rx": "rx", "tx": "tx", "rx-mini": "rx_mini", "rx-jumbo": "rx_jumbo"}


def check_irq(a: AuditContext) -> None:
    policy = a.value("irq.irqbalance")
    unit = dig(a.snapshot, "services", "units", "irqbalance.service") or {}
    if policy in ("ban", "stop") and unit.get("load") == "not-found":
        a.add("irq.irqbalance-absent", ("irq", "irqbalance"), "irqbalance is not installed, "
              "so irqbalance: %s changes nothing" % policy,
              ["irqbalance.service: not found"])
    pinned = [index for index, entry in enumerate(a.value("network.interfaces") or [])
              if isinstance(entry, dict) and entry.get("irq_cpus")]
    if pinned and policy in ("ban", "keep") and unit.get("load") != "not-found":
        a.add("irq.irqbalance-moves-pins", ("irq", "irqbalance"), "network.interfaces[%d] "
              "pins its IRQs (irq_cpus) but irqbalance keeps running and moves them again "
              "(it honours banned CPUs, not pins): set irq.irqbalance: stop" % pinned[0],
              ["irqbalance.service: %s" % (unit.get("active") or "state unknown")])
    default = set(cpus_in(a.value("irq.default_affinity")))
    if default & set(a.isolated):
        a.add("irq.default-affinity-isolated", ("irq", "default_affinity"), "new IRQs would "
              "start on isolated CPUs %s" % cpu_text(default & set(a.isolated)))


def _ethtool_part(a: AuditContext, nic: Dict[str, Any], part: str, path: KeyPath,
                  what: str) -> Optional[Dict[str, Any]]:
    """The NIC's ethtool answer for `part`, or None after reporting why it is missing."""
    data = nic.get(part)
    if isinstance(data, dict):
        return data
    if ethtool_known(a.snapshot, nic):
        a.add("network.ethtool-unsupported", path, "%s: the %s driver does not report %s "
              "(ethtool), so lltune cannot set it" % (nic.get("name"), nic.get("driver") or
                                                      "NIC's", what))
    else:
        a.add("network.ethtool-unknown", path, "%s: the snapshot has no ethtool answers, so "
              "%s cannot be checked" % (nic.get("name"), what),
              ["snapshot missing: ethtool:%s" % nic.get("name")])
    return None


def _check_limits(a: AuditContext, nic: Dict[str, Any], entry: Dict[str, Any], base: KeyPath,
                  option: str, part: str, keys: Dict[str, str], code: str) -> None:
    wanted = entry.get(option)
    if not isinstance(wanted, dict) or not wanted:
        return
    data = _ethtool_part(a, nic, part, base + (option,), option)
    if data is None:
        return
    maximum = data.get("max") or {}
    for key, count in sorted(wanted.items()):
        top = maximum.get(keys.get(key, key))
        if isinstance(top, int) and isinstance(count, int) and count > top:
            a.add(code, base + (option, key), "%s %s %d is above the NIC's maximum %d" % (
                option, key, count, top), ["ethtool %s %s: %s" % (
                    "-l" if option == "channels" else "-g", nic.get("name"),
                    ", ".join("%s %s" % item for item in sorted(maximum.items())))])


def _check_channel_counts(a: AuditContext, nic: Dict[str, Any], entry: Dict[str, Any],
                          base: KeyPath) -> None:
    """A zero in channels must leave an rx and a tx queue: the kernel refuses a set with
    neither combined nor rx channels, or neither combined nor tx (ethtool_set_channels in
    net/ethtool/ioctl.c, ethnl_set_channels in net/ethtool/channels.c). Keys the config leaves
    out keep the NIC's current count (ethtool -L changes only what it is given); an unknown
    count is taken as 0. rx 0 beside combined channels, or combined 0 beside rx and tx
    (bnxt's switch to separate queues), is fine."""
    wanted = entry.get("channels")
    if not isinstance(wanted, dict):
        return
    zeros = [key for key in ("combined", "rx", "tx") if _count(wanted.get(key)) == 0]
    if not zeros:
        return
    current = dig(nic, "channels", "current")
    current = current if isinstance(current, dict) else {}
    counts = {key: _count(wanted[key] if key in wanted else current.get(key)) or 0
              for key in ("combined", "rx", "tx")}
    lacking = [key for key in ("rx", "tx") if not counts["combined"] and not counts[key]]
    if lacking:
        a.add("network.channels-zero", base + ("channels", zeros[0]),
              "%s would have no %s queue: channels combined %d, rx %d, tx %d (the kernel "
              "refuses ethtool -L without an rx and a tx channel)" % (
                  nic.get("name"), " and no ".join(lacking), counts["combined"], counts["rx"],
                  counts["tx"]),
              ["ethtool -l %s: now %s" % (nic.get("name"), ", ".join(
                  "%s %s" % item for item in sorted(current.items())) or "unknown")])


def _count(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _feature_names(name: str, features: Dict[str, Any]) -> List[str]:
    if name in features:
        return [name]
    return [f for prefix in OFFLOAD_ALIASES.get(name, ()) for f in features
            if f == prefix or (prefix.endswith("-") and f.startswith(prefix))]


def _check_nic_settings(a: AuditContext, nic: Dict[str, Any], entry: Dict[str, Any],
                        base: KeyPath) -> None:
    _check_limits(a, nic, entry, base, "channels", "channels", {}, "network.channels-exceed-max")
    _check_channel_counts(a, nic, entry, base)
    _check_limits(a, nic, entry, base, "rings", "rings", RING_KEYS, "network.rings-exceed-max")
    coalesce = entry.get("coalesce")
    if isinstance(coalesce, dict) and coalesce:
        data = _ethtool_part(a, nic, "coalesce", base + ("coalesce",), "coalescing")
        for key, setting in sorted(coalesce.items()):
            if data is not None and key not in data:
                a.add("network.coalesce-unsupported", base + ("coalesce", key), "%s has no "
                      "coalescing parameter %r" % (nic.get("name"), key),
                      ["ethtool -c %s: %s" % (nic.get("name"), ", ".join(sorted(data)))])
            adaptive = key.startswith("adaptive-")
            if adaptive != isinstance(setting, bool):
                a.add("network.coalesce-type", base + ("coalesce", key), "%s takes %s, not %r"
                      % (key, "true or false" if adaptive else "an integer", setting))
    offloads = entry.get("offloads")
    if isinstance(offloads, dict) and offloads:
        features = _ethtool_part(a, nic, "features", base + ("offloads",), "offloads")
        for name, setting in sorted(offloads.items()):
            if features is None:
                break
            names = _feature_names(name, features)
            if not names:
                a.add("network.offload-unknown", base + ("offloads", name), "%s has no "
                      "offload %r" % (nic.get("name"), name),
                      ["ethtool -k %s lists %d features" % (nic.get("name"), len(features))])
                continue
            fixed = [f for f in names if isinstance(features[f], dict) and
                     features[f].get("fixed") and features[f].get("active") != setting]
            if fixed:
                a.add("network.offload-fixed", base + ("offloads", name), "%s: %s is fixed "
                      "by the driver at %s" % (nic.get("name"), ", ".join(fixed),
                                               "on" if not setting else "off"),
                      ["ethtool -k %s: %s [fixed]" % (nic.get("name"), fixed[0])])
    pause = entry.get("pause")
    if isinstance(pause, dict) and pause:
        _ethtool_part(a, nic, "pause", base + ("pause",), "pause frames")


def check_network(a: AuditContext) -> None:
    iso = set(a.isolated)
    house = set(a.housekeeping)
    by_node = node_cpus(a.snapshot)
    present = nics(a.snapshot)
    names = ", ".join("%s (%s, %s)" % (n.get("name"), n.get("mac"), n.get("pci_address"))
                      for n in present) or "none"
    matched: Dict[str, int] = {}
    for index, entry in a.interfaces():
        base: KeyPath = ("network", "interfaces", index)
        match = entry.get("match")
        nic = find_nic(a.snapshot, match) if isinstance(match, dict) else None
        if nic is None:
            a.add("network.unknown-nic", base + ("match",), "no NIC on this host matches %s" %
                  ", ".join("%s %s" % item for item in sorted((match or {}).items())),
                  ["NICs: %s" % names])
            continue
        name = nic.get("name")
        if name in matched:
            a.add("network.duplicate-nic", base + ("match",), "%s is already configured by "
                  "network.interfaces[%d]" % (name, matched[name]))
            continue
        matched[name] = index
        node = nic_node(a.snapshot, nic)
        if node is not None and not house & set(by_node.get(node, [])):
            a.add("network.nic-node-no-housekeeping", base + ("match",), "%s sits on NUMA "
                  "node %d, which has no housekeeping CPU: its IRQs and kernel work cross "
                  "the interconnect" % (name, node),
                  ["node %d CPUs: %s" % (node, cpu_text(by_node.get(node, [])))])
        pins = cpus_in(entry.get("irq_cpus"))
        if not pins:
            landing = {irq: sorted(set(cpus) & iso)
                       for irq, cpus in irq_cpus_now(a.snapshot, nic).items()
                       if set(cpus) & iso}
            if landing:
                shown = sorted(landing)[:4]
                a.add("network.nic-irqs-on-isolated", base, "%s of %s %s delivered to "
                      "isolated CPUs; pin them with irq_cpus" % (
                          "1 IRQ" if len(landing) == 1 else "%d IRQs" % len(landing), name,
                          "is" if len(landing) == 1 else "are"),
                      ["IRQ %s -> CPU %s (effective_affinity_list)" % (
                          irq_label(a.snapshot, irq), cpu_text(landing[irq])) for irq in shown])
        else:
            remote = [cpu for cpu in pins if node is not None and
                      a.cpus.get(cpu, {}).get("node") not in (None, node)]
            if remote:
                a.add("network.irq-cpus-remote", base + ("irq_cpus",), "CPUs %s are not on "
                      "%s's NUMA node %d" % (cpu_text(remote), name, node))
            if set(pins) & iso:
                a.add("network.irq-cpus-isolated", base + ("irq_cpus",), "%s's IRQs are "
                      "pinned onto isolated CPUs %s (fine for a kernel-stack application "
                      "that polls its own queue)" % (name, cpu_text(set(pins) & iso)))
        for key in ("rps_cpus", "xps_cpus"):
            inside = set(cpus_in(entry.get(key))) & iso
            if inside:
                a.add("network.rps-on-isolated", base + (key,), "%s sends packet processing "
                      "to isolated CPUs %s" % (key[:3].upper(), cpu_text(inside)))
        _check_nic_settings(a, nic, entry, base)
    unlisted = []
    for nic in present:
        if nic.get("name") in matched:
            continue
        if any(set(cpus) & iso for cpus in irq_cpus_now(a.snapshot, nic).values()):
            unlisted.append(nic.get("name"))
    if unlisted:
        a.add("network.unlisted-nic-irqs-on-isolated", ("cpu", "isolated"), "IRQs of %s the "
              "config does not name are delivered to isolated CPUs now; tuned's [scheduler] "
              "isolated_cores moves them when the profile applies" % (
                  "1 NIC" if len(unlisted) == 1 else "%d NICs" % len(unlisted)),
              ["NICs: %s" % ", ".join(str(n) for n in unlisted[:8])])
