"""Host-only checks of the rig (no guest): the console log of a failed test is kept where
the output says (an inner pytest run uses rigplugin's hooks with a stand-in guest), the
image recipes and their cache, and how the guest tests are spread over the suites."""

import json
import os
import re
import subprocess
import sys
import textwrap
import time
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


def test_result_dir_names_say_the_suite():
    name = rigplugin.result_dir_name
    assert name("t/test_x.py::test_b[trixie]", "trixie") == "test_x.test_b_trixie"
    assert name("t/test_x.py::test_b", "bookworm") == "test_x.test_b_bookworm"
    assert name("t/test_x.py::test_b[one]", "trixie") == "test_x.test_b_one_trixie"
    assert name("t/test_x.py::test_b[trixie-one]", "trixie") == "test_x.test_b_trixie-one"


def test_recipe_key_changes_with_the_recipe_only():
    key = image.recipe_key()
    assert key == image.recipe_key()
    changed = dict(image.RECIPE, packages=image.PACKAGES + ["strace"])
    assert image.recipe_key(changed) != key


# The key of the Debian 12 image as last meant (PREEMPT_RT kernel, openssh-server).
# Changing the bookworm recipe rebuilds that image on every machine: when you mean to, update
# this key.
BOOKWORM_KEY = "04cf442dde8175da27afab9b38c5b7ae6282eb1d3c26950d4a3ce1cd7c2cad9f"


def test_bookworm_recipe_is_unchanged():
    assert image.recipe_key(image.recipe_for("bookworm")) == BOOKWORM_KEY
    assert image.RECIPE is image.recipe_for("bookworm")  # the default, as before


def test_one_recipe_per_suite():
    assert image.SUITES == ("bookworm", "trixie")  # the order a session boots them in
    assert set(image.SUITE_INFO) == set(image.SUITES)
    keys = {image.recipe_key(image.recipe_for(s)) for s in image.SUITES}
    assert len(keys) == len(image.SUITES)
    bookworm, trixie = image.recipe_for("bookworm"), image.recipe_for("trixie")
    assert trixie["suite"] == "trixie" and bookworm["suite"] == "bookworm"
    # The same guest apart from the suite and its packages.
    assert {k for k in bookworm if bookworm[k] != trixie[k]} == {"suite", "packages"}
    assert len(set(trixie["packages"])) == len(trixie["packages"])
    # What the later tests need in the Debian 13 guest.
    for name in ("tuned", "linux-perf", "rt-tests", "rtla", "ethtool", "irqbalance", "iproute2",
                 "procps", "rpm", "python3-yaml", "python3-jsonschema", "python3-jinja2",
                 "python3-systemd", "python3-dbus", "python3-gi", "make", "python3-setuptools",
                 "python3-wheel", "python3-pip"):
        assert name in trixie["packages"], name
    # RHEL has no python3-dbus-next: the Debian 13 guest runs lltune on the bundled copy.
    assert "python3-dbus-next" not in trixie["packages"]
    assert image.SUITE_INFO["trixie"].user_profiles == "/etc/tuned/profiles"
    assert image.SUITE_INFO["bookworm"].system_profiles == "/usr/lib/tuned"
    try:
        image.recipe_for("sid")
    except image.RigError as exc:
        assert "unknown guest suite 'sid'" in str(exc)
    else:
        raise AssertionError("no RigError")


def _fake_image(images: Path, key: str, suite: str, age: float) -> Path:
    d = images / key
    d.mkdir(parents=True)
    for name in ("base.raw", "vmlinuz", "initrd.img", "vmlinuz-rt", "initrd-rt.img"):
        (d / name).write_text("")
    (d / "recipe.json").write_text(json.dumps({"suite": suite}))
    stamp = time.time() - age
    os.utime(str(d), (stamp, stamp))
    return d


def test_pruning_keeps_every_suites_current_image(tmp_path, monkeypatch):
    monkeypatch.setenv("LLTUNE_RIG_CACHE", str(tmp_path))
    images = tmp_path / "images"
    current = {s: image.recipe_key(image.recipe_for(s)) for s in image.SUITES}
    # The trixie image is the oldest of all: it must stay all the same.
    _fake_image(images, current["trixie"], "trixie", age=1000)
    _fake_image(images, current["bookworm"], "bookworm", age=0)
    old = {s: [_fake_image(images, "%s-old%d" % (s, i), s, age=10 + i).name
               for i in range(4)] for s in image.SUITES}
    image._prune(images, current["bookworm"])
    left = {d.name for d in images.iterdir()}
    assert set(current.values()) <= left
    for suite in image.SUITES:  # two spares per suite, the most recently used
        assert {n for n in left if n.startswith(suite + "-")} == set(old[suite][:2])
    assert image.cached_image(image.recipe_for("trixie")).suite == "trixie"


