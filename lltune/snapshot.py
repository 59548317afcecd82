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


def _parse(path: str, text: str) -> Any:
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(exc.msg, path, exc.lineno, exc.colno) from None
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader (C or Python)
    except yaml.YAMLError as exc:
        raise yaml_input_error(exc, path) from None


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
        key = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        raise InputError("does not match the snapshot schema: %s" % error.message.splitlines()[0]
                         [:200], source, key=key)


def load(path: str) -> Dict[str, Any]:
    """A snapshot file written by `lltune scan` (YAML or JSON), schema-checked."""
    from lltune.fsutil import decode_input, read_input

    snapshot = _parse(path, decode_input(read_input(path, MAX_SNAPSHOT_BYTES), path))
    validate(snapshot, path)
    return snapshot
