#!/usr/bin/env python3
"""Build and cache the Debian 12 guest image the system tests boot.

Usage::

    python3 tests/system/image.py build    # build if needed, print the image directory
    python3 tests/system/image.py path     # print the cached image directory (exit 1 if none)
    python3 tests/system/image.py key      # print the recipe key (sha256)
    python3 tests/system/image.py clean    # delete every cached image

The image is a plain ext4 file system (``base.raw``) packed with ``mkfs.ext4 -d`` from a
root tree that ``mmdebstrap`` makes from Debian packages, plus the kernel and initrd copied
out of it for QEMU's direct kernel boot. No loop mount, no root mount.

It is cached under ``$LLTUNE_RIG_CACHE`` (default ``~/.cache/lltune-rig``) in
``images/<key>/`` where ``key`` is the sha256 of :data:`RECIPE` (packages, files written
into the tree, units masked, image size). Editing the recipe changes the key and so builds
a new image; anything else (this file's code, comments) does not. A build happens in
``images/.tmp-<key>-<pid>/`` and is renamed into place only when complete, so an interrupted
build never leaves a half image where the rig looks.

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
from typing import Dict, List, Optional

# Bump when the build *procedure* changes in a way the recipe data does not show.
RECIPE_VERSION = 1

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
    "irqbalance", "rt-tests",
]

# Units that would start background work at random times during a test.
MASKED_UNITS = [
    "apt-daily.timer", "apt-daily-upgrade.timer", "e2scrub_all.timer",
    "e2scrub_reap.service", "fstrim.timer", "man-db.timer",
]

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
    "root_password": "",  # empty: root logs in on the console without a password
    "image_size": "4G",   # sparse; the tree is about 750 MB
}

HOST_TOOLS_BUILD = {
    "mmdebstrap": "apt-get install -y mmdebstrap",
    "mkfs.ext4": "apt-get install -y e2fsprogs",
}


class RigError(RuntimeError):
    """A one-line, user-facing failure of the rig (missing tool, failed build...)."""


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

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.disk, self.kernel, self.initrd,
                                          self.dir / "recipe.json"))

    def __repr__(self) -> str:
        return "Image(%s)" % self.dir


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
    """Keep the current image and the `spare` most recently used others."""
    others = [d for d in images.iterdir()
              if d.is_dir() and not d.name.startswith(".") and d.name != keep]
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


def _boot_file(root: Path, name: str) -> Path:
    """Resolve /vmlinuz or /initrd.img (symlinks relative to the tree, not the host)."""
    link = root / name
    if link.is_symlink():
        target = os.readlink(str(link))
        link = root / target.lstrip("/") if target.startswith("/") else root / target
    if not link.is_file():
        boot = sorted((root / "boot").glob(name.split(".")[0] + "*"))
        if not boot:
            raise RigError("no %s in the built tree" % name)
        link = boot[-1]
    return link


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
                _log("building the guest image %s (takes a few minutes)" % key[:12])
                _run(cmd, log, timeout=1500)
                _customise(root, recipe)
                shutil.copyfile(str(_boot_file(root, "vmlinuz")), str(tmp / "vmlinuz"))
                shutil.copyfile(str(_boot_file(root, "initrd.img")), str(tmp / "initrd.img"))
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
        _log("built %s in %.0f s" % (final.dir, time.monotonic() - started))
        _prune(images, key)
    return final


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=["build", "path", "key", "clean"])
    ap.add_argument("--force", action="store_true", help="rebuild even when cached")
    args = ap.parse_args(argv)
    # A terminated build cleans up like an interrupted one (stops mmdebstrap, removes the
    # temporary directory) instead of dying on the spot.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        if args.command == "key":
            print(recipe_key())
        elif args.command == "path":
            img = cached_image()
            if img is None:
                sys.stderr.write("image.py: no cached image for key %s\n" % recipe_key())
                return 1
            print(img.dir)
        elif args.command == "clean":
            _safe_rmtree(cache_dir() / "images")
        else:
            print(build(force=args.force).dir)
    except RigError as exc:
        sys.stderr.write("image.py: %s\n" % exc)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
