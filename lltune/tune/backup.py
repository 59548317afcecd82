"""Backup bundles: what a plan or an apply decided, and the bytes it replaced.

A bundle is a directory under the state directory (/var/lib/lltune/backups as root,
~/.lltune/backups otherwise). It is written completely, and fsynced, before apply changes
anything; rollback restores from it byte for byte. State directories are created 0700, must be
owned by the user running lltune and writable by nobody else (checked, never chmod'ed), and no
symlink is followed inside them; bundles.json in the state directory records every bundle
lltune made, and nothing else is acted on.
"""

import datetime
import fcntl
import hashlib
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from lltune.common.documents import parse_json
from lltune.common.errors import EnvironmentProblem, InputError
from lltune.common.files import (
    atomic_write,
    check_trusted,
    decode_input,
    locked_dir,
    open_input,
    read_state_file,
    trusted_dir,
)
from lltune.common.files import kind as kind_of

SYSTEM_STATE_DIR = "/var/lib/lltune"
USER_STATE_DIR = "~/.lltune"
DEFAULT_KEEP = 10
STATE_FILE = "state.json"
# lltune's record of the bundles it made: rollback acts on no other directory, however
# right it looks (a bundle someone else planted would have root write what it says).
REGISTRY_FILE = "bundles.json"
REGISTRY_FORMAT = "lltune-bundles"
BUNDLE_NAME = re.compile(r"^([0-9]{6,})-[0-9]{8}T[0-9]{6}Z-(plan|apply)-[0-9a-f]{6}$")
MAX_STATE_BYTES = 64 * 1024 * 1024  # snapshot.json of the large generated host: 0.7 MB
MAX_REGISTRY_BYTES = 4 * 1024 * 1024

README = """This is an lltune {kind} bundle, made {created} by lltune {version}.

config.yaml      the config as given
snapshot.json    the host as it was read before anything changed
plan.json        every knob: current value -> desired value, mechanism, reboot needed
plan.md          the same plan as a table
profile/         the tuned profile lltune rendered (installed at {profile_dir}/)
{apply_part}
To roll back with lltune:   lltune rollback --backup {path}
To roll back by hand:
  1. tuned-adm profile {previous}      (or `tuned-adm off` if that says "none")
  2. for each entry in state.json "files": if "existed" is true, copy files/<copy> back
     to its path with the recorded mode and owner; otherwise delete the path.
  3. systemctl disable lltune-verify.service lltune-verify.timer
  4. reboot if plan.json lists kernel command-line changes (tuned removes them on the
     switch; they leave the running kernel only at the next boot).
"""

APPLY_PART = """state.json       tuned's profile and mode before apply, and every file apply wrote
files/           the original bytes of those files (see state.json for their paths)
"""


def state_dir() -> str:
    path = SYSTEM_STATE_DIR if os.geteuid() == 0 else os.path.expanduser(USER_STATE_DIR)
    return os.environ.get("LLTUNE_STATE_DIR", path)


def backups_root() -> str:
    """The backups directory, created 0700 (with the state directory) when absent; either
    refused (exit 3) unless it is ours and writable by nobody else, and every directory
    above the state directory too: rollback runs as root and does what a bundle says."""
    base = state_dir()
    parent = os.path.dirname(base.rstrip("/"))
    if not os.path.isdir(parent):
        raise EnvironmentProblem("%s does not exist" % parent)
    trusted_dir(base, create=True)
    return trusted_dir(os.path.join(base, "backups"), create=True, ancestors=False)


