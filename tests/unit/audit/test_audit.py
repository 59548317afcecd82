"""audit: every cross-check has a case that triggers it and a near miss that does not; the
output formats; the exit codes.

The host is a small synthetic snapshot (2 nodes x 4 cores x 2 threads, three NICs) and the
config a clean one for it; each case changes one thing in either.
"""

import copy
import json
import os

import pytest
import yaml

from lltune.audit import run as audit_module
from lltune.audit.memory import hugepage_limit_kb
from lltune.audit.registry import CHECKS, Finding
from lltune.audit.run import audit
from lltune.cli.main import main
from lltune.config.loader import Config, load_text
from tests.conftest import REPO

GIB_KB = 1024 * 1024
SCHEMA = os.path.join(REPO, "lltune", "audit", "audit.schema.json")


NEW_LAYOUT = ["/usr/lib/tuned/profiles", "/etc/tuned/profiles"]
MACHINE = "0123456789abcdef0123456789abcdef"
# tuned 2.25.1's network-latency [bootloader] (profiles/network-latency/tuned.conf), as a scan
# records it, and lltune's base profile including it (RHEL 9's layout).
NETWORK_LATENCY_225 = {
    "network-latency": {"/usr/lib/tuned": {
        "main": {"include": "latency-performance"},
        "bootloader": {"cmdline_network_latency":
                       "skew_tick=1 tsc=reliable rcupdate.rcu_normal_after_boot=1"}}},
    "lltune": {"/usr/lib/tuned": {
        "main": {"include": "network-latency"},
        "bootloader": {"cmdline_lltune_isolation": "${isolation_cmdline}"}}}}


