"""The hostile inputs, one Case each, grouped by entry point: CLI arguments, configs,
snapshots, probes, capture bundles, --root trees, state directories and output targets.

A case builds its inputs in its scratch directory (setup), names the command line (argv), the
exit code the documentation gives it, and optionally a phrase the one-line error must hold,
text standard output must hold, or a check of what is left afterwards. The shared assets (a
small host tree, its probes and snapshot, a config, a valid bundle, the large generated host)
are built once per session, outside any scratch directory, and only read.
"""

import copy
import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from tests.unit.hostile.runner import REPO

OTHER_UID = 65534  # nobody: the "another user" of the state and output cases
CONFIG = os.path.join(REPO, "examples", "lab-template.yaml")
MIN_CONFIG = "version: 1\npreset: balanced\n"
MIB = 1024 * 1024


@dataclass
class Assets:
    directory: str
    config: str = CONFIG
    root: str = ""  # the lab-template host tree
    probes: str = ""
    snapshot: str = ""  # its snapshot (JSON)
    snapshot_data: Dict[str, Any] = field(default_factory=dict)
    bundle: str = ""  # a capture of the lab-template tree
    large_bundle: str = ""  # a capture of tests/hostgen.py's LARGE host


def build_assets(directory: str, large: bool = True) -> Assets:
    from lltune.host.capture import write_bundle
    from lltune.host.reader import RecordingReader, RootReader
    from lltune.host.scan import scan
    from tests.unit.hosts_for_examples import build_named

    assets = Assets(directory)
    lab = os.path.join(directory, "lab")
    probes = build_named("lab-template", lab)
    assets.root = os.path.join(lab, "root")
    assets.probes = os.path.join(lab, "probes.json")
    with open(assets.probes, "w", encoding="utf-8") as handle:
        json.dump({"format": "lltune-probes", "format_version": 1, "probes": probes}, handle)
    recorder = RecordingReader(RootReader(assets.root, probes))
    assets.snapshot_data = scan(recorder, {"kind": "root", "path": assets.root})
    assets.snapshot = os.path.join(directory, "snapshot.json")
    with open(assets.snapshot, "w", encoding="utf-8") as handle:
        json.dump(assets.snapshot_data, handle)
    assets.bundle = os.path.join(directory, "lab.tar.gz")
    write_bundle(recorder, assets.snapshot_data, assets.bundle)
    if large:
        import importlib.util

        spec = importlib.util.spec_from_file_location(
            "hostgen", os.path.join(REPO, "tests", "hostgen.py"))
        hostgen = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(hostgen)  # type: ignore[union-attr]
        large_dir = os.path.join(directory, "large")
        hostgen.generate(os.path.join(large_dir, "root"), hostgen.LARGE,
                         os.path.join(large_dir, "probes.json"))
        with open(os.path.join(large_dir, "probes.json"), encoding="utf-8") as handle:
            large_probes = json.load(handle)["probes"]
        recorder = RecordingReader(RootReader(os.path.join(large_dir, "root"), large_probes))
        snapshot = scan(recorder, {"kind": "root", "path": large_dir})
        assets.large_bundle = os.path.join(directory, "large.tar.gz")
        write_bundle(recorder, snapshot, assets.large_bundle)
    for path in (directory,):
        os.chmod(path, 0o755)
    return assets


class Scratch:
    """A case's directories: `root` (cwd, HOME, TMPDIR, the state directory) and `canary`
    (outside it), with small helpers to build hostile files."""

    def __init__(self, base: str, assets: Assets):
        self.base = base
        self.root = os.path.join(base, "scratch")
        self.canary = os.path.join(base, "canary")
        self.a = assets
        for path in (self.root, self.canary, self.p("home"), self.p("tmp"), self.p("tree")):
            os.makedirs(path, exist_ok=True)
        self.write_to(os.path.join(self.canary, "victim"), b"canary: must never change\n")

    def p(self, relative: str) -> str:
        return os.path.join(self.root, relative)

    def write_to(self, path: str, data: Any, mode: Optional[int] = None) -> str:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as handle:
            handle.write(data.encode() if isinstance(data, str) else data)
        if mode is not None:
            os.chmod(path, mode)
        return path

    def write(self, relative: str, data: Any, mode: Optional[int] = None) -> str:
        return self.write_to(self.p(relative), data, mode)

    def fifo(self, relative: str) -> str:
        os.makedirs(os.path.dirname(self.p(relative)), exist_ok=True)
        os.mkfifo(self.p(relative))
        return self.p(relative)

    def link(self, relative: str, target: str) -> str:
        os.makedirs(os.path.dirname(self.p(relative)), exist_ok=True)
        os.symlink(target, self.p(relative))
        return self.p(relative)

    def sparse(self, relative: str, size: int) -> str:
        path = self.write(relative, b"")
        os.truncate(path, size)
        return path

    def device(self, relative: str) -> str:
        """A character device like /dev/null (1, 3), made in the scratch directory."""
        os.mknod(self.p(relative), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        return self.p(relative)

    def tree(self, path: str, data: Any) -> str:
        """A file of the scratch --root tree (tree/ + canonical path)."""
        return self.write("tree" + path, data)


Argv = Callable[[Scratch], List[str]]
Setup = Callable[[Scratch], None]


@dataclass
class Case:
    id: str
    entry: str  # cli, config, snapshot, probes, bundle, root, state, output
    argv: Argv
    code: int
    message: str = ""  # the one-line error holds this
    setup: Optional[Setup] = None
    stdout_has: str = ""
    check: Optional[Callable[[Scratch, Dict[str, Any]], Optional[str]]] = None
    stdout: str = "file"  # or "full" (/dev/full) or "closed"
    stderr: str = "file"
    env: Optional[Callable[[Scratch], Dict[str, str]]] = None
    may_change: Tuple[str, ...] = ()  # scratch paths a refused case may still change
    lines: Optional[int] = None  # lines on stderr (default: 1 when the exit code is not 0)


CASES: List[Case] = []


def case(*args: Any, **kwargs: Any) -> Case:
    one = Case(*args, **kwargs)
    CASES.append(one)
    return one


def _nothing(_s: Scratch) -> None:
    return None


def do(*_done: Any) -> None:
    """A setup of several steps in one lambda: the steps ran as its arguments."""
    return None


# ------------------------------------------------------------------ building hostile data

DEPTH = 100000
DEEP_JSON = '{"a": ' + "[" * DEPTH + "]" * DEPTH + "}"
ALIAS_BOMB = 'x0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + \
    "".join("x%d: &a%d [%s]\n" % (i, i, ", ".join(["*a%d" % (i - 1)] * 9)) for i in range(1, 11))


class _Zeros(io.RawIOBase):
    """`size` zero bytes, read in chunks: a gigabyte member never sits in memory."""

    def __init__(self, size: int):
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), self.left)
        buffer[:count] = b"\0" * count
        self.left -= count
        return count


