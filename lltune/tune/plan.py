"""The plan: for every knob the config manages, its current value on the host, the desired
value, how it is applied and whether it needs a reboot.

The same function compares a fresh snapshot with the config for `lltune verify`: a change
that is still pending after apply is drift.
"""

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

from lltune.common.cpulist import format_cpulist
from lltune.config.knobs import KNOBS, cpus_of
from lltune.config.loader import Config
from lltune.config.resolve import (
    boot_options,
    cmdline_tokens,
    housekeeping,
    isolated,
    site_sysctl_conflicts,
)
from lltune.host.ethtool import LEGACY_FEATURES
from lltune.model.cmdline import kernel_tokens, token_key
from lltune.model.queries import dig, find_nic, irq_rows, queue_irqs

UNKNOWN = "unknown"
ABSENT = "(absent)"


@dataclass
class Change:
    knob: str
    current: Any
    desired: Any
    mechanism: str
    reboot: bool = False

    @property
    def status(self) -> str:
        """"ok" (already so), "change", or "unknown" (the host cannot tell us)."""
        if self.current is None or self.current == UNKNOWN:
            return "unknown"
        return "ok" if _same(self.current, self.desired) else "change"

    def as_dict(self) -> Dict[str, Any]:
        return dict(asdict(self), status=self.status)


def _same(current: Any, desired: Any) -> bool:
    if isinstance(desired, bool) or isinstance(current, bool):
        return bool(current) == bool(desired) and type(current) is type(desired)
    return str(current) == str(desired)


# Knobs planned by their own functions below (sets, lists, per-NIC and per-node values).
_PLANNED_ELSEWHERE = {"cpu.isolated", "cpu.housekeeping", "network.interfaces",
                      "memory.hugepages", "services.stop", "services.disable", "limits",
                      "sysctl", "time.ptp"}


def _scalar(config: Config, snapshot: Dict[str, Any]) -> List[Change]:
    changes = []
    for knob in KNOBS:
        # Command-line knobs are planned token by token (_cmdline); knobs the snapshot
        # cannot read (force_latency, cstate disables) are left to tuned's own verify.
        if knob.path in _PLANNED_ELSEWHERE or knob.how().startswith("[bootloader]") or \
                knob.read is None:
            continue
        desired = config.value(knob.path)
        if desired is None:
            continue
        current = knob.read(snapshot) if knob.read else None
        changes.append(Change(knob.path, current, desired, knob.how(), knob.reboot))
    return changes


def _site_sysctls(config: Config, snapshot: Dict[str, Any],
                  changes: List[Change]) -> List[Change]:
    """Sysctls a site file tuned re-applies would win: the hook sets them after tuned. A row
    of the config's own says so in its mechanism; an included profile's gets a row."""
    live = dig(snapshot, "kernel", "sysctls") or {}
    rows = {change.knob: change for change in changes}
    extra = []
    for conflict in site_sysctl_conflicts(config, snapshot):
        how = " + lltune hook, after tuned re-applies %s" % conflict.where
        row = rows.get(conflict.knob) or rows.get("sysctl." + conflict.name)
        if row is not None:
            row.mechanism += how
        else:
            extra.append(Change("sysctl." + conflict.name, live.get(conflict.name),
                                conflict.wanted, "[sysctl] (an included profile)" + how))
    return extra


def _cpu_sets(config: Config, snapshot: Dict[str, Any]) -> List[Change]:
    iso = isolated(config)
    if not iso:
        return []
    current = dig(snapshot, "cpu", "isolated", "sysfs")
    workqueue = dig(snapshot, "kthreads", "workqueue_cpumask")
    house = housekeeping(config, snapshot)
    return [
        Change("cpu.isolated", None if current is None else format_cpulist(current),
               format_cpulist(iso), "[bootloader] isolcpus (kernel isolation)", True),
        Change("kthreads.workqueue_cpumask", None if workqueue is None else
               format_cpulist(workqueue), format_cpulist(house), "[sysfs] workqueue cpumask"),
    ]


