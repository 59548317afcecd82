"""The result document of one validate run, and its verdict (pure functions).

Which numbers a threshold judges: the wake-up latencies (cyclictest, timerlat) only on a
PREEMPT_RT kernel unless the user asks (a stock kernel's scheduler makes no bound on them, so
a miss there says little about the tuning), and always the noise a workload sees directly
(oslat's worst gap) and the hardware floor (hwlatdetect).
"""

import json
import os
from typing import Any, Dict, List, Optional, Tuple

from lltune.validate import parse, stats

SCHEMA_VERSION = 1
KIND = "lltune-validate-result"
WAKEUP_TOOLS = ("cyclictest", "timerlat")


def _read(raw_dir: str, name: Optional[str]) -> Optional[str]:
    if not name:
        return None
    with open(os.path.join(raw_dir, name), encoding="utf-8", errors="replace") as handle:
        return handle.read()


def parsed_outputs(runs: List[Dict[str, Any]], raw_dir: str
                   ) -> Tuple[Dict[str, Any], List[Dict[str, Any]]]:
    """{tool: parsed output} for the runs that left one; a run whose output does not parse
    becomes `failed` with the parser's reason (runs are the result's "tools" rows)."""
    parsed: Dict[str, Any] = {}
    for run in runs:
        if run["status"] not in ("ok", "interrupted") or not run["raw"]:
            continue
        try:
            parsed[run["name"]] = PARSERS[run["name"]](_read(raw_dir, run["raw"]) or "")
        except (parse.ToolOutputError, OSError) as exc:
            run.update(status="failed", message=str(exc))
    return parsed, runs


PARSERS = {
    "cyclictest": parse.cyclictest_json,
    "oslat": parse.oslat,
    "hwlatdetect": parse.hwlatdetect,
    "osnoise": parse.osnoise_top,
    "timerlat": parse.timerlat_top,
}


def _cyclictest_row(data: Dict[str, Any]) -> Dict[str, Any]:
    histogram = [tuple(pair) for pair in data["histogram"]]
    row = stats.summary(histogram, data["overflows"])
    # The tool's own min/avg/max cover every sample, the overflows included.
    row.update(min_us=data["min_us"], max_us=data["max_us"], avg_us=data["avg_us"],
               samples=data["samples"], histogram=[list(pair) for pair in histogram])
    return row


def per_cpu(cpus: List[int], parsed: Dict[str, Any],
            interrupts: Dict[int, Dict[str, int]],
            softirqs: Dict[int, Dict[str, int]],
            smis: Dict[int, Optional[int]]) -> List[Dict[str, Any]]:
    rows = []
    for cpu in cpus:
        cyclic = (parsed.get("cyclictest") or {}).get(cpu)
        oslat = (parsed.get("oslat") or {}).get(cpu)
        rows.append({
            "cpu": cpu,
            "cyclictest": _cyclictest_row(cyclic) if cyclic else None,
            "oslat": {key: oslat.get(key) for key in ("min_us", "avg_us", "max_us")}
            if oslat else None,
            "osnoise": (parsed.get("osnoise") or {}).get(cpu),
            "timerlat": (parsed.get("timerlat") or {}).get(cpu),
            "interrupts": interrupts.get(cpu, {}),
            "softirqs": softirqs.get(cpu, {}),
            "smi": smis.get(cpu),
        })
    return rows


def _worst(row: Dict[str, Any], tool: str) -> Optional[float]:
    data = row.get(tool)
    if not data:
        return None
    if tool == "timerlat":
        return data.get("thread_max_us")
    return data.get("max_us")


def verdict(rows: List[Dict[str, Any]], hwlat: Optional[Dict[str, Any]],
            threshold_us: Optional[int], enforce_wakeup: bool,
            tool_runs: List[Dict[str, Any]]) -> Dict[str, Any]:
    """pass / fail / not-enforced / no-threshold / incomplete, with what was over."""
    unusable = [run["name"] for run in tool_runs
                if run["status"] in ("failed", "refused-option", "timeout")]
    over = []
    if threshold_us is not None:
        for row in rows:
            for tool in ("cyclictest", "timerlat", "oslat"):
                # The tool's own maximum covers every sample, the histogram's overflows too.
                worst = _worst(row, tool)
                if worst is not None and worst > threshold_us:
                    over.append({"cpu": row["cpu"], "tool": tool, "max_us": worst,
                                 "enforced": enforce_wakeup or tool not in WAKEUP_TOOLS})
        if hwlat and hwlat.get("max_us") is not None and hwlat["max_us"] > threshold_us:
            over.append({"cpu": None, "tool": "hwlatdetect", "max_us": hwlat["max_us"],
                         "enforced": True})
    enforced = [entry for entry in over if entry["enforced"]]
    if unusable:
        status, reason = "incomplete", "no usable result from %s" % ", ".join(unusable)
    elif threshold_us is None:
        status, reason = "no-threshold", "no --max-latency-us given: measured, not judged"
    elif enforced:
        status, reason = "fail", "%d measurement(s) over %d us" % (len(enforced), threshold_us)
    elif over:
        status, reason = "not-enforced", (
            "wake-up latency over %d us on a kernel without PREEMPT_RT: reported, not "
            "enforced (--enforce-wakeup to judge it)" % threshold_us)
    else:
        status, reason = "pass", "every measured CPU within %d us" % threshold_us
    return {"status": status, "threshold_us": threshold_us, "over": over, "reason": reason}


def document(run_id: str, started: str, finished: str, duration_s: int, interrupted: bool,
             environment: Dict[str, Any], cpus: List[int], housekeeping: List[int],
             threshold_us: Optional[int], enforce_wakeup: bool, tool_runs: List[Dict[str, Any]],
             parsed: Dict[str, Any], rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    hwlat = parsed.get("hwlatdetect")
    wakeup_judged = enforce_wakeup or environment["realtime_kernel"]
    return {
        "schema_version": SCHEMA_VERSION, "kind": KIND, "id": run_id,
        "started_at": started, "finished_at": finished, "duration_s": duration_s,
        "interrupted": interrupted, "environment": environment,
        "cpus": cpus, "housekeeping": housekeeping,
        "threshold_us": threshold_us,
        "threshold_enforced": threshold_us is not None and wakeup_judged,
        "tools": {run["name"]: {key: run[key] for key in ("status", "rc", "message", "raw")}
                  for run in tool_runs},
        "hwlatdetect": hwlat,
        "per_cpu": rows,
        "verdict": verdict(rows, hwlat, threshold_us, wakeup_judged, tool_runs),
    }


def check(document: Any, source: str) -> None:
    """InputError naming the first key of `document` that breaks `lltune schema validate`."""
    import jsonschema

    from lltune.common.documents import key_path
    from lltune.common.errors import InputError

    validator = jsonschema.Draft7Validator(schema())
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        raise InputError("not an lltune validate result: %s"
                         % errors[0].message.splitlines()[0][:200], source,
                         key=key_path(errors[0].absolute_path))


def schema() -> Dict[str, Any]:
    path = os.path.join(os.path.dirname(__file__), "validate.schema.json")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
