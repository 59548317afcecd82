"""apply and rollback against tuned and systemd on a private bus, files under a temp root.

The mocks stand in for faults the guest cannot produce cheaply (an unauthorised caller, a
profile tuned rejects, a verify that fails, tuned dying in the middle of an apply); the guest
system tests run the same flow against the real daemons.
"""

import json
import os

import pytest

from lltune import apply, backup
from lltune.config import load_text
from lltune.errors import EnvironmentProblem, HostError
from lltune.render import HOOK_DATA, TUNED_CONF

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
    for unit in apply.UNITS:
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

    back = apply.rollback(None, root=host["root"], quiet=True)
    assert back.changed and "virtual-guest" in back.message and back.reboot_needed
    assert _tuned_state(host)["active"] == "virtual-guest"
    assert _installed(host) == {TUNED_CONF: False, HOOK_DATA: False}
    assert not os.path.exists(os.path.join(host["root"], "etc/tuned/lltune")), \
        "the directory apply created is gone"
    assert host["systemd"].call("org.freedesktop.systemd1.Manager", "GetUnitFileState", "s",
                                ["lltune-verify.timer"]) == ["disabled"]
    assert backup.list_bundles()[0].read_json(backup.STATE_FILE)["status"] == "rolled-back"
    assert not apply.rollback(backup.list_bundles()[0].id, root=host["root"],
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
    apply.rollback(None, root=host["root"], quiet=True)
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
    host["tuned"].call("org.lltune.test.TunedMock", "DieOnNextSwitch")
    with pytest.raises(HostError, match="left the system bus") as failure:
        _apply(host, timeout=60)
    assert host["tuned"].wait_exit(10) == 0, "the mock tuned is gone"
    assert "active_profile" in str(failure.value)
    with open(os.path.join(host["root"], "etc/tuned/active_profile")) as handle:
        assert handle.read() == "virtual-guest\n", "tuned's next start loads the old profile"
    assert _installed(host) == {TUNED_CONF: False, HOOK_DATA: False}
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
    with apply.Lock(host["root"]), pytest.raises(EnvironmentProblem,
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
