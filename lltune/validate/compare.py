"""Two validate results side by side: per CPU and tool, how the worst case and p99.99 moved."""

from typing import Any, Dict, List, Optional

# Differences this small are timer and rounding jitter between runs, not a change of the host.
SAME_WITHIN_US = 1.0
# (tool, key of the p99.99 in its per-CPU block or None when the tool has no histogram summary)
COMPARED_TOOLS = [("cyclictest", "p9999_us"), ("oslat", None)]


def _by_cpu(result: Dict[str, Any]) -> Dict[int, Dict[str, Any]]:
    return {entry["cpu"]: entry for entry in result.get("per_cpu") or []}


def _change(before: Optional[float], after: Optional[float]) -> Optional[float]:
    if before is None or after is None:
        return None
    # oslat reports fractions of a microsecond: round away float noise such as 0.30000000000004.
    return round(after - before, 3)


def _verdict(changes: List[Optional[float]]) -> str:
    known = [change for change in changes if change is not None]
    # A low-latency host is judged by its worst moments: any measure that got worse makes the
    # pair worse, even when another improved.
    if any(change > SAME_WITHIN_US for change in known):
        return "worse"
    if any(change < -SAME_WITHIN_US for change in known):
        return "better"
    return "same"


def _row(cpu: int, tool: str, p9999_key: Optional[str], before: Optional[Dict[str, Any]],
         after: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    def value(block: Optional[Dict[str, Any]], key: Optional[str]) -> Optional[float]:
        return block.get(key) if block is not None and key is not None else None

    before_max, after_max = value(before, "max_us"), value(after, "max_us")
    before_p9999, after_p9999 = value(before, p9999_key), value(after, p9999_key)
    max_change = _change(before_max, after_max)
    p9999_change = _change(before_p9999, after_p9999)
    if after is None:
        verdict = "only-before"
    elif before is None:
        verdict = "only-after"
    else:
        verdict = _verdict([max_change, p9999_change])
    return {"cpu": cpu, "tool": tool,
            "before_max_us": before_max, "after_max_us": after_max, "max_change_us": max_change,
            "before_p9999_us": before_p9999, "after_p9999_us": after_p9999,
            "p9999_change_us": p9999_change, "verdict": verdict}


def compare(before: Dict[str, Any], after: Dict[str, Any]) -> Dict[str, Any]:
    """The contract's comparison of two result documents; neither is changed."""
    before_cpus, after_cpus = _by_cpu(before), _by_cpu(after)
    rows = []
    for cpu in sorted(set(before_cpus) | set(after_cpus)):
        for tool, p9999_key in COMPARED_TOOLS:
            before_block = (before_cpus.get(cpu) or {}).get(tool)
            after_block = (after_cpus.get(cpu) or {}).get(tool)
            if before_block is None and after_block is None:
                continue
            rows.append(_row(cpu, tool, p9999_key, before_block, after_block))
    return {"before": before.get("id"), "after": after.get("id"), "cpus": rows}
