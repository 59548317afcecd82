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


def dotted(path: Path) -> str:
    text = ""
    for part in path[:MAX_DEPTH]:
        text += "[%d]" % part if isinstance(part, int) else ("." if text else "") + str(part)
    if len(path) > MAX_DEPTH:
        text += "..."
    return text[:200]



class _Frame:
    """An open mapping or sequence while the event stream is read."""

    __slots__ = ("container", "is_map", "key", "index", "expect_key", "seen")

    def __init__(self, container: Any, is_map: bool):
        self.container = container
        self.is_map = is_map
        self.key: Any = None  # the key whose value comes next (mappings)
        self.index = 0  # the index of the next item (sequences)
        self.expect_key = True
        self.seen: Dict[str, int] = {}  # key -> line it first appeared on


# Plain scalars whose meaning YAML's typing changes, in values written free-form (sysctl
# values, coalescing, counts): YAML 1.1 (PyYAML) reads 010 as 8 (octal), 0x10 as 16, 0b10 as
# 2, 1:30 as 90 (sexagesimal) and 1_000 as 1000; YAML 1.2 reads 0o10 as 8. A user who wrote
# them meant the text, or a decimal number: either way they must say which.
_YAML11_INT_FORM = re.compile(r"^[-+]?0[0-9_bBxXoO]|[:_]")
_YAML12_OCTAL = re.compile(r"^[-+]?0[oO][0-7_]+$")


