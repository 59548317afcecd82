"""Issue 13, "Why": one test per bullet, each failing on the main branch the issue was measured
on and passing now. The commands run as their own processes (the runner's scratch directory,
a time limit, an address-space limit) where the old behaviour was a hang, a traceback or
gigabytes; the rest call lltune in this process.
"""

import io
import json
import os
import stat
import subprocess
import sys
import tarfile

import pytest

from lltune.cli.main import main
from tests.unit.hostile.runner import REPO, environment, run_lltune

MIB = 1024 * 1024
GIB = 1024 * MIB
CONFIG = os.path.join(REPO, "examples", "lab-template.yaml")
LIMIT = 10.0  # seconds: a hang is anything slower
MEMORY = 1 * GIB  # address space for commands that used to grow past 2 GB


@pytest.fixture()
def scratch(tmp_path, monkeypatch):
    for name in ("scratch", "scratch/home", "scratch/tmp", "scratch/tree", "canary"):
        (tmp_path / name).mkdir()
    (tmp_path / "canary" / "victim").write_text("canary\n")
    monkeypatch.setenv("LLTUNE_STATE_DIR", str(tmp_path / "scratch" / "state"))
    return tmp_path


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The lab-template host: its tree, probes and snapshot."""
    from tests.conftest import scan_root
    from tests.unit.hosts_for_examples import build_named

    base = tmp_path_factory.mktemp("why-lab")
    probes = build_named("lab-template", str(base))
    snapshot = scan_root(base / "root", probes)
    (base / "snapshot.json").write_text(json.dumps(snapshot))
    return {"root": str(base / "root"), "probes": probes, "data": snapshot,
            "snapshot": str(base / "snapshot.json")}


def _run(scratch, argv, **kwargs):
    kwargs.setdefault("timeout", LIMIT + 5)
    return run_lltune(argv, str(scratch / "scratch"), str(scratch / "out"), **kwargs)


def _refused(result, code=2, text=""):
    """The documented code, fast, one line, no traceback."""
    assert not result["hung"], "hung"
    assert result["wall"] < LIMIT, result["wall"]
    assert result["code"] == code, (result["code"], result["stderr"])
    lines = [line for line in result["stderr"].splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result["stderr"], result["stderr"]
    assert text in result["stderr"], result["stderr"]


def test_writes(scratch, capsys, monkeypatch):
    """Why, "Writes": capture's predictable temporary name is followed through another user's
    symlink; -o replaces a device or FIFO and drops an existing file's owner and mode;
    --md-report - writes a file named "-"."""
    tree, out = scratch / "scratch" / "tree", scratch / "scratch"
    victim = scratch / "canary" / "victim"
    shared = out / "shared"
    shared.mkdir(mode=0o777)
    os.chmod(str(shared), 0o777)
    planted = shared / (".host.tar.gz.%d.tmp" % os.getpid())
    os.symlink(str(victim), str(planted))
    assert main(["capture", "--root", str(tree), "-o", str(shared / "host.tar.gz")]) == 0
    assert victim.read_text() == "canary\n", "capture wrote through a planted symlink"
    assert os.path.islink(str(planted))

    fifo, device = out / "fifo", out / "device"
    os.mkfifo(str(fifo))
    os.mknod(str(device), 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    for target, kind in ((fifo, stat.S_ISFIFO), (device, stat.S_ISCHR)):
        assert main(["scan", "--root", str(tree), "-q", "-o", str(target)]) == 2
        assert kind(os.lstat(str(target)).st_mode), "%s was replaced" % target
        assert "not a regular file" in capsys.readouterr().err

    kept = out / "kept.yaml"
    kept.write_text("old\n")
    os.chown(str(kept), 65534, 65534)
    os.chmod(str(kept), 0o640)
    assert main(["scan", "--root", str(tree), "-q", "-o", str(kept)]) == 0
    info = os.stat(str(kept))
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (65534, 0o640)
    assert "schema_version" in kept.read_text()

    monkeypatch.chdir(str(out))
    capsys.readouterr()
    assert main(["scan", "--root", str(tree), "-q", "--md-report", "-"]) == 0
    assert "# lltune scan" in capsys.readouterr().out
    assert not os.path.lexists(str(out / "-"))


def _bundle_dir(scratch, name="000001-20260101T000000Z-apply-abcdef", state=None,
                registered=True):
    state_dir = scratch / "scratch" / "state"
    backups = state_dir / "backups"
    backups.mkdir(parents=True)
    os.chmod(str(state_dir), 0o700)
    os.chmod(str(backups), 0o700)
    bundle = backups / name
    bundle.mkdir(mode=0o700)
    (bundle / "state.json").write_text(json.dumps(state or {
        "status": "applied", "previous_profile": "balanced", "files": []}))
    os.chmod(str(bundle / "state.json"), 0o600)
    if registered:
        (state_dir / "bundles.json").write_text(json.dumps(
            {"format": "lltune-bundles", "format_version": 1, "bundles": [name]}))
        os.chmod(str(state_dir / "bundles.json"), 0o600)
    return bundle


def test_state(scratch, lab, capsys):
    """Why, "State": a pre-created world-writable state directory is chmod'ed without a word
    and rollback then trusts a bundle another user planted there; state.json with mode 06777,
    owned by another uid, is accepted."""
    from lltune.common.errors import EnvironmentProblem
    from lltune.tune import backup

    state_dir = scratch / "scratch" / "state"
    state_dir.mkdir()
    os.chmod(str(state_dir), 0o777)
    assert main(["apply", "--plan", "-q", "-c", CONFIG, "--snapshot", lab["snapshot"]]) == 3
    assert "mode 0777" in capsys.readouterr().err
    assert stat.S_IMODE(os.stat(str(state_dir)).st_mode) == 0o777, "chmod'ed silently"
    os.rmdir(str(state_dir))

    # Planted once lltune keeps its record (an lltune from before the record is adopted: see
    # tests/unit/tune/test_apply_plan.py).
    planted = _bundle_dir(scratch, registered=False)
    (state_dir / "bundles.json").write_text(json.dumps(
        {"format": "lltune-bundles", "format_version": 1, "bundles": []}))
    os.chmod(str(state_dir / "bundles.json"), 0o600)
    with pytest.raises(EnvironmentProblem, match="not a bundle lltune made"):
        backup.find(planted.name)
    with pytest.raises(backup.InputError, match="no applied lltune bundle"):
        backup.find(None)
    import shutil

    shutil.rmtree(str(state_dir))
    bundle = _bundle_dir(scratch)
    os.chmod(str(bundle / "state.json"), 0o6777)
    os.chown(str(bundle / "state.json"), 65534, 65534)
    with pytest.raises(EnvironmentProblem, match="belongs to uid 65534"):
        backup.read_state(backup.Bundle(str(bundle)))
    os.chown(str(bundle / "state.json"), 0, 0)
    os.chmod(str(bundle / "state.json"), 0o6777)
    with pytest.raises(EnvironmentProblem, match="mode 6777"):
        backup.read_state(backup.Bundle(str(bundle)))


@pytest.mark.parametrize("stdout, stderr", [("full", "file"), ("closed", "file"),
                                            ("full", "full"), ("closed", "closed")])
def test_output(scratch, stdout, stderr):
    """Why, "Output": stdout or stderr full (/dev/full) or closed gave tracebacks (OSError,
    AttributeError) and exit 1."""
    result = _run(scratch, ["scan", "--root", str(scratch / "scratch" / "tree"), "-o", "-"],
                  stdout=stdout, stderr=stderr)
    assert result["code"] == 3, result
    if stderr == "file":
        _refused(result, 3, "cannot write to standard output")


def test_inputs_that_never_end(scratch, lab):
    """Why, "Inputs that never end": a FIFO as -c, --snapshot, --probes, --from or as a
    bundle's state.json blocks forever; scan --from /dev/zero never returns."""
    work = scratch / "scratch"
    fifo = str(work / "fifo")
    os.mkfifo(fifo)
    tree = str(work / "tree")
    for argv in (["audit", "-c", fifo, "--snapshot", lab["snapshot"]],
                 ["audit", "-c", CONFIG, "--snapshot", fifo],
                 ["scan", "--root", tree, "--probes", fifo, "-q"],
                 ["scan", "--from", fifo, "-q"],
                 ["scan", "--from", "/dev/zero", "-q"]):
        _refused(_run(scratch, argv), 2)
    bundle = _bundle_dir(scratch)
    os.unlink(str(bundle / "state.json"))
    os.mkfifo(str(bundle / "state.json"))
    _refused(_run(scratch, ["backups"]), 3, "a FIFO")


