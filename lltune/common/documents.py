"""Reading documents users and hosts hand us: a strict YAML pass and a bounded JSON parse.

The YAML pass refuses what YAML would otherwise let through silently: anchors and aliases
(alias bombs), deep nesting, huge documents, custom tags, duplicate keys and non-string keys;
it records where every node and key is, and which plain scalars YAML 1.1 read as booleans
(`mitigations: off`), so a schema error can name file:line:column and the key path. Configs and
snapshots both go through here; the JSON parser caps nesting the same way.
"""

import json
import re
from typing import Any, Dict, List, Optional, Tuple

from lltune.common.errors import InputError

MAX_DEPTH = 32
MAX_NODES = 20000  # YAML events; a real config has a few hundred
_YAML11_BOOL_WORDS = {"yes", "no", "on", "off", "y", "n"}
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")
_STANDARD_TAGS = {"tag:yaml.org,2002:" + name for name in (
    "str", "int", "float", "bool", "null", "map", "seq")}

Path = Tuple[Any, ...]


class Document:
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
                raise InputError(problem, source, *where, key=dotted(tracker.path()))
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

    key = dotted(path) or "(top level)"
    if isinstance(exc, yaml.reader.ReaderError) or getattr(exc, "problem_mark", None) is None:
        # The reader reports a character offset (a byte offset from libyaml), not a mark.
        bad = _NON_PRINTABLE.search(text)
        if bad:
            line = text.count("\n", 0, bad.start()) + 1
            column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
            return InputError("character %r is not allowed in a %s" % (bad.group(), what), source,
                              line, column,
                              key=dotted(_path_before(text[:bad.start()])) or "(top level)")
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


def _build(node: Any, path: Path, document: Document, source: str) -> Any:
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
                                 key=dotted(path) or "(top level)")
            key = key_node.value
            if _CONTROL_CHARACTER.search(key):
                raise InputError("a key holds the control character %r"
                                 % _CONTROL_CHARACTER.search(key).group(), source,
                                 *_mark(key_node), key=dotted(path))
            if key in first_seen:
                raise InputError("duplicate key %r (first at line %d)" % (key, first_seen[key]),
                                 source, *_mark(key_node), key=dotted(path + (key,)))
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
                         *_mark(node), key=dotted(path)) from None
    # Escapes ("\n", "\x1b") reach no value lltune writes: the schema's patterns end in $,
    # which Python's re lets match before a final newline.
    if isinstance(value, str) and _CONTROL_CHARACTER.search(value):
        raise InputError("the value holds the control character %r"
                         % _CONTROL_CHARACTER.search(value).group(), source, *_mark(node),
                         key=dotted(path))
    # A plain scalar's style is None from the Python parser and "" from libyaml's.
    if isinstance(value, bool) and not node.style and \
            node.value.lower() in _YAML11_BOOL_WORDS:
        document.yaml11_bools[path] = node.value
    return value


def dotted(path: Path) -> str:
    text = ""
    for part in path[:MAX_DEPTH]:
        text += "[%d]" % part if isinstance(part, int) else ("." if text else "") + str(part)
    if len(path) > MAX_DEPTH:
        text += "..."
    return text[:200]



def parse_yaml(text: str, source: str, empty: str) -> Tuple[Any, Document]:
    """The plain data of a config (with where each part of it is), or InputError; `empty` is
    the message for a document with nothing in it."""
    import yaml

    document = Document()
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
        raise InputError(empty, source, 1, 1, key="(top level)")
    return _build(node, (), document, source), document


def yaml_input_error(exc: Exception, source: str) -> InputError:
    """A PyYAML error as an InputError at its position (duck-typed: no yaml import here)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None)
    if mark is None:
        return InputError("malformed YAML: %s" % exc, source)
    return InputError(str(problem or "malformed YAML"), source, mark.line + 1, mark.column + 1)


def _first(exc: Exception) -> str:
    """The gist of a library's error: its first line, up to the first ';'."""
    return (str(exc).splitlines() or [type(exc).__name__])[0].split(";")[0]


def key_path(path: Any) -> str:
    """A JSON path as dotted text for a message ("nics.0.name")."""
    return ".".join(str(part) for part in path)[:200] or "(top level)"


def _check_depth(data: Any, source: str, prefix: str, max_depth: int) -> None:
    """Refuse JSON nested deeper than `max_depth` (without recursing: that is the attack)."""
    stack = [(data, ())] if isinstance(data, (dict, list)) else []
    while stack:
        value, path = stack.pop()
        if len(path) >= max_depth:
            raise InputError(prefix + "nested deeper than %d levels" % max_depth, source,
                             key=key_path(path))
        for key, item in value.items() if isinstance(value, dict) else enumerate(value):
            if isinstance(item, (dict, list)):
                stack.append((item, path + (key,)))


def parse_json(text: str, source: str, name: str = "") -> Any:
    """json.loads for an input file (or the member `name` of a bundle): every way it fails is an
    InputError naming the file, and nesting is capped as the YAML loader caps it, so nothing
    later recurses through hostile depth (json's own limit is a RecursionError)."""
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


def parse_data_yaml(text: str, source: str, what: str) -> Any:
    """A YAML document lltune wrote (a snapshot): anchors, tags and deep nesting refused before
    anything is built, so an alias bomb never expands; no node cap (a large host's snapshot
    holds hundreds of thousands)."""
    import yaml

    check_events(text, source, what, max_nodes=None)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # a SafeLoader (C or Python)
    except yaml.YAMLError as exc:
        raise yaml_input_error(exc, source) from None
    except MemoryError:
        raise InputError("too large to read into memory", source) from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer beyond Python's digit limit
        raise InputError("unreadable value: %s" % _first(exc), source) from None
