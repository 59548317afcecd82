"""The guest half of the rig: runs the shell commands the test host asks for.

Runs inside the guest as root (started by lltune-rig-runner.service from the 9p share at
/mnt/rig/ctl/agent.py; the host copies this file there before every boot). Protocol, all
files under /mnt/rig/ctl/ (the host's <share>/ctl/):

* ``ready/<boot>.json``: written once the agent runs; ``<boot>`` is the ``rig.boot=`` value
  of the kernel command line, so the host never mistakes an earlier boot's file for this one.
  It also says what the guest is: ``debian_version``, ``os_version_id`` and
  ``tuned_version`` (read from files, no command run: "" when not found).
* ``req/<id>.json``: a request ``{"id", "cmd", "timeout", "stdin"}``, written by the host
  under a temporary name and renamed, so the agent never reads half a request. The agent
  deletes it when it takes it (a restarted agent does not run it twice) and runs ``cmd``
  with ``/bin/bash -c`` in its own process group, one thread per request.
* ``res/<id>.out`` / ``res/<id>.err``: the command's stdout and stderr, written as it runs.
* ``res/<id>.json``: ``{"rc", "timed_out", "seconds"}``, renamed into place last: the host
  waits for this file. A command still running at its timeout is killed (its whole process
  group) and reported with ``timed_out: true``.

9p has no change notification, so the agent polls the request directory: every 20 ms for a
few seconds after a request, every 200 ms when idle (an idle TCG guest
should leave the host's CPUs to the tests). A round trip is about 0.1-0.3 s under
TCG plus the command's own time.

Python 3.9-compatible; uses only the standard library (the guest's python3).
"""

import contextlib
import glob
import json
import os
import re
import signal
import subprocess
import threading
import time

CTL = os.environ.get("RIG_CTL", "/mnt/rig/ctl")
REQ = os.path.join(CTL, "req")
RES = os.path.join(CTL, "res")
READY = os.path.join(CTL, "ready")

FAST_POLL = 0.02
IDLE_POLL = 0.2
FAST_FOR = 5.0


def _atomic_write(path, data):
    # No fsync: the host reads the file through the share at once; an fsync over 9p is a
    # host-side fsync, which costs up to a second on a busy host disk.
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(data)
    os.rename(tmp, path)


def _boot_number():
    with open("/proc/cmdline") as f:
        for tok in f.read().split():
            if tok.startswith("rig.boot="):
                return tok.split("=", 1)[1]
    return "0"


def _read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def _os_release():
    found = {}
    for line in _read("/etc/os-release").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key.strip()] = value.strip().strip('"')
    return found


def _tuned_version():
    """tuned's version from its tuned/version.py (what `tuned --version` prints), without
    running tuned: 'TUNED_VERSION_MAJOR = 2' ... lines."""
    for path in sorted(glob.glob("/usr/lib/python3*/*-packages/tuned/version.py")):
        text = _read(path)
        parts = [re.search(r"^TUNED_VERSION_%s\s*=\s*(\d+)" % part, text, re.M)
                 for part in ("MAJOR", "MINOR", "PATCH")]
        if all(parts):
            return ".".join(m.group(1) for m in parts)
    return ""


def _run(req):
    rid = req["id"]
    timeout = float(req.get("timeout") or 600)
    started = time.monotonic()
    timed_out = False
    out_path = os.path.join(RES, rid + ".out")
    err_path = os.path.join(RES, rid + ".err")
    try:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            stdin = subprocess.PIPE if req.get("stdin") is not None else subprocess.DEVNULL
            proc = subprocess.Popen(
                ["/bin/bash", "-c", req["cmd"]], stdin=stdin, stdout=out, stderr=err,
                cwd=req.get("cwd") or "/root", start_new_session=True,
                env=dict(os.environ, HOME="/root", LANG="C.UTF-8",
                         PYTHONDONTWRITEBYTECODE="1"))
            try:
                proc.communicate(
                    input=req["stdin"].encode() if req.get("stdin") is not None else None,
                    timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            rc = proc.returncode
    except Exception as exc:  # report, never die: the host would wait for nothing
        rc = 255
        with open(err_path, "a") as err:
            err.write("rig agent: %s: %s\n" % (type(exc).__name__, exc))
    _atomic_write(os.path.join(RES, rid + ".json"), json.dumps(
        {"rc": rc, "timed_out": timed_out, "seconds": round(time.monotonic() - started, 3)}))


def main():
    for d in (REQ, RES, READY):
        os.makedirs(d, exist_ok=True)
    boot = _boot_number()
    with open("/proc/sys/kernel/random/boot_id") as f:
        boot_id = f.read().strip()
    with open("/proc/cmdline") as f:
        cmdline = f.read().strip()
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    _atomic_write(os.path.join(READY, boot + ".json"), json.dumps(
        {"boot": boot, "boot_id": boot_id, "cmdline": cmdline, "uptime": uptime,
         "pid": os.getpid(), "debian_version": _read("/etc/debian_version").strip(),
         "os_version_id": _os_release().get("VERSION_ID", ""),
         "tuned_version": _tuned_version()}))
    print("rig agent ready (boot %s, %.1f s after kernel start)" % (boot, uptime), flush=True)
    last_request = time.monotonic()
    while True:
        try:
            names = sorted(n for n in os.listdir(REQ) if n.endswith(".json"))
        except OSError:
            names = []
        for name in names:
            path = os.path.join(REQ, name)
            try:
                with open(path) as f:
                    req = json.load(f)
                os.unlink(path)
            except (OSError, ValueError):
                continue
            last_request = time.monotonic()
            threading.Thread(target=_run, args=(req,), daemon=True).start()
        idle = time.monotonic() - last_request
        time.sleep(FAST_POLL if idle < FAST_FOR else IDLE_POLL)


if __name__ == "__main__":
    main()
