"""The config's JSON Schema (Draft 7), assembled from the knob table, and validation against
it with messages that name file:line:column and the key path.

Two checks go beyond Draft 7: "integer" excludes floats (2.0 would reach tuned.conf as
"2.0"), and CPU lists are parsed as the kernel parses them ("5-3" and CPUs beyond NR_CPUS pass
the pattern but not the kernel).
"""

import copy
import functools
from typing import Any, Dict, Optional, Tuple

from lltune.common.cpulist import parse_cpulist
from lltune.common.documents import Document, Path, dotted
from lltune.common.errors import InputError
from lltune.config.knobs import CPULIST_PATTERN, KNOBS, PRESETS

CONFIG_VERSION = 1


def _nullable(schema: Dict[str, Any]) -> Dict[str, Any]:
    """The knob's schema, also accepting null ("leave this alone")."""
    result = copy.deepcopy(schema)
    kinds = result.get("type")
    if kinds is not None:
        result["type"] = (list(kinds) if isinstance(kinds, list) else [kinds]) + ["null"]
    if "enum" in result:
        result["enum"] = list(result["enum"]) + [None]
    if "oneOf" in result or "anyOf" in result:
        return {"anyOf": [{"type": "null"}, result]}
    return result


def config_schema() -> Dict[str, Any]:
    """The config's JSON Schema (Draft 7), assembled from the knob table."""
    sections: Dict[str, Any] = {}
    for knob in KNOBS:
        entry = dict(_nullable(knob.schema), description=knob.why)
        if not knob.name:
            sections[knob.section] = entry
            continue
        section = sections.setdefault(knob.section, {
            "type": "object", "additionalProperties": False, "properties": {}})
        section["properties"][knob.name] = entry
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://lltune.example/schemas/config.schema.json",
        "title": "lltune config",
        "description": "A host's low-latency settings. An absent key takes the preset's "
                       "value; null means lltune leaves that setting alone.",
        "type": "object",
        "additionalProperties": False,
        "required": ["version"],
        "properties": dict({
            "version": {"type": "integer", "const": CONFIG_VERSION,
                        "description": "config format version"},
            "preset": {"enum": list(PRESETS), "description": "defaults for absent keys"},
        }, **sections),
    }



def _schema_error_message(error: Any, document: Document) -> Tuple[str, Path]:
    path: Path = tuple(error.absolute_path)
    message = error.message.splitlines()[0]
    if "propertyNames" in error.schema_path and isinstance(error.instance, str):
        path += (error.instance,)  # the offending key itself, not the mapping holding it
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        if extra:
            return "unknown key %r" % extra[0], path + (extra[0],)
    expected = _float_for_integer(error)
    if expected:
        return expected, path
    if path in document.yaml11_bools:
        word = document.yaml11_bools[path]
        return ("YAML reads an unquoted %s as a boolean; write '%s' in quotes if you mean the "
                "word" % (word, word)), path
    if len(message) > 200:
        message = message[:200] + "..."
    return message, path


@functools.cache
def _validator_class() -> Any:
    """Draft 7, except that "integer" excludes floats.

    Draft 7 counts 2.0 as an integer (a number with no fractional part), but lltune writes a
    value as Python prints it: `sched_rt_runtime_us: -1.0` would reach tuned.conf as
    kernel.sched_rt_runtime_us=-1.0, which sysctl refuses. bool is already excluded.
    `validators.extend(..., type_checker=)` is in jsonschema since 3.0 (RHEL 9 ships 3.2).
    """
    import jsonschema

    base = jsonschema.Draft7Validator
    checker = base.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: isinstance(value, int) and not isinstance(value, bool))
    return jsonschema.validators.extend(base, type_checker=checker)


_TYPE_WORDS = {"integer": "an integer", "string": "a string", "boolean": "a boolean",
               "object": "a mapping", "array": "a list"}


def _float_for_integer(error: Any) -> Optional[str]:
    """"expected an integer, got 2.0" for a float where the schema (or one branch of its
    anyOf/oneOf, as for `memlock: unlimited | integer`) wants an integer."""
    if not isinstance(error.instance, float):
        return None
    pending = [error]
    while pending:
        one = pending.pop()
        kinds = one.validator_value if isinstance(one.validator_value, list) else [
            one.validator_value]
        if one.validator == "type" and "integer" in kinds and "number" not in kinds:
            words = [_TYPE_WORDS.get(kind, kind) for kind in kinds if kind != "null"]
            return "expected %s, got %r" % (" or ".join(words), error.instance)
        pending.extend(sub for sub in one.context or () if not sub.path)  # same value only
    return None


def validate_data(data: Any, source: str, document: Optional[Document] = None) -> None:
    """Raise InputError for the first schema violation, with its position and key path."""
    document = document or Document()
    validator = _validator_class()(config_schema())
    errors = list(validator.iter_errors(data))
    if not errors:
        return

    def position(error: Any) -> Tuple[int, int]:
        message, path = _schema_error_message(error, document)
        return document.key_positions.get(path) or document.positions.get(path) or (0, 0)
    error = min(errors, key=lambda e: (position(e), len(list(e.absolute_path))))
    message, path = _schema_error_message(error, document)
    line, column = document.key_positions.get(path) or document.positions.get(path) or (0, 0)
    others = {tuple(e.absolute_path) for e in errors} - {tuple(error.absolute_path)}
    more = " (and %d more)" % len(others) if others else ""
    raise InputError(message + more, source, line, column, key=dotted(path) or "(top level)")


_CPULIST_PATTERNS = (CPULIST_PATTERN, r"^$|" + CPULIST_PATTERN[1:])


def check_cpu_lists(data: Any, source: str, document: Optional[Document] = None) -> None:
    """Raise InputError for a CPU list the schema's pattern accepts but the kernel would not
    ("5-3", "0-9999": reversed ranges, CPUs beyond NR_CPUS)."""
    document = document or Document()

    def walk(schema: Any, value: Any, path: Path) -> None:
        if not isinstance(schema, dict):
            return
        for branch in schema.get("anyOf", []) + schema.get("oneOf", []):
            walk(branch, value, path)
        if isinstance(value, str) and value and schema.get("pattern") in _CPULIST_PATTERNS:
            try:
                parse_cpulist(value)
            except ValueError as exc:
                line, column = document.positions.get(path) or document.key_positions.get(
                    path) or (0, 0)
                raise InputError(str(exc), source, line, column, key=dotted(path)) from None
        elif isinstance(value, dict):
            properties = schema.get("properties", {})
            for key, item in value.items():
                walk(properties.get(key, schema.get("additionalProperties")), item,
                     path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(schema.get("items"), item, path + (index,))

    walk(config_schema(), data, ())
