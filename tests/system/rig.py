"""Host half of the system-test rig: boot the guest image under QEMU and talk to it.

The pytest fixture ``guest`` (conftest.py) wraps :class:`Guest`; this module works without
pytest too::

    from rig import Guest
    with Guest.start(suite="trixie") as g:     # or "bookworm" (the default)
        print(g.suite, g.tuned_version, g.run("tuned-adm active").stdout)
        g.reboot()

One image per Debian suite (image.py): ``bookworm`` (Debian 12, tuned 2.20, RHEL 9's profile
layout) and ``trixie`` (Debian 13, tuned 2.25.1, RHEL 10's). Only one guest runs at a time in
a process: booting a second while another runs is an error (the host has 2 cores).

What a boot looks like (see README.md for the why):

* 4 vCPUs in 2 sockets, 2 NUMA nodes (cpus 0-1 node 0, 2-3 node 1), 2 GiB.
* Two virtio-net NICs on multiqueue taps (4 queues each). The taps are made inside a private
  network namespace (``unshare -n``) that only QEMU lives in, so nothing on the host changes
  and no packet leaves it.
* One e1000e on ``-netdev user,restrict=on``: the only NIC QEMU emulates that has interrupt
  coalescing, pause frames and a PTP hardware clock, which the apply tests need.
* The disk is a qcow2 overlay over the cached base image, one per Guest; rebooting boots the
  same overlay again, so state persists like on a real disk.
* A 9p share (tag ``rig``, /mnt/rig in the guest) with ``ctl/`` (the agent and its
  request/response files), ``src/`` (a copy of the repository, refreshed by
  :meth:`Guest.sync_src`) and ``results/`` (for tests to leave files in).
* TCG by default; KVM only when a short probe boot works on this host (:func:`choose_accel`).
"""

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import List, Optional

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import image as image_mod  # noqa: E402  (sibling module; tests/system is not a package)
from image import RigError  # noqa: E402

REPO = HERE.parent.parent
QEMU = "qemu-system-x86_64"
HOST_TOOLS_BOOT = {
    QEMU: "apt-get install -y qemu-system-x86",
    "qemu-img": "apt-get install -y qemu-utils",
    "unshare": "apt-get install -y util-linux",
    "ip": "apt-get install -y iproute2",
    "timeout": "apt-get install -y coreutils",
}

BASE_APPEND = "root=/dev/vda rw console=ttyS0 panic=-1 rig.run=1"
# Per-accelerator boot deadlines in seconds. TCG on 2 host cores boots in 75-130 s
# (4 vCPUs on 2 cores, more when other work shares the host).
BOOT_DEADLINE = {"tcg": 420.0, "kvm": 120.0}
SHUTDOWN_DEADLINE = 150.0
# No nested virtualisation in the guest: with svm the guest's udev loads kvm_amd at every
# boot, which costs TCG seconds for nothing.
TCG_CPU = "max"
# TCG's threads per suite. Debian 13's kernel (6.12) under multi-threaded TCG (QEMU 7.2) was
# seen to die at boot with "Oops: int3" in task_tick_fair: a vCPU ran stale translated code
# across a runtime text patch (the kernel's int3-based text_poke). One TCG thread keeps every
# vCPU's view of patched kernel text coherent, at about a third more time per command.
TCG_ACCEL = {"bookworm": "tcg,thread=multi", "trixie": "tcg,thread=single"}
# Hard cap on one QEMU process (the `timeout` wrapper): nothing outlives a CI run.
# The SSH forward's port on the loopback of the rig's network namespace (netns_path()).
SSH_PORT = 2222
QEMU_LIFETIME = int(os.environ.get("LLTUNE_RIG_QEMU_LIFETIME", "3000"))
# Files of the repository that are not copied into the guest's src/.
SRC_IGNORE = shutil.ignore_patterns(
    ".git", "__pycache__", "*.pyc", ".venv*", ".tox", ".ruff_cache", ".pytest_cache",
    "results", "*.qcow2", "*.raw", "*.rpm", "build", "dist", "*.egg-info")


