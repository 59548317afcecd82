"""`lltune apply [--plan]`, `verify`, `rollback` and `backups`."""

import argparse
import contextlib
import json
import os
import signal
import sys
from typing import Any, Dict, Iterator, List, Optional

from lltune.cli import documents
from lltune.common.errors import EXIT_ENVIRONMENT, EXIT_FINDINGS, EnvironmentProblem, InputError
from lltune.config.loader import Config, load
from lltune.system import journal
from lltune.tune import backup

# The host the live commands act on; the integration tests point it at a temp tree.
ROOT = "/"


def _live_snapshot(config: Config) -> Dict[str, Any]:
    from lltune.host.reader import RootReader
    from lltune.host.scan import scan

    return scan(RootReader(ROOT), {"kind": "live", "path": ROOT},
                extra_sysctls=sorted((config.value("sysctl") or {}).keys()))


def _audit_errors(config: Config, snapshot: Dict[str, Any]) -> int:
    """Print audit's errors; the number of them (apply stops on any)."""
    from lltune.audit.run import audit

    errors = [f for f in audit(config, snapshot) if f.severity == "error"]
    for finding in errors:
        print(finding.line(), file=sys.stderr)
    return len(errors)


def _audit_failed(args: argparse.Namespace) -> int:
    print("lltune apply: audit found errors; nothing was planned or changed "
          "(`lltune audit -c %s` for all findings)" % args.config, file=sys.stderr)
    return EXIT_FINDINGS


def _plugins_for_plan() -> Optional[Dict[str, Dict[str, str]]]:
    """The running tuned's plugins when it answers (as root), else None: tuned 2.20's set."""
    if os.geteuid() != 0:
        return None
    from lltune.common.errors import LLTuneError
    from lltune.system.dbus import BusUnavailable, SystemBus
    from lltune.system.tuned import Tuned

    try:
        with SystemBus(timeout=5.0) as bus:
            return Tuned(bus).plugins()
    except (BusUnavailable, LLTuneError):
        return None


