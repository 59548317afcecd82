#!/usr/bin/env python3
"""Build and cache the guest images the system tests boot: Debian 12 and Debian 13.

Usage::

    python3 tests/system/image.py build   # build what is missing, print the image dirs
    python3 tests/system/image.py path    # print the cached image dirs (exit 1: one missing)
    python3 tests/system/image.py key     # print the recipe keys (sha256)
    python3 tests/system/image.py clean   # delete every cached image
    python3 tests/system/image.py build --suite trixie   # one suite: only its value

One recipe per Debian suite (:data:`RECIPES`): ``bookworm`` (Debian 12, tuned 2.20, RHEL 9's
profile layout) and ``trixie`` (Debian 13, tuned 2.25.1, RHEL 10's layout). Without
``--suite`` a command covers every suite and prints ``SUITE VALUE`` lines; with one suite it
prints the bare value.

The image is a plain ext4 file system (``base.raw``) packed with ``mkfs.ext4 -d`` from a
root tree that ``mmdebstrap`` makes from Debian packages, plus the kernels and initrds (the
standard flavour and PREEMPT_RT) copied out of it for QEMU's direct kernel boot. No loop
mount, no root mount.

It is cached under ``$LLTUNE_RIG_CACHE`` (default ``~/.cache/lltune-rig``) in
``images/<key>/`` where ``key`` is the sha256 of the suite's recipe (suite, packages, files
written into the tree, units masked, image size). Editing a recipe changes its key and so
builds a new image of that suite; anything else (this file's code, comments, the other
suite's recipe) does not. The images of all suites live side by side; pruning keeps every
suite's current image. A build happens in ``images/.tmp-<key>-<pid>/`` and is renamed into
place only when complete, so an interrupted build never leaves a half image where the rig
looks.

The guest side of the rig (the agent that runs commands) is *not* in the image: the runner
unit starts ``/mnt/rig/ctl/agent.py`` from the 9p share, so changing the agent needs no
rebuild. See README.md beside this file.
"""

import argparse
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Tuple

# Bump when the build *procedure* changes in a way the recipe data does not show.
RECIPE_VERSION = 2  # 2: the PREEMPT_RT kernel copied out beside the standard one

PACKAGES = [
    "systemd", "systemd-sysv", "dbus", "udev", "kmod",
    "tuned",  # 2.20 in bookworm, same as RHEL 9.2
    "python3", "python3-dbus", "python3-gi",
    "linux-image-amd64",
    "ethtool", "iproute2", "procps",
    "python3-yaml", "python3-jsonschema", "python3-jinja2", "python3-systemd",
    "python3-dbus-next",
    "rpm",
    # linux-perf ships the Python `perf` module and python3-schedutils the `schedutils`
    # module: without both, Debian's tuned has no scheduler and no irqbalance plugin.
    "linux-perf", "python3-schedutils",
    "irqbalance", "rt-tests", "rtla",  # rt-tests 2.4, rtla 6.1: what lltune validate runs
    # Debian's PREEMPT_RT flavour, a second kernel booted only by the validate test: unlike
    # the standard flavour it has the hwlat, osnoise and timerlat tracers that rtla and
    # hwlatdetect need (read from both flavours' /boot/config-*).
    "linux-image-rt-amd64",
    # The Ansible collection's test reaches the guest over SSH (not started at boot: UNSTARTED).
    "openssh-server",
    # ptp4l and phc2sys for the PTP tests (the units RHEL ships are written by the tests:
    # Debian's linuxptp has templated ones instead).
    "linuxptp",
]
PACKAGES_BOOKWORM = PACKAGES

PACKAGES_TRIXIE = [
    "systemd", "systemd-sysv", "dbus", "udev", "kmod",
    "tuned",  # 2.25.1 in trixie: RHEL 10's profile layout (/usr/lib/tuned/profiles)
    "python3", "python3-dbus", "python3-gi",
    "linux-image-amd64",  # 6.12
    "ethtool", "iproute2", "procps",
    "python3-yaml", "python3-jsonschema", "python3-jinja2", "python3-systemd",
    # No python3-dbus-next: like RHEL 9 and 10, the guest has none, so lltune runs on the copy
    # its RPM bundles.
    "rpm",
    # The el10 RPM is built in this guest (its Python is 3.13, as RHEL 10's own build would use
    # the target's Python): what packaging/packaging.mk builds with on Debian.
    "make", "python3-setuptools", "python3-wheel", "python3-pip", "python3-packaging",
    # linux-perf ships the Python `perf` module: tuned's irqbalance plugin imports it
    # unconditionally, its scheduler plugin needs it to follow new processes. tuned 2.25
    # uses os.sched_* where Python has them (3.13 does), so python3-schedutils is not
    # needed (the smoke test checks the plugins are there and schedutils is not).
    "linux-perf",
    "irqbalance", "rt-tests", "rtla", "linuxptp", "linux-image-rt-amd64", "openssh-server",
]

