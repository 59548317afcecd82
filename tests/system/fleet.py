"""Ansible from the host against a guest over SSH, the way a fleet is driven (issue 15).

QEMU's user network forwards 127.0.0.1:SSH_PORT to the guest's port 22, on the loopback of the
rig's own network namespace: ansible runs inside that namespace (nsenter), so nothing listens
on the host's network. The guest side is opened only for the test (SshAccess): QEMU's guest
address on the e1000e, a key made for this guest, sshd started; closing takes it all back.
The collection is used from the source tree (ANSIBLE_COLLECTIONS_PATH), as installed.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import rig

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO / "ansible"
# QEMU's user network gives the guest this address; its forwards go there.
GUEST_ADDRESS = "10.0.2.15/24"
PLAYBOOK_TIMEOUT = 1800


class SshAccess:
    """`with SshAccess(guest, nic, workdir) as access:` the guest answers SSH inside."""

    def __init__(self, guest, nic: str, workdir: Path):
        self.guest, self.nic, self.dir = guest, nic, Path(workdir)
        self.key = self.dir / "id_ed25519"
        self.link_was_up = False

    def __enter__(self) -> "SshAccess":
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self.key.exists():
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                            "lltune-rig", "-f", str(self.key)], check=True)
        share = self.guest.share / "ssh"
        share.mkdir(exist_ok=True)
        shutil.copyfile(str(self.key) + ".pub", str(share / "authorized_keys"))
        self.link_was_up = "UP" in self._flags()
        self.guest.run("install -d -m 700 /root/.ssh && install -m 600 "
                       "/mnt/rig/ssh/authorized_keys /root/.ssh/authorized_keys && "
                       "ip addr add %s dev %s && ip link set %s up && systemctl start ssh"
                       % (GUEST_ADDRESS, self.nic, self.nic), timeout=120, check=True)
        return self

    def _flags(self) -> str:
        shown = self.guest.run("ip -o link show %s" % self.nic, check=True).stdout
        return re.search(r"<([^>]*)>", shown).group(1)

    def __exit__(self, *exc_info) -> None:
        if not self.guest.running():
            return
        self.guest.run("systemctl stop ssh ssh.socket; rm -f /root/.ssh/authorized_keys; "
                       "ip addr del %s dev %s; %s"
                       % (GUEST_ADDRESS, self.nic, "" if self.link_was_up else
                          "ip link set %s down" % self.nic), timeout=120)

    def inventory(self, python: str = "/usr/bin/python3") -> Path:
        path = self.dir / "inventory.json"
        host = {"ansible_host": "127.0.0.1", "ansible_port": rig.SSH_PORT,
                "ansible_user": "root", "ansible_ssh_private_key_file": str(self.key),
                "ansible_ssh_common_args": "-o StrictHostKeyChecking=no "
                                           "-o UserKnownHostsFile=/dev/null",
                "ansible_python_interpreter": python}
        path.write_text(json.dumps({"guests": {"hosts": {self.guest.suite: host}}}))
        return path


def _environment(log_dir: Path) -> Dict[str, str]:
    # SSH's control sockets need a short path (108 bytes); the results tree may be deep.
    control = Path(tempfile.gettempdir()) / ("lltune-cp-%d" % os.getuid())
    control.mkdir(mode=0o700, exist_ok=True)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_SSH_CONTROL_PATH_DIR=str(control),
               ANSIBLE_HOST_KEY_CHECKING="False", ANSIBLE_RETRY_FILES_ENABLED="False",
               ANSIBLE_NOCOLOR="1", ANSIBLE_LOCAL_TEMP=str(log_dir / "tmp"),
               ANSIBLE_HOME=str(log_dir / "home"))
    env.pop("ANSIBLE_CONFIG", None)
    return env


def _ansible(guest, argv: List[str], log: Path) -> subprocess.CompletedProcess:
    """Run an ansible command inside the guest's network namespace; its output kept in log."""
    tool = str(Path(sys.executable).parent / argv[0])
    done = subprocess.run(["nsenter", "--net=%s" % guest.netns_path(), tool] + argv[1:],
                          capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT,
                          env=_environment(log.parent), check=False)
    log.write_text("$ %s\n%s\n--- stderr ---\n%s" % (" ".join(argv), done.stdout, done.stderr))
    return done


ONELINE = re.compile(r"^(\S+) \| (SUCCESS|CHANGED|FAILED!|UNREACHABLE!) => (\{.*\})$", re.M)


def module(guest, access: SshAccess, name: str, args: Dict[str, object], log: Path,
           check: bool = False) -> Tuple[str, dict]:
    """One module run ad hoc: (SUCCESS|CHANGED|FAILED!|UNREACHABLE!, what it returned)."""
    argv = ["ansible", "guests", "-i", str(access.inventory()), "-o", "-m", name,
            "-a", json.dumps(args)] + (["--check"] if check else [])
    done = _ansible(guest, argv, log)
    found = ONELINE.search(done.stdout)
    assert found, "no result line from ansible (%s):\n%s" % (log, done.stdout[-2000:])
    return found.group(2), json.loads(found.group(3))


RECAP = re.compile(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                   re.M)


def playbook(guest, access: SshAccess, path: Path, log: Path, extra: Optional[dict] = None,
             check: bool = False) -> Tuple[int, Dict[str, int]]:
    """(exit code, the recap's counts for the guest)."""
    argv = ["ansible-playbook", "-i", str(access.inventory()), str(path)]
    if extra is not None:
        variables = log.parent / (log.stem + ".vars.json")
        variables.write_text(json.dumps(extra))
        argv += ["-e", "@%s" % variables]
    done = _ansible(guest, argv + (["--check", "--diff"] if check else []), log)
    counts = {m.group(1): dict(zip(("ok", "changed", "unreachable", "failed"),
                                   map(int, m.groups()[1:])))
              for m in RECAP.finditer(done.stdout)}
    assert guest.suite in counts, "no recap for the guest (%s):\n%s" % (log,
                                                                        done.stdout[-2000:])
    return done.returncode, counts[guest.suite]