def sha256_file(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return None


# Bundles this process made and still holds a shared flock on (prune leaves another
# process's bundle alone while that process writes it).
_HELD: Dict[str, int] = {}


@dataclass
class Bundle:
    path: str

    @property
    def id(self) -> str:
        return os.path.basename(self.path)

    @property
    def sequence(self) -> int:
        match = BUNDLE_NAME.match(self.id)
        return int(match.group(1)) if match else -1

    def hold(self) -> None:
        """A shared flock on the bundle directory while this process writes it."""
        fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                     getattr(os, "O_CLOEXEC", 0))
        fcntl.flock(fd, fcntl.LOCK_SH)
        _HELD[self.path] = fd

    def write(self, name: str, data: bytes) -> None:
        directory = os.path.dirname(os.path.join(self.path, name))
        if directory != self.path:
            trusted_dir(directory, create=True, ancestors=False)
        atomic_write(os.path.join(self.path, name), data, 0o600)

    def write_json(self, name: str, document: Any) -> None:
        self.write(name, (json.dumps(document, indent=1, sort_keys=True) + "\n").encode())

    def read(self, name: str) -> Optional[bytes]:
        """A file of the bundle (None when absent), only if it is a regular file lltune's user
        owns and nobody else can write (EnvironmentProblem otherwise)."""
        return read_state_file(os.path.join(self.path, name), MAX_STATE_BYTES)

    def read_json(self, name: str) -> Any:
        path = os.path.join(self.path, name)
        raw = self.read(name)
        if raw is None:
            raise InputError("cannot read %s: no such file" % name, self.path)
        return parse_json(decode_input(raw, path), path)

    def has(self, name: str) -> bool:
        return os.path.lexists(os.path.join(self.path, name))

    def update_state(self, **changes: Any) -> Dict[str, Any]:
        """Rewrite state.json atomically with `changes` merged in."""
        state = self.read_json(STATE_FILE) if self.has(STATE_FILE) else {}
        if not isinstance(state, dict):
            raise InputError("%s is not a JSON object" % STATE_FILE, self.path)
        state.update(changes)
        self.write(STATE_FILE, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode())
        return state

    def save_originals(self, host_paths: Dict[str, str]) -> List[Dict[str, Any]]:
        """Copy each file about to be written (bytes and metadata) into files/.

        host_paths: {canonical path (/etc/...): where it is on this filesystem}.
        """
        records = []
        for index, (canonical, host_path) in enumerate(sorted(host_paths.items())):
            record: Dict[str, Any] = {"path": canonical, "existed": False}
            try:
                info = os.lstat(host_path)
            except FileNotFoundError:
                records.append(record)
                continue
            if not stat.S_ISREG(info.st_mode):
                raise EnvironmentProblem("%s is not a regular file; refusing to replace it"
                                         % canonical)
            with open_input(host_path, MAX_STATE_BYTES, follow=False) as handle:
                info = os.fstat(handle.fileno())
                data = handle.read()
            copy = "files/%03d" % index
            self.write(copy, data)
            record.update(existed=True, copy=copy, mode=stat.S_IMODE(info.st_mode),
                          uid=info.st_uid, gid=info.st_gid,
                          sha256=hashlib.sha256(data).hexdigest())
            records.append(record)
        return records


def _registry(base: str) -> List[str]:
    """The ids of the bundles lltune made in this state directory (bundles.json)."""
    path = os.path.join(base, REGISTRY_FILE)
    raw = read_state_file(path, MAX_REGISTRY_BYTES)
    if raw is None:
        return _adopt_earlier_bundles(base)
    try:
        document = parse_json(decode_input(raw, path), path)
    except InputError as exc:
        raise EnvironmentProblem("%s; lltune's record of its bundles is damaged: move it "
                                 "away to start a new one" % exc) from None
    ids = document.get("bundles") if isinstance(document, dict) and \
        document.get("format") == REGISTRY_FORMAT else None
    if not isinstance(ids, list) or not all(isinstance(i, str) and BUNDLE_NAME.match(i)
                                            for i in ids):
        raise EnvironmentProblem("%s is not lltune's record of its bundles: move it away to "
                                 "start a new one" % path)
    return ids


def _adopt_earlier_bundles(base: str) -> List[str]:
    """No record yet: the bundles an lltune from before the record made here. The state
    directory is trusted (ours, writable by nobody else, checked up the path), so whatever
    bundle-shaped directory of ours is in it was made by lltune (or its own user, root): they
    are recorded once, so an upgrade keeps the applies rollback must still undo. From then on
    only what lltune records counts."""
    root = os.path.join(base, "backups")
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    adopted = []
    for name in names:
        try:
            info = os.lstat(os.path.join(root, name))
        except OSError:
            continue
        if BUNDLE_NAME.match(name) and stat.S_ISDIR(info.st_mode) and \
                info.st_uid == os.geteuid() and not info.st_mode & 0o022:
            adopted.append(name)
    if adopted:
        _write_registry(base, adopted)
    return adopted


def _write_registry(base: str, ids: List[str]) -> None:
    document = {"format": REGISTRY_FORMAT, "format_version": 1,
                "bundles": sorted(set(ids), key=_id_sequence)}
    atomic_write(os.path.join(base, REGISTRY_FILE),
                 (json.dumps(document, indent=1) + "\n").encode(), 0o600)


def _id_sequence(name: str) -> Tuple[int, str]:
    match = BUNDLE_NAME.match(name) or re.match(r"^([0-9]+)-", name)
    return (int(match.group(1)) if match else -1, name)


def new_bundle(kind: str, version: str, profile_dir: str,
               previous: str = "see state.json") -> Bundle:
    root = backups_root()
    base = os.path.dirname(root)
    created = datetime.datetime.now(datetime.timezone.utc)
    # A sequence number first: ids sort in the order bundles were made even when the clock
    # steps back (chrony at boot), and rollback undoes applies in that order. Two commands
    # running at once never get the same number: it is chosen under a lock on the state
    # directory, the directory is created exclusively (the next number if it exists), and
    # the bundle is recorded as lltune's before the lock is released.
    with locked_dir(base):
        registered = _registry(base)
        taken = [_id_sequence(name)[0] for name in registered + os.listdir(root)]
        sequence = max(taken, default=0) + 1
        while True:
            name = "%06d-%s-%s-%s" % (sequence, created.strftime("%Y%m%dT%H%M%SZ"), kind,
                                      secrets.token_hex(3))
            path = os.path.join(root, name)
            try:
                os.mkdir(path, 0o700)
                break
            except FileExistsError:
                sequence += 1
            except OSError as exc:
                raise EnvironmentProblem("cannot create %s: %s" % (path, exc.strerror)) \
                    from None
        _write_registry(base, registered + [name])
    bundle = Bundle(path)
    trusted_dir(path, create=False, ancestors=False)
    bundle.hold()
    bundle.write("README.txt", README.format(
        kind=kind, created=created.strftime("%Y-%m-%d %H:%M:%S UTC"), version=version,
        apply_part=APPLY_PART if kind == "apply" else "", path=path,
        previous=previous, profile_dir=profile_dir).encode())
    return bundle


