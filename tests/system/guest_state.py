"""Run inside the guest: print, as JSON, everything lltune may change on a host.

The system tests compare two of these (before and after `apply --plan`, before apply and after
rollback): file hashes under /etc, the sysctls and sysfs values lltune manages, each NIC's
ethtool settings and every IRQ's affinity. Deliberately independent of lltune's own code.
"""

import glob
import hashlib
import json
import os
import subprocess
import sys

SYSCTLS = [
    "kernel/sched_rt_runtime_us", "kernel/timer_migration", "kernel/numa_balancing",
    "kernel/nmi_watchdog", "kernel/hung_task_timeout_secs", "vm/stat_interval",
    "vm/swappiness", "vm/zone_reclaim_mode", "vm/dirty_ratio", "vm/dirty_background_ratio",
    "net/core/busy_poll", "net/core/busy_read", "net/ipv4/tcp_fastopen",
]
SYSFS = [
    "/sys/kernel/mm/transparent_hugepage/enabled", "/sys/kernel/mm/transparent_hugepage/defrag",
    "/sys/kernel/mm/ksm/run", "/sys/devices/virtual/workqueue/cpumask",
    "/sys/bus/workqueue/devices/writeback/cpumask", "/proc/irq/default_smp_affinity",
    "/sys/devices/system/clocksource/clocksource0/current_clocksource",
    "/sys/devices/system/machinecheck/machinecheck0/ignore_ce",
]
# The units lltune may start or stop (those a test adds included; absent ones read
# "inactive").
UNITS = ("irqbalance", "tuned", "ptp4l", "phc2sys", "stalld", "lltune-workload")
# Files that change without anyone touching the host's configuration.
VOLATILE_ETC = ("/etc/ld.so.cache", "/etc/adjtime", "/etc/mtab")


def read(path):
    try:
        with open(path) as handle:
            return handle.read().strip()
    except OSError as exc:
        return "<%s>" % exc.strerror


def etc_dirs(top="/etc"):
    """Every directory under /etc: a drop-in directory left behind shows here."""
    return sorted(directory for directory, _, _ in os.walk(top))


def etc_hashes(top="/etc"):
    hashes = {}
    for directory, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(directory, name)
            if path in VOLATILE_ETC or os.path.islink(path):
                continue
            try:
                with open(path, "rb") as handle:
                    hashes[path] = hashlib.sha256(handle.read()).hexdigest()
            except OSError:
                continue
    return hashes


def nics():
    result = {}
    for path in sorted(glob.glob("/sys/class/net/*/device")):
        name = path.split("/")[4]
        entry = {}
        for flag in ("-k", "-c", "-l", "-g"):
            done = subprocess.run(["ethtool", flag, name], capture_output=True, text=True,
                                  check=False)
            entry[flag] = done.stdout
        entry["rps"] = {q: read("/sys/class/net/%s/queues/%s/rps_cpus" % (name, q))
                        for q in sorted(os.listdir("/sys/class/net/%s/queues" % name))
                        if q.startswith("rx-")}
        result[name] = entry
    return result


def irqs():
    return {irq: read("/proc/irq/%s/smp_affinity_list" % irq)
            for irq in sorted(os.listdir("/proc/irq")) if irq.isdigit()}


def cpuidle():
    return {path: read(path) for path in
            sorted(glob.glob("/sys/devices/system/cpu/cpu*/cpuidle/state*/disable"))}


def services():
    """Each unit's is-active answer under its name, and its is-enabled one under "NAME
    enabled" (rollback owes both back)."""
    done = subprocess.run(["systemctl", "is-active"] + list(UNITS),
                          capture_output=True, text=True, timeout=60, check=False)
    states = dict(zip(UNITS, done.stdout.split()))
    for unit in UNITS:  # one at a time: a unit with no file answers on stderr only
        done = subprocess.run(["systemctl", "is-enabled", unit], capture_output=True,
                              text=True, timeout=60, check=False)
        states[unit + " enabled"] = done.stdout.strip() or "not-found"
    return states


def hook_state():
    """What lltune's hook still holds to restore: nothing once its stop has run."""
    try:
        return sorted(os.listdir("/var/lib/lltune/hook-state"))
    except FileNotFoundError:
        return []


def main():
    state = {
        "etc": etc_hashes(),
        "etc_dirs": etc_dirs(),
        "sysctl": {name: read("/proc/sys/" + name) for name in SYSCTLS},
        "sysfs": {path: read(path) for path in SYSFS},
        "cpuidle": cpuidle(),
        "nics": nics(),
        "irqs": irqs(),
        "services": services(),
        "hook_state": hook_state(),
        "swaps": read("/proc/swaps"),
        "active_profile": read("/etc/tuned/active_profile"),
    }
    json.dump(state, sys.stdout, sort_keys=True)


if __name__ == "__main__":
    main()
