"""apply, rollback and verify: the edge where lltune changes a host.

apply: plan -> lock -> record tuned's state -> back up every file it will write -> write files
atomically -> switch tuned over D-Bus and wait for the result -> tuned's verify -> enable
lltune's units. Any failure puts back the previous profile and files before exiting non-zero.
Nothing here decides *what* to set: that is the plan and the renderer, pure functions.
"""

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import signal
import sys
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from lltune import __version__, backup, journal
from lltune.config import Config
from lltune.dbusclient import BusUnavailable, SystemBus
from lltune.errors import EnvironmentProblem, HostError, InputError, LLTuneError
from lltune.plan import Change, build, table
from lltune.render import HOOK_DATA, PROFILE_DIR, PROFILE_NAME, TUNED_CONF, Rendered, render
from lltune.tunedctl import TUNED_APPLY_TIMEOUT, Systemd, Tuned, verify_failures

LOCK_FILE = "/run/lltune.lock"
UNITS = ["lltune-verify.service", "lltune-verify.timer"]
BOOT_ID = "/proc/sys/kernel/random/boot_id"
TIMER = "lltune-verify.timer"
# The only files and directory apply writes, so the only ones rollback will touch.
MANAGED_FILES = (TUNED_CONF, HOOK_DATA)
_COPY_NAME = re.compile(r"^files/[0-9]{3}$")
_PROFILE_NAMES = re.compile(r"^([A-Za-z0-9_.-]{1,64}( [A-Za-z0-9_.-]{1,64})*)?$")
@dataclass
class Outcome:
    """What a command did, for the terminal, the journal and tests."""

    changed: bool
    message: str
    bundle: Optional[str] = None
    reboot_needed: bool = False
    details: List[str] = field(default_factory=list)


class Step:
    """One progress line per step, on stderr and in the journal."""

    def __init__(self, total: int, quiet: bool = False):
        self.total = total
        self.number = 0
        self.quiet = quiet

    def __call__(self, text: str) -> None:
        self.number += 1
        line = "[%d/%d] %s" % (self.number, self.total, text)
        if not self.quiet:
            print(line, file=sys.stderr, flush=True)
        journal.info(line)


