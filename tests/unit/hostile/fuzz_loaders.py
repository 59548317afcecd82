"""Property-based fuzzing of the snapshot and bundle loaders, run by test_fuzz.py in a process
of its own so its peak RSS can be bounded.

From a real snapshot and a real capture bundle (the lab-template host), hypothesis derives
mutants: values replaced by arbitrary JSON (huge integers, deep lists, odd strings), keys
dropped, the document re-serialised as JSON, block YAML or flow YAML and then cut or spliced
with random bytes; bundle members replaced, dropped, duplicated, renamed (absolute, "..",
very long), turned into links or devices, and the compressed stream flipped or truncated.
Each mutant must load or be refused with InputError: any other exception fails, and so does
an example slower than its deadline.

    python -m tests.unit.hostile.fuzz_loaders SNAPSHOT BUNDLE WORKDIR EXAMPLES
"""

import io
import json
import os
import sys
import tarfile
from typing import Any, Dict, List, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(10 ** 30), max_value=10 ** 30) |
    st.floats(allow_nan=True) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                max_size=5),
    max_leaves=20)
SETTINGS = dict(deadline=5000, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))


def _paths(tree: Any, prefix: Tuple[Any, ...] = ()) -> List[Tuple[Any, ...]]:
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += _paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for index, value in enumerate(tree[:3]):
            found += _paths(value, prefix + (index,))
    return found


def _replace(tree: Any, path: Tuple[Any, ...], value: Any, drop: bool) -> Any:
    if not path:
        return value
    node = tree
    for key in path[:-1]:
        node = node[key]
    if drop and isinstance(node, dict):
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return tree


def snapshot_check(base: Dict[str, Any], workdir: str, examples: int) -> Any:
    from lltune.common.errors import InputError
    from lltune.model import snapshot

    paths = _paths(base)

    @settings(max_examples=examples, **SETTINGS)
    @given(index=st.integers(min_value=0, max_value=len(paths) - 1), value=JSON_VALUES,
           drop=st.booleans(), form=st.sampled_from(["json", "yaml", "flow"]),
           cut=st.integers(min_value=0, max_value=1 << 20),
           splice=st.binary(max_size=20), at=st.integers(min_value=0, max_value=1 << 20),
           mangle=st.booleans())
    def check(index: int, value: Any, drop: bool, form: str, cut: int, splice: bytes,
              at: int, mangle: bool) -> None:
        import yaml

        tree = _replace(json.loads(json.dumps(base)), paths[index], value, drop)
        if form == "json":
            text = json.dumps(tree).encode()
        else:
            text = yaml.safe_dump(tree, default_flow_style=form == "flow",
                                  allow_unicode=True).encode()
        if mangle:
            at %= len(text) + 1
            text = (text[:at] + splice + text[at:])[:max(cut, 1)]
        path = os.path.join(workdir, "snapshot." + ("json" if form == "json" else "yaml"))
        with open(path, "wb") as handle:
            handle.write(text)
        try:
            snapshot.load(path)
        except InputError as exc:
            assert "\n" not in str(exc)
    return check


NAMES = st.sampled_from(["/etc/passwd", "../x", "lltune-capture/../../x", "lltune-capture/",
                         "lltune-capture/tree/" + "a" * 300, "lltune-capture/tree/proc/x",
                         "other/x", "lltune-capture/manifest.json", "lltune-capture/./x",
                         "lltune-capture/tree//x", "lltune-capture/tree/\x00x"])
KINDS = st.sampled_from([tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
                         tarfile.FIFOTYPE, tarfile.DIRTYPE])


def bundle_check(bundle: str, workdir: str, examples: int) -> Any:
    from lltune.common.errors import InputError
    from lltune.host import capture
    from lltune.host.scan import scan

    with tarfile.open(bundle) as tar:
        members = [(m.name, tar.extractfile(m).read()) for m in tar if m.isfile()]

    @settings(max_examples=examples, **SETTINGS)
    @given(action=st.sampled_from(["replace", "drop", "duplicate", "rename", "kind", "flip",
                                   "truncate", "json"]),
           index=st.integers(min_value=0, max_value=len(members) - 1),
           data=st.binary(max_size=64), value=JSON_VALUES, name=NAMES, kind=KINDS,
           at=st.integers(min_value=0, max_value=1 << 20))
    def check(action: str, index: int, data: bytes, value: Any, name: str, kind: bytes,
              at: int) -> None:
        entries: List[List[Any]] = [[n, d, tarfile.REGTYPE] for n, d in members]
        if action in ("replace", "json"):
            entries[index][1] = data if action == "replace" else json.dumps(value).encode()
        elif action == "drop":
            del entries[index]
        elif action == "duplicate":
            entries.append(list(entries[index]))
        elif action == "rename":
            entries[index][0] = name
        elif action == "kind":
            entries[index][2] = kind
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
            for entry_name, entry_data, entry_kind in entries:
                info = tarfile.TarInfo(entry_name)
                info.type = entry_kind
                if entry_kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                    info.linkname = "/etc/passwd"
                if entry_kind == tarfile.REGTYPE:
                    info.size = len(entry_data)
                    tar.addfile(info, io.BytesIO(entry_data))
                else:
                    tar.addfile(info)
        blob = bytearray(raw.getvalue())
        if action == "flip" and blob:
            blob[at % len(blob)] ^= 0xFF
        elif action == "truncate":
            blob = blob[:at % (len(blob) + 1)]
        path = os.path.join(workdir, "bundle.tar.gz")
        with open(path, "wb") as handle:
            handle.write(bytes(blob))
        try:
            reader, _, _ = capture.open_bundle(path)
        except InputError as exc:
            assert "\n" not in str(exc)
            return
        result = scan(reader, {"kind": "capture", "path": path})
        assert result["collector_errors"] == [], result["collector_errors"]
    return check


def main(argv: List[str]) -> int:
    snapshot_path, bundle, workdir, examples = argv[1], argv[2], argv[3], int(argv[4])
    with open(snapshot_path, encoding="utf-8") as handle:
        base = json.load(handle)
    snapshot_check(base, workdir, examples)()
    bundle_check(bundle, workdir, max(examples // 2, 1))()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
