"""The private bus and the tuned mock behave as tuned 2.20 does (tuned_template.py says how)."""

import os
import shutil
import time

import pytest
from busrig import (
    MOCK_IFACE,
    SYSTEMD,
    TUNED,
    TUNED_TEST_IFACE,
    BusClient,
    CallError,
    have_dbus_next,
)

CONTROL = TUNED[2]


def tuned(client, member, signature="", args=(), timeout=10.0):
    return client.call(*TUNED, member, signature, args, timeout)


def hook(client, member, signature="", args=()):
    return client.call(TUNED[0], TUNED[1], TUNED_TEST_IFACE, member, signature, args)


def test_the_bus_is_private(private_bus, tuned_mock):
    address = os.environ["DBUS_SYSTEM_BUS_ADDRESS"]
    assert address == private_bus.address
    assert "/run/dbus/system_bus_socket" not in address
    assert tuned_mock.alive()


def test_systemd_template(systemd_mock, bus_client):
    systemd_mock.call(MOCK_IFACE, "AddMockUnit", "s", ["tuned.service"])
    path = bus_client.call(*SYSTEMD, "GetUnit", "s", ["tuned.service"])[0]
    assert path == "/org/freedesktop/systemd1/unit/tuned_service"
    bus_client.subscribe(SYSTEMD[2], "JobRemoved")
    job = bus_client.call(*SYSTEMD, "StartUnit", "ss", ["tuned.service", "replace"])[0]
    removed = bus_client.wait_signal(SYSTEMD[2], "JobRemoved", 10)
    assert removed[1:] == [job, "tuned.service", "done"]


def test_read_only_answers(tuned_mock, bus_client):
    assert tuned(bus_client, "active_profile") == ["virtual-guest"]
    assert tuned(bus_client, "profile_mode") == [["auto", ""]]
    assert tuned(bus_client, "is_running") == [True]
    names = tuned(bus_client, "profiles")[0]
    assert names == sorted(names)
    assert {"balanced", "latency-performance", "network-latency", "virtual-guest"} <= set(names)
    pairs = tuned(bus_client, "profiles2")[0]
    assert [p[0] for p in pairs] == names and all(p[1] for p in pairs)
    found, name, summary, _desc = tuned(bus_client, "profile_info", "s", ["balanced"])[0]
    assert (found, name) == (True, "balanced") and summary
    assert tuned(bus_client, "profile_info", "s", [""])[0][:2] == [True, "virtual-guest"]
    assert tuned(bus_client, "profile_info", "s", ["no-such"])[0] == [False, "", "", ""]
    plugins = tuned(bus_client, "get_all_plugins")[0]
    assert "governor" in plugins["cpu"] and "isolated_cores" in plugins["scheduler"]
    assert "irq" not in plugins  # the irq plugin is tuned 2.23+


def test_switch_answers_first_and_signals_after_the_apply(tuned_mock, bus_client):
    hook(bus_client, "SetApplyDelay", "d", [1.0])
    bus_client.subscribe(CONTROL, "profile_changed")
    started = time.monotonic()
    assert tuned(bus_client, "switch_profile", "s", ["network-latency"]) == [[True, "OK"]]
    answered = time.monotonic() - started
    assert answered < 1.0
    # Loaded, not applied yet: the name is already active, verify fails, no signal yet.
    assert tuned(bus_client, "active_profile") == ["network-latency"]
    assert tuned(bus_client, "profile_mode") == [["manual", ""]]
    assert tuned(bus_client, "verify_profile") == [False]
    assert not bus_client._signals
    body = bus_client.wait_signal(CONTROL, "profile_changed", 10)
    assert body == ["network-latency", True, "OK"]
    assert time.monotonic() - started >= 0.9
    assert tuned(bus_client, "verify_profile") == [True]
    assert tuned(bus_client, "verify_profile_ignore_missing") == [True]


@pytest.mark.tuned_params({"profiles": {"network-latency": "nl", "lltune": "ours"},
                           "active": "", "apply_delay": 0.05})
def test_merged_profiles_and_parameters(tuned_mock, bus_client):
    assert tuned(bus_client, "active_profile") == [""]
    assert tuned(bus_client, "is_running") == [False]
    assert tuned(bus_client, "start") == [False]  # nothing to start without a profile
    bus_client.subscribe(CONTROL, "profile_changed")
    assert tuned(bus_client, "switch_profile", "s", ["network-latency lltune"]) == \
        [[True, "OK"]]
    assert bus_client.wait_signal(CONTROL, "profile_changed", 10) == \
        ["network-latency lltune", True, "OK"]
    assert tuned(bus_client, "active_profile") == ["network-latency lltune"]
    assert tuned(bus_client, "is_running") == [True]


def test_unknown_profile_fails_and_the_old_one_comes_back(tuned_mock, bus_client):
    bus_client.subscribe(CONTROL, "profile_changed")
    msg = "Requested profile 'no-such' doesn't exist."
    assert tuned(bus_client, "switch_profile", "s", ["no-such"]) == [[False, msg]]
    assert bus_client.wait_signal(CONTROL, "profile_changed", 10) == ["no-such", False, msg]
    assert bus_client.wait_signal(CONTROL, "profile_changed", 10) == \
        ["virtual-guest", True, "OK"]
    assert tuned(bus_client, "active_profile") == ["virtual-guest"]


