"""Running one hostile case: `python -m lltune ...` as its own process, in a scratch directory.

Each case gets <base>/scratch (its cwd, HOME, TMPDIR and LLTUNE_STATE_DIR live there) and
<base>/canary (files outside the scratch directory that the case may point at through links);
stdout and stderr go to <base>/out unless the case redirects them to /dev/full or closes them.
The command is spawned by a small helper process (python -S) that reaps it with wait4(), which
gives the command's own peak RSS: measured from the test process, every child would start at
that process's size (the kernel carries the spawner's peak into the child at exec).
"""

import hashlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
from typing import Any, Dict, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
HARD_TIMEOUT = 30.0  # a case still running after this is a hang (its limit is 10 s)

HELPER = r"""
import json, os, resource, sys, time
spec = json.loads(sys.argv[1])
os.chdir(spec["cwd"])
if spec.get("memory_limit"):  # address space: a runaway allocation fails instead of swapping
    resource.setrlimit(resource.RLIMIT_AS, (spec["memory_limit"], spec["memory_limit"]))
actions = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0)]
for fd, target in ((1, spec["stdout"]), (2, spec["stderr"])):
    if target is None:
        actions.append((os.POSIX_SPAWN_CLOSE, fd))
    elif target == "/dev/full":
        actions.append((os.POSIX_SPAWN_OPEN, fd, target, os.O_WRONLY, 0))
    else:
        actions.append((os.POSIX_SPAWN_OPEN, fd, target,
                        os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
started = time.perf_counter()
pid = os.posix_spawn(spec["argv"][0], spec["argv"], spec["env"], file_actions=actions)
_pid, status, usage = os.wait4(pid, 0)
print(json.dumps({"wall": time.perf_counter() - started, "maxrss_kib": usage.ru_maxrss,
                  "code": os.waitstatus_to_exitcode(status)}))
"""


def tree_state(top: str) -> Dict[str, Any]:
    """Every entry under `top` (not following links) with its type, mode, owner and content
    hash: what "nothing was written" is checked against."""
    state: Dict[str, Any] = {}
    if not os.path.lexists(top):
        return state
    for directory, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            entry: List[Any] = [stat.S_IFMT(info.st_mode), stat.S_IMODE(info.st_mode),
                                info.st_uid, info.st_gid]
            if stat.S_ISREG(info.st_mode):
                entry.append(info.st_size)
                if info.st_size <= 16 * 1024 * 1024:
                    with open(path, "rb") as handle:
                        entry.append(hashlib.sha256(handle.read()).hexdigest())
                else:
                    entry.append(info.st_mtime_ns)
            elif stat.S_ISLNK(info.st_mode):
                entry.append(os.readlink(path))
            state[os.path.relpath(path, top)] = entry
    return state


def environment(scratch: str) -> Dict[str, str]:
    return {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.path.join(scratch, "home"),
        "TMPDIR": os.path.join(scratch, "tmp"),
        "LLTUNE_STATE_DIR": os.path.join(scratch, "state"),
        "PYTHONPATH": REPO,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONNOUSERSITE": "1",
        "LC_ALL": "C.UTF-8",
    }


def run_lltune(argv: List[str], scratch: str, out_dir: str, stdout: Optional[str] = "file",
               stderr: Optional[str] = "file", env: Optional[Dict[str, str]] = None,
               timeout: float = HARD_TIMEOUT, memory_limit: int = 0) -> Dict[str, Any]:
    """Run `python -m lltune ARGV`; -> code, wall, rss_mib, stdout, stderr, hung."""
    os.makedirs(out_dir, exist_ok=True)
    targets = {}
    for name, kind in (("stdout", stdout), ("stderr", stderr)):
        targets[name] = None if kind == "closed" else "/dev/full" if kind == "full" else \
            os.path.join(out_dir, name)
    spec = {"argv": [sys.executable, "-m", "lltune"] + list(argv), "cwd": scratch,
            "env": dict(environment(scratch), **(env or {})), "memory_limit": memory_limit,
            **targets}
    helper = subprocess.Popen([sys.executable, "-S", "-c", HELPER, json.dumps(spec)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True)
    started = time.perf_counter()
    try:
        answer, problem = helper.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(helper.pid, signal.SIGKILL)  # the helper and the command it spawned
        helper.communicate()
        return {"code": None, "wall": time.perf_counter() - started, "rss_mib": 0.0,
                "stdout": b"", "stderr": "", "hung": True}
    if helper.returncode != 0:
        raise RuntimeError("the measuring helper failed: %s" % problem.decode(errors="replace"))
    result = json.loads(answer)

    def read(name: str) -> bytes:
        path = targets[name]
        if path is None or path == "/dev/full":
            return b""
        with open(path, "rb") as handle:
            return handle.read()

    return {"code": result["code"], "wall": result["wall"],
            "rss_mib": result["maxrss_kib"] / 1024.0, "stdout": read("stdout"),
            "stderr": read("stderr").decode("utf-8", "replace"), "hung": False}
