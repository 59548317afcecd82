"""apply and rollback against tuned and systemd on a private bus, files under a temp root.

The mocks stand in for faults the guest cannot produce cheaply (an unauthorised caller, a
profile tuned rejects, a verify that fails, tuned dying in the middle of an apply); the guest
system tests run the same flow against the real daemons.
"""

import json
import os
import re
import signal
import threading

import pytest

from lltune.common.errors import EnvironmentProblem, HostError, InputError
from lltune.config.loader import load_text
from lltune.model.profile import host_profile
from lltune.system.systemd import Systemd
from lltune.system.tuned import Tuned
from lltune.tune import apply, backup, rollback, session

# The trees these tests run on have RHEL 9's tuned layout (no tuned-main.conf profile_dirs).
TUNED_CONF, HOOK_DATA = host_profile("/etc/tuned").files

PROFILES = {"virtual-guest": "guest", "network-latency": "nl", "balanced": "b",
            "lltune": "lltune base"}
CONFIG = """version: 1
preset: low-latency
cpu:
  isolated: "2-3"
  housekeeping: "0-1"
"""

pytestmark = pytest.mark.tuned_params({"profiles": PROFILES, "active": "virtual-guest",
                                       "mode": "manual", "apply_delay": 0.1})

SYSTEMD_METHODS = [
    ("GetUnitFileState", "s", "s",
     "ret = self.__dict__.setdefault('unit_states', {}).get(args[0], 'disabled')"),
    ("EnableUnitFiles", "asbb", "ba(sss)",
     "self.__dict__.setdefault('unit_states', {}).update({u: 'enabled' for u in args[0]})\n"
     "ret = (True, [])"),
    ("DisableUnitFiles", "asb", "a(sss)",
     "self.__dict__.setdefault('unit_states', {}).update({u: 'disabled' for u in args[0]})\n"
     "ret = []"),
    ("Reload", "", "", ""),
]


@pytest.fixture()
def host(tmp_path, monkeypatch, hwloc_trees, tuned_mock, systemd_mock):
    """A temp root with /etc/tuned and /run, state in a temp dir, tuned and systemd mocked."""
    if os.geteuid() != 0:
        pytest.skip("apply runs as root")
    for directory in ("etc/tuned", "run", "proc/sys/kernel/random"):
        (tmp_path / "root" / directory).mkdir(parents=True)
    (tmp_path / "root/proc/sys/kernel/random/boot_id").write_text("boot-1\n")
    monkeypatch.setenv("LLTUNE_STATE_DIR", str(tmp_path / "state"))
    for name, in_sig, out_sig, code in SYSTEMD_METHODS:
        systemd_mock.call("org.freedesktop.DBus.Mock", "AddMethod", "sssss",
                          ["org.freedesktop.systemd1.Manager", name, in_sig, out_sig, code])
    for unit in session.UNITS:
        systemd_mock.call("org.freedesktop.DBus.Mock", "AddMockUnit", "s", [unit])
    from tests.conftest import scan_root

    snapshot = scan_root(hwloc_trees["16em64t-4s2c2t"])
    return {"root": str(tmp_path / "root"), "snapshot": snapshot, "tuned": tuned_mock,
            "systemd": systemd_mock}


def _tuned_state(host):
    state = host["tuned"].call("org.lltune.test.TunedMock", "State")[0]
    return {key: getattr(value, "value", value) for key, value in state.items()}


def _calls(host):
    return list(host["tuned"].call("org.lltune.test.TunedMock", "GetCalls")[0])


def _installed(host):
    return {path: os.path.exists(os.path.join(host["root"], path.lstrip("/")))
            for path in (TUNED_CONF, HOOK_DATA)}


def _apply(host, **kwargs):
    return apply.apply(load_text(CONFIG), host["snapshot"], root=host["root"], quiet=True,
                       **kwargs)