class BootError(RigError):
    """The guest did not come up (or went away) before its deadline."""


class CommandTimeout(RigError):
    """The guest did not answer a command before the host's deadline."""


class Result:
    """What a command in the guest did."""

    __slots__ = ("cmd", "rc", "stdout", "stderr", "timed_out", "seconds")

    def __init__(self, cmd: str, rc: int, stdout: str, stderr: str, timed_out: bool,
                 seconds: float):
        self.cmd = cmd
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.timed_out = timed_out
        self.seconds = seconds

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.timed_out

    def check(self) -> "Result":
        """Raise AssertionError with everything useful when the command failed."""
        if not self.ok:
            raise AssertionError("guest command failed: %s" % self)
        return self

    def __repr__(self) -> str:
        return ("Result(cmd=%r, rc=%r%s, %.2fs,\n--- stdout ---\n%s--- stderr ---\n%s)"
                % (self.cmd, self.rc, ", TIMED OUT" if self.timed_out else "", self.seconds,
                   _tail(self.stdout), _tail(self.stderr)))


def _tail(text: str, limit: int = 4000) -> str:
    text = text if len(text) <= limit else "...\n" + text[-limit:]
    return text if text.endswith("\n") or not text else text + "\n"


def _log(msg: str) -> None:
    sys.stderr.write("[rig] %s\n" % msg)
    sys.stderr.flush()


def _wait_for(predicate, deadline: float, interval: float = 0.05):
    """Poll `predicate` until it returns something truthy or the monotonic deadline passes."""
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)


def _project_files(root: Path) -> Optional[List[str]]:
    """Paths (relative) of the files of the git work tree at root, or None if not one."""
    if shutil.which("git") is None or not (root / ".git").exists():
        return None
    proc = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                           "--exclude-standard"], stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, timeout=60)
    if proc.returncode != 0:
        return None
    return sorted({p for p in proc.stdout.decode().split("\0") if p})


def missing_boot_tool() -> Optional[str]:
    """The first host tool needed to boot that is missing, as a one-line message."""
    try:
        image_mod.require_tools(HOST_TOOLS_BOOT)
    except RigError as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------------------------
# accelerator choice

# Verdict per guest image (its kernel decides whether nested KVM hangs): image directory
# name -> "tcg" or "kvm", once probed in this process.
_ACCEL_VERDICT = {}  # type: dict


def _verdict_file() -> Path:
    # One entry per guest kernel ({"verdicts": {key: accel}}). Not accel-verdict.json: that
    # is the one-image file of the rig before it had two suites, still written by its copies.
    return image_mod.cache_dir() / "accel-verdicts.json"


def _saved_verdicts() -> dict:
    try:
        saved = json.loads(_verdict_file().read_text()).get("verdicts")
    except (OSError, ValueError, AttributeError):
        return {}
    return saved if isinstance(saved, dict) else {}