def _cmdline(config: Config, snapshot: Dict[str, Any]) -> List[Change]:
    booted = kernel_tokens(dig(snapshot, "kernel", "cmdline") or [])
    by_key: Dict[str, List[str]] = {}
    for token in booted:
        by_key.setdefault(token_key(token), []).append(token)
    changes = []
    for token in cmdline_tokens(config, snapshot):
        key = token_key(token)
        present = by_key.get(key)
        current = present[-1] if present else ABSENT
        changes.append(Change("kernel.cmdline." + key, current if booted else None, token,
                              "[bootloader] cmdline_lltune", True))
    for token in boot_options(config, snapshot).remove:
        changes.append(Change("kernel.cmdline.remove." + token, (
            token if token in booted else ABSENT) if booted else None, ABSENT,
            "[bootloader] cmdline_lltune_remove (from an included profile)", True))
    return changes


def _feature_state(nic: Dict[str, Any], name: str) -> Optional[bool]:
    features = nic.get("features") or {}
    names = LEGACY_FEATURES.get(name, (name,))
    present = [features[n]["active"] for n in names if n in features]
    return any(present) if present else None


def _nic_current(nic: Dict[str, Any], group: str, key: str) -> Any:
    """A NIC setting's current value from the snapshot (ethtool's answers)."""
    if group in ("rings", "channels"):
        # The snapshot keeps ethtool's struct names (rx_mini); the config, ethtool's (rx-mini).
        return ((nic.get(group) or {}).get("current") or {}).get(key.replace("-", "_"))
    return (nic.get(group) or {}).get(key)


def _nic_changes(config: Config, snapshot: Dict[str, Any]) -> List[Change]:
    changes = []
    irqs = irq_rows(snapshot)
    for interface in config.value("network.interfaces") or []:
        nic = find_nic(snapshot, interface["match"])
        if nic is None:
            continue
        name = nic["name"]
        prefix = "network.%s." % name
        for feature, wanted in sorted((interface.get("offloads") or {}).items()):
            changes.append(Change(prefix + "offloads." + feature, _feature_state(nic, feature),
                                  wanted, "[net] features"))
        for group in ("coalesce", "rings", "channels", "pause"):
            for key, wanted in sorted((interface.get(group) or {}).items()):
                changes.append(Change(prefix + group + "." + key, _nic_current(nic, group, key),
                                      wanted, "[net] " + {"rings": "ring"}.get(group, group)))
        for option, field in (("rps_cpus", "rps"), ("xps_cpus", "xps")):
            if interface.get(option) is not None:
                masks = nic.get(field) or {}
                current = {format_cpulist(cpus) for cpus in masks.values()}
                queues = nic["queues"]["rx" if field == "rps" else "tx"]
                if len(masks) < queues:
                    current.add("")
                changes.append(Change(prefix + option, current.pop() if len(current) == 1
                                      else "mixed", format_cpulist(cpus_of(
                                          interface[option])), "[sysfs] queues/*/" + option))
        if interface.get("irq_cpus"):
            wanted = set(cpus_of(interface["irq_cpus"]))
            used = set()
            for irq in queue_irqs(snapshot, nic):  # the NIC's other IRQs are not pinned
                used.update(irqs.get(irq, {}).get("smp_affinity_list") or [])
            current = format_cpulist(sorted(used)) if used else None
            changes.append(Change(prefix + "irq_cpus", current, format_cpulist(sorted(wanted)),
                                  "lltune hook (IRQ affinity per queue)"))
    return changes