def tar_bundle(path: str, members: List[Tuple[str, Any]], mode: str = "w:gz",
               manifest: bool = True, extra: Optional[Dict[str, Any]] = None) -> str:
    """A bundle of `members` (name under lltune-capture/, bytes or (size of zeros,)); with
    manifest=True a manifest whose hashes match, so only what the case breaks is wrong."""
    hashes = {}
    for name, data in members:
        if isinstance(data, bytes):
            hashes[name] = hashlib.sha256(data).hexdigest()
        elif isinstance(data, tuple):
            digest = hashlib.sha256()
            left = data[0]
            chunk = b"\0" * MIB
            while left:
                digest.update(chunk[:min(left, MIB)])
                left -= min(left, MIB)
            hashes[name] = digest.hexdigest()
    document = {"format": "lltune-capture", "format_version": 1, "sha256": hashes,
                "dirs": {}, "realpaths": {}, "missing": {}}
    document.update(extra or {})
    entries = list(members)
    if manifest:
        entries.insert(0, ("manifest.json", json.dumps(document).encode()))
    kwargs = {"compresslevel": 1} if mode == "w:gz" else {"preset": 0} if mode == "w:xz" \
        else {"compresslevel": 1} if mode == "w:bz2" else {}
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT, **kwargs) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name if name.startswith(("/", "..")) or "://" in name
                                   else "lltune-capture/" + name)
            if callable(data):
                data(info)
                tar.addfile(info)
            elif isinstance(data, tuple):
                info.size = data[0]
                tar.addfile(info, _Zeros(data[0]))
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return path


def probes_member() -> bytes:
    return json.dumps({"format": "lltune-probes", "format_version": 1, "probes": {}}).encode()


def minimal_members() -> List[Tuple[str, Any]]:
    return [("probes.json", probes_member()), ("snapshot.json", b"{}")]


def good_members(assets: Assets) -> List[Tuple[str, bytes]]:
    with tarfile.open(assets.bundle) as tar:
        return [(m.name[len("lltune-capture/"):], tar.extractfile(m).read()) for m in tar
                if m.isfile()]


