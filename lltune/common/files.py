"""Every file lltune writes and every file it reads that a user named or that it wrote itself.

Writing (atomic_write, write_output): one writer for all of them: CLI outputs, capture bundles,
the profile files apply installs, the hook's files, restores, state.json. The new content goes
to a temporary file created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, a random name)
in the target's directory, is written, fsynced, given its final owner and mode, and renamed
over the target; the directory is fsynced. A crash leaves the old file or the new one.

Root writing into a directory other users can write (/tmp) is safe by construction rather
than refused: every step works on one directory fd (so the directory cannot be swapped
underneath), the temporary name is random and created with O_EXCL|O_NOFOLLOW (a name planted
in advance, link or not, makes it pick another), and the target itself is never opened, only
replaced by rename(2), which replaces a planted link instead of following it. A target that
is not a regular file (a symlink, device, FIFO, socket or directory) is refused with
InputError: `-o /dev/null` must not replace /dev/null. Kernel attributes (/proc/irq/N/...)
are the one thing written in place, by the hook, never through here.

Reading (read_input, open_input, read_state_file): regular files only, opened non-blocking and
checked with fstat (a FIFO or /dev/zero never blocks or streams forever), read with a cap that
the error names when it is hit. A file the user names may be a symlink to a regular file (the
user chose the path; /etc/lltune/lltune.yaml -> a checkout is common); what lltune reads back
from its own state is opened with O_NOFOLLOW and must be its own (owner, mode).
"""

import contextlib
import errno
import os
import secrets
import stat
import sys
from typing import IO, Callable, Iterator, Optional, Tuple

from lltune.common.errors import EnvironmentProblem, InputError

