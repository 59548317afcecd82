"""Scanning this machine for real, as root and as an unprivileged user."""

import json
import os

import pytest

from lltune.host.reader import RootReader
from lltune.host.scan import scan
from lltune.model.snapshot import validate


def _physical_nics():
    names = []
    for name in sorted(os.listdir("/sys/class/net")):
        real = os.path.realpath("/sys/class/net/" + name)
        if not real.startswith("/sys/devices/virtual/") and \
                os.path.exists("/sys/class/net/%s/device" % name):
            names.append(name)
    return names


def _online_cpus():
    return _count_list(_read("/sys/devices/system/cpu/online"))


def _count_list(text):
    total = 0
    for part in text.strip().split(","):
        first, _, last = part.partition("-")
        total += int(last or first) - int(first) + 1
    return total


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def assert_filled(snapshot):
    """Every section this kind of machine can answer is answered."""
    assert snapshot["collector_errors"] == []
    validate(snapshot, "live")
    assert snapshot["host"]["hostname"] == _read("/proc/sys/kernel/hostname").strip()
    assert snapshot["host"]["kernel"]["release"] == os.uname().release
    assert snapshot["host"]["architecture"] == os.uname().machine
    assert snapshot["kernel"]["cmdline"] == _read("/proc/cmdline").split()
    assert sum(c["online"] for c in snapshot["cpu"]["cpus"]) == _online_cpus()
    assert all(c["package"] is not None and c["siblings"] for c in snapshot["cpu"]["cpus"]
               if c["online"])
    assert snapshot["numa"]["nodes"] and snapshot["numa"]["nodes"][0]["cpus"]
    assert snapshot["memory"]["meminfo_kb"]["MemTotal"] > 0
    assert snapshot["memory"]["thp"]["enabled"] in ("always", "madvise", "never")
    assert snapshot["kernel"]["sysctls"]["vm.swappiness"] is not None
    assert snapshot["kernel"]["clocksource"]["current"]
    assert snapshot["irqs"]["irqs"], "/proc/interrupts has rows"
    assert all(r["smp_affinity_list"] is not None for r in snapshot["irqs"]["irqs"])
    assert [n["name"] for n in snapshot["nics"]] == _physical_nics()
    for nic in snapshot["nics"]:
        assert nic["driver"] and nic["queues"]["rx"] >= 1 and nic["mtu"]
        assert nic["features"], "ethtool features read over the ioctl"
    assert snapshot["kthreads"]["bound"], "per-CPU kernel threads were found"
    assert snapshot["services"]["source"] in ("dbus", "files")


def test_live_scan_as_root():
    if os.geteuid() != 0:
        pytest.skip("runs as root; the unprivileged case is the next test")
    assert_filled(scan(RootReader("/"), {"kind": "live", "path": "/"}))


def test_live_scan_as_an_unprivileged_user():
    """Fork, drop to nobody, scan, send the snapshot back through a pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        status = 1
        try:
            os.close(read_end)
            if os.geteuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            snapshot = scan(RootReader("/"), {"kind": "live", "path": "/"})
            with os.fdopen(write_end, "w") as out:
                json.dump({"uid": os.geteuid(), "snapshot": snapshot}, out)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert status == 0, "the unprivileged scan failed"
    result = json.loads(data)
    assert result["uid"] != 0
    assert_filled(result["snapshot"])
