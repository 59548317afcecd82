"""The command line: exit codes, one-line errors, output formats."""

import json
import subprocess
import sys

import pytest
import yaml

from lltune.cli.main import main


@pytest.mark.parametrize("argv", [
    [], ["nosuchcommand"], ["scan", "--format", "xml"], ["scan", "--root"],
    ["scan", "--root", "/", "--from", "x.tar.gz"], ["capture"], ["scan", "--bogus"],
])
def test_usage_errors_are_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err, err


@pytest.mark.parametrize("argv, message", [
    (["scan", "--root", "/nonexistent-dir"], "not a directory"),
    (["scan", "--probes", "/dev/null"], "--probes needs --root"),
    (["capture", "--root", "/nonexistent-dir", "-o", "/tmp/x.tar.gz"], "not a directory"),
])
def test_bad_input_is_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


@pytest.mark.parametrize("content, message", [
    ("not json", ":1:1: probes.json: Expecting value"),
    ('{"format": "lltune-probes", "format_version": 1}', "must be a mapping"),
    ('{"format": "lltune-probes", "format_version": 1, "probes": {"k": {"data": 1, '
     '"error": "x"}}}', "exactly one"),
    ("{\n\n  oops", ":3:3"),
])
def test_bad_probes_file(tmp_path, capsys, content, message):
    probes = tmp_path / "probes.json"
    probes.write_text(content)
    assert main(["scan", "--root", str(tmp_path), "--probes", str(probes), "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and str(probes) in err, err


def test_yaml_and_json_carry_the_same_tree(tmp_path, hwloc_trees):
    root = hwloc_trees["16em64t-4s2c2t"]
    assert main(["scan", "--root", root, "-q", "-o", str(tmp_path / "s.yaml")]) == 0
    assert main(["scan", "--root", root, "-q", "--format", "json", "-o",
                 str(tmp_path / "s.out")]) == 0
    from_yaml = yaml.safe_load((tmp_path / "s.yaml").read_text())
    from_json = json.loads((tmp_path / "s.out").read_text())
    for snapshot in (from_yaml, from_json):
        del snapshot["generated_at"]
    assert from_yaml == from_json


def test_snapshot_to_stdout_and_summary_to_stderr(hwloc_trees, capsys):
    assert main(["scan", "--root", hwloc_trees["8em64t-2s2ca2c"], "-o", "-",
                 "--format", "json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["schema_version"] == 1
    assert "CPUs online" in err


def test_report_names_nodes_and_findings(tmp_path, hwloc_trees, capsys):
    report = tmp_path / "report.md"
    assert main(["scan", "--root", hwloc_trees["40intel64-2g2n4c+pcilocality"],
                 "--md-report", str(report)]) == 0
    text = report.read_text()
    for heading in ("## Host", "## NUMA node 0", "## NUMA node 3", "## Findings"):
        assert heading in text
    assert "No CPU is isolated" in text and "Evidence:" in text and "lltune sets:" in text
    assert "report written to" in capsys.readouterr().out


def test_unwritable_output_is_exit_2(hwloc_trees, capsys):
    assert main(["scan", "--root", hwloc_trees["8em64t-2s2ca2c"], "-q",
                 "-o", "/nonexistent-dir/s.yaml"]) == 2
    assert "/nonexistent-dir/s.yaml" in capsys.readouterr().err


def test_module_entry_point_and_help():
    done = subprocess.run([sys.executable, "-m", "lltune", "--help"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0
    assert "exit codes:" in done.stdout and "scan" in done.stdout
