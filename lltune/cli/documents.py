"""The JSON documents of `apply`, `apply --plan`, `rollback` and `backups` with --format json.

Automation (the Ansible collection) reads them instead of parsing text: every one says what
happened (changed), whether a reboot is needed (reboot_required) and which backup bundle it is
about (backup_id), plus the line the text format prints (message). Each has a JSON Schema
beside this module (NAME.schema.json, printed by `lltune schema NAME`).
"""

import json
import os
import sys
from typing import Any, Dict, List, Optional

from lltune.tune.session import Outcome

NAMES = ("apply", "plan", "rollback", "backups")


def _common(command: str, changed: bool, reboot: bool, bundle: Optional[str],
            message: str) -> Dict[str, Any]:
    return {"command": command, "changed": changed, "reboot_required": reboot,
            "backup_id": os.path.basename(bundle) if bundle else None, "bundle": bundle,
            "message": message}


def outcome_document(command: str, outcome: Outcome) -> Dict[str, Any]:
    """apply's (with its notes) or rollback's document."""
    document = _common(command, outcome.changed, outcome.reboot_needed, outcome.bundle,
                       outcome.message)
    if command == "apply":
        document["notes"] = list(outcome.details)
    return document


def plan_message(bundle: Optional[str]) -> str:
    if bundle is None:
        return "no plan bundle written (--no-bundle): nothing was changed"
    return "plan bundle: %s (nothing else was changed)" % bundle


def plan_document(plan: Dict[str, Any], bundle: Optional[str]) -> Dict[str, Any]:
    """`plan` is the document apply writes into its bundle as plan.json. A knob whose current
    value the host cannot tell counts as a change: apply will set it."""
    changed = any(change["status"] != "ok" for change in plan["changes"])
    document = _common("plan", changed, bool(plan["reboot_needed"]), bundle,
                       plan_message(bundle))
    document["plan"] = plan
    return document


def backups_message(listed: int, deleted: int, unrecorded: int) -> str:
    message = "%d backup bundle(s)" % listed
    if deleted:
        message += ", %d pruned (--keep)" % deleted
    if unrecorded:
        message += ", %d not in lltune's record (ignored)" % unrecorded
    return message


def backups_document(bundles: List[Dict[str, Any]], deleted: List[str],
                     unrecorded: List[str]) -> Dict[str, Any]:
    document = _common("backups", bool(deleted), False, None,
                       backups_message(len(bundles), len(deleted), len(unrecorded)))
    document.update(bundles=bundles, deleted=deleted, unrecorded=unrecorded)
    return document


def emit(document: Dict[str, Any]) -> None:
    """The one document on standard output, as `verify --format json` prints its own."""
    sys.stdout.write(json.dumps(document, indent=1) + "\n")


def schema(name: str) -> Dict[str, Any]:
    path = os.path.join(os.path.dirname(__file__), "%s.schema.json" % name)
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)
