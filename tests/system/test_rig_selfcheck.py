"""The rig keeps the guest console log of a failed test where the output says (no guest
needed: an inner pytest run uses rigplugin's hooks with a stand-in guest)."""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import image
import rigplugin

HERE = Path(__file__).resolve().parent

INNER_CONFTEST = textwrap.dedent("""
    import sys
    from pathlib import Path

    import pytest

    sys.path.insert(0, {here!r})
    import rigplugin
    from rigplugin import (pytest_runtest_makereport, pytest_runtest_setup,
                           pytest_terminal_summary)


    class FakeGuest:
        def __init__(self, path):
            self.console_log = path


    @pytest.fixture(scope="session")
    def guest(tmp_path_factory):
        log = tmp_path_factory.mktemp("guest") / "console.log"
        log.write_text("[    0.000000] Linux version 6.1 (boot line)\\n")
        g = FakeGuest(log)
        rigplugin.register(g)
        yield g
        rigplugin.unregister(g)


    @pytest.fixture
    def broken_guest(guest):
        with open(guest.console_log, "a") as f:
            f.write("kernel: oops while setting up\\n")
        raise RuntimeError("boot failed")
""")

INNER_TESTS = textwrap.dedent("""
    def test_passes(guest):
        with open(guest.console_log, "a") as f:
            f.write("line written by the passing test\\n")


    def test_fails(guest):
        with open(guest.console_log, "a") as f:
            f.write("line written by the failing test\\n")
        assert False, "the guest misbehaved"


    def test_setup_fails(broken_guest):
        pass


    def test_fails_without_guest():
        assert False
""")


def test_console_log_of_a_failed_test_is_saved_where_the_output_says(tmp_path):
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "conftest.py").write_text(INNER_CONFTEST.format(here=str(HERE)))
    (inner / "test_inner.py").write_text(INNER_TESTS)
    results = tmp_path / "results"
    env = dict(os.environ, LLTUNE_RIG_RESULTS=str(results))
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(inner)],
        cwd=str(inner), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=120)
    out = proc.stdout.decode(errors="replace")
    assert proc.returncode == 1, out

    said = re.findall(r"guest console log saved to (\S+)", out)
    assert len(said) == 2, out  # test_fails and test_setup_fails; not the others
    by_test = {Path(p).parent.name: Path(p) for p in said}
    assert set(by_test) == {"test_inner.test_fails", "test_inner.test_setup_fails"}

    failed = by_test["test_inner.test_fails"]
    assert failed == results / "test_inner.test_fails" / "console.log"
    text = failed.read_text()
    assert "Linux version 6.1 (boot line)" in text
    assert "line written by the passing test" in text
    assert "line written by the failing test" in text
    # The test's own part: only what was written while it ran.
    part = (failed.parent / "console.test.log").read_text()
    assert part == "line written by the failing test\n"

    setup = by_test["test_inner.test_setup_fails"].read_text()
    assert "kernel: oops while setting up" in setup

    # The terminal summary repeats the paths for every failed test that had a guest.
    summary = out.split("rig: guest console logs of failed tests", 1)[1]
    assert str(failed) in summary
    assert not (results / "test_inner.test_passes").exists()
    assert not (results / "test_inner.test_fails_without_guest").exists()


def test_result_dir_names_are_stable_and_safe():
    name = rigplugin.result_dir_name("tests/system/test_x.py::TestA::test_b[a b/c]")
    assert name == "test_x.TestA.test_b_a_b_c"


def test_recipe_key_changes_with_the_recipe_only():
    key = image.recipe_key()
    assert key == image.recipe_key()
    changed = dict(image.RECIPE, packages=image.PACKAGES + ["strace"])
    assert image.recipe_key(changed) != key


def test_missing_tool_message_names_the_tool(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    try:
        image.require_tools({"no-such-tool-xyz": "apt-get install -y no-such"})
    except image.RigError as exc:
        assert str(exc) == ("missing host tool 'no-such-tool-xyz' "
                            "(install it: apt-get install -y no-such)")
    else:
        raise AssertionError("no RigError")


GUEST_CONFTEST = textwrap.dedent("""
    import sys
    sys.path.insert(0, {here!r})
    exec(compile(open({conftest!r}).read(), {conftest!r}, "exec"))
""")


def _run_without_qemu(tmp_path, require):
    """An inner pytest run of a guest test with the real conftest and no QEMU on PATH."""
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "conftest.py").write_text(GUEST_CONFTEST.format(
        here=str(HERE), conftest=str(HERE / "conftest.py")))
    (inner / "test_inner.py").write_text("def test_needs_guest(guest):\n    pass\n")
    env = dict(os.environ, PATH="/nonexistent", LLTUNE_RIG_RESULTS=str(tmp_path / "r"))
    env.pop("LLTUNE_RIG_REQUIRE", None)
    if require:
        env["LLTUNE_RIG_REQUIRE"] = "1"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", str(inner)],
        cwd=str(inner), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=120)
    return proc.returncode, proc.stdout.decode(errors="replace")


def test_no_qemu_skips_loudly(tmp_path):
    rc, out = _run_without_qemu(tmp_path, require=False)
    assert rc == 0, out
    assert "1 skipped" in out, out
    # The skip reason, the stderr banner and the warning all name what is missing.
    assert out.count("SYSTEM TESTS NOT RUN") >= 2, out
    assert "missing host tool 'qemu-system-x86_64'" in out, out


def test_no_qemu_is_an_error_when_required(tmp_path):
    rc, out = _run_without_qemu(tmp_path, require=True)
    assert rc == 1, out
    assert "LLTUNE_RIG_REQUIRE=1" in out and "1 error" in out, out