def _hugepages(config: Config, snapshot: Dict[str, Any]) -> List[Change]:
    changes = []
    nodes = {node["id"]: node for node in (snapshot.get("numa") or {}).get("nodes") or []}
    memory = snapshot.get("memory") or {}
    for pool in config.value("memory.hugepages") or []:
        size = {"2M": "2048kB", "1G": "1048576kB"}[pool["size"]]
        if pool.get("per_node"):
            for node, count in sorted(pool["per_node"].items(), key=lambda i: int(i[0])):
                have = ((nodes.get(int(node)) or {}).get("hugepages") or {}).get(size) or {}
                changes.append(Change("memory.hugepages.%s.node%s" % (pool["size"], node),
                                      have.get("total"), count, "[sysfs] nr_hugepages",
                                      bool(pool.get("at_boot"))))
        else:
            have = (memory.get("hugepages") or {}).get(size) or {}
            changes.append(Change("memory.hugepages.%s" % pool["size"], have.get("total"),
                                  pool["count"], "[sysfs] nr_hugepages" if not pool.get(
                                      "at_boot") else "[bootloader] hugepages",
                                  bool(pool.get("at_boot"))))
    return changes


def _others(config: Config, snapshot: Dict[str, Any]) -> List[Change]:
    changes = []
    units = (snapshot.get("services") or {}).get("units") or {}
    for unit in config.value("services.stop") or []:
        state = (units.get(unit) or {}).get("active")
        changes.append(Change("services.%s.active" % unit, state, "inactive",
                              "[service] stop"))
    for unit in config.value("services.disable") or []:
        state = (units.get(unit) or {}).get("file_state")
        changes.append(Change("services.%s.enabled" % unit, state, "disabled",
                              "[service] disable"))
    sysctls = (snapshot.get("kernel") or {}).get("sysctls") or {}
    for name, value in sorted((config.value("sysctl") or {}).items()):
        changes.append(Change("sysctl." + name, sysctls.get(name), str(value), "[sysctl]"))
    entries = (snapshot.get("limits") or {}).get("entries") or []
    for limit in config.value("limits") or []:
        for item in ("memlock", "rtprio", "nofile"):
            if item not in limit:
                continue
            found = [e["value"] for e in entries if e["domain"] == limit["domain"]
                     and e["item"] == item]
            changes.append(Change("limits.%s.%s" % (limit["domain"], item),
                                  found[-1] if found else "(none)", str(limit[item]),
                                  "lltune hook (limits.d)"))
            for unit in limit.get("units") or []:
                # The snapshot holds no unit's limits: tuned's verify (the hook's) checks
                # the drop-in.
                changes.append(Change("limits.%s.%s" % (unit, item), None,
                                      str(limit[item]), "lltune hook (drop-in; from the "
                                      "unit's next start)"))
    ptp = config.value("time.ptp")
    if ptp:
        daemons = (snapshot.get("time") or {}).get("daemons") or {}
        changes.append(Change("time.ptp.ptp4l", daemons.get("ptp4l"), True,
                              "lltune hook + [service] ptp4l"))
    active = ((snapshot.get("services") or {}).get("tuned") or {}).get("active_profile")
    changes.append(Change("tuned.profile", active, "lltune", "tuned switch_profile (D-Bus)"))
    return changes


def build(config: Config, snapshot: Dict[str, Any]) -> List[Change]:
    """Every change the config asks for, in a stable order."""
    changes = (_cpu_sets(config, snapshot) + _scalar(config, snapshot) +
               _cmdline(config, snapshot) + _nic_changes(config, snapshot) +
               _hugepages(config, snapshot) + _others(config, snapshot))
    return changes + _site_sysctls(config, snapshot, changes)


def table(changes: List[Change]) -> str:
    """The plan as a Markdown table (plan.md, and the terminal)."""
    rows = [("knob", "current", "desired", "status", "mechanism", "reboot")]
    for change in changes:
        rows.append((change.knob, _show(change.current), _show(change.desired), change.status,
                     change.mechanism, "yes" if change.reboot else ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        lines.append("| " + " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))
                     + " |")
        if number == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines) + "\n"


def _show(value: Any) -> str:
    if value is None:
        return UNKNOWN
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "[]"
    return str(value).replace("|", "\\|")
