"""Capture bundles: a capture scanned offline gives the live scan; hostile bundles are refused."""

import copy
import io
import json
import tarfile

import pytest

from lltune.cli.main import main
from lltune.host import capture
from lltune.host.reader import RecordingReader, RootReader
from lltune.host.scan import scan
from tests.conftest import scan_root

# What changes between two live scans a few milliseconds apart: counters and free memory, and
# kernel worker threads that come and go.
VOLATILE = [
    ("generated_at",), ("source",), ("irqs", "per_cpu_totals"), ("irqs", "per_cpu_events"),
    ("memory", "meminfo_kb"), ("memory", "ksm"), ("kthreads",), ("numa", "nodes", "*", "free_kb"),
    ("irqs", "irqs", "*", "counts"), ("irqs", "irqs", "*", "total"),
]


def stable_view(snapshot):
    view = copy.deepcopy(snapshot)

    def drop(node, path):
        if not path or node is None:
            return
        head, rest = path[0], path[1:]
        items = node if head == "*" else [node]
        for item in items:
            if head == "*":
                drop(item, rest)
            elif isinstance(item, dict) and head in item:
                if rest:
                    drop(item[head], rest)
                else:
                    del item[head]
    for path in VOLATILE:
        drop(view, path)
    return view


def capture_live(path):
    recorder = RecordingReader(RootReader("/"))
    snapshot = scan(recorder, {"kind": "live", "path": "/"})
    capture.write_bundle(recorder, snapshot, str(path))
    return snapshot


def test_capture_then_scan_from_equals_the_live_scan(tmp_path):
    bundle = tmp_path / "host.tar.gz"
    live = capture_live(bundle)
    reader, manifest, recorded = capture.open_bundle(str(bundle))
    offline = scan(reader, {"kind": "capture", "path": str(bundle)})
    # The very scan the capture made, replayed: identical but for the timestamp and source.
    assert {k: v for k, v in offline.items() if k not in ("generated_at", "source")} == \
        {k: v for k, v in live.items() if k not in ("generated_at", "source")}
    assert recorded == json.loads(json.dumps(live))
    assert manifest["source"] == {"kind": "live", "path": "/"}
    # And a separate live scan now agrees on everything that is not a counter.
    assert stable_view(scan(RootReader("/"), {"kind": "live", "path": "/"})) == \
        stable_view(offline)
    assert offline["nics"] or offline["cpu"]["cpus"], "the bundle is not empty"


def test_capture_and_scan_from_through_the_cli(tmp_path, capsys):
    bundle = tmp_path / "host.tar.gz"
    assert main(["capture", "--output", str(bundle)]) == 0
    assert main(["scan", "--from", str(bundle), "--output", str(tmp_path / "s.json"),
                 "-q"]) == 0
    offline = json.loads((tmp_path / "s.json").read_text())
    assert offline["source"]["kind"] == "capture"
    _, _, recorded = capture.open_bundle(str(bundle))
    assert {k: v for k, v in offline.items() if k not in ("generated_at", "source")} == \
        {k: v for k, v in recorded.items() if k not in ("generated_at", "source")}


def test_capture_of_a_root_tree_scans_the_same(tmp_path, hwloc_trees):
    root = hwloc_trees["40intel64-2g2n4c+pcilocality"]
    bundle = tmp_path / "tree.tar.gz"
    assert main(["capture", "--root", root, "--output", str(bundle)]) == 0
    reader, _, _ = capture.open_bundle(str(bundle))
    offline = scan(reader, {"kind": "capture", "path": str(bundle)})
    direct = scan_root(root)
    assert stable_view(offline) == stable_view(direct)
    assert [nic["numa_node"] for nic in offline["nics"]] == \
        [nic["numa_node"] for nic in direct["nics"]]


# --- hostile and broken bundles ------------------------------------------------------------

def _tar(path, members, mode="w:gz"):
    """members: (name, bytes) for files, or (name, TarInfo-tweak callable)."""
    with tarfile.open(str(path), mode) as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            if callable(payload):
                payload(info)
                tar.addfile(info)
            else:
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return path


def _good_members(tmp_path):
    bundle = tmp_path / "good.tar.gz"
    capture_live(bundle)
    members = []
    with tarfile.open(str(bundle)) as tar:
        for member in tar:
            members.append((member.name, tar.extractfile(member).read()))
    return members


def _symlink(target):
    def tweak(info):
        info.type = tarfile.SYMTYPE
        info.linkname = target
    return tweak


def _hardlink(info):
    info.type = tarfile.LNKTYPE
    info.linkname = "lltune-capture/manifest.json"


def _device(info):
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3


