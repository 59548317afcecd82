"""Questions every stage asks of a snapshot: its CPUs, cores, NUMA nodes, a NIC's node and IRQs,
memory per node, what isolation the host runs now, tuned's version.

Snapshots are plain data that may come from a hostile file (schema-checked, but a field may be
null or absent): every query tolerates that and answers "nothing" rather than raising.
"""

import re
from typing import Any, Dict, List, Optional, Set, Tuple

Snapshot = Dict[str, Any]


def dig(data: Any, *path: Any) -> Any:
    """data[path[0]][path[1]]...: None as soon as a level is missing or not a mapping."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def cpu_table(snapshot: Snapshot) -> Dict[int, Dict[str, Any]]:
    """CPU id -> its snapshot entry (topology, node, cpufreq, cpuidle)."""
    return {cpu["id"]: cpu for cpu in dig(snapshot, "cpu", "cpus") or []
            if isinstance(cpu, dict) and isinstance(cpu.get("id"), int)}


def online_cpus(snapshot: Snapshot) -> List[int]:
    return sorted(cpu for cpu, entry in cpu_table(snapshot).items() if entry.get("online"))


def cores(snapshot: Snapshot) -> List[List[int]]:
    """Online CPUs grouped by physical core (SMT siblings together), lowest CPU first."""
    table = cpu_table(snapshot)
    online = {cpu for cpu, entry in table.items() if entry.get("online")}
    seen: Set[int] = set()
    groups = []
    for cpu in sorted(online):
        if cpu in seen:
            continue
        siblings = {s for s in table[cpu].get("siblings") or [cpu] if s in online} | {cpu}
        siblings -= seen
        seen.update(siblings)
        groups.append(sorted(siblings))
    return groups


def node_cpus(snapshot: Snapshot) -> Dict[Optional[int], List[int]]:
    """NUMA node -> its online CPUs (from each CPU's own node; None when unknown)."""
    result: Dict[Optional[int], List[int]] = {}
    for cpu, entry in sorted(cpu_table(snapshot).items()):
        if entry.get("online"):
            node = entry.get("node")
            result.setdefault(node if isinstance(node, int) else None, []).append(cpu)
    return result


def isolated_now(snapshot: Snapshot) -> List[int]:
    """The CPUs the running kernel isolates (sysfs, else what the command line asked for)."""
    isolated = dig(snapshot, "cpu", "isolated") or {}
    return isolated.get("sysfs") or isolated.get("cmdline") or []


def node_memory_kb(snapshot: Snapshot) -> Dict[int, Optional[int]]:
    """NUMA node -> its MemTotal in KiB (None when unknown)."""
    return {node["id"]: node.get("memory_kb") for node in dig(snapshot, "numa", "nodes") or []
            if isinstance(node, dict) and isinstance(node.get("id"), int)}


def hugepage_sizes(snapshot: Snapshot) -> Set[str]:
    """Page sizes the host offers ("2048kB"), from the global and the per-node pools."""
    sizes = set((dig(snapshot, "memory", "hugepages") or {}).keys())
    for node in dig(snapshot, "numa", "nodes") or []:
        sizes.update((node.get("hugepages") or {}).keys() if isinstance(node, dict) else ())
    return sizes


def nics(snapshot: Snapshot) -> List[Dict[str, Any]]:
    return [nic for nic in snapshot.get("nics") or [] if isinstance(nic, dict)]


def find_nic(snapshot: Snapshot, match: Dict[str, str]) -> Optional[Dict[str, Any]]:
    """The snapshot NIC a config `match` names (by name, MAC or PCI address), or None."""
    for nic in nics(snapshot):
        if "name" in match and nic.get("name") == match["name"]:
            return nic
        if "mac" in match and (nic.get("mac") or "").lower() == match["mac"].lower():
            return nic
        if "pci" in match and nic.get("pci_address") == match["pci"]:
            return nic
    return None


def nic_node(snapshot: Snapshot, nic: Dict[str, Any]) -> Optional[int]:
    """The NIC's NUMA node; on a host with one node of CPUs, that node when sysfs says -1."""
    node = nic.get("numa_node")
    if isinstance(node, int):
        return node
    nodes = [n for n in node_cpus(snapshot) if n is not None]
    return nodes[0] if len(nodes) == 1 else None


def irq_rows(snapshot: Snapshot) -> Dict[int, Dict[str, Any]]:
    """IRQ number -> its snapshot row (name, affinity, effective affinity, counts)."""
    return {row.get("irq"): row for row in dig(snapshot, "irqs", "irqs") or []
            if isinstance(row, dict)}


# NIC IRQ names: the queue's number after its kind (virtio1-input.0, mlx5_comp3,
# eth0-TxRx-2); the NIC's other IRQs (config, async events, mailbox) serve no queue.
_QUEUE_IRQ = re.compile(r"(?:TxRx|txrx|comp|input|output|rx|tx|fp|queue|q)[-_.]?(\d+)")
_NOT_QUEUE_IRQ = re.compile(r"(async|config|ctrl|misc|cmd|mbx|aux)", re.I)


def queue_index(irq_name: Optional[str]) -> Optional[int]:
    """The queue a NIC IRQ serves, by its name; None for an IRQ that serves none."""
    if not irq_name or _NOT_QUEUE_IRQ.search(irq_name):
        return None
    match = _QUEUE_IRQ.search(irq_name)
    return int(match.group(1)) if match else None


def queue_irqs(snapshot: Snapshot, nic: Dict[str, Any]) -> List[int]:
    """The NIC's IRQs that serve a queue (those irq_cpus pins)."""
    rows = irq_rows(snapshot)
    return [irq for irq in nic.get("irqs") or []
            if queue_index((rows.get(irq) or {}).get("name")) is not None]


def irq_cpus_now(snapshot: Snapshot, nic: Dict[str, Any]) -> Dict[int, List[int]]:
    """IRQ -> the CPUs it is delivered to now (effective affinity, else the affinity mask)."""
    rows = irq_rows(snapshot)
    result = {}
    for irq in nic.get("irqs") or []:
        row = rows.get(irq)
        if row:
            cpus = row.get("effective_affinity_list") or row.get("smp_affinity_list") or []
            result[irq] = list(cpus)
    return result


def irq_label(snapshot: Snapshot, irq: int) -> str:
    """"30 (virtio1-input.0)", or the bare number when the IRQ has no name."""
    row = irq_rows(snapshot).get(irq)
    if row and row.get("name"):
        return "%d (%s)" % (irq, row["name"])
    return str(irq)


def ethtool_known(snapshot: Snapshot, nic: Dict[str, Any]) -> bool:
    """False when the snapshot could not ask the NIC at all (an offline tree without probes)."""
    probe = "ethtool:%s" % nic.get("name")
    return not any(isinstance(m, dict) and m.get("what") == probe
                   for m in snapshot.get("missing") or [])


def tuned_version(snapshot: Snapshot) -> Optional[Tuple[int, ...]]:
    """tuned's version as numbers ((2, 20, 0)), None when unknown."""
    text = dig(snapshot, "services", "tuned", "version")
    if not isinstance(text, str):
        return None
    parts = re.findall(r"\d+", text)
    return tuple(int(p) for p in parts[:3]) if len(parts) >= 2 else None


def kernel_version(snapshot: Snapshot) -> Optional[Tuple[int, ...]]:
    """The running kernel's release as numbers ((6, 12, 38) for "6.12.38+deb13-amd64"), None
    when unknown."""
    text = dig(snapshot, "host", "kernel", "release")
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text) if isinstance(text, str) else None
    return tuple(int(p) for p in match.groups() if p is not None) if match else None