class _Builder:
    """Plain data straight from the YAML event stream (libyaml's parser when PyYAML has it):
    no node graph is composed, so a document costs about the data it holds. Anchors and
    aliases, custom tags, deep nesting, duplicate keys and collection keys are refused as
    they are met; scalars are resolved and constructed as PyYAML's SafeLoader would, except
    the integer forms above, which must be quoted."""

    def __init__(self, text: str, source: str, what: str, max_nodes: Optional[int],
                 record: bool):
        import yaml

        self.yaml = yaml
        self.text = text
        self.source = source
        self.what = what
        self.max_nodes = max_nodes
        self.record = record  # a config: positions, YAML 1.1 booleans, control characters
        self.document = Document()
        self.stack: List[_Frame] = []
        self.last: Path = ()  # the path of the last node that started (syntax errors)
        self.loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
        self.constructor = yaml.constructor.SafeConstructor()

    def path(self) -> Path:
        return tuple(frame.key if frame.is_map else frame.index for frame in self.stack)

    def fail(self, problem: str, event: Any, key: Optional[Path] = None) -> InputError:
        mark = event.start_mark
        where = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        path = self.path() if key is None else key
        return InputError(problem, self.source, *where, key=dotted(path) or "(top level)")

    def run(self) -> Tuple[Any, bool]:
        """-> (the data, whether the stream held a document at all)."""
        yaml = self.yaml
        root: Any = None
        found = False
        documents = 0
        count = 0
        try:
            while True:
                try:
                    if not self.loader.check_event():
                        break
                    event = self.loader.get_event()
                except yaml.YAMLError as exc:
                    raise _syntax_error(exc, self.source, self.text,
                                        self.last if self.record else self.path(),
                                        self.what) from None
                count += 1
                if self.max_nodes is not None and count > self.max_nodes:
                    raise self.fail("more than %d YAML nodes" % self.max_nodes, event)
                kind = type(event)
                if kind is yaml.ScalarEvent:
                    self._anchor_and_tag(event)
                    frame = self.stack[-1] if self.stack else None
                    if frame is not None and frame.is_map and frame.expect_key:
                        self._key(frame, event)
                        continue
                    value = self._scalar(event)
                elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                    self._anchor_and_tag(event)
                    frame = self.stack[-1] if self.stack else None
                    if frame is not None and frame.is_map and frame.expect_key:
                        raise self.fail("a key must be a plain string", event,
                                        self.path()[:-1])
                    self._started(event)
                    if len(self.stack) >= MAX_DEPTH:
                        raise self.fail("nested deeper than %d levels" % MAX_DEPTH, event)
                    is_map = kind is yaml.MappingStartEvent
                    self.stack.append(_Frame({} if is_map else [], is_map))
                    continue
                elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                    value = self.stack.pop().container
                elif kind is yaml.AliasEvent:
                    raise self.fail("anchors and aliases are not allowed in a %s" % self.what,
                                    event)
                elif kind is yaml.DocumentStartEvent:
                    documents += 1
                    if documents > 1:
                        raise InputError("expected a single document in the stream",
                                         self.source, event.start_mark.line + 1,
                                         event.start_mark.column + 1, key="(top level)")
                    continue
                else:
                    continue  # stream start and end, document end
                if not self.stack:
                    root, found = value, True
                    continue
                frame = self.stack[-1]
                if frame.is_map:
                    frame.container[frame.key] = value
                    frame.expect_key = True
                else:
                    frame.container.append(value)
                    frame.index += 1
        except MemoryError:
            raise InputError("too large to read into memory", self.source) from None
        finally:
            self.loader.dispose()
        return root, found

    def _anchor_and_tag(self, event: Any) -> None:
        if getattr(event, "anchor", None):
            raise self.fail("anchors and aliases are not allowed in a %s" % self.what, event)
        tag = event.tag
        if tag and tag not in _STANDARD_TAGS and tag != "!":
            raise self.fail("tag %s is not allowed in a %s" % (tag, self.what), event)

    def _started(self, event: Any) -> None:
        """A node starts at the current path (a value or a sequence item)."""
        if self.record:
            self.last = self.path()
            self.document.positions[self.last] = _mark(event)

    def _key(self, frame: _Frame, event: Any) -> None:
        key = event.value  # a scalar key is its text, whatever YAML would type it as
        mark = _mark(event)
        frame.key = key
        if self.record:
            self.last = self.path()
        bad = _CONTROL_CHARACTER.search(key)
        if bad:
            raise InputError("a key holds the control character %r" % bad.group(), self.source,
                             *mark, key=dotted(self.path()[:-1]))
        if key in frame.seen:
            raise InputError("duplicate key %r (first at line %d)" % (key, frame.seen[key]),
                             self.source, *mark, key=dotted(self.path()))
        frame.seen[key] = mark[0]
        frame.expect_key = False
        if self.record:
            self.document.key_positions[self.path()] = mark

    def _scalar(self, event: Any) -> Any:
        from yaml.nodes import ScalarNode

        self._started(event)
        tag, text = event.tag, event.value
        if tag is None or tag == "!":
            tag = self.loader.resolve(ScalarNode, text, event.implicit)
        plain = event.implicit[0] and not event.style
        if tag == _STR:
            if plain and _YAML12_OCTAL.match(text):
                raise self._quote(event, text, "YAML 1.2 reads it as an octal number")
            value: Any = text
        else:
            if plain and tag in (_INT, _FLOAT) and _YAML11_INT_FORM.search(text):
                raise self._quote(event, text, "YAML 1.1 reads it as %r" % self._construct(
                    event, tag, text))
            value = self._construct(event, tag, text)
        if self.record:
            if isinstance(value, str) and _CONTROL_CHARACTER.search(value):
                raise self.fail("the value holds the control character %r"
                                % _CONTROL_CHARACTER.search(value).group(), event)
            # A plain scalar's style is None from the Python parser and "" from libyaml's.
            if isinstance(value, bool) and plain and text.lower() in _YAML11_BOOL_WORDS:
                self.document.yaml11_bools[self.path()] = text
        return value

    def _construct(self, event: Any, tag: str, text: str) -> Any:
        from yaml.nodes import ScalarNode

        node = ScalarNode(tag, text, event.start_mark, event.end_mark, event.style)
        construct = self.constructor.yaml_constructors.get(tag) or \
            self.constructor.yaml_constructors[None]
        try:
            return construct(self.constructor, node)
        except (self.yaml.YAMLError, ValueError, OverflowError) as exc:
            raise self.fail("unreadable value: %s" % str(exc).splitlines()[0], event) from None

    def _quote(self, event: Any, text: str, reading: str) -> InputError:
        return self.fail("%s is not plain text to YAML: %s; quote it ('%s') if you mean the "
                         "text, or write the number in decimal" % (text, reading, text), event)


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"