def test_apply_then_rollback(host):
    outcome = _apply(host)
    assert outcome.changed and outcome.reboot_needed
    assert _tuned_state(host)["active"] == "lltune"
    assert _installed(host) == {TUNED_CONF: True, HOOK_DATA: True}
    calls = _calls(host)
    assert calls.index("switch_profile") < calls.index("verify_profile_ignore_missing")
    state = backup.find(None).read_json(backup.STATE_FILE)
    assert state["status"] == "applied" and state["previous_profile"] == "virtual-guest"
    assert state["boot_id"] == "boot-1"
    assert [r["existed"] for r in state["files"]] == [False, False]
    units = host["systemd"].call("org.freedesktop.systemd1.Manager", "GetUnitFileState", "s",
                                 ["lltune-verify.timer"])
    assert units == ["enabled"]

    back = rollback.rollback(None, root=host["root"], quiet=True)
    assert back.changed and "virtual-guest" in back.message and back.reboot_needed
    assert _tuned_state(host)["active"] == "virtual-guest"
    assert _installed(host) == {TUNED_CONF: False, HOOK_DATA: False}
    assert not os.path.exists(os.path.join(host["root"], "etc/tuned/lltune")), \
        "the directory apply created is gone"
    assert host["systemd"].call("org.freedesktop.systemd1.Manager", "GetUnitFileState", "s",
                                ["lltune-verify.timer"]) == ["disabled"]
    assert backup.list_bundles()[0].read_json(backup.STATE_FILE)["status"] == "rolled-back"
    assert not rollback.rollback(backup.list_bundles()[0].id, root=host["root"],
                              quiet=True).changed, "a second rollback says so"


def test_a_second_apply_changes_nothing(host):
    _apply(host)
    conf = os.path.join(host["root"], TUNED_CONF.lstrip("/"))
    mtime = os.stat(conf).st_mtime_ns
    switches = _calls(host).count("switch_profile")
    bundles = len(backup.list_bundles())
    outcome = _apply(host)
    assert not outcome.changed and "no change" in outcome.message
    assert os.stat(conf).st_mtime_ns == mtime, "nothing rewritten"
    assert _calls(host).count("switch_profile") == switches
    assert len(backup.list_bundles()) == bundles, "no new bundle"


def test_existing_files_come_back_byte_for_byte(host):
    profile_dir = os.path.join(host["root"], "etc/tuned/lltune")
    os.makedirs(profile_dir)
    with open(os.path.join(profile_dir, "tuned.conf"), "wb") as handle:
        handle.write(b"[main]\n# hand-made, keep me\n")
    os.chmod(os.path.join(profile_dir, "tuned.conf"), 0o600)
    _apply(host)
    rollback.rollback(None, root=host["root"], quiet=True)
    with open(os.path.join(profile_dir, "tuned.conf"), "rb") as handle:
        assert handle.read() == b"[main]\n# hand-made, keep me\n"
    assert oct(os.stat(os.path.join(profile_dir, "tuned.conf")).st_mode & 0o777) == "0o600"
    assert not os.path.exists(os.path.join(profile_dir, "hook-data.json"))


def _assert_untouched(host, previous="virtual-guest"):
    assert _tuned_state(host)["active"] == previous
    assert _installed(host) == {TUNED_CONF: False, HOOK_DATA: False}


def test_profile_tuned_rejects_puts_the_old_one_back(host):
    host["tuned"].call("org.lltune.test.TunedMock", "FailNextSwitch", "s",
                       ["plugin bootloader: cannot write grub.cfg"])
    with pytest.raises(HostError, match="cannot write grub.cfg"):
        _apply(host)
    _assert_untouched(host)
    state = backup.list_bundles()[0].read_json(backup.STATE_FILE)
    assert state["status"] == "failed-restored" and "grub.cfg" in state["error"]


def test_failed_verify_puts_the_old_one_back(host):
    host["tuned"].call("org.lltune.test.TunedMock", "FailNextVerify", "s",
                       ["sysctl vm.swappiness: value 60, expected 1"])
    with pytest.raises(HostError, match="verify failed"):
        _apply(host)
    _assert_untouched(host)


def test_unauthorised_caller_changes_nothing(host):
    host["tuned"].call("org.lltune.test.TunedMock", "SetAuthorized", "b", [False])
    with pytest.raises(HostError):
        _apply(host)
    host["tuned"].call("org.lltune.test.TunedMock", "SetAuthorized", "b", [True])
    _assert_untouched(host)


