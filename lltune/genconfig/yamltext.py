"""How gen-config writes values and comments: one-line YAML values quoted where YAML would
misread them, host text made safe for a comment, wrapped comment lines, and the items and
sections the template lays out."""

import re
from dataclasses import dataclass, field
from typing import Any, List, Optional

WIDTH = 96


def clean(text: Any) -> str:
    """HostFacts-supplied text made safe for a comment: printable, one line."""
    return " ".join(re.sub(r"[^\x20-\x7e]", "?", str(text)).split())


def wrap(text: str, width: int = WIDTH - 8) -> List[str]:
    words = clean(text).split(" ")
    lines: List[str] = []
    current = ""
    for word in words:
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = (current + " " + word).strip()
    if current:
        lines.append(current)
    return lines


def inline(value: Any) -> str:
    """A value as one line of YAML (flow style), quoted where YAML would misread it."""
    import yaml

    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1 << 16)
    text = text.strip()
    if text.endswith("\n..."):
        text = text[:-4].strip()
    elif text.endswith("..."):
        text = text[:-3].strip()
    return text


def on_off(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return clean(value)


def plural(count: int, word: str) -> str:
    return "%d %s%s" % (count, word, "" if count == 1 else "s")


@dataclass
class Commented:
    """A chooser's answer for a key written as a comment: an example to edit and uncomment
    (the key stays absent, so the preset's value applies)."""

    example: Any


@dataclass
class Item:
    key: str
    value: Any
    comments: List[str] = field(default_factory=list)
    block: List[str] = field(default_factory=list)  # nested YAML lines (after "key:")
    commented: bool = False  # written as "# key: value"

    @property
    def text(self) -> str:
        return "" if self.block else inline(self.value)

    def blockify(self) -> "Item":
        """A list of mappings as block YAML (one "- key: value" line per field)."""
        if isinstance(self.value, list) and self.value and not self.block and all(
                isinstance(entry, dict) and entry for entry in self.value):
            for entry in self.value:
                for index, (key, value) in enumerate(entry.items()):
                    self.block.append("%s%s: %s" % ("  - " if index == 0 else "    ", key,
                                                    inline(value)))
        return self


@dataclass
class Section:
    name: str
    comments: List[str]
    items: List[Item] = field(default_factory=list)
    whole: Optional[Item] = None  # a knob that is the whole section (limits, sysctl)