def make_snapshot():
    """CPUs 0-15: CPU c and c+8 are siblings; node 0 = 0-3,8-11, node 1 = 4-7,12-15."""
    cpus = []
    for cpu in range(16):
        core = cpu % 8
        cpus.append({"id": cpu, "online": True, "package": core // 4, "core": core % 4,
                     "node": core // 4, "siblings": [core, core + 8],
                     "cpuidle": [{"state": 0, "name": "POLL", "latency_us": 0,
                                  "disabled": False},
                                 {"state": 1, "name": "C1", "latency_us": 1, "disabled": False},
                                 {"state": 2, "name": "C6", "latency_us": 100,
                                  "disabled": False}]})
    pools = {"2048kB": {"total": 0, "free": 0, "surplus": 0},
             "1048576kB": {"total": 0, "free": 0, "surplus": 0}}
    irq_rows = [{"irq": 100 + q, "name": "mlx5_comp%d@pci:0000:17:00.0" % q,
                 "effective_affinity_list": [q], "smp_affinity_list": [0, 1, 2, 3]}
                for q in range(4)]
    irq_rows += [{"irq": 110 + q, "name": "ice-eth1-TxRx-%d" % q,
                  "effective_affinity_list": [4 + q], "smp_affinity_list": [4, 5]}
                 for q in range(2)]
    irq_rows += [{"irq": 120, "name": "eno1-TxRx-0", "effective_affinity_list": [0],
                  "smp_affinity_list": [0]}]

    def nic(name, node, pci, mac, irqs, phc):
        return {
            "name": name, "driver": "mlx5_core", "pci_address": pci, "mac": mac,
            "numa_node": node, "speed_mbps": 100000, "link": "up", "irqs": irqs,
            "queues": {"rx": 8, "tx": 8}, "phc_index": phc,
            "timestamping": {"phc_index": phc},
            "channels": {"current": {"rx": 0, "tx": 0, "other": 0, "combined": 8},
                         "max": {"rx": 0, "tx": 0, "other": 0, "combined": 8}},
            "rings": {"current": {"rx": 1024, "tx": 1024, "rx_mini": 0, "rx_jumbo": 0},
                      "max": {"rx": 4096, "tx": 4096, "rx_mini": 0, "rx_jumbo": 0}},
            "coalesce": {"adaptive-rx": True, "adaptive-tx": True, "rx-usecs": 8,
                         "tx-usecs": 16},
            "features": {"rx-gro": {"active": True, "fixed": False, "requested": True},
                         "rx-lro": {"active": False, "fixed": True, "requested": False},
                         "tx-checksum-ip-generic": {"active": True, "fixed": False,
                                                    "requested": True}},
            "pause": {"autoneg": False, "rx": True, "tx": True},
            "rps": {}, "xps": {}}

    return {
        "schema_version": 1,
        "source": {"kind": "live", "path": "/"},
        "generated_at": "2026-01-01T00:00:00Z",
        "host": {"hostname": "test-host", "architecture": "x86_64"},
        "kernel": {"cmdline": ["root=/dev/sda1", "ro"], "cmdline_parsed": {},
                   "config": {"CONFIG_NO_HZ_FULL": "y", "CONFIG_RCU_NOCB_CPU": "y"},
                   "clocksource": {"current": "tsc", "available": ["tsc", "hpet"]},
                   "sysctls": {"vm.swappiness": "30"}},
        "cpu": {"vendor": "GenuineIntel",
                "flags": {"constant_tsc": True, "nonstop_tsc": True, "pdpe1gb": True},
                "smt": {"active": True, "threads_per_core": 2},
                "cpufreq": {"driver": "intel_pstate", "policies": [
                    {"cpus": [cpu], "driver": "intel_pstate", "governor": "powersave",
                     "epp": "balance_performance",
                     "available_governors": ["performance", "powersave"]}
                    for cpu in range(16)]},
                "boost": {"no_turbo": False, "boost": None, "min_perf_pct": 30},
                "cpus": cpus},
        "numa": {"nodes": [{"id": node, "cpus": [c for c in range(16) if (c % 8) // 4 == node],
                            "memory_kb": 32 * GIB_KB, "hugepages": copy.deepcopy(pools)}
                           for node in (0, 1)]},
        "memory": {"hugepages": copy.deepcopy(pools)},
        "irqs": {"irqs": irq_rows},
        "nics": [nic("eth0", 0, "0000:17:00.0", "b8:ce:f6:00:00:01", [100, 101, 102, 103], 0),
                 nic("eth1", 1, "0000:98:00.0", "b8:ce:f6:00:00:02", [110, 111], None),
                 nic("eno1", 0, "0000:02:00.0", "d0:8e:79:00:00:01", [120], None)],
        "time": {"ptp_clocks": [{"name": "ptp0", "nic": "eth0"}],
                 "daemons": {"chronyd": True}},
        "services": {"units": {
            "irqbalance.service": {"load": "loaded", "active": "active"},
            "chronyd.service": {"load": "loaded", "active": "active"},
            "tuned.service": {"load": "loaded", "active": "active"},
            "stalld.service": {"load": "loaded", "active": "inactive"},
            "ntpd.service": {"load": "not-found", "active": "inactive"},
            "foo.service": {"load": "not-found", "active": "inactive"}},
            "tuned": {"installed": True, "running": True, "version": "2.22.1"}},
        "limits": {"entries": []},
        "missing": [],
    }


def make_config():
    return {
        "version": 1,
        "preset": "low-latency",
        "cpu": {"housekeeping": "0,4,8,12", "isolated": "1-3,5-7,9-11,13-15",
                "disable_cstates": ["C6"]},
        "memory": {"hugepages": [{"size": "2M", "per_node": {"0": 512}}]},
        "network": {"interfaces": [
            {"match": {"name": "eth0"}, "role": "latency", "irq_cpus": "0,8",
             "channels": {"combined": 2}, "rings": {"rx": 1024},
             "coalesce": {"adaptive-rx": False, "rx-usecs": 0},
             "offloads": {"gro": False}, "pause": {"rx": False}},
            {"match": {"pci": "0000:98:00.0"}, "role": "other", "irq_cpus": "4,12"},
            {"match": {"name": "eno1"}, "role": "management", "irq_cpus": "0"}]},
        "time": {"clocksource": "tsc", "ptp": {"interface": "eth0", "manage_services": True}},
        "irq": {"irqbalance": "stop"},
        "services": {"stop": ["chronyd.service"]},
        "limits": [{"domain": "@trading", "rtprio": 99}],
        "sysctl": {"net.core.rmem_max": 16777216},
    }


def run(config_change=None, snapshot_change=None, raw=False):
    config, snapshot = make_config(), make_snapshot()
    if config_change:
        config_change(config)
    if snapshot_change:
        snapshot_change(snapshot)
    if raw:
        loaded = Config(data=config, source="raw.yaml")
    else:
        loaded = load_text(yaml.safe_dump(config, sort_keys=False), "c.yaml")
    return audit(loaded, snapshot)


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def codes(findings):
    return {f.code for f in findings}


def setter(*path_and_value):
    """A change: set config[path...] = value (creating mappings on the way)."""
    *path, value = path_and_value

    def change(tree):
        node = tree
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(key, str) else node[key]
        node[path[-1]] = copy.deepcopy(value)
    return change


def both(*changes):
    def change(tree):
        for one in changes:
            one(tree)
    return change


def drop(*path):
    def change(tree):
        node = tree
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return change


def eth(index, key, value):
    return setter("network", "interfaces", index, key, value)


def snap_nic(name, key, value):
    def change(snapshot):
        for nic in snapshot["nics"]:
            if nic["name"] == name:
                nic[key] = copy.deepcopy(value)
    return change


def offline(cpu):
    def change(snapshot):
        snapshot["cpu"]["cpus"][cpu]["online"] = False
    return change


def policies(key, value):
    def change(snapshot):
        for policy in snapshot["cpu"]["cpufreq"]["policies"]:
            policy[key] = value
    return change


def no_pool(size):
    def change(snapshot):
        del snapshot["memory"]["hugepages"][size]
        for node in snapshot["numa"]["nodes"]:
            del node["hugepages"][size]
    return change


def ethtool_missing(name):
    def change(snapshot):
        snapshot["missing"].append({"section": "nics", "what": "ethtool:" + name,
                                    "reason": "not recorded"})
        snap_nic(name, "channels", None)(snapshot)
    return change


NOHZ_OFF = setter("kernel", "nohz_full", False)

# A NIC with separate rx and tx queues now that can also run combined ones (bnxt).
BNXT_CHANNELS = {"current": {"rx": 4, "tx": 4, "other": 0, "combined": 0},
                 "max": {"rx": 8, "tx": 8, "other": 0, "combined": 8}}

# code -> (config change, snapshot change, raw) that triggers it, and a near miss.
CASES = {
    "safety.unsafe-value": (
        (setter("sysctl", {"net.core.rmem_max": "1; reboot"}), None, True),
        (setter("sysctl", {"net.core.rmem_max": "4096 87380 16777216"}), None, True)),
    "cpu.no-topology": ((None, setter("cpu", "cpus", []), False), (None, None, False)),
    "cpu.unknown-cpu": ((setter("cpu", "isolated", "1-3,5-7,9-11,13-16"), None, False),
                        (None, None, False)),
    "cpu.offline-cpu": ((None, offline(15), False),
                        (setter("cpu", "isolated", "1-3,5-7,9-11,13-14"), offline(15), False)),
    "cpu.sets-overlap": ((setter("cpu", "housekeeping", "0-1,4,8,12"), None, False),
                         (None, None, False)),
    "cpu.sets-incomplete": ((setter("cpu", "housekeeping", "0,4,8"), None, False),
                            (setter("cpu", "housekeeping", None), None, False)),
    "cpu.no-housekeeping": (
        (both(setter("cpu", "housekeeping", None), setter("cpu", "isolated", "0-15")), None,
         False),
        (both(setter("cpu", "housekeeping", None), setter("cpu", "isolated", "1-15")), None,
         False)),
    "cpu.smt-split": ((both(setter("cpu", "housekeeping", "0,4,12"),
                            setter("cpu", "isolated", "1-3,5-11,13-15")), None, False),
                      (None, None, False)),
    "cpu.cpu0-isolated": ((both(setter("cpu", "housekeeping", "4-7,12-15"),
                                setter("cpu", "isolated", "0-3,8-11")), None, False),
                          (None, None, False)),
    "cpu.smt-off-siblings": (
        (setter("cpu", "smt", "off"), None, False),
        (both(setter("cpu", "smt", "off"), setter("cpu", "housekeeping", "0,4"),
              setter("cpu", "isolated", "1-3,5-7")), None, False)),
    "cpu.governor-no-cpufreq": (
        (None, setter("cpu", "cpufreq", "policies", []), False),
        (both(setter("cpu", "governor", None), setter("cpu", "energy_perf_preference", None)),
         setter("cpu", "cpufreq", "policies", []), False)),
    "cpu.governor-unavailable": ((setter("cpu", "governor", "ondemand"), None, False),
                                 (setter("cpu", "governor", "powersave"), None, False)),
    "cpu.epp-unsupported": ((None, policies("epp", None), False),
                            (setter("cpu", "energy_perf_preference", None),
                             policies("epp", None), False)),
    "cpu.min-perf-pct-unsupported": (
        (None, setter("cpu", "boost", "min_perf_pct", None), False),
        (setter("cpu", "min_perf_pct", None), setter("cpu", "boost", "min_perf_pct", None),
         False)),
    "cpu.turbo-unsupported": (
        (None, setter("cpu", "boost", "no_turbo", None), False),
        (None, both(setter("cpu", "boost", "no_turbo", None),
                    setter("cpu", "boost", "boost", True)), False)),
    "cpu.unknown-cstate": ((setter("cpu", "disable_cstates", ["C7"]), None, False),
                           (setter("cpu", "disable_cstates", ["C1", "C6"]), None, False)),
    "kernel.mitigations-unacknowledged": (
        (setter("kernel", "mitigations", "off"), None, False),
        (both(setter("kernel", "mitigations", "off"),
              setter("kernel", "mitigations_risk_acknowledged", True)), None, False)),
    "kernel.boot-critical-token": (
        (setter("kernel", "cmdline_add", ["root=/dev/sdb1"]), None, False),
        (setter("kernel", "cmdline_add", ["init_on_alloc=0", "initcall_debug"]), None, False)),
    "kernel.dash-token": ((setter("kernel", "cmdline_add", ["-quiet"]), None, False),
                          (setter("kernel", "cmdline_add", ["quiet"]), None, False)),
    "kernel.cmdline-duplicates-knob": (
        (setter("kernel", "cmdline_add", ["skew_tick=1"]), None, False),
        (both(setter("kernel", "skew_tick", False),
              setter("kernel", "cmdline_add", ["skew_tick=1"])), None, False)),
    "kernel.cmdline-bad-cpulist": (
        (both(NOHZ_OFF, setter("kernel", "cmdline_add", ["nohz_full=abc"])), None, False),
        (both(NOHZ_OFF, setter("kernel", "cmdline_add", ["nohz_full=1-3"])), None, False)),
    "kernel.cmdline-cpus-outside-isolated": (
        (both(NOHZ_OFF, setter("kernel", "cmdline_add", ["nohz_full=0-3"])), None, False),
        (both(NOHZ_OFF, setter("kernel", "cmdline_add", ["nohz_full=1-3"])), None, False)),
    "kernel.nohz-full-unsupported": (
        (None, setter("kernel", "config", "CONFIG_NO_HZ_FULL", "n"), False),
        (None, setter("kernel", "config", "CONFIG_NO_HZ_FULL", None), False)),
    "kernel.rcu-nocbs-unsupported": (
        (None, setter("kernel", "config", "CONFIG_RCU_NOCB_CPU", "n"), False),
        (setter("kernel", "rcu_nocbs", False),
         setter("kernel", "config", "CONFIG_RCU_NOCB_CPU", "n"), False)),
    "kernel.tsc-reliable-unsafe": (
        (None, setter("cpu", "flags", "nonstop_tsc", False), False),
        (setter("kernel", "tsc_reliable", False), setter("cpu", "flags", "nonstop_tsc", False),
         False)),
    "kernel.pstate-wrong-vendor": (
        (setter("kernel", "intel_pstate", "passive"), setter("cpu", "vendor", "AuthenticAMD"),
         False),
        (setter("kernel", "intel_pstate", "passive"), None, False)),
    "kernel.rcu-nocb-poll-no-effect": (
        (both(setter("kernel", "rcu_nocb_poll", True), setter("kernel", "rcu_nocbs", False)),
         None, False),
        (setter("kernel", "rcu_nocb_poll", True), None, False)),
    "memory.hugepages-headroom": (
        (setter("memory", "hugepages", [{"size": "1G", "per_node": {"0": 25}}]), None, False),
        (setter("memory", "hugepages", [{"size": "1G", "per_node": {"0": 24}}]), None, False)),
    "memory.hugepages-unknown-node": (
        (setter("memory", "hugepages", [{"size": "2M", "per_node": {"7": 1}}]), None, False),
        (setter("memory", "hugepages", [{"size": "2M", "per_node": {"1": 1}}]), None, False)),
    "memory.hugepages-size-unsupported": (
        (setter("memory", "hugepages", [{"size": "1G", "count": 2}]), no_pool("1048576kB"),
         False),
        (setter("memory", "hugepages", [{"size": "2M", "count": 2}]), no_pool("1048576kB"),
         False)),
    "memory.hugepages-duplicate-size": (
        (setter("memory", "hugepages", [{"size": "2M", "count": 2},
                                        {"size": "2M", "per_node": {"0": 2}}]), None, False),
        (setter("memory", "hugepages", [{"size": "2M", "count": 2},
                                        {"size": "1G", "per_node": {"0": 2}}]), None, False)),
    "memory.hugepages-per-node-at-boot": (
        (setter("memory", "hugepages", [{"size": "1G", "per_node": {"0": 2}, "at_boot": True}]),
         None, False),
        (setter("memory", "hugepages", [{"size": "1G", "count": 2, "at_boot": True}]), None,
         False)),
    "memory.hugepages-memory-unknown": (
        (None, setter("numa", "nodes", 0, "memory_kb", None), False),
        (None, setter("numa", "nodes", 1, "memory_kb", None), False)),
    "irq.irqbalance-absent": (
        (None, setter("services", "units", "irqbalance.service", "load", "not-found"), False),
        (setter("irq", "irqbalance", "keep"),
         setter("services", "units", "irqbalance.service", "load", "not-found"), False)),
    "irq.irqbalance-moves-pins": (
        (setter("irq", "irqbalance", "ban"), None, False),
        (setter("irq", "irqbalance", "ban"),
         setter("services", "units", "irqbalance.service", "load", "not-found"), False)),
    "irq.default-affinity-isolated": (
        (setter("irq", "default_affinity", "0-1"), None, False),
        (setter("irq", "default_affinity", "0,4"), None, False)),
    "network.unknown-nic": ((eth(0, "match", {"name": "eth9"}), None, False),
                            (eth(0, "match", {"mac": "b8:ce:f6:00:00:01"}), None, False)),
    "network.duplicate-nic": ((eth(2, "match", {"pci": "0000:17:00.0"}), None, False),
                              (None, None, False)),
    "network.nic-node-no-housekeeping": (
        (both(setter("cpu", "housekeeping", "0,8"),
              setter("cpu", "isolated", "1-7,9-15")), None, False),
        (None, None, False)),
    "network.nic-irqs-on-isolated": (
        (drop("network", "interfaces", 0, "irq_cpus"), None, False),
        (drop("network", "interfaces", 0, "irq_cpus"),
         setter("irqs", "irqs", [{"irq": 100, "effective_affinity_list": [0]}]), False)),
    "network.unlisted-nic-irqs-on-isolated": (
        (drop("network", "interfaces", 1), None, False), (None, None, False)),
    "network.irq-cpus-remote": ((eth(0, "irq_cpus", "4,12"), None, False),
                                (eth(0, "irq_cpus", "0,8"), None, False)),
    "network.irq-cpus-isolated": ((eth(0, "irq_cpus", "1"), None, False),
                                  (eth(0, "irq_cpus", "0"), None, False)),
    "network.channels-exceed-max": ((eth(0, "channels", {"combined": 9}), None, False),
                                    (eth(0, "channels", {"combined": 8}), None, False)),
    "network.channels-zero": (
        (eth(0, "channels", {"combined": 0}), None, False),
        (eth(0, "channels", {"combined": 0, "rx": 4, "tx": 4}),
         snap_nic("eth0", "channels", BNXT_CHANNELS), False)),
    "network.rings-exceed-max": ((eth(0, "rings", {"rx": 4097, "tx": 512}), None, False),
                                 (eth(0, "rings", {"rx": 4096, "tx": 4096}), None, False)),
    "network.ethtool-unsupported": ((None, snap_nic("eth0", "channels", None), False),
                                    (None, ethtool_missing("eth0"), False)),
    "network.ethtool-unknown": ((None, ethtool_missing("eth0"), False), (None, None, False)),
    "network.coalesce-unsupported": (
        (eth(0, "coalesce", {"rx-frames-bogus": 1}), None, False),
        (eth(0, "coalesce", {"rx-usecs": 1, "tx-usecs": 1}), None, False)),
    "network.coalesce-type": ((eth(0, "coalesce", {"adaptive-rx": 0, "rx-usecs": True}), None,
                               False),
                              (eth(0, "coalesce", {"adaptive-rx": False, "rx-usecs": 0}), None,
                               False)),
    "network.offload-unknown": ((eth(0, "offloads", {"bogus-feature": False}), None, False),
                                (eth(0, "offloads", {"rx-gro": False, "tx": True}), None,
                                 False)),
    "network.offload-fixed": ((eth(0, "offloads", {"lro": True}), None, False),
                              (eth(0, "offloads", {"lro": False}), None, False)),
    "network.rps-on-isolated": ((eth(0, "rps_cpus", "1"), None, False),
                                (eth(0, "rps_cpus", ""), None, False)),
    "time.unknown-clocksource": ((setter("time", "clocksource", "acpi_pm"), None, False),
                                 (setter("time", "clocksource", "hpet"), None, False)),
    "time.ptp-unknown-interface": ((setter("time", "ptp", "interface", "eth9"), None, False),
                                   (None, None, False)),
    "time.ptp-no-phc": ((setter("time", "ptp", "interface", "eth1"), None, False),
                        (setter("time", "ptp", "interface", "eth1"),
                         snap_nic("eth1", "phc_index", 3), False)),
    "time.ntp-and-phc2sys": ((setter("services", "stop", []), None, False),
                             (both(setter("services", "stop", []),
                                   setter("time", "ptp", "manage_services", False)), None,
                              False)),
    "services.critical-unit": ((setter("services", "stop", ["chronyd.service", "sshd.service"]),
                                None, False), (None, None, False)),
    "services.unknown-unit": (
        (setter("services", "disable", ["foo.service"]), None, False),
        (setter("services", "disable", ["bar.service"]), None, False)),
    "sysctl.duplicates-knob": (
        (setter("sysctl", {"vm.swappiness": 5}), None, False),
        (both(setter("sysctl", {"vm.swappiness": 5}), setter("memory", "swappiness", None)),
         None, False)),
    "limits.duplicate-domain": (
        (setter("limits", [{"domain": "@trading", "rtprio": 99},
                           {"domain": "@trading", "memlock": "unlimited"}]), None, False),
        (setter("limits", [{"domain": "@trading", "rtprio": 99},
                           {"domain": "trading", "memlock": "unlimited"}]), None, False)),
    "limits.wildcard-unacknowledged": (
        (setter("limits", [{"domain": "*", "rtprio": 99}]), None, False),
        (both(setter("limits", [{"domain": "*", "rtprio": 99, "memlock": "unlimited"}]),
              setter("limits_risk_acknowledged", True)), None, False)),
    "limits.root-nofile-low": (
        (setter("limits", [{"domain": "root", "nofile": 1}]), None, False),
        (setter("limits", [{"domain": "root", "nofile": 1024}, {"domain": "*", "nofile": 1}]),
         None, False)),
    "tuned.missing": ((None, setter("services", "tuned", {"installed": False}), False),
                      (None, None, False)),
    "tuned.too-old": ((None, setter("services", "tuned", "version", "2.17.1"), False),
                      (None, setter("services", "tuned", "version", "2.18.0"), False)),
    "tuned.version-unknown": ((None, setter("services", "tuned", "version", None), False),
                              (None, setter("services", "tuned", {"installed": False,
                                                                  "source": "files"}),
                               False)),
    "tuned.base-profile-missing": (
        # The RHEL 9 package on RHEL 10's layout: the base sits where this tuned never looks.
        (None, both(setter("services", "tuned", "profile_dirs", NEW_LAYOUT),
                    setter("services", "tuned", "profiles", {
                        "lltune": [], "network-latency": ["/usr/lib/tuned/profiles"]})),
         False),
        (None, both(setter("services", "tuned", "profile_dirs", NEW_LAYOUT),
                    setter("services", "tuned", "profiles", {
                        "lltune": ["/usr/lib/tuned/profiles"],
                        "network-latency": ["/usr/lib/tuned/profiles"]})), False)),
    "tuned.include-missing": (
        (setter("tuned", "base_profile", "realtime"),
         setter("services", "tuned", "profiles", {"lltune": ["/usr/lib/tuned"],
                                                  "realtime": []}), False),
        (setter("tuned", "base_profile", "realtime"),
         setter("services", "tuned", "profiles", {"lltune": ["/usr/lib/tuned"],
                                                  "realtime": ["/usr/lib/tuned"]}), False)),
    "tuned.bootloader-inactive": (
        (None, setter("services", "tuned", "bootloader", {"grub_tuned_script": False}), False),
        (None, setter("services", "tuned", "bootloader", {"grub_tuned_script": True}), False)),
    "tuned.bls-without-tuned-params": (
        (None, setter("services", "tuned", "bootloader", {"bls_entries": [
            {"name": MACHINE + "-5.14.0.conf", "machine_id": MACHINE,
             "tuned_params": False}], "machine_id": MACHINE}), False),
        (None, setter("services", "tuned", "bootloader", {"bls_entries": [
            {"name": MACHINE + "-5.14.0.conf", "machine_id": MACHINE,
             "tuned_params": True}], "machine_id": MACHINE}), False)),
    "kernel.cmdline-remove-unremovable": (
        (setter("kernel", "cmdline_remove", ["quiet"]),
         setter("services", "tuned", "bootloader", {"grub_cmdline": ["quiet"]}), False),
        (setter("kernel", "cmdline_remove", ["rcupdate.rcu_normal_after_boot=1"]),
         setter("services", "tuned", "profile_contents", NETWORK_LATENCY_225), False)),
    "sysctl.site-file-overrides": (
        (None, setter("kernel", "sysctl_files", [
            {"file": "/etc/sysctl.d/99-site.conf", "line": 3, "key": "vm.swappiness",
             "value": "30"}]), False),
        # /usr/lib/sysctl.d applies at boot only: tuned's profile wins over it.
        (None, setter("kernel", "sysctl_files", [
            {"file": "/usr/lib/sysctl.d/50-default.conf", "line": 3, "key": "vm.swappiness",
             "value": "30"}]), False)),
    "cpu.workload-regex-invalid": (
        (setter("cpu", "workload_processes", ["^trader(", "^md"]), None, False),
        (setter("cpu", "workload_processes", ["^trader$", "^md-feed"]), None, False)),
    "kernel.rt-throttling-without-stalld": (
        (setter("kernel", "sched_rt_runtime_us", -1),
         setter("services", "units", "stalld.service", {"load": "not-found"}), False),
        (setter("kernel", "rt_throttling_off_acknowledged", True),
         setter("services", "units", "stalld.service", {"load": "not-found"}), False)),
    "cpu.idle-poll-smt-active": (
        (setter("cpu", "idle_poll", True), None, False),
        (both(setter("cpu", "idle_poll", True), setter("cpu", "smt", "off")), None, False)),
    "tuned.bls-other-machine-id": (
        (None, setter("services", "tuned", "bootloader", {"bls_entries": [
            {"name": "f" * 32 + "-5.14.0.conf", "machine_id": "f" * 32,
             "tuned_params": True}], "machine_id": MACHINE}), False),
        (None, setter("services", "tuned", "bootloader", {"bls_entries": [
            {"name": MACHINE + "-5.14.0.conf", "machine_id": MACHINE,
             "tuned_params": True}], "machine_id": MACHINE}), False)),
}


def test_bootloader_checks_stay_quiet_without_kernel_parameters():
    """Nothing for the next boot (no isolation, every cmdline knob off): no warning."""
    quiet = both(setter("cpu", "isolated", None), setter("cpu", "housekeeping", None),
                 *[setter("kernel", name, value) for name, value in (
                     ("skew_tick", False), ("tsc_reliable", False), ("nosoftlockup", False),
                     ("nmi_watchdog", True), ("irqaffinity", False), ("intel_pstate", None))],
                 setter("memory", "hugepages", []))
    found = codes(run(quiet, setter("services", "tuned", "bootloader",
                                    {"grub_tuned_script": False})))
    assert "tuned.bootloader-inactive" not in found


def test_the_clean_config_has_no_findings():
    assert run() == []


def test_every_check_has_a_trigger_and_a_near_miss():
    assert sorted(CASES) == sorted(CHECKS)


@pytest.mark.parametrize("code", sorted(CASES))
def test_check_triggers(code):
    config_change, snapshot_change, raw = CASES[code][0]
    findings = [f for f in run(config_change, snapshot_change, raw) if f.code == code]
    assert findings, code
    assert all(f.severity == CHECKS[code][0] for f in findings)
    for finding in findings:
        assert "\n" not in finding.line() and finding.message


@pytest.mark.parametrize("code", sorted(CASES))
def test_check_near_miss_does_not_trigger(code):
    config_change, snapshot_change, raw = CASES[code][1]
    assert code not in codes(run(config_change, snapshot_change, raw))


# ------------------------------------------------------------------ specific rules


def test_headroom_rule():
    assert hugepage_limit_kb(32 * GIB_KB) == 24 * GIB_KB  # a quarter stays
    assert hugepage_limit_kb(4 * GIB_KB) == 2 * GIB_KB  # at least 2 GiB stays
    assert hugepage_limit_kb(GIB_KB) == 0


def test_a_global_count_is_spread_over_the_nodes():
    # 48 x 1G over two 32 GiB nodes: 24 each, exactly at the limit; 50 is over.
    assert "memory.hugepages-headroom" not in codes(
        run(setter("memory", "hugepages", [{"size": "1G", "count": 48, "at_boot": True}])))
    assert "memory.hugepages-headroom" in codes(
        run(setter("memory", "hugepages", [{"size": "1G", "count": 50, "at_boot": True}])))


def test_1g_pages_need_pdpe1gb_on_x86():
    findings = run(setter("memory", "hugepages", [{"size": "1G", "count": 1}]),
                   setter("cpu", "flags", "pdpe1gb", False))
    assert "memory.hugepages-size-unsupported" in codes(findings)


@pytest.mark.parametrize("token", [
    "init=/bin/sh", "rd.break", "BOOT_IMAGE=/vmlinuz", "ro", "rw", "--",
    "systemd.unit=rescue.target", "single", "resume=/dev/sda2",
    # Memory, CPUs, drivers and the console: the host boots, but unusable.
    "mem=1M", "memmap=exactmap", "maxcpus=1", "nr_cpus=1", "nosmp", "module_blacklist=nvme",
    "modprobe.blacklist=mlx5_core", "rd.driver.blacklist=nvme", "systemd.mask=sshd.service",
    "console=ttyS9", "panic=0", "rootdelay=5", "rootfstype=xfs", "initrd=/x.img",
    "initcall_blacklist=pci_init", "emergency", "3", "fips=1", "resume_offset=1"])
def test_boot_critical_tokens(token):
    for section in ("cmdline_add", "cmdline_remove"):
        assert "kernel.boot-critical-token" in codes(run(setter("kernel", section, [token])))


@pytest.mark.parametrize("token", ["quiet", "init_on_alloc=0", "initcall_debug",
                                   "consoleblank=0", "memhp_default_state=online",
                                   "intel_iommu=on", "iommu=pt", "nowatchdog", "rcupdate."
                                   "rcu_normal_after_boot=1", "acpi_enforce_resources=lax"])
def test_tokens_that_are_not_boot_critical(token):
    assert "kernel.boot-critical-token" not in codes(
        run(setter("kernel", "cmdline_add", [token])))


@pytest.mark.parametrize("token", ["mitigations=off", "nopti", "nospectre_v2",
                                   "spectre_v2=off", "mds=off"])
def test_mitigation_tokens_need_the_acknowledgement(token):
    add = setter("kernel", "cmdline_add", [token])
    assert "kernel.mitigations-unacknowledged" in codes(run(add))
    assert "kernel.mitigations-unacknowledged" not in codes(
        run(both(add, setter("kernel", "mitigations_risk_acknowledged", True))))


@pytest.mark.parametrize("token", ["isolcpus=managed_irq,domain,0-3", "rcu_nocbs=0-3",
                                   "nohz_full=1-4"])
def test_hand_written_isolation_must_stay_isolated(token):
    change = both(setter("kernel", "isolcpus", False), setter("kernel", "rcu_nocbs", False),
                  NOHZ_OFF, setter("kernel", "cmdline_add", [token]))
    assert "kernel.cmdline-cpus-outside-isolated" in codes(run(change))


def test_tuned_is_info_for_an_offline_snapshot():
    offline_source = setter("source", {"kind": "root", "path": "/mnt"})
    for tuned in ({"installed": False}, {"installed": True, "version": "2.10.0"}):
        findings = run(None, both(offline_source, setter("services", "tuned", tuned)))
        tuned_findings = [f for f in findings if f.code.startswith("tuned.")]
        assert tuned_findings and all(f.severity == "info" for f in tuned_findings)


def test_tsc_reliable_on_arm_warns():
    assert "kernel.tsc-reliable-unsafe" in codes(run(None, setter("host", "architecture",
                                                                   "aarch64")))


def test_a_trailing_newline_in_a_name_is_unsafe():
    findings = run(eth(0, "match", {"name": "eth0\n"}), None, True)
    assert "safety.unsafe-value" in codes(findings)


@pytest.mark.parametrize("channels, nic_channels, key", [
    ({"combined": 0}, None, "combined"),  # mlx5: rx 0, tx 0 now
    ({"combined": 0, "rx": 4}, None, "combined"),  # still no tx queue
    ({"rx": 0}, BNXT_CHANNELS, "rx"),  # combined 0 now: nothing left to receive on
    ({"combined": 0}, "unknown", "combined"),  # no ethtool answer: counted as 0
    ({"rx": 0, "tx": 0, "combined": 4}, BNXT_CHANNELS, None),  # bnxt to combined queues
    ({"combined": 0, "rx": 4, "tx": 4}, None, None),  # ... and back
    ({"rx": 0, "tx": 0}, None, None),  # mlx5 keeps its 8 combined
    ({"combined": 2}, None, None),
])
def test_channels_must_leave_an_rx_and_a_tx_queue(channels, nic_channels, key):
    change = None
    if nic_channels == "unknown":
        change = ethtool_missing("eth0")
    elif nic_channels:
        change = snap_nic("eth0", "channels", nic_channels)
    findings = [f for f in run(eth(0, "channels", channels), change)
                if f.code == "network.channels-zero"]
    if key is None:
        assert findings == []
    else:
        assert [f.key for f in findings] == ["network.interfaces[0].channels." + key]
        assert "eth0 would have no" in findings[0].message


def test_findings_name_the_line_of_the_key():
    text = yaml.safe_dump(make_config(), sort_keys=False).replace("combined: 2", "combined: 99")
    config = load_text(text, "c.yaml")
    finding = next(f for f in audit(config, make_snapshot())
                   if f.code == "network.channels-exceed-max")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if "combined: 99" in row)
    assert finding.where.startswith("c.yaml:%d:" % line)
    assert finding.key == "network.interfaces[0].channels.combined"
    assert finding.evidence and "combined 8" in finding.evidence[0]