# Errors that say the machine, not the argument, is the problem (exit 3, not 2).
_ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EROFS, errno.ENOMEM}
_KINDS = ((stat.S_ISLNK, "a symlink"), (stat.S_ISDIR, "a directory"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"))
# Bits a file lltune trusts must not carry: writable by group or others, setuid, setgid.
_UNTRUSTED_BITS = stat.S_IWGRP | stat.S_IWOTH | stat.S_ISUID | stat.S_ISGID
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def kind(mode: int) -> str:
    """"a FIFO", "a symlink", ... for a file that is not a regular file."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def _write_error(exc: OSError, path: str) -> Exception:
    reason = exc.strerror or str(exc)
    if exc.errno in _ENVIRONMENT_ERRNOS:
        return EnvironmentProblem("%s: cannot write: %s" % (path, reason))
    return InputError("cannot write: %s" % reason, path)


def atomic_write(path: str, data: bytes = b"", mode: Optional[int] = None,
                 owner: Optional[Tuple[int, int]] = None,
                 produce: Optional[Callable[[IO[bytes]], None]] = None) -> None:
    """Replace `path` with `data` (or what `produce(handle)` writes) so a crash leaves the old
    or the new file, never a mix.

    mode and owner: what the file gets; by default an existing target keeps its owner and
    permission bits (setuid and setgid dropped) and a new one gets 0666 minus the umask.
    InputError (exit 2) for a target that is not a regular file or a directory that cannot
    take it; EnvironmentProblem (exit 3) for a full disk, I/O errors or a read-only file
    system.
    """
    directory, name = os.path.split(os.path.abspath(path))
    if not name or name in (".", "..") or path.endswith("/"):
        raise InputError("is a directory, not a file name", path)
    try:
        dir_fd = os.open(directory or "/", os.O_RDONLY | os.O_DIRECTORY | _O_CLOEXEC)
    except OSError as exc:
        raise _write_error(exc, path) from None
    try:
        _replace(dir_fd, name, path, data, mode, owner, produce)
    finally:
        os.close(dir_fd)


def _replace(dir_fd: int, name: str, path: str, data: bytes, mode: Optional[int],
             owner: Optional[Tuple[int, int]],
             produce: Optional[Callable[[IO[bytes]], None]]) -> None:
    try:
        existing: Optional[os.stat_result] = os.stat(name, dir_fd=dir_fd,
                                                     follow_symlinks=False)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise _write_error(exc, path) from None
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise InputError("%s, not a regular file; refusing to replace it"
                         % kind(existing.st_mode), path)
    temp, fd = _create_temp(dir_fd, name, path)
    try:
        with os.fdopen(fd, "wb") as handle:
            if produce is not None:
                produce(handle)
            else:
                handle.write(data)
            handle.flush()
            if owner is None and existing is not None:
                owner = (existing.st_uid, existing.st_gid)
            if owner is not None and owner != (os.geteuid(), os.getegid()):
                try:
                    os.fchown(handle.fileno(), *owner)  # before fchmod: chown clears setuid
                except PermissionError:
                    raise InputError("cannot keep its owner (uid %d, gid %d); write it as that "
                                     "user or as root" % owner, path) from None
            if mode is None:
                mode = stat.S_IMODE(existing.st_mode) & ~(stat.S_ISUID | stat.S_ISGID) \
                    if existing is not None else 0o666 & ~_umask()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.rename(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.fsync(dir_fd)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
        if isinstance(exc, OSError):
            raise _write_error(exc, path) from None
        raise


def _create_temp(dir_fd: int, name: str, path: str) -> Tuple[str, int]:
    """A new file next to the target, created exclusively, never through a link."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | _O_CLOEXEC
    for _ in range(100):
        temp = ".%s.%s.tmp" % (name[:180], secrets.token_hex(8))
        try:
            return temp, os.open(temp, flags, 0o600, dir_fd=dir_fd)
        except FileExistsError:
            continue  # someone holds that name: take another
        except OSError as exc:
            raise _write_error(exc, path) from None
    raise InputError("cannot create a temporary file next to it", path)


def write_output(path: str, data: bytes = b"",
                 produce: Optional[Callable[[IO[bytes]], None]] = None) -> None:
    """A file the user asked for (-o, --md-report): `-` is standard output."""
    if path == "-":
        sys.stdout.flush()
        stream = getattr(sys.stdout, "buffer", None) or sys.stdout
        if produce is not None:
            produce(stream)
        else:
            stream.write(data)
        stream.flush()
        return
    atomic_write(path, data, produce=produce)


def _read_error(exc: OSError, path: str, follow: bool) -> InputError:
    if exc.errno == errno.ELOOP and not follow:
        return InputError("a symlink; lltune reads its own files only directly", path)
    return InputError(exc.strerror or str(exc), path)


def open_input(path: str, limit: int, what: str = "", follow: bool = True) -> IO[bytes]:
    """A regular file opened for reading, at most `limit` bytes long, or InputError.

    Checked before it is opened (a device node is never opened: opening some has effects)
    and again with fstat on the descriptor (the name may have changed in between); opened
    O_NONBLOCK so a FIFO swapped in never blocks. follow=False: O_NOFOLLOW, for lltune's own
    state, where a symlink has no business."""
    try:
        info = os.stat(path, follow_symlinks=follow)
    except OSError as exc:
        raise _read_error(exc, path, follow) from None
    if not stat.S_ISREG(info.st_mode):
        raise InputError("%s, not a regular file" % kind(info.st_mode), path)
    flags = os.O_RDONLY | os.O_NONBLOCK | _O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _read_error(exc, path, follow) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InputError("%s, not a regular file" % kind(info.st_mode), path)
        if info.st_size > limit:
            raise InputError("larger than %d bytes%s" % (limit, what), path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_capped(handle: IO[bytes], path: str, limit: int, what: str) -> bytes:
    try:
        raw = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), path) from None
    if len(raw) > limit:  # the file grew after fstat
        raise InputError("larger than %d bytes%s" % (limit, what), path)
    return raw


def read_input(path: str, limit: int, what: str = "", follow: bool = True) -> bytes:
    """An input file (config, snapshot, probes) of at most `limit` bytes, or InputError."""
    with open_input(path, limit, what, follow) as handle:
        return _read_capped(handle, path, limit, what)


def check_trusted(path: str, info: os.stat_result, what: str = "file") -> None:
    """EnvironmentProblem unless `info` (of `path`) is ours and writable by nobody else."""
    if info.st_uid != os.geteuid():
        raise EnvironmentProblem(
            "%s: this %s of lltune's state belongs to uid %d, not to uid %d that runs lltune; "
            "refusing to trust it (remove it, or chown it if you made it)"
            % (path, what, info.st_uid, os.geteuid()))
    if info.st_mode & _UNTRUSTED_BITS:
        raise EnvironmentProblem(
            "%s: this %s of lltune's state has mode %04o (writable by others, or setuid/"
            "setgid); refusing to trust it (chmod go-w,ug-s it if its content is yours)"
            % (path, what, stat.S_IMODE(info.st_mode)))


def read_state_file(path: str, limit: int) -> Optional[bytes]:
    """A file lltune wrote into its state directory: None when absent, else its bytes, after
    checking it is a regular file (not a link), ours and writable by nobody else."""
    try:
        handle = open_input(path, limit, follow=False)
    except InputError as exc:
        if not os.path.lexists(path):
            return None
        # A link, FIFO or device where lltune keeps its state: not lltune's, not trusted.
        raise EnvironmentProblem("%s; refusing to trust it as lltune's state (remove it)"
                                 % exc) from None
    with handle:
        check_trusted(path, os.fstat(handle.fileno()))
        return _read_capped(handle, path, limit, "")


def decode_input(raw: bytes, path: str) -> str:
    """UTF-8 text, or an InputError at the line and column of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError("not UTF-8 text (byte %d)" % exc.start, path, line, column) from None


def _ancestors_trusted(path: str) -> None:
    """Every directory above `path` is owned by root or us and writable by nobody else, or
    sticky (/tmp: others cannot rename or remove what is ours in it), as OpenSSH's StrictModes
    asks of ~/.ssh: otherwise someone else could swap the state directory for their own."""
    current = os.path.realpath(os.path.dirname(os.path.abspath(path)))
    while True:
        try:
            info = os.stat(current)
        except OSError as exc:
            raise EnvironmentProblem("%s: %s" % (current, exc.strerror)) from None
        writable = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if info.st_uid not in (0, os.geteuid()) or (writable and
                                                       not info.st_mode & stat.S_ISVTX):
            raise EnvironmentProblem(
                "%s is owned by uid %d with mode %04o: another user could replace lltune's "
                "state directory %s below it; make it owned by root and not writable by group "
                "or others" % (current, info.st_uid, stat.S_IMODE(info.st_mode), path))
        parent = os.path.dirname(current)
        if parent == current:
            return
        current = parent


def trusted_dir(path: str, create: bool = True, ancestors: bool = True) -> str:
    """A directory of lltune's state (the state directory, backups/, a bundle, hook-state/):
    created 0700 when absent (create=True), else checked: a real directory, not a link, owned
    by the user running lltune and writable by nobody else, with every directory above it
    safe too (ancestors=True). Anything else is an EnvironmentProblem (exit 3) naming the
    path and the fix; nothing is chmod'ed behind the user's back."""
    if ancestors:
        _ancestors_trusted(path)
    if create:
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise EnvironmentProblem("cannot create %s: %s" % (path, exc.strerror)) from None
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise EnvironmentProblem("%s: %s" % (path, exc.strerror)) from None
    if not stat.S_ISDIR(info.st_mode):
        raise EnvironmentProblem("%s is %s, not a directory; refusing to use it for lltune's "
                                 "state (remove it)" % (path, kind(info.st_mode)))
    check_trusted(path, info, "directory")
    return path


@contextlib.contextmanager
def locked_dir(path: str) -> Iterator[int]:
    """An exclusive flock on a directory (held while the critical section runs)."""
    import fcntl

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
