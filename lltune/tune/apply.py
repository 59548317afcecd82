"""apply: the edge where lltune changes a host.

plan -> lock -> record tuned's state -> back up every file it will write -> write files
atomically -> switch tuned over D-Bus and wait for the result, enabling lltune's units
meanwhile -> tuned's verify -> start the verify timer. Any failure puts back the previous
profile and files before exiting non-zero.
Nothing here decides *what* to set: that is the plan and the renderer, pure functions.
"""

import contextlib
import json
import os
import shutil
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

from lltune import __version__
from lltune.common.errors import EnvironmentProblem, HostError, LLTuneError
from lltune.config.loader import Config
from lltune.model.profile import PROFILE_NAME
from lltune.system import journal
from lltune.system.dbus import SystemBus
from lltune.system.systemd import CHANGE_TIMEOUT, Systemd
from lltune.system.tuned import TUNED_APPLY_TIMEOUT, Tuned, verify_failures
from lltune.tune import backup
from lltune.tune.plan import Change, build, table
from lltune.tune.render import Rendered, render
from lltune.tune.session import (
    LOCK_FILE,
    TIMER,
    UNITS,
    Lock,
    Outcome,
    Step,
    host_path,
    require_root,
    signals_held,
)
from lltune.tune.undo import undo_apply

BOOT_ID = "/proc/sys/kernel/random/boot_id"


def plan_documents(config: Config, snapshot: Dict[str, Any],
                   rendered: Rendered) -> Tuple[List[Change], Dict[str, Any], str]:
    changes = build(config, snapshot)
    document = {
        "lltune_version": __version__,
        "config": config.source,
        "host": (snapshot.get("host") or {}).get("hostname"),
        "changes": [change.as_dict() for change in changes],
        "files": sorted(rendered.files),
        "notes": rendered.notes,
        "reboot_needed": any(c.reboot and c.status != "ok" for c in changes),
    }
    markdown = "# lltune plan for %s\n\n%s" % (document["host"], table(changes))
    if rendered.notes:
        markdown += "\nNotes:\n" + "".join("- %s\n" % note for note in rendered.notes)
    return changes, document, markdown


def _config_bytes(config: Config) -> bytes:
    from lltune.common.files import read_input
    from lltune.config.loader import MAX_CONFIG_BYTES

    try:
        return read_input(config.source, MAX_CONFIG_BYTES)
    except LLTuneError:
        return (json.dumps(config.data, indent=1) + "\n").encode()


def write_plan_bundle(kind: str, config: Config, snapshot: Dict[str, Any],
                      rendered: Rendered, previous: str = "see state.json"
                      ) -> Tuple[backup.Bundle, List[Change], Dict[str, Any], str]:
    changes, document, markdown = plan_documents(config, snapshot, rendered)
    bundle = backup.new_bundle(kind, __version__, rendered.profile.directory, previous)
    try:
        bundle.write("config.yaml", _config_bytes(config))
        bundle.write_json("snapshot.json", snapshot)
        bundle.write_json("plan.json", document)
        bundle.write("plan.md", markdown.encode())
        for path, data in sorted(rendered.files.items()):
            bundle.write("profile/" + os.path.basename(path), data)
    except (OSError, LLTuneError) as exc:
        shutil.rmtree(bundle.path, ignore_errors=True)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise EnvironmentProblem("cannot write the backup bundle in %s: %s; nothing was "
                                 "changed" % (os.path.dirname(bundle.path), reason)) from None
    return bundle, changes, document, markdown


def _files_unchanged(rendered: Rendered, root: str) -> bool:
    for path, data in rendered.files.items():
        try:
            with open(host_path(root, path), "rb") as handle:
                if handle.read() != data:
                    return False
        except OSError:
            return False
    return True


