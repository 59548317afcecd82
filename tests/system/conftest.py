"""pytest fixtures of the system tests: one QEMU guest per suite and test session.

``guest`` (session scope) is a :class:`rig.Guest`: ``guest.run(cmd, timeout=...)``,
``guest.lltune(args)``, ``guest.reboot(cmdline_from_bootcmdline=..., extra_append=...)``,
``guest.kill()``, and what it is: ``guest.suite`` ('bookworm', 'trixie'), ``guest.info``
(Debian release, tuned series, profile layout and directories), ``guest.tuned_version``.

Suites: every test that uses ``guest`` (directly or through another fixture) runs once per
suite, ``test_x[bookworm]`` and ``test_x[trixie]``, unless it is marked
``@pytest.mark.suites("bookworm")`` (a test, class or module: ``pytestmark``), which limits it
to those suites. ``$LLTUNE_RIG_SUITES`` (default: all) says which suites this session boots;
tests of the others are skipped, saying so.

One QEMU at a time: collection sorts the guest tests by suite (Debian 12's first), and
pytest ends the session's bookworm guest (and the module fixtures built on it) before the
trixie guest boots, so each suite's guest boots once per session (plus the reboots tests
ask for). A test order that goes back to a suite (``-p random``, say) boots it again on a
fresh disk.

Tests share their suite's guest, so a test that changes it (a tuned profile, a file) puts it
back or says in its name what it leaves. A test that leaves QEMU stopped (a failed reboot, a
kill without boot) is followed by a fresh boot of the same disk before the next test that
uses the guest.

Skips: only when the guest cannot be booted at all on this host because a tool is missing
(no qemu-system-x86_64, no mmdebstrap to build the image, ...): the reason is the skip
message and a warning on stderr. A guest that *fails* to boot is an error, not a skip.
Set LLTUNE_RIG_REQUIRE=1 (CI) to turn even a missing tool into an error.
"""

import itertools
import os
import sys
import warnings
from pathlib import Path
from typing import List

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

HERE = Path(__file__).resolve().parent


class RigUnavailable(UserWarning):
    """The system tests were skipped: this host cannot boot the guest."""


def enabled_suites() -> List[str]:
    """The suites $LLTUNE_RIG_SUITES names ('bookworm,trixie'; default or 'all': every one),
    in the rig's boot order."""
    raw = os.environ.get("LLTUNE_RIG_SUITES", "").replace(",", " ").split()
    if not raw or raw == ["all"]:
        return list(image.SUITES)
    unknown = [s for s in raw if s not in image.SUITES]
    if unknown:
        raise pytest.UsageError("LLTUNE_RIG_SUITES: unknown suite(s) %s (known: %s)"
                                % (", ".join(unknown), ", ".join(image.SUITES)))
    return [s for s in image.SUITES if s in raw]


def pytest_configure(config):
    config.addinivalue_line("markers", "system: needs the QEMU guest of tests/system (slow)")
    config.addinivalue_line(
        "markers", "rig_early: runs before the other guest tests (checks of a fresh guest)")
    config.addinivalue_line(
        "markers", "suites(*names): run the test only on these guest suites (%s); "
        "unmarked guest tests run on every suite" % ", ".join(image.SUITES))
    config._rig_suites = enabled_suites()


def suites_of(definition) -> List[str]:
    """The suites a test asks for: its closest `suites` mark, or all of them."""
    mark = definition.get_closest_marker("suites")
    if mark is None:
        return list(image.SUITES)
    unknown = [s for s in mark.args if s not in image.SUITES]
    if not mark.args or unknown:
        raise pytest.UsageError("%s: @pytest.mark.suites(%s): give one or more of %s"
                                % (definition.nodeid, ", ".join(map(repr, mark.args)),
                                   ", ".join(image.SUITES)))
    return [s for s in image.SUITES if s in mark.args]


