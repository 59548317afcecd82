"""The network.interfaces section gen-config writes: the host's NICs in a comment, then the
latency NIC and the management NIC, each with its IRQ pins and (latency) its queues and
coalescing, every field with its reason."""

from typing import Any, Dict, List

from lltune.common.cpulist import cpu_text, format_cpulist
from lltune.config import knobs
from lltune.genconfig.facts import HostFacts, match_for
from lltune.genconfig.yamltext import WIDTH, Item, clean, inline, on_off, plural, wrap
from lltune.model.drivers import coalesce_caveat, coalesce_off
from lltune.model.queries import dig, nic_node


def _nic_summary(host: HostFacts, nic: Dict[str, Any]) -> str:
    node = nic_node(host.snapshot, nic)
    role = ""
    if nic is host.latency:
        role = "  <- latency"
    elif nic is host.management:
        role = "  <- management"
    return "%s: %s, %s, link %s, node %s, %s%s" % (
        clean(nic.get("name")), clean(nic.get("driver") or "driver unknown"),
        host.speed(nic), clean(nic.get("link") or "?"), "?" if node is None else node,
        "ptp%s" % nic["phc_index"] if nic.get("phc_index") is not None else "no PTP clock",
        role)


def _field(lines: List[str], first: bool, key: str, value: Any, why: str) -> None:
    indent = "    "
    for line in wrap(why, WIDTH - 10):
        lines.append(indent + "# " + line)
    lines.append(("  - " if first else indent) + "%s: %s" % (key, inline(value)))


def _interface(host: HostFacts, nic: Dict[str, Any], role: str, why: str) -> List[str]:
    lines: List[str] = []
    match = match_for(nic)
    identity = ", ".join("%s %s" % (k, clean(nic.get(f))) for k, f in
                         (("mac", "mac"), ("pci", "pci_address")) if nic.get(f))
    head = "%s: %s. Matched by %s; it could also be matched by %s." % (
        nic.get("name"), why, list(match)[0], identity or "nothing else")
    for line in wrap(head, WIDTH - 8):
        lines.append("  # " + line)
    lines.append("  - match: %s" % inline(match))
    _field(lines, False, "role", role, "")
    pins, pins_why = host.nic_irq_cpus(nic)
    irqs = nic.get("irqs") or []
    names = [row.get("name") for row in dig(host.snapshot, "irqs", "irqs") or []
             if isinstance(row, dict) and row.get("irq") in irqs and row.get("name")]
    named = " (%s ...)" % ", ".join(clean(n) for n in names[:2]) if names else ""
    if role == "latency":
        pin_why = ("Pins its %s%s to %s, CPUs %s. Kernel-bypass stacks (Onload, VMA, DPDK) "
                   "poll from the isolated cores and want no interrupt there. For a "
                   "kernel-stack application, pin one isolated core per queue instead "
                   "(irq_cpus: isolated CPUs of this node) and set channels to match." % (
                       plural(len(irqs), "IRQ") if irqs else "IRQs", named, pins_why,
                       cpu_text(pins)))
    else:
        pin_why = "Pins its %s%s to %s, CPUs %s, away from the isolated cores." % (
            plural(len(irqs), "IRQ") if irqs else "IRQs", named, pins_why, cpu_text(pins))
    if pins:
        _field(lines, False, "irq_cpus", format_cpulist(pins), pin_why)
    if role != "latency":
        return lines
    channels = nic.get("channels") if isinstance(nic.get("channels"), dict) else None
    maximum = (channels or {}).get("max") or {}
    maximum = {k: v for k, v in maximum.items() if isinstance(v, int) and
               not isinstance(v, bool)} if isinstance(maximum, dict) else {}
    if maximum.get("combined"):
        count = max(1, min(maximum["combined"], len(pins)))
        _field(lines, False, "channels", {"combined": count}, "%d combined channel%s: one "
               "per IRQ CPU (max %d, now %s)." % (count, "" if count == 1 else "s",
                                                 maximum["combined"],
                                                 clean(dig(channels, "current",
                                                             "combined"))))
    elif maximum.get("rx") and maximum.get("tx"):
        count = max(1, min(maximum["rx"], maximum["tx"], len(pins)))
        _field(lines, False, "channels", {"rx": count, "tx": count}, "%d rx and tx channels: "
               "one per IRQ CPU (max rx %d, tx %d)." % (count, maximum["rx"], maximum["tx"]))
    lines += _coalesce_lines(host, nic)
    return lines


def _coalesce_lines(host: HostFacts, nic: Dict[str, Any]) -> List[str]:
    coalesce = nic.get("coalesce") if isinstance(nic.get("coalesce"), dict) else None
    if not coalesce or host.preset == "balanced":
        return []
    lines: List[str] = []
    off = coalesce_off(nic.get("driver"))
    wanted = {k: v for k, v in (off or {}).items() if k in coalesce}
    if not wanted:
        for line in wrap("coalesce: left out: %s. To turn coalescing off, try `ethtool -C "
                         "%s rx-usecs 0` and add coalesce: here only if `ethtool -c` reads "
                         "back what you set." % (coalesce_caveat(nic.get("driver")),
                                                 clean(nic.get("name"))), WIDTH - 10):
            lines.append("    # " + line)
        return lines
    _field(lines, False, "coalesce", wanted, "Interrupt coalescing off: an interrupt per "
           "packet instead of waiting up to rx-usecs (now %s, adaptive-rx %s); %s keeps "
           "these as written." % (coalesce.get("rx-usecs"), on_off(coalesce.get("adaptive-rx")),
                                  clean(nic.get("driver"))))
    return lines


def interfaces_item(host: HostFacts) -> Item:
    knob = knobs.KNOBS_BY_PATH["network.interfaces"]
    comments = wrap(knob.why)
    if not host.nics:
        comments += wrap("The snapshot shows no physical NIC: none to manage.")
        return Item("interfaces", [], comments)
    comments.append("NICs on this host:")
    comments += ["  " + _nic_summary(host, nic) for nic in host.nics[:24]]
    if len(host.nics) > 24:
        comments.append("  ... and %d more" % (len(host.nics) - 24))
    comments += wrap("NICs not listed below are left alone (tuned's [scheduler] still moves "
                      "their IRQs off the isolated CPUs).")
    block: List[str] = []
    if host.latency is not None:
        block += _interface(host, host.latency, "latency", "the latency NIC: " +
                            host.latency_why)
    if host.management is not None:
        block += _interface(host, host.management, "management", "the management NIC: " +
                            host.management_why)
    if not block:
        comments += wrap("No NIC sits on a NUMA node with CPUs: none chosen.")
        return Item("interfaces", [], comments)
    return Item("interfaces", None, comments, block)
