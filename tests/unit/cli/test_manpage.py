"""lltune(1) and the bash completion, generated from the argument parser (lltune.cli.manpage)."""

import argparse
import os
import re
import shutil
import subprocess
import sys

import pytest

import lltune
from lltune.cli import manpage
from lltune.cli.main import build_parser
from lltune.common.errors import EXIT_CODES_HELP
from tests.conftest import REPO


def _subparsers(parser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _unroff(text):
    """Roff source to plain words, enough to look things up in it."""
    text = re.sub(r"\\f[BIRP]", "", text)
    return text.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "")


@pytest.fixture(scope="module")
def page():
    return manpage.render_manpage()


@pytest.fixture(scope="module")
def completion():
    return manpage.render_bash_completion()


def test_every_command_and_option_is_documented(page):
    plain = _unroff(page)
    commands = _subparsers(build_parser())
    assert commands, "the parser has no subcommands?"
    for name, sub in commands.items():
        assert ".SS %s\n" % name in plain, name
        assert '.SY "lltune %s"' % name in plain, name
        for action in sub._actions:
            for option in action.option_strings:
                assert re.search(r"(^|[\s\[|,])%s\b" % re.escape(option), plain), (name, option)
            if not action.option_strings and action.choices:
                for choice in action.choices:
                    assert choice in plain
    assert "--version" in plain


def test_exit_status_comes_from_the_errors_module(page):
    section = page.split(".SH EXIT STATUS\n")[1].split(".SH ")[0]
    codes = re.findall(r"^\s*(\d+)\s+(.*\S)", EXIT_CODES_HELP, re.M)
    assert len(codes) >= 4
    for code, meaning in codes:
        assert ".B %s\n" % code in section
        assert _unroff(meaning).lower() in _unroff(section).lower()


def test_header_carries_the_version_and_no_date(page):
    header = [line for line in page.splitlines() if line.startswith(".TH ")]
    assert header == ['.TH LLTUNE 1 "" "lltune %s" "User Commands"' % lltune.__version__]
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", page)


def test_output_is_deterministic_and_the_module_runs(page, completion):
    assert manpage.render_manpage() == page
    env = dict(os.environ, COLUMNS="37", LC_ALL="C")
    for args, expected in (([], page), (["--bash-completion"], completion)):
        result = subprocess.run([sys.executable, "-m", "lltune.cli.manpage"] + args, cwd=REPO,
                                env=env, capture_output=True, text=True, check=True)
        assert result.stdout == expected
        assert result.stderr == ""


def test_no_text_line_is_taken_for_a_roff_request():
    assert manpage._roff_text(".hidden and 'quoted") == "\\&.hidden and 'quoted"
    assert manpage._roff_text("a\\b -x `cmd`") == "a\\eb \\-x \\fBcmd\\fR"
    assert manpage._roff_text("one\n'two") == "one\n\\&'two"


def test_a_hostile_parser_renders_safely():
    parser = argparse.ArgumentParser(prog="lltune", description="x")
    sub = parser.add_subparsers(dest="command")
    thing = sub.add_parser("thing", help="do a thing", description=".TH injected\n\nsecond")
    thing.add_argument("--level", type=int, default=3, help="how much (default %(default)s)")
    thing.add_argument("--hidden", help=argparse.SUPPRESS)
    text = manpage.render_manpage(parser)
    assert "\n.TH injected" not in text and "\\&.TH injected" in text
    assert "how much (default 3)" in text
    assert "hidden" not in text


@pytest.mark.skipif(not shutil.which("man") or not shutil.which("groff"),
                    reason="man and groff are needed to typeset the page")
def test_man_typesets_without_warnings(page, tmp_path):
    path = tmp_path / "lltune.1"
    path.write_text(page)
    result = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(path)],
                            env=dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8"),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    text = re.sub(".\x08", "", result.stdout)  # overstrike bold and underline
    assert "lltune scan" in text and "EXIT STATUS" in text


def _complete(completion, tmp_path, *words):
    """Run the completion function as bash would for the command line `words`."""
    script = tmp_path / "lltune.bash"
    script.write_text(completion)
    quoted = " ".join("'%s'" % word for word in words)
    program = ("source %s; COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _lltune; "
               "printf '%%s\\n' \"${COMPREPLY[@]}\"" % (script, quoted))
    result = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], cwd=str(tmp_path),
                            capture_output=True, text=True, timeout=30, check=True)
    return [line for line in result.stdout.splitlines() if line]


@pytest.mark.skipif(not shutil.which("bash"), reason="bash is not installed")
def test_bash_completion(completion, tmp_path):
    subprocess.run(["bash", "-n", "-c", completion], check=True)
    commands = sorted(_subparsers(build_parser()))
    assert sorted(_complete(completion, tmp_path, "lltune", "")) == commands
    assert _complete(completion, tmp_path, "lltune", "sca") == ["scan"]
    assert "--version" in _complete(completion, tmp_path, "lltune", "-")
    assert sorted(_complete(completion, tmp_path, "lltune", "scan", "--format", "")) == [
        "json", "yaml"]
    assert "--md-report" in _complete(completion, tmp_path, "lltune", "scan", "--md")
    (tmp_path / "config.yaml").write_text("")
    assert _complete(completion, tmp_path, "lltune", "audit", "-c", "conf") == ["config.yaml"]
    assert sorted(_complete(completion, tmp_path, "lltune", "schema", "")) == [
        "apply", "audit", "backups", "config", "plan", "rollback", "snapshot", "validate"]
    assert sorted(_complete(completion, tmp_path, "lltune", "apply", "--format", "")) == [
        "json", "text"]
    for name, sub in _subparsers(build_parser()).items():
        offered = _complete(completion, tmp_path, "lltune", name, "-")
        for action in sub._actions:
            assert set(action.option_strings) <= set(offered), (name, action.option_strings)
