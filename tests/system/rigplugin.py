"""pytest hooks of the system-test rig: keep the guest console log of every failed test.

conftest.py imports these hooks; tests/system/test_rig_selfcheck.py loads them into an inner
pytest run to prove they work. A "guest" here is anything with a ``console_log`` path
(rig.Guest, or a stand-in); fixtures call :func:`register` for each guest they create.

On a failed test (setup, call or teardown) that uses a registered guest, the whole console
log of the session so far is copied to ``<results>/<test>/console.log`` and the part written
while that test ran to ``<results>/<test>/console.test.log``, where ``<results>`` is
``$LLTUNE_RIG_RESULTS`` or ``tests/system/results`` and ``<test>`` names the suite of the
guest (``test_x.test_y_trixie``: the test's id, or the guest's ``suite`` added to it). The
path is printed in the failure's report (section "rig console log") and again in the
terminal summary.
"""

import os
import re
import shutil
import sys
from pathlib import Path
from typing import List, Optional

import pytest

HERE = Path(__file__).resolve().parent
_GUESTS = []  # type: List[object]
SECTION = "rig console log"


def register(guest) -> None:
    if guest not in _GUESTS:
        _GUESTS.append(guest)


def unregister(guest) -> None:
    if guest in _GUESTS:
        _GUESTS.remove(guest)


def registered() -> List[object]:
    return list(_GUESTS)


def results_root() -> Path:
    return Path(os.environ.get("LLTUNE_RIG_RESULTS") or HERE / "results")


def result_dir_name(nodeid: str, suite: Optional[str] = None) -> str:
    """A stable directory name for a test: 'test_file.py::test_x[a b]' -> 'test_file.test_x_a_b'.

    With `suite` (the guest's), the name says it: 'test_x[trixie]' stays 'test_x_trixie',
    and a test whose id lacks it becomes 'test_x_trixie' too ('test_x[a]': 'test_x_a_trixie')."""
    if suite:
        params = nodeid[nodeid.index("[") + 1:-1] if nodeid.endswith("]") and "[" in nodeid \
            else None
        if params is None:
            nodeid += "[%s]" % suite
        elif suite not in re.split(r"[^A-Za-z0-9]+", params):
            nodeid = nodeid[:-1] + " %s]" % suite
    path, _, name = nodeid.partition("::")
    stem = Path(path).stem
    name = name.replace("::", ".")
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", "%s.%s" % (stem, name)).strip("_.")


def loud(msg: str) -> None:
    """Write straight to the real stderr (past pytest's capture), framed to be seen."""
    bar = "!" * 78
    sys.__stderr__.write("\n%s\n!! %s\n%s\n" % (bar, msg, bar))
    sys.__stderr__.flush()


def _guests_of(item) -> List[object]:
    funcargs = getattr(item, "funcargs", {}) or {}
    found = [v for v in funcargs.values() if hasattr(v, "console_log") and v in _GUESTS]
    if not found and "guest" in getattr(item, "fixturenames", ()):
        # The fixture itself failed (e.g. the boot): the guest is registered, not a funcarg.
        found = registered()
    return found


def save_console(guest, nodeid: str, start_offset: int = 0) -> Path:
    """Copy the guest's console log for the failed test; return the saved path."""
    dest_dir = results_root() / result_dir_name(nodeid, getattr(guest, "suite", None))
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / "console.log"
    src = Path(guest.console_log)
    if src.exists():
        shutil.copyfile(str(src), str(dest))
        with open(str(src), "rb") as f:
            f.seek(start_offset)
            part = f.read()
        (dest_dir / "console.test.log").write_bytes(part)
    else:
        dest.write_text("(the guest wrote no console log: %s does not exist)\n" % src)
    return dest


def _console_size(guest) -> int:
    try:
        return Path(guest.console_log).stat().st_size
    except OSError:
        return 0


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    item._rig_console_offsets = {id(g): _console_size(g) for g in registered()}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    offsets = getattr(item, "_rig_console_offsets", {})
    saved = []
    for guest in _guests_of(item):
        try:
            dest = save_console(guest, item.nodeid, offsets.get(id(guest), 0))
        except OSError as exc:
            rep.sections.append((SECTION, "could not save the console log: %s" % exc))
            continue
        saved.append(str(dest))
        rep.sections.append((SECTION, "guest console log saved to %s\n(the part written "
                             "during this test: %s)" % (dest, dest.with_name(
                                 "console.test.log"))))
    if saved:
        store = item.config.__dict__.setdefault("_rig_saved_logs", [])
        store.extend((item.nodeid, p) for p in saved)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    saved = config.__dict__.get("_rig_saved_logs") or []
    if not saved:
        return
    terminalreporter.section("rig: guest console logs of failed tests")
    for nodeid, path in saved:
        terminalreporter.write_line("%s: %s" % (nodeid, path))
