"""What apply and rollback share around their work: root, the lock, lltune's units and files,
one progress line per step, signals held while the host is being put back, and the outcome."""

import contextlib
import fcntl
import os
import signal
import sys
from dataclasses import dataclass, field
from typing import Any, Iterator, List, Optional

from lltune.common.errors import EnvironmentProblem
from lltune.system import journal

LOCK_FILE = "/run/lltune.lock"
UNITS = ["lltune-verify.service", "lltune-verify.timer"]
TIMER = "lltune-verify.timer"


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


def require_tuned(root: str = "/") -> None:
    """EnvironmentProblem (exit 3) unless tuned is installed: its unit, daemon or Python
    package is there. Checked before the lock is taken: apply and rollback do everything
    through tuned."""
    from lltune.host.collectors.tuned import tuned_present
    from lltune.host.reader import RootReader

    if not tuned_present(RootReader(root)):
        raise EnvironmentProblem("tuned is not installed (no tuned.service, tuned daemon or "
                                 "tuned Python package): lltune applies and rolls back "
                                 "through it; install it (dnf install tuned) and start it; "
                                 "nothing was changed")


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


def lock_holder(root: str = "/") -> Optional[str]:
    """The pid written in /run/lltune.lock while an apply or rollback holds it, else None.
    Probed and let go at once, never held: a verify running must not make an apply fail."""
    try:
        fd = os.open(host_path(root, LOCK_FILE),
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return None  # no lock file: no apply has run since boot (or it is not ours to read)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
    except OSError:
        return None
    finally:
        os.close(fd)  # closing releases a shared lock the probe got
    return None


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
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
