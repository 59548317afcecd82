"""The Markdown report of a validate result, and the number forms the picture shares with it."""

from typing import Any, Dict, List, Optional

TOP_SOURCES = 5
TOOL_ORDER = ["cyclictest", "oslat", "hwlatdetect", "osnoise", "timerlat"]


def number_text(value: Any) -> str:
    """Every number the report and the picture show: ints as they are, floats to 0.1, "-" when
    the value is unknown, so a missing measure never reads as zero."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "%.1f" % value
    return str(value)


def us_text(value: Any) -> str:
    return "-" if value is None else number_text(value) + " us"


def p9999_text(cyclictest: Dict[str, Any]) -> str:
    """The p99.99 is None both with no samples and when it falls among the overflows; the
    second case still says something: it is above every bucket that holds a sample."""
    value = cyclictest.get("p9999_us")
    histogram = cyclictest.get("histogram") or []
    if value is None and cyclictest.get("overflows") and histogram:
        return ">= %d us" % (histogram[-1][0] + 1)
    return us_text(value)


def _change_text(change: Optional[float]) -> str:
    if change is None:
        return "-"
    return ("+" if change > 0 else "") + us_text(change)


def _table(header: List[str], rows: List[List[str]]) -> List[str]:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(cell(v) for v in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def _ordered_tools(names: List[str]) -> List[str]:
    known = [name for name in TOOL_ORDER if name in names]
    return known + sorted(name for name in names if name not in TOOL_ORDER)


def verdict_lines(result: Dict[str, Any]) -> List[str]:
    verdict = result.get("verdict") or {}
    threshold = verdict.get("threshold_us", result.get("threshold_us"))
    enforced = "enforced" if result.get("threshold_enforced") else "not enforced"
    lines = ["## Verdict: %s" % (verdict.get("status") or "unknown").upper(), ""]
    lines.append("Threshold: %s." % ("none" if threshold is None else
                                     "%s (%s)" % (us_text(threshold), enforced)))
    if verdict.get("reason"):
        lines.append(verdict["reason"])
    over = verdict.get("over") or []
    if over:
        lines += ["", "Over the threshold:", ""]
        lines += ["- CPU %s, %s: max %s" % (item.get("cpu"), item.get("tool"),
                                             us_text(item.get("max_us"))) for item in over]
    if result.get("interrupted"):
        lines += ["", "The run was interrupted: the numbers cover only part of it."]
    return lines + [""]


def _tool_versions(tools: Dict[str, Any]) -> str:
    parts = []
    for name in _ordered_tools(list(tools)):
        found = tools[name] or {}
        if found.get("path") is None:
            parts.append("%s not installed" % name)
        else:
            parts.append("%s %s (%s)" % (name, found.get("version") or "version unknown",
                                         found["path"]))
    return "; ".join(parts) or "-"


def environment_lines(result: Dict[str, Any]) -> List[str]:
    environment = result.get("environment") or {}
    verify = environment.get("verify") or {}
    drift = verify.get("drift") or []
    rows = [
        ["Host", environment.get("hostname") or "-"],
        ["Run", "%s to %s (%s s)" % (result.get("started_at") or "-",
                                     result.get("finished_at") or "-",
                                     number_text(result.get("duration_s")))],
        ["Kernel", "%s (%s)" % (environment.get("kernel") or "-",
                                "realtime" if environment.get("realtime_kernel")
                                else "not realtime")],
        ["Virtualized", environment.get("virtualized") or "no"],
        ["Kernel command line", environment.get("cmdline") or "-"],
        ["tuned profile", environment.get("tuned_profile") or "none"],
        ["Config sha256", environment.get("config_sha256") or "-"],
        ["Verify", verify.get("status") or "-"],
        ["Drift", "; ".join(drift) or "none"],
        ["Tools", _tool_versions(environment.get("tools") or {})],
        ["Measured CPUs", ", ".join(str(cpu) for cpu in result.get("cpus") or []) or "-"],
        ["Housekeeping CPUs", ", ".join(str(cpu) for cpu in result.get("housekeeping") or [])
         or "-"],
    ]
    lines = ["## Environment", ""]
    if environment.get("virtualized"):
        lines += ["Measured in a VM (%s): not the hardware's numbers." %
                  environment["virtualized"], ""]
    return lines + _table(["", ""], rows) + [""]


def _cpu_rows(entry: Dict[str, Any]) -> List[List[str]]:
    rows = []
    cyclictest = entry.get("cyclictest")
    if cyclictest is not None:
        rows += [["cyclictest", "samples", number_text(cyclictest.get("samples"))],
                 ["cyclictest", "min", us_text(cyclictest.get("min_us"))],
                 ["cyclictest", "avg", us_text(cyclictest.get("avg_us"))],
                 ["cyclictest", "max", us_text(cyclictest.get("max_us"))],
                 ["cyclictest", "p99", us_text(cyclictest.get("p99_us"))],
                 ["cyclictest", "p99.99", p9999_text(cyclictest)],
                 ["cyclictest", "overflows", number_text(cyclictest.get("overflows"))]]
    oslat = entry.get("oslat")
    if oslat is not None:
        rows.append(["oslat", "max", us_text(oslat.get("max_us"))])
    osnoise = entry.get("osnoise")
    if osnoise is not None:
        rows += [["osnoise", "noise", us_text(osnoise.get("noise_us"))],
                 ["osnoise", "max single", us_text(osnoise.get("max_single_us"))]]
    timerlat = entry.get("timerlat")
    if timerlat is not None:
        rows.append(["timerlat", "thread max", us_text(timerlat.get("thread_max_us"))])
    if entry.get("smi") is not None:
        rows.append(["MSR_SMI_COUNT", "SMIs during the run", number_text(entry["smi"])])
    return rows


def cpu_lines(result: Dict[str, Any]) -> List[str]:
    lines = ["## Measured CPUs", ""]
    for entry in result.get("per_cpu") or []:
        lines += ["### CPU %s" % entry.get("cpu"), ""]
        rows = _cpu_rows(entry)
        lines += (_table(["tool", "measure", "value"], rows) if rows
                  else ["No latency tool measured this CPU."])
        lines.append("")
    return lines


def tool_lines(result: Dict[str, Any]) -> List[str]:
    tools = result.get("tools") or {}
    rows = [[name, (tools[name] or {}).get("status") or "-",
             number_text((tools[name] or {}).get("rc")),
             (tools[name] or {}).get("message") or ""]
            for name in _ordered_tools(list(tools))]
    lines = ["## Tools", ""] + _table(["tool", "status", "rc", "message"], rows)
    hwlat = result.get("hwlatdetect")
    if hwlat is not None:
        lines += ["", "hwlatdetect: max %s over %s samples, %s above its threshold of %s." % (
            us_text(hwlat.get("max_us")), number_text(hwlat.get("samples")),
            number_text(hwlat.get("exceeding")), us_text(hwlat.get("threshold_us")))]
    return lines + [""]


def top_sources(increases: Dict[str, int]) -> List[List[Any]]:
    """The TOP_SOURCES largest increases, ties by name so the report is stable."""
    ranked = sorted(increases.items(), key=lambda item: (-item[1], item[0]))
    return [[name, count] for name, count in ranked[:TOP_SOURCES]]


def interrupt_lines(result: Dict[str, Any]) -> List[str]:
    lines = ["## What interrupted each CPU", ""]
    for entry in result.get("per_cpu") or []:
        rows = [["IRQ", name, count] for name, count in top_sources(entry.get("interrupts") or {})]
        rows += [["softirq", name, count]
                 for name, count in top_sources(entry.get("softirqs") or {})]
        lines += ["### CPU %s" % entry.get("cpu"), ""]
        lines += (_table(["kind", "source", "increase"], rows) if rows
                  else ["No interrupt counter rose during the run."])
        lines.append("")
    return lines


def comparison_lines(comparison: Dict[str, Any]) -> List[str]:
    rows = [[row.get("cpu"), row.get("tool"),
             us_text(row.get("before_max_us")), us_text(row.get("after_max_us")),
             _change_text(row.get("max_change_us")),
             us_text(row.get("before_p9999_us")), us_text(row.get("after_p9999_us")),
             _change_text(row.get("p9999_change_us")), row.get("verdict")]
            for row in comparison.get("cpus") or []]
    lines = ["## Compared with %s" % comparison.get("before"), ""]
    lines += _table(["CPU", "tool", "before max", "after max", "change", "before p99.99",
                     "after p99.99", "change", "verdict"], rows)
    return lines + [""]


def report(result: Dict[str, Any], comparison: Optional[Dict[str, Any]] = None) -> str:
    hostname = (result.get("environment") or {}).get("hostname") or "unknown host"
    lines = ["# lltune validate %s on %s" % (result.get("id"), hostname), ""]
    lines += verdict_lines(result) + environment_lines(result) + cpu_lines(result)
    lines += tool_lines(result) + interrupt_lines(result)
    if comparison is not None:
        lines += comparison_lines(comparison)
    return "\n".join(lines).rstrip("\n") + "\n"
