import json

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from lltune.model.serialize import dump_json, dump_yaml, scalar

scalars = (st.none() | st.booleans() | st.integers() | st.text()
           | st.floats(allow_nan=False, allow_infinity=False))
trees = st.recursive(scalars, lambda children: st.lists(children, max_size=4)
                     | st.dictionaries(st.text(), children, max_size=4), max_leaves=30)


@settings(max_examples=300)
@given(trees)
def test_yaml_reads_back_as_the_same_tree(tree):
    assert yaml.safe_load(dump_yaml(tree)) == tree


@given(trees)
def test_json_and_yaml_carry_the_same_tree(tree):
    assert json.loads(dump_json(tree)) == yaml.safe_load(dump_yaml(tree))


def test_strings_yaml_would_misread_are_quoted():
    for text in ("yes", "No", "off", "null", "~", "1", "0x1f", "1:20", "2026-11-26", ".inf",
                 "- a", "a: b", "#x", "", " lead", "mitigations=off"):
        assert yaml.safe_load("k: " + scalar(text)) == {"k": text}, text
    assert scalar("eth0") == "eth0" and scalar("/dev/sda") == "/dev/sda"


def test_header_is_a_comment():
    text = dump_yaml({"a": 1}, header="two\nlines")
    assert text.startswith("# two\n# lines\n") and yaml.safe_load(text) == {"a": 1}