def tuned_profile_dirs(snapshot: Snapshot) -> List[str]:
    """Where the host's tuned reads profiles, lowest precedence first; RHEL 9's layout for a
    snapshot that does not say (written before lltune recorded it)."""
    dirs = dig(snapshot, "services", "tuned", "profile_dirs")
    if isinstance(dirs, list) and dirs and all(isinstance(d, str) and d for d in dirs):
        return list(dirs)
    return ["/usr/lib/tuned", "/etc/tuned"]


def tuned_user_dir(snapshot: Snapshot) -> str:
    """The directory a site's own profiles go in: tuned's last, which wins a name conflict."""
    return tuned_profile_dirs(snapshot)[-1]


# The files tuned's [sysctl] writes again after the profile's values (plugin_sysctl.py,
# _apply_system_sysctl): *.conf of these directories by file name, a name in /run/sysctl.d
# shadowing /etc/sysctl.d's, then /etc/sysctl.conf.
TUNED_REAPPLIED_DIRS = ("/run/sysctl.d", "/etc/sysctl.d")
TUNED_REAPPLIED_CONF = "/etc/sysctl.conf"


def sysctls_tuned_reapplies(snapshot: Snapshot) -> Dict[str, Dict[str, Any]]:
    """sysctl -> the entry (file, line, value) tuned ends with when it re-applies the site's
    sysctl files over a profile."""
    entries = [e for e in dig(snapshot, "kernel", "sysctl_files") or [] if isinstance(e, dict)
               and isinstance(e.get("file"), str) and isinstance(e.get("key"), str)]
    by_name: Dict[str, str] = {}  # file name -> the path that wins it
    for directory in reversed(TUNED_REAPPLIED_DIRS):  # /etc first, then /run shadows it
        for entry in entries:
            folder, _, name = entry["file"].rpartition("/")
            if folder == directory:
                by_name[name] = entry["file"]
    order = [by_name[name] for name in sorted(by_name)] + [TUNED_REAPPLIED_CONF]
    result: Dict[str, Dict[str, Any]] = {}
    for path in order:
        for entry in entries:
            if entry["file"] == path:
                result[entry["key"]] = entry
    return result


