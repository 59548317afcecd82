"""The Markdown report and the terminal summary of a snapshot."""

from typing import Any, Dict, List

from lltune.common.cpulist import cpu_text
from lltune.model.queries import isolated_now, online_cpus
from lltune.report.findings import evaluate

MAX_MISSING_LINES = 40


def _gib(kb: Any) -> str:
    return "%.1f GiB" % (kb / 1048576.0) if isinstance(kb, int) else "unknown"


def _table(header: List[str], rows: List[List[str]]) -> List[str]:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def topology_line(snapshot: Dict[str, Any]) -> str:
    cpus = snapshot.get("cpu", {}).get("cpus", [])
    packages = {c["package"] for c in cpus if c.get("package") is not None}
    nodes = [n for n in snapshot.get("numa", {}).get("nodes", []) if n.get("cpus")]
    threads = snapshot.get("cpu", {}).get("smt", {}).get("threads_per_core")
    return "%d of %d CPUs online, %d package(s), %d NUMA node(s) with CPUs, %s thread(s)/core" % (
        len(online_cpus(snapshot)), len(cpus), len(packages), len(nodes), threads or "?")


def _nic_line(nic: Dict[str, Any]) -> str:
    speed = nic.get("speed_mbps")
    return "%s (%s, %s, node %s, %d IRQs)" % (
        nic["name"], nic.get("driver") or "?", "%d Mb/s" % speed if speed else "no link speed",
        nic.get("numa_node") if nic.get("numa_node") is not None else "?", len(nic.get("irqs")
                                                                                or []))


def host_rows(snapshot: Dict[str, Any]) -> List[List[str]]:
    host = snapshot.get("host", {})
    tuned = snapshot.get("services", {}).get("tuned", {})
    cpu = snapshot.get("cpu", {})
    return [
        ["Host", host.get("hostname") or "unknown"],
        ["OS", (host.get("os") or {}).get("pretty_name") or "unknown"],
        ["Kernel", "%s (preempt: %s)" % ((host.get("kernel") or {}).get("release"),
                                         host.get("preempt_model"))],
        ["Virtualization", (host.get("virtualization") or {}).get("type") or "unknown"],
        ["CPU", "%s; %s" % (cpu.get("model_name") or "unknown", topology_line(snapshot))],
        ["Isolated CPUs", cpu_text(isolated_now(snapshot))],
        ["nohz_full", cpu_text((cpu.get("nohz_full") or {}).get("sysfs"))],
        ["tuned", "%s, profile %s" % ("running" if tuned.get("running") else (
            "not running" if tuned.get("running") is False else "state unknown"),
            tuned.get("active_profile") or "none")],
        ["NICs", ", ".join(_nic_line(n) for n in snapshot.get("nics", [])) or "none"],
    ]


def node_section(snapshot: Dict[str, Any], node: Dict[str, Any]) -> List[str]:
    cpus = [c for c in snapshot.get("cpu", {}).get("cpus", []) if c.get("node") == node["id"]]
    load = dict((cpu, count) for cpu, count in snapshot.get("irqs", {}).get("per_cpu_totals",
                                                                             []))
    total_load = sum(load.values()) or 1
    nics = [_nic_line(n) for n in snapshot.get("nics", []) if n.get("numa_node") == node["id"]]
    lines = ["## NUMA node %d" % node["id"], "",
             "CPUs %s; memory %s (free %s); NICs: %s." % (
                 cpu_text(node.get("cpus")), _gib(node.get("memory_kb")), _gib(node.get("free_kb")),
                 ", ".join(nics) or "none"), ""]
    cores: Dict[Any, List[Dict[str, Any]]] = {}
    for cpu in cpus:
        key = (cpu.get("package"), cpu.get("die"), cpu.get("core")) if cpu.get("online") else \
            ("offline", cpu["id"])
        cores.setdefault(key, []).append(cpu)
    rows = []
    isolated = set(isolated_now(snapshot))
    for key, members in sorted(cores.items(), key=lambda item: min(c["id"] for c in
                                                                    item[1])):
        ids = sorted(c["id"] for c in members)
        if key[0] == "offline":
            rows.append(["-", cpu_text(ids), "offline", "", ""])
            continue
        irq_text = ", ".join("%d: %d (%.0f%%)" % (cpu, load.get(cpu, 0),
                                                   100.0 * load.get(cpu, 0) / total_load)
                             for cpu in ids)
        rows.append(["%s/%s" % (key[0], key[2]), cpu_text(ids),
                     "yes" if len(ids) > 1 else "no",
                     "isolated" if set(ids) <= isolated and ids else "",
                     irq_text])
    lines += _table(["package/core", "CPUs", "SMT pair", "state", "IRQs handled since boot"],
                    rows)
    return lines + [""]


def markdown(snapshot: Dict[str, Any]) -> str:
    source = snapshot.get("source", {})
    lines = ["# lltune scan: %s" % (snapshot.get("host", {}).get("hostname") or "unknown host"),
             "", "Scanned %s from %s %s by lltune %s." % (
                 snapshot.get("generated_at"), source.get("kind"), source.get("path"),
                 snapshot.get("lltune_version")), ""]
    lines += ["## Host", ""] + _table(["", ""], host_rows(snapshot)) + [""]
    for node in snapshot.get("numa", {}).get("nodes", []):
        if node.get("cpus") or any(n.get("numa_node") == node["id"]
                                   for n in snapshot.get("nics", [])):
            lines += node_section(snapshot, node)
    found = evaluate(snapshot)
    lines += ["## Findings, by effect on latency", ""]
    if not found:
        lines += ["Nothing found that lltune would change.", ""]
    for number, item in enumerate(found, 1):
        lines += ["%d. **%s** (impact %d, `%s`)" % (number, item["title"], item["impact"],
                                                    item["code"])]
        lines += ["   - Evidence: %s" % "; ".join("`%s`" % e for e in item["evidence"])]
        lines += ["   - Why: %s" % item["why"], "   - lltune sets: %s" % item["remedy"]]
    lines.append("")
    missing = snapshot.get("missing", [])
    errors = snapshot.get("collector_errors", [])
    if missing or errors:
        lines += ["## Not available on this host", ""]
        for entry in errors:
            lines.append("- collector %s failed: %s (%s)" % (entry["collector"], entry["error"],
                                                             entry["where"]))
        for entry in missing[:MAX_MISSING_LINES]:
            lines.append("- %s: `%s`: %s" % (entry["section"], entry["what"], entry["reason"]))
        if len(missing) > MAX_MISSING_LINES:
            lines.append("- ... and %d more (see the snapshot's `missing`)"
                         % (len(missing) - MAX_MISSING_LINES))
        lines.append("")
    return "\n".join(lines)


def summary(snapshot: Dict[str, Any], top: int = 5) -> str:
    rows = host_rows(snapshot)
    width = max(len(row[0]) for row in rows)
    lines = ["%-*s  %s" % (width, row[0], row[1]) for row in rows]
    found = evaluate(snapshot)
    if found:
        lines.append("Top findings (%d in all):" % len(found))
        lines += ["  %3d  %s" % (item["impact"], item["title"]) for item in found[:top]]
    if snapshot.get("missing"):
        lines.append("%d item(s) not available on this host (listed in the snapshot and report)"
                     % len(snapshot["missing"]))
    for entry in snapshot.get("collector_errors", []):
        lines.append("collector %s failed: %s" % (entry["collector"], entry["error"]))
    return "\n".join(lines) + "\n"
