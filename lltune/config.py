"""The config: its JSON Schema (built from the knob table), a strict YAML loader, and the
effective value of every knob (the config's, else the preset's).

The loader refuses what YAML would otherwise let through silently: duplicate keys, anchors and
aliases (alias bombs), deep nesting, huge documents, custom tags, and YAML 1.1 booleans where a
string is meant (`mitigations: off`). Every error names file:line:column and the key path.
"""

import copy
import functools
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from lltune.cpulist import parse_cpulist
from lltune.errors import InputError, yaml_input_error
from lltune.knobs import CPULIST_PATTERN, DEFAULT_PRESET, KNOBS, KNOBS_BY_PATH, PRESETS, Knob

CONFIG_VERSION = 1
MAX_CONFIG_BYTES = 1024 * 1024
MAX_DEPTH = 32
MAX_NODES = 20000  # YAML events; a real config has a few hundred
_YAML11_BOOL_WORDS = {"yes", "no", "on", "off", "y", "n"}
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
_STANDARD_TAGS = {"tag:yaml.org,2002:" + name for name in (
    "str", "int", "float", "bool", "null", "map", "seq")}

Path = Tuple[Any, ...]


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


@dataclass
class Config:
    """A loaded, schema-valid config."""

    data: Dict[str, Any]
    source: str = "<config>"
    positions: Dict[Path, Tuple[int, int]] = field(default_factory=dict)

    @property
    def preset(self) -> str:
        return self.data.get("preset") or DEFAULT_PRESET

    def is_set(self, path: str) -> bool:
        section, _, name = path.partition(".")
        if not name:
            return section in self.data
        return name in (self.data.get(section) or {})

    def value(self, path: str) -> Any:
        """The effective value: the config's (null included), else the preset's."""
        knob: Knob = KNOBS_BY_PATH[path]
        if self.is_set(path):
            section, _, name = path.partition(".")
            return self.data[section] if not name else self.data[section][name]
        return copy.deepcopy(knob.preset(self.preset))

    def where(self, *path: Any) -> str:
        """"file:line:column" of a key path, as precisely as the file tells."""
        for length in range(len(path), -1, -1):
            position = self.positions.get(tuple(path[:length]))
            if position:
                return "%s:%d:%d" % (self.source, position[0], position[1])
        return self.source


class _Document:
    """What the YAML pass learned besides the data: positions and YAML 1.1 surprises."""

    def __init__(self) -> None:
        self.positions: Dict[Path, Tuple[int, int]] = {}
        self.key_positions: Dict[Path, Tuple[int, int]] = {}
        self.yaml11_bools: Dict[Path, str] = {}


def _mark(node: Any) -> Tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


class _EventPath:
    """The key path of the node the event stream is at, so a YAML syntax error can name it."""

    def __init__(self) -> None:
        # One frame per open collection: [is_mapping, key or index, expecting a key]
        self.frames: List[List[Any]] = []
        self.last: Path = ()  # the path of the last node that started

    def path(self) -> Path:
        return tuple(frame[1] for frame in self.frames if frame[1] is not None)

    def _advance(self) -> None:
        """A node (scalar, alias or whole collection) finished in the current frame."""
        if not self.frames:
            return
        frame = self.frames[-1]
        if frame[0]:
            frame[2] = not frame[2]
        else:
            frame[1] += 1

    def event(self, event: Any) -> None:
        import yaml

        starts = isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent))
        if starts or isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            if self.frames and self.frames[-1][0] and self.frames[-1][2]:
                # A key; a collection used as a key is refused when the tree is built.
                self.frames[-1][1] = "?" if starts else getattr(event, "value", "*")
            self.last = self.path()
        if starts:
            is_mapping = isinstance(event, yaml.MappingStartEvent)
            self.frames.append([is_mapping, None if is_mapping else 0, True])
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            if self.frames:
                self.frames.pop()
            self._advance()
        elif isinstance(event, (yaml.ScalarEvent, yaml.AliasEvent)):
            self._advance()


