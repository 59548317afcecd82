"""tuned as each guest suite has it: Debian 12's tuned 2.20 (RHEL 9's profile layout) and
Debian 13's tuned 2.25.1 (RHEL 10's). Its version, where its profiles live, the plugins it
can load (what lltune's profiles use), a custom profile in the admin's profile directory
applied with `tuned-adm profile`, its [script] run, and the switch back. Each test puts the
guest back as it found it (the profile it had, no files left)."""

import json
import re
import uuid

import pytest

# What the suites' tuned packages are; guest.info has the rest (image.SUITE_INFO).
EXPECTED_VERSION = {"bookworm": r"2\.20\.\d+", "trixie": r"2\.25\.1"}
# Every plugin the lltune profiles and tests use, on both suites.
PLUGINS = {"scheduler", "irqbalance", "sysfs", "sysctl", "net", "bootloader", "script",
           "service", "systemd", "cpu", "vm"}
# tuned 2.23 added [irq] (per-IRQ affinity with verify and restore).
PLUGINS_FROM_2_23 = {"irq"}
# Stock profiles lltune builds on.
STOCK = ("network-latency", "latency-performance", "cpu-partitioning", "realtime",
         "virtual-guest")


def active(guest) -> str:
    res = guest.run("tuned-adm active", timeout=300, check=True)
    match = re.search(r"Current active profile: (.*)", res.stdout)
    assert match, res
    return match.group(1).strip()


def test_tuned_version(guest):
    """The version the rig reads from tuned's files at boot is tuned's own."""
    assert re.fullmatch(EXPECTED_VERSION[guest.suite], guest.tuned_version), guest.ready
    assert guest.tuned_version.startswith(guest.info.tuned + ".")
    res = guest.run("dpkg-query -W -f '${Version}' tuned; echo; cat /etc/os-release",
                    timeout=60, check=True)
    assert res.stdout.startswith(guest.tuned_version + "-"), res
    assert 'VERSION_ID="%s"' % guest.info.debian in res.stdout, res
    assert guest.debian_version.split(".")[0] == guest.info.debian, guest.ready


def test_profile_layout(guest):
    """The stock profiles are in the suite's system directory (and only there), and the
    admin's directory exists; tuned-adm lists them."""
    system, user = guest.info.system_profiles, guest.info.user_profiles
    script = "; ".join(
        ["test -f %s/%s/tuned.conf && echo has %s" % (system, name, name) for name in STOCK]
        + ["test -d %s && echo user-dir" % user,
           "test -e /usr/lib/tuned/network-latency && echo old-system-dir",
           "test -e /usr/lib/tuned/profiles && echo new-system-dir", "true"])
    seen = guest.run(script, timeout=60, check=True).stdout.splitlines()
    assert ["has %s" % name for name in STOCK] == [s for s in seen if s.startswith("has ")]
    assert "user-dir" in seen
    if guest.tuned_layout == "rhel10":
        assert "new-system-dir" in seen and "old-system-dir" not in seen, seen
    else:
        assert "old-system-dir" in seen and "new-system-dir" not in seen, seen
    listed = guest.run("tuned-adm list", timeout=300, check=True).stdout
    for name in STOCK:
        assert re.search(r"^- %s\s" % re.escape(name), listed, re.M), listed


def test_state_files_stay_in_etc_tuned(guest):
    """active_profile, profile_mode, bootcmdline and tuned-main.conf are in /etc/tuned on
    both layouts (only the profile directories moved), and tuned-main.conf leaves
    profile_dirs at tuned's default."""
    res = guest.run("cd /etc/tuned && for f in active_profile profile_mode; do "
                    "printf '%s=%s\\n' $f \"$(cat $f)\"; done; "
                    "test -f bootcmdline && echo bootcmdline=yes; "
                    "grep -qE '^[[:space:]]*profile_dirs' tuned-main.conf || "
                    "echo profile_dirs=default", timeout=60, check=True)
    seen = dict(line.split("=", 1) for line in res.stdout.splitlines())
    assert seen["active_profile"] == active(guest), res
    assert seen["profile_mode"] in ("auto", "manual"), res
    assert seen.get("bootcmdline") == "yes" and seen.get("profile_dirs") == "default", res


