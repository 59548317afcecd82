"""Fuzzing the config path: random text, random YAML documents, random config trees (drawn from
the config schema itself, valid and broken) and damaged snapshots never produce a traceback:
only a Config (then audit findings) or an InputError, i.e. exit codes 0, 1 or 2."""

import copy
import json

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lltune.audit.run import audit, exit_code
from lltune.cli.main import main
from lltune.common.errors import InputError
from lltune.config.loader import load_text
from lltune.config.schema import config_schema
from lltune.genconfig.document import generate

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


HOST = {}  # the scanned host, kept out of the tests' arguments (Hypothesis prints those)


@pytest.fixture(scope="module", autouse=True)
def host(tmp_path_factory):
    from tests.conftest import scan_root
    from tests.unit.hosts_for_examples import build_named

    base = tmp_path_factory.mktemp("fuzz-host")
    probes = build_named("dual-socket-mixed-nics", str(base))
    HOST["snapshot"] = scan_root(base / "root", probes)
    yield
    HOST.clear()


def check(text, expect_valid=False):
    """Load and audit; only InputError may escape the loader. Returns the exit code."""
    snapshot = HOST["snapshot"]
    try:
        config = load_text(text, "fuzz.yaml")
    except InputError as exc:
        assert "\n" not in str(exc)
        assert str(exc).startswith("fuzz.yaml")
        if expect_valid:
            # The schema's CPU list pattern allows what the kernel refuses ("5-3").
            assert "CPU" in str(exc), str(exc)
        return 2
    return exit_code(audit(config, snapshot))


# ------------------------------------------------------------------ random text and YAML

@SETTINGS
@given(st.text(max_size=400))
def test_random_text(text):
    check(text)


YAML_WORDS = st.sampled_from(["version: 1\n", "cpu:\n", "  isolated: ", "  - ", "[", "]", "{",
                              "}", ", ", ": ", "&a ", "*a ", "!!str ", "'", '"', "\n", "  ",
                              "\t", "#", "? ", "---\n", "...\n", "off", "1-3", "null", "~",
                              "network:\n  interfaces:\n", "    - match: {name: eth0}\n"])


@SETTINGS
@given(st.lists(YAML_WORDS, max_size=40).map("".join))
def test_random_yaml_fragments(text):
    check(text)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                    st.floats(allow_nan=True), st.text(max_size=20),
                    st.sampled_from(["on", "off", "yes", "no", "1-3", "0", "eth0", "2M", "",
                                     "performance", "tsc", "@trading", "chronyd.service"]))
TREES = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=5),
    st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(
        ["version", "cpu", "kernel", "memory", "network", "interfaces", "match", "isolated",
         "hugepages", "size", "count", "per_node", "sysctl", "limits", "time", "ptp"])),
        children, max_size=5)), max_leaves=30)


@SETTINGS
@given(TREES)
def test_random_yaml_documents(tree):
    check(yaml.safe_dump(tree, allow_unicode=True))


@SETTINGS
@given(st.dictionaries(st.sampled_from(["cpu", "kernel", "memory", "network", "irq", "time",
                                        "services", "limits", "tuned", "sysctl", "preset"]),
                       TREES, max_size=6))
def test_random_sections_under_version_1(sections):
    document = dict(sections, version=1)
    check(yaml.safe_dump(document, allow_unicode=True))


# ------------------------------------------------------------------ trees from the schema


def from_schema(schema, depth=0):
    """Values the schema accepts (mostly), drawn from its own keywords."""
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            branches = schema[key]
            if all(set(branch) == {"required"} for branch in branches):
                # Constraint-only branches (hugepages: count or per_node): one object each,
                # with that branch's keys required and the other branches' keys left out.
                base = {k: v for k, v in schema.items() if k != key}
                options = []
                for branch in branches:
                    others = {name for other in branches if other is not branch
                              for name in other["required"]}
                    merged = dict(base, required=list(base.get("required", [])) +
                                  branch["required"],
                                  properties={k: v for k, v in base.get("properties", {}).items()
                                              if k not in others})
                    options.append(from_schema(merged, depth))
                return st.one_of(options)
            return st.one_of([from_schema(branch, depth) for branch in branches])
    kinds = schema.get("type", "object")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    options = []
    for kind in kinds:
        if kind == "null":
            options.append(st.none())
        elif kind == "boolean":
            options.append(st.booleans())
        elif kind == "integer":
            options.append(st.integers(schema.get("minimum", -10 ** 6),
                                       schema.get("maximum", 10 ** 6)))
        elif kind == "string":
            if "pattern" in schema:
                options.append(st.from_regex(schema["pattern"], fullmatch=True).filter(
                    lambda s: len(s) < 80))
            else:
                options.append(st.text(max_size=10))
        elif kind == "array":
            items = from_schema(schema.get("items", {}), depth + 1) if depth < 4 else st.none()
            options.append(st.lists(items, max_size=4, unique_by=(
                (lambda x: json.dumps(x, sort_keys=True)) if schema.get("uniqueItems")
                else None)))
        elif kind == "object":
            options.append(_object(schema, depth))
    return st.one_of(options)