def rebundle(path: str, members: List[Tuple[str, bytes]]) -> str:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members:
            info = tarfile.TarInfo("lltune-capture/" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def mutated(assets: Assets, change: Callable[[Dict[str, Any]], None]) -> str:
    data = copy.deepcopy(assets.snapshot_data)
    change(data)
    return json.dumps(data)


def snapshot_text(s: Scratch, change: Callable[[Dict[str, Any]], None]) -> None:
    s.write("snap.json", mutated(s.a, change))


# ------------------------------------------------------------------ CLI arguments

def _tree_argv(*extra: str) -> Argv:
    return lambda s: ["scan", "--root", s.p("tree"), "-q"] + list(extra)


for name, argv, code, message in [
    ("no-arguments", [], 2, "required"),
    ("unknown-command", ["nosuchcommand"], 2, "invalid choice"),
    ("unknown-option", ["scan", "--bogus"], 2, "unrecognized"),
    ("scan-bad-format", ["scan", "--format", "xml"], 2, "invalid choice"),
    ("scan-root-empty", ["scan", "--root", ""], 2, "--root needs"),
    ("scan-from-empty", ["scan", "--from", ""], 2, "--from needs"),
    ("scan-root-and-from", ["scan", "--root", "/", "--from", "x.tar.gz"], 2, "not allowed"),
    ("scan-probes-without-root", ["scan", "--probes", "/dev/null"], 2, "--probes needs"),
    ("scan-root-dev-null", ["scan", "--root", "/dev/null", "-q"], 2, "not a directory"),
    ("scan-root-missing", ["scan", "--root", "/nonexistent-dir", "-q"], 2, "not a directory"),
    ("capture-without-output", ["capture"], 2, "required"),
    ("capture-output-empty", ["capture", "-o", ""], 2, "--output needs"),
    ("capture-root-empty", ["capture", "--root", "", "-o", "x.tar.gz"], 2, "--root needs"),
    ("audit-without-config", ["audit"], 2, "required"),
    ("audit-config-empty", ["audit", "-c", ""], 2, "No such file"),
    ("audit-bad-format", ["audit", "-c", CONFIG, "--format", "xml"], 2, "invalid choice"),
    ("apply-config-empty", ["apply", "--plan", "-c", ""], 2, "No such file"),
    ("apply-keep-zero", ["apply", "--plan", "-c", CONFIG, "--keep", "0"], 2, "--keep"),
    ("apply-keep-negative", ["apply", "--plan", "-c", CONFIG, "--keep", "-5"], 2, "--keep"),
    ("apply-keep-not-a-number", ["apply", "--plan", "-c", CONFIG, "--keep", "x"], 2,
     "invalid int"),
    ("apply-timeout-nan", ["apply", "-c", CONFIG, "--timeout", "nan"], 2, "--timeout"),
    ("apply-timeout-inf", ["apply", "-c", CONFIG, "--timeout", "inf"], 2, "--timeout"),
    ("apply-timeout-overflow", ["apply", "-c", CONFIG, "--timeout", "1e400"], 2, "--timeout"),
    ("apply-timeout-negative", ["apply", "-c", CONFIG, "--timeout", "-1"], 2, "--timeout"),
    ("apply-snapshot-without-plan", ["apply", "-c", CONFIG, "--snapshot", "s.json"], 2,
     "--plan only"),
    ("apply-no-bundle-without-plan", ["apply", "-c", CONFIG, "--no-bundle"], 2,
     "--no-bundle works with --plan only"),
    ("apply-bad-format", ["apply", "--plan", "-c", CONFIG, "--format", "yaml"], 2,
     "invalid choice"),
    ("rollback-bad-format", ["rollback", "--format", "bogus"], 2, "invalid choice"),
    ("backups-bad-format", ["backups", "--format", ""], 2, "invalid choice"),
    ("rollback-timeout-zero", ["rollback", "--timeout", "0"], 2, "--timeout"),
    ("backups-keep-zero", ["backups", "--keep", "0"], 2, "--keep"),
    ("schema-unknown", ["schema", "bogus"], 2, "invalid choice"),
    ("gen-config-bad-preset", ["gen-config", "--preset", "fastest"], 2, "invalid choice"),
    ("gen-config-snapshot-empty", ["gen-config", "--snapshot", ""], 2, "No such file"),
    ("gen-config-output-empty", ["gen-config", "--snapshot", "x.json", "-o", ""], 2,
     "--output needs"),
    ("verify-config-empty", ["verify", "-c", ""], 2, "No such file"),
    ("config-name-too-long", ["audit", "-c", "x" * 5000], 2, "File name too long"),
    ("config-name-with-newline", ["audit", "-c", "bad\nname.yaml"], 2, "No such file"),
    ("path-too-long", ["audit", "-c", "/".join(["d" * 200] * 30)], 2, "File name too long"),
]:
    case("cli/" + name, "cli", (lambda words: lambda s: list(words))(argv), code, message)

case("cli/version", "cli", lambda s: ["--version"], 0, stdout_has="lltune ")
case("cli/help", "cli", lambda s: ["--help"], 0, stdout_has="exit codes:")
case("cli/scan-root-fifo", "cli", lambda s: ["scan", "--root", s.fifo("fifo"), "-q"], 2,
     "not a directory")
case("cli/scan-root-file", "cli", lambda s: ["scan", "--root", s.write("file", "x"), "-q"], 2,
     "not a directory")
case("cli/scan-probes-empty", "cli", _tree_argv("--probes", ""), 2, "--probes needs")
case("cli/scan-output-empty", "cli", _tree_argv("-o", ""), 2, "--output needs")
case("cli/scan-md-report-empty", "cli", _tree_argv("--md-report", ""), 2, "--md-report needs")
case("cli/apply-no-bundle-json", "cli", lambda s: [
    "apply", "--plan", "--no-bundle", "-q", "-c", CONFIG, "--snapshot", s.a.snapshot,
    "--format", "json"], 0, stdout_has='"backup_id": null',
    check=lambda s, r: "--no-bundle made the state directory" if os.path.lexists(s.p("state"))
    else None)
case("cli/apply-huge-keep", "cli", lambda s: [
    "apply", "--plan", "-q", "-c", CONFIG, "--snapshot", s.a.snapshot, "--keep",
    "9" * 30], 0, stdout_has="plan bundle:", may_change=("state",))

# ------------------------------------------------------------------ configs

def _audit(s: Scratch, text: Any = None, path: str = "c.yaml") -> List[str]:
    if text is not None:
        s.write(path, text)
    return ["audit", "-c", s.p(path), "--snapshot", s.a.snapshot]


def config_case(name: str, text: str, code: int, message: str = "", stdout_has: str = ""
                ) -> None:
    case("config/" + name, "config", lambda s: _audit(s, text), code, message,
         stdout_has=stdout_has)


case("config/fifo", "config", lambda s: ["audit", "-c", s.fifo("c.yaml"), "--snapshot",
                                         s.a.snapshot], 2, "a FIFO, not a regular file")
case("config/dev-zero", "config", lambda s: ["audit", "-c", "/dev/zero", "--snapshot",
                                             s.a.snapshot], 2, "character device")
case("config/directory", "config", lambda s: ["audit", "-c", s.p("tree"), "--snapshot",
                                              s.a.snapshot], 2, "a directory")
case("config/link-to-fifo", "config", lambda s: [
    "audit", "-c", s.link("c.yaml", s.fifo("fifo")), "--snapshot", s.a.snapshot], 2,
    "a FIFO")
case("config/link-to-dev-zero", "config", lambda s: [
    "audit", "-c", s.link("c.yaml", "/dev/zero"), "--snapshot", s.a.snapshot], 2,
    "character device")
case("config/link-to-a-config", "config", lambda s: [
    "audit", "-c", s.link("c.yaml", s.write_to(os.path.join(s.canary, "real.yaml"),
                                               MIN_CONFIG)), "--snapshot", s.a.snapshot], 0)
case("config/2mb", "config", lambda s: _audit(s, MIN_CONFIG + "#" * (2 * MIB)), 2,
     "larger than")
case("config/sparse-1gib", "config", lambda s: [
    "audit", "-c", s.sparse("c.yaml", 1 << 30), "--snapshot", s.a.snapshot], 2,
    "larger than")
config_case("empty", "", 2, "empty")
case("config/not-utf8", "config", lambda s: _audit(s, b"version: 1\ncpu:\n  governor: \xe9\n"),
     2, "not UTF-8")
for form in ("010", "0x10", "0o10", "0b11", "1:30", "1_000", "-010", "00"):
    config_case("sysctl-value-%s" % form.replace(":", "-"),
                MIN_CONFIG + "sysctl:\n  vm.max_map_count: %s\n" % form, 2,
                "quote it ('%s')" % form)
config_case("coalesce-octal", MIN_CONFIG + "network:\n  interfaces:\n    - match: {name: eth0}"
            "\n      coalesce: {rx-usecs: 010}\n", 2, "quote it")
config_case("swappiness-hex", MIN_CONFIG + "memory:\n  swappiness: 0x10\n", 2, "quote it")
config_case("limits-sexagesimal", MIN_CONFIG + "limits:\n  - domain: '@t'\n    nofile: 1:30\n",
            2, "quote it")
config_case("quoted-octal-is-text", MIN_CONFIG + "sysctl:\n  vm.max_map_count: '010'\n", 0)
config_case("alias-bomb", MIN_CONFIG + "a0: &a0 [x, x]\n" + "".join(
    "a%d: &a%d [%s]\n" % (i, i, ", ".join(["*a%d" % (i - 1)] * 9)) for i in range(1, 10)), 2,
            "anchors and aliases")
config_case("deep-flow", MIN_CONFIG + "sysctl: " + "[" * 5000 + "]" * 5000 + "\n", 2, "nest")
config_case("duplicate-key", MIN_CONFIG + "cpu: {}\ncpu: {}\n", 2, "duplicate key")
config_case("mitigations-off-unquoted", MIN_CONFIG + "kernel:\n  mitigations: off\n", 2,
            "boolean")
config_case("python-tag", MIN_CONFIG + "cpu:\n  governor: !!python/name:os.system x\n", 2,
            "tag")
config_case("control-character", MIN_CONFIG + "cpu:\n  governor: \"a\\x1bb\"\n", 2,
            "control character")
config_case("50k-nodes", MIN_CONFIG + "sysctl: [" + "1, " * 50000 + "1]\n", 2, "YAML nodes")
config_case("two-documents", MIN_CONFIG + "---\n" + MIN_CONFIG, 2, "single document")
config_case("huge-integer", MIN_CONFIG + "memory:\n  swappiness: " + "9" * 5000 + "\n", 2)
for token in ("nr-cpus=1", "module-blacklist=virtio_blk", "possible-cpus=1",
              "initcall-blacklist=ahci_init", "rdinit=/bin/sh", "nr_cpus=1", "root=/dev/sdb1",
              "systemd.unit=rescue.target", "net.ifnames=0"):
    config_case("boot-critical-" + token.split("=")[0],
                MIN_CONFIG + "kernel:\n  cmdline_add: ['%s']\n" % token, 1,
                stdout_has="kernel.boot-critical-token")
config_case("boot-critical-remove-rd", MIN_CONFIG + "kernel:\n  cmdline_remove: [rd.lvm.lv]\n",
            1, stdout_has="kernel.boot-critical-token")
for token in ("nospectre-v2", "spectre-v2=off", "tsx-async-abort=off",
              "indirect_target_selection=off", "tsa=off", "vmscape=off",
              "kvm.nx_huge_pages=off", "mitigations=off", "nopti", "retbleed=off"):
    config_case("mitigation-" + token.split("=")[0],
                MIN_CONFIG + "kernel:\n  cmdline_add: ['%s']\n" % token, 1,
                stdout_has="kernel.mitigations-unacknowledged")
config_case("mitigation-acknowledged", MIN_CONFIG + "kernel:\n  cmdline_add: [nospectre-v2]\n"
            "  mitigations_risk_acknowledged: true\n", 0)
config_case("near-miss-init-on-alloc", MIN_CONFIG + "kernel:\n  cmdline_add: [init_on_alloc=0]"
            "\n", 0)
for unit in ("dbus.socket", "systemd-journald.socket", "systemd-journald-dev-log.socket",
             "ssh.service", "systemd-logind.service", "lltune-verify.timer",
             "NetworkManager.service", "dbus-broker.service", "tuned.service"):
    config_case("critical-unit-" + unit, MIN_CONFIG + "services:\n  stop: ['%s']\n" % unit, 1,
                stdout_has="services.critical-unit")
config_case("limits-wildcard-rtprio", MIN_CONFIG + "limits:\n  - {domain: '*', rtprio: 99}\n", 1,
            stdout_has="limits.wildcard-unacknowledged")
config_case("limits-wildcard-memlock", MIN_CONFIG + "limits:\n  - {domain: '*', memlock: "
            "unlimited}\n", 1, stdout_has="limits.wildcard-unacknowledged")
config_case("limits-wildcard-acknowledged", MIN_CONFIG + "limits:\n  - {domain: '*', rtprio: "
            "99}\nlimits_risk_acknowledged: true\n", 0)
config_case("limits-root-nofile", MIN_CONFIG + "limits:\n  - {domain: root, nofile: 1}\n", 1,
            stdout_has="limits.root-nofile-low")

# ------------------------------------------------------------------ snapshots

def _gen(path: str = "snap.json") -> Argv:
    return lambda s: ["gen-config", "--snapshot", s.p(path), "-o", "-"]


def snapshot_case(name: str, build: Callable[[Scratch], None], code: int, message: str = "",
                  path: str = "snap.json") -> None:
    def argv(s: Scratch) -> List[str]:
        build(s)
        return _gen(path)(s)
    case("snapshot/" + name, "snapshot", argv, code, message)


def _set(*path_and_value: Any) -> Callable[[Dict[str, Any]], None]:
    *path, value = path_and_value

    def change(tree: Dict[str, Any]) -> None:
        node = tree
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return change


def _many_queues(tree: Dict[str, Any]) -> None:
    nic = tree["nics"][0]
    tree["nics"] = [dict(copy.deepcopy(nic), name="eth%d" % i,
                         queues={"rx": 30000, "tx": 30000}) for i in range(3)]


snapshot_case("fifo", lambda s: s.fifo("snap.json") and None, 2, "a FIFO")
snapshot_case("dev-zero", lambda s: s.link("snap.json", "/dev/zero") and None, 2,
              "character device")
snapshot_case("directory", lambda s: os.mkdir(s.p("snap.json")), 2, "a directory")
snapshot_case("empty", lambda s: s.write("snap.json", "") and None, 2)
snapshot_case("sparse-70mb", lambda s: s.sparse("snap.json", 70 * MIB) and None, 2,
              "larger than")
snapshot_case("20mb-yaml-list", lambda s: s.write("snap.yaml", "a:\n" + "- 0\n" * (5 * MIB))
              and None, 2, "too many values", path="snap.yaml")
snapshot_case("20mb-json-list", lambda s: s.write("snap.json", '{"a": [' + "0," * (10 * MIB)
                                                  + "0]}") and None, 2, "too many values")
snapshot_case("20mb-flow-yaml", lambda s: s.write("snap.yaml", "{a: [" + "0, " * (7 * MIB)
                                                  + "0]}") and None, 2, "too many values",
              path="snap.yaml")
snapshot_case("deep-json", lambda s: s.write("snap.json", DEEP_JSON) and None, 2, "nested")
snapshot_case("deep-yaml-flow", lambda s: s.write("snap.yaml", "a: " + "[" * DEPTH + "]" * DEPTH
                                                  + "\n") and None, 2, "nest", path="snap.yaml")
snapshot_case("deep-yaml-block", lambda s: s.write("snap.yaml", "".join(
    "%sk%d:\n" % (" " * i, i) for i in range(2000)) + " " * 2000 + "v: 1\n") and None, 2,
              "nested", path="snap.yaml")
snapshot_case("alias-bomb", lambda s: s.write("snap.yaml", ALIAS_BOMB) and None, 2,
              "anchors and aliases", path="snap.yaml")
snapshot_case("custom-tag", lambda s: s.write("snap.yaml", "schema_version: !!python/object:os"
                                              ".system 1\n") and None, 2, "tag",
              path="snap.yaml")
snapshot_case("duplicate-key-yaml", lambda s: s.write("snap.yaml", "schema_version: 1\n"
                                                      "schema_version: 1\n") and None, 2,
              "duplicate key", path="snap.yaml")
snapshot_case("duplicate-key-json", lambda s: s.write(
    "snap.json", '{"schema_version": 1, "schema_version": 2}') and None, 2, "duplicate key")
snapshot_case("collection-key", lambda s: s.write("snap.yaml", "? [a, b]\n: 1\n") and None, 2,
              "plain string", path="snap.yaml")
snapshot_case("integer-key", lambda s: s.write("snap.yaml", "1: 1\n") and None, 2,
              "snapshot schema", path="snap.yaml")
snapshot_case("flow-style-yaml", lambda s: s.write("snap.yaml", _flow_yaml(s.a)) and None, 0,
              path="snap.yaml")
snapshot_case("cpu-id-8192", lambda s: snapshot_text(s, _set("cpu", "cpus", 0, "id", 8192)), 2,
              "greater than the maximum")
snapshot_case("cpu-id-1e12", lambda s: snapshot_text(s, _set("cpu", "cpus", 0, "id", 10 ** 12)),
              2, "greater than the maximum")
snapshot_case("sibling-1e12", lambda s: snapshot_text(
    s, _set("cpu", "cpus", 0, "siblings", [0, 10 ** 12])), 2, "greater than the maximum")
snapshot_case("online-8192", lambda s: snapshot_text(s, _set("cpu", "online", [0, 8192])), 2,
              "greater than the maximum")
snapshot_case("queues-1e9", lambda s: snapshot_text(
    s, _set("nics", 0, "queues", {"rx": 10 ** 9, "tx": 1})), 2, "greater than the maximum")
snapshot_case("queues-in-all", lambda s: snapshot_text(s, _many_queues), 2, "queues in all")
snapshot_case("nic-name-newline", lambda s: snapshot_text(s, _set("nics", 0, "name", "eth\n0")),
              2, "does not match")
snapshot_case("nic-name-slash", lambda s: snapshot_text(s, _set("nics", 0, "name", "../etc")), 2,
              "does not match")
snapshot_case("irq-2pow20", lambda s: snapshot_text(s, _set("nics", 0, "irqs", [1 << 20])), 2,
              "greater than the maximum")
snapshot_case("node-1024", lambda s: snapshot_text(s, _set("numa", "nodes", 0, "id", 1024)), 2,
              "greater than the maximum")
snapshot_case("huge-integer", lambda s: s.write("snap.json", '{"schema_version": ' + "9" * 5000
                                                + "}") and None, 2)
snapshot_case("sysctl-octal-yaml", lambda s: s.write("snap.yaml", "schema_version: 1\nkernel:\n"
                                                     "  sysctls:\n    vm.swappiness: 010\n")
              and None, 2, "quote it", path="snap.yaml")
snapshot_case("sexagesimal-yaml", lambda s: s.write("snap.yaml", "schema_version: 1:30\n") and
              None, 2, "quote it", path="snap.yaml")
snapshot_case("a-list", lambda s: s.write("snap.json", "[1, 2]") and None, 2)
snapshot_case("schema-version-2", lambda s: snapshot_text(s, _set("schema_version", 2)), 2,
              "snapshot schema")
snapshot_case("truncated-json", lambda s: s.write("snap.json", json.dumps(
    s.a.snapshot_data)[:5000]) and None, 2)
snapshot_case("not-utf8", lambda s: s.write("snap.json", b'{"a": "\xff"}') and None, 2,
              "not UTF-8")
snapshot_case("control-character-key", lambda s: s.write("snap.yaml", "\"a\\x01\": 1\n") and
              None, 2, "control character", path="snap.yaml")
snapshot_case("two-documents", lambda s: s.write("snap.yaml", "a: 1\n---\nb: 2\n") and None, 2,
              "single document", path="snap.yaml")
snapshot_case("valid-json", lambda s: shutil.copy(s.a.snapshot, s.p("snap.json")) and None, 0)


def _flow_yaml(assets: Assets) -> str:
    import yaml

    plain = json.loads(json.dumps(assets.snapshot_data))  # no shared objects: no aliases
    return yaml.safe_dump(plain, default_flow_style=True, width=1 << 20)


# ------------------------------------------------------------------ probes

def probes_case(name: str, build: Callable[[Scratch], str], code: int, message: str = "",
                root: bool = False) -> None:
    def argv(s: Scratch) -> List[str]:
        path = build(s)
        return ["scan", "--root", s.a.root if root else s.p("tree"), "--probes", path, "-q"]
    case("probes/" + name, "probes", argv, code, message)


def _probes(document: Any) -> Callable[[Scratch], str]:
    return lambda s: s.write("probes.json", document if isinstance(document, (str, bytes))
                             else json.dumps(document))


PROBES = {"format": "lltune-probes", "format_version": 1}
probes_case("fifo", lambda s: s.fifo("probes.json"), 2, "a FIFO")
probes_case("dev-zero", lambda s: "/dev/zero", 2, "character device")
probes_case("directory", lambda s: s.p("tree"), 2, "a directory")
probes_case("link-to-dev-zero", lambda s: s.link("probes.json", "/dev/zero"), 2,
            "character device")
probes_case("deep", _probes(DEEP_JSON), 2, "nested deeper")
probes_case("a-list", _probes([1, 2]), 2, "must be a mapping")
probes_case("wrong-format", _probes({"format": "x", "format_version": 1, "probes": {}}), 2,
            "not an lltune-probes")
probes_case("data-and-error", _probes(dict(PROBES, probes={"k": {"data": 1, "error": "x"}})),
            2, "exactly one")
probes_case("error-not-text", _probes(dict(PROBES, probes={"k": {"error": 1}})), 2,
            "must be a string")
probes_case("not-utf8", _probes(b'{"format": "\xff"}'), 2, "not UTF-8")
probes_case("sparse-100mb", lambda s: s.sparse("probes.json", 100 * MIB), 2, "larger than")
probes_case("values-bomb", _probes('{"a": [' + "[]," * (4 * MIB) + "[]]}"), 2,
            "too many values")
probes_case("duplicate-key", _probes('{"format": "lltune-probes", "format": "x"}'), 2,
            "duplicate key")
probes_case("valid", lambda s: s.a.probes, 0, root=True)

# ------------------------------------------------------------------ capture bundles

def bundle_case(name: str, build: Callable[[Scratch], str], code: int, message: str = "",
                **kwargs: Any) -> None:
    def argv(s: Scratch) -> List[str]:
        return ["scan", "--from", build(s), "-q"]
    case("bundle/" + name, "bundle", argv, code, message, **kwargs)


def _symlink_member(info: tarfile.TarInfo) -> None:
    info.type, info.linkname = tarfile.SYMTYPE, "/etc"


def _hardlink_member(info: tarfile.TarInfo) -> None:
    info.type, info.linkname = tarfile.LNKTYPE, "lltune-capture/manifest.json"


def _device_member(info: tarfile.TarInfo) -> None:
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3


def _fifo_member(info: tarfile.TarInfo) -> None:
    info.type = tarfile.FIFOTYPE


def _pax_bomb(s: Scratch) -> str:
    """A pax extended header claiming 300 MB (tarfile reads a pax header whole)."""
    path = s.p("b.tar.gz")
    with gzip.open(path, "wb", compresslevel=1) as raw:
        header = tarfile.TarInfo("lltune-capture/././@PaxHeader")
        header.type = tarfile.XHDTYPE
        header.size = 300 * MIB
        raw.write(header.tobuf(tarfile.USTAR_FORMAT))
        chunk = b"\0" * MIB
        for _ in range(300):
            raw.write(chunk)
    return path


def _tampered(s: Scratch) -> str:
    members = good_members(s.a)
    index = next(i for i, (n, _) in enumerate(members) if n.startswith("tree/"))
    members[index] = (members[index][0], b"tampered")
    return rebundle(s.p("b.tar.gz"), members)


def _unlisted(s: Scratch) -> str:
    return rebundle(s.p("b.tar.gz"), good_members(s.a) + [("tree/etc/extra", b"x")])


def _with_manifest(text: bytes) -> Callable[[Scratch], str]:
    def build(s: Scratch) -> str:
        members = [(n, text if n == "manifest.json" else d) for n, d in good_members(s.a)]
        return rebundle(s.p("b.tar.gz"), members)
    return build


def _many_members(s: Scratch) -> str:
    return tar_bundle(s.p("b.tar.gz"), [("tree/f%d" % i, b"") for i in range(50001)],
                      manifest=False)


bundle_case("fifo", lambda s: s.fifo("b.tar.gz"), 2, "a FIFO")
bundle_case("dev-zero", lambda s: "/dev/zero", 2, "character device")
bundle_case("link-to-dev-zero", lambda s: s.link("b.tar.gz", "/dev/zero"), 2,
            "character device")
bundle_case("directory", lambda s: s.p("tree"), 2, "a directory")
bundle_case("missing", lambda s: s.p("nope.tar.gz"), 2, "no such file")
bundle_case("empty", lambda s: s.write("b.tar.gz", b""), 2)
bundle_case("junk", lambda s: s.write("b.tar.gz", b"not a tar at all" * 100), 2)
bundle_case("gzip-garbage", lambda s: s.write("b.tar.gz", b"\x1f\x8b\x08\x00garbage" * 10), 2)
def _truncated(s: Scratch) -> str:
    with open(s.a.bundle, "rb") as handle:
        return s.write("b.tar.gz", handle.read()[:20000])


bundle_case("truncated", _truncated, 2)
bundle_case("sparse-100mb", lambda s: s.sparse("b.tar.gz", 100 * MIB), 2, "larger than")
bundle_case("gzip-bomb-valid-manifest", lambda s: tar_bundle(
    s.p("b.tar.gz"), minimal_members() + [("tree/proc/f%d" % i, (60 * MIB,)) for i in range(8)]),
    2, "uncompressed")
bundle_case("bz2-bomb", lambda s: tar_bundle(s.p("b.tar.bz2"), [
    ("tree/f%d" % i, (60 * MIB,)) for i in range(2)], mode="w:bz2"), 2, "uncompressed")
bundle_case("xz-bomb", lambda s: tar_bundle(s.p("b.tar.xz"), [
    ("tree/f%d" % i, (60 * MIB,)) for i in range(2)], mode="w:xz"), 2, "uncompressed")
bundle_case("pax-header-bomb", _pax_bomb, 2)
bundle_case("member-over-64mb", lambda s: tar_bundle(s.p("b.tar.gz"), [("tree/f", (65 * MIB,))]),
            2, "larger than")
bundle_case("50001-members", _many_members, 2, "more than 50000 members")
bundle_case("absolute-name", lambda s: tar_bundle(s.p("b.tar.gz"), [("/etc/passwd", b"x")]), 2,
            "unsafe member name")
bundle_case("dot-dot", lambda s: tar_bundle(s.p("b.tar.gz"), [("../../escape", b"x")]), 2,
            "unsafe member name")
bundle_case("symlink-member", lambda s: tar_bundle(s.p("b.tar.gz"), [("tree/etc",
                                                                      _symlink_member)]),
            2, "is a link")
bundle_case("hardlink-member", lambda s: tar_bundle(s.p("b.tar.gz"), [("tree/x",
                                                                       _hardlink_member)]),
            2, "is a link")
bundle_case("device-member", lambda s: tar_bundle(s.p("b.tar.gz"), [("tree/dev/null",
                                                                     _device_member)]),
            2, "special file")
bundle_case("fifo-member", lambda s: tar_bundle(s.p("b.tar.gz"), [("tree/f", _fifo_member)]), 2,
            "special file")
bundle_case("duplicate-member", lambda s: tar_bundle(
    s.p("b.tar.gz"), minimal_members() + [("tree/f", b"a"), ("tree/f", b"b")]), 2,
            "appears twice")
bundle_case("tampered-member", _tampered, 2, "does not match its sha256")
bundle_case("member-not-in-manifest", _unlisted, 2, "not in the manifest")
bundle_case("manifest-deep", _with_manifest(DEEP_JSON.encode()), 2, "nested deeper")
bundle_case("manifest-values-bomb", _with_manifest(('{"dirs": {"/a": [' + '"",' * (6 * MIB) +
                                                    '""]}}').encode()), 2, "too many values")
bundle_case("manifest-a-list", _with_manifest(b"[]"), 2, "must be a mapping")
bundle_case("manifest-not-utf8", _with_manifest(b'{"format": "\xff"}'), 2, "not UTF-8")
bundle_case("no-manifest", lambda s: tar_bundle(s.p("b.tar.gz"), minimal_members(),
                                                manifest=False), 2, "manifest.json is missing")
bundle_case("valid-small", lambda s: s.a.bundle, 0)
bundle_case("valid-large-host", lambda s: s.a.large_bundle, 0,
            check=lambda s, r: None if r["rss_mib"] < 80 else
            "the large host's bundle took %.0f MiB" % r["rss_mib"])

# ------------------------------------------------------------------ --root trees

def _snap(s: Scratch) -> Dict[str, Any]:
    with open(s.p("s.json"), encoding="utf-8") as handle:
        return json.load(handle)


def _missing_has(text: str) -> Callable[[Scratch, Dict[str, Any]], Optional[str]]:
    def check(s: Scratch, _result: Dict[str, Any]) -> Optional[str]:
        missing = _snap(s)["missing"]
        if any(text in entry["reason"] for entry in missing):
            return None
        return "missing lacks %r: %s" % (text, missing)
    return check


def _loads(s: Scratch, _result: Dict[str, Any]) -> Optional[str]:
    """The snapshot a hostile tree gave loads (schema included) with lltune's own loader."""
    from lltune.common.errors import InputError
    from lltune.model import snapshot

    try:
        snapshot.load(s.p("s.json"))
    except InputError as exc:
        return "the scan wrote a snapshot lltune refuses: %s" % exc
    return None


def root_case(name: str, build: Setup, code: int = 0,
              check: Optional[Callable[[Scratch, Dict[str, Any]], Optional[str]]] = None
              ) -> None:
    def argv(s: Scratch) -> List[str]:
        build(s)
        return ["scan", "--root", s.p("tree"), "-q", "-o", s.p("s.json")]

    def checks(s: Scratch, result: Dict[str, Any]) -> Optional[str]:
        return (check(s, result) if check else None) or _loads(s, result)
    case("root/" + name, "root", argv, code, check=checks, may_change=("s.json",))


def _link_chain(s: Scratch) -> None:
    s.tree("/proc/cmdline.real", "ro quiet isolcpus=2\n")
    s.link("tree/proc/cmdline", "./" * 1500 + "cmdline.real")


def _dotdot_chain(s: Scratch) -> None:
    s.tree("/proc/cmdline.real", "ro quiet\n")
    s.link("tree/proc/cmdline", "../" * 1300 + "proc/cmdline.real")  # under PATH_MAX


def _long_chain(s: Scratch) -> None:
    s.tree("/proc/c0", "ro\n")
    for index in range(1, 60):
        s.link("tree/proc/c%d" % index, "c%d" % (index - 1))
    s.link("tree/proc/cmdline", "c59")


def _cmdline_kept(s: Scratch, _result: Dict[str, Any]) -> Optional[str]:
    tokens = _snap(s)["kernel"]["cmdline"]
    return None if tokens[:1] == ["ro"] else "the kernel section lost the cmdline: %s" % tokens


def _many_queues_tree(s: Scratch) -> None:
    """A PCI NIC (sysfs layout: class link, device link) with 5,000 receive queues."""
    device = "sys/devices/pci0000:00/0000:00:01.0"
    for index in range(5000):
        os.makedirs(s.p("tree/%s/net/eth0/queues/rx-%d" % (device, index)))
    s.link("tree/%s/net/eth0/device" % device, "../../../0000:00:01.0")
    s.link("tree/sys/class/net/eth0", "../../devices/pci0000:00/0000:00:01.0/net/eth0")


root_case("1mb-cpumask", lambda s: s.tree("/proc/irq/default_smp_affinity",
                                          ",".join(["00000000"] * 110000) + ",1\n") and None)
root_case("1mb-cpumask-high-bit", lambda s: s.tree("/proc/irq/default_smp_affinity", "1" + ",0"
                                                   * 500000 + "\n") and None)
root_case("1mb-cpulist", lambda s: s.tree("/sys/devices/system/cpu/online", "0," * 500000 + "0\n")
          and None)
root_case("cpulist-1e12", lambda s: s.tree("/sys/devices/system/cpu/online", "0-1000000000000\n")
          and None)
root_case("cpu-dir-1e12", lambda s: os.makedirs(s.p("tree/sys/devices/system/cpu/cpu" +
                                                    "9" * 12)),
          check=_missing_has("NR_CPUS"))
root_case("node-dir-99999", lambda s: os.makedirs(s.p("tree/sys/devices/system/node/node99999")))
root_case("sparse-1gib-interrupts", lambda s: s.sparse("tree/proc/interrupts", 1 << 30) and None,
          check=_missing_has("larger than"))
root_case("fifo-interrupts", lambda s: s.fifo("tree/proc/interrupts") and None,
          check=_missing_has("not a regular file"))
root_case("fifo-cmdline", lambda s: s.fifo("tree/proc/cmdline") and None)
root_case("cpuinfo-link-to-dev-zero", lambda s: s.link("tree/proc/cpuinfo", "/dev/zero") and None)
root_case("cmdline-link-chain-1500-dots", _link_chain, check=_cmdline_kept)
root_case("cmdline-link-chain-1300-dotdots", _dotdot_chain, check=_cmdline_kept)
root_case("link-chain-60", _long_chain, check=_missing_has("Too many levels"))
root_case("link-loop", lambda s: do(s.link("tree/proc/a", "b"), s.link("tree/proc/b", "a"),
                                  s.link("tree/proc/cmdline", "a")),
          check=_missing_has("Too many levels"))
root_case("cmdline-directory", lambda s: os.makedirs(s.p("tree/proc/cmdline")))
root_case("nic-name-newline", lambda s: os.makedirs(s.p("tree/sys/class/net/eth\n0")))
root_case("irq-2pow21", lambda s: s.tree("/proc/interrupts", "           CPU0\n2097152:  1  "
                                         "IR-PCI-MSI 1-edge  eth0\n") and None)
root_case("interrupts-million-digits", lambda s: s.tree(
    "/proc/interrupts", "           CPU0\n  1:  " + "9" * MIB + "  IO-APIC 1-edge  i8042\n") and
          None)
root_case("interrupts-cpu-column-99999", lambda s: s.tree(
    "/proc/interrupts", "           CPU0 CPU99999\n  1:  1 2  IO-APIC 1-edge  i8042\n") and None)
root_case("meminfo-million-digits", lambda s: s.tree("/proc/meminfo", "MemTotal: " + "9" * MIB +
                                                     " kB\n") and None)
root_case("not-utf8-os-release", lambda s: s.tree("/etc/os-release", b"NAME=\xff\xfe\n") and None)
root_case("5000-queues", _many_queues_tree)

# ------------------------------------------------------------------ state directories

def _plan(s: Scratch) -> List[str]:
    return ["apply", "--plan", "-q", "-c", CONFIG, "--snapshot", s.a.snapshot]


def _registered(s: Scratch, ids: List[str], state: Optional[Dict[str, Any]] = None) -> str:
    """A state directory as lltune leaves it, with bundles `ids` in its record."""
    backups = s.p("state/backups")
    os.makedirs(backups, 0o700)
    os.chmod(s.p("state"), 0o700)
    for name in ids:
        os.mkdir(os.path.join(backups, name), 0o700)
        if state is not None:
            s.write("state/backups/%s/state.json" % name, json.dumps(state), 0o600)
        s.write("state/backups/%s/config.yaml" % name, MIN_CONFIG, 0o600)
    s.write("state/bundles.json", json.dumps({"format": "lltune-bundles", "format_version": 1,
                                              "bundles": ids}), 0o600)
    return os.path.join(backups, ids[0]) if ids else backups


BUNDLE = "000001-20260101T000000Z-apply-abcdef"
APPLIED = {"status": "applied", "previous_profile": "balanced", "files": []}


def state_case(name: str, setup: Setup, argv: Argv, code: int, message: str = "",
               **kwargs: Any) -> None:
    def full(s: Scratch) -> List[str]:
        setup(s)
        return argv(s)
    case("state/" + name, "state", full, code, message, **kwargs)


def _mode(relative: str, mode: int) -> Setup:
    def setup(s: Scratch) -> None:
        os.makedirs(s.p(relative), exist_ok=True)
        os.chmod(s.p(relative), mode)
    return setup


def _owner(relative: str) -> Setup:
    def setup(s: Scratch) -> None:
        os.makedirs(s.p(relative), 0o700, exist_ok=True)
        os.chown(s.p(relative), OTHER_UID, OTHER_UID)
    return setup


def _mode_kept(relative: str, mode: int) -> Callable[[Scratch, Dict[str, Any]], Optional[str]]:
    def check(s: Scratch, _result: Dict[str, Any]) -> Optional[str]:
        now = stat.S_IMODE(os.lstat(s.p(relative)).st_mode)
        return None if now == mode else "%s was chmod'ed to %04o" % (relative, now)
    return check


def _state_json(mode: Optional[int] = None, owner: bool = False, content: Any = None
                ) -> Setup:
    def setup(s: Scratch) -> None:
        path = os.path.join(_registered(s, [BUNDLE], APPLIED), "state.json")
        if content is not None:
            os.unlink(path)
            if content == "fifo":
                os.mkfifo(path)
            elif content == "link":
                os.symlink(os.path.join(s.canary, "victim"), path)
            else:
                s.write_to(path, content, 0o600)
        if mode is not None:
            os.chmod(path, mode)
        if owner:
            os.chown(path, OTHER_UID, OTHER_UID)
    return setup


def _backups(s: Scratch) -> List[str]:
    return ["backups"]


def _verify_last(s: Scratch) -> List[str]:
    return ["verify"]


state_case("state-dir-world-writable", _mode("state", 0o777), _plan, 3, "mode 0777",
           check=_mode_kept("state", 0o777))
state_case("state-dir-group-writable", _mode("state", 0o770), _plan, 3, "mode 0770",
           check=_mode_kept("state", 0o770))
state_case("state-dir-other-owner", _owner("state"), _plan, 3, "belongs to uid 65534")
state_case("state-dir-symlink", lambda s: s.link("state", s.canary) and None, _plan, 3,
           "symlink")
state_case("state-dir-a-file", lambda s: s.write("state", "x") and None, _plan, 3,
           "not a directory")
state_case("backups-world-writable", _mode("state/backups", 0o777), _plan, 3, "mode 0777")
state_case("backups-other-owner", _owner("state/backups"), _plan, 3, "belongs to uid")
state_case("backups-symlink", lambda s: do(os.makedirs(s.p("state"), 0o700),
                                         s.link("state/backups", s.canary)), _plan, 3,
           "symlink")
state_case("parent-group-writable", _mode("shared", 0o775), _plan, 3,
           "another user could replace",
           env=lambda s: {"LLTUNE_STATE_DIR": s.p("shared/state")})
state_case("parent-sticky-world-writable", _mode("sticky", 0o1777), _plan, 0,
           env=lambda s: {"LLTUNE_STATE_DIR": s.p("sticky/state")}, stdout_has="plan bundle:")
state_case("parent-missing", _nothing, _plan, 3, "does not exist",
           env=lambda s: {"LLTUNE_STATE_DIR": s.p("no/such/state")})
state_case("record-damaged", lambda s: do(_registered(s, []), s.write("state/bundles.json",
                                                                    "junk", 0o600)),
           _backups, 3, "record of its bundles")
state_case("record-symlink", lambda s: do(_registered(s, []), os.unlink(s.p("state/bundles.json")),
                                        s.link("state/bundles.json", os.path.join(
                                            s.canary, "victim"))), _backups, 3,
           "symlink")
state_case("record-world-writable", lambda s: do(_registered(s, [BUNDLE], APPLIED), os.chmod(
    s.p("state/bundles.json"), 0o666)), _backups, 3, "mode 0666")
state_case("record-fifo", lambda s: do(_registered(s, []), os.unlink(s.p("state/bundles.json")),
                                     s.fifo("state/bundles.json")), _backups, 3,
           "a FIFO")
state_case("planted-bundle-not-listed", lambda s: do(_registered(s, []), os.mkdir(
    s.p("state/backups/" + BUNDLE), 0o700), s.write("state/backups/%s/state.json" % BUNDLE,
                                                    json.dumps(APPLIED), 0o600)),
           _backups, 0, check=lambda s, r: None if [
               line for line in r["stdout"].splitlines() if BUNDLE.encode() in line] == [
               BUNDLE.encode() + b"  not in lltune's record of its bundles (bundles.json): "
               b"ignored"] else "listed as a bundle: %r" % r["stdout"])
state_case("planted-bundle-not-verified", lambda s: do(_registered(s, []), os.mkdir(
    s.p("state/backups/" + BUNDLE), 0o700), s.write("state/backups/%s/state.json" % BUNDLE,
                                                    json.dumps(APPLIED), 0o600), s.write(
    "state/backups/%s/config.yaml" % BUNDLE, MIN_CONFIG, 0o600)), _verify_last, 2,
           "no applied bundle")
state_case("state-json-06777", _state_json(mode=0o6777), _backups, 3, "mode 6777")
state_case("state-json-other-owner", _state_json(owner=True), _backups, 3,
           "belongs to uid 65534")
state_case("state-json-symlink", _state_json(content="link"), _backups, 3, "symlink")
state_case("state-json-fifo", _state_json(content="fifo"), _backups, 3, "a FIFO")
state_case("state-json-deep", _state_json(content=DEEP_JSON), _backups, 0,
           stdout_has="unreadable")
state_case("state-json-deep-verify", _state_json(content=DEEP_JSON), _verify_last, 2,
           "no applied bundle")
state_case("state-json-sparse-100mb", lambda s: do(_state_json()(s), os.truncate(
    s.p("state/backups/%s/state.json" % BUNDLE), 100 * MIB)), _backups, 3,
           "larger than")
state_case("bundle-dir-world-writable", lambda s: os.chmod(_registered(s, [BUNDLE], APPLIED),
                                                           0o777), _backups, 3, "mode 0777")
state_case("bundle-dir-other-owner", lambda s: os.chown(_registered(s, [BUNDLE], APPLIED),
                                                        OTHER_UID, OTHER_UID), _backups, 3,
           "belongs to uid 65534")
state_case("bundle-dir-symlink", lambda s: do(shutil.rmtree(_registered(s, [BUNDLE], APPLIED)),
                                            s.link("state/backups/" + BUNDLE, s.canary)),
           _backups, 3, "symlink")
state_case("ids-sort-as-numbers", lambda s: _registered(s, [
    "999999-20260101T000000Z-plan-aaaaaa", "1000000-20260101T000000Z-plan-bbbbbb"]) and None,
           _backups, 0, check=lambda s, r: None if r["stdout"].startswith(b"1000000-") else
           "1000000 is not listed first: %r" % r["stdout"][:80])
state_case("state-dir-env-a-fifo", lambda s: s.fifo("statefifo") and None, _plan, 3,
           "not a directory", env=lambda s: {"LLTUNE_STATE_DIR": s.p("statefifo")})

# ------------------------------------------------------------------ output targets

def output_case(name: str, setup: Setup, argv: Argv, code: int, message: str = "",
                **kwargs: Any) -> None:
    def full(s: Scratch) -> List[str]:
        setup(s)
        return argv(s)
    case("output/" + name, "output", full, code, message, **kwargs)


def _type_kept(relative: str, test: Callable[[int], bool]) -> Callable[..., Optional[str]]:
    def check(s: Scratch, _result: Dict[str, Any]) -> Optional[str]:
        return None if test(os.lstat(s.p(relative)).st_mode) else "%s was replaced" % relative
    return check


def _owner_and_mode(relative: str, uid: int, mode: int) -> Callable[..., Optional[str]]:
    def check(s: Scratch, _result: Dict[str, Any]) -> Optional[str]:
        info = os.lstat(s.p(relative))
        if info.st_uid == uid and stat.S_IMODE(info.st_mode) == mode and info.st_size > 100:
            return None
        return "%s: uid %d mode %04o size %d" % (relative, info.st_uid,
                                                stat.S_IMODE(info.st_mode), info.st_size)
    return check


def _scan_to(*extra: str) -> Argv:
    return lambda s: ["scan", "--root", s.p("tree"), "-q"] + [
        s.p(arg[1:]) if arg.startswith("@") else arg for arg in extra]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _existing(relative: str, uid: int, mode: int) -> Setup:
    def setup(s: Scratch) -> None:
        s.write(relative, "old\n", mode)
        os.chown(s.p(relative), uid, uid)
    return setup


output_case("fifo", lambda s: s.fifo("out") and None, _scan_to("-o", "@out"), 2, "a FIFO",
            check=_type_kept("out", stat.S_ISFIFO))
output_case("device", lambda s: s.device("out") and None, _scan_to("-o", "@out"), 2,
            "character device", check=_type_kept("out", stat.S_ISCHR))
output_case("symlink-to-canary", lambda s: s.link("out", os.path.join(s.canary, "victim")) and
            None, _scan_to("-o", "@out"), 2, "a symlink", check=_type_kept("out", stat.S_ISLNK))
output_case("dangling-symlink", lambda s: s.link("out", os.path.join(s.canary, "new")) and None,
            _scan_to("-o", "@out"), 2, "a symlink")
output_case("directory", lambda s: os.mkdir(s.p("out")), _scan_to("-o", "@out"), 2,
            "a directory")
output_case("trailing-slash", _nothing, _scan_to("-o", "@out/"), 2, "is a directory")
output_case("missing-directory", _nothing, _scan_to("-o", "@no/such/dir/out"), 2,
            "No such file")
output_case("md-report-fifo", lambda s: s.fifo("report.md") and None,
            _scan_to("--md-report", "@report.md"), 2, "a FIFO")
output_case("md-report-dash", _nothing, _scan_to("--md-report", "-"), 0,
            stdout_has="# lltune scan", check=lambda s, r: "wrote a file named -" if
            os.path.lexists(s.p("-")) else None)
output_case("both-to-stdout", _nothing, _scan_to("-o", "-", "--md-report", "-"), 0,
            stdout_has="schema_version")
output_case("keeps-owner-and-mode", _existing("out.json", OTHER_UID, 0o640),
            _scan_to("-o", "@out.json"), 0, check=_owner_and_mode("out.json", OTHER_UID, 0o640))
output_case("keeps-mode-0600", _existing("out.json", 0, 0o600), _scan_to("-o", "@out.json"), 0,
            check=_owner_and_mode("out.json", 0, 0o600))
output_case("world-writable-directory", _mode("shared", 0o777),
            _scan_to("-o", "@shared/out.json"), 0, check=_owner_and_mode(
                "shared/out.json", 0, 0o666 & ~_umask()))
output_case("stdout-full", _nothing, _scan_to("-o", "-"), 3, "No space left", stdout="full")
output_case("stdout-closed", _nothing, _scan_to("-o", "-"), 3, "Bad file descriptor",
            stdout="closed")
output_case("stdout-closed-nothing-written", _nothing, _scan_to(), 0, stdout="closed")
output_case("stderr-full", _nothing, lambda s: ["scan", "--root", s.p("tree"), "-o", "-"], 0,
            stderr="full", stdout_has="schema_version")
output_case("stderr-closed-usage-error", _nothing, lambda s: ["scan", "--bogus"], 2,
            stderr="closed")
output_case("stdout-and-stderr-full", _nothing, _scan_to("-o", "-"), 3, stdout="full",
            stderr="full")
output_case("schema-stdout-full", _nothing, lambda s: ["schema"], 3, "No space left",
            stdout="full")
output_case("help-stdout-full", _nothing, lambda s: ["--help"], 3, "No space left",
            stdout="full")
output_case("audit-json-stdout-closed", _nothing, lambda s: [
    "audit", "-c", CONFIG, "--snapshot", s.a.snapshot, "--format", "json"], 3,
            "Bad file descriptor", stdout="closed")
output_case("gen-config-stdout-full", _nothing, lambda s: [
    "gen-config", "--snapshot", s.a.snapshot], 3, "No space left", stdout="full")
output_case("capture-fifo", lambda s: s.fifo("b.tar.gz") and None, lambda s: [
    "capture", "--root", s.p("tree"), "-o", s.p("b.tar.gz")], 2, "a FIFO",
            check=_type_kept("b.tar.gz", stat.S_ISFIFO))
output_case("capture-symlink", lambda s: s.link("b.tar.gz", os.path.join(s.canary, "victim")) and
            None, lambda s: ["capture", "--root", s.p("tree"), "-o", s.p("b.tar.gz")], 2,
            "a symlink")
output_case("capture-to-stdout", _nothing, lambda s: [
    "capture", "--root", s.p("tree"), "-o", "-"], 0, stdout_has="\x1f\x8b")
output_case("gen-config-device", lambda s: s.device("c.yaml") and None, lambda s: [
    "gen-config", "--snapshot", s.a.snapshot, "-o", s.p("c.yaml")], 2, "character device",
            check=_type_kept("c.yaml", stat.S_ISCHR))
output_case("gen-config-keeps-owner", _existing("c.yaml", OTHER_UID, 0o604), lambda s: [
    "gen-config", "--snapshot", s.a.snapshot, "-o", s.p("c.yaml")], 0,
            check=_owner_and_mode("c.yaml", OTHER_UID, 0o604), lines=1)
