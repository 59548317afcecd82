"""Fixtures for the private-bus integration tests (see busrig.py for how they work).

``private_bus``   a fresh private system-like bus per test; DBUS_SYSTEM_BUS_ADDRESS points
                  at it while the test runs (the machine's own buses are never touched)
``systemd_mock``  python-dbusmock's ``systemd`` template on that bus
``tuned_mock``    our tuned template on that bus; parameters from
                  ``@pytest.mark.tuned_params({...})`` (see tuned_template.py)
``bus_client``    a BusClient connected to the private bus (dbus-next, else busctl)

Everything skips, with the reason, when the host lacks dbus-daemon or a Python that can run
python-dbusmock (dbus-python + PyGObject).
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from busrig import (
    TUNED_TEMPLATE,
    BusClient,
    BusRigUnavailable,
    PrivateBus,
    mock_python,
)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tuned_params(dict): parameters for the tuned mock template")


@pytest.fixture
def private_bus(monkeypatch):
    try:
        mock_python()
        bus = PrivateBus()
    except BusRigUnavailable as exc:
        pytest.skip("private D-Bus tests need: %s" % exc)
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bus.address)
    try:
        yield bus
    finally:
        bus.stop()


@pytest.fixture
def systemd_mock(private_bus):
    return private_bus.spawn("systemd")


@pytest.fixture
def tuned_mock(private_bus, request):
    marker = request.node.get_closest_marker("tuned_params")
    params = marker.args[0] if marker else None
    return private_bus.spawn(TUNED_TEMPLATE, params)


@pytest.fixture
def bus_client(private_bus):
    with BusClient(private_bus.address) as client:
        yield client