def test_tuned_dying_during_apply(host):
    from lltune.tune.hook import Hook
    from lltune.tune.hookhost import LIMITS_FILE

    # As if tuned had run the hook's start before it died: its stop will never come.
    hook = Hook(host["root"])
    hook.save("limits-file", {"path": LIMITS_FILE, "content": None})
    hook.write(LIMITS_FILE, "* - memlock unlimited\n")
    host["tuned"].call("org.lltune.test.TunedMock", "DieOnNextSwitch")
    with pytest.raises(HostError, match="left the system bus") as failure:
        _apply(host, timeout=60)
    assert host["tuned"].wait_exit(10) == 0, "the mock tuned is gone"
    assert "active_profile" in str(failure.value)
    with open(os.path.join(host["root"], "etc/tuned/active_profile")) as handle:
        assert handle.read() == "virtual-guest\n", "tuned's next start loads the old profile"
    assert _installed(host) == {TUNED_CONF: False, HOOK_DATA: False}
    assert not os.path.exists(hook.path(LIMITS_FILE)), "lltune ran the hook's stop itself"
    assert hook.saved("limits-file") is None
    state = backup.list_bundles()[0].read_json(backup.STATE_FILE)
    assert state["status"] == "failed-restored-partially"


def test_tuned_not_on_the_bus(tmp_path, monkeypatch, private_bus, hwloc_trees):
    if os.geteuid() != 0:
        pytest.skip("apply runs as root")
    (tmp_path / "run").mkdir()
    monkeypatch.setenv("LLTUNE_STATE_DIR", str(tmp_path / "state"))
    from tests.conftest import scan_root

    with pytest.raises(EnvironmentProblem, match="tuned is not running"):
        apply.apply(load_text(CONFIG), scan_root(hwloc_trees["16em64t-4s2c2t"]),
                    root=str(tmp_path), quiet=True)
    assert backup.list_bundles() == [] and not (tmp_path / "etc").exists()


def test_two_applies_at_once(host):
    with session.Lock(host["root"]), pytest.raises(EnvironmentProblem,
                                                 match="another lltune apply"):
        _apply(host)
    _assert_untouched(host)
    assert backup.list_bundles() == []


def test_plan_json_of_the_apply_bundle(host):
    _apply(host)
    bundle = backup.find(None)
    with open(os.path.join(bundle.path, "plan.json"), encoding="utf-8") as handle:
        plan = json.load(handle)
    assert any(c["knob"] == "cpu.isolated" for c in plan["changes"])
    assert sorted(os.listdir(os.path.join(bundle.path, "profile"))) == ["hook-data.json",
                                                                        "tuned.conf"]


CONFIG_B = CONFIG.replace('isolated: "2-3"', 'isolated: "3"').replace(
    'housekeeping: "0-1"', 'housekeeping: "0-2"')


def _apply_text(host, text, **kwargs):
    return apply.apply(load_text(text), host["snapshot"], root=host["root"], quiet=True,
                       **kwargs)


def _read(host, path):
    with open(os.path.join(host["root"], path.lstrip("/")), "rb") as handle:
        return handle.read()


def _timer_state(host):
    from tests.integration.busrig import BusClient

    unit = host["systemd"].call("org.freedesktop.systemd1.Manager", "GetUnit", "s",
                                ["lltune-verify.timer"])[0]
    with BusClient(host["systemd"].bus.address) as client:
        value = client.call("org.freedesktop.systemd1", unit, "org.freedesktop.DBus.Properties",
                            "Get", "ss", ["org.freedesktop.systemd1.Unit", "ActiveState"])[0]
    return getattr(value, "value", value)


def test_rollback_stops_the_timer_apply_started(host):
    _apply(host)
    assert _timer_state(host) == "active"
    rollback.rollback(None, root=host["root"], quiet=True)
    assert _timer_state(host) == "inactive"