def list_bundles() -> List[Bundle]:
    """The bundles lltune made (its record in the state directory), newest first. The state
    directory, backups/ and each bundle must be ours and writable by nobody else
    (EnvironmentProblem otherwise); a directory lltune has no record of is ignored."""
    base = state_dir()
    root = os.path.join(base, "backups")
    if not os.path.lexists(root):
        return []
    trusted_dir(base, create=False)
    trusted_dir(root, create=False, ancestors=False)
    bundles = []
    for name in _registry(base):
        path = os.path.join(root, name)
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            continue  # deleted by hand
        if not stat.S_ISDIR(info.st_mode):
            raise EnvironmentProblem("%s is %s, not a bundle directory; refusing it"
                                     % (path, kind_of(info.st_mode)))
        check_trusted(path, info, "bundle")
        bundles.append(Bundle(path))
    return sorted(bundles, key=lambda b: _id_sequence(b.id), reverse=True)


def unrecorded() -> List[str]:
    """Directories under backups/ that lltune's record does not list (planted, or made by an
    lltune before the record existed): never acted on, only shown."""
    root = os.path.join(state_dir(), "backups")
    if not os.path.isdir(root):
        return []
    known = {bundle.id for bundle in list_bundles()}
    return sorted(name for name in os.listdir(root)
                  if not name.startswith(".") and name not in known)


# An apply bundle in one of these states may still have something for rollback to undo.
ROLLBACK_PENDING = ("applied", "applying", "failed-restored-partially",
                    "rollback-incomplete")


def read_state(bundle: Bundle) -> Dict[str, Any]:
    """A bundle's state.json ({} for a plan bundle); InputError when it is not an object."""
    if not bundle.has(STATE_FILE):
        return {}
    state = bundle.read_json(STATE_FILE)
    if not isinstance(state, dict):
        raise InputError("%s is not a JSON object" % STATE_FILE, bundle.path)
    return state


def _status(bundle: Bundle) -> Optional[str]:
    """The bundle's status; "unreadable" when its state.json cannot be read."""
    try:
        return read_state(bundle).get("status")
    except InputError:
        return "unreadable"


def pending_rollback() -> List[Bundle]:
    """Apply bundles not yet rolled back, newest first: rollback undoes them in this order."""
    return [bundle for bundle in list_bundles() if _status(bundle) in ROLLBACK_PENDING]


def find(reference: Optional[str]) -> Bundle:
    """A bundle under the state directory by id or path; without one, the newest apply
    bundle not yet rolled back. A directory elsewhere, or one lltune has no record of making,
    is refused: rollback runs as root and trusts what a bundle's state.json says to write."""
    if reference:
        wanted = os.path.abspath(reference)
        for bundle in list_bundles():
            if reference == bundle.id or wanted == bundle.path:
                return bundle
        root = os.path.join(state_dir(), "backups")
        candidate = wanted if "/" in reference else os.path.join(root, reference)
        if os.path.dirname(candidate) == root and os.path.lexists(candidate):
            raise EnvironmentProblem("%s is not a bundle lltune made (its record %s does not "
                                     "list it); refusing to act on it"
                                     % (candidate, os.path.join(state_dir(), REGISTRY_FILE)))
        raise InputError("no such backup bundle under %s (see `lltune backups`)" % root,
                         reference)
    pending = pending_rollback()
    if pending:
        return pending[0]
    raise InputError("no applied lltune bundle to roll back (see `lltune backups`)")


def prune(keep: int) -> List[str]:
    """Delete all but the newest `keep` bundles, never one rollback still needs: each apply
    bundle records the profile and files before it, so the chain back to the host as it was
    before lltune must stay whole. A bundle another lltune is still writing is left alone."""
    import shutil

    if not list_bundles():
        return []
    base = state_dir()
    removed = []
    with locked_dir(base):
        bundles = list_bundles()
        # A bundle whose state cannot be read may be one rollback needs: kept too.
        protected = {bundle.path for bundle in bundles
                     if _status(bundle) in ROLLBACK_PENDING + ("unreadable",)}
        for bundle in bundles[keep:]:
            if bundle.path in protected or _in_use(bundle):
                continue
            shutil.rmtree(bundle.path)
            removed.append(bundle.id)
        if removed:
            _write_registry(base, [i for i in _registry(base) if i not in removed])
    return removed


def _in_use(bundle: Bundle) -> bool:
    """Whether another process holds the bundle (it is still writing it)."""
    if bundle.path in _HELD:
        os.close(_HELD.pop(bundle.path))  # ours, and finished: this process is pruning
        return False
    try:
        fd = os.open(bundle.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
