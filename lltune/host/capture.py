"""Capture bundles: every file and probe answer a scan used, so it can be scanned again offline.

Layout of the .tar.gz (all under one top folder, regular files only):
  lltune-capture/manifest.json   format, versions, sha256 of every member, directory listings,
                                 resolved links and the reasons paths were missing
  lltune-capture/tree/...        the files as read (canonical paths: tree/proc/interrupts)
  lltune-capture/probes.json     ethtool, D-Bus and command answers
  lltune-capture/snapshot.json   the snapshot the capture's own scan produced

Opening a bundle never writes to disk: members are checked (names, types, sizes, hashes) and
held in memory. Anything unexpected is an InputError (exit 2).
"""

import hashlib
import io
import json
import lzma
import os
import posixpath
import tarfile
import time
import zlib
from typing import Any, Dict, List, Tuple

from lltune import __version__
from lltune.common.documents import parse_json
from lltune.common.errors import InputError
from lltune.host.reader import MemoryReader, RecordingReader

TOP = "lltune-capture"
FORMAT = "lltune-capture"
FORMAT_VERSION = 1
PROBES_FORMAT = "lltune-probes"
# The large generated host (tests/hostgen.py: 256 CPUs, 1,331 IRQs) makes a bundle of 0.5 MB
# holding 11,000 members and 7 MB uncompressed; these limits leave room for hosts several times
# larger while a hostile bundle (a gzip bomb, a gigabyte pax header) costs at most about the
# total below, checked from the headers before any member is read.
MAX_MEMBERS = 50000
MAX_MEMBER_BYTES = 64 * 1024 * 1024  # the host reader's own limit for one file
MAX_TOTAL_BYTES = 96 * 1024 * 1024
MAX_JSON_BYTES = 32 * 1024 * 1024  # manifest.json, probes.json, snapshot.json
MAX_BUNDLE_BYTES = 64 * 1024 * 1024  # the compressed file


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(TOP + "/" + name)
    info.size = len(data)
    info.mtime = int(mtime)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def write_bundle(recorder: RecordingReader, snapshot: Dict[str, Any], path: str) -> int:
    """Write the bundle atomically (common.files: temp file, fsync, rename; `-` is standard
    output); returns its size in bytes."""
    now = time.time()
    members: Dict[str, bytes] = {}
    for canonical, text in sorted(recorder.files.items()):
        members["tree" + canonical] = text.encode("utf-8")
    members["probes.json"] = json.dumps(
        {"format": PROBES_FORMAT, "format_version": FORMAT_VERSION, "probes": recorder.probes},
        indent=1, sort_keys=True).encode()
    members["snapshot.json"] = json.dumps(snapshot, separators=(",", ":")).encode()
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "lltune_version": __version__,
        "created": snapshot.get("generated_at"),
        "source": snapshot.get("source"),
        "sha256": {name: _sha256(data) for name, data in members.items()},
        "dirs": recorder.dirs,
        "realpaths": recorder.realpaths,
        "missing": recorder.missing,
    }
    from lltune.common.files import write_output

    written = [0]

    def produce(handle: Any) -> None:
        counted = _Counting(handle, written)
        with tarfile.open(fileobj=counted, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode(),
                 now)
            for name, data in members.items():
                _add(tar, name, data, now)

    # Streamed into the output writer's temporary file (or standard output for `-`): the
    # compressed bundle is never held in memory as a whole.
    write_output(path, produce=produce)
    return written[0]


class _Counting:
    """A write-only file object that counts what passes through it."""

    def __init__(self, handle: Any, written: list):
        self.handle = handle
        self.written = written

    def write(self, data: bytes) -> int:
        self.handle.write(data)
        self.written[0] += len(data)
        return len(data)

    def flush(self) -> None:
        self.handle.flush()


def _member_name(path: str, member: tarfile.TarInfo) -> str:
    """The member's name inside the top folder, after the safety checks."""
    name = member.name
    if "\x00" in name or name.startswith("/") or "\\" in name:
        raise InputError("unsafe member name %r" % name, path)
    parts = name.split("/")
    if ".." in parts or "." in parts or "" in parts[:-1]:
        raise InputError("unsafe member name %r (.. or empty component)" % name, path)
    if parts[0] != TOP:
        raise InputError("member %r is outside %s/" % (name, TOP), path)
    if member.issym() or member.islnk():
        raise InputError("member %r is a link; bundles hold regular files only" % name, path)
    if not (member.isfile() or member.isdir()):
        raise InputError("member %r is a device, FIFO or other special file" % name, path)
    if member.size > MAX_MEMBER_BYTES:
        raise InputError("member %r is larger than %d bytes" % (name, MAX_MEMBER_BYTES), path)
    return "/".join(parts[1:])


