"""The host reader: the only code that opens /proc, /sys and /etc or asks the host anything.

Everything else names canonical paths ("/proc/interrupts"); the reader maps them onto its
source: the live host, a root prefix (`--root DIR`, resolved like a chroot so no link leaves the
tree), or a capture bundle held in memory. Answers that are not files (ethtool ioctls, D-Bus
calls, command outputs) are "probes": run live, or replayed from what a capture recorded.
A RecordingReader wraps any reader and keeps every answer, which is what a capture stores, so
a scan of the capture runs the same code on the same answers.
"""

import errno
import os
import posixpath
import stat
import subprocess
from typing import Any, Callable, Dict, List, Optional

# /proc/interrupts of a 256-CPU host with a few thousand IRQs is a few MB; nothing we read is
# legitimately larger, and a hostile --root tree must not make us read a huge file.
MAX_FILE_BYTES = 64 * 1024 * 1024
_MAX_LINK_HOPS = 40  # the kernel's own limit (MAXSYMLINKS)
TOO_LARGE = "larger than %d bytes, lltune's limit for one file; not read" % MAX_FILE_BYTES
# Reasons a file could not be read that the snapshot's `missing` list names even where a
# collector treats the file as optional: the host holds it but lltune could not use it.
_ABSENT = {os.strerror(errno.ENOENT), os.strerror(errno.ENOTDIR), "not captured",
           "not recorded", "not available offline"}
_RAISE = object()


class Missing(Exception):
    """A path or probe the source cannot answer; `reason` says why (errno text, "not captured")."""

    def __init__(self, path: str, reason: str):
        super().__init__("%s: %s" % (path, reason))
        self.path = path
        self.reason = reason


