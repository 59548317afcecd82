"""Snapshots on disk: writing YAML/JSON, reading them back with their schema checked."""

import json
import os
from typing import Any, Dict, Optional

from lltune.common.documents import JSONSyntaxError, key_path, parse_data_yaml, parse_json
from lltune.common.errors import InputError
from lltune.model.serialize import dump_json, dump_yaml

SCHEMA_VERSION = 1
SCHEMA_FILE = os.path.join(os.path.dirname(__file__), "snapshot.schema.json")
# The large generated host's snapshot is under 1 MB; the parse itself is capped too
# (common.documents.check_cost), so a hostile 60 MB file costs a scan of it, not gigabytes.
MAX_SNAPSHOT_BYTES = 64 * 1024 * 1024


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
            return parse_json(text, path)
        except JSONSyntaxError:
            if path.endswith(".json"):
                raise
            # Not JSON: YAML in flow style ({schema_version: 1, ...}) is a snapshot too.
    # lltune's snapshots never hold anchors or tags (serialize.py), so refusing them costs
    # nothing and stops an alias bomb from expanding to gigabytes.
    return parse_data_yaml(text, path, "snapshot")


# Sums the schema cannot express: what render and plan loop over must stay bounded however
# the snapshot was made (the schema caps each NIC at the kernel's 65,535 queues).
MAX_TOTAL_QUEUES = 1 << 16


def _check_totals(snapshot: Dict[str, Any], source: str) -> None:
    nics = snapshot.get("nics") or []
    total = sum(int((nic.get("queues") or {}).get(k) or 0) for nic in nics for k in ("rx", "tx"))
    if total > MAX_TOTAL_QUEUES:
        raise InputError("the NICs have %d queues in all; lltune reads at most %d"
                         % (total, MAX_TOTAL_QUEUES), source, key="nics")


def validate(snapshot: Any, source: str) -> None:
    """Raise InputError naming the first key that breaks the snapshot schema."""
    import jsonschema

    validator = jsonschema.Draft7Validator(schema())
    errors = sorted(validator.iter_errors(snapshot), key=lambda e: list(e.absolute_path))
    if errors:
        error = errors[0]
        raise InputError("does not match the snapshot schema: %s" % error.message.splitlines()[0]
                         [:200], source, key=key_path(error.absolute_path))
    _check_totals(snapshot, source)


def load(path: str) -> Dict[str, Any]:
    """A snapshot file written by `lltune scan` (YAML or JSON), schema-checked."""
    from lltune.common.files import decode_input, read_input

    snapshot = _parse(path, decode_input(read_input(path, MAX_SNAPSHOT_BYTES,
                                                    "; a snapshot is a few MB"), path))
    validate(snapshot, path)
    return snapshot
