"""rollback: undo the newest apply not yet rolled back (or the one named), from its bundle."""

from typing import Callable, Optional

from lltune.common.errors import HostError, InputError, LLTuneError
from lltune.host.collectors.tuned import profile_dirs
from lltune.host.reader import RootReader
from lltune.model.profile import trusted_profiles
from lltune.system import journal
from lltune.system.dbus import BusUnavailable, SystemBus
from lltune.system.systemd import Systemd
from lltune.system.tuned import TUNED_APPLY_TIMEOUT, Tuned
from lltune.tune import backup
from lltune.tune.session import LOCK_FILE, Lock, Outcome, Step, require_root, signals_held
from lltune.tune.undo import check_state, restore_files, restore_units, switch_back

NOTHING_LEFT = ("nothing to roll back: no lltune apply is left in place (see `lltune "
                "backups`)")


def rollback(reference: Optional[str], root: str = "/",
             bus_factory: Callable[[], SystemBus] = SystemBus, quiet: bool = False,
             timeout: float = TUNED_APPLY_TIMEOUT) -> Outcome:
    """Restore every file apply wrote and switch tuned back to the recorded profile."""
    require_root()
    step = Step(4, quiet)
    step("lock %s" % LOCK_FILE)
    with Lock(root):
        backup.backups_root()  # refuses a state directory that is a link or not ours
        if reference is None and not backup.pending_rollback():
            # Not an error: automation runs rollback until the host is back where it was.
            return Outcome(False, NOTHING_LEFT)
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
        check_state(state, bundle, trusted_profiles([profile_dirs(RootReader(root))[0][-1]]))
        previous = state.get("previous_profile") or ""
        with bus_factory() as bus, signals_held():
            tuned, systemd = Tuned(bus, timeout), Systemd(bus)
            tuned.active_profile()  # tuned must answer before any file is touched
            step("restore %d file(s) from %s" % (len(state.get("files", [])), bundle.id))
            problems = restore_files(state.get("files", []), state.get("created_dirs", []),
                                      bundle, root)
            step("switch tuned back to %s" % (previous or "off"))
            try:
                switch_back(tuned, previous, state.get("previous_mode", "manual"))
            except (LLTuneError, BusUnavailable) as exc:
                bundle.update_state(status="rollback-incomplete",
                                    rollback_problems=problems + ["tuned: %s" % exc])
                raise HostError("rollback: %s; the files are restored; run `lltune rollback` "
                                "again once tuned answers" % exc) from None
            step("disable and stop lltune's units")
            problems += restore_units(systemd, state.get("units_before") or {})
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
