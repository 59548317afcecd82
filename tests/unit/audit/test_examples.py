"""examples/: each config audits clean against its own host (tests/fixtures/hosts/), and the IRQ
names its comments quote are the ones the drivers really register on that host."""

import json
import os
import re

import pytest

from lltune.audit.run import audit
from lltune.cli.main import main
from lltune.config.loader import load
from tests.conftest import REPO, scan_root
from tests.unit.hosts_for_examples import HOST_NAMES, HOSTS_DIR, build_named

EXAMPLES_DIR = os.path.join(REPO, "examples")
# The infos an example is allowed (each explained in its comments); never a warning or error.
ALLOWED_INFO = {
    "single-socket-mellanox": set(),
    "dual-socket-mixed-nics": {"network.irq-cpus-isolated"},
    "lab-template": set(),
}
IRQ_NAME = re.compile(r"mlx5_(?:comp|async)\d+@pci:[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]"
                      r"|(?:ice|i40e)-[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]:misc"
                      r"|(?:ice|i40e)-[a-z0-9]+-TxRx-\d+"
                      r"|en[a-z0-9]+-TxRx-\d+")


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """name -> (snapshot, snapshot file)."""
    result = {}
    for name in HOST_NAMES:
        base = tmp_path_factory.mktemp(name)
        snapshot = scan_root(base / "root", build_named(name, str(base)))
        path = base / "snapshot.json"
        path.write_text(json.dumps(snapshot))
        result[name] = (snapshot, str(path))
    return result


def example(name):
    return os.path.join(EXAMPLES_DIR, name + ".yaml")


def test_every_example_has_a_host():
    names = sorted(n[:-5] for n in os.listdir(EXAMPLES_DIR) if n.endswith(".yaml"))
    assert names == sorted(HOST_NAMES) == sorted(ALLOWED_INFO)
    for name in names:
        assert os.path.exists(os.path.join(HOSTS_DIR, name + ".json"))


def test_hosts_scan_without_gaps(hosts):
    for name, (snapshot, _) in hosts.items():
        assert snapshot["collector_errors"] == [], name
        assert all(nic["channels"] and nic["coalesce"] for nic in snapshot["nics"]), name


@pytest.mark.parametrize("name", HOST_NAMES)
def test_example_audits_clean_on_its_host(hosts, name):
    snapshot, _ = hosts[name]
    findings = audit(load(example(name)), snapshot)
    assert [f.line() for f in findings if f.severity != "info"] == []
    assert {f.code for f in findings} <= ALLOWED_INFO[name]


@pytest.mark.parametrize("name", HOST_NAMES)
def test_example_through_the_command(hosts, capsys, name):
    assert main(["audit", "-c", example(name), "--snapshot", hosts[name][1]]) == 0
    assert "0 errors, 0 warnings" in capsys.readouterr().err


@pytest.mark.parametrize("name", HOST_NAMES)
def test_irq_names_in_comments_are_real(hosts, name):
    snapshot, _ = hosts[name]
    registered = {row["name"] for row in snapshot["irqs"]["irqs"]}
    with open(example(name), encoding="utf-8") as handle:
        comments = "\n".join(line for line in handle if line.lstrip().startswith("#"))
    quoted = set(IRQ_NAME.findall(comments))
    assert quoted, "the example names no IRQ"
    assert sorted(quoted - registered) == []


@pytest.mark.parametrize("name", HOST_NAMES)
def test_example_does_not_work_on_the_wrong_host(hosts, name):
    """The examples are for their hosts: on another, audit says so (exit 1)."""
    other = next(n for n in HOST_NAMES if n != name)
    findings = audit(load(example(name)), hosts[other][0])
    assert any(f.severity == "error" for f in findings)