HOSTILE = {
    "absolute path": [("/etc/passwd", b"x")],
    "dot-dot": [("lltune-capture/../../escape", b"x")],
    "outside the top folder": [("other/file", b"x")],
    "symlink leaving the tree": [("lltune-capture/tree/etc", _symlink("/etc"))],
    "hard link": [("lltune-capture/tree/x", _hardlink)],
    "device node": [("lltune-capture/tree/dev/null", _device)],
    "no manifest": [("lltune-capture/probes.json", b"{}")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_bundle_is_refused(case, tmp_path, capsys):
    bundle = _tar(tmp_path / "bad.tar.gz", HOSTILE[case])
    assert main(["scan", "--from", str(bundle), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bundle) in err and "Traceback" not in err, err


def _with(members, name, data):
    return [(n, data if n == name else d) for n, d in members]


def test_tampered_member_is_refused(tmp_path, capsys):
    members = _good_members(tmp_path)
    victim = next(n for n, _ in members if n.startswith("lltune-capture/tree/"))
    bundle = _tar(tmp_path / "bad.tar.gz", _with(members, victim, b"tampered"))
    assert main(["scan", "--from", str(bundle), "-q"]) == 2
    assert "does not match its sha256" in capsys.readouterr().err


@pytest.mark.parametrize("manifest_change, message", [
    ({"format_version": 99}, "not supported"),
    ({"format": "something-else"}, "not an lltune capture"),
    ({"dirs": {"relative/path": []}}, "bad entry name"),
    ({"dirs": {"/sys": "not a list"}}, "wrong type"),
    ({"dirs": {"/sys": ["a/b"]}}, "bad name"),
    ({"sha256": "nope"}, "must be a mapping"),
])
def test_malformed_manifest_is_refused(tmp_path, capsys, manifest_change, message):
    members = _good_members(tmp_path)
    manifest = json.loads(dict(members)["lltune-capture/manifest.json"])
    manifest.update(manifest_change)
    bundle = _tar(tmp_path / "bad.tar.gz", _with(members, "lltune-capture/manifest.json",
                                                 json.dumps(manifest).encode()))
    assert main(["scan", "--from", str(bundle), "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_member_missing_from_the_archive_is_refused(tmp_path, capsys):
    members = [m for m in _good_members(tmp_path) if m[0] != "lltune-capture/probes.json"]
    bundle = _tar(tmp_path / "bad.tar.gz", members)
    assert main(["scan", "--from", str(bundle), "-q"]) == 2
    assert "missing" in capsys.readouterr().err


def test_bad_json_names_line_and_column(tmp_path, capsys):
    members = _good_members(tmp_path)
    bundle = _tar(tmp_path / "bad.tar.gz", _with(members, "lltune-capture/manifest.json",
                                                 b'{\n  "format": \n}'))
    assert main(["scan", "--from", str(bundle), "-q"]) == 2
    assert ":3:1: manifest.json: Expecting value" in capsys.readouterr().err


def test_size_and_count_limits(tmp_path, capsys, monkeypatch):
    members = _good_members(tmp_path)
    bundle = _tar(tmp_path / "big.tar.gz", members)
    monkeypatch.setattr(capture, "MAX_MEMBER_BYTES", 16)
    assert main(["scan", "--from", str(bundle), "-q"]) == 2
    assert "larger than 16 bytes" in capsys.readouterr().err
    monkeypatch.setattr(capture, "MAX_MEMBER_BYTES", 1 << 30)
    monkeypatch.setattr(capture, "MAX_MEMBERS", 3)
    assert main(["scan", "--from", str(bundle), "-q"]) == 2
    assert "more than 3 members" in capsys.readouterr().err
    monkeypatch.setattr(capture, "MAX_MEMBERS", 1 << 20)
    monkeypatch.setattr(capture, "MAX_TOTAL_BYTES", 1000)
    assert main(["scan", "--from", str(bundle), "-q"]) == 2
    assert "uncompressed" in capsys.readouterr().err


@pytest.mark.parametrize("content", [b"", b"not a tar at all", b"\x1f\x8b\x08\x00garbage"])
def test_not_an_archive(tmp_path, capsys, content):
    bundle = tmp_path / "junk.tar.gz"
    bundle.write_bytes(content)
    assert main(["scan", "--from", str(bundle), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_truncated_archive(tmp_path, capsys):
    bundle = tmp_path / "good.tar.gz"
    capture_live(bundle)
    data = bundle.read_bytes()
    bundle.write_bytes(data[:len(data) // 2])
    assert main(["scan", "--from", str(bundle), "-q"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_missing_bundle(tmp_path, capsys):
    assert main(["scan", "--from", str(tmp_path / "nope.tar.gz"), "-q"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_corrupt_deflate_stream_is_refused_as_a_bad_bundle(tmp_path, capsys):
    """The fuzzer's find: a flipped byte inside a member's compressed data makes zlib raise
    its own error (not an OSError) while tarfile seeks over that member in the header pass.
    Fixed, compressible content (back-references a flip can break); the first position
    whose flip gives a zlib error is used."""
    import gzip
    import random
    import zlib

    words = random.Random(7)
    text = " ".join(words.choice(["cpu", "irq", "node", "mask", "tick", "nohz", "rcu", "%d"
                                  % words.randrange(10 ** 6)]) for _ in range(40000))
    good = _tar(tmp_path / "good.tar.gz", [("lltune-capture/a", text.encode()),
                                           ("lltune-capture/b", b"x")]).read_bytes()
    for at in range(len(good) // 4, len(good) - 16):  # inside the first member's data
        bad = bytearray(good)
        bad[at] ^= 0xFF
        try:
            gzip.decompress(bytes(bad))
        except zlib.error:
            break
        except (OSError, EOFError):
            continue
    else:
        pytest.fail("no position gave a zlib error: the test would show nothing")
    bundle = tmp_path / "bad.tar.gz"
    bundle.write_bytes(bytes(bad))
    assert main(["scan", "--from", str(bundle), "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(bundle) in err and "Traceback" not in err, err