def _include_names(value: str) -> List[str]:
    """`[main] include=` as tuned splits it (',' or ';'); '-name' is an optional include."""
    return [name.strip().lstrip("-") for name in re.split(r"[,;]", value or "")
            if name.strip() and "$" not in name]


def inherited_profile(snapshot: Snapshot, includes: List[str],
                      host_profile: str = "lltune") -> Dict[str, Dict[str, str]]:
    """The sections a profile that includes `includes` (in order) inherits, merged as tuned's
    loader merges them (tuned/profiles/loader.py, merger.py): each include after its own
    includes, a later profile's options updating an earlier one's, `replace=1` replacing a
    section. The user directory's `host_profile` is the profile being built, never its own
    include. Raw values: variables are not expanded."""
    contents = dig(snapshot, "services", "tuned", "profile_contents")
    contents = contents if isinstance(contents, dict) else {}
    dirs = tuned_profile_dirs(snapshot)
    merged: Dict[str, Dict[str, str]] = {}
    loaded: Set[Tuple[str, str]] = set()

    def load(name: str, depth: int) -> None:
        found = contents.get(name) if isinstance(contents.get(name), dict) else {}
        candidates = [d for d in reversed(dirs) if d in found and (name, d) not in loaded
                      and not (name == host_profile and d == dirs[-1])]
        if not candidates or depth > 16:
            return
        loaded.add((name, candidates[0]))
        sections = found[candidates[0]] or {}
        for parent in _include_names((sections.get("main") or {}).get("include", "")):
            load(parent, depth + 1)
        for section, options in sections.items():
            if section == "main" or not isinstance(options, dict):
                continue
            if options.get("replace") in ("1", "true", "yes"):
                merged[section] = {}
            merged.setdefault(section, {}).update(options)

    for name in includes:
        load(name, 0)
    return merged


def inherited_cmdline(snapshot: Snapshot, includes: List[str],
                      blanked: Tuple[str, ...] = ()) -> List[str]:
    """The literal kernel tokens the included profiles' [bootloader] cmdline* options add, in
    tuned's order (what a '-' option can remove); options in `blanked` are left out, and so are
    values built from variables (their text is known only after tuned expands it)."""
    options = inherited_profile(snapshot, includes).get("bootloader") or {}
    tokens: List[str] = []
    for name, value in options.items():
        if not name.startswith("cmdline") or name in blanked or "$" in value:
            continue
        if value.startswith("-"):
            removed = set(value[1:].split())
            tokens = [token for token in tokens if token not in removed]
        else:
            tokens += value.split()
    return tokens
