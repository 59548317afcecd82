"""pytest fixtures of the system tests: one QEMU guest per test session.

``guest`` (session scope) is a :class:`rig.Guest`: ``guest.run(cmd, timeout=...)``,
``guest.lltune(args)``, ``guest.reboot(cmdline_from_bootcmdline=..., extra_append=...)``,
``guest.kill()``. Tests share the guest, so a test that changes it (a tuned profile, a
file) puts it back or says in its name what it leaves. A test that leaves QEMU stopped
(a failed reboot, a kill without boot) is followed by a fresh boot of the same disk before
the next test that uses the guest.

Skips: only when the guest cannot be booted at all on this host because a tool is missing
(no qemu-system-x86_64, no mmdebstrap to build the image, ...): the reason is the skip
message and a warning on stderr. A guest that *fails* to boot is an error, not a skip.
Set LLTUNE_RIG_REQUIRE=1 (CI) to turn even a missing tool into an error.
"""

import os
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import image
import rig
import rigplugin
from rigplugin import (  # noqa: F401  (hooks, registered by being in this namespace)
    pytest_runtest_makereport,
    pytest_runtest_setup,
    pytest_terminal_summary,
)


class RigUnavailable(UserWarning):
    """The system tests were skipped: this host cannot boot the guest."""


def pytest_configure(config):
    config.addinivalue_line("markers", "system: needs the QEMU guest of tests/system (slow)")
    config.addinivalue_line(
        "markers", "rig_early: runs before the other guest tests (checks of a fresh guest)")


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).resolve().parent
    for item in items:
        if here in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.system)
    # Host-only tests first: they run before the guest boots, not beside an idle TCG guest
    # that takes CPU from them. Then the guest tests marked rig_early (what a fresh guest
    # must look like), then the rest, which may leave the shared guest changed. A stable
    # sort keeps every other order as it was.
    def rank(item):
        if "guest" not in getattr(item, "fixturenames", ()):
            return 0
        return 1 if item.get_closest_marker("rig_early") else 2

    items.sort(key=rank)


def _unavailable() -> str:
    """Why this host cannot boot the guest ('' when it can try)."""
    problem = rig.missing_boot_tool()
    if problem:
        return problem
    if image.cached_image() is None:
        try:
            image.require_tools(image.HOST_TOOLS_BUILD)
        except image.RigError as exc:
            return "no cached guest image and cannot build one: %s" % exc
    return ""


@pytest.fixture(scope="session")
def guest():
    """The session's guest, booted and answering commands."""
    why = _unavailable()
    if why:
        msg = ("SYSTEM TESTS NOT RUN: neither KVM nor TCG can boot the guest here: %s" % why)
        if os.environ.get("LLTUNE_RIG_REQUIRE") == "1":
            pytest.fail(msg + " (LLTUNE_RIG_REQUIRE=1)")
        rigplugin.loud(msg)
        warnings.warn(RigUnavailable(msg), stacklevel=2)
        pytest.skip(msg)
    g = rig.Guest.create()
    rigplugin.register(g)
    try:
        g.first_boot()
        yield g
    finally:
        try:
            g.close()
        finally:
            rigplugin.unregister(g)
            rig._log("guest boots this session (%s): %s" % (
                g.accel, ", ".join("%.0f s" % s for s in g.boot_seconds) or "none"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    """Boot the guest again if an earlier test left QEMU stopped."""
    g = (getattr(item, "funcargs", None) or {}).get("guest")
    if isinstance(g, rig.Guest) and not g.running():
        rig._log("the guest was left stopped by an earlier test: booting it again")
        g.boot()