def _path_before(text: str) -> Path:
    """The key path of the last node that parses in `text` (errors after it ignored)."""
    import yaml

    tracker = _EventPath()
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_event():
            tracker.event(loader.get_event())
    except yaml.YAMLError:
        pass
    finally:
        loader.dispose()
    return tracker.last


def check_events(text: str, source: str, what: str = "config",
                 max_nodes: Optional[int] = MAX_NODES) -> None:
    """Refuse aliases, anchors, custom tags and deep nesting before anything is built.

    A config and a snapshot (`what`) go through here: an alias bomb of 100 KB expands to
    gigabytes once constructed, and deep nesting exhausts the constructor's recursion.
    Snapshots have no node cap (a large host's holds hundreds of thousands).
    """
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    depth = 0
    count = 0
    tracker = _EventPath()
    starts = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    ends = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    try:
        while _next_event_ready(loader, source, text, tracker, what):
            event = loader.get_event()
            count += 1
            problem = None
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                problem = "anchors and aliases are not allowed in a %s" % what
            elif getattr(event, "tag", None) and event.tag not in _STANDARD_TAGS and \
                    event.tag != "!":
                problem = "tag %s is not allowed in a %s" % (event.tag, what)
            elif isinstance(event, starts):
                depth += 1
                if depth > MAX_DEPTH:
                    problem = "nested deeper than %d levels" % MAX_DEPTH
            elif isinstance(event, ends):
                depth -= 1
            if problem is None and max_nodes is not None and count > max_nodes:
                problem = "more than %d YAML nodes" % max_nodes
            if problem:
                mark = event.start_mark
                where = (mark.line + 1, mark.column + 1) if mark else (0, 0)
                raise InputError(problem, source, *where, key=_dotted(tracker.path()))
            tracker.event(event)
    finally:
        loader.dispose()


# PyYAML's reader refuses these characters (yaml/reader.py, Reader.NON_PRINTABLE).
_NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD"
                            "\U00010000-\U0010ffff]")


def _syntax_error(exc: Exception, source: str, text: str, path: Path,
                  what: str = "config") -> InputError:
    """A PyYAML error as a one-line InputError with its line, column and the key reached."""
    import yaml

    key = _dotted(path) or "(top level)"
    if isinstance(exc, yaml.reader.ReaderError) or getattr(exc, "problem_mark", None) is None:
        # The reader reports a character offset (a byte offset from libyaml), not a mark.
        bad = _NON_PRINTABLE.search(text)
        if bad:
            line = text.count("\n", 0, bad.start()) + 1
            column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
            return InputError("character %r is not allowed in a %s" % (bad.group(), what), source,
                              line, column,
                              key=_dotted(_path_before(text[:bad.start()])) or "(top level)")
    error = yaml_input_error(exc, source)
    if error.line:
        return InputError(str(getattr(exc, "problem", None) or getattr(exc, "context", None)
                              or "malformed YAML"), source, error.line, error.column, key=key)
    return error


def _next_event_ready(loader: Any, source: str, text: str = "",
                      tracker: Optional[_EventPath] = None, what: str = "config") -> bool:
    import yaml

    try:
        return bool(loader.check_event())
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, source, text, tracker.last if tracker else (),
                            what) from None


