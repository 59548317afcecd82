"""Putting a host back: the files apply wrote (byte for byte, from the bundle), tuned's previous
profile and mode, lltune's units; and, when tuned itself died, what tuned would have done. Used
by apply when it fails and by rollback. Every step goes on after another fails."""

import errno
import os
import re
from typing import Any, Dict, List, Set

from lltune.common.errors import InputError, LLTuneError
from lltune.model.profile import HostProfile
from lltune.system import journal
from lltune.system.dbus import BusUnavailable
from lltune.system.systemd import Systemd
from lltune.system.tuned import Tuned
from lltune.tune import backup
from lltune.tune.session import TIMER, UNITS, host_path

_COPY_NAME = re.compile(r"^files/[0-9]{3}$")
_PROFILE_NAMES = re.compile(r"^([A-Za-z0-9_.-]{1,64}( [A-Za-z0-9_.-]{1,64})*)?$")


def restore_files(records: List[Dict[str, Any]], created_dirs: List[str], bundle: backup.Bundle,
                   root: str) -> List[str]:
    """Put every recorded file back byte for byte (or delete it if apply created it)."""
    from lltune.common.files import atomic_write

    problems = []
    for record in records:
        target = host_path(root, record["path"])
        try:
            if record["existed"]:
                # Owner and mode are set on the temporary file before the rename: a chown
                # after it would follow a link planted at the target in the meantime.
                atomic_write(target, _read_copy(bundle, record["copy"]), record["mode"],
                             owner=(record["uid"], record["gid"]))
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
    data = bundle.read(name)
    if data is None:
        raise InputError("the saved copy is missing", os.path.join(bundle.path, name))
    return data


# Bundles written before lltune learned tuned's profile directories name no profile_dir.
LEGACY_PROFILE_DIR = "/etc/tuned/lltune"


def check_state(state: Dict[str, Any], bundle: backup.Bundle, trusted: Set[str]) -> None:
    """Refuse a bundle's state.json unless every record names what apply writes: the two
    files of a host profile directory in `trusted`, that directory, lltune's units, a profile
    name, a mode. Rollback runs as root and does what the bundle says."""
    records, created = state.get("files", []), state.get("created_dirs", [])
    directory = state.get("profile_dir", LEGACY_PROFILE_DIR)
    units = state.get("units_before") or {}

    def refuse(key: str) -> None:
        raise InputError("not a record lltune writes; refusing to restore from this bundle",
                         os.path.join(bundle.path, backup.STATE_FILE), key=key)

    if not isinstance(directory, str) or directory not in trusted:
        refuse("profile_dir")
    if not isinstance(records, list):
        refuse("files")
    if not isinstance(created, list) or any(d != directory for d in created):
        refuse("created_dirs")
    managed = HostProfile(directory).files
    for index, record in enumerate(records):
        valid = isinstance(record, dict) and record.get("path") in managed and \
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


def undo_apply(tuned: Tuned, systemd: Systemd, bundle: backup.Bundle, previous: str, mode: str,
          records: List[Dict[str, Any]], created: List[str], units_before: Dict[str, Any],
          root: str) -> List[str]:
    """Best effort back to the recorded state; returns what could not be restored.

    Files first: when the previous profile is lltune itself, tuned reloads it from disk on the
    switch, so the restored files must be in place by then. Switching away from lltune needs
    nothing from these files: tuned unapplies from what it holds in memory."""
    problems = restore_files(records, created, bundle, root)
    try:
        switch_back(tuned, previous, mode)
    except (LLTuneError, BusUnavailable) as exc:
        problems.append("tuned: %s" % exc)
        if not tuned_answers(tuned):
            problems += point_tuned_at(previous, root)
            problems += stop_hook(root)
    problems += restore_units(systemd, units_before)
    return problems


def tuned_answers(tuned: Tuned) -> bool:
    """Whether tuned is still on the bus: only a dead tuned needs lltune to act in its place
    (a live one keeps its own state, and its [script] stop runs on its next switch)."""
    try:
        tuned.active_profile()
        return True
    except (LLTuneError, BusUnavailable):
        return False


def stop_hook(root: str) -> List[str]:
    """tuned is gone, so its [script] stop will not run: undo the hook's changes here."""
    from lltune.tune.hook import Hook

    hook = Hook(root)
    if hook.stop():
        return ["hook: %s" % message for message in hook.messages]
    return []


# A switch back that gets no answer is tried again: tuned may only be slow. Each attempt first
# asks where tuned is, so a switch that landed after its caller gave up is not repeated.
SWITCH_BACK_ATTEMPTS = 3


def switch_back(tuned: Tuned, previous: str, mode: str) -> None:
    """Switch tuned to `previous` (off when none), retrying what got no answer."""
    for attempt in range(1, SWITCH_BACK_ATTEMPTS + 1):
        try:
            # From the second attempt: the one before may have landed after its caller gave
            # up. (Not on the first: when `previous` is lltune itself it must be reloaded.)
            if attempt > 1 and previous and tuned.active_profile() == previous and \
                    tuned.is_running():
                return
            _switch_back_once(tuned, previous, mode)
            return
        except BusUnavailable as exc:
            journal.warning("switching tuned back to %s: %s (attempt %d of %d)" % (
                previous or "off", exc, attempt, SWITCH_BACK_ATTEMPTS))
            if attempt == SWITCH_BACK_ATTEMPTS:
                raise


def _switch_back_once(tuned: Tuned, previous: str, mode: str) -> None:
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


def point_tuned_at(previous: str, root: str) -> List[str]:
    """tuned is gone: make its next start load the previous profile (what it reads at boot)."""
    from lltune.common.files import atomic_write

    try:
        atomic_write(host_path(root, "/etc/tuned/active_profile"), (previous + "\n").encode(),
                     0o644)
        return ["tuned was not answering: set /etc/tuned/active_profile to %r for its next "
                "start" % previous]
    except LLTuneError as exc:
        return ["/etc/tuned/active_profile: %s" % exc]


def restore_units(systemd: Systemd, before: Dict[str, Any]) -> List[str]:
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