def _zeros_bundle(path, members, size):
    """A bundle whose manifest lists `members` tree files of `size` zero bytes each."""
    import hashlib

    digest = hashlib.sha256(b"\0" * size).hexdigest()
    probes = json.dumps({"format": "lltune-probes", "format_version": 1, "probes": {}})
    hashes = {"probes.json": hashlib.sha256(probes.encode()).hexdigest(),
              "snapshot.json": hashlib.sha256(b"{}").hexdigest()}
    hashes.update({"tree/proc/f%d" % i: digest for i in range(members)})
    manifest = json.dumps({"format": "lltune-capture", "format_version": 1, "sha256": hashes,
                           "dirs": {}, "realpaths": {}, "missing": {}}).encode()
    with tarfile.open(path, "w:gz", compresslevel=9) as tar:
        for name, data in (("manifest.json", manifest), ("probes.json", probes.encode()),
                           ("snapshot.json", b"{}")):
            info = tarfile.TarInfo("lltune-capture/" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        zeros = b"\0" * size
        for index in range(members):
            info = tarfile.TarInfo("lltune-capture/tree/proc/f%d" % index)
            info.size = size
            tar.addfile(info, io.BytesIO(zeros))
    return path


def test_sizes(scratch, lab):
    """Why, "Sizes": mask parsing is quadratic (a 1 MB cpumask in a tree: over 60 s);
    queues.rx = 1e9 in a snapshot grows past 2 GB; a CPU id of 1e12 raises MemoryError; a
    20 MB YAML snapshot takes 89 s and 3.5 GB before it is refused; a valid 530 KB bundle
    peaks at 1 GB RSS; a 1 GiB host file is cut to 1 MiB without a word."""
    work = scratch / "scratch"
    tree = work / "tree"
    (tree / "proc" / "irq").mkdir(parents=True)
    (tree / "proc" / "irq" / "default_smp_affinity").write_text(",".join(["ffffffff"] * 110000))
    with open(str(tree / "proc" / "interrupts"), "wb") as handle:
        handle.truncate(GIB)
    result = _run(scratch, ["scan", "--root", str(tree), "-q", "-o", str(work / "s.json")])
    assert result["code"] == 0 and result["wall"] < LIMIT, result
    snapshot = json.loads((work / "s.json").read_text())
    assert snapshot["irqs"]["default_smp_affinity"] is None  # CPUs beyond NR_CPUS: refused
    assert any(m["what"] == "/proc/interrupts" and "larger than" in m["reason"]
               for m in snapshot["missing"]), snapshot["missing"]

    for name, change in (("queues", ("nics", 0, "queues", {"rx": 10 ** 9, "tx": 1})),
                         ("cpu", ("cpu", "cpus", 0, "id", 10 ** 12))):
        data = json.loads(json.dumps(lab["data"]))
        node = data
        for key in change[:-2]:
            node = node[key]
        node[change[-2]] = change[-1]
        path = work / ("%s.json" % name)
        path.write_text(json.dumps(data))
        result = _run(scratch, ["gen-config", "--snapshot", str(path), "-o", "-"],
                      memory_limit=MEMORY)
        _refused(result, 2, "greater than the maximum")
        assert result["rss_mib"] < 200, result["rss_mib"]

    (work / "big.yaml").write_text("a:\n" + "- 0\n" * (5 * MIB))
    result = _run(scratch, ["gen-config", "--snapshot", str(work / "big.yaml"), "-o", "-"],
                  memory_limit=MEMORY)
    _refused(result, 2)
    assert result["rss_mib"] < 200 and result["wall"] < 5, result

    bundle = _zeros_bundle(str(work / "b.tar.gz"), 8, 60 * MIB)
    assert os.path.getsize(bundle) < 1 * MIB
    result = _run(scratch, ["scan", "--from", bundle, "-q"], memory_limit=MEMORY)
    _refused(result, 2, "uncompressed")
    assert result["rss_mib"] < 200, result["rss_mib"]


def test_structure(scratch, lab, capsys):
    """Why, "Structure": a deeply nested state.json raises RecursionError; a chain of 1,500
    `./` in a tree's symlink loses the kernel and cpu sections with exit 0; non-string YAML
    keys in a snapshot raise TypeError; a flow-style YAML snapshot is refused as bad JSON;
    duplicate keys in snapshots pass."""
    import yaml

    bundle = _bundle_dir(scratch)
    (bundle / "state.json").write_text("[" * 100000 + "]" * 100000)
    assert main(["backups"]) == 0
    assert "unreadable" in capsys.readouterr().out

    work = scratch / "scratch"
    tree = work / "tree"
    (tree / "proc").mkdir()
    (tree / "proc" / "cmdline.real").write_text("ro quiet\n")
    os.symlink("./" * 1500 + "cmdline.real", str(tree / "proc" / "cmdline"))
    cpu = tree / "sys" / "devices" / "system" / "cpu"
    (cpu / "cpu0").mkdir(parents=True)
    (cpu / "online").write_text("0\n")
    os.symlink("./" * 1500 + "online", str(cpu / "present"))
    assert main(["scan", "--root", str(tree), "-q", "-o", str(work / "s.json")]) == 0
    snapshot = json.loads((work / "s.json").read_text())
    assert snapshot["collector_errors"] == [], snapshot["collector_errors"]
    assert snapshot["kernel"]["cmdline"] == ["ro", "quiet"]
    assert snapshot["cpu"]["present"] == [0]

    for name, text, code, message in (
            ("keys.yaml", "? [a, b]\n: 1\n", 2, "a key must be a plain string"),
            ("duplicate.yaml", "schema_version: 1\nschema_version: 1\n", 2, "duplicate key"),
            ("duplicate2.json", '{"schema_version": 1, "schema_version": 1}', 2,
             "duplicate key"),
            ("flow.yaml", yaml.safe_dump(json.loads(json.dumps(lab["data"])),
                                         default_flow_style=True, width=1 << 20), 0, "")):
        (work / name).write_text(text)
        capsys.readouterr()
        assert main(["gen-config", "--snapshot", str(work / name), "-o", "-"]) == code, name
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == (1 if code else 0), err


def test_meaning(scratch, lab, capsys):
    """Why, "Meaning": YAML 1.1 integers change free-form values: a sysctl written `010` is
    rendered `8`, `0x10` as `16`, `1:30` as `90`."""
    for form in ("010", "0x10", "1:30"):
        path = scratch / "scratch" / "c.yaml"
        path.write_text("version: 1\npreset: balanced\nsysctl:\n  vm.max_map_count: %s\n" % form)
        assert main(["apply", "--plan", "-q", "-c", str(path), "--snapshot",
                     lab["snapshot"]]) == 2, form
        err = capsys.readouterr().err
        assert "%s:4:21: sysctl.vm.max_map_count:" % path in err and "quote it" in err, err


def test_safety_gate():
    """Why, "The safety gate": kernel parameter names compared literally (nr-cpus=1,
    module-blacklist=virtio_blk, possible-cpus=1, initcall-blacklist= pass; rdinit= missing);
    mitigation switches beyond the list pass without the acknowledgement; services.stop accepts
    dbus.socket, the journald sockets, ssh.service, logind and lltune's own units; limits
    accepts {domain: '*', rtprio: 99} and {domain: root, nofile: 1}."""
    from tests.unit.audit.test_audit import codes, run, setter

    for token in ("nr-cpus=1", "module-blacklist=virtio_blk", "possible-cpus=1",
                  "initcall-blacklist=ahci_init", "rdinit=/bin/sh"):
        assert "kernel.boot-critical-token" in codes(run(setter(
            "kernel", "cmdline_add", [token]))), token
    for token in ("nospectre-v2", "spectre-v2=off", "tsx-async-abort=off",
                  "indirect_target_selection=off", "tsa=off", "vmscape=off",
                  "kvm.nx_huge_pages=off"):
        assert "kernel.mitigations-unacknowledged" in codes(run(setter(
            "kernel", "cmdline_add", [token]))), token
    for unit in ("dbus.socket", "systemd-journald.socket", "systemd-journald-dev-log.socket",
                 "ssh.service", "systemd-logind.service", "lltune-verify.timer",
                 "lltune-verify.service"):
        assert "services.critical-unit" in codes(run(setter("services", "stop", [unit]))), unit
    assert "limits.wildcard-unacknowledged" in codes(run(setter(
        "limits", [{"domain": "*", "rtprio": 99}])))
    assert "limits.root-nofile-low" in codes(run(setter(
        "limits", [{"domain": "root", "nofile": 1}])))


def test_exit_codes(scratch, lab, capsys, monkeypatch):
    """Why, "Exit codes": scan --root '' scans the live host; apply as root without tuned exits
    1 after taking the lock; verify of an all-null config on a host without tuned says "ok"; a
    CPU id of 8192 or more gives "gen-config produced a config that does not load (a bug)"; a
    newline in a snapshot's NIC name is exit 1; concurrent apply --plan runs hand out one
    sequence number twice; bundle ids sort as strings; a permission-denied file is "absent"."""
    import yaml

    from lltune.config.knobs import KNOBS
    from lltune.config.loader import load_text
    from lltune.host.reader import RootReader
    from lltune.host.scan import scan
    from lltune.tune import backup, session
    from lltune.tune.verify import verify

    assert main(["scan", "--root", "", "-q"]) == 2
    capsys.readouterr()

    if os.geteuid() == 0 and not _tuned_installed():
        taken = []  # a stand-in lock: the real one would be /run/lltune.lock
        monkeypatch.setattr(session.Lock, "__enter__", lambda self: taken.append(self) or self)
        assert main(["apply", "-q", "-c", CONFIG]) == 3
        assert taken == [], "the lock was taken"
        assert "tuned is not installed" in capsys.readouterr().err

    if not _tuned_installed():
        nulls = {"version": 1}
        for knob in KNOBS:
            if knob.name:
                nulls.setdefault(knob.section, {})[knob.name] = None
            else:
                nulls[knob.section] = None
        report = verify(load_text(yaml.safe_dump(nulls), "null.yaml"), None)
        assert report["ok"] is False

    work = scratch / "scratch"
    for name, change in (("cpu", lambda d: d["cpu"]["cpus"][0].update(id=8192)),
                         ("nic", lambda d: d["nics"][0].update(name="eth\n0"))):
        data = json.loads(json.dumps(lab["data"]))
        change(data)
        (work / ("%s.json" % name)).write_text(json.dumps(data))
        assert main(["gen-config", "--snapshot", str(work / ("%s.json" % name)), "-o",
                     "-"]) == 2, name
        assert capsys.readouterr().err.count("\n") == 1

    env = dict(environment(str(work)), LLTUNE_STATE_DIR=str(work / "state"))
    runs = [subprocess.Popen([sys.executable, "-m", "lltune", "apply", "--plan", "-q", "-c",
                              CONFIG, "--snapshot", lab["snapshot"], "--keep", "100"],
                             cwd=str(work), env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE) for _ in range(6)]
    failures = [p.communicate()[1] for p in runs if p.wait(timeout=120) != 0]
    assert failures == []
    ids = sorted(os.listdir(str(work / "state" / "backups")))
    assert len({name.split("-")[0] for name in ids}) == len(ids) == 6, ids

    registry = work / "state" / "bundles.json"
    document = json.loads(registry.read_text()) if registry.exists() else {
        "format": "lltune-bundles", "format_version": 1, "bundles": []}
    for name in ("999999-20260101T000000Z-plan-aaaaaa", "1000000-20260101T000000Z-plan-bbbbbb"):
        os.mkdir(str(work / "state" / "backups" / name), 0o700)
        document["bundles"].append(name)
    registry.write_text(json.dumps(document))
    assert backup.list_bundles()[0].id.startswith("1000000-")

    real_open = os.open

    def denied(path, *args, **kwargs):
        if str(path).endswith("/proc/interrupts"):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, *args, **kwargs)

    (work / "tree" / "proc").mkdir(exist_ok=True)
    (work / "tree" / "proc" / "interrupts").write_text("           CPU0\n")
    monkeypatch.setattr(os, "open", denied)
    snapshot = scan(RootReader(str(work / "tree")), {"kind": "root", "path": "x"})
    monkeypatch.setattr(os, "open", real_open)
    reasons = [m["reason"] for m in snapshot["missing"] if m["what"] == "/proc/interrupts"]
    assert reasons == ["Permission denied"], snapshot["missing"]


def _tuned_installed():
    return any(os.path.exists(path) for path in (
        "/usr/lib/systemd/system/tuned.service", "/lib/systemd/system/tuned.service",
        "/usr/sbin/tuned"))