def pytest_generate_tests(metafunc):
    """Every test that uses `guest` runs once per suite it asks for (ids: the suite)."""
    if "guest" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        names = mark.args[0] if mark.args else mark.kwargs.get("argnames", "")
        if "guest" in (names.replace(",", " ").split() if isinstance(names, str) else names):
            return  # the test parametrizes guest itself
    enabled = getattr(metafunc.config, "_rig_suites", None) or enabled_suites()
    params = []
    for suite in suites_of(metafunc.definition):
        marks = () if suite in enabled else pytest.mark.skip(
            reason="the %s guest is not in this session (LLTUNE_RIG_SUITES=%s)"
            % (suite, ",".join(enabled)))
        params.append(pytest.param(suite, id=suite, marks=marks))
    metafunc.parametrize("guest", params, indirect=True)


def item_suite(item):
    """The suite a collected test runs on (None: it uses no guest)."""
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "guest" in callspec.params:
        return callspec.params["guest"]
    if "guest" in getattr(item, "fixturenames", ()):
        return image.DEFAULT_SUITE
    return None


def pytest_itemcollected(item):
    """Remember where each test was defined (collection order, before any reordering)."""
    item._rig_index = next(_COLLECTED)


_COLLECTED = itertools.count()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.system)
    # Host-only tests first: they run before any guest boots, not beside an idle TCG guest
    # that takes CPU from them. Then the guest tests suite by suite (image.SUITES' order):
    # one guest at a time, each booted once. Within a suite, the tests marked rig_early
    # (what a fresh guest must look like), then the rest, which may leave the guest
    # changed; each in the order the files define them (modules such as
    # test_apply_guest.py run a flow in file order), whatever pytest's grouping by fixture
    # instance (which differs between pytest versions) did before this hook (trylast).
    order = {suite: i for i, suite in enumerate(image.SUITES)}

    def rank(item):
        index = getattr(item, "_rig_index", 0)
        suite = item_suite(item)
        if suite is None:
            return (0, 0, 0, index)
        return (1, order.get(suite, len(order)), 0 if item.get_closest_marker("rig_early")
                else 1, index)

    items.sort(key=rank)


def _unavailable(suite: str) -> str:
    """Why this host cannot boot the suite's guest ('' when it can try)."""
    problem = rig.missing_boot_tool()
    if problem:
        return problem
    if image.cached_image(image.recipe_for(suite)) is None:
        try:
            image.require_tools(image.HOST_TOOLS_BUILD)
        except image.RigError as exc:
            return "no cached %s guest image and cannot build one: %s" % (suite, exc)
    return ""


@pytest.fixture(scope="session")
def guest(request):
    """The session's guest of one suite (the test's parameter), booted and answering
    commands. pytest ends it before the next suite's guest is created."""
    suite = getattr(request, "param", image.DEFAULT_SUITE)
    why = _unavailable(suite)
    if why:
        msg = ("SYSTEM TESTS NOT RUN: neither KVM nor TCG can boot the %s guest here: %s"
               % (suite, why))
        if os.environ.get("LLTUNE_RIG_REQUIRE") == "1":
            pytest.fail(msg + " (LLTUNE_RIG_REQUIRE=1)")
        rigplugin.loud(msg)
        warnings.warn(RigUnavailable(msg), stacklevel=2)
        pytest.skip(msg)
    # pytest has already finished the previous suite's guest; never two QEMUs at once.
    for other in rigplugin.registered():
        if isinstance(other, rig.Guest) and other.running():
            rig._log("stopping the %s guest before the %s guest boots" % (other.suite, suite))
            other.close()
            rigplugin.unregister(other)
    g = rig.Guest.create(suite=suite)
    rigplugin.register(g)
    try:
        g.first_boot()
        yield g
    finally:
        try:
            g.close()
        finally:
            rigplugin.unregister(g)
            rig._log("%s guest boots this session (%s): %s" % (
                suite, g.accel, ", ".join("%.0f s" % s for s in g.boot_seconds) or "none"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    """Boot the guest again if an earlier test left QEMU stopped."""
    g = (getattr(item, "funcargs", None) or {}).get("guest")
    if isinstance(g, rig.Guest):
        g.ensure_running()
