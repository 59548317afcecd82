"""Validate result documents as lltune.validate.result builds them, for the unit tests."""

from typing import Any, Dict, List, Optional

# A 10 s cyclictest run at 60 kHz: most wake-ups within a few us, a thin tail, one outlier.
# (offset from the CPU's fastest wake-up in us, samples); 600000 in all.
SHAPE = [(0, 500000), (1, 90000), (2, 9000), (3, 900), (6, 90), (13, 9)]
FASTEST_US = 2
# With SHAPE the 594000th sample is in bucket +2 and the 599940th in bucket +6.
P99_OFFSET, P9999_OFFSET = 2, 6

INTERRUPTS = {"LOC": 10000, "24 virtio0-input.0": 31, "RES": 12, "CAL": 7, "IWI": 5,
              "TLB": 3, "2 timer": 1}
SOFTIRQS = {"TIMER": 1000, "RCU": 300, "SCHED": 50, "HRTIMER": 4, "NET_RX": 2, "TASKLET": 1}


def outlier_us(cpu: int, shift_us: int) -> int:
    """The worst wake-up of `cpu`: each CPU's differs so tests can tell panels and rows apart."""
    return 40 + cpu + shift_us


def cyclictest_block(cpu: int, shift_us: int = 0) -> Dict[str, Any]:
    low = FASTEST_US + shift_us
    histogram = [[low + offset, count] for offset, count in SHAPE]
    histogram.append([outlier_us(cpu, shift_us), 1])
    samples = sum(count for _, count in histogram)
    return {"samples": samples, "min_us": low,
            "avg_us": round(sum(us * count for us, count in histogram) / float(samples), 2),
            "max_us": outlier_us(cpu, shift_us), "p99_us": low + P99_OFFSET,
            "p9999_us": low + P9999_OFFSET, "overflows": 0, "histogram": histogram}


def per_cpu_entry(cpu: int, shift_us: int) -> Dict[str, Any]:
    return {"cpu": cpu,
            "cyclictest": cyclictest_block(cpu, shift_us),
            "oslat": {"min_us": 1.2, "avg_us": 1.5, "max_us": 10.25 + cpu + shift_us},
            "osnoise": {"runtime_us": 999000, "noise_us": 120 + shift_us,
                        "percent_available": 99.98799, "max_single_us": 8 + shift_us,
                        "hw": 0, "nmi": 0, "irq": 10, "softirq": 2, "thread": 0},
            "timerlat": None,
            "interrupts": dict(INTERRUPTS), "softirqs": dict(SOFTIRQS), "smi": None}


def make_result(n_cpus: int = 2, first_cpu: int = 2, run_id: str = "20261203T113000Z",
                shift_us: int = 0, threshold_us: Optional[int] = None,
                virtualized: Optional[str] = None) -> Dict[str, Any]:
    """A finished run measuring `n_cpus` CPUs from `first_cpu`; `shift_us` moves every
    latency up (a worse run) or down."""
    cpus: List[int] = list(range(first_cpu, first_cpu + n_cpus))
    per_cpu = [per_cpu_entry(cpu, shift_us) for cpu in cpus]
    over = [{"cpu": entry["cpu"], "tool": "cyclictest", "max_us": entry["cyclictest"]["max_us"]}
            for entry in per_cpu
            if threshold_us is not None and entry["cyclictest"]["max_us"] > threshold_us]
    if threshold_us is None:
        verdict = {"status": "no-threshold", "threshold_us": None, "over": [],
                   "reason": "no threshold given"}
    else:
        verdict = {"status": "fail" if over else "pass", "threshold_us": threshold_us,
                   "over": over, "reason": "%d CPU(s) over %d us" % (len(over), threshold_us)}
    tools = {"cyclictest": {"path": "/usr/bin/cyclictest", "version": "2.6"},
             "oslat": {"path": "/usr/bin/oslat", "version": "2.6"},
             "rtla": {"path": None, "version": None}}
    return {
        "schema_version": 1, "kind": "lltune-validate-result", "id": run_id,
        "started_at": "2026-12-03T11:30:00Z", "finished_at": "2026-12-03T11:30:10Z",
        "duration_s": 10, "interrupted": False,
        "environment": {
            "hostname": "trade1.example.com", "kernel": "5.14.0-427.13.1.el9_4.x86_64+rt",
            "realtime_kernel": True, "virtualized": virtualized,
            "cmdline": "BOOT_IMAGE=/vmlinuz isolcpus=managed_irq,domain,2-3 nohz_full=2-3",
            "tuned_profile": "lltune", "config_sha256": "ab" * 32,
            "verify": {"status": "ok", "drift": []}, "tools": tools},
        "cpus": cpus, "housekeeping": [0, 1],
        "threshold_us": threshold_us, "threshold_enforced": threshold_us is not None,
        "tools": {"cyclictest": {"status": "ok", "rc": 0, "message": "", "raw": "cyclictest.json"},
                  "oslat": {"status": "ok", "rc": 0, "message": "", "raw": "oslat.txt"},
                  "osnoise": {"status": "ok", "rc": 0, "message": "", "raw": "osnoise.txt"},
                  "timerlat": {"status": "missing", "rc": None,
                               "message": "rtla is not installed", "raw": None}},
        "hwlatdetect": None,
        "per_cpu": per_cpu,
        "verdict": verdict,
    }