class _Budget:
    """A file object that reads at most `limit` bytes from the decompressor behind it, so
    no header (a pax header claiming a gigabyte) and no member makes tarfile read more.
    Seeks (tarfile skipping member data while it reads the headers) pass through."""

    def __init__(self, inner: Any, limit: int, path: str):
        self.inner = inner
        self.left = limit
        self.path = path
        self.max_read = 0  # while the headers are read: the largest header tarfile may read
        self.seek = inner.seek  # tarfile seeks and tells tens of thousands of times: no frame
        self.tell = inner.tell

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            raise InputError("more than %d bytes uncompressed" % MAX_TOTAL_BYTES, self.path)
        if self.max_read and (size is None or size < 0 or size > self.max_read):
            raise InputError("a tar header (pax or long name) larger than %d bytes"
                             % self.max_read, self.path)
        want = self.left if size is None or size < 0 else min(size, self.left)
        data = self.inner.read(want)
        self.left -= len(data)
        return data


def _decompressed(raw: Any, path: str) -> Any:
    """The bundle's tar stream: gzip, bzip2, xz or plain, read through a byte budget (the
    members' sizes, their headers and the end-of-archive blocks)."""
    import bz2
    import gzip
    import lzma

    raw.seek(0)
    magic = raw.read(6)
    raw.seek(0)
    # Closed with `raw` (the caller's `with`): these wrappers hold no descriptor of their own.
    if magic[:2] == b"\x1f\x8b":
        inner: Any = gzip.GzipFile(fileobj=raw, mode="rb")
    elif magic[:3] == b"BZh":
        inner = bz2.BZ2File(raw, mode="rb")
    elif magic == b"\xfd7zXZ\x00":
        inner = lzma.LZMAFile(raw, mode="rb")  # noqa: SIM115
    else:
        inner = raw
    # Each member adds its header, a pax header and padding (MEMBER_OVERHEAD, added as
    # members are seen); the fixed part covers the end-of-archive record.
    return _Budget(inner, MAX_TOTAL_BYTES + 1024 * 1024, path)


MEMBER_OVERHEAD = 4 * tarfile.BLOCKSIZE
MAX_HEADER_BYTES = 1024 * 1024  # a pax header holds a long name or two: a few hundred bytes


def _corrupt(exc: BaseException, path: str) -> InputError:
    if isinstance(exc, InputError):
        return exc
    text = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
    return InputError("not a tar archive (plain, gzip, bzip2 or xz), or a corrupt one: %s"
                      % text, path)


# What a broken or hostile archive raises from tarfile and the decompressors: a corrupt
# deflate stream raises zlib.error and a corrupt xz stream lzma.LZMAError, neither an OSError
# (gzip's own CRC and header checks are; the fuzzer found the first).
_ARCHIVE_ERRORS = (tarfile.TarError, OSError, EOFError, ValueError, OverflowError,
                   UnicodeError, MemoryError, zlib.error, lzma.LZMAError)


def _headers(tar: tarfile.TarFile, stream: _Budget, path: str) -> List[Tuple[str, Any]]:
    """Pass 1, headers only (tarfile seeks over member data, nothing of it is kept): names,
    types, sizes, the member count and the total uncompressed size, all checked before any
    member is read. -> [(name inside the top folder, member)] of the files."""
    files: List[Tuple[str, Any]] = []
    seen = set()
    total = 0
    for count, member in enumerate(tar, 1):
        stream.left += MEMBER_OVERHEAD
        if count > MAX_MEMBERS:
            raise InputError("more than %d members" % MAX_MEMBERS, path)
        name = _member_name(path, member)
        if member.isdir() or not name:
            continue
        if name in seen:
            raise InputError("member %r appears twice" % member.name, path)
        seen.add(name)
        total += member.size
        if total > MAX_TOTAL_BYTES:
            raise InputError("more than %d bytes uncompressed" % MAX_TOTAL_BYTES, path)
        files.append((name, member))
    stream.max_read = 0
    return files


def _read_members(path: str) -> Tuple[Dict[str, bytes], Dict[str, str]]:
    """{name: bytes} and {name: sha256} of the bundle's files: the headers first, then the
    data of each file in archive order (pass 2)."""
    from lltune.common.files import open_input

    if not os.path.lexists(path):
        raise InputError("no such file", path)
    with open_input(path, MAX_BUNDLE_BYTES, " (compressed); a bundle is a few MB") as raw:
        members: Dict[str, bytes] = {}
        hashes: Dict[str, str] = {}
        stream = _decompressed(raw, path)
        stream.max_read = MAX_HEADER_BYTES  # tarfile.open reads the first header already
        try:
            with tarfile.open(fileobj=stream, mode="r:") as tar:
                for name, member in _headers(tar, stream, path):
                    handle = tar.extractfile(member)
                    data = handle.read(member.size) if handle else b""
                    if len(data) != member.size:
                        raise InputError("member %r is truncated" % member.name, path)
                    members[name] = data
                    hashes[name] = _sha256(data)
        except _ARCHIVE_ERRORS as exc:
            raise _corrupt(exc, path) from None
    return members, hashes


