"""Writing files safely: temp file in the same directory, fsync, rename, fsync the directory."""

import os
import tempfile
from typing import Optional

from lltune.common.errors import InputError


def atomic_write(path: str, data: bytes, mode: Optional[int] = None) -> None:
    """Replace `path` with `data` so a crash leaves the old or the new file, never a mix."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    except OSError as exc:
        raise InputError("cannot write: %s" % (exc.strerror or exc), path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temp, mode)
        else:
            os.chmod(temp, 0o666 & ~_umask())
        os.rename(temp, path)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        if os.path.exists(temp):
            os.unlink(temp)
        raise InputError("cannot write: %s" % (exc.strerror or exc), path) from None


def read_input(path: str, limit: int, what: str = "") -> bytes:
    """An input file (config, snapshot, probes) of at most `limit` bytes, or InputError."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise InputError(exc.strerror or str(exc), path) from None
    if len(raw) > limit:
        raise InputError("larger than %d bytes%s" % (limit, what), path)
    return raw


def decode_input(raw: bytes, path: str) -> str:
    """UTF-8 text, or an InputError at the line and column of the first bad byte."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise InputError("not UTF-8 text (byte %d)" % exc.start, path, line, column) from None


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