def test_errors_come_first():
    findings = run(both(setter("cpu", "housekeeping", "0,4,12"),
                        setter("cpu", "isolated", "1-3,5-11,13-15"),
                        setter("kernel", "cmdline_add", ["root=/dev/sdb"])))
    severities = [f.severity for f in findings]
    assert severities == sorted(severities, key=("error", "warning", "info").index)
    assert severities[0] == "error" and "warning" in severities


def test_text_line_format():
    finding = Finding("warning", "cpu.smt-split", "c.yaml:3:13", "cpu.isolated", "split",
                      ["siblings 0,8"])
    assert finding.line() == "WARNING cpu.smt-split c.yaml:3:13: split (siblings 0,8)"


def test_audit_survives_a_sparse_snapshot():
    sparse = {"schema_version": 1, "source": {"kind": "capture", "path": "x"}, "nics": None,
              "cpu": {"cpus": [{"id": 0, "online": True}]}}
    config = load_text(yaml.safe_dump(make_config()), "c.yaml")
    findings = audit(config, sparse)
    assert "network.unknown-nic" in codes(findings)


def test_json_output_matches_its_schema():
    import jsonschema

    with open(SCHEMA, encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft7Validator.check_schema(schema)
    config = load_text(yaml.safe_dump(make_config()), "c.yaml")
    for change in (None, setter("cpu", "cpus", [])):
        snapshot = make_snapshot()
        if change:
            change(snapshot)
        findings = audit(config, snapshot)
        jsonschema.validate(audit_module.as_json(findings, config, snapshot), schema)


def test_schema_lists_every_code():
    with open(SCHEMA, encoding="utf-8") as handle:
        schema = json.load(handle)
    listed = schema["properties"]["findings"]["items"]["properties"]["code"]["enum"]
    assert listed == sorted(CHECKS), "update lltune/audit/audit.schema.json's code enum"


def test_schema_audit_subcommand_prints_it(capsys):
    assert main(["schema", "audit"]) == 0
    with open(SCHEMA, encoding="utf-8") as handle:
        assert json.loads(capsys.readouterr().out) == json.load(handle)


# ------------------------------------------------------------------ the command


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """A scanned example host (a real snapshot file, as `audit --snapshot` reads)."""
    from tests.conftest import scan_root
    from tests.unit.hosts_for_examples import build_named

    base = tmp_path_factory.mktemp("audit-host")
    probes = build_named("lab-template", str(base))
    snapshot = scan_root(base / "root", probes)
    path = base / "snapshot.json"
    path.write_text(json.dumps(snapshot))
    return str(path)


LAB = os.path.join(REPO, "examples", "lab-template.yaml")


def test_cli_clean_config_exits_0(host, capsys):
    assert main(["audit", "-c", LAB, "--snapshot", host]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "0 errors" in captured.err


def test_cli_errors_exit_1_one_line_each(host, tmp_path, capsys):
    text = read(LAB).replace("isolated: 1-7,9-15",
                                                      "isolated: 1-7,9-16")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert main(["audit", "-c", str(path), "--snapshot", host]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.split(" ", 3)[0] in ("ERROR", "WARNING", "INFO")
                         for line in lines)
    first = lines[0].split(" ")
    assert first[0] == "ERROR" and first[1] == "cpu.unknown-cpu"
    assert first[2].startswith(str(path) + ":") and first[2].endswith(":")


def test_cli_json_validates(host, tmp_path, capsys):
    import jsonschema

    text = read(LAB).replace("channels: {combined: 2}",
                                                      "channels: {combined: 65}")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert main(["audit", "-c", str(path), "--snapshot", host, "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    with open(SCHEMA, encoding="utf-8") as handle:
        jsonschema.validate(document, json.load(handle))
    assert document["exit_code"] == 1 and document["counts"]["error"] == 1
    assert document["findings"][0]["code"] == "network.channels-exceed-max"


@pytest.mark.parametrize("content, message", [
    ("version: 1\ncpu:\n  bogus: 1\n", ":3:3: cpu.bogus: unknown key 'bogus'"),
    ("version: 2\n", ":1:1: version: 1 was expected"),
])
def test_cli_schema_errors_exit_2_before_any_check(host, tmp_path, capsys, content, message):
    path = tmp_path / "c.yaml"
    path.write_text(content)
    assert main(["audit", "-c", str(path), "--snapshot", host, "--format", "json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert str(path) + message in captured.err


def test_cli_bad_snapshot_exits_2(tmp_path, capsys):
    snapshot = tmp_path / "s.json"
    snapshot.write_text('{"schema_version": 1}')
    assert main(["audit", "-c", LAB, "--snapshot", str(snapshot)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "s.json" in err


# ------------------------------------------------------------------ the safety gate (issue 13)

# Each passed audit before: names compared literally although the kernel reads '-' as '_'
# (kernel/params.c parameq), keys missing from the lists, mitigation switches beyond them.
GATE_BOOT_CRITICAL = ["nr-cpus=1", "module-blacklist=virtio_blk", "possible-cpus=1",
                      "initcall-blacklist=ahci_init", "rdinit=/bin/sh", "mem=1G",
                      "module.sig_enforce=1", "net.ifnames=0", "ip=dhcp", "--"]
GATE_MITIGATIONS = ["nospectre-v2", "spectre-v2=off", "spectre_v2=off", "tsx-async-abort=off",
                    "indirect_target_selection=off", "tsa=off", "vmscape=off",
                    "kvm.nx_huge_pages=off", "kvm.nx-huge-pages=0", "kpti=off",
                    "mitigations=auto,no_user_kernel", "kvm-intel.vmentry_l1d_flush=never",
                    "spec-store-bypass-disable=off", "ssbd=force-off"]
GATE_UNITS = ["dbus.socket", "dbus.service", "dbus-broker.service", "messagebus.service",
              "systemd-journald.socket", "systemd-journald-dev-log.socket",
              "systemd-journald-audit.socket", "systemd-logind.service", "ssh.service",
              "sshd.socket", "sshd.service", "NetworkManager.service", "networking.service",
              "systemd-networkd.socket", "tuned.service", "lltune-verify.timer",
              "lltune-verify.service"]


@pytest.mark.parametrize("token", GATE_BOOT_CRITICAL)
@pytest.mark.parametrize("section", ["cmdline_add", "cmdline_remove"])
def test_boot_critical_names_are_compared_as_the_kernel_does(token, section):
    found = run(setter("kernel", section, [token]))
    assert "kernel.boot-critical-token" in codes(found), token


@pytest.mark.parametrize("token", GATE_MITIGATIONS)
def test_every_mitigation_switch_needs_the_acknowledgement(token):
    assert "kernel.mitigations-unacknowledged" in codes(
        run(setter("kernel", "cmdline_add", [token])))
    assert "kernel.mitigations-unacknowledged" not in codes(
        run(both(setter("kernel", "cmdline_add", [token]),
                 setter("kernel", "mitigations_risk_acknowledged", True))))


@pytest.mark.parametrize("token", ["spectre_v2=retpoline", "mitigations=auto,nosmt", "kpti=1",
                                   "tsa=on", "init_on_alloc=0", "rd_NO_PLYMOUTH=1"])
def test_near_misses_of_the_gate_pass(token):
    found = codes(run(setter("kernel", "cmdline_add", [token])))
    assert not found & {"kernel.mitigations-unacknowledged", "kernel.boot-critical-token"}, token


@pytest.mark.parametrize("unit", GATE_UNITS)
@pytest.mark.parametrize("section", ["stop", "disable"])
def test_units_that_cut_the_host_off_are_refused(unit, section):
    assert "services.critical-unit" in codes(run(setter("services", section, [unit])))


def test_a_wildcard_memlock_needs_the_acknowledgement_and_root_keeps_its_files():
    assert "limits.wildcard-unacknowledged" in codes(
        run(setter("limits", [{"domain": "*", "memlock": "unlimited"}])))
    assert "limits.wildcard-unacknowledged" not in codes(
        run(setter("limits", [{"domain": "*", "rtprio": 0, "memlock": 1024}])))
    assert "limits.root-nofile-low" in codes(
        run(setter("limits", [{"domain": "root", "nofile": 1023}])))

