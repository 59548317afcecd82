"""Standard output and error that fail cleanly: a full disk (/dev/full), an I/O error or a
closed descriptor (`>&-`) ends the command with one line and exit 3, never a traceback.

stdout carries what the user asked for (a snapshot, a plan, audit's JSON): when it cannot be
written the command fails (StreamError, exit 3, the reason on stderr). stderr carries progress
and diagnostics: when it cannot be written those are lost and the command's own exit code
stands (an apply must not stop half-way because its progress lines had nowhere to go). A
reader that goes away (`| head`, EPIPE) is not an error at all: the command ends quietly.
"""

import errno
import os
import sys
from typing import Any, List, Optional


class StreamError(OSError):
    """Standard output could not be written (not EPIPE: that is BrokenPipeError)."""


class _Stream:
    """A text stream (sys.stdout or sys.stderr) whose write errors are told apart."""

    def __init__(self, inner: Any, name: str, fatal: bool, parent: Optional["_Stream"] = None):
        self._inner = inner
        self.name = name
        self.fatal = fatal  # stdout: an error fails the command; stderr: it is swallowed
        self.broken = False
        self.error: Optional[StreamError] = None  # kept: argparse swallows write errors
        self._parent = parent  # the text stream of a .buffer

    def _call(self, method: str, *args: Any) -> Any:
        if self._inner is None:  # the descriptor was closed when lltune started
            if method == "flush":
                return None
            return self._failed(OSError(errno.EBADF, os.strerror(errno.EBADF)))
        try:
            return getattr(self._inner, method)(*args)
        except BrokenPipeError:
            self._mark()
            if self.fatal:
                raise
            return None
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            return self._failed(exc)

    def _mark(self) -> None:
        self.broken = True
        if self._parent is not None:
            self._parent.broken = True

    def _failed(self, exc: Exception) -> None:
        self._mark()
        if self.fatal:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            self.error = StreamError(getattr(exc, "errno", None) or errno.EIO,
                                     "cannot write to standard output: %s" % reason)
            if self._parent is not None:
                self._parent.error = self.error
            raise self.error
        return None

    def write(self, text: str) -> int:
        if self.broken and not self.fatal:
            return len(text)
        self._call("write", text)
        return len(text)

    def flush(self) -> None:
        if not (self.broken and not self.fatal):
            self._call("flush")

    @property
    def buffer(self) -> "_Stream":
        inner = getattr(self._inner, "buffer", None) if self._inner is not None else None
        stream = _Stream(inner, self.name, self.fatal, self)
        if inner is None and self._inner is not None:
            stream._inner = self._inner  # a text-only stream (a test's capture)
        return stream

    def fileno(self) -> int:
        if self._inner is None:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return int(self._inner.fileno())

    def isatty(self) -> bool:
        try:
            return bool(self._inner is not None and self._inner.isatty())
        except (OSError, ValueError):
            return False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class Guard:
    """Installs the two streams for main() and puts the originals back afterwards."""

    def __init__(self) -> None:
        self.saved: List[Any] = [sys.stdout, sys.stderr]
        for fd in (0, 1, 2):
            _occupy_if_closed(fd)
        self.stdout = _Stream(sys.stdout, "stdout", fatal=True)
        self.stderr = _Stream(sys.stderr, "stderr", fatal=False)
        sys.stdout, sys.stderr = self.stdout, self.stderr  # type: ignore[assignment]

    def say(self, text: str) -> None:
        """One line on stderr, if it can be written."""
        try:
            self.stderr.write(text + "\n")
            self.stderr.flush()
        except OSError:
            pass

    def finish(self) -> None:
        """Flush stdout: StreamError when it fails now or failed before (argparse's --help
        swallows the error of its own write)."""
        self.stdout.flush()
        if self.stdout.error is not None:
            raise self.stdout.error

    def restore(self) -> None:
        self.stderr.flush()
        for stream, fd in ((self.stdout, 1), (self.stderr, 2)):
            if stream.broken:
                _silence(stream, fd)
        sys.stdout, sys.stderr = self.saved


def _occupy_if_closed(fd: int) -> None:
    """A closed 0, 1 or 2 gets /dev/null, so no file lltune opens later takes its number (a
    snapshot written to "stdout" would land in it); the Python stream stays None and writing
    to it fails as it would have (EBADF)."""
    try:
        os.fstat(fd)
    except OSError:
        spare = os.open(os.devnull, os.O_RDWR)
        if spare != fd:
            os.dup2(spare, fd)
            os.close(spare)


def _silence(stream: _Stream, fd: int) -> None:
    """Point a stream that failed at /dev/null, so the interpreter's own flush at exit has
    nowhere to fail (it would print "Exception ignored" and exit 120)."""
    try:
        if stream.fileno() != fd:
            return
    except (OSError, ValueError, AttributeError):
        return  # not a real descriptor (a test's capture)
    spare: Optional[int] = None
    try:
        spare = os.open(os.devnull, os.O_WRONLY)
        os.dup2(spare, fd)
    except OSError:
        pass
    finally:
        if spare is not None and spare != fd:
            os.close(spare)