# Units that would start background work at random times during a test.
MASKED_UNITS = [
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer",
    "e2scrub_reap.service", "fstrim.timer", "man-db.timer",
]

# Installed but not started at boot (their packages enable them): a test starts them.
UNSTARTED = ["multi-user.target.wants/ssh.service", "sockets.target.wants/ssh.socket"]

RUNNER_UNIT = "lltune-rig-runner.service"

# Written into the tree *before* the packages are installed (mmdebstrap --setup-hook), so
# the kernel's postinst makes a small initrd at once. Debian's default (MODULES=most) packs
# every storage driver: 35 MB that take TCG about 7 s to unpack at every boot; the guest
# needs only virtio and ext4 to find its root.
EARLY_FILES = {
    "/etc/initramfs-tools/conf.d/rig.conf": "MODULES=list\n",
    "/usr/share/initramfs-tools/modules.d/rig.conf":
        "virtio_pci\nvirtio_blk\next4\ncrc32c_generic\n",
}

FILES = {
    "/etc/hostname": "lltune-guest\n",
    "/etc/hosts": "127.0.0.1 localhost\n127.0.1.1 lltune-guest\n::1 localhost ip6-localhost\n",
    # Root is /dev/vda (virtio-blk, whole disk, no partition table). No fsck pass: the
    # kernel mounts it rw directly; after a hard kill ext4 replays its journal.
    # The 9p share `rig` carries the agent's control files, the project source and results.
    "/etc/fstab": (
        "/dev/vda / ext4 rw,errors=remount-ro 0 0\n"
        "rig /mnt/rig 9p trans=virtio,version=9p2000.L,msize=262144,nofail,"
        "x-systemd.automount 0 0\n"
    ),
    "/etc/modules-load.d/9p.conf": "9p\n9pnet_virtio\n",
    # Probed by udev at every boot and useless in the guest (it fails after a while).
    "/etc/modprobe.d/rig.conf": (
        "blacklist powernow_k8\nblacklist pcspkr\n"
        # -cpu max shows svm to the guest; nested KVM is of no use to the tests.
        "blacklist kvm_amd\nblacklist kvm_intel\n"
    ),
    # Under TCG on a busy 2-core host, tuned (Type=dbus: ready once its profile is applied)
    # has been seen to need more than systemd's default 90 s to start. Give every unit
    # 10 minutes, and no service watchdog kills (journald and logind have 3 min ones).
    "/etc/systemd/system.conf.d/rig.conf": (
        "[Manager]\nDefaultTimeoutStartSec=600s\nDefaultTimeoutStopSec=90s\n"
        "ServiceWatchdogs=no\n"
    ),
    "/etc/systemd/system/tuned.service.d/rig.conf": "[Service]\nTimeoutStartSec=600s\n",
    # Empty: systemd makes a machine id on first boot (then commits it to the overlay).
    "/etc/machine-id": "",
    # Keep the journal on disk so a test can read the previous boot's log after a reboot.
    "/etc/systemd/journald.conf.d/rig.conf": "[Journal]\nStorage=persistent\n",
    "/etc/systemd/system/" + RUNNER_UNIT: (
        "[Unit]\n"
        "Description=LLTune system-test runner (runs what the test host sends)\n"
        "ConditionKernelCommandLine=rig.run=1\n"
        "After=multi-user.target tuned.service\n"
        "RequiresMountsFor=/mnt/rig\n"
        "\n"
        "[Service]\n"
        # Not Type=oneshot: the agent lives for the whole boot, and a oneshot that never
        # exits keeps the boot 'starting' (systemctl is-system-running) forever.
        "Type=exec\n"
        "ExecStart=/usr/bin/python3 -u /mnt/rig/ctl/agent.py\n"
        "Restart=on-failure\n"
        "RestartSec=1\n"
        "OOMScoreAdjust=-900\n"
        "StandardOutput=journal+console\n"
        "StandardError=journal+console\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    ),
}

# Symlinks made in the tree: path -> target.
LINKS = {
    "/etc/systemd/system/multi-user.target.wants/" + RUNNER_UNIT:
        "/etc/systemd/system/" + RUNNER_UNIT,
    "/var/lib/dbus/machine-id": "/etc/machine-id",
}
LINKS.update({"/etc/systemd/system/" + u: "/dev/null" for u in MASKED_UNITS})

RECIPE = {
    "version": RECIPE_VERSION,
    "suite": "bookworm",
    "variant": "minbase",
    "packages": PACKAGES,
    # Leave out docs, man pages and translations: smaller tree, faster mkfs.
    "dpkg_excludes": [
        "/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*", "/usr/share/locale/*",
    ],
    "dpkg_includes": ["/usr/share/doc/*/copyright"],
    "early_files": EARLY_FILES,
    "files": FILES,
    "links": LINKS,
    "unstarted": UNSTARTED,
    "root_password": "",  # empty: root logs in on the console without a password
    "image_size": "4G",   # sparse; the tree is about 750 MB
}

# Debian 13: the same tree as Debian 12 but for the suite and its packages.
RECIPE_TRIXIE = dict(RECIPE, suite="trixie", packages=PACKAGES_TRIXIE)

# Every suite's recipe, in the order a test session boots them.
RECIPES = {"bookworm": RECIPE, "trixie": RECIPE_TRIXIE}
SUITES = tuple(RECIPES)
DEFAULT_SUITE = "bookworm"


class Suite(NamedTuple):
    """What a suite's guest is, for tests that must know (not part of any image key)."""

    name: str
    debian: str           # Debian release
    tuned: str            # tuned's version series in that release
    layout: str           # which RHEL's tuned profile layout it has
    system_profiles: str  # where the packaged profiles are (tuned's SYSTEM_PROFILES_DIR)
    user_profiles: str    # where an admin's profiles go, and win (USER_PROFILES_DIR)


SUITE_INFO = {
    "bookworm": Suite("bookworm", "12", "2.20", "rhel9", "/usr/lib/tuned", "/etc/tuned"),
    "trixie": Suite("trixie", "13", "2.25", "rhel10", "/usr/lib/tuned/profiles",
                    "/etc/tuned/profiles"),
}

HOST_TOOLS_BUILD = {
    "mmdebstrap": "apt-get install -y mmdebstrap",
    "mkfs.ext4": "apt-get install -y e2fsprogs",
}


class RigError(RuntimeError):
    """A one-line, user-facing failure of the rig (missing tool, failed build...)."""


def recipe_for(suite: str) -> dict:
    """The recipe of a suite ('bookworm', 'trixie')."""
    try:
        return RECIPES[suite]
    except KeyError:
        raise RigError("unknown guest suite %r (known: %s)" % (suite, ", ".join(SUITES))) \
            from None


def recipe_key(recipe: Optional[dict] = None) -> str:
    """sha256 of the recipe data: the cache key of the image it builds."""
    data = json.dumps(recipe if recipe is not None else RECIPE, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()


def cache_dir() -> Path:
    env = os.environ.get("LLTUNE_RIG_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "lltune-rig"


def require_tools(tools: Dict[str, str]) -> None:
    """Raise RigError naming the first missing host tool and how to install it."""
    for tool, how in tools.items():
        if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists() \
                and not Path("/sbin", tool).exists():
            raise RigError("missing host tool '%s' (install it: %s)" % (tool, how))


def _which(tool: str) -> str:
    for cand in (shutil.which(tool), "/usr/sbin/" + tool, "/sbin/" + tool):
        if cand and Path(cand).exists():
            return cand
    raise RigError("missing host tool '%s'" % tool)


class Image:
    """A built image: the ext4 root file system plus the kernel and initrd."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)
        self.disk = self.dir / "base.raw"
        self.kernel = self.dir / "vmlinuz"
        self.initrd = self.dir / "initrd.img"
        self.kernel_rt = self.dir / "vmlinuz-rt"
        self.initrd_rt = self.dir / "initrd-rt.img"

    def boot_files(self, flavour: str = "standard") -> Tuple[Path, Path]:
        """The kernel and initrd of one flavour: "standard" or "rt" (PREEMPT_RT)."""
        if flavour == "rt":
            return self.kernel_rt, self.initrd_rt
        return self.kernel, self.initrd

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.disk, self.kernel, self.initrd, self.kernel_rt,
                                          self.initrd_rt, self.dir / "recipe.json"))

    @property
    def suite(self) -> Optional[str]:
        """The Debian suite the image was built from (from its recipe.json)."""
        return _suite_of(self.dir)

    def __repr__(self) -> str:
        return "Image(%s)" % self.dir


def _suite_of(directory: Path) -> Optional[str]:
    try:
        return json.loads((Path(directory) / "recipe.json").read_text()).get("suite")
    except (OSError, ValueError, AttributeError):
        return None


def cached_image(recipe: Optional[dict] = None) -> Optional[Image]:
    img = Image(cache_dir() / "images" / recipe_key(recipe))
    return img if img.complete() else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _mounts_under(path: Path) -> List[str]:
    """Mount points at or below path (mmdebstrap mounts /proc, /sys, /dev/pts in the tree
    while it builds; a builder killed with SIGKILL can leave them)."""
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
    """rmtree that never descends into a mount (that could be the host's /dev or /sys)."""
    mounted = _mounts_under(path)
    if mounted:
        _log("not deleting %s: still mounted inside it: %s (unmount them, then delete it)"
             % (path, ", ".join(mounted)))
        return
    shutil.rmtree(path, ignore_errors=True)


def _remove_stale_temps(images: Path) -> None:
    """Delete build directories left by interrupted builds (their builder is gone)."""
    for tmp in images.glob(".tmp-*"):
        try:
            pid = int(tmp.name.rsplit("-", 1)[1])
        except (IndexError, ValueError):
            pid = -1
        if pid <= 0 or not _pid_alive(pid):
            _safe_rmtree(tmp)


def _prune(images: Path, keep: str, spare: int = 2) -> None:
    """Delete old images: never `keep` nor the current image of any suite in RECIPES;
    of the others, the `spare` most recently used of each suite stay."""
    current = {keep} | {recipe_key(r) for r in RECIPES.values()}
    by_suite = {}  # type: Dict[Optional[str], List[Path]]
    for d in images.iterdir():
        if d.is_dir() and not d.name.startswith(".") and d.name not in current:
            by_suite.setdefault(_suite_of(d), []).append(d)
    for others in by_suite.values():
        others.sort(key=lambda d: d.stat().st_mtime, reverse=True)
        for old in others[spare:]:
            shutil.rmtree(old, ignore_errors=True)


def _log(msg: str) -> None:
    sys.stderr.write("[rig image] %s\n" % msg)
    sys.stderr.flush()


def _stop_child(proc: subprocess.Popen) -> None:
    """SIGTERM (mmdebstrap then unmounts what it mounted in the tree), SIGKILL after 120 s."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _run(cmd: List[str], log, timeout: int) -> None:
    log.write("$ %s\n" % " ".join(cmd))
    log.flush()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    try:
        returncode = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop_child(proc)
        raise RigError("%s timed out after %d s (log: %s)"
                       % (cmd[0], timeout, log.name)) from None
    except BaseException:  # Ctrl-C, or SIGTERM (main() makes it SystemExit)
        _stop_child(proc)
        raise
    if returncode != 0:
        raise RigError("%s failed with exit code %d (log: %s)"
                       % (cmd[0], returncode, log.name))


def _customise(root: Path, recipe: dict) -> None:
    """Write the recipe's files and links into the root tree."""
    for path, content in recipe["files"].items():
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink():
            dest.unlink()
        dest.write_text(content)
        dest.chmod(0o644)
    for wanted in recipe["unstarted"]:
        link = root / "etc/systemd/system" / wanted
        if link.is_symlink():
            link.unlink()
    for path, target in recipe["links"].items():
        dest = root / path.lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        dest.symlink_to(target)
    (root / "mnt" / "rig").mkdir(parents=True, exist_ok=True)
    # passwd -d root, without chrooting: empty the password field in /etc/shadow.
    shadow = root / "etc" / "shadow"
    lines = shadow.read_text().splitlines()
    out = []
    for line in lines:
        fields = line.split(":")
        if fields[0] == "root":
            fields[1] = recipe["root_password"]
        out.append(":".join(fields))
    shadow.write_text("\n".join(out) + "\n")


def _boot_file(root: Path, name: str, flavour: str) -> Path:
    """/boot/vmlinuz-* or /boot/initrd.img-* of one kernel flavour. Not the /vmlinuz link:
    with two flavours of one version installed it names whichever dpkg configured last."""
    found = [p for p in sorted((root / "boot").glob(name + "-*"))
             if p.is_file() and p.name.endswith("-rt-amd64") == (flavour == "rt")]
    if len(found) != 1:
        raise RigError("%d %s kernel files %s-* in the built tree (want one): %s"
                       % (len(found), flavour, name, [p.name for p in found]))
    return found[0]


def build(recipe: Optional[dict] = None, force: bool = False) -> Image:
    """Return the cached image for the recipe, building it first when needed."""
    recipe = recipe if recipe is not None else RECIPE
    key = recipe_key(recipe)
    images = cache_dir() / "images"
    images.mkdir(parents=True, exist_ok=True)
    final = Image(images / key)
    if final.complete() and not force:
        os.utime(final.dir)
        return final
    require_tools(HOST_TOOLS_BUILD)
    # One builder at a time per cache: a second session waits and then finds the image.
    with open(images / ".build.lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)
        if final.complete() and not force:
            return final
        _remove_stale_temps(images)
        tmp = images / (".tmp-%s-%d" % (key[:16], os.getpid()))
        _safe_rmtree(tmp)
        tmp.mkdir()
        root = tmp / "rootfs"
        started = time.monotonic()
        try:
            with open(tmp / "build.log", "w") as log:
                cmd = [_which("mmdebstrap"), "--variant=" + recipe["variant"],
                       "--include=" + ",".join(recipe["packages"])]
                cmd += ["--dpkgopt=path-exclude=" + p for p in recipe["dpkg_excludes"]]
                cmd += ["--dpkgopt=path-include=" + p for p in recipe["dpkg_includes"]]
                for path, content in sorted(recipe["early_files"].items()):
                    dest = '"$1"' + shlex.quote(path)
                    cmd.append("--setup-hook=mkdir -p \"$(dirname %s)\" && printf %%s %s > %s"
                               % (dest, shlex.quote(content), dest))
                cmd += [recipe["suite"], str(root)]
                _log("building the %s guest image %s (takes a few minutes)"
                     % (recipe["suite"], key[:12]))
                _run(cmd, log, timeout=1500)
                _customise(root, recipe)
                built = Image(tmp)
                for flavour in ("standard", "rt"):
                    for name, dest in zip(("vmlinuz", "initrd.img"),
                                          built.boot_files(flavour)):
                        shutil.copyfile(str(_boot_file(root, name, flavour)), str(dest))
                _run([_which("mkfs.ext4"), "-q", "-F", "-L", "lltune-root", "-d", str(root),
                      str(tmp / "base.raw"), recipe["image_size"]], log, timeout=900)
            _safe_rmtree(root)
            # recipe.json last: Image.complete() requires it.
            (tmp / "recipe.json").write_text(json.dumps(recipe, indent=1, sort_keys=True))
            if final.dir.exists():
                shutil.rmtree(final.dir)
            os.rename(str(tmp), str(final.dir))
        except BaseException:
            _safe_rmtree(tmp)
            raise
        _log("built the %s image %s in %.0f s"
             % (recipe["suite"], final.dir, time.monotonic() - started))
        _prune(images, key)
    return final


def clean(suites: Optional[List[str]] = None) -> None:
    """Delete the cached images of the given suites (all of them, and the build lock and
    leftovers, when None)."""
    images = cache_dir() / "images"
    if suites is None:
        _safe_rmtree(images)
        return
    if not images.is_dir():
        return
    wanted = set(suites)
    for d in images.iterdir():
        if d.is_dir() and not d.name.startswith(".") and _suite_of(d) in wanted:
            _safe_rmtree(d)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["build", "path", "key", "clean"])
    ap.add_argument("--suite", choices=list(SUITES) + ["all"], default="all",
                    help="one suite (prints its bare value) or all (default: SUITE VALUE lines)")
    ap.add_argument("--force", action="store_true", help="rebuild even when cached")
    args = ap.parse_args(argv)
    suites = list(SUITES) if args.suite == "all" else [args.suite]

    def say(suite: str, value: object) -> None:
        print(value if args.suite != "all" else "%s %s" % (suite, value))

    # A terminated build cleans up like an interrupted one (stops mmdebstrap, removes the
    # temporary directory) instead of dying on the spot.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    status = 0
    try:
        if args.command == "clean":
            clean(None if args.suite == "all" else suites)
            return 0
        for suite in suites:
            recipe = recipe_for(suite)
            if args.command == "key":
                say(suite, recipe_key(recipe))
            elif args.command == "path":
                img = cached_image(recipe)
                if img is None:
                    sys.stderr.write("image.py: no cached %s image for key %s\n"
                                     % (suite, recipe_key(recipe)))
                    status = 1
                    continue
                say(suite, img.dir)
            else:
                say(suite, build(recipe, force=args.force).dir)
    except RigError as exc:
        sys.stderr.write("image.py: %s\n" % exc)
        return 3
    return status


if __name__ == "__main__":
    sys.exit(main())