def _canonical(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError("reader paths are absolute: %r" % path)
    if "/." in path or "//" in path or (path.endswith("/") and path != "/"):
        return posixpath.normpath(path)
    return path  # already canonical: the common case, 15,000 times a scan


class Reader:
    """Interface shared by the live/root reader, the bundle reader and the recorder."""

    description = ""

    def read(self, path: str, default: Any = _RAISE) -> Any:
        """The whole file as text (undecodable bytes replaced); `default` instead of Missing."""
        try:
            return self._read(_canonical(path))
        except Missing as exc:
            self._refused(exc)
            if default is _RAISE:
                raise
            return default

    def _refused(self, exc: Missing) -> None:
        """Remember why a path the host has could not be read (permission denied, too
        large, a FIFO, a link loop): scan lists these in `missing`, and a collector that
        notes a file as missing names this reason instead of "absent"."""
        if exc.reason not in _ABSENT:
            if not hasattr(self, "refusals"):
                self.refusals: Dict[str, str] = {}
            self.refusals.setdefault(exc.path, exc.reason)

    def why(self, path: str, default: str = "absent") -> str:
        """Why `path` could not be read, if the reader knows ("Permission denied")."""
        return getattr(self, "refusals", {}).get(_canonical(path), default)

    def value(self, path: str, default: Any = None) -> Any:
        """A one-value sysfs/procfs file, stripped of blanks and NUL padding; `default` when
        missing."""
        text = self.read(path, None)
        return default if text is None else text.strip(" \t\r\n\x00")

    def listdir(self, path: str, default: Any = _RAISE) -> Any:
        """Sorted entry names of a directory."""
        try:
            return self._listdir(_canonical(path))
        except Missing as exc:
            self._refused(exc)
            if default is _RAISE:
                raise
            return default

    def realpath(self, path: str) -> Optional[str]:
        """The canonical link-free path inside the source, or None when it does not exist."""
        return self._realpath(_canonical(path))

    def probe(self, key: str, func: Callable[[], Any]) -> Any:
        """A non-file answer: `func()` live, the recorded answer otherwise. Raises Missing."""
        return self._probe(key, func)

    def run(self, argv: List[str], timeout: float = 20.0) -> Dict[str, Any]:
        """A command's {"rc", "stdout", "stderr"}, spawned at most once per reader (a probe)."""
        return self.probe("cmd:" + " ".join(argv), lambda: _run_command(argv, timeout))

    # subclasses implement these
    def _read(self, path: str) -> str:
        raise NotImplementedError

    def _listdir(self, path: str) -> List[str]:
        raise NotImplementedError

    def _realpath(self, path: str) -> Optional[str]:
        raise NotImplementedError

    def _probe(self, key: str, func: Callable[[], Any]) -> Any:
        raise NotImplementedError


def _run_command(argv: List[str], timeout: float) -> Dict[str, Any]:
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout, check=False,
                              env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    except FileNotFoundError:
        raise Missing(argv[0], "command not found") from None
    except subprocess.TimeoutExpired:
        raise Missing(argv[0], "timed out after %gs" % timeout) from None
    except OSError as exc:
        raise Missing(argv[0], exc.strerror or str(exc)) from None
    return {"rc": done.returncode, "stdout": done.stdout.decode("utf-8", "replace"),
            "stderr": done.stderr.decode("utf-8", "replace")}


def _errno_reason(exc: OSError) -> str:
    if exc.errno == errno.EINVAL and exc.strerror == "not a regular file":
        return exc.strerror
    return os.strerror(exc.errno) if exc.errno else str(exc)


class RootReader(Reader):
    """Reads the live host (root "/") or a tree at a root prefix, resolved like a chroot.

    Probes run only against the live host; for a tree they come from `recorded_probes`
    (a capture's or a generated host's) or are Missing.
    """

    def __init__(self, root: str = "/", recorded_probes: Optional[Dict[str, Any]] = None):
        self.root = os.path.abspath(root)
        self.is_live = self.root == "/" and recorded_probes is None
        self._probes = recorded_probes
        self._probe_cache: Dict[str, Any] = {}
        self._dir_cache: Dict[str, str] = {"/": "/"}
        self.description = "live host" if self.root == "/" else "root %s" % self.root

    # Mapping a canonical path onto the host filesystem.
    def _host(self, canonical: str) -> str:
        if self.root == "/":
            return canonical
        return self.root + canonical if canonical != "/" else self.root

    def _resolve(self, path: str) -> str:
        """The link-free path inside the root: like the kernel's lookup under a chroot.

        Parents are resolved first (and cached), so "a/link/.." means the parent of where
        the link points; an absolute link target starts again at the root. Iterative, with
        the kernel's limit of 40 links per lookup: a target of 1,500 "./" or "../" costs a
        loop, not a recursion as deep as the target is long.
        """
        if self.root == "/":
            return os.path.realpath(path)
        if not path.strip("/"):
            return "/"
        parent, name = posixpath.split(path)
        return self._walk(self._resolve_dir(parent), [name], path)

    def _resolve_dir(self, path: str) -> str:
        """A directory's link-free path, each ancestor resolved once and cached."""
        resolved = self._dir_cache.get(path)
        if resolved is not None:
            return resolved
        names: List[str] = []
        ancestor = path
        while ancestor not in self._dir_cache:
            ancestor, _, name = ancestor.rpartition("/")
            names.append(name)
            ancestor = ancestor or "/"
        resolved = self._dir_cache[ancestor]
        for name in reversed(names):
            ancestor = ("" if ancestor == "/" else ancestor) + "/" + name
            resolved = self._walk(resolved, [name], path)
            self._dir_cache[ancestor] = resolved
        return resolved

    def _walk(self, resolved: str, names: List[str], path: str) -> str:
        """Resolve `names` one component at a time from the link-free directory `resolved`."""
        pending = [name for name in reversed(names) if name not in ("", ".")]
        hops = 0
        while pending:
            name = pending.pop()
            if name == "..":
                resolved = posixpath.dirname(resolved)
                continue
            candidate = ("" if resolved == "/" else resolved) + "/" + name
            try:
                info = os.lstat(self._host(candidate))
            except OSError:
                # Absent: what follows cannot exist either; the caller's open or listdir
                # reports it. ".." still climbs from here.
                resolved = candidate
                continue
            if not stat.S_ISLNK(info.st_mode):
                resolved = candidate
                continue
            hops += 1
            if hops > _MAX_LINK_HOPS:
                raise Missing(path, os.strerror(errno.ELOOP))
            try:
                target = os.readlink(self._host(candidate))
            except OSError as exc:
                raise Missing(path, _errno_reason(exc)) from None
            if target.startswith("/"):
                resolved = "/"
            pending.extend(part for part in reversed(target.split("/"))
                           if part not in ("", "."))
        return resolved

    def _open(self, path: str) -> int:
        """A read-only fd for `path`, never through a link that leaves the root, and never
        on a device node or FIFO (opening one can have effects: think /dev/watchdog)."""
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
        if self.root == "/":
            return os.open(path, flags)
        parent, _, name = path.rpartition("/")
        resolved = self._resolve_dir(parent or "/")
        target = self._host((resolved if resolved != "/" else "") + "/" + name)
        info = os.lstat(target)
        if stat.S_ISLNK(info.st_mode):
            target = self._host(self._resolve(path))
            info = os.lstat(target)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        return os.open(target, flags | os.O_NOFOLLOW)

    def _read(self, path: str) -> str:
        try:
            fd = self._open(path)
        except OSError as exc:
            raise Missing(path, _errno_reason(exc)) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise Missing(path, "not a regular file")
            # A file on disk says its size: one over the cap is refused unread. procfs and
            # sysfs files say 0 (or a page) and are read until the end, to the cap plus one.
            if info.st_size > MAX_FILE_BYTES:
                raise Missing(path, TOO_LARGE)
            size = info.st_size
            data = bytearray(os.read(fd, size + 1 if size else 1 << 20))
            chunk = data
            while chunk and not 0 < len(data) <= size:
                chunk = os.read(fd, min(1 << 20, MAX_FILE_BYTES + 1 - len(data)))
                data += chunk
                if len(data) > MAX_FILE_BYTES:
                    raise Missing(path, TOO_LARGE)
        except OSError as exc:
            raise Missing(path, _errno_reason(exc)) from None
        finally:
            os.close(fd)
        return data.decode("utf-8", "replace")

    def _listdir(self, path: str) -> List[str]:
        host_path = self._host(self._resolve(path))
        try:
            return sorted(os.listdir(host_path))
        except OSError as exc:
            raise Missing(path, _errno_reason(exc)) from None

    def _realpath(self, path: str) -> Optional[str]:
        try:
            resolved = self._resolve(path)
        except Missing:
            return None
        return resolved if os.path.lexists(self._host(resolved)) else None

    def _probe(self, key: str, func: Callable[[], Any]) -> Any:
        if self._probes is not None:
            return _recorded_answer(self._probes, key)
        if not self.is_live:
            raise Missing(key, "not available offline")
        if key not in self._probe_cache:
            try:
                self._probe_cache[key] = {"data": func()}
            except Missing as exc:
                self._probe_cache[key] = {"error": exc.reason}
        return _recorded_answer(self._probe_cache, key)


def _recorded_answer(probes: Dict[str, Any], key: str) -> Any:
    answer = probes.get(key)
    if answer is None:
        raise Missing(key, "not recorded")
    if "error" in answer:
        raise Missing(key, answer["error"])
    return answer.get("data")


class MemoryReader(Reader):
    """A source held in memory: what a capture bundle recorded (see capture.py)."""

    def __init__(self, files: Dict[str, Any], dirs: Dict[str, List[str]],
                 realpaths: Dict[str, Optional[str]], missing: Dict[str, str],
                 probes: Dict[str, Any], description: str):
        self._files = files
        self._dirs = dirs
        self._realpaths = realpaths
        self._missing = missing
        self._probes = probes
        self.description = description

    def _read(self, path: str) -> str:
        if path in self._files:
            data = self._files[path]
            return data if isinstance(data, str) else data.decode("utf-8", "replace")
        raise Missing(path, self._missing.get(path, "not captured"))

    def _listdir(self, path: str) -> List[str]:
        if path in self._dirs:
            return list(self._dirs[path])
        raise Missing(path, self._missing.get(path, "not captured"))

    def _realpath(self, path: str) -> Optional[str]:
        return self._realpaths.get(path)

    def _probe(self, key: str, func: Callable[[], Any]) -> Any:
        return _recorded_answer(self._probes, key)


class RecordingReader(Reader):
    """Wraps a reader and keeps every answer it gives, for a capture bundle."""

    def __init__(self, inner: Reader):
        self.inner = inner
        self.description = inner.description
        self.files: Dict[str, str] = {}
        self.dirs: Dict[str, List[str]] = {}
        self.realpaths: Dict[str, Optional[str]] = {}
        self.missing: Dict[str, str] = {}
        self.probes: Dict[str, Any] = {}

    def _read(self, path: str) -> str:
        try:
            text = self.inner.read(path)
        except Missing as exc:
            self.missing[path] = exc.reason
            raise
        self.files[path] = text
        return text

    def _listdir(self, path: str) -> List[str]:
        try:
            names = self.inner.listdir(path)
        except Missing as exc:
            self.missing[path] = exc.reason
            raise
        self.dirs[path] = names
        return names

    def _realpath(self, path: str) -> Optional[str]:
        resolved = self.inner.realpath(path)
        self.realpaths[path] = resolved
        return resolved

    def _probe(self, key: str, func: Callable[[], Any]) -> Any:
        try:
            data = self.inner.probe(key, func)
        except Missing as exc:
            self.probes[key] = {"error": exc.reason}
            raise
        self.probes[key] = {"data": data}
        return data