def _check_space(root: str, needed: int) -> None:
    """Refuse before changing anything when the backup directory cannot hold the bundle."""
    stats = os.statvfs(backup.backups_root())
    free = stats.f_bavail * stats.f_frsize
    if free < needed + (1 << 20):
        raise EnvironmentProblem("the backup directory %s has %d KiB free; apply needs %d KiB "
                                 "for its bundle; nothing was changed"
                                 % (backup.backups_root(), free // 1024,
                                    (needed + (1 << 20)) // 1024))


def _write_files(rendered: Rendered, root: str) -> None:
    """Install the rendered files atomically."""
    from lltune.common.files import atomic_write

    os.makedirs(host_path(root, rendered.profile.directory), 0o755, exist_ok=True)
    for path, data in sorted(rendered.files.items()):
        atomic_write(host_path(root, path), data, 0o644)


def apply(config: Config, snapshot: Dict[str, Any], root: str = "/",
          bus_factory: Callable[[], SystemBus] = SystemBus, quiet: bool = False,
          keep: int = backup.DEFAULT_KEEP, timeout: float = TUNED_APPLY_TIMEOUT,
          lock: bool = True) -> Outcome:
    """Apply `config` through tuned; on failure leave the host as it was.

    lock=False: the caller already holds /run/lltune.lock (the CLI takes it before it reads
    the host, so no other apply changes the host between the snapshot and the switch)."""
    require_root()
    step = Step(8, quiet)
    step("lock %s" % LOCK_FILE)
    with (Lock(root) if lock else contextlib.nullcontext()), bus_factory() as bus:
        tuned, systemd = Tuned(bus, timeout), Systemd(bus)
        step("ask tuned what it can do and what it runs now")
        rendered = render(config, snapshot, tuned.plugins())
        previous = tuned.active_profile()
        mode, _ = tuned.profile_mode()
        units_before = {unit: systemd.unit_file_state(unit) for unit in UNITS}
        if previous == PROFILE_NAME and _files_unchanged(rendered, root) and \
                all(state == "enabled" for state in units_before.values()) and \
                not verify_failures(*tuned.verify()):
            step("nothing to change: profile %s is active, its files are as rendered and "
                 "tuned verifies it" % PROFILE_NAME)
            return Outcome(False, "no change: the host already runs this config")
        targets = {path: host_path(root, path) for path in rendered.files}
        needed = sum(len(d) for d in rendered.files.values()) + sum(
            os.path.getsize(p) for p in targets.values() if os.path.isfile(p))
        _check_space(root, needed + len(json.dumps(snapshot)))
        step("write the backup bundle")
        bundle, changes, document, _ = write_plan_bundle("apply", config, snapshot, rendered,
                                                         previous or "none (tuned-adm off)")
        # Recorded before anything is written: a crash in the middle leaves a bundle that
        # says what to undo, including the directory apply is about to create.
        directory = rendered.profile.directory
        created = [] if os.path.isdir(host_path(root, directory)) else [directory]
        try:
            records = bundle.save_originals(targets)
            bundle.update_state(status="applying", previous_profile=previous,
                                previous_mode=mode, profile_dir=directory, files=records,
                                created_dirs=created,
                                units_before=units_before, boot_id=_boot_id(root),
                                reboot_needed=document["reboot_needed"])
        except (OSError, LLTuneError) as exc:
            shutil.rmtree(bundle.path, ignore_errors=True)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise EnvironmentProblem("cannot write the backup bundle: %s; nothing was changed"
                                     % reason) from None
        try:
            step("install %s" % ", ".join(sorted(rendered.files)))
            _write_files(rendered, root)
            # Both wait on a daemon (tuned's plugins, systemd's reload): the units are
            # enabled while tuned applies. Settled before verify or the undo uses the bus; a
            # failure of either is undone below, units_before included.
            step("switch tuned to %s and wait for it to apply; enable %s meanwhile"
                 % (PROFILE_NAME, ", ".join(UNITS)))
            enabling = bus.begin(systemd.enabling(UNITS))
            switched = False
            try:
                tuned.switch(PROFILE_NAME)
                switched = True
            finally:
                bus.settle(enabling, wait=switched, timeout=2 * CHANGE_TIMEOUT + 10)
            step("verify with tuned")
            failures = verify_failures(*tuned.verify())
            if failures:
                raise HostError("tuned's verify failed after apply: %s"
                                % "; ".join(failures[:5]))
            step("start %s" % TIMER)
            systemd.start(TIMER)
        except (LLTuneError, OSError, KeyboardInterrupt) as exc:
            if isinstance(exc, KeyboardInterrupt):
                reason = "interrupted"
            elif isinstance(exc, LLTuneError):
                reason = str(exc)
            else:
                reason = "%s: %s" % (getattr(exc, "filename", ""), exc.strerror or exc)
            step("failed: %s; putting the previous state back (Ctrl-C waits for it)" % reason)
            with signals_held():
                problems = undo_apply(tuned, systemd, bundle, previous, mode, records, created,
                                 units_before, root)
                bundle.update_state(status="failed-restored" if not problems
                                    else "failed-restored-partially", error=reason,
                                    restore_problems=problems)
            journal.error("apply failed: %s" % reason)
            raise HostError("apply failed: %s; previous profile %s and files restored%s"
                            % (reason, previous or "(none)", "" if not problems else
                               " except: " + "; ".join(problems))) from None
        bundle.update_state(status="applied")
        step("done: bundle %s" % bundle.path)
        prune_quietly(keep)
        pending = [c for c in changes if c.reboot and c.status != "ok"]
        message = "applied: tuned runs %s" % PROFILE_NAME
        if pending:
            message += "; reboot for %d kernel command-line change(s)" % len(pending)
        journal.info(message)
        return Outcome(True, message, bundle.path, bool(pending), rendered.notes)


def prune_quietly(keep: int) -> None:
    """Retention after a command that succeeded: a bundle that cannot be deleted is worth a
    warning, not a failed apply."""
    try:
        backup.prune(keep)
    except (LLTuneError, OSError) as exc:
        journal.warning("could not prune old backup bundles: %s" % exc)
        print("lltune: warning: could not prune old backup bundles: %s" % exc, file=sys.stderr)


def _boot_id(root: str) -> Optional[str]:
    try:
        with open(host_path(root, BOOT_ID), encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None