def test_rollbacks_walk_back_through_chained_applies(host, monkeypatch):
    """Rolling back a second apply (its previous profile is lltune itself) must put the first
    apply's files in place before tuned reloads lltune from disk."""
    _apply(host)
    first = _read(host, TUNED_CONF)
    _apply_text(host, CONFIG_B)
    assert _read(host, TUNED_CONF) != first
    seen = []
    real_switch = Tuned.switch

    def watching_switch(tuned, profile):  # a spy: the real call happens
        seen.append((profile, _read(host, TUNED_CONF) if _installed(host)[TUNED_CONF]
                     else None))
        return real_switch(tuned, profile)

    monkeypatch.setattr(Tuned, "switch", watching_switch)
    rollback.rollback(None, root=host["root"], quiet=True)
    assert seen == [("lltune", first)], "files restored first, then tuned reloads lltune"
    assert _tuned_state(host)["active"] == "lltune"
    rollback.rollback(None, root=host["root"], quiet=True)
    assert seen[1] == ("virtual-guest", None)
    _assert_untouched(host)


def test_pruning_keeps_the_way_back_to_the_original_profile(host):
    for index in range(6):
        _apply_text(host, CONFIG if index % 2 else CONFIG_B, keep=2)
    applied = [b for b in backup.list_bundles()
               if b.read_json(backup.STATE_FILE)["status"] == "applied"]
    assert len(applied) == 6, "no bundle rollback still needs was pruned"
    for _ in range(6):
        rollback.rollback(None, root=host["root"], quiet=True)
    _assert_untouched(host)
    switches = _calls(host).count("switch_profile")
    last = rollback.rollback(None, root=host["root"], quiet=True)
    assert not last.changed and last.message.startswith("nothing to roll back")
    assert last.bundle is None and _calls(host).count("switch_profile") == switches


def test_rollback_by_path_uses_that_bundle_and_refuses_an_older_one(host):
    _apply(host)
    older = backup.find(None)
    _apply_text(host, CONFIG_B)
    newer = backup.find(None)
    with pytest.raises(InputError, match="roll that back first"):
        rollback.rollback(older.path, root=host["root"], quiet=True)
    assert rollback.rollback(newer.path, root=host["root"], quiet=True).bundle == newer.path
    assert rollback.rollback(older.path + "/", root=host["root"], quiet=True).bundle == older.path
    _assert_untouched(host)


def test_rollback_refuses_a_bundle_outside_the_state_directory(host, tmp_path):
    _apply(host)
    forged = tmp_path / "forged"
    forged.mkdir()
    (forged / backup.STATE_FILE).write_text(json.dumps({"status": "applied", "files": []}))
    with pytest.raises(InputError, match="no such backup bundle"):
        rollback.rollback(str(forged), root=host["root"], quiet=True)
    assert _tuned_state(host)["active"] == "lltune", "nothing was rolled back"


@pytest.mark.parametrize("changes, key", [
    ({"files": [{"path": "/etc/shadow", "existed": False}]}, "files[0]"),
    ({"files": [{"path": TUNED_CONF, "existed": True, "copy": "../../../etc/passwd",
                 "mode": 420, "uid": 0, "gid": 0}]}, "files[0]"),
    ({"files": [{"path": TUNED_CONF, "existed": True, "copy": "files/000", "mode": "0644",
                 "uid": 0, "gid": 0}]}, "files[0]"),
    ({"created_dirs": ["/etc"]}, "created_dirs"),
    ({"profile_dir": "/tmp/lltune"}, "profile_dir"),
    # A trusted directory, but not the one the bundle's records name.
    ({"profile_dir": "/etc/tuned/profiles/lltune"}, "created_dirs"),
    ({"units_before": {"sshd.service": "disabled"}}, "units_before"),
    ({"previous_profile": "x; rm -rf /"}, "previous_profile"),
    ({"previous_mode": "sometimes"}, "previous_mode"),
])
def test_rollback_refuses_a_state_file_naming_what_apply_never_writes(host, changes, key):
    _apply(host)
    bundle = backup.find(None)
    bundle.update_state(**changes)
    with pytest.raises(InputError, match=r"%s: not a record lltune writes" % re.escape(key)):
        rollback.rollback(None, root=host["root"], quiet=True)
    assert _tuned_state(host)["active"] == "lltune"
    assert _installed(host) == {TUNED_CONF: True, HOOK_DATA: True}