def host_path(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def require_root() -> None:
    if os.geteuid() != 0:
        raise EnvironmentProblem("must run as root (tuned and systemd changes need it); "
                                 "`lltune apply --plan` works unprivileged")


class Lock:
    """An exclusive flock on /run/lltune.lock: a second apply or rollback fails at once."""

    def __init__(self, root: str = "/"):
        self.path = host_path(root, LOCK_FILE)
        self.fd: Optional[int] = None

    def __enter__(self) -> "Lock":
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            self.fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise EnvironmentProblem("cannot open %s: %s" % (self.path, exc.strerror)) from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 32, 0).decode("ascii", "replace").strip()
            os.close(self.fd)
            self.fd = None
            raise EnvironmentProblem("another lltune apply or rollback is running (pid %s "
                                     "holds %s); nothing was changed"
                                     % (holder or "?", self.path)) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, ("%d\n" % os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the flock


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
    try:
        with open(config.source, "rb") as handle:
            return handle.read()
    except OSError:
        return (json.dumps(config.data, indent=1) + "\n").encode()


def write_plan_bundle(kind: str, config: Config, snapshot: Dict[str, Any],
                      rendered: Rendered, previous: str = "see state.json"
                      ) -> Tuple[backup.Bundle, List[Change], Dict[str, Any], str]:
    changes, document, markdown = plan_documents(config, snapshot, rendered)
    bundle = backup.new_bundle(kind, __version__, previous)
    try:
        bundle.write("config.yaml", _config_bytes(config))
        bundle.write_json("snapshot.json", snapshot)
        bundle.write_json("plan.json", document)
        bundle.write("plan.md", markdown.encode())
        for path, data in sorted(rendered.files.items()):
            bundle.write("profile/" + os.path.basename(path), data)
    except OSError as exc:
        shutil.rmtree(bundle.path, ignore_errors=True)
        raise EnvironmentProblem("cannot write the backup bundle in %s: %s; nothing was "
                                 "changed" % (os.path.dirname(bundle.path),
                                              exc.strerror or exc)) from None
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
    from lltune.fsutil import atomic_write

    os.makedirs(host_path(root, PROFILE_DIR), 0o755, exist_ok=True)
    for path, data in sorted(rendered.files.items()):
        atomic_write(host_path(root, path), data, 0o644)


def _restore_files(records: List[Dict[str, Any]], created_dirs: List[str], bundle: backup.Bundle,
                   root: str) -> List[str]:
    """Put every recorded file back byte for byte (or delete it if apply created it)."""
    from lltune.fsutil import atomic_write

    problems = []
    for record in records:
        target = host_path(root, record["path"])
        try:
            if record["existed"]:
                atomic_write(target, _read_copy(bundle, record["copy"]), record["mode"])
                os.chown(target, record["uid"], record["gid"])
            elif os.path.lexists(target):
                os.unlink(target)
        except LLTuneError as exc:
            problems.append("%s: %s" % (record["path"], exc))
        except OSError as exc:
            problems.append("%s: %s" % (record["path"], exc.strerror or exc))
    for directory in created_dirs:
        try:
            os.rmdir(host_path(root, directory))
        except FileNotFoundError:
            pass  # apply stopped before it made the directory
        except OSError as exc:
            if exc.errno == errno.ENOTEMPTY:  # someone else's files: theirs to remove
                journal.warning("kept %s: it holds files lltune did not write" % directory)
            else:
                problems.append("%s: %s" % (directory, exc.strerror or exc))
    return problems


def _read_copy(bundle: backup.Bundle, name: str) -> bytes:
    fd = os.open(os.path.join(bundle.path, name), os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def check_state(state: Dict[str, Any], bundle: backup.Bundle) -> None:
    """Refuse a bundle's state.json unless every record names what apply writes: the two
    files, the profile directory, lltune's units, a profile name, a mode. Rollback runs as
    root and does what the bundle says."""
    records, created = state.get("files", []), state.get("created_dirs", [])
    units = state.get("units_before") or {}

    def refuse(key: str) -> None:
        raise InputError("not a record lltune writes; refusing to restore from this bundle",
                         os.path.join(bundle.path, backup.STATE_FILE), key=key)

    if not isinstance(records, list):
        refuse("files")
    if not isinstance(created, list) or any(d != PROFILE_DIR for d in created):
        refuse("created_dirs")
    for index, record in enumerate(records):
        valid = isinstance(record, dict) and record.get("path") in MANAGED_FILES and \
            isinstance(record.get("existed"), bool)
        if valid and record["existed"]:
            valid = isinstance(record.get("copy"), str) and bool(
                _COPY_NAME.match(record["copy"])) and all(
                type(record.get(key)) is int and record[key] >= 0
                for key in ("mode", "uid", "gid")) and record["mode"] <= 0o7777
        if not valid:
            refuse("files[%d]" % index)
    if not isinstance(units, dict) or any(
            unit not in UNITS or not isinstance(value, (str, type(None)))
            for unit, value in units.items()):
        refuse("units_before")
    if not isinstance(state.get("previous_profile") or "", str) or \
            not _PROFILE_NAMES.match(state.get("previous_profile") or ""):
        refuse("previous_profile")
    if state.get("previous_mode", "manual") not in ("auto", "manual", ""):
        refuse("previous_mode")


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
        created = [] if os.path.isdir(host_path(root, PROFILE_DIR)) else [PROFILE_DIR]
        try:
            records = bundle.save_originals(targets)
            bundle.update_state(status="applying", previous_profile=previous,
                                previous_mode=mode, files=records, created_dirs=created,
                                units_before=units_before, boot_id=_boot_id(root),
                                reboot_needed=document["reboot_needed"])
        except OSError as exc:
            shutil.rmtree(bundle.path, ignore_errors=True)
            raise EnvironmentProblem("cannot write the backup bundle: %s; nothing was changed"
                                     % (exc.strerror or exc)) from None
        try:
            step("install %s" % ", ".join(sorted(rendered.files)))
            _write_files(rendered, root)
            step("switch tuned to %s and wait for it to apply" % PROFILE_NAME)
            tuned.switch(PROFILE_NAME)
            step("verify with tuned")
            failures = verify_failures(*tuned.verify())
            if failures:
                raise HostError("tuned's verify failed after apply: %s"
                                % "; ".join(failures[:5]))
            step("enable %s" % ", ".join(UNITS))
            systemd.enable(UNITS)
            systemd.start(TIMER)
        except (LLTuneError, OSError, KeyboardInterrupt) as exc:
            if isinstance(exc, KeyboardInterrupt):
                reason = "interrupted"
            elif isinstance(exc, LLTuneError):
                reason = str(exc)
            else:
                reason = "%s: %s" % (getattr(exc, "filename", ""), exc.strerror or exc)
            step("failed: %s; putting the previous state back (Ctrl-C waits for it)" % reason)
            with _signals_held():
                problems = _undo(tuned, systemd, bundle, previous, mode, records, created,
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


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM are ignored while the previous state is put back: an undo cut
    short leaves the host worse off than a late exit."""
    held = {}
    try:
        for number in (signal.SIGINT, signal.SIGTERM):
            held[number] = signal.signal(number, signal.SIG_IGN)
    except ValueError:
        pass  # not the main thread, which is the one signals interrupt
    try:
        yield
    finally:
        for number, handler in held.items():
            signal.signal(number, handler)


def _boot_id(root: str) -> Optional[str]:
    try:
        with open(host_path(root, BOOT_ID), encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return None


def _undo(tuned: Tuned, systemd: Systemd, bundle: backup.Bundle, previous: str, mode: str,
          records: List[Dict[str, Any]], created: List[str], units_before: Dict[str, Any],
          root: str) -> List[str]:
    """Best effort back to the recorded state; returns what could not be restored.

    Files first: when the previous profile is lltune itself, tuned reloads it from disk on the
    switch, so the restored files must be in place by then. Switching away from lltune needs
    nothing from these files: tuned unapplies from what it holds in memory."""
    problems = _restore_files(records, created, bundle, root)
    try:
        _switch_back(tuned, previous, mode)
    except (LLTuneError, BusUnavailable) as exc:
        problems.append("tuned: %s" % exc)
        if not _tuned_answers(tuned):
            problems += _point_tuned_at(previous, root)
            problems += _stop_hook(root)
    problems += _restore_units(systemd, units_before)
    return problems


def _tuned_answers(tuned: Tuned) -> bool:
    """Whether tuned is still on the bus: only a dead tuned needs lltune to act in its place
    (a live one keeps its own state, and its [script] stop runs on its next switch)."""
    try:
        tuned.active_profile()
        return True
    except (LLTuneError, BusUnavailable):
        return False


def _stop_hook(root: str) -> List[str]:
    """tuned is gone, so its [script] stop will not run: undo the hook's changes here."""
    from lltune.hooks import Hook

    hook = Hook(root)
    if hook.stop():
        return ["hook: %s" % message for message in hook.messages]
    return []


def _switch_back(tuned: Tuned, previous: str, mode: str) -> None:
    if not previous:
        tuned.disable()
    elif mode == "auto" and tuned.recommended_profile() == previous:
        tuned.switch(previous, auto=True)
    else:
        tuned.switch(previous)
        if mode == "auto":
            journal.info("tuned was in automatic profile selection; it now recommends another "
                         "profile than %s, so %s stays selected by hand: `tuned-adm "
                         "auto_profile` returns to automatic selection" % (previous, previous))


def _point_tuned_at(previous: str, root: str) -> List[str]:
    """tuned is gone: make its next start load the previous profile (what it reads at boot)."""
    from lltune.fsutil import atomic_write

    try:
        atomic_write(host_path(root, "/etc/tuned/active_profile"), (previous + "\n").encode(),
                     0o644)
        return ["tuned was not answering: set /etc/tuned/active_profile to %r for its next "
                "start" % previous]
    except LLTuneError as exc:
        return ["/etc/tuned/active_profile: %s" % exc]


def _restore_units(systemd: Systemd, before: Dict[str, Any]) -> List[str]:
    to_disable = [unit for unit, state in before.items() if state != "enabled"]
    if not to_disable:
        return []
    try:
        systemd.disable(to_disable)
        if TIMER in to_disable:
            systemd.stop(TIMER)  # disabling leaves a started timer running until reboot
        return []
    except LLTuneError as exc:
        return ["units: %s" % exc]


def rollback(reference: Optional[str], root: str = "/",
             bus_factory: Callable[[], SystemBus] = SystemBus, quiet: bool = False,
             timeout: float = TUNED_APPLY_TIMEOUT) -> Outcome:
    """Restore every file apply wrote and switch tuned back to the recorded profile."""
    require_root()
    step = Step(4, quiet)
    step("lock %s" % LOCK_FILE)
    with Lock(root):
        backup.backups_root()  # refuses a state directory that is a link or not ours
        bundle = backup.find(reference)
        state = backup.read_state(bundle)
        if not state:
            raise InputError("a plan bundle: it changed nothing, so there is nothing to roll "
                             "back", bundle.path)
        if state.get("status") == "rolled-back":
            return Outcome(False, "bundle %s was already rolled back" % bundle.id, bundle.path)
        newest = backup.find(None)
        if newest.path != bundle.path:
            raise InputError("a newer apply (%s) is still in place; roll that back first"
                             % newest.id, bundle.path)
        check_state(state, bundle)
        previous = state.get("previous_profile") or ""
        with bus_factory() as bus, _signals_held():
            tuned, systemd = Tuned(bus, timeout), Systemd(bus)
            tuned.active_profile()  # tuned must answer before any file is touched
            step("restore %d file(s) from %s" % (len(state.get("files", [])), bundle.id))
            problems = _restore_files(state.get("files", []), state.get("created_dirs", []),
                                      bundle, root)
            step("switch tuned back to %s" % (previous or "off"))
            try:
                _switch_back(tuned, previous, state.get("previous_mode", "manual"))
            except (LLTuneError, BusUnavailable) as exc:
                bundle.update_state(status="rollback-incomplete",
                                    rollback_problems=problems + ["tuned: %s" % exc])
                raise HostError("rollback: %s; the files are restored; run `lltune rollback` "
                                "again once tuned answers" % exc) from None
            step("disable and stop lltune's units")
            problems += _restore_units(systemd, state.get("units_before") or {})
            bundle.update_state(status="rolled-back" if not problems
                                else "rollback-incomplete", rollback_problems=problems)
    reboot = bool(state.get("reboot_needed"))
    message = "rolled back to %s" % (previous or "no tuned profile")
    if reboot:
        message += "; reboot to drop lltune's kernel command-line parameters"
    if problems:
        raise HostError(message + ", except: " + "; ".join(problems))
    journal.info(message)
    return Outcome(True, message, bundle.path, reboot)
