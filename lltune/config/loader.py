"""Loading a config: the strict YAML pass (common.documents), the schema (config.schema), and
the effective value of every knob (the config's, else the preset's).

Every error names file:line:column and the key path, and is an InputError (exit 2).
"""

import copy
from dataclasses import dataclass, field
from typing import Any, Dict, List, Tuple

from lltune.common.documents import Path, parse_yaml
from lltune.common.errors import InputError
from lltune.config.knobs import DEFAULT_PRESET, KNOBS, KNOBS_BY_PATH, Knob
from lltune.config.schema import check_cpu_lists, validate_data

MAX_CONFIG_BYTES = 1024 * 1024


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



def load_text(text: str, source: str = "<config>") -> Config:
    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise InputError("larger than %d bytes; a config is a few KB" % MAX_CONFIG_BYTES, source)
    data, document = parse_yaml(
        text, source, "the config is empty (it needs at least `version: 1`)")
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
    from lltune.common.files import decode_input, read_input

    raw = read_input(path, MAX_CONFIG_BYTES, "; a config is a few KB")
    return load_text(decode_input(raw, path), path)


def knob_values(config: Config) -> List[Tuple[Knob, Any]]:
    """Every knob with its effective value, in table order."""
    return [(knob, config.value(knob.path)) for knob in KNOBS]
