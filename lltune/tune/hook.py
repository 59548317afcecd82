"""The tuned [script] hook: what tuned's plugins cannot do.

tuned runs lltune-hook.sh from the base profile (a thin exec of /usr/libexec/lltune/lltune-hook)
with `start`, `stop [full_rollback]` or `verify [ignore_missing]`. The hook reads
hook-data.json from the host profile in tuned's user profile directory (/etc/tuned/lltune/ on
RHEL 9's layout, /etc/tuned/profiles/lltune/ on RHEL 10's: found as lltune apply found it;
absent for the base profile alone). The work is in two parts: hookcpu.py (IRQs, kernel
threads) and hookhost.py (coalescing, sysctls, swap, limits, PTP); hookbase.py holds the saved
state `stop` restores from.
"""

import sys
from typing import List, Optional

from lltune.common.errors import LLTuneError
from lltune.tune.hookbase import HookError
from lltune.tune.hookcpu import CpuWork
from lltune.tune.hookhost import HostWork


class Hook(CpuWork, HostWork):
    # -- the three verbs -------------------------------------------------------------------
    def start(self) -> int:
        data = self.load_data()
        if data is None:
            return 0
        # Validate everything first: a bad value must not leave half the work done.
        self.verify_files(data)
        self.desired_pins(data)
        self.check_sysctls(data)
        self.start_limits(data)
        self.start_ptp(data)
        self.start_swap(data)
        self.start_irqs(data)
        self.start_coalesce(data)
        self.start_kthreads(data)
        self.start_sysctls(data)
        return 0

    def stop(self, full_rollback: bool = True) -> int:
        """Undo everything start did; one failure does not stop the rest of the undo.

        Without full_rollback (tuned stopping at shutdown, or on a restart with
        rollback=not_on_exit) nothing is undone: the next start finds its own changes in
        place, and the saved originals stay for the rollback that will come."""
        if not full_rollback:
            self.notes.append("stop without full_rollback: kept what start set")
            return 0
        problems = []
        for undo in (self.stop_sysctls, self.stop_kthreads, self.stop_coalesce, self.stop_irqs,
                     self.stop_swap, self.restore_files, self.stop_ptp_services):
            # Any error, even from a malformed saved record: the other steps still run.
            try:
                problems += undo()
            except Exception as exc:
                problems.append("%s: %s" % (undo.__name__, exc))
        self.messages += problems
        return 1 if problems else 0

    def verify(self) -> int:
        data = self.load_data()
        if data is None:
            return 0
        problems = self.verify_irqs(data) + self.verify_files(data) + \
            self.verify_coalesce(data) + self.verify_kthreads(data) + \
            self.verify_sysctls(data) + self.verify_ptp_services(data)
        if data.get("swap") == "off" and self.swap_devices():
            problems.append("swap is on: %s" % ", ".join(self.swap_devices()))
        self.messages += problems
        return 1 if problems else 0


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    verb = argv[0] if argv else ""
    hook = Hook("/")
    try:
        if verb == "start":
            status = hook.start()
        elif verb == "stop":
            status = hook.stop(full_rollback="full_rollback" in argv[1:])
        elif verb == "verify":
            status = hook.verify()
        else:
            print("usage: lltune-hook start|stop [full_rollback]|verify [ignore_missing]",
                  file=sys.stderr)
            return 2
    except (HookError, LLTuneError, OSError) as exc:
        print("lltune-hook %s: %s" % (verb, exc), file=sys.stderr)
        return 1
    for note in hook.notes:
        print("lltune-hook %s: %s" % (verb, note))
    for message in hook.messages:
        print("lltune-hook %s: %s" % (verb, message), file=sys.stderr)
    return status