def test_a_file_that_cannot_be_restored_does_not_stop_the_rest(host):
    profile_dir = os.path.join(host["root"], "etc/tuned/lltune")
    os.makedirs(profile_dir)
    with open(os.path.join(profile_dir, "tuned.conf"), "wb") as handle:
        handle.write(b"[main]\n")
    _apply(host)
    conf = os.path.join(profile_dir, "tuned.conf")
    os.unlink(conf)
    os.mkdir(conf)  # nothing can be renamed over a directory
    with pytest.raises(HostError, match="tuned.conf") as failure:
        rollback.rollback(None, root=host["root"], quiet=True)
    assert failure.value.exit_code == 1
    assert not os.path.exists(os.path.join(profile_dir, "hook-data.json"))
    assert _tuned_state(host)["active"] == "virtual-guest"
    assert _timer_state(host) == "inactive"
    state = backup.list_bundles()[0].read_json(backup.STATE_FILE)
    assert state["status"] == "rollback-incomplete"
    assert backup.find(None).path == backup.list_bundles()[0].path, "rollback can run again"


def test_interrupted_apply_puts_the_old_state_back(host, monkeypatch):
    # A mock fault: Ctrl-C or SIGTERM cannot be delivered at a chosen step for real. The
    # last step: tuned has applied, the units are enabled, the timer is about to start.
    def interrupted(systemd, unit):
        raise KeyboardInterrupt

    monkeypatch.setattr(Systemd, "start", interrupted)
    with pytest.raises(HostError, match="interrupted.*restored"):
        _apply(host)
    _assert_untouched(host)
    assert backup.list_bundles()[0].read_json(backup.STATE_FILE)["status"] == \
        "failed-restored"


def test_a_unit_enable_failing_while_tuned_applies_is_undone(host):
    """The units are enabled while tuned applies: systemd refusing is an apply failure like
    any other, and tuned is back on the previous profile and every file restored."""
    host["systemd"].call("org.freedesktop.DBus.Mock", "AddMethod", "sssss", [
        "org.freedesktop.systemd1.Manager", "EnableUnitFiles", "asbb", "ba(sss)",
        "raise dbus.exceptions.DBusException('unit file is bad', "
        "name='org.freedesktop.DBus.Error.InvalidArgs')"])
    with pytest.raises(HostError, match="EnableUnitFiles failed.*restored"):
        _apply(host)
    assert "switch_profile" in _calls(host), "tuned was switched while the units were enabled"
    _assert_untouched(host)
    assert backup.list_bundles()[0].read_json(backup.STATE_FILE)["status"] == \
        "failed-restored"


def _systemd_calls(host):
    return [str(call[1]) for call in host["systemd"].call("org.freedesktop.DBus.Mock",
                                                          "GetCalls")[0]]


def test_the_units_are_enabled_while_tuned_applies(host):
    """A switch that never finishes: systemd has enabled the units and reloaded meanwhile,
    and the undo after tuned's timeout disables them again (units_before)."""
    host["tuned"].call("org.lltune.test.TunedMock", "SetHang", "b", [True])
    enabled_meanwhile = threading.Event()

    def release_once_systemd_reloaded():
        # Bounded wait on the systemd mock's record; then the undo's switch back may finish.
        for _ in range(600):
            if "Reload" in _systemd_calls(host):
                enabled_meanwhile.set()
                break
            enabled_meanwhile.wait(0.05)
        host["tuned"].call("org.lltune.test.TunedMock", "SetHang", "b", [False])

    watcher = threading.Thread(target=release_once_systemd_reloaded, daemon=True)
    watcher.start()
    with pytest.raises(HostError, match="did not finish applying.*restored"):
        _apply(host, timeout=5)
    watcher.join(10)
    assert enabled_meanwhile.is_set(), "systemd reloaded while tuned was still applying"
    calls = _systemd_calls(host)
    assert calls.index("EnableUnitFiles") < calls.index("Reload") < calls.index(
        "DisableUnitFiles")
    _assert_untouched(host)


