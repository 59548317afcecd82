"""Snapshots on disk: writing YAML/JSON, reading them back with their schema checked."""

import json
import os
from typing import Any, Dict, Optional

from lltune.errors import InputError, yaml_input_error
from lltune.serialize import dump_json, dump_yaml

SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "schemas", "snapshot.schema.json")
MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024


def render(snapshot: Dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return dump_json(snapshot)
    return dump_yaml(snapshot, header="lltune snapshot (schema_version %s); produced by "
                                      "`lltune scan`" % snapshot.get("schema_version"))


def format_for(path: Optional[str], requested: Optional[str]) -> str:
    if requested:
        return requested
    if path and path.endswith(".json"):
        return "json"
    return "yaml"


def schema() -> Dict[str, Any]:
    with open(SCHEMA_FILE, encoding="utf-8") as handle:
        return json.load(handle)


def _first(exc: Exception) -> str:
    """The gist of a library's error: its first line, up to the first ';'."""
    return (str(exc).splitlines() or [type(exc).__name__])[0].split(";")[0]


def _key(path: Any) -> str:
    return ".".join(str(part) for part in path)[:200] or "(top level)"


def _check_depth(data: Any, source: str, prefix: str, max_depth: int) -> None:
    """Refuse JSON nested deeper than `max_depth` (without recursing: that is the attack)."""
    stack = [(data, ())] if isinstance(data, (dict, list)) else []
    while stack:
        value, path = stack.pop()
        if len(path) >= max_depth:
            raise InputError(prefix + "nested deeper than %d levels" % max_depth, source,
                             key=_key(path))
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            if isinstance(item, (dict, list)):
                stack.append((item, path + (key,)))


def parse_json(text: str, source: str, name: str = "") -> Any:
    """json.loads for an input file (or the member `name` of a bundle): every way it fails is an
    InputError naming the file, and nesting is capped as the YAML loader caps it, so nothing
    later recurses through hostile depth (json's own limit is a RecursionError)."""
    from lltune.config import MAX_DEPTH  # lltune.config imports knobs, which imports this

    prefix = name + ": " if name else ""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(prefix + exc.msg, source, exc.lineno, exc.colno) from None
    except RecursionError:
        raise InputError(prefix + "nested deeper than %d levels" % MAX_DEPTH, source) from None
    except MemoryError:
        raise InputError(prefix + "too large to read into memory", source) from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise InputError(prefix + "unreadable value: %s" % _first(exc), source) from None
    _check_depth(data, source, prefix, MAX_DEPTH)
    return data


def _parse(path: str, text: str) -> Any:
    if text.lstrip().startswith("{"):
        return parse_json(text, path)
    import yaml

    from lltune.config import check_events  # lltune.config imports knobs, which imports this

    # lltune's snapshots never hold anchors or tags (serialize.py), so refusing them costs
    # nothing and stops an alias bomb from expanding to gigabytes.
    check_events(text, path, "snapshot", max_nodes=None)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader (C or Python)
    except yaml.YAMLError as exc:
        raise yaml_input_error(exc, path) from None
    except MemoryError:
        raise InputError("too large to read into memory", path) from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer beyond Python's digit limit
        raise InputError("unreadable value: %s" % _first(exc), path) from None


def dig(data: Any, *path: Any) -> Any:
    """data[path[0]][path[1]]...: None as soon as a level is missing or not a mapping."""
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def validate(snapshot: Any, source: str) -> None:
    """Raise InputError naming the first key that breaks the snapshot schema."""
    import jsonschema

    validator = jsonschema.Draft7Validator(schema())
    errors = sorted(validator.iter_errors(snapshot), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        key = _key(error.absolute_path)
        raise InputError("does not match the snapshot schema: %s" % error.message.splitlines()[0]
                         [:200], source, key=key)


def load(path: str) -> Dict[str, Any]:
    """A snapshot file written by `lltune scan` (YAML or JSON), schema-checked."""
    from lltune.fsutil import decode_input, read_input

    snapshot = _parse(path, decode_input(read_input(path, MAX_SNAPSHOT_BYTES), path))
    validate(snapshot, path)
    return snapshot
