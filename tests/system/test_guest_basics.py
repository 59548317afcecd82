"""First system tests: the guest boots with the topology the rig promises, tuned runs, lltune
scans it, and a reboot keeps the guest's state (and plays GRUB's part for tuned's cmdline)."""

import json
import re
import uuid

import pytest

# What rig.Guest.qemu_argv gives the guest.
VIRTIO_MACS = {"52:54:00:4c:4c:01", "52:54:00:4c:4c:02"}
E1000E_MAC = "52:54:00:4c:4c:03"

# These check the guest as the rig makes it: they run before other guest tests change it.
pytestmark = pytest.mark.rig_early
SCAN = "scan --format json --output - --quiet"


def tuned_active(guest) -> str:
    res = guest.run("tuned-adm active", timeout=120, check=True)
    m = re.search(r"Current active profile: (.*)", res.stdout)
    assert m, res
    return m.group(1).strip()


def test_guest_boots(guest):
    assert guest.ready["boot_id"]
    assert "rig.run=1" in guest.ready["cmdline"]
    res = guest.run("uname -r; cat /etc/hostname; systemctl is-system-running --wait",
                    timeout=180)
    lines = res.stdout.split()
    assert lines[1] == "lltune-guest", res
    if lines[2] != "running":
        failed = guest.run("systemctl --failed --no-legend --plain", timeout=60).stdout
        pytest.fail("the guest's systemd state is %s; failed units:\n%s" % (lines[2], failed))


@pytest.fixture(scope="module")
def active_profile(guest):
    """What `tuned-adm active` says (each call costs TCG 5-7 s: asked once per module)."""
    return tuned_active(guest)


def test_tuned_is_running(guest, active_profile):
    assert guest.run("systemctl is-active tuned", timeout=60).stdout.strip() == "active"
    assert active_profile


def test_guest_topology(guest):
    """What the guest kernel sees, independent of lltune: 4 CPUs in 2 sockets, 2 NUMA
    nodes, two 4-queue virtio NICs and one e1000e."""
    res = guest.run(
        "cat /sys/devices/system/cpu/online;"
        " cat /sys/devices/system/cpu/cpu*/topology/physical_package_id | sort -u | wc -l;"
        " cat /sys/devices/system/node/node0/cpulist /sys/devices/system/node/node1/cpulist",
        timeout=60, check=True)
    assert res.stdout.split() == ["0-3", "2", "0-1", "2-3"], res
    res = guest.run(
        "for n in /sys/class/net/*; do [ -e $n/device ] || continue;"
        " echo $(basename $n) $(cat $n/address) $(basename $(readlink $n/device/driver));"
        " done", timeout=60, check=True)
    nics = {mac: (name, driver) for name, mac, driver in
            (line.split() for line in res.stdout.splitlines())}
    assert set(nics) == VIRTIO_MACS | {E1000E_MAC}, res
    assert nics[E1000E_MAC][1] == "e1000e"
    # What the e1000e is there for: a PTP hardware clock, interrupt coalescing, pause.
    e1000e = nics[E1000E_MAC][0]
    res = guest.run("ethtool -T {0}; ethtool -c {0}; ethtool -a {0}".format(e1000e),
                    timeout=60, check=True)
    assert re.search(r"PTP Hardware Clock: \d+", res.stdout), res
    assert re.search(r"rx-usecs:\s+\d+", res.stdout), res
    assert "Autonegotiate:" in res.stdout, res
    for mac in VIRTIO_MACS:
        name, driver = nics[mac]
        assert driver == "virtio_net"
        chan = guest.run("ethtool -l %s" % name, timeout=60, check=True).stdout
        assert re.findall(r"Combined:\s+(\d+)", chan) == ["4", "4"], chan


@pytest.fixture(scope="module")
def snapshot(guest):
    """`lltune scan` run in the guest from the shared source tree, parsed."""
    res = guest.lltune(SCAN, timeout=300)
    if res.rc != 0 and "No module named lltune" in res.stderr:
        pytest.skip("WAITING: lltune is not in the source tree yet")
    assert res.rc == 0, res
    return json.loads(res.stdout)


def test_scan_cpus_and_numa(snapshot):
    cpus = snapshot["cpu"]["cpus"]
    assert sorted(c["id"] for c in cpus) == [0, 1, 2, 3]
    assert all(c["online"] for c in cpus)
    assert len({c["package"] for c in cpus}) == 2
    assert {c["id"]: c["node"] for c in cpus} == {0: 0, 1: 0, 2: 1, 3: 1}
    assert all(c["siblings"] == [c["id"]] for c in cpus)  # threads=1
    nodes = {n["id"]: sorted(n["cpus"]) for n in snapshot["numa"]["nodes"]}
    assert nodes == {0: [0, 1], 1: [2, 3]}


def test_scan_nics(snapshot):
    by_mac = {n.get("mac"): n for n in snapshot["nics"]}
    virtio = [n for n in snapshot["nics"] if n["driver"] == "virtio_net"]
    assert len(virtio) == 2, snapshot["nics"]
    for nic in virtio:
        assert nic["pci_address"], nic
        assert nic["queues"] == {"rx": 4, "tx": 4}, nic
        assert nic["channels"]["max"]["combined"] == 4, nic
        assert nic["channels"]["current"]["combined"] == 4, nic
    e1000e = [n for n in snapshot["nics"] if n["driver"] == "e1000e"]
    assert len(e1000e) == 1, snapshot["nics"]
    if by_mac.get(E1000E_MAC) is not None:  # mac is an extra field, not in the contract
        assert by_mac[E1000E_MAC]["driver"] == "e1000e"
    # The whole machine is on PCI bus 0, which has no NUMA affinity in QEMU's tables.
    for nic in virtio + e1000e:
        assert nic["numa_node"] in (None, 0), nic


def test_scan_tuned_profile_matches_tuned_adm(snapshot, active_profile):
    assert snapshot["services"]["tuned"]["active_profile"] == active_profile


def test_reboot_keeps_state_and_plays_grub(guest):
    """A file and a tuned profile survive a reboot; with cmdline_from_bootcmdline the
    next boot gets tuned's TUNED_BOOT_CMDLINE (network-latency adds skew_tick=1)."""
    before = tuned_active(guest)
    token = uuid.uuid4().hex
    guest.run("echo %s > /root/rig-marker && sync" % token, timeout=60, check=True)
    guest.run("tuned-adm profile network-latency", timeout=600, check=True)
    assert "skew_tick=1" in guest.tuned_boot_cmdline()
    old_boot = guest.ready["boot_id"]
    try:
        guest.reboot(cmdline_from_bootcmdline=True)
        assert guest.ready["boot_id"] != old_boot
        assert guest.run("cat /root/rig-marker", timeout=60).stdout.strip() == token
        assert tuned_active(guest) == "network-latency"
        cmdline = guest.run("cat /proc/cmdline", timeout=60).stdout.split()
        assert "skew_tick=1" in cmdline, cmdline
        # tuned re-applied the profile at boot: one of network-latency's sysctls (2.20).
        assert guest.run("sysctl -n net.core.busy_read", timeout=60).stdout.strip() == "50"
    finally:
        if guest.running():
            guest.run("rm -f /root/rig-marker; tuned-adm profile %s" % before, timeout=600)