@pytest.mark.tuned_params({"profiles": PROFILES, "active": "virtual-guest", "mode": "auto",
                           "recommended": "virtual-guest", "apply_delay": 0.1})
def test_rollback_returns_tuned_to_automatic_selection(host):
    _apply(host)
    assert _tuned_state(host)["mode"] == "manual"
    rollback.rollback(None, root=host["root"], quiet=True)
    assert _tuned_state(host)["active"] == "virtual-guest"
    assert _tuned_state(host)["mode"] == "auto"
    assert "auto_profile" in _calls(host)


@pytest.mark.tuned_params({"profiles": PROFILES, "active": "balanced", "mode": "auto",
                           "recommended": "virtual-guest", "apply_delay": 0.1})
def test_rollback_keeps_the_old_profile_when_tuned_now_recommends_another(host):
    _apply(host)
    rollback.rollback(None, root=host["root"], quiet=True)
    assert _tuned_state(host)["active"] == "balanced"
    assert _tuned_state(host)["mode"] == "manual"


def test_a_broken_state_file_in_an_old_bundle_blocks_nothing(host):
    _apply(host)
    rollback.rollback(None, root=host["root"], quiet=True)
    old = backup.list_bundles()[0]
    with open(os.path.join(old.path, backup.STATE_FILE), "w") as handle:
        handle.write("[]")
    assert _apply_text(host, CONFIG_B, keep=1).changed
    assert rollback.rollback(None, root=host["root"], quiet=True).changed
    assert os.path.isdir(old.path), "kept: what cannot be read might still be needed"
    _assert_untouched(host)


def test_rollback_keeps_a_profile_directory_holding_someone_elses_files(host):
    _apply(host)
    mine = os.path.join(host["root"], "etc/tuned/lltune/notes.txt")
    with open(mine, "w") as handle:
        handle.write("not lltune's\n")
    assert rollback.rollback(None, root=host["root"], quiet=True).changed
    assert os.path.exists(mine) and not _installed(host)[TUNED_CONF]
    assert backup.list_bundles()[0].read_json(backup.STATE_FILE)["status"] == "rolled-back"


def test_rollback_touches_nothing_while_tuned_is_gone(host):
    _apply(host)
    host["tuned"].call("org.lltune.test.TunedMock", "DropOffBus")
    assert host["tuned"].wait_exit(10) == 0
    with pytest.raises(EnvironmentProblem, match="tuned is not running"):
        rollback.rollback(None, root=host["root"], quiet=True)
    assert _installed(host) == {TUNED_CONF: True, HOOK_DATA: True}
    assert backup.find(None).read_json(backup.STATE_FILE)["status"] == "applied"


def test_rolled_back_bundles_beyond_keep_are_pruned(host):
    for _ in range(3):
        _apply(host, keep=2)
        rollback.rollback(None, root=host["root"], quiet=True)
    _apply(host, keep=2)
    assert [b.read_json(backup.STATE_FILE)["status"] for b in backup.list_bundles()] == [
        "applied", "rolled-back"]


def test_sigterm_during_the_switch_puts_the_old_state_back(host):
    from lltune.cli.apply import signals_interrupt

    handler_before = signal.getsignal(signal.SIGTERM)
    host["tuned"].call("org.lltune.test.TunedMock", "SetHang", "b", [True])
    tuned_applying = threading.Event()

    def terminate_once_tuned_is_applying():
        # Waits on tuned's own record of the switch call (bounded), then stops the hang so
        # the undo's switch back can finish, and sends the signal.
        for _ in range(600):
            if "switch_profile" in _calls(host):
                tuned_applying.set()
                break
            tuned_applying.wait(0.05)
        host["tuned"].call("org.lltune.test.TunedMock", "SetHang", "b", [False])
        os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate_once_tuned_is_applying, daemon=True)
    killer.start()
    with signals_interrupt(signal.SIGTERM), pytest.raises(HostError, match="interrupted.*restored"):
        _apply(host, timeout=120)
    killer.join(10)
    assert tuned_applying.is_set(), "the signal came while tuned was applying"
    _assert_untouched(host)
    assert signal.getsignal(signal.SIGTERM) == handler_before


