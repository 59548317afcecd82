#!/usr/bin/env python3
"""Check that `make run` works on a bare Debian 12 machine (python3, python3-venv, make, git).

Usage (as root)::

    python3 tests/bare/bare_machine.py check [--repo DIR] [--out DIR]  # builds the root if needed
    python3 tests/bare/bare_machine.py build  # build (or find) the bare root, print its directory
    python3 tests/bare/bare_machine.py path|key|clean

The bare root is ``mmdebstrap --variant=minbase bookworm`` with python3, python3-venv, make
and git, and what apt brings with them (Recommends too, apt's default: ca-certificates, perl,
less, ...), nothing else: no compiler, no headers, no Python package but the standard library
and the pip and setuptools wheels ensurepip uses. It is a plain directory tree (about 220 MB)
cached under ``$LLTUNE_RIG_CACHE`` (default ``~/.cache/lltune-rig``) in ``bare/<key>/rootfs``
where ``key`` is the sha256 of :data:`RECIPE`, as tests/system/image.py caches the guest
image: a build happens in ``bare/.tmp-<key>-<pid>/`` and is renamed into place when complete,
one builder at a time; a change of the recipe builds a new root, nothing else does.

The cached tree is never written to. A check runs in a private mount namespace
(``unshare --mount --propagation private``: nothing mounted there is visible outside, and it
all goes away with the namespace):

- a tmpfs on a scratch directory, and on it an overlay whose lower layer is the cached root:
  every check starts from the same bare machine, and what it writes lives in memory;
- /proc and /sys of this machine bound into it read-only (so the scan reads this machine, and
  cannot change a sysctl or a sysfs value), /dev a tmpfs with only null, zero, full, random,
  urandom and tty bound in;
- the repository under test as a bare copy (``git clone --bare``: its history and HEAD, also
  when HEAD is detached or the repository shallow, as CI clones can be), cloned again inside the
  root with the root's own git (``git clone file://...``, as a user would), then ``make run``
  there as root (chroot).

What passes from this machine into the root, and only that (see :func:`chroot_env` and
:func:`files_to_pass`): /etc/resolv.conf; the CA bundle that PIP_CERT and SSL_CERT_FILE name
(this machine's own; copied to the same path inside, over the root's ca-certificates one when
both are /etc/ssl/certs/ca-certificates.crt, so pip trusts what it trusts here); the PIP_*
variables and SSL_CERT_FILE; the proxy variables when set. Not: host venvs, site-packages, pip
configuration files, the pip cache, any other environment variable. A path a PIP_* variable
names that the root lacks (PIP_FIND_LINKS=/opt/wheels here) is ignored by pip.

Uncommitted changes are not checked: the copy holds HEAD, as CI's clean clone does. When the
work tree differs from HEAD the result says so (``uncommitted``) and the command warns.

Pass: the clone in the root is at HEAD; ``make run`` exits 0; snapshot.yaml and report.md
are written and not empty; the snapshot parses (with the venv's own PyYAML) and has cpu.cpus;
and the venv holds no test tool (pytest, hypothesis, ruff, dbusmock): the run venv is the
product's only.
"""

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent

# Bump when the build *procedure* changes in a way the recipe data does not show.
RECIPE_VERSION = 1

RECIPE = {
    "version": RECIPE_VERSION,
    "suite": "bookworm",
    "variant": "minbase",
    # What the README says a bare machine has; everything else make run needs it must fetch.
    "packages": ["python3", "python3-venv", "make", "git"],
    "dpkg_excludes": [
        "/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
    ],
    "dpkg_includes": ["/usr/share/doc/*/copyright"],
}

HOST_TOOLS_BUILD = {"mmdebstrap": "apt-get install -y mmdebstrap"}
HOST_TOOLS_RUN = {
    "unshare": "apt-get install -y util-linux",
    "mount": "apt-get install -y mount",
    "chroot": "apt-get install -y coreutils",
    "git": "apt-get install -y git",
}

# Inside the root.
CLONE = "/root/lltune"
ORIGIN = "/tmp/lltune-src.git"
CHROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEV_NODES = ["null", "zero", "full", "random", "urandom", "tty"]
TEST_TOOLS = ["pytest", "hypothesis", "ruff", "dbusmock"]
# Per step, seconds. make run downloads lltune's dependencies from PyPI.
TIMEOUTS = {"clone": 120, "make run": 900, "inspect": 120}


