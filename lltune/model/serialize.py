"""Writing plain data (dict, list, str, int, float, bool, None) as YAML or JSON.

PyYAML's emitter runs its representers in Python and needs seconds for the snapshot of a
256-CPU host; this emitter writes the same data in milliseconds. Lists of scalars are written in
flow style ([0, 1, 2]); a string is written plain only when YAML 1.1 would read it back as the
same string, and JSON-quoted otherwise (JSON's escapes are a subset of YAML's double-quoted ones).
"""

import json
import re
from typing import Any, List

_PLAIN = re.compile(r"^[A-Za-z_/][A-Za-z0-9_./+@-]*\Z")  # \Z: "$" matches before a final "\n"
# Words YAML 1.1 (PyYAML) reads as booleans or null.
_RESERVED = {"y", "yes", "n", "no", "true", "false", "on", "off", "null", "~"}
# Characters a YAML double-quoted scalar must not hold raw (line breaks YAML folds, C0/C1
# controls, DEL, the BOM); json.dumps leaves some of them raw with ensure_ascii=False.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff]")


def _escape(match: "re.Match[str]") -> str:
    return "\\u%04x" % ord(match.group(0))


def scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if abs(value) == float("inf"):
            return ".inf" if value > 0 else "-.inf"
        text = repr(value)
        mantissa, e, exponent = text.partition("e")
        # YAML 1.1 reads "5e-324" as a string: its floats need a dot in the mantissa.
        return (mantissa if "." in mantissa else mantissa + ".0") + e + exponent
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in _RESERVED:
        return text
    return _UNSAFE.sub(_escape, json.dumps(text, ensure_ascii=False))


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list, tuple))


def _emit(value: Any, indent: str, out: List[str]) -> None:
    """Append the block form of a dict or list (non-empty) at `indent`."""
    if isinstance(value, dict):
        for key, item in value.items():
            head = indent + scalar(key) + ":"
            if _is_scalar(item):
                out.append(head + " " + scalar(item))
            elif not item:
                out.append(head + (" {}" if isinstance(item, dict) else " []"))
            elif isinstance(item, (list, tuple)) and all(map(_is_scalar, item)):
                out.append(head + " [" + ", ".join(map(scalar, item)) + "]")
            else:
                out.append(head)
                _emit(item, indent + "  ", out)
        return
    for item in value:
        if _is_scalar(item):
            out.append(indent + "- " + scalar(item))
        elif not item:
            out.append(indent + ("- {}" if isinstance(item, dict) else "- []"))
        elif isinstance(item, (list, tuple)) and all(map(_is_scalar, item)):
            out.append(indent + "- [" + ", ".join(map(scalar, item)) + "]")
        else:
            nested: List[str] = []
            _emit(item, indent + "  ", nested)
            nested[0] = indent + "- " + nested[0][len(indent) + 2:]
            out.extend(nested)


def dump_yaml(value: Any, header: str = "") -> str:
    out: List[str] = ["# " + line for line in header.splitlines()]
    if _is_scalar(value) or not value:
        out.append(scalar(value) if _is_scalar(value) else ("{}" if isinstance(value, dict)
                                                             else "[]"))
    else:
        _emit(value, "", out)
    return "\n".join(out) + "\n"


def dump_json(value: Any) -> str:
    # No indent: with indent CPython falls back to its pure-Python encoder (5x slower here).
    return json.dumps(value, separators=(",", ":")) + "\n"