def test_cli_per_suite_and_clean_of_one_suite(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LLTUNE_RIG_CACHE", str(tmp_path))
    images = tmp_path / "images"
    key = {s: image.recipe_key(image.recipe_for(s)) for s in image.SUITES}
    assert image.main(["key"]) == 0
    assert capsys.readouterr().out.splitlines() == ["bookworm %s" % key["bookworm"],
                                                    "trixie %s" % key["trixie"]]
    assert image.main(["key", "--suite", "trixie"]) == 0
    assert capsys.readouterr().out == key["trixie"] + "\n"
    _fake_image(images, key["bookworm"], "bookworm", age=0)
    assert image.main(["path"]) == 1  # no trixie image
    out = capsys.readouterr()
    assert out.out == "bookworm %s\n" % (images / key["bookworm"])
    assert "no cached trixie image" in out.err
    _fake_image(images, key["trixie"], "trixie", age=0)
    assert image.main(["path", "--suite", "trixie"]) == 0
    assert capsys.readouterr().out == "%s\n" % (images / key["trixie"])
    assert image.main(["clean", "--suite", "trixie"]) == 0
    assert image.cached_image(image.recipe_for("trixie")) is None
    assert image.cached_image(image.recipe_for("bookworm")) is not None
    assert image.main(["clean"]) == 0
    assert not images.exists()


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


def _inner_guest_run(tmp_path, tests, args=(), **env_vars):
    """An inner pytest run of guest tests with the real conftest and no QEMU on PATH."""
    inner = tmp_path / "inner"
    inner.mkdir(parents=True)
    (inner / "conftest.py").write_text(GUEST_CONFTEST.format(
        here=str(HERE), conftest=str(HERE / "conftest.py")))
    for name, text in tests.items():
        (inner / name).write_text(textwrap.dedent(text))
    env = dict(os.environ, PATH="/nonexistent", LLTUNE_RIG_RESULTS=str(tmp_path / "r"))
    for name in ("LLTUNE_RIG_REQUIRE", "LLTUNE_RIG_SUITES"):
        env.pop(name, None)
    env.update(env_vars)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs"] + list(args)
        + [str(inner)], cwd=str(inner), env=env, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, timeout=120)
    return proc.returncode, proc.stdout.decode(errors="replace")


def _run_without_qemu(tmp_path, require):
    tests = {"test_inner.py": "def test_needs_guest(guest):\n    pass\n"}
    if require:
        return _inner_guest_run(tmp_path, tests, LLTUNE_RIG_REQUIRE="1")
    return _inner_guest_run(tmp_path, tests)


def test_no_qemu_skips_loudly(tmp_path):
    rc, out = _run_without_qemu(tmp_path, require=False)
    assert rc == 0, out
    assert "2 skipped" in out, out  # once per suite
    # The skip reason, the stderr banner and the warning all name what is missing.
    for suite in image.SUITES:
        assert out.count("can boot the %s guest here" % suite) >= 2, out
    assert "missing host tool 'qemu-system-x86_64'" in out, out


def test_no_qemu_is_an_error_when_required(tmp_path):
    rc, out = _run_without_qemu(tmp_path, require=True)
    assert rc == 1, out
    assert "LLTUNE_RIG_REQUIRE=1" in out and "2 errors" in out, out


SUITE_TESTS = {
    "test_a.py": """
        import pytest

        def test_host_only():
            pass

        def test_both(guest):
            pass

        @pytest.mark.suites("trixie")
        def test_trixie_only(guest):
            pass

        @pytest.fixture(scope="module")
        def built_on_guest(guest):
            return guest

        def test_through_a_fixture(built_on_guest):
            pass
        """,
    "test_b.py": """
        import pytest

        pytestmark = pytest.mark.suites("bookworm")

        def test_bookworm_module(guest):
            pass

        @pytest.mark.rig_early
        def test_early(guest):
            pass

        def test_host_only_b():
            pass
        """,
}


def _collected(out):
    return [line.split("::", 1)[1] for line in out.splitlines() if "::" in line]


def test_guest_tests_run_suite_by_suite(tmp_path):
    """Host-only tests first; then every Debian 12 test (rig_early first), then every Debian
    13 test; a `suites` mark limits a test or a module to its suites."""
    rc, out = _inner_guest_run(tmp_path, SUITE_TESTS, args=["--collect-only"])
    assert rc == 0, out
    # Within a suite, file order (pytest's own grouping by fixture instance differs between
    # pytest versions: 8.4 moved test_trixie_only first).
    assert _collected(out) == [
        "test_host_only", "test_host_only_b",
        "test_early[bookworm]",
        "test_both[bookworm]", "test_through_a_fixture[bookworm]",
        "test_bookworm_module[bookworm]",
        "test_both[trixie]", "test_trixie_only[trixie]", "test_through_a_fixture[trixie]",
    ], out


def test_suites_not_in_the_session_are_skipped_saying_so(tmp_path):
    rc, out = _inner_guest_run(tmp_path, SUITE_TESTS, LLTUNE_RIG_SUITES="bookworm")
    assert rc == 0, out
    # No QEMU: the 4 bookworm tests skip for that; the 3 trixie ones without trying.
    assert "2 passed, 7 skipped" in out, out
    assert re.search(r"SKIPPED \[2\] test_a.py: the trixie guest is not in this session "
                     r"\(LLTUNE_RIG_SUITES=bookworm\)", out), out
    assert "SKIPPED [1] test_a.py:10: the trixie guest is not in this session" in out, out
    assert out.count("can boot the bookworm guest here") >= 4, out
    assert "can boot the trixie guest here" not in out, out
    rc, out = _inner_guest_run(tmp_path / "x", SUITE_TESTS, args=["--collect-only"],
                               LLTUNE_RIG_SUITES="sid")
    assert rc != 0 and "LLTUNE_RIG_SUITES: unknown suite(s) sid" in out, out
