"""Backup bundles: what a plan or an apply decided, and the bytes it replaced.

A bundle is a directory under the state directory (/var/lib/lltune/backups as root,
~/.lltune/backups otherwise). It is written completely, and fsynced, before apply changes
anything; rollback restores from it byte for byte. State directories are 0700 and no symlink
is followed inside them.
"""

import datetime
import hashlib
import json
import os
import re
import secrets
import stat
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from lltune.common.errors import EnvironmentProblem, InputError

SYSTEM_STATE_DIR = "/var/lib/lltune"
USER_STATE_DIR = "~/.lltune"
DEFAULT_KEEP = 10
STATE_FILE = "state.json"

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


def _private_dir(path: str) -> str:
    """Create (0700) or check a state directory: a real directory we own, never a link."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise EnvironmentProblem("cannot create %s: %s" % (path, exc.strerror)) from None
    info = os.lstat(path)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise EnvironmentProblem("%s is a symlink or not a directory; refusing to use it"
                                 % path)
    if info.st_uid != os.geteuid():
        raise EnvironmentProblem("%s belongs to uid %d, not to us" % (path, info.st_uid))
    if stat.S_IMODE(info.st_mode) != 0o700:
        os.chmod(path, 0o700)
    return path


def backups_root() -> str:
    base = state_dir()
    parent = os.path.dirname(base.rstrip("/"))
    if not os.path.isdir(parent):
        raise EnvironmentProblem("%s does not exist" % parent)
    _private_dir(base)
    return _private_dir(os.path.join(base, "backups"))


def _write_new(path: str, data: bytes, mode: int = 0o600) -> None:
    """Create a file that must not exist yet, without following links, and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_file(path: str) -> Optional[str]:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except FileNotFoundError:
        return None


@dataclass
class Bundle:
    path: str

    @property
    def id(self) -> str:
        return os.path.basename(self.path)

    def write(self, name: str, data: bytes) -> None:
        directory = os.path.dirname(os.path.join(self.path, name))
        if directory != self.path and not os.path.isdir(directory):
            _private_dir(directory)
        _write_new(os.path.join(self.path, name), data)

    def write_json(self, name: str, document: Any) -> None:
        self.write(name, (json.dumps(document, indent=1, sort_keys=True) + "\n").encode())

    def read_json(self, name: str) -> Any:
        try:
            with open(os.path.join(self.path, name), "rb") as handle:
                return json.loads(handle.read().decode("utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError("cannot read %s: %s" % (name, exc), self.path) from None

    def has(self, name: str) -> bool:
        return os.path.exists(os.path.join(self.path, name))

    def update_state(self, **changes: Any) -> Dict[str, Any]:
        """Rewrite state.json atomically with `changes` merged in."""
        state = self.read_json(STATE_FILE) if self.has(STATE_FILE) else {}
        state.update(changes)
        temp = os.path.join(self.path, ".%s.%s" % (STATE_FILE, secrets.token_hex(4)))
        _write_new(temp, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode())
        os.rename(temp, os.path.join(self.path, STATE_FILE))
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
            with open(host_path, "rb") as handle:
                data = handle.read()
            copy = "files/%03d" % index
            self.write(copy, data)
            record.update(existed=True, copy=copy, mode=stat.S_IMODE(info.st_mode),
                          uid=info.st_uid, gid=info.st_gid,
                          sha256=hashlib.sha256(data).hexdigest())
            records.append(record)
        return records


def new_bundle(kind: str, version: str, profile_dir: str,
               previous: str = "see state.json") -> Bundle:
    root = backups_root()
    created = datetime.datetime.now(datetime.timezone.utc)
    # A sequence number first: ids sort in the order bundles were made even when the clock
    # steps back (chrony at boot), and rollback undoes applies in that order.
    name = "%06d-%s-%s-%s" % (_next_sequence(root), created.strftime("%Y%m%dT%H%M%SZ"), kind,
                              secrets.token_hex(3))
    path = os.path.join(root, name)
    _private_dir(path)
    bundle = Bundle(path)
    bundle.write("README.txt", README.format(
        kind=kind, created=created.strftime("%Y-%m-%d %H:%M:%S UTC"), version=version,
        apply_part=APPLY_PART if kind == "apply" else "", path=path,
        previous=previous, profile_dir=profile_dir).encode())
    return bundle


def _next_sequence(root: str) -> int:
    numbers = [int(name.split("-", 1)[0]) for name in os.listdir(root)
               if re.match(r"^[0-9]{6}-", name)]
    return max(numbers, default=0) + 1


def list_bundles() -> List[Bundle]:
    """Bundles, newest first."""
    root = os.path.join(state_dir(), "backups")
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    bundles = [Bundle(os.path.join(root, n)) for n in names
               if not n.startswith(".") and os.path.isdir(os.path.join(root, n))
               and not os.path.islink(os.path.join(root, n))]
    return sorted(bundles, key=lambda b: b.id, reverse=True)


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
    bundle not yet rolled back. A directory elsewhere is refused: rollback runs as root and
    trusts what a bundle's state.json says to write."""
    if reference:
        wanted = os.path.abspath(reference)
        for bundle in list_bundles():
            if reference == bundle.id or wanted == bundle.path:
                return bundle
        raise InputError("no such backup bundle under %s (see `lltune backups`)"
                         % os.path.join(state_dir(), "backups"), reference)
    pending = pending_rollback()
    if pending:
        return pending[0]
    raise InputError("no applied lltune bundle to roll back (see `lltune backups`)")


def prune(keep: int) -> List[str]:
    """Delete all but the newest `keep` bundles, never one rollback still needs: each apply
    bundle records the profile and files before it, so the chain back to the host as it was
    before lltune must stay whole."""
    import shutil

    # A bundle whose state cannot be read may be one rollback needs: kept too.
    protected = {bundle.path for bundle in list_bundles()
                 if _status(bundle) in ROLLBACK_PENDING + ("unreadable",)}
    removed = []
    for bundle in list_bundles()[keep:]:
        if bundle.path not in protected:
            shutil.rmtree(bundle.path)
            removed.append(bundle.id)
    return removed