def test_apply_then_rollback_on_rhel_10s_layout(host):
    """tuned reads profiles from /etc/tuned/profiles (tuned-main.conf's profile_dirs, as on
    RHEL 10): the host profile is written, backed up and removed there, and nothing is left at
    RHEL 9's place."""
    new_layout = ["/usr/lib/tuned/profiles", "/etc/tuned/profiles"]
    with open(os.path.join(host["root"], "etc/tuned/tuned-main.conf"), "w") as handle:
        handle.write("profile_dirs = %s\n" % ",".join(new_layout))
    snapshot = dict(host["snapshot"])
    snapshot["services"] = dict(snapshot["services"], tuned=dict(
        snapshot["services"]["tuned"], profile_dirs=new_layout))
    profile = host_profile("/etc/tuned/profiles")
    apply.apply(load_text(CONFIG), snapshot, root=host["root"], quiet=True)
    state = backup.find(None).read_json(backup.STATE_FILE)
    assert state["profile_dir"] == profile.directory
    assert sorted(r["path"] for r in state["files"]) == sorted(profile.files)
    assert all(os.path.exists(os.path.join(host["root"], path.lstrip("/")))
               for path in profile.files)
    assert _installed(host) == {TUNED_CONF: False, HOOK_DATA: False}
    rollback.rollback(None, root=host["root"], quiet=True)
    assert not os.path.exists(os.path.join(host["root"], profile.directory.lstrip("/")))
    assert _tuned_state(host)["active"] == "virtual-guest"


def test_the_undo_outlasts_a_slow_bus(host, monkeypatch):
    """tuned answers too late for a while once apply's verify has failed: the undo's calls time
    out, are tried again, and tuned still ends on the profile from before (issue 12: it was
    left on lltune with 'the system bus did not answer within 5s')."""
    from lltune.system import tuned as tuned_module

    monkeypatch.setattr(tuned_module, "CALL_TIMEOUT", 2.0)
    host["tuned"].call("org.lltune.test.TunedMock", "FailNextVerify", "s", ["IRQ 30 wrong"])
    host["tuned"].call("org.lltune.test.TunedMock", "SlowAfter", "sid",
                       ["verify_profile_ignore_missing", 2, 3.0])
    with pytest.raises(HostError, match="apply failed"):
        _apply(host)
    calls = _calls(host)
    after = calls[calls.index("verify_profile_ignore_missing") + 1:]
    assert after.count("switch_profile") == 1, "switched back once, not twice"
    assert _tuned_state(host)["active"] == "virtual-guest"
    assert _installed(host) == {TUNED_CONF: False, HOOK_DATA: False}


@pytest.fixture()
def cli(host, tmp_path, monkeypatch, capsys):
    """`lltune` as a function against the host fixture: its root (with tuned installed there)
    and its snapshot standing in for the live host. Returns run(argv) -> (code, out, err)."""
    import lltune.cli.apply as cli_apply
    from lltune.cli.main import main

    unit = os.path.join(host["root"], "usr/lib/systemd/system/tuned.service")
    os.makedirs(os.path.dirname(unit))
    with open(unit, "w") as handle:
        handle.write("[Service]\n")
    monkeypatch.setattr(cli_apply, "ROOT", host["root"])
    monkeypatch.setattr(cli_apply, "_live_snapshot", lambda config: host["snapshot"])
    config = tmp_path / "config.yaml"
    # audit runs in the CLI: every online CPU of the 16-CPU snapshot is placed
    config.write_text(CONFIG.replace('isolated: "2-3"', 'isolated: "2-15"'))
    host["config"] = str(config)

    def run(argv):
        capsys.readouterr()
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err
    return run


def _document(out, name, run):
    """The one JSON document of `out`, checked against `lltune schema NAME`."""
    import jsonschema

    document = json.loads(out)
    assert out == json.dumps(document, indent=1) + "\n"
    code, schema, _ = run(["schema", name])
    assert code == 0
    jsonschema.Draft7Validator(json.loads(schema)).validate(document)
    return document