def test_failed_apply_hook(tuned_mock, bus_client):
    hook(bus_client, "FailNextSwitch", "s", ["cpu: cannot set governor"])
    bus_client.subscribe(CONTROL, "profile_changed")
    assert tuned(bus_client, "switch_profile", "s", ["latency-performance"]) == \
        [[True, "OK"]]
    assert bus_client.wait_signal(CONTROL, "profile_changed", 10) == \
        ["latency-performance", False, "cpu: cannot set governor"]
    assert tuned(bus_client, "verify_profile") == [False]
    # One switch only: the next one applies.
    tuned(bus_client, "switch_profile", "s", ["balanced"])
    assert bus_client.wait_signal(CONTROL, "profile_changed", 10) == ["balanced", True, "OK"]
    assert tuned(bus_client, "verify_profile") == [True]


def test_failed_verify_hook_and_log_capture(tuned_mock, bus_client):
    token = tuned(bus_client, "log_capture_start", "ii", [10, 60])[0]
    assert token
    hook(bus_client, "FailNextVerify", "s", ["sysctl kernel.timer_migration: 1, expected 0"])
    assert tuned(bus_client, "verify_profile") == [False]
    log = tuned(bus_client, "log_capture_finish", "s", [token])[0]
    assert "verify: failed: sysctl kernel.timer_migration: 1, expected 0" in log
    assert tuned(bus_client, "log_capture_finish", "s", [token]) == [""]  # used up
    assert tuned(bus_client, "verify_profile") == [True]  # only the next verify fails


def test_hang_hook_never_signals(tuned_mock, bus_client):
    hook(bus_client, "SetHang", "b", [True])
    bus_client.subscribe(CONTROL, "profile_changed")
    assert tuned(bus_client, "switch_profile", "s", ["powersave"]) == [[True, "OK"]]
    with pytest.raises(TimeoutError):
        bus_client.wait_signal(CONTROL, "profile_changed", 1.5)
    assert tuned(bus_client, "verify_profile") == [False]
    assert tuned(bus_client, "active_profile") == ["powersave"]


def test_unauthorised_answers_are_falsy(tuned_mock, bus_client):
    hook(bus_client, "SetAuthorized", "b", [False])
    assert tuned(bus_client, "switch_profile", "s", ["balanced"]) == [[False, "Unauthorized"]]
    assert tuned(bus_client, "active_profile") == [""]
    assert tuned(bus_client, "profile_mode") == [["unknown", "Unauthorized"]]
    assert tuned(bus_client, "profiles") == [[]]
    assert tuned(bus_client, "profiles2") == [[]]
    assert tuned(bus_client, "profile_info", "s", ["balanced"]) == [[False, "", "", ""]]
    for member in ("verify_profile", "verify_profile_ignore_missing", "disable",
                   "is_running", "start", "stop", "reload"):
        assert tuned(bus_client, member) == [False], member
    assert tuned(bus_client, "get_all_plugins") == [{}]
    assert tuned(bus_client, "log_capture_start", "ii", [10, 60]) == [""]
    assert tuned(bus_client, "log_capture_finish", "s", ["x"]) == [""]
    hook(bus_client, "SetAuthorized", "b", [True])
    assert tuned(bus_client, "active_profile") == ["virtual-guest"]  # nothing changed


def test_disable_stop_start_reload(tuned_mock, bus_client):
    bus_client.subscribe(CONTROL, "profile_changed")
    assert tuned(bus_client, "stop") == [True]
    assert tuned(bus_client, "is_running") == [False]
    assert tuned(bus_client, "reload") == [False]  # not running
    assert tuned(bus_client, "verify_profile") == [False]
    assert tuned(bus_client, "start") == [True]
    assert bus_client.wait_signal(CONTROL, "profile_changed", 10) == \
        ["virtual-guest", True, "OK"]
    assert tuned(bus_client, "reload") == [True]
    assert bus_client.wait_signal(CONTROL, "profile_changed", 10) == \
        ["virtual-guest", True, "OK"]
    assert tuned(bus_client, "disable") == [True]
    assert tuned(bus_client, "active_profile") == [""]
    assert tuned(bus_client, "is_running") == [False]
    assert tuned(bus_client, "start") == [False]
    calls = hook(bus_client, "GetCalls")[0]
    assert calls[:4] == ["stop", "is_running", "reload", "verify_profile"]


def test_drop_off_bus_hook(tuned_mock, bus_client):
    bus_client.subscribe("org.freedesktop.DBus", "NameOwnerChanged")
    hook(bus_client, "DropOffBus")
    body = bus_client.wait_signal("org.freedesktop.DBus", "NameOwnerChanged", 10,
                                  predicate=lambda b: b[0] == TUNED[0])
    assert body[2] == ""  # no new owner: tuned is gone
    assert tuned_mock.wait_exit(10) == 0
    with pytest.raises(CallError) as err:
        tuned(bus_client, "active_profile")
    assert "ServiceUnknown" in err.value.error_name or "NameHasNoOwner" in err.value.error_name


@pytest.mark.skipif(shutil.which("busctl") is None, reason="busctl is not installed")
def test_busctl_client_works_too(private_bus, tuned_mock):
    """The fallback client (for a Python without dbus-next) sees the same mock."""
    with BusClient(private_bus.address, backend="busctl") as client:
        client.subscribe(CONTROL, "profile_changed")
        assert tuned(client, "switch_profile", "s", ["balanced"]) == [[True, "OK"]]
        assert client.wait_signal(CONTROL, "profile_changed", 10) == ["balanced", True, "OK"]
        assert tuned(client, "active_profile") == ["balanced"]


def test_dbus_next_is_the_default_client(bus_client):
    assert bus_client.backend == ("dbus-next" if have_dbus_next() else "busctl")
