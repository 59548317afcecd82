"""Hostile JSON and YAML outside the config loader: snapshots (--snapshot), recorded probes
(--probes) and capture bundles (scan --from). Deep nesting, alias bombs and unreadable values
are refused with exit code 2 and one line naming the file, fast, without a traceback.
"""

import io
import json
import os
import tarfile
import time

import pytest

from lltune.cli.main import main
from tests.conftest import REPO

LAB = os.path.join(REPO, "examples", "lab-template.yaml")
BOUND_SECONDS = 2.0  # a denial-of-service bound, not a benchmark: generous on purpose
DEPTH = 100000  # far beyond Python's recursion limit (json raises RecursionError at ~1000)

DEEP_JSON = '{"a": ' + "[" * DEPTH + "]" * DEPTH + "}"
DEEP_JSON_33 = '{"a": ' + "[" * 33 + "]" * 33 + "}"  # under Python's limit, over lltune's
DEEP_YAML_FLOW = "a: " + "[" * DEPTH + "]" * DEPTH + "\n"
DEEP_YAML_BLOCK = "".join("%sk%d:\n" % (" " * i, i) for i in range(2000)) + " " * 2000 + "v: 1\n"
# 100 KB that PyYAML would expand to 9**10 strings.
ALIAS_BOMB = 'x0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + \
    "".join("x%d: &a%d [%s]\n" % (i, i, ", ".join(["*a%d" % (i - 1)] * 9)) for i in range(1, 11))
ONE_ANCHOR = "schema_version: &v 1\nlltune_version: *v\n"
HUGE_INT_YAML = "schema_version: " + "9" * 5000 + "\n"
HUGE_INT_JSON = '{"schema_version": ' + "9" * 5000 + "}"


def _run(argv, capsys):
    started = time.perf_counter()
    code = main(argv)
    elapsed = time.perf_counter() - started
    err = capsys.readouterr().err
    return code, err, elapsed


def _refused(code, err, elapsed, path, message):
    assert code == 2, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert str(path) in err and message in err, err
    assert elapsed < BOUND_SECONDS, "%.2f s" % elapsed


SNAPSHOTS = [  # (file name, content, what the one-line error says)
    ("deep.json", DEEP_JSON, "nested deeper than 32 levels"),
    ("deep33.json", DEEP_JSON_33, ": a" + ".0" * 31 + ": nested deeper than 32 levels"),
    ("deep-flow.yaml", DEEP_YAML_FLOW, "nest"),
    ("deep-block.yaml", DEEP_YAML_BLOCK, "nested deeper than 32 levels"),
    ("bomb.yaml", ALIAS_BOMB, "anchors and aliases are not allowed in a snapshot"),
    ("anchor.yaml", ONE_ANCHOR, ":1:17: schema_version: anchors and aliases are not allowed"),
    ("huge-int.yaml", HUGE_INT_YAML, "unreadable value"),
    ("huge-int.json", HUGE_INT_JSON, "unreadable value"),
]


@pytest.mark.parametrize("name, text, message", SNAPSHOTS, ids=[c[0] for c in SNAPSHOTS])
def test_hostile_snapshot_is_refused(tmp_path, capsys, name, text, message):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    code, err, elapsed = _run(["audit", "-c", LAB, "--snapshot", str(path)], capsys)
    _refused(code, err, elapsed, path, message)


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_a_snapshot_lltune_wrote_still_loads(tmp_path, capsys, fmt):
    from lltune.model import snapshot
    from tests.conftest import scan_root
    from tests.unit.hosts_for_examples import build_named

    probes = build_named("lab-template", str(tmp_path))
    path = tmp_path / ("snapshot." + fmt)
    path.write_text(snapshot.render(scan_root(tmp_path / "root", probes), fmt))
    code = main(["audit", "-c", LAB, "--snapshot", str(path)])
    err = capsys.readouterr().err
    assert code == 0 and ": 0 errors," in err, err


def test_deep_probes_file_is_refused(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text(DEEP_JSON, encoding="utf-8")
    code, err, elapsed = _run(["scan", "--root", str(tmp_path), "--probes", str(path), "-q"],
                              capsys)
    _refused(code, err, elapsed, path, "nested deeper than 32 levels")


def _bundle(path, members):
    with tarfile.open(str(path), "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo("lltune-capture/" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("member", ["manifest.json", "probes.json", "snapshot.json"])
def test_deep_json_in_a_bundle_is_refused(tmp_path, capsys, member):
    import hashlib

    from lltune.host import capture

    deep = ("[" * DEPTH + "]" * DEPTH).encode()
    members = {
        "probes.json": json.dumps({"format": capture.PROBES_FORMAT, "format_version": 1,
                                   "probes": {}}).encode(),
        "snapshot.json": b"{}",
    }
    if member != "manifest.json":
        members[member] = deep
    manifest = {"format": capture.FORMAT, "format_version": capture.FORMAT_VERSION,
                "sha256": {n: hashlib.sha256(d).hexdigest() for n, d in members.items()},
                "dirs": {}, "realpaths": {}, "missing": {}}
    members["manifest.json"] = deep if member == "manifest.json" else json.dumps(
        manifest).encode()
    path = _bundle(tmp_path / "deep.tar.gz", members)
    code, err, elapsed = _run(["scan", "--from", str(path), "-q"], capsys)
    _refused(code, err, elapsed, path, "%s: nested deeper than 32 levels" % member)
