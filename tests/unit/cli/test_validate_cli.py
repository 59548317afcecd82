"""`lltune validate`'s bad input: refused with one line and exit 2 before anything is read or
measured (these run as root on the development machine: none may reach the tools)."""

import json

import pytest

from lltune.cli.main import main
from tests.unit.validate.results import make_result


@pytest.mark.parametrize("argv, message", [
    (["validate", "--duration", "0s"], "--duration '0s': between 1s and 7d"),
    (["validate", "--duration", "ten"], "--duration 'ten': a whole number"),
    (["validate", "--tools", "cyclictest,perf"], "--tools: unknown tool(s) perf"),
    (["validate", "--max-latency-us", "0"], "--max-latency-us must be between"),
    (["validate", "--compare", "/nonexistent/result.json"], "/nonexistent/result.json"),
    (["validate", "--cpus", "2-x"], "--cpus '2-x'"),
])
def test_bad_input_is_refused_before_anything_runs(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_a_compare_file_that_is_not_a_result_names_the_key(tmp_path, capsys, monkeypatch):
    from lltune.validate import session

    def never(*args):
        raise AssertionError("validate went on past a bad --compare")

    monkeypatch.setattr(session, "tool_plan", never)
    result = make_result()
    del result["verdict"]
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result))
    assert main(["validate", "--compare", str(path)]) == 2
    err = capsys.readouterr().err
    assert "not an lltune validate result" in err and str(path) in err
    assert "'verdict' is a required property" in err and err.count("\n") == 1


def test_a_compare_result_that_is_valid_is_read_by_id_or_directory(tmp_path, monkeypatch):
    from lltune.cli.validate import load_result

    monkeypatch.setenv("LLTUNE_STATE_DIR", str(tmp_path))
    result = make_result(run_id="20261203T101010Z")
    directory = tmp_path / "validate" / "20261203T101010Z"
    directory.mkdir(parents=True)
    (directory / "result.json").write_text(json.dumps(result))
    assert load_result("20261203T101010Z") == result
    assert load_result(str(directory)) == result