def _build(node: Any, path: Path, document: _Document, source: str) -> Any:
    """Plain data from a composed node, recording positions and refusing duplicate keys."""
    import yaml
    from yaml.constructor import SafeConstructor

    document.positions[path] = _mark(node)
    if isinstance(node, yaml.MappingNode):
        result: Dict[str, Any] = {}
        first_seen: Dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputError("a key must be a plain string", source, *_mark(key_node),
                                 key=_dotted(path) or "(top level)")
            key = key_node.value
            if _CONTROL_CHARACTER.search(key):
                raise InputError("a key holds the control character %r"
                                 % _CONTROL_CHARACTER.search(key).group(), source,
                                 *_mark(key_node), key=_dotted(path))
            if key in first_seen:
                raise InputError("duplicate key %r (first at line %d)" % (key, first_seen[key]),
                                 source, *_mark(key_node), key=_dotted(path + (key,)))
            first_seen[key] = _mark(key_node)[0]
            document.key_positions[path + (key,)] = _mark(key_node)
            result[key] = _build(value_node, path + (key,), document, source)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (index,), document, source)
                for index, item in enumerate(node.value)]
    try:
        value = SafeConstructor().construct_object(node)
    except (yaml.YAMLError, ValueError, OverflowError) as exc:
        raise InputError("unreadable value: %s" % str(exc).splitlines()[0], source,
                         *_mark(node), key=_dotted(path)) from None
    # Escapes ("\n", "\x1b") reach no value lltune writes: the schema's patterns end in $,
    # which Python's re lets match before a final newline.
    if isinstance(value, str) and _CONTROL_CHARACTER.search(value):
        raise InputError("the value holds the control character %r"
                         % _CONTROL_CHARACTER.search(value).group(), source, *_mark(node),
                         key=_dotted(path))
    # A plain scalar's style is None from the Python parser and "" from libyaml's.
    if isinstance(value, bool) and not node.style and \
            node.value.lower() in _YAML11_BOOL_WORDS:
        document.yaml11_bools[path] = node.value
    return value


def _dotted(path: Path) -> str:
    text = ""
    for part in path[:MAX_DEPTH]:
        text += "[%d]" % part if isinstance(part, int) else ("." if text else "") + str(part)
    if len(path) > MAX_DEPTH:
        text += "..."
    return text[:200]


def parse_yaml(text: str, source: str) -> Tuple[Any, _Document]:
    import yaml

    document = _Document()
    check_events(text, source)
    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, source, text, ()) from None
    finally:
        loader.dispose()
    if node is None:
        raise InputError("the config is empty (it needs at least `version: 1`)", source, 1, 1,
                         key="(top level)")
    return _build(node, (), document, source), document


def _schema_error_message(error: Any, document: _Document) -> Tuple[str, Path]:
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


def validate_data(data: Any, source: str, document: Optional[_Document] = None) -> None:
    """Raise InputError for the first schema violation, with its position and key path."""
    document = document or _Document()
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
    raise InputError(message + more, source, line, column, key=_dotted(path) or "(top level)")


_CPULIST_PATTERNS = (CPULIST_PATTERN, r"^$|" + CPULIST_PATTERN[1:])


def check_cpu_lists(data: Any, source: str, document: Optional[_Document] = None) -> None:
    """Raise InputError for a CPU list the schema's pattern accepts but the kernel would not
    ("5-3", "0-9999": reversed ranges, CPUs beyond NR_CPUS)."""
    document = document or _Document()

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
                raise InputError(str(exc), source, line, column, key=_dotted(path)) from None
        elif isinstance(value, dict):
            properties = schema.get("properties", {})
            for key, item in value.items():
                walk(properties.get(key, schema.get("additionalProperties")), item,
                     path + (key,))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(schema.get("items"), item, path + (index,))

    walk(config_schema(), data, ())


def load_text(text: str, source: str = "<config>") -> Config:
    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise InputError("larger than %d bytes; a config is a few KB" % MAX_CONFIG_BYTES, source)
    data, document = parse_yaml(text, source)
    if not isinstance(data, dict):
        raise InputError("the top level must be a mapping (version: 1, cpu: ..., ...)", source,
                         1, 1, key="(top level)")
    validate_data(data, source, document)
    check_cpu_lists(data, source, document)
    positions = dict(document.positions)
    positions.update(document.key_positions)
    return Config(data=data, source=source, positions=positions)


def load(path: str) -> Config:
    """Read and validate a config file; InputError (exit 2) for anything wrong with it."""
    from lltune.fsutil import decode_input, read_input

    raw = read_input(path, MAX_CONFIG_BYTES, "; a config is a few KB")
    return load_text(decode_input(raw, path), path)


def knob_values(config: Config) -> List[Tuple[Knob, Any]]:
    """Every knob with its effective value, in table order."""
    return [(knob, config.value(knob.path)) for knob in KNOBS]