def parse_yaml(text: str, source: str, empty: str, what: str = "config",
               max_nodes: Optional[int] = MAX_NODES) -> Tuple[Any, Document]:
    """The plain data of a config (with where each part of it is), or InputError; `empty` is
    the message for a document with nothing in it."""
    builder = _Builder(text, source, what, max_nodes, record=True)
    data, found = builder.run()
    if not found:
        raise InputError(empty, source, 1, 1, key="(top level)")
    return data, builder.document


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


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    """json's object hook: a key given twice is refused (json.loads keeps the last one)."""
    result = dict(pairs)
    if len(result) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


class JSONSyntaxError(InputError):
    """Text that is not JSON (a snapshot may then still be YAML in flow style)."""


def parse_json(text: str, source: str, name: str = "") -> Any:
    """json.loads for an input file (or the member `name` of a bundle): every way it fails is an
    InputError naming the file, and nesting is capped as the YAML loader caps it, so nothing
    later recurses through hostile depth (json's own limit is a RecursionError)."""
    prefix = name + ": " if name else ""
    check_cost(text, source, name or "JSON document")
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise InputError(prefix + "duplicate key %r" % exc.args[0][:100], source) from None
    except json.JSONDecodeError as exc:
        raise JSONSyntaxError(prefix + exc.msg, source, exc.lineno, exc.colno) from None
    except RecursionError:
        raise InputError(prefix + "nested deeper than %d levels" % MAX_DEPTH, source) from None
    except MemoryError:
        raise InputError(prefix + "too large to read into memory", source) from None
    except ValueError as exc:  # e.g. an integer beyond Python's digit limit
        raise InputError(prefix + "unreadable value: %s" % _first(exc), source) from None
    _check_depth(data, source, prefix, MAX_DEPTH)
    return data


def parse_data_yaml(text: str, source: str, what: str) -> Any:
    """A YAML document lltune wrote (a snapshot), through the same strict pass as a config
    (string keys, no duplicates, no anchors or tags, flow style accepted, the integer forms
    YAML changes refused) but with no node cap (a large host's snapshot holds hundreds of
    thousands of nodes) and without recording positions; the caller caps its size."""
    check_cost(text, source, what)
    data, found = _Builder(text, source, what, None, record=False).run()
    if not found:
        raise InputError("the %s is empty" % what, source, 1, 1, key="(top level)")
    return data


# What parsed JSON or YAML may cost in memory before it is refused unparsed: a document of
# small values costs 20 to 30 times its size as Python objects ("{}," is 3 bytes, an empty
# dict 64 and a list slot 8). A large host's snapshot estimates at about 20 MB.
MAX_PARSED_BYTES = 150 * 1024 * 1024


def check_cost(text: str, source: str, what: str = "document") -> None:
    """Refuse a document whose parse would cost more than MAX_PARSED_BYTES, from a count of
    its separators (C speed, no parse): an upper bound on its containers, strings and
    other values, each at what CPython pays for it."""
    containers = text.count("{") + text.count("[")
    strings = text.count('"') // 2 + text.count("'") // 2
    values = text.count(",") + text.count(":") + text.count("\n") + text.count("- ")
    estimate = 72 * containers + 56 * strings + 36 * values
    if estimate > MAX_PARSED_BYTES:
        raise InputError("too many values for a %s (about %d MB once read; lltune reads at most "
                         "%d MB)" % (what, estimate >> 20, MAX_PARSED_BYTES >> 20), source)
