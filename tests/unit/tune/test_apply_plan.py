"""apply --plan (unprivileged, offline), backup bundles, the lock: everything short of tuned."""

import json
import os
import stat

import pytest

from lltune.cli.main import main
from lltune.common.errors import EnvironmentProblem
from lltune.tune import backup
from lltune.tune.session import Lock

CONFIG = """version: 1
preset: low-latency
cpu:
  isolated: "4-7"
  housekeeping: "0-3"
"""


@pytest.fixture()
def state(tmp_path, monkeypatch):
    directory = tmp_path / "state"
    monkeypatch.setenv("LLTUNE_STATE_DIR", str(directory))
    return directory


@pytest.fixture()
def inputs(tmp_path, hwloc_trees):
    snapshot = tmp_path / "snapshot.json"
    assert main(["scan", "--root", hwloc_trees["8em64t-2s2ca2c"], "-q", "-o",
                 str(snapshot)]) == 0
    config = tmp_path / "config.yaml"
    config.write_text(CONFIG)
    return config, snapshot


def _text(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _tree(path):
    """Every file under path with its bytes: what "nothing changed" is checked against."""
    result = {}
    for directory, _, files in os.walk(str(path)):
        for name in files:
            full = os.path.join(directory, name)
            with open(full, "rb") as handle:
                result[full] = handle.read()
    return result


def test_plan_writes_only_its_bundle(state, inputs, tmp_path, capsys):
    config, snapshot = inputs
    before = _tree(tmp_path)
    assert main(["apply", "--plan", "-c", str(config), "--snapshot", str(snapshot)]) == 0
    out = capsys.readouterr().out
    assert "| kernel.cmdline.isolcpus" in out and "plan bundle:" in out
    after = _tree(tmp_path)
    new = sorted(set(after) - set(before))
    assert all(path.startswith(str(state)) for path in new), "only the bundle is new"
    assert {k: v for k, v in after.items() if k in before} == before, "nothing rewritten"
    bundle = backup.list_bundles()[0]
    names = sorted(os.listdir(bundle.path))
    assert names == ["README.txt", "config.yaml", "plan.json", "plan.md", "profile",
                     "snapshot.json"]
    assert sorted(os.listdir(os.path.join(bundle.path, "profile"))) == ["hook-data.json",
                                                                        "tuned.conf"]
    plan = json.loads(_text(os.path.join(bundle.path, "plan.json")))
    assert plan["reboot_needed"] is True
    assert any(c["knob"] == "cpu.isolated" and c["desired"] == "4-7" for c in plan["changes"])
    for directory in (str(state), os.path.join(str(state), "backups"), bundle.path):
        assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    readme = _text(os.path.join(bundle.path, "README.txt"))
    assert "lltune rollback --backup %s" % bundle.path in readme
    assert "To roll back by hand" in readme
    assert "installed at /etc/tuned/lltune/" in readme, "the snapshot's tuned layout (RHEL 9)"


def test_plan_refuses_a_config_with_audit_errors(state, inputs, capsys):
    config, snapshot = inputs
    config.write_text(CONFIG.replace('isolated: "4-7"', 'isolated: "4-99"'))
    assert main(["apply", "--plan", "-c", str(config), "--snapshot", str(snapshot)]) == 1
    assert "nothing was planned or changed" in capsys.readouterr().err
    assert backup.list_bundles() == []


def test_apply_without_plan_needs_the_live_host(state, inputs, capsys):
    config, snapshot = inputs
    assert main(["apply", "-c", str(config), "--snapshot", str(snapshot)]) == 2
    assert "--snapshot works with --plan only" in capsys.readouterr().err


def test_symlinked_state_directory_is_refused(tmp_path, monkeypatch, inputs, capsys):
    target = tmp_path / "elsewhere"
    target.mkdir()
    os.symlink(str(target), str(tmp_path / "state"))
    monkeypatch.setenv("LLTUNE_STATE_DIR", str(tmp_path / "state"))
    config, snapshot = inputs
    assert main(["apply", "--plan", "-c", str(config), "--snapshot", str(snapshot)]) == 3
    assert "symlink" in capsys.readouterr().err
    assert os.listdir(str(target)) == []


def test_backups_list_and_keep(state, inputs, capsys):
    config, snapshot = inputs
    for _ in range(3):
        assert main(["apply", "--plan", "-q", "-c", str(config), "--snapshot",
                     str(snapshot)]) == 0
    assert len(backup.list_bundles()) == 3
    capsys.readouterr()
    assert main(["backups", "--keep", "1"]) == 0
    out = capsys.readouterr().out
    assert out.count("deleted") == 2 and len(backup.list_bundles()) == 1


def test_prune_keeps_the_bundle_rollback_needs(state):
    applied = backup.new_bundle("apply", "test", "/etc/tuned/lltune")
    applied.update_state(status="applied")
    for _ in range(3):
        backup.new_bundle("plan", "test", "/etc/tuned/lltune")
    backup.prune(1)
    remaining = [b.path for b in backup.list_bundles()]
    assert applied.path in remaining and len(remaining) == 2


def test_bundles_sort_in_the_order_they_were_made_when_the_clock_steps_back(state,
                                                                           monkeypatch):
    import datetime

    first = backup.new_bundle("apply", "test", "/etc/tuned/lltune")

    class EarlierClock(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime(2001, 1, 1, tzinfo=tz)

    monkeypatch.setattr(backup.datetime, "datetime", EarlierClock)
    second = backup.new_bundle("apply", "test", "/etc/tuned/lltune")
    assert [b.path for b in backup.list_bundles()] == [second.path, first.path]
    assert second.id.startswith("000002-20010101T000000Z-apply-")


def test_a_second_lock_fails_at_once(tmp_path):
    (tmp_path / "run").mkdir()
    with Lock(str(tmp_path)), pytest.raises(EnvironmentProblem, match="another lltune apply"), \
            Lock(str(tmp_path)):
        pass
    with Lock(str(tmp_path)):
        pass  # released when the first holder left


def test_the_lock_probe_names_the_holder_and_never_holds_it(tmp_path):
    from lltune.tune.session import lock_holder

    root = str(tmp_path)
    (tmp_path / "run").mkdir()
    assert lock_holder(root) is None  # no lock file yet
    with Lock(root):
        assert lock_holder(root) == str(os.getpid())
    assert lock_holder(root) is None  # the file stays, nobody holds it
    with Lock(root):
        pass  # the probe took nothing an apply then waits for
    (tmp_path / "run" / "lltune.lock").unlink()
    (tmp_path / "run" / "lltune.lock").symlink_to(tmp_path / "elsewhere")
    assert lock_holder(root) is None


@pytest.mark.parametrize("log, code", [(False, 3), (True, 0)])
def test_verify_skips_while_an_apply_holds_the_lock(tmp_path, monkeypatch, capsys, log, code):
    """The hourly unit (--log) says so and succeeds; a verify by hand is exit 3. Neither
    reads the host nor asks tuned: a host half-way through a change is not drift."""
    from lltune.cli import apply as cli_apply
    from lltune.tune import session, verify

    monkeypatch.setattr(session, "LOCK_FILE", str(tmp_path / "lltune.lock"))
    monkeypatch.setattr(verify, "latest_state", lambda: pytest.fail("verify read the state"))
    monkeypatch.setattr(cli_apply.journal, "info", lambda *a, **k: logged.append(a[0]))
    logged = []
    with Lock():
        assert main(["verify"] + (["--log"] if log else [])) == code
    out, err = capsys.readouterr()
    held = "an lltune apply or rollback is running (pid %d)" % os.getpid()
    assert held in (out if log else err)
    assert logged == (["verify: skipped: " + held] if log else [])


def test_save_originals_records_bytes_and_metadata(state, tmp_path):
    existing = tmp_path / "tuned.conf"
    existing.write_bytes(b"old bytes\n")
    os.chmod(str(existing), 0o640)
    bundle = backup.new_bundle("apply", "test", "/etc/tuned/lltune")
    records = bundle.save_originals({"/etc/tuned/lltune/tuned.conf": str(existing),
                                     "/etc/tuned/lltune/hook-data.json": str(tmp_path / "no")})
    by_path = {r["path"]: r for r in records}
    saved = by_path["/etc/tuned/lltune/tuned.conf"]
    assert saved["existed"] and saved["mode"] == 0o640
    with open(os.path.join(bundle.path, saved["copy"]), "rb") as handle:
        assert handle.read() == b"old bytes\n"
    assert by_path["/etc/tuned/lltune/hook-data.json"] == {
        "path": "/etc/tuned/lltune/hook-data.json", "existed": False}


def test_only_kernel_parameters_may_fail_tuned_verify_before_the_reboot():
    from lltune.system.tuned import unexpected_failures

    pending = ("INFO     tuned.daemon.daemon: verifying profile(s): lltune\n"
               "ERROR    tuned.plugins.plugin_bootloader: verify: failed: cmdline arg "
               "'nmi_watchdog' is missing, expected 'nmi_watchdog=0'\n"
               "ERROR    tuned.plugins.plugin_bootloader: verify: failed: cmdline arg "
               "'isolcpus=1', expected 'isolcpus=managed_irq,domain,2-3'\n")
    assert unexpected_failures(pending) == []
    drift = pending + ("ERROR    tuned.plugins.plugin_sysctl: verify: failed: "
                       "'vm.stat_interval' = '1', expected '10'\n")
    assert unexpected_failures(drift) == [drift.splitlines()[-1]]
    hook = ("INFO     tuned.plugins.plugin_script: calling script '/usr/lib/tuned/lltune/"
            "lltune-hook.sh' with arguments '['verify', 'ignore_missing']'\n"
            "ERROR    tuned.plugins.plugin_script: script '/usr/lib/tuned/lltune/lltune-hook.sh'"
            " error output: 'lltune-hook verify: IRQ 35 affinity 0-1, wanted 0\n"
            "lltune-hook verify: IRQ 36 affinity 0-1, wanted 0'\n")
    assert [line[-25:] for line in unexpected_failures(hook)] == [
        "IRQ 35 affinity 0-1, wanted 0"[-25:], "IRQ 36 affinity 0-1, wanted 0'"[-25:]]


def test_a_failed_tuned_verify_is_excused_only_by_pending_kernel_parameters():
    from lltune.system.tuned import verify_failures

    pending = ("ERROR    tuned.plugins.plugin_bootloader: verify: failed: cmdline arg "
               "'nohz_full' is missing, expected 'nohz_full=2-3'\n")
    assert verify_failures(True, "") == []
    assert verify_failures(False, pending) == []
    assert verify_failures(False, "") == [
        "tuned's verify failed and logged no reason (see tuned's log)"]
    drift = "ERROR    tuned.plugins.plugin_sysctl: verify: failed: 'vm.swappiness'\n"
    assert verify_failures(False, pending + drift) == [drift.strip()]


def test_bundles_from_before_lltune_kept_a_record_are_adopted_once(state):
    """An upgrade from an lltune that kept no bundles.json: the applies it made in its
    trusted state directory are recorded (rollback must still undo them); a directory that
    appears after the record exists is not."""
    backups = os.path.join(str(state), "backups")
    os.makedirs(backups, mode=0o700)
    os.chmod(str(state), 0o700)
    earlier = os.path.join(backups, "000001-20261101T000000Z-apply-abcdef")
    os.mkdir(earlier, 0o700)
    with open(os.path.join(earlier, "state.json"), "w") as handle:
        handle.write('{"status": "applied", "previous_profile": "balanced", "files": []}\n')
    os.chmod(os.path.join(earlier, "state.json"), 0o600)
    assert [b.id for b in backup.list_bundles()] == [os.path.basename(earlier)]
    assert backup.find(None).path == earlier
    assert os.path.exists(os.path.join(str(state), "bundles.json"))
    later = os.path.join(backups, "000002-20261101T000001Z-apply-abcdef")
    os.mkdir(later, 0o700)
    assert [b.id for b in backup.list_bundles()] == [os.path.basename(earlier)]
    assert backup.unrecorded() == [os.path.basename(later)]


def _entries(path):
    """Every directory and file under path (files with their bytes, modes of both)."""
    result = {}
    for directory, dirs, files in os.walk(str(path)):
        for name in dirs + files:
            full = os.path.join(directory, name)
            info = os.lstat(full)
            data = None
            if stat.S_ISREG(info.st_mode):
                with open(full, "rb") as handle:
                    data = handle.read()
            result[full] = (stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode), data)
    return result


def _schema(name, capsys):
    capsys.readouterr()
    assert main(["schema", name]) == 0
    return json.loads(capsys.readouterr().out)


def _one_document(out, name, capsys):
    """The single JSON document of `out`, printed indent=1 with a trailing newline, checked
    against `lltune schema NAME`."""
    import jsonschema

    document = json.loads(out)
    assert out == json.dumps(document, indent=1) + "\n"
    jsonschema.Draft7Validator(_schema(name, capsys)).validate(document)
    return document


def test_plan_json_is_the_bundles_plan_and_matches_its_schema(state, inputs, capsys):
    config, snapshot = inputs
    assert main(["apply", "--plan", "-c", str(config), "--snapshot", str(snapshot),
                 "--format", "json"]) == 0
    out, err = capsys.readouterr()
    document = _one_document(out, "plan", capsys)
    bundle = backup.list_bundles()[0]
    assert document["plan"] == json.loads(_text(os.path.join(bundle.path, "plan.json")))
    assert document["backup_id"] == bundle.id and document["bundle"] == bundle.path
    assert document["command"] == "plan"
    assert document["changed"] is True and document["reboot_required"] is True
    assert document["message"] == "plan bundle: %s (nothing else was changed)" % bundle.path
    assert "| kernel.cmdline.isolcpus" not in out + err, "no Markdown table in json mode"


@pytest.mark.parametrize("statuses, changed", [
    (["ok", "ok"], False), ([], False), (["ok", "change"], True), (["ok", "unknown"], True),
])
def test_a_plan_changes_something_unless_every_knob_is_already_so(statuses, changed):
    from lltune.cli.documents import plan_document

    plan = {"changes": [{"status": status} for status in statuses], "reboot_needed": False}
    assert plan_document(plan, None)["changed"] is changed


@pytest.mark.parametrize("form", ["text", "json"])
def test_plan_without_a_bundle_writes_nothing_at_all(state, inputs, tmp_path, capsys, form):
    config, snapshot = inputs
    argv = ["apply", "--plan", "-q", "-c", str(config), "--snapshot", str(snapshot)]
    assert main(argv + ["--format", form, "--no-bundle"]) == 0
    assert not state.exists(), "not even the state directory is created"
    out = capsys.readouterr().out
    if form == "json":
        document = _one_document(out, "plan", capsys)
        assert document["backup_id"] is None and document["bundle"] is None
        assert document["changed"] is True and "--no-bundle" in document["message"]
    else:
        assert "| kernel.cmdline.isolcpus" in out
        assert out.rstrip().endswith("no plan bundle written (--no-bundle): nothing was "
                                     "changed")
    for _ in range(3):
        assert main(argv) == 0
    before = _entries(tmp_path)
    assert main(argv + ["--format", form, "--no-bundle", "--keep", "1"]) == 0
    assert _entries(tmp_path) == before, "no bundle written, none pruned, nothing touched"
    assert len(backup.list_bundles()) == 3


def test_no_bundle_without_plan_is_a_usage_error(state, inputs, capsys):
    config, _ = inputs
    assert main(["apply", "-c", str(config), "--no-bundle", "--format", "json"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and "--no-bundle works with --plan only" in err
    assert not state.exists()


def test_plan_json_with_audit_errors_prints_nothing_on_stdout(state, inputs, capsys):
    config, snapshot = inputs
    config.write_text(CONFIG.replace('isolated: "4-7"', 'isolated: "4-99"'))
    assert main(["apply", "--plan", "-c", str(config), "--snapshot", str(snapshot),
                 "--format", "json"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "nothing was planned or changed" in err


def test_backups_json_lists_and_prunes(state, inputs, capsys):
    config, snapshot = inputs
    applied = backup.new_bundle("apply", "test", "/etc/tuned/lltune")
    applied.update_state(status="applied", previous_profile="virtual-guest")
    for _ in range(3):
        assert main(["apply", "--plan", "-q", "-c", str(config), "--snapshot",
                     str(snapshot)]) == 0
    os.mkdir(os.path.join(str(state), "backups", "planted"), 0o700)
    plans = [b.id for b in backup.list_bundles() if b.path != applied.path]
    capsys.readouterr()
    assert main(["backups", "--format", "json"]) == 0
    listed = _one_document(capsys.readouterr().out, "backups", capsys)
    assert listed["changed"] is False and listed["deleted"] == []
    assert [row["id"] for row in listed["bundles"]] == plans + [applied.id]
    assert listed["bundles"][-1] == {"id": applied.id, "path": applied.path,
                                     "status": "applied", "previous_profile": "virtual-guest"}
    assert {row["status"] for row in listed["bundles"][:-1]} == {"plan"}
    assert listed["unrecorded"] == ["planted"]
    assert main(["backups", "--keep", "1", "--format", "json"]) == 0
    pruned = _one_document(capsys.readouterr().out, "backups", capsys)
    assert pruned["changed"] is True and sorted(pruned["deleted"]) == sorted(plans[1:])
    assert [row["id"] for row in pruned["bundles"]] == [plans[0], applied.id]
    assert pruned["reboot_required"] is False and pruned["backup_id"] is None
    assert pruned["message"] == ("2 backup bundle(s), 2 pruned (--keep), 1 not in lltune's "
                                 "record (ignored)")
    assert main(["backups"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "2 backup bundle(s), 1 not in lltune's record (ignored)")


@pytest.mark.parametrize("name", ["apply", "plan", "rollback", "backups"])
def test_the_command_schemas_are_draft_7(name, capsys):
    import jsonschema

    document = _schema(name, capsys)
    jsonschema.Draft7Validator.check_schema(document)
    assert {"command", "changed", "reboot_required", "backup_id", "message"} <= set(
        document["required"])
    assert document["properties"]["command"] == {"const": name}