def _json_member(path: str, members: Dict[str, bytes], name: str) -> Any:
    if name not in members:
        raise InputError("%s/%s is missing; not an lltune capture bundle" % (TOP, name), path)
    if len(members[name]) > MAX_JSON_BYTES:
        raise InputError("%s is larger than %d bytes" % (name, MAX_JSON_BYTES), path)
    try:
        text = members[name].decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("%s is not UTF-8" % name, path) from None
    return parse_json(text, path, name)


def _mapping(path: str, where: str, value: Any, item_types: tuple,
             path_keys: bool = True) -> Dict[str, Any]:
    """Check a manifest/probes mapping: keys are strings (absolute paths), items typed."""
    if not isinstance(value, dict):
        raise InputError("must be a mapping", path, key=where)
    for key, item in value.items():
        if not isinstance(key, str) or (path_keys and not key.startswith("/")):
            raise InputError("bad entry name %r" % (key,), path, key=where)
        if not isinstance(item, item_types):
            raise InputError("entry %r has the wrong type" % key, path, key=where)
    return value


def check_probes(path: str, document: Any, where: str = "probes.json") -> Dict[str, Any]:
    """The probes mapping of a probes document, after checking its shape."""
    if not isinstance(document, dict):
        raise InputError("must be a mapping", path, key=where)
    if document.get("format") != PROBES_FORMAT or document.get("format_version") != \
            FORMAT_VERSION:
        raise InputError("not an lltune-probes document of version %d" % FORMAT_VERSION, path,
                         key=where)
    probes = _mapping(path, where + ": probes", document.get("probes"), (dict,), False)
    for key, answer in probes.items():
        if set(answer) - {"data", "error"} or len(answer) != 1:
            raise InputError("probe %r must hold exactly one of data or error" % key, path,
                             key=where)
        if "error" in answer and not isinstance(answer["error"], str):
            raise InputError("probe %r: error must be a string" % key, path, key=where)
    return probes


def open_bundle(path: str) -> Tuple[MemoryReader, Dict[str, Any], Dict[str, Any]]:
    """-> (a reader over the bundle, its manifest, the snapshot taken when it was captured)."""
    members, computed = _read_members(path)
    manifest = _json_member(path, members, "manifest.json")
    if not isinstance(manifest, dict):
        raise InputError("manifest.json must be a mapping", path)
    if manifest.get("format") != FORMAT:
        raise InputError("not an lltune capture bundle (manifest format %r)"
                         % manifest.get("format"), path)
    if manifest.get("format_version") != FORMAT_VERSION:
        raise InputError("capture format version %r is not supported (this lltune reads %d)"
                         % (manifest.get("format_version"), FORMAT_VERSION), path)
    hashes = _mapping(path, "manifest: sha256", manifest.get("sha256"), (str,), False)
    for name in members:
        if name == "manifest.json":
            continue
        if name not in hashes:
            raise InputError("member %s/%s is not in the manifest" % (TOP, name), path)
        if hashes[name] != computed[name]:
            raise InputError("member %s/%s does not match its sha256" % (TOP, name), path)
    for name in hashes:
        if name not in members:
            raise InputError("member %s/%s listed in the manifest is missing" % (TOP, name),
                             path)
    dirs = _mapping(path, "manifest: dirs", manifest.get("dirs"), (list,))
    realpaths = _mapping(path, "manifest: realpaths", manifest.get("realpaths"),
                         (str, type(None)))
    missing = _mapping(path, "manifest: missing", manifest.get("missing"), (str,))
    for where, listing in dirs.items():
        if not all(isinstance(name, str) and "/" not in name for name in listing):
            raise InputError("directory listing of %s holds a bad name" % where, path)
    probes = check_probes(path, _json_member(path, members, "probes.json"))
    snapshot = _json_member(path, members, "snapshot.json")
    files = {}
    for name, data in members.items():
        if name.startswith("tree/"):
            # Kept as bytes and decoded when read, as RootReader does: the text of every
            # file at once would double what the bundle costs in memory.
            files[posixpath.normpath("/" + name[len("tree/"):])] = data
    reader = MemoryReader(files, dirs, realpaths, missing, probes, "capture %s" % path)
    return reader, manifest, snapshot


def load_probes(path: str) -> Dict[str, Any]:
    """A recorded-probes file (the probes.json of a bundle) for `scan --root --probes`."""
    from lltune.common.files import read_input

    data = read_input(path, MAX_MEMBER_BYTES)
    return check_probes(path, _json_member(path, {"probes.json": data}, "probes.json"))
