"""The hook's footing: where its data and saved state live, and the small helpers every part
uses. What it changes it first saves under /var/lib/lltune/hook-state (root's, writable by
nobody else), and `stop` puts back exactly that."""

import json
import os
import subprocess
from typing import Any, Dict, List, Optional, Tuple

from lltune.common.documents import parse_json
from lltune.common.errors import InputError
from lltune.common.files import atomic_write, decode_input, read_state_file, trusted_dir
from lltune.host.collectors.tuned import profile_dirs
from lltune.host.reader import RootReader
from lltune.model.profile import host_profile

STATE_DIR = "/var/lib/lltune/hook-state"
MAX_SAVED_BYTES = 64 * 1024 * 1024
COMMAND_TIMEOUT = 120.0


class HookError(Exception):
    pass


class HookBase:
    def __init__(self, root: str = "/"):
        self.root = root
        self.reader = RootReader(root)
        self.hook_data = host_profile(profile_dirs(self.reader)[0][-1]).hook_data
        self.messages: List[str] = []
        # What went as meant but is worth knowing (an IRQ the kernel keeps where it is, a
        # stop that keeps the work): stdout, which tuned does not log as an ERROR as it
        # does the hook's stderr.
        self.notes: List[str] = []

    # -- paths and saved state --------------------------------------------------------------
    def path(self, canonical: str) -> str:
        return os.path.join(self.root, canonical.lstrip("/"))

    def load_data(self) -> Optional[Dict[str, Any]]:
        text = self.reader.read(self.hook_data, None)
        if text is None:
            return None
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise HookError("%s: %s" % (self.hook_data, exc)) from None
        if not isinstance(data, dict) or data.get("version") != 1:
            raise HookError("%s: unsupported hook data" % self.hook_data)
        return data

    def _state_path(self, name: str) -> str:
        return self.path("%s/%s.json" % (STATE_DIR, name))

    def _state_dir(self, create: bool) -> Optional[str]:
        """hook-state/ (and the state directory holding it), created 0700 or checked: owned
        by root and writable by nobody else, every directory above too; None when absent
        and not created. What is saved here is written back as root by `stop`."""
        directory = self.path(STATE_DIR)
        parent = os.path.dirname(directory)
        if not create and not os.path.lexists(directory):
            return None
        if create:
            os.makedirs(os.path.dirname(parent), 0o755, exist_ok=True)
        trusted_dir(parent, create=create)
        return trusted_dir(directory, create=create, ancestors=False)

    def saved(self, name: str) -> Optional[Any]:
        if self._state_dir(create=False) is None:
            return None
        path = self._state_path(name)
        try:
            raw = read_state_file(path, MAX_SAVED_BYTES)
            return None if raw is None else parse_json(decode_input(raw, path), path)
        except InputError as exc:
            raise HookError("saved state %s is unreadable: %s" % (name, exc)) from None

    def save(self, name: str, value: Any) -> None:
        self._state_dir(create=True)
        atomic_write(self._state_path(name), json.dumps(value, sort_keys=True).encode(), 0o600)

    def forget(self, name: str) -> None:
        if os.path.exists(self._state_path(name)):
            os.unlink(self._state_path(name))

    def run(self, argv: List[str], ok_codes: Tuple[int, ...] = (0,)) -> None:
        try:
            done = subprocess.run(argv, capture_output=True, timeout=COMMAND_TIMEOUT,
                                  check=False, text=True)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HookError("%s: %s" % (" ".join(argv), exc)) from None
        if done.returncode not in ok_codes:
            raise HookError("%s failed (%d): %s" % (" ".join(argv), done.returncode,
                                                     done.stderr.strip()[:200]))

    def write(self, canonical: str, text: str) -> None:
        target = self.path(canonical)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        atomic_write(target, text.encode(), 0o644)

    def _save_file_once(self, name: str, canonical: str) -> None:
        if self.saved(name) is not None:
            return
        content = self.reader.read(canonical, None)
        self.save(name, {"path": canonical, "content": content})

    def _keep_failed(self, name: str, failed: Any, problems: List[str]) -> List[str]:
        """Forget the saved state once everything in it is restored; otherwise keep only
        what failed, so the next stop tries again."""
        if failed:
            self.save(name, failed)
        else:
            self.forget(name)
        return problems