def _verdict_key(img: "image_mod.Image") -> str:
    """The verdict holds for one host boot, one QEMU binary and one guest kernel."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot_id = f.read().strip()
    except OSError:
        boot_id = "?"
    qemu = Path(_tool(QEMU))
    return "%s %s %d %s" % (boot_id, qemu, qemu.stat().st_mtime, img.dir.name)


def _remember_verdict(img: "image_mod.Image", accel: str, key: Optional[str] = None) -> None:
    _ACCEL_VERDICT[img.dir.name] = accel
    if key is None:
        return
    boot_id = key.split(" ", 1)[0]
    # Verdicts of earlier host boots are dropped: they no longer hold.
    verdicts = {k: v for k, v in _saved_verdicts().items() if k.split(" ", 1)[0] == boot_id}
    verdicts[key] = accel
    with contextlib.suppress(OSError):
        tmp = _verdict_file().with_suffix(".tmp%d" % os.getpid())
        tmp.write_text(json.dumps({"verdicts": verdicts}, indent=1, sort_keys=True))
        os.rename(str(tmp), str(_verdict_file()))


def _kvm_probe(img: "image_mod.Image", workdir: Path, deadline: float = 15.0) -> bool:
    """Boot the guest kernel under KVM with no initrd and no root: it must get as far as
    the 'Unable to mount root fs' panic (which ends QEMU: panic=-1, -no-reboot) in time.

    The nested KVM some of our machines have hangs a stock kernel early in boot (it prints
    nothing at all), so a hang here means TCG. Takes about 1-2 s where KVM works (the same
    probe under TCG takes 10 s) and `deadline` seconds where it hangs."""
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False
    log = workdir / "kvm-probe.log"
    cmd = [_tool("timeout"), "-k", "2", str(int(deadline)), _tool(QEMU),
           "-accel", "kvm", "-cpu", "host", "-machine", "q35", "-smp", "2", "-m", "512",
           "-nodefaults", "-display", "none", "-no-reboot",
           "-chardev", "file,id=con,path=%s" % _qopt(log), "-serial", "chardev:con",
           "-kernel", str(img.kernel), "-append", "console=ttyS0 panic=-1 root=/dev/rig-none"]
    try:
        subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=deadline + 10)
    except subprocess.TimeoutExpired:
        return False
    text = log.read_text(errors="replace") if log.exists() else ""
    return "Kernel panic" in text or "Unable to mount root" in text


def choose_accel(img: "image_mod.Image", workdir: Path) -> str:
    """'tcg' or 'kvm'. $LLTUNE_RIG_ACCEL=tcg|kvm forces; 'auto' (default) probes KVM once
    per guest image (its kernel) and remembers the verdict, in this process and on disk for
    the rest of this host boot (the same QEMU and guest kernel): the probe costs 15 s where
    KVM hangs. A KVM verdict that turns out wrong falls back to TCG (Guest.first_boot)."""
    forced = os.environ.get("LLTUNE_RIG_ACCEL", "auto").strip().lower()
    if forced in ("tcg", "kvm"):
        return forced
    if img.dir.name in _ACCEL_VERDICT:
        return _ACCEL_VERDICT[img.dir.name]
    key = _verdict_key(img)
    saved = _saved_verdicts().get(key)
    if saved in ("tcg", "kvm"):
        _remember_verdict(img, saved)
        _log("accelerator for the %s guest: %s (probed earlier in this host boot; %s)"
             % (img.suite, saved.upper(), _verdict_file()))
        return saved
    started = time.monotonic()
    accel = "kvm" if _kvm_probe(img, workdir) else "tcg"
    _remember_verdict(img, accel, key)
    _log("KVM probe (%s guest kernel): %s in %.1f s -> using %s" % (
        img.suite, "booted" if accel == "kvm" else "no usable KVM",
        time.monotonic() - started, accel.upper()))
    return accel


def _remove_stale_workdirs(base: Path) -> None:
    """Remove guest work directories whose test process is gone (kept ones excepted)."""
    for d in base.glob("guest-*-*"):
        try:
            pid = int(d.name.split("-")[1])
        except (IndexError, ValueError):
            continue
        if (d / "KEEP").exists():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except PermissionError:
            pass


def _qopt(value) -> str:
    """A value inside a QEMU -option list: commas are doubled."""
    return str(value).replace(",", ",,")


def _tool(name: str) -> str:
    for cand in (shutil.which(name), "/usr/sbin/" + name, "/sbin/" + name):
        if cand and Path(cand).exists():
            return cand
    raise RigError("missing host tool '%s' (%s)" % (name, HOST_TOOLS_BOOT.get(name, "")))


# ---------------------------------------------------------------------------------------
# the guest

_RUNNING = []  # type: List[Guest]  # guests of this process whose QEMU runs (at most one)


def _tail(path: Path, title: str, lines: int) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return "\n--- %s tail ---\n" % title + "\n".join(text)


class Guest:
    """One QEMU guest on its own qcow2 overlay; survives reboots and hard kills.

    ``suite`` says which image it boots ('bookworm' or 'trixie'); ``info`` is that suite's
    :class:`image.Suite` (Debian release, tuned series and profile layout, profile dirs);
    ``tuned_version`` and ``debian_version`` are what the booted guest itself reports."""

    NICS = (("tap0", "52:54:00:4c:4c:01"), ("tap1", "52:54:00:4c:4c:02"))
    E1000E_MAC = "52:54:00:4c:4c:03"

    def __init__(self, img: "image_mod.Image", workdir: Path, accel: str = "tcg",
                 src: Optional[Path] = REPO, suite: Optional[str] = None):
        self.image = img
        self.suite = suite or img.suite or image_mod.DEFAULT_SUITE
        self.info = image_mod.SUITE_INFO[self.suite]
        self.workdir = Path(workdir)
        self.accel = accel
        self.src = Path(src) if src else None
        self.share = self.workdir / "share"
        self.ctl = self.share / "ctl"
        self.overlay = self.workdir / "disk.qcow2"
        self.console_log = self.workdir / "console.log"
        self.qemu_log = self.workdir / "qemu.log"
        self.boots = 0
        self.ready = {}  # type: dict
        self.proc = None  # type: Optional[subprocess.Popen]
        self.extra_append = ""
        self.flavour = "standard"  # the kernel flavour of the current boot (image.boot_files)
        self.boot_seconds = []  # type: List[float]
        self._accel_forced = False
        for d in ("ctl/req", "ctl/res", "ctl/ready", "results"):
            (self.share / d).mkdir(parents=True, exist_ok=True)
        if not self.overlay.exists():
            subprocess.run([_tool("qemu-img"), "create", "-q", "-f", "qcow2", "-b",
                            str(img.disk), "-F", "raw", str(self.overlay)], check=True)
        if self.src is not None:
            self.sync_src()

    # -- construction ---------------------------------------------------------------

    @classmethod
    def create(cls, workdir: Optional[Path] = None, accel: Optional[str] = None,
               src: Optional[Path] = REPO, suite: str = image_mod.DEFAULT_SUITE) -> "Guest":
        """Build (or find) the suite's image, pick the accelerator, make the overlay: not
        booted."""
        problem = missing_boot_tool()
        if problem:
            raise RigError(problem)
        img = image_mod.build(image_mod.recipe_for(suite))
        if workdir is None:
            base = Path(os.environ.get("LLTUNE_RIG_WORKDIR") or image_mod.cache_dir() / "run")
            base.mkdir(parents=True, exist_ok=True)
            _remove_stale_workdirs(base)
            workdir = Path(tempfile.mkdtemp(prefix="guest-%d-%s-" % (os.getpid(), suite),
                                            dir=str(base)))
        workdir = Path(workdir)
        guest = cls(img, workdir, accel=accel or choose_accel(img, workdir), src=src,
                    suite=suite)
        guest._accel_forced = accel is not None or \
            os.environ.get("LLTUNE_RIG_ACCEL", "auto").strip().lower() in ("tcg", "kvm")
        return guest

    def first_boot(self) -> dict:
        """Boot; when KVM was chosen by the probe and the boot fails, boot again under TCG
        and remember TCG for the rest of the session."""
        try:
            return self.boot()
        except BootError:
            if self.accel != "kvm" or self._accel_forced:
                raise
        _log("KVM boot of the %s guest failed; falling back to TCG for this session"
             % self.suite)
        _remember_verdict(self.image, "tcg")
        self.accel = "tcg"
        return self.boot()

    @classmethod
    def start(cls, workdir: Optional[Path] = None, accel: Optional[str] = None,
              src: Optional[Path] = REPO, suite: str = image_mod.DEFAULT_SUITE) -> "Guest":
        """create() and first_boot(): a running guest."""
        guest = cls.create(workdir, accel, src, suite=suite)
        try:
            guest.first_boot()
        except BaseException:
            guest._hard_stop()
            raise
        return guest

    def __enter__(self) -> "Guest":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- source and results ------------------------------------------------------------

    def sync_src(self) -> None:
        """Copy the repository into the share (the guest's /mnt/rig/src), afresh.

        In a git work tree, the files git knows plus untracked ones it does not ignore (so
        no virtualenvs, caches or benchmark trees); otherwise everything but SRC_IGNORE."""
        dest = self.share / "src"
        if dest.exists():
            shutil.rmtree(dest)
        files = _project_files(self.src)
        if files is None:
            shutil.copytree(str(self.src), str(dest), symlinks=True, ignore=SRC_IGNORE)
            return
        dest.mkdir(parents=True)
        for rel in files:
            src = self.src / rel
            if not (src.is_file() or src.is_symlink()):
                continue  # deleted in the work tree but still in the index
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if src.is_symlink():
                target.symlink_to(os.readlink(str(src)))
            else:
                shutil.copy2(str(src), str(target))

    @property
    def results(self) -> Path:
        """Host path of the guest's /mnt/rig/results."""
        return self.share / "results"

    # -- what the guest is ---------------------------------------------------------------

    @property
    def tuned_version(self) -> str:
        """tuned's version as the booted guest has it ('2.20.0', '2.25.1'; '' if none)."""
        return self.ready.get("tuned_version") or ""

    @property
    def debian_version(self) -> str:
        """The guest's /etc/debian_version ('12.12', '13.2', ...)."""
        return self.ready.get("debian_version") or ""

    @property
    def tuned_layout(self) -> str:
        """Whose tuned profile layout the guest has: 'rhel9' (profiles in /usr/lib/tuned,
        /etc/tuned) or 'rhel10' (/usr/lib/tuned/profiles, /etc/tuned/profiles)."""
        return self.info.layout

    def tuned_profile_dir(self, name: str, user: bool = True) -> str:
        """Where profile `name` lives in the guest: the admin's directory (user=True, the
        one that wins) or the packaged one."""
        base = self.info.user_profiles if user else self.info.system_profiles
        return "%s/%s" % (base, name)

    def __repr__(self) -> str:
        return "Guest(%s, %s, %s)" % (self.suite, self.accel, self.workdir)

    # -- boot -----------------------------------------------------------------------------

    def qemu_argv(self, append: str) -> List[str]:
        kernel, initrd = self.image.boot_files(self.flavour)
        if self.accel == "kvm":
            accel = ["-accel", "kvm", "-cpu", "host"]
        else:
            accel = ["-accel", os.environ.get("LLTUNE_RIG_TCG") or TCG_ACCEL[self.suite],
                     "-cpu", os.environ.get("LLTUNE_RIG_TCG_CPU") or TCG_CPU]
        argv = [_tool(QEMU), "-name", "lltune-guest-" + self.suite,
                "-machine", "q35"] + accel + [
            "-smp", "4,sockets=2,cores=2,threads=1", "-m", "2048",
            "-object", "memory-backend-ram,id=m0,size=1G",
            "-object", "memory-backend-ram,id=m1,size=1G",
            "-numa", "node,nodeid=0,cpus=0-1,memdev=m0",
            "-numa", "node,nodeid=1,cpus=2-3,memdev=m1",
            "-nodefaults", "-display", "none", "-no-reboot",
            "-chardev", "file,id=con,path=%s,append=on" % _qopt(self.console_log),
            "-serial", "chardev:con",
            "-kernel", str(kernel), "-initrd", str(initrd), "-append", append,
            # writeback (not unsafe): guest flushes reach the host file, so a hard kill
            # loses what a power cut would, no more.
            "-drive", "file=%s,if=none,id=disk0,format=qcow2,cache=writeback"
            % _qopt(self.overlay),
            # No MSI-X (vectors=0): a multiqueue virtio-blk gets one kernel-managed IRQ per
            # CPU, which nobody may move, so tuned's verify of isolated_cores could never
            # pass; bare-metal NVMe has the same property (see the system tests' README).
            "-device", "virtio-blk-pci,drive=disk0,vectors=0",
            "-virtfs", "local,path=%s,mount_tag=rig,security_model=none,id=rig"
            % _qopt(self.share),
        ]
        for i, (tap, mac) in enumerate(self.NICS):
            argv += ["-netdev", "tap,id=n%d,ifname=%s,script=no,downscript=no,queues=4"
                     % (i, tap),
                     "-device", "virtio-net-pci,netdev=n%d,mq=on,vectors=10,mac=%s" % (i, mac)]
        # The e1000e is the only emulated NIC with coalescing (rx-usecs), pause frames and a
        # PTP hardware clock: the apply tests need it. restrict=on: no way out of the guest;
        # the one way in is SSH from the loopback of the rig's own network namespace, once a
        # test gives the NIC QEMU's guest address and starts sshd (fleet.py).
        argv += ["-netdev", "user,id=ne,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22" % SSH_PORT,
                 "-device", "e1000e,netdev=ne,mac=%s" % self.E1000E_MAC]
        return argv

    def _spawn(self, append: str) -> None:
        ip = shlex.quote(_tool("ip"))
        taps = "".join("%s tuntap add mode tap multi_queue name %s && %s link set %s up && "
                       % (ip, tap, ip, tap) for tap, _ in self.NICS)
        script = ("%s link set lo up && %sexec %s -k 10 %d %s"
                  % (ip, taps, shlex.quote(_tool("timeout")), QEMU_LIFETIME,
                     " ".join(shlex.quote(a) for a in self.qemu_argv(append))))
        with open(self.qemu_log, "ab") as qlog:
            # A new session: kill() takes out the whole group (timeout + qemu) at once.
            self.proc = subprocess.Popen([_tool("unshare"), "-n", "sh", "-c", script],
                                         stdin=subprocess.DEVNULL, stdout=qlog,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def _mark_console(self, text: str) -> None:
        with open(self.console_log, "a") as f:
            f.write("\n===== rig: %s: %s =====\n" % (time.strftime("%H:%M:%S"), text))

    def boot(self, extra_append: str = "", flavour: str = "standard") -> dict:
        """Start QEMU on the overlay and wait for the agent; return its ready record.
        `flavour` "rt" boots the image's PREEMPT_RT kernel instead of the standard one."""
        if self.running():
            raise RigError("boot(): the guest is already running")
        others = [g for g in _RUNNING if g is not self and g.running()]
        if others:
            raise RigError("boot(): the %s guest is still running in this process (one QEMU "
                           "at a time: close it first)" % others[0].suite)
        self.boots += 1
        self.flavour = flavour
        self.extra_append = extra_append.strip()
        append = "%s rig.boot=%d %s" % (BASE_APPEND, self.boots, self.extra_append)
        append = append.strip()
        shutil.copyfile(str(HERE / "guest_agent.py"), str(self.ctl / "agent.py"))
        for d in ("req", "res"):
            shutil.rmtree(self.ctl / d, ignore_errors=True)
            (self.ctl / d).mkdir()
        self._mark_console("boot %d of the %s guest, %s, %s kernel, append: %s"
                           % (self.boots, self.suite, self.accel, flavour, append))
        started = time.monotonic()
        self._spawn(append)
        _RUNNING[:] = [g for g in _RUNNING if g is not self and g.running()] + [self]
        ready = self.ctl / "ready" / ("%d.json" % self.boots)
        deadline = started + float(os.environ.get("LLTUNE_RIG_BOOT_TIMEOUT") or
                                   BOOT_DEADLINE[self.accel])

        def up():
            if ready.exists():
                return True
            if self.proc.poll() is not None:
                raise BootError("QEMU exited with code %s during boot %d (console: %s)%s%s"
                                % (self.proc.returncode, self.boots, self.console_log,
                                   self._console_tail(), self._qemu_tail()))
            return False

        if not _wait_for(up, deadline, 0.1):
            self._hard_stop()
            raise BootError("boot %d (%s) did not reach the agent within %.0f s (console: %s)%s"
                            % (self.boots, self.accel, deadline - started, self.console_log,
                               self._console_tail()))
        self.ready = json.loads(ready.read_text())
        took = time.monotonic() - started
        self.boot_seconds.append(took)
        _log("%s guest boot %d (%s) ready in %.1f s" % (self.suite, self.boots, self.accel,
                                                       took))
        return self.ready

    def _console_tail(self, lines: int = 25) -> str:
        return _tail(self.console_log, "console", lines)

    def _qemu_tail(self, lines: int = 10) -> str:
        """QEMU's own last words (a refused option, a held lock): the console has none."""
        return _tail(self.qemu_log, "qemu log", lines)

    def netns_path(self) -> str:
        """The network namespace QEMU runs in (`nsenter --net=PATH`): its loopback carries the
        SSH forward, and nothing of it is the host's."""
        if not self.running():
            raise RigError("netns_path(): the guest is not running")
        return "/proc/%d/ns/net" % self.proc.pid

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure_running(self) -> None:
        """Boot the guest again when an earlier test left QEMU stopped (a failed reboot). The
        conftest does it before each test; module fixtures, set up before it, call it too."""
        if not self.running():
            _log("the %s guest was left stopped by an earlier test: booting it again"
                 % self.suite)
            self.boot()

    # -- commands -----------------------------------------------------------------------------

    def submit(self, cmd: str, timeout: float = 300, stdin: Optional[str] = None,
               cwd: Optional[str] = None) -> str:
        """Send a command without waiting; returns its id for :meth:`collect`."""
        if not self.running():
            raise RigError("the guest is not running (command: %s)" % cmd)
        rid = uuid.uuid4().hex[:16]
        req = {"id": rid, "cmd": cmd, "timeout": timeout, "stdin": stdin, "cwd": cwd}
        tmp = self.ctl / "req" / (rid + ".tmp")
        tmp.write_text(json.dumps(req))
        os.rename(str(tmp), str(self.ctl / "req" / (rid + ".json")))
        return rid

    def collect(self, rid: str, cmd: str, timeout: float) -> Result:
        """Wait for the answer to a submitted command (agent timeout + 30 s at most)."""
        done = self.ctl / "res" / (rid + ".json")
        deadline = time.monotonic() + timeout + 30

        def answered():
            if done.exists():
                return True
            if not self.running():
                raise RigError("the guest went away while running: %s%s"
                               % (cmd, self._console_tail()))
            return False

        if not _wait_for(answered, deadline, 0.01):
            raise CommandTimeout("no answer from the guest within %.0f s for: %s"
                                 % (timeout + 30, cmd))
        meta = json.loads(done.read_text())
        out = (self.ctl / "res" / (rid + ".out")).read_text(errors="replace")
        err = (self.ctl / "res" / (rid + ".err")).read_text(errors="replace")
        for suffix in (".json", ".out", ".err"):
            with contextlib.suppress(OSError):
                (self.ctl / "res" / (rid + suffix)).unlink()
        return Result(cmd, meta["rc"], out, err, meta["timed_out"], meta["seconds"])

    def run(self, cmd: str, timeout: float = 300, check: bool = False,
            stdin: Optional[str] = None, cwd: Optional[str] = None) -> Result:
        """Run a shell command (bash -c) as root in the guest; return rc, stdout, stderr.

        `timeout` is enforced in the guest (the command's process group is killed and the
        result says timed_out); the host gives up 30 s later if the guest does not answer."""
        rid = self.submit(cmd, timeout=timeout, stdin=stdin, cwd=cwd)
        result = self.collect(rid, cmd, timeout)
        return result.check() if check else result

    def lltune(self, args: str, timeout: float = 300, check: bool = False) -> Result:
        """Run `python3 -m lltune ARGS` from the shared source tree."""
        return self.run("cd /mnt/rig/src && python3 -m lltune %s" % args,
                        timeout=timeout, check=check)

    # -- power --------------------------------------------------------------------------------

    def _wait_exit(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        return bool(_wait_for(lambda: self.proc.poll() is not None, deadline, 0.1))

    def _hard_stop(self) -> None:
        """SIGKILL QEMU and its timeout wrapper (the whole process group), then reap."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                _log("QEMU (pid %d) did not die after SIGKILL" % self.proc.pid)
        self._mark_console("QEMU stopped (exit %s)" % self.proc.returncode)

    def shutdown(self, how: str = "poweroff", deadline: float = SHUTDOWN_DEADLINE) -> bool:
        """Ask the guest to `systemctl poweroff|reboot` (either ends QEMU: -no-reboot);
        wait up to `deadline` s, then kill. True when it went down cleanly."""
        if not self.running():
            return True
        self._mark_console("%s requested" % how)
        with contextlib.suppress(OSError, RigError):
            self.submit("systemctl %s" % how, timeout=deadline)
        clean = self._wait_exit(deadline)
        if not clean:
            _log("guest did not %s within %.0f s: killing QEMU" % (how, deadline))
        self._hard_stop()
        return clean

    def tuned_boot_cmdline(self) -> str:
        """TUNED_BOOT_CMDLINE from the guest's /etc/tuned/bootcmdline ('' when none)."""
        res = self.run(". /etc/tuned/bootcmdline 2>/dev/null; "
                       "printf %s \"${TUNED_BOOT_CMDLINE:-}\"", timeout=60, check=True)
        return res.stdout.strip()

    def reboot(self, cmdline_from_bootcmdline: bool = False, extra_append: str = "",
               flavour: str = "standard") -> dict:
        """Reboot on the same disk (`systemctl reboot` in the guest, then a new QEMU).

        With `cmdline_from_bootcmdline`, play GRUB's part: append the guest's
        TUNED_BOOT_CMDLINE (what tuned's bootloader plugin wrote) to the next boot."""
        append = extra_append
        if cmdline_from_bootcmdline:
            append = (self.tuned_boot_cmdline() + " " + extra_append).strip()
        self.shutdown("reboot")
        return self.boot(append, flavour)

    def kill(self, boot_again: bool = True, extra_append: str = "") -> Optional[dict]:
        """Pull the plug: SIGKILL QEMU with no warning to the guest, then (by default)
        boot the same disk again."""
        self._mark_console("hard kill requested")
        self._hard_stop()
        if boot_again:
            return self.boot(extra_append)
        return None

    def close(self, keep: Optional[bool] = None) -> None:
        """End the guest and delete its work directory (overlay, share, console log) unless
        keep (default: $LLTUNE_RIG_KEEP=1). The overlay is thrown away, so QEMU is simply
        killed; a kept guest is shut down cleanly first. Console logs of failed tests were
        already copied to the results directory."""
        if keep is None:
            keep = os.environ.get("LLTUNE_RIG_KEEP") == "1"
        if keep:
            if self.running():
                self.shutdown("poweroff")
            (self.workdir / "KEEP").write_text("kept by LLTUNE_RIG_KEEP=1\n")
            _log("kept the guest's work directory %s" % self.workdir)
        else:
            self._hard_stop()
            shutil.rmtree(self.workdir, ignore_errors=True)