def _object(schema, depth):
    properties = schema.get("properties", {})
    if schema.get("minProperties") == schema.get("maxProperties") == 1:  # match: one of
        return st.one_of([st.fixed_dictionaries({key: from_schema(sub, depth + 1)})
                          for key, sub in properties.items()])
    required = set(schema.get("required", []))
    fixed = st.fixed_dictionaries(
        {key: from_schema(sub, depth + 1) for key, sub in properties.items() if key in required},
        optional={key: from_schema(sub, depth + 1) for key, sub in properties.items()
                  if key not in required})
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict) and depth < 4:
        names = st.from_regex(schema.get("propertyNames", {}).get("pattern", r"^[a-z]{1,8}$"),
                              fullmatch=True).filter(lambda s: len(s) < 40)
        return st.tuples(fixed, st.dictionaries(names, from_schema(extra, depth + 1),
                                                max_size=3)).map(lambda p: dict(p[1], **p[0]))
    return fixed


CONFIGS = from_schema(config_schema())
BREAKERS = st.one_of(st.none(), st.integers(), st.text(max_size=6), st.lists(st.integers()),
                     st.booleans(), st.just({}), st.just("off"))


def damage(config, draw_path, value):
    """Replace one value somewhere in the config tree."""
    node = config
    for step in draw_path:
        if isinstance(node, dict) and node:
            key = sorted(node)[step % len(node)]
            if not isinstance(node[key], (dict, list)):
                node[key] = value
                return config
            node = node[key]
        elif isinstance(node, list) and node:
            index = step % len(node)
            if not isinstance(node[index], (dict, list)):
                node[index] = value
                return config
            node = node[index]
        else:
            break
    return config


@SETTINGS
@given(CONFIGS)
def test_configs_drawn_from_the_schema_load_and_audit(config):
    config["version"] = 1
    text = yaml.safe_dump(config, sort_keys=False)
    check(text, expect_valid=True)


@SETTINGS
@given(CONFIGS, st.lists(st.integers(0, 50), min_size=1, max_size=6), BREAKERS)
def test_damaged_schema_configs(config, path, value):
    config["version"] = 1
    check(yaml.safe_dump(damage(config, path, value), sort_keys=False))


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(st.one_of(CONFIGS.map(lambda c: dict(c, version=1)), TREES))
def test_the_command_exits_0_1_or_2(tmp_path, capsys, tree):
    snapshot_file = tmp_path / "s.json"
    if not snapshot_file.exists():
        snapshot_file.write_text(json.dumps(HOST["snapshot"]))
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(tree, allow_unicode=True))
    assert main(["audit", "-c", str(path), "--snapshot", str(snapshot_file)]) in (0, 1, 2)
    err = capsys.readouterr().err
    assert "Traceback" not in err


# ------------------------------------------------------------------ damaged snapshots


def _paths(tree, prefix=()):
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for index, value in enumerate(tree[:3]):
            yield from _paths(value, prefix + (index,))


DAMAGE = st.lists(st.tuples(st.integers(0, 10 ** 6), st.sampled_from([None, None, [], {}, "x",
                                                                      -1])),
                  min_size=1, max_size=4)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(DAMAGE, st.sampled_from(["balanced", "low-latency", "extreme"]))
def test_damaged_snapshots_never_crash_audit_or_gen_config(damage_list, preset):
    """Any snapshot the schema accepts (what `--snapshot` lets through): nulls, empty lists and
    odd values where the host did not tell."""
    from lltune.model.snapshot import validate

    if "paths" not in HOST:
        HOST["paths"] = [p for p in _paths(HOST["snapshot"]) if p and p[0] != "kthreads"]
    paths = HOST["paths"]
    damaged = copy.deepcopy(HOST["snapshot"])
    for index, value in damage_list:
        path = paths[index % len(paths)]
        node = damaged
        try:
            for step in path[:-1]:
                node = node[step]
            node[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue
    try:
        validate(damaged, "damaged")
    except InputError:
        assume(False)
    config = load_text(generate(damaged, preset), "generated.yaml")
    findings = audit(config, damaged)
    assert all(f.severity in ("error", "warning", "info") for f in findings)