def test_plugins_over_dbus(guest):
    """get_all_plugins (what lltune's feature detection asks) lists every plugin lltune
    uses: Debian's tuned has [scheduler] and [irqbalance] only with the perf module."""
    res = guest.run("busctl --json=short call com.redhat.tuned /Tuned "
                    "com.redhat.tuned.control get_all_plugins", timeout=120, check=True)
    plugins = set(json.loads(res.stdout)["data"][0])
    assert plugins >= PLUGINS, sorted(PLUGINS - plugins)
    if guest.tuned_layout == "rhel10":
        assert plugins >= PLUGINS_FROM_2_23, sorted(plugins)
    else:
        assert not PLUGINS_FROM_2_23 & plugins, sorted(plugins)
    res = guest.run("python3 -c 'import perf'; echo perf=$?; "
                    "python3 -c 'import schedutils' 2>/dev/null; echo schedutils=$?",
                    timeout=60, check=True)
    assert "perf=0" in res.stdout, res
    # tuned 2.25 uses os.sched_* (Python 3.13 has them): Debian 13's image leaves out
    # python3-schedutils, and the plugins above are there all the same.
    assert ("schedutils=0" if guest.suite == "bookworm" else "schedutils=1") in res.stdout


PROFILE = """[main]
summary=rig smoke profile (tests/system/test_guest_tuned.py)

[sysctl]
vm.stat_interval=7

[script]
script=${i:PROFILE_DIR}/marker.sh
"""
MARKER_SCRIPT = """#!/bin/sh
# tuned calls: start | stop [full_rollback] | verify [ignore_missing]; cwd is this directory.
echo "$* $(pwd)" >> /run/rig-smoke-marker
exit 0
"""


@pytest.fixture
def smoke_profile(guest):
    """A custom profile in the admin's directory of the suite's layout; removed after."""
    name = "rig-smoke-%s" % uuid.uuid4().hex[:8]
    path = guest.tuned_profile_dir(name)
    guest.run("mkdir -p {0} && cat > {0}/tuned.conf && rm -f /run/rig-smoke-marker"
              .format(path), stdin=PROFILE, timeout=60, check=True)
    guest.run("cat > {0}/marker.sh && chmod 755 {0}/marker.sh".format(path),
              stdin=MARKER_SCRIPT, timeout=60, check=True)
    yield name, path
    guest.run("rm -rf %s /run/rig-smoke-marker" % path, timeout=60)


def test_custom_profile_applies_runs_its_script_and_switches_back(guest, smoke_profile):
    name, path = smoke_profile
    before = active(guest)
    stat_interval = guest.run("sysctl -n vm.stat_interval", timeout=60, check=True).stdout
    try:
        guest.run("tuned-adm profile %s" % name, timeout=600, check=True)
        assert active(guest) == name
        assert guest.run("sysctl -n vm.stat_interval", timeout=60).stdout.strip() == "7"
        marker = guest.run("cat /run/rig-smoke-marker", timeout=60, check=True).stdout
        assert marker.splitlines()[0] == "start %s" % path, marker
        res = guest.run("tuned-adm verify", timeout=600)
        assert res.ok, res
    finally:
        guest.run("tuned-adm profile %s" % before, timeout=600, check=True)
    assert active(guest) == before
    assert guest.run("sysctl -n vm.stat_interval", timeout=60).stdout == stat_interval
    marker = guest.run("cat /run/rig-smoke-marker", timeout=60, check=True).stdout
    # A profile switch is a full rollback: the script's stop says so.
    assert "stop full_rollback %s" % path in marker.splitlines(), marker


@pytest.mark.suites("trixie")
def test_old_profile_location_is_not_searched(guest):
    """tuned 2.25.1 looks only in /usr/lib/tuned/profiles and /etc/tuned/profiles (unless
    tuned-main.conf's profile_dirs says otherwise): a profile left in /etc/tuned/NAME, where
    tuned 2.20 finds it, is not found, and the active profile stays."""
    name = "rig-old-%s" % uuid.uuid4().hex[:8]
    before = active(guest)
    guest.run("mkdir -p /etc/tuned/{0} && printf '[main]\\nsummary=old place\\n' > "
              "/etc/tuned/{0}/tuned.conf".format(name), timeout=60, check=True)
    try:
        assert name not in guest.run("tuned-adm list", timeout=300, check=True).stdout
        res = guest.run("tuned-adm profile %s" % name, timeout=600)
        assert res.rc != 0, res
        assert "doesn't exist" in res.stdout + res.stderr, res
        assert active(guest) == before
    finally:
        guest.run("rm -rf /etc/tuned/%s" % name, timeout=60)
