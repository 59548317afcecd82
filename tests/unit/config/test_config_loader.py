"""The config loader and schema: what loads, what each key's effective value is, where each key
sits, and the shipped schema file."""

import json
import os

import jsonschema
import pytest

from lltune.cli.main import main
from lltune.common.errors import InputError
from lltune.config import knobs
from lltune.config.loader import Config, load, load_text
from lltune.config.schema import CONFIG_VERSION, config_schema
from tests.conftest import REPO

SHIPPED = os.path.join(REPO, "lltune", "config", "config.schema.json")
EXAMPLES = os.path.join(REPO, "examples")

FULL = """\
version: 1
preset: extreme
cpu:
  isolated: 2-7
  housekeeping: 0-1
  smt: 'off'
kernel:
  mitigations: 'off'
  mitigations_risk_acknowledged: true
  cmdline_add: [intel_idle.max_cstate=1]
memory:
  hugepages:
    - size: 1G
      count: 4
      at_boot: true
network:
  interfaces:
    - match: {mac: 'b8:ce:f6:00:00:01'}
      role: latency
      irq_cpus: 0-1
      rps_cpus: ''
sysctl:
  net.core.rmem_max: 16777216
  kernel.sched_min_granularity_ns: '10000000'
"""


def test_the_shipped_schema_file_is_config_schema():
    with open(SHIPPED, encoding="utf-8") as handle:
        shipped = json.load(handle)
    assert shipped == config_schema(), (
        "lltune/config/config.schema.json is stale: regenerate it with "
        "`python -m lltune schema > lltune/config/config.schema.json`")


def test_schema_is_valid_draft7():
    jsonschema.Draft7Validator.check_schema(config_schema())


def test_schema_subcommand_prints_the_config_schema(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == config_schema()
    assert main(["schema", "snapshot"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "lltune snapshot"


def test_every_section_of_the_knob_table_is_in_the_schema():
    properties = config_schema()["properties"]
    for knob in knobs.KNOBS:
        section = properties[knob.section]
        if knob.name:
            assert knob.name in section["properties"], knob.path


def test_every_preset_value_is_valid_for_its_knob():
    for knob in knobs.KNOBS:
        for preset in knobs.PRESETS:
            value = knob.preset(preset)
            if value is not None:
                jsonschema.validate(value, knob.schema)


def test_minimal_config_takes_the_preset():
    config = load_text("version: 1\n", "c.yaml")
    assert config.preset == knobs.DEFAULT_PRESET
    assert config.value("cpu.governor") == "performance"
    assert config.value("kernel.nohz_full") is True
    assert config.value("cpu.isolated") is None
    assert not config.is_set("cpu.governor")


def test_explicit_null_means_leave_alone():
    config = load_text("version: 1\ncpu:\n  governor: null\n", "c.yaml")
    assert config.is_set("cpu.governor") and config.value("cpu.governor") is None


def test_full_config_values():
    config = load_text(FULL, "full.yaml")
    assert config.preset == "extreme"
    assert config.value("cpu.max_exit_latency_us") == 0  # from the extreme preset
    assert config.value("cpu.smt") == "off"
    assert config.value("kernel.mitigations") == "off"
    assert config.value("memory.hugepages") == [{"size": "1G", "count": 4, "at_boot": True}]
    assert config.value("sysctl")["kernel.sched_min_granularity_ns"] == "10000000"
    assert config.value("network.interfaces")[0]["rps_cpus"] == ""


def test_value_returns_a_copy_of_preset_defaults():
    config = load_text("version: 1\n", "c.yaml")
    config.value("kernel.isolcpus_flags").append("nohz")
    assert config.value("kernel.isolcpus_flags") == ["managed_irq", "domain"]


def test_where_names_file_line_and_column():
    config = load_text(FULL, "full.yaml")
    assert config.where("cpu", "isolated") == "full.yaml:4:3"
    assert config.where("network", "interfaces", 0, "irq_cpus") == "full.yaml:20:7"
    assert config.where("memory", "hugepages", 0) == "full.yaml:13:7"
    # A key that is absent: the nearest enclosing one that is there.
    assert config.where("cpu", "governor") == "full.yaml:3:1"
    assert config.where("tuned", "base_profile") == "full.yaml:1:1"


def test_load_reads_a_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(FULL)
    config = load(str(path))
    assert isinstance(config, Config) and config.source == str(path)
    assert config.data["version"] == CONFIG_VERSION


@pytest.mark.parametrize("text, message", [
    ("version: 1\nkernel:\n  mitigations: off\n", "write 'off' in quotes"),
    ("version: 1\ncpu:\n  smt: on\n", "write 'on' in quotes"),
    ("version: 1\nmemory:\n  swap: off\n", "write 'off' in quotes"),
    ("version: 1\nsysctl:\n  kernel.foo: yes\n", "write 'yes' in quotes"),
])
def test_yaml_11_booleans_where_a_word_is_meant(text, message):
    with pytest.raises(InputError) as error:
        load_text(text, "c.yaml")
    assert message in str(error.value)


def test_yaml_11_booleans_are_fine_where_a_boolean_is_meant():
    config = load_text("version: 1\ncpu:\n  turbo: off\nkernel:\n  nohz_full: yes\n", "c.yaml")
    assert config.value("cpu.turbo") is False and config.value("kernel.nohz_full") is True


@pytest.mark.parametrize("text, where", [
    ("version: 1\ncpu:\n  governor: performance\n  governor: powersave\n", "c.yaml:4:3"),
    ("version: 1\nnetwork:\n  interfaces:\n    - match: {name: a, name: b}\n", "c.yaml:4:24"),
])
def test_duplicate_keys_at_any_depth(text, where):
    with pytest.raises(InputError) as error:
        load_text(text, "c.yaml")
    assert str(error.value).startswith(where) and "duplicate key" in str(error.value)


@pytest.mark.parametrize("text, key", [
    ("version: 1\nbogus: 1\n", "bogus"),
    ("version: 1\ncpu:\n  bogus: 1\n", "cpu.bogus"),
    ("version: 1\nnetwork:\n  interfaces:\n    - match: {name: a}\n      bogus: 1\n",
     "network.interfaces[0].bogus"),
    ("version: 1\nnetwork:\n  interfaces:\n    - match: {name: a}\n      rings: {bogus: 1}\n",
     "network.interfaces[0].rings.bogus"),
    ("version: 1\nmemory:\n  hugepages:\n    - {size: 2M, count: 1, bogus: 1}\n",
     "memory.hugepages[0].bogus"),
    ("version: 1\ntime:\n  ptp: {interface: eth0, bogus: 1}\n", "time.ptp.bogus"),
    ("version: 1\nlimits:\n  - {domain: '@a', bogus: 1}\n", "limits[0].bogus"),
])
def test_unknown_keys_at_every_depth(text, key):
    with pytest.raises(InputError) as error:
        load_text(text, "c.yaml")
    assert ": %s: unknown key" % key in str(error.value)


def test_the_first_error_in_the_file_is_reported_with_a_count():
    text = "version: 1\ncpu:\n  governor: fast\n  smt: maybe\nkernel:\n  audit: 3\n"
    with pytest.raises(InputError) as error:
        load_text(text, "c.yaml")
    assert str(error.value).startswith("c.yaml:3:3: cpu.governor: ")
    assert "(and 2 more)" in str(error.value)


@pytest.mark.parametrize("name", ["single-socket-mellanox.yaml", "dual-socket-mixed-nics.yaml",
                                  "lab-template.yaml"])
def test_examples_load(name):
    config = load(os.path.join(EXAMPLES, name))
    assert config.data["version"] == 1