def test_apply_and_rollback_json(host, cli):
    code, out, err = cli(["apply", "-c", host["config"], "--format", "json"])
    assert code == 0, err
    applied = _document(out, "apply", cli)
    bundle = backup.find(None)
    assert applied["command"] == "apply" and applied["changed"] is True
    assert applied["reboot_required"] is True
    assert applied["backup_id"] == bundle.id and applied["bundle"] == bundle.path
    assert applied["message"].startswith("applied: tuned runs lltune")
    assert "[1/8] lock" in err, "progress stays on stderr"
    assert _tuned_state(host)["active"] == "lltune"

    code, out, err = cli(["apply", "-q", "-c", host["config"], "--format", "json"])
    again = _document(out, "apply", cli)
    assert code == 0 and err == ""
    assert again["changed"] is False and again["backup_id"] is None
    assert again["message"] == "no change: the host already runs this config"

    code, out, err = cli(["rollback", "-q", "--format", "json"])
    assert code == 0 and err == ""
    back = _document(out, "rollback", cli)
    assert back == {"command": "rollback", "changed": True, "reboot_required": True,
                    "backup_id": bundle.id, "bundle": bundle.path,
                    "message": "rolled back to virtual-guest; reboot to drop lltune's kernel "
                               "command-line parameters"}
    assert _tuned_state(host)["active"] == "virtual-guest"

    code, out, _ = cli(["rollback", "-q", "--backup", bundle.id, "--format", "json"])
    already = _document(out, "rollback", cli)
    assert code == 0 and already["changed"] is False and already["backup_id"] == bundle.id
    assert already["message"] == "bundle %s was already rolled back" % bundle.id


@pytest.mark.parametrize("form", ["text", "json"])
def test_nothing_to_roll_back_is_success_and_says_so(host, cli, form):
    code, out, err = cli(["rollback", "-q", "--format", form])
    assert code == 0 and err == ""
    if form == "json":
        assert _document(out, "rollback", cli) == {
            "command": "rollback", "changed": False, "reboot_required": False,
            "backup_id": None, "bundle": None, "message": rollback.NOTHING_LEFT}
    else:
        assert out == rollback.NOTHING_LEFT + "\n"
    assert "switch_profile" not in _calls(host)


def test_rollback_json_of_a_plan_bundle_is_still_an_error(host, cli):
    code, _, _ = cli(["apply", "--plan", "-q", "-c", host["config"]])
    assert code == 0
    plan = backup.list_bundles()[0]
    code, out, err = cli(["rollback", "-q", "--backup", plan.id, "--format", "json"])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "a plan bundle" in err


def test_a_failed_apply_prints_no_json(host, cli):
    host["tuned"].call("org.lltune.test.TunedMock", "FailNextSwitch", "s",
                       ["plugin bootloader: cannot write grub.cfg"])
    code, out, err = cli(["apply", "-q", "-c", host["config"], "--format", "json"])
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "cannot write grub.cfg" in err
    _assert_untouched(host)


def _entries(path):
    """Every directory, file and link under path, with modes and bytes."""
    result = {}
    for directory, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(directory, name)
            info = os.lstat(full)
            data = None
            if os.path.isfile(full) and not os.path.islink(full):
                with open(full, "rb") as handle:
                    data = handle.read()
            result[full] = (info.st_mode, info.st_mtime_ns, data)
    return result


@pytest.mark.parametrize("form", ["text", "json"])
def test_plan_without_a_bundle_on_the_live_path_writes_nothing(host, cli, tmp_path, form):
    state = os.environ["LLTUNE_STATE_DIR"]
    before = _entries(str(tmp_path))
    code, out, err = cli(["apply", "--plan", "--no-bundle", "-c", host["config"], "--format",
                          form])
    assert code == 0, err
    assert _entries(str(tmp_path)) == before, "the root, the state directory: untouched"
    assert not os.path.exists(state)
    if form == "json":
        document = _document(out, "plan", cli)
        assert document["backup_id"] is None and document["changed"] is True
        assert any(c["knob"] == "cpu.isolated" for c in document["plan"]["changes"])
    else:
        assert "no plan bundle written (--no-bundle)" in out
    calls = _calls(host)
    assert "get_all_plugins" in calls and "switch_profile" not in calls, "asked, not changed"