@contextlib.contextmanager
def signals_interrupt(*numbers: int) -> Iterator[None]:
    """These signals (SIGTERM: systemd stopping a unit, `kill`; SIGHUP: a lost terminal)
    interrupt the command as Ctrl-C does, so it finishes its way instead of dying half-way."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {number: signal.signal(number, interrupt) for number in numbers}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def run_apply(args: argparse.Namespace) -> int:
    if args.keep < 1:
        raise InputError("--keep must be at least 1")
    if not 1 <= args.timeout <= 3600:
        raise InputError("--timeout must be between 1 and 3600 seconds")
    if args.snapshot and not args.plan:
        raise InputError("--snapshot works with --plan only: apply reads the live host")
    if args.no_bundle and not args.plan:
        raise InputError("--no-bundle works with --plan only: apply always writes the backup "
                         "bundle rollback needs")
    config = load(args.config)
    if args.snapshot:
        return _plan(args, config)
    from lltune.system.dbus import SystemBus

    # The scan's probes, the plugin query and apply itself: one connection.
    with SystemBus.sharing():
        return _plan(args, config) if args.plan else _apply(args, config)


def _plan(args: argparse.Namespace, config: Config) -> int:
    from lltune.tune import apply, render

    if args.snapshot:
        from lltune.model.snapshot import load as load_snapshot
        snapshot = load_snapshot(args.snapshot)
    else:
        snapshot = _live_snapshot(config)
    if _audit_errors(config, snapshot):
        return _audit_failed(args)
    rendered = render.render(config, snapshot, _plugins_for_plan())
    if args.no_bundle:
        # Check mode: not even the state directory is created.
        _, plan, markdown = apply.plan_documents(config, snapshot, rendered)
        path = None
    else:
        bundle, _, plan, markdown = apply.write_plan_bundle("plan", config, snapshot,
                                                            rendered)
        apply.prune_quietly(args.keep)
        path = bundle.path
    if args.format == "json":
        documents.emit(documents.plan_document(plan, path))
    else:
        sys.stdout.write(markdown)
        print("\n" + documents.plan_message(path))
    return 0


def _apply(args: argparse.Namespace, config: Config) -> int:
    from lltune.tune import apply
    from lltune.tune.session import require_tuned

    apply.require_root()
    require_tuned(ROOT)  # exit 3 before the lock, not an audit error after it
    # Locked before the host is read: no other apply may change it between the snapshot
    # this plan is made from and tuned's switch.
    with apply.Lock(ROOT):
        snapshot = _live_snapshot(config)
        if _audit_errors(config, snapshot):
            return _audit_failed(args)
        with signals_interrupt(signal.SIGTERM):
            outcome = apply.apply(config, snapshot, root=ROOT, quiet=args.quiet,
                                  keep=args.keep, timeout=args.timeout, lock=False)
    if args.format == "json":
        documents.emit(documents.outcome_document("apply", outcome))
        return 0
    print(outcome.message)
    for note in outcome.details:
        print("note: %s" % note)
    if outcome.bundle:
        print("backup bundle: %s (lltune rollback undoes this apply)" % outcome.bundle)
    return 0


def _config_for_verify(path: Optional[str], state: Optional[Dict[str, Any]]) -> Config:
    if path is not None:
        return load(path)
    if not state:
        raise InputError("no config given and no applied bundle found; use -c CONFIG")
    from lltune.common.files import decode_input
    from lltune.config.loader import load_text

    path = os.path.join(state["bundle"], "config.yaml")
    raw = backup.Bundle(state["bundle"]).read("config.yaml")  # lltune's own: trusted read
    if raw is None:
        raise InputError("the bundle of the last apply has no config.yaml; use -c CONFIG",
                         state["bundle"])
    return load_text(decode_input(raw, path), path)


def run_verify(args: argparse.Namespace) -> int:
    from lltune.tune.session import lock_holder
    from lltune.tune.verify import latest_state, verify

    holder = lock_holder()
    if holder is not None:
        # The hourly timer may fire while an administrator applies: a host half-way through
        # a change is not drift, and a verify asking tuned mid-switch only slows it down.
        message = ("an lltune apply or rollback is running (pid %s): verify skipped, the "
                   "host is half-way through a change" % holder)
        if args.log:
            journal.info("verify: skipped: " + message.split(": ", 1)[0])
            print("verify: skipped (%s)" % message)
            return 0
        raise EnvironmentProblem(message + "; run verify when it has finished")
    state = latest_state()
    config = _config_for_verify(args.config, state)
    from lltune.system.dbus import SystemBus

    with SystemBus.sharing():
        report = verify(config, state)
    if args.format == "json":
        sys.stdout.write(json.dumps(report, indent=1) + "\n")
    else:
        for row in report["knobs"]:
            if row["status"] != "ok":
                print("%-15s %s: %s -> %s" % (row["status"], row["knob"], row["current"],
                                              row["desired"]))
        for cause in report["boot_causes"]:
            print("kernel parameters missing after the reboot because %s" % cause)
        tuned = report["tuned_verify"]
        if not tuned.get("available"):
            verdict = "not available (%s)" % tuned.get("reason")
        elif tuned.get("passed"):
            verdict = "passed"
        elif not tuned.get("failures") and not report["booted_since_apply"]:
            verdict = "kernel parameters pending reboot"
        else:
            verdict = "FAILED: %s" % "; ".join(tuned.get("failures") or ["see tuned's log"])
        print("tuned verify: %s" % verdict)
        outcome = "ok" if report["ok"] else "DRIFT" if report["drift"] or not report.get(
            "tuned_unavailable") else "NOT VERIFIED (tuned is not available)"
        print("verify: %s (%d knob(s) checked, %d drifted)" % (
            outcome, len(report["knobs"]), len(report["drift"])))
    if args.log:
        verdict = "ok" if report["ok"] else "drift" if report["drift"] or not report.get(
            "tuned_unavailable") else "not verified (tuned is not available)"
        (journal.info if report["ok"] else journal.warning)(
            "verify: %s; drift: %s" % (verdict, ", ".join(report["drift"]) or "none"),
            DRIFT=" ".join(report["drift"]))
    if report["ok"]:
        return 0
    # Drift is a finding (1); a host whose tuned cannot be asked is an environment (3).
    return EXIT_FINDINGS if report["drift"] or not report.get("tuned_unavailable") else \
        EXIT_ENVIRONMENT


def run_rollback(args: argparse.Namespace) -> int:
    from lltune.tune.rollback import rollback

    if not 1 <= args.timeout <= 3600:
        raise InputError("--timeout must be between 1 and 3600 seconds")
    from lltune.tune.session import require_root, require_tuned

    require_root()
    require_tuned(ROOT)  # before the lock: without tuned, rollback cannot switch anything back
    outcome = rollback(args.backup, root=ROOT, quiet=args.quiet, timeout=args.timeout)
    if args.format == "json":
        documents.emit(documents.outcome_document("rollback", outcome))
    else:
        print(outcome.message)
    return 0


def _bundle_row(bundle: backup.Bundle) -> Dict[str, Any]:
    try:
        state = backup.read_state(bundle)
    except InputError:
        state = {"status": "unreadable"}
    return {"id": bundle.id, "path": bundle.path, "status": state.get("status", "plan"),
            "previous_profile": state.get("previous_profile")}


def run_backups(args: argparse.Namespace) -> int:
    deleted: List[str] = []
    if args.keep is not None:
        if args.keep < 1:
            raise InputError("--keep must be at least 1")
        deleted = backup.prune(args.keep)
    rows = [_bundle_row(bundle) for bundle in backup.list_bundles()]
    unrecorded = backup.unrecorded()
    if args.format == "json":
        documents.emit(documents.backups_document(rows, deleted, unrecorded))
        return 0
    for name in deleted:
        print("deleted %s" % name)
    for row in rows:
        previous = row["previous_profile"]
        print("%s  %-22s previous profile: %s" % (row["id"], row["status"],
                                                   "-" if previous is None else previous))
    for name in unrecorded:
        print("%s  not in lltune's record of its bundles (bundles.json): ignored" % name)
    print(documents.backups_message(len(rows), len(deleted), len(unrecorded)))
    return 0