class BareError(RuntimeError):
    """A one-line, user-facing failure (missing tool, failed build...)."""


def _log(msg: str) -> None:
    sys.stderr.write("[bare] %s\n" % msg)
    sys.stderr.flush()


def recipe_key(recipe: Optional[dict] = None) -> str:
    data = json.dumps(recipe if recipe is not None else RECIPE, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()


def cache_dir() -> Path:
    env = os.environ.get("LLTUNE_RIG_CACHE")
    return (Path(env) if env else Path.home() / ".cache" / "lltune-rig") / "bare"


def _which(tool: str) -> Optional[str]:
    for cand in (shutil.which(tool), "/usr/sbin/" + tool, "/sbin/" + tool):
        if cand and Path(cand).exists():
            return cand
    return None


def _missing(tools: Dict[str, str]) -> str:
    for tool, how in tools.items():
        if _which(tool) is None:
            return "missing host tool '%s' (install it: %s)" % (tool, how)
    return ""


def cached_root(recipe: Optional[dict] = None) -> Optional[Path]:
    d = cache_dir() / recipe_key(recipe)
    return d / "rootfs" if (d / "recipe.json").is_file() else None


def unavailable() -> str:
    """Why this host cannot run the check ('' when it can)."""
    if os.geteuid() != 0:
        return "not root (mmdebstrap into a directory, unshare --mount and chroot need root)"
    problem = _missing(HOST_TOOLS_RUN)
    if problem:
        return problem
    if cached_root() is None:
        problem = _missing(HOST_TOOLS_BUILD)
        if problem:
            return "no cached bare root and cannot build one: " + problem
    return ""


# ---------------------------------------------------------------------------- the bare root

def _mounts_under(path: Path) -> List[str]:
    prefix = str(path.resolve()) + "/"
    found = []
    try:
        with open("/proc/self/mounts") as f:
            for line in f:
                point = line.split()[1].replace("\\040", " ")
                if (point + "/").startswith(prefix):
                    found.append(point)
    except OSError:
        pass
    return found


def _safe_rmtree(path: Path) -> None:
    """rmtree that never descends into a mount (mmdebstrap mounts /proc, /sys, /dev in the
    tree while it builds; a builder killed with SIGKILL can leave them)."""
    mounted = _mounts_under(path)
    if mounted:
        _log("not deleting %s: still mounted inside it: %s" % (path, ", ".join(mounted)))
        return
    shutil.rmtree(str(path), ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(proc: subprocess.Popen, grace: int = 60) -> None:
    """SIGTERM the process group (mmdebstrap then unmounts what it mounted), SIGKILL later."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


def build(recipe: Optional[dict] = None, force: bool = False) -> Path:
    """Return the cached bare root for the recipe, building it first when needed."""
    recipe = recipe if recipe is not None else RECIPE
    key = recipe_key(recipe)
    base = cache_dir()
    base.mkdir(parents=True, exist_ok=True)
    final = base / key
    if (final / "recipe.json").is_file() and not force:
        os.utime(str(final))
        return final / "rootfs"
    problem = _missing(HOST_TOOLS_BUILD)
    if problem:
        raise BareError(problem)
    with open(str(base / ".build.lock"), "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if (final / "recipe.json").is_file() and not force:
            return final / "rootfs"
        for tmp in base.glob(".tmp-*"):  # left by interrupted builders
            try:
                pid = int(tmp.name.rsplit("-", 1)[1])
            except (IndexError, ValueError):
                pid = -1
            if pid <= 0 or not _pid_alive(pid):
                _safe_rmtree(tmp)
        tmp = base / (".tmp-%s-%d" % (key[:16], os.getpid()))
        _safe_rmtree(tmp)
        tmp.mkdir()
        started = time.monotonic()
        cmd = [_which("mmdebstrap") or "mmdebstrap", "--variant=" + recipe["variant"],
               "--include=" + ",".join(recipe["packages"])]
        cmd += ["--dpkgopt=path-exclude=" + p for p in recipe["dpkg_excludes"]]
        cmd += ["--dpkgopt=path-include=" + p for p in recipe["dpkg_includes"]]
        cmd += [recipe["suite"], str(tmp / "rootfs")]
        _log("building the bare Debian root %s (about a minute)" % key[:12])
        try:
            with open(str(tmp / "build.log"), "w") as log:
                log.write("$ %s\n" % " ".join(cmd))
                log.flush()
                # stdin is not a terminal: mmdebstrap would read a sources.list from it; give it
                # none, so it uses its default mirror, as tests/system/image.py does.
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, start_new_session=True)
                try:
                    rc = proc.wait(timeout=1200)
                except subprocess.TimeoutExpired:
                    _stop(proc)
                    raise BareError("mmdebstrap timed out after 1200 s") from None
                finally:
                    _stop(proc)
            if rc != 0:
                tail = (tmp / "build.log").read_text(errors="replace").splitlines()[-15:]
                raise BareError("mmdebstrap failed with exit code %d:\n%s" % (rc, "\n".join(tail)))
            # recipe.json last: cached_root() requires it.
            (tmp / "recipe.json").write_text(json.dumps(recipe, indent=1, sort_keys=True))
            if final.exists():
                _safe_rmtree(final)
            os.rename(str(tmp), str(final))
        except BaseException:
            _safe_rmtree(tmp)
            raise
        _log("built %s in %.0f s" % (final, time.monotonic() - started))
        # Keep the current root and the two most recently used others.
        others = [d for d in base.iterdir() if d.is_dir() and len(d.name) == 64 and d != final]
        others.sort(key=lambda d: d.stat().st_mtime, reverse=True)
        for old in others[2:]:
            _safe_rmtree(old)
    return final / "rootfs"


# ---------------------------------------------------------------------------- what passes in

# Proxy variables pass when set: the root reaches PyPI the way this machine does.
PROXY_VARS = ["http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"]


def chroot_env(environ: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The whole environment of the commands in the root: a login-like minimum, plus what pip
    needs from this machine to reach PyPI (PIP_*, SSL_CERT_FILE, proxies). Nothing else."""
    environ = os.environ if environ is None else environ
    env = {"PATH": CHROOT_PATH, "HOME": "/root", "USER": "root", "LOGNAME": "root",
           "LANG": "C.UTF-8", "SHELL": "/bin/sh"}
    for name, value in environ.items():
        if name.startswith("PIP_") or name == "SSL_CERT_FILE" or name in PROXY_VARS:
            env[name] = value
    return env


def files_to_pass(environ: Optional[Dict[str, str]] = None) -> List[str]:
    """Host files copied into the root at the same path: the resolver configuration and the
    CA bundle(s) pip is pointed at (this machine's; the root's own ca-certificates may differ)."""
    environ = os.environ if environ is None else environ
    files = ["/etc/resolv.conf"]
    for name in ("PIP_CERT", "SSL_CERT_FILE"):
        path = environ.get(name)
        if path and os.path.isabs(path) and os.path.isfile(path) and path not in files:
            files.append(path)
    return files


def _source(repo: Path, origin: Path) -> Dict[str, object]:
    """A bare copy of the repository under test at origin; say what HEAD is and what is left
    out. A bare clone keeps a detached HEAD and works from a shallow repository (a bundle
    of a shallow one clones into a broken repository)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo)] + list(args), check=True,
                              capture_output=True, text=True).stdout
    try:
        commit = git("rev-parse", "HEAD").strip()
        dirty = [line for line in git("status", "--porcelain").splitlines() if line]
        git("clone", "--quiet", "--bare", "--no-local", "--", ".", str(origin))
    except subprocess.CalledProcessError as exc:
        raise BareError("git in %s: %s" % (repo, (exc.stderr or "").strip())) from None
    return {"repo": str(repo), "commit": commit, "uncommitted": dirty[:20],
            "uncommitted_count": len(dirty)}


# ---------------------------------------------------------------------------- the check

def check(repo: Optional[Path] = None, out: Optional[Path] = None,
          recipe: Optional[dict] = None) -> Dict[str, object]:
    """Run the check; return its result (``problems`` empty means it passed)."""
    why = unavailable()
    if why:
        raise BareError(why)
    repo = Path(repo) if repo else HERE.parent.parent
    started = time.monotonic()
    fresh = cached_root(recipe) is None
    root = build(recipe)
    build_seconds = time.monotonic() - started
    out = Path(out) if out else cache_dir() / "last-check"
    if out.exists():
        _safe_rmtree(out)
    out.mkdir(parents=True)
    scratch = Path(tempfile.mkdtemp(prefix="lltune-bare-"))
    try:
        source = _source(repo, scratch / "src.git")
        if source["uncommitted_count"]:
            _log("the work tree has %d uncommitted change(s): the check clones HEAD %s "
                 "without them" % (source["uncommitted_count"], str(source["commit"])[:12]))
        (scratch / "mnt").mkdir()
        spec = {"root": str(root), "mnt": str(scratch / "mnt"),
                "origin": str(scratch / "src.git"), "out": str(out),
                "env": chroot_env(), "files": files_to_pass()}
        (scratch / "spec.json").write_text(json.dumps(spec, indent=1))
        ns_started = time.monotonic()
        cmd = [_which("unshare") or "unshare", "--mount", "--propagation", "private", "--",
               sys.executable, str(Path(__file__).resolve()), "_inside", str(scratch / "spec.json")]
        with open(str(out / "namespace.log"), "w") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            try:
                rc = proc.wait(timeout=sum(TIMEOUTS.values()) + 120)
            except subprocess.TimeoutExpired:
                rc = None
            finally:
                _stop(proc, grace=30)
        result_file = out / "result.json"
        result = json.loads(result_file.read_text()) if result_file.is_file() else {"steps": []}
        result["namespace_rc"] = rc
        result["namespace_seconds"] = round(time.monotonic() - ns_started, 1)
        leftover = _mounts_under(scratch)
    finally:
        _safe_rmtree(scratch)
    result.update({"root": str(root), "recipe_key": recipe_key(recipe), "built_now": fresh,
                   "build_seconds": round(build_seconds, 1), "source": source,
                   "out": str(out), "mounts_left_outside": leftover})
    result["problems"] = evaluate(result)
    (out / "result.json").write_text(json.dumps(result, indent=1, sort_keys=True))
    return result


def evaluate(result: Dict[str, object]) -> List[str]:
    problems = []
    steps = {s["name"]: s for s in result.get("steps", [])}
    if result.get("setup_error"):
        problems.append("setting up the namespace failed: %s" % result["setup_error"])
    if result.get("namespace_rc") is None:
        problems.append("the check timed out")
    for name in ("clone", "make run", "inspect"):  # each runs only when the one before passed
        step = steps.get(name)
        if step is None:
            if not problems:
                problems.append("step '%s' did not run" % name)
            break
        if step.get("timed_out"):
            problems.append("step '%s' timed out after %s s" % (name, step["seconds"]))
        elif step["rc"] != 0:
            problems.append("step '%s' exited %s" % (name, step["rc"]))
    writable = [p for p, opts in sorted((result.get("host_mounts") or {}).items())
                if "ro" not in opts]
    if writable:
        problems.append("this machine's mounts writable in the root: %s" % ", ".join(writable))
    if not result.get("host_mounts") and not result.get("setup_error"):
        problems.append("no /proc or /sys mount seen in the root")
    source = result.get("source") or {}
    if "clone" in steps and steps["clone"]["rc"] == 0 \
            and result.get("cloned") != source.get("commit"):
        problems.append("the clone in the root is at %s, not HEAD %s"
                        % (result.get("cloned"), source.get("commit")))
    inspect = result.get("inspect") or {}
    for name in ("snapshot.yaml", "report.md"):
        if "inspect" in steps and not inspect.get("sizes", {}).get(name):
            problems.append("%s missing or empty" % name)
    if "inspect" in steps and not inspect.get("cpus"):
        problems.append("the snapshot has no cpu.cpus (%s)" % inspect.get("error", "empty"))
    if inspect.get("test_tools"):
        problems.append("the run venv holds test tools: %s" % ", ".join(inspect["test_tools"]))
    if result.get("mounts_left_outside"):
        problems.append("mounts visible outside the namespace: %s"
                        % ", ".join(result["mounts_left_outside"]))
    return problems


def describe(result: Dict[str, object]) -> str:
    """A few lines for a human: verdict, times, and the failing step's output tail."""
    source = result.get("source") or {}
    lines = ["bare-machine check of %s: %s" % (
        str(source.get("commit", "?"))[:12],
        "PASS" if not result["problems"] else "FAIL: " + "; ".join(result["problems"]))]
    times = ["root %s %.0f s" % ("built" if result.get("built_now") else "cached",
                                 result.get("build_seconds", 0))]
    times += ["%s %.0f s" % (s["name"], s["seconds"]) for s in result.get("steps", [])]
    lines.append("times: " + ", ".join(times))
    if source.get("uncommitted_count"):
        lines.append("not checked: %d uncommitted change(s) in %s"
                     % (source["uncommitted_count"], source.get("repo")))
    lines.append("results: %s" % result.get("out"))
    for step in result.get("steps", []):
        if step["rc"] != 0 or step.get("timed_out"):
            log = Path(str(result.get("out")), step["log"])
            if log.is_file():
                tail = log.read_text(errors="replace").splitlines()[-30:]
                lines.append("--- last lines of %s:" % log)
                lines.extend(tail)
            break
    return "\n".join(lines)


# ---------------------------------------------------------------------------- inside the namespace

def _sh(*cmd: str) -> None:
    subprocess.run(list(cmd), check=True, stdin=subprocess.DEVNULL)


def _inside_path(root: Path, path: str) -> Path:
    """root/path, refusing a path that leaves root through a symlink."""
    dest = root / path.lstrip("/")
    parent = os.path.realpath(str(dest.parent))
    if parent != str(root) and not parent.startswith(str(root) + "/"):
        raise BareError("%s leaves the root through a symlink" % path)
    return dest


def _put_file(root: Path, path: str, data: bytes, mode: int = 0o644) -> None:
    dest = _inside_path(root, path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_symlink():
        dest.unlink()
    dest.write_bytes(data)
    dest.chmod(mode)


def _setup(spec: dict) -> Path:
    """Mount the overlay, /proc, /sys and /dev; copy in the files that pass. In this mount
    namespace only (unshare --propagation private): none of it is seen from outside."""
    mnt = Path(spec["mnt"])
    lower = spec["root"]
    for c in ",:\\":
        if c in lower or c in str(mnt):
            raise BareError("path with '%s' cannot be an overlay option: %s" % (c, lower))
    _sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=4g", "lltune-bare", str(mnt))
    for d in ("upper", "work", "merged"):
        (mnt / d).mkdir()
    merged = mnt / "merged"
    _sh("mount", "-t", "overlay", "lltune-bare", "-o", "lowerdir=%s,upperdir=%s,workdir=%s"
        % (lower, mnt / "upper", mnt / "work"), str(merged))
    # /proc: this machine's, read-only (a bind: "remount,bind,ro" changes this mount only,
    # never the proc or sysfs superblock the host uses).
    _sh("mount", "--bind", "/proc", str(merged / "proc"))
    _sh("mount", "-o", "remount,bind,ro", str(merged / "proc"))
    # /sys with its submounts (cgroup, ...), every one read-only.
    _sh("mount", "--rbind", "/sys", str(merged / "sys"))
    for point in [str(merged / "sys")] + _mounts_under(merged / "sys"):
        _sh("mount", "-o", "remount,bind,ro", point)
    # /dev: a tmpfs with the few nodes a shell, git, make and pip use.
    dev = merged / "dev"
    _sh("mount", "-t", "tmpfs", "-o", "mode=0755,size=1m,nosuid", "lltune-bare-dev", str(dev))
    for node in DEV_NODES:
        (dev / node).touch()
        _sh("mount", "--bind", "/dev/" + node, str(dev / node))
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        (dev / name).symlink_to(target)
    (dev / "shm").mkdir(mode=0o1777)
    (dev / "pts").mkdir()
    for path in spec["files"]:
        _put_file(merged, path, Path(path).read_bytes())
    dest = _inside_path(merged, ORIGIN)
    shutil.copytree(spec["origin"], str(dest), symlinks=True)
    return merged


def _host_mounts(merged: Path) -> Dict[str, List[str]]:
    """Options of every mount of this machine's /proc and /sys inside the root (all must be ro)."""
    found = {}
    with open("/proc/self/mounts") as f:
        for line in f:
            fields = line.split()
            point = fields[1].replace("\\040", " ")
            for top in ("proc", "sys"):
                inner = str(merged / top)
                if point == inner or point.startswith(inner + "/"):
                    found["/" + point[len(str(merged)) + 1:]] = fields[3].split(",")
    return found


def _step(merged: Path, out: Path, name: str, script: str, env: Dict[str, str]) -> dict:
    """Run `sh -c script` in the root as root with exactly env; its output goes to a log."""
    log_name = name.replace(" ", "-") + ".log"
    cmd = ["chroot", str(merged), "/usr/bin/env", "-i"]
    cmd += ["%s=%s" % kv for kv in sorted(env.items())]
    cmd += ["/bin/sh", "-c", script]
    started = time.monotonic()
    timed_out = False
    with open(str(out / log_name), "w") as log:
        log.write("$ %s\n" % script)
        log.flush()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            proc.wait(timeout=TIMEOUTS[name])
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # Whatever the step left running goes too (the namespace ends with this process).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        rc = None if timed_out else proc.returncode
    return {"name": name, "rc": rc, "timed_out": timed_out, "log": log_name,
            "seconds": round(time.monotonic() - started, 1)}


INSPECT = r"""
import importlib.util, json, os, sys
import yaml
res = {"sizes": {}, "test_tools": [], "cpus": 0}
for name in ("snapshot.yaml", "report.md"):
    res["sizes"][name] = os.path.getsize(name) if os.path.isfile(name) else 0
try:
    with open("snapshot.yaml") as f:
        snap = yaml.safe_load(f)
    res["cpus"] = len(snap["cpu"]["cpus"])
    res["schema_version"] = snap.get("schema_version")
except Exception as exc:
    res["error"] = "%s: %s" % (type(exc).__name__, exc)
res["test_tools"] = [m for m in TOOLS if importlib.util.find_spec(m) is not None]
res["python"] = sys.version.split()[0]
with open("/tmp/inspect.json", "w") as f:
    json.dump(res, f)
"""


def inside(spec_file: str) -> int:
    """The namespace's side: set up, clone, make run, inspect; write result.json to out."""
    spec = json.loads(Path(spec_file).read_text())
    out = Path(spec["out"])
    env = spec["env"]
    result = {"steps": [], "env_passed": sorted(env), "files_passed": spec["files"]}
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        merged = _setup(spec)
        result["host_mounts"] = _host_mounts(merged)
        # The facts that make the root bare, recorded beside the result.
        result["compilers"] = [c for c in ("cc", "gcc", "clang")
                               if any((merged / d / c).exists() for d in ("usr/bin", "bin"))]
        result["python_headers"] = sorted(str(p.relative_to(merged)) for p in
                                          (merged / "usr/include").glob("python3*/Python.h"))
        steps = [
            ("clone", "git -c advice.detachedHead=false clone -q file://%s %s && git -C %s "
                      "log -1 --format='cloned %%H %%s' && git -C %s rev-parse HEAD "
                      ">/tmp/cloned" % (ORIGIN, CLONE, CLONE, CLONE)),
            ("make run", "cd %s && make run" % CLONE),
            ("inspect", "cd %s && .venv/bin/python -c %s && .venv/bin/python -m pip list"
                        % (CLONE, _quote(INSPECT.replace("TOOLS", repr(TEST_TOOLS))))),
        ]
        for name, script in steps:
            step = _step(merged, out, name, script, env)
            result["steps"].append(step)
            if step["rc"] != 0:
                break
        cloned = merged / "tmp" / "cloned"
        if cloned.is_file():
            result["cloned"] = cloned.read_text().strip()
        inspect_file = merged / "tmp" / "inspect.json"
        if inspect_file.is_file():
            result["inspect"] = json.loads(inspect_file.read_text())
        for name in ("snapshot.yaml", "report.md"):
            src = merged / CLONE.lstrip("/") / name
            if src.is_file():
                shutil.copyfile(str(src), str(out / name))
    except (BareError, subprocess.CalledProcessError, OSError) as exc:
        result["setup_error"] = str(exc)
    finally:
        (out / "result.json").write_text(json.dumps(result, indent=1, sort_keys=True))
    return 0


def _quote(s: str) -> str:
    return "'" + s.replace("'", "'\"'\"'") + "'"


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_inside"]:
        return inside(argv[1])
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["check", "build", "path", "key", "clean"])
    ap.add_argument("--repo", type=Path, help="repository to check (default: this one)")
    ap.add_argument("--out", type=Path, help="where the logs, snapshot and report go "
                    "(default: <cache>/bare/last-check)")
    ap.add_argument("--force", action="store_true", help="build: rebuild even when cached")
    args = ap.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        if args.command == "key":
            print(recipe_key())
        elif args.command == "path":
            root = cached_root()
            if root is None:
                sys.stderr.write("bare_machine.py: no cached root for key %s\n" % recipe_key())
                return 1
            print(root)
        elif args.command == "clean":
            _safe_rmtree(cache_dir())
        elif args.command == "build":
            print(build(force=args.force))
        else:
            result = check(repo=args.repo, out=args.out)
            print(describe(result))
            return 1 if result["problems"] else 0
    except BareError as exc:
        sys.stderr.write("bare_machine.py: %s\n" % exc)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
