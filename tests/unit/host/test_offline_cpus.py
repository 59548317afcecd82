"""CPUs taken offline, on a tree without /sys/devices/system/cpu/online: only each CPU's own
`online` file tells (issue 11). They are offline in the snapshot, and gen-config never
isolates them."""

import os
import shutil

import pytest

from lltune.common.cpulist import parse_cpulist
from lltune.config.loader import load_text
from lltune.genconfig.document import generate
from lltune.model.queries import online_cpus
from tests.conftest import scan_root

CPU = "sys/devices/system/cpu"


@pytest.fixture()
def tree(tmp_path, hwloc_trees):
    """The real 8-CPU tree with CPUs 6 and 7 offline as the kernel shows it: online = 0, no
    topology directory; and no global online list."""
    root = tmp_path / "root"
    shutil.copytree(hwloc_trees["8em64t-2s2ca2c"], str(root), symlinks=True)
    os.unlink(str(root / CPU / "online"))
    for cpu in (6, 7):
        (root / CPU / ("cpu%d" % cpu) / "online").write_text("0\n")
        shutil.rmtree(str(root / CPU / ("cpu%d" % cpu) / "topology"))
    for cpu in (1, 2, 3, 4, 5):
        (root / CPU / ("cpu%d" % cpu) / "online").write_text("1\n")
    return root


def test_offline_by_their_own_file_only(tree):
    snapshot = scan_root(tree)
    cpus = {entry["id"]: entry for entry in snapshot["cpu"]["cpus"]}
    assert [cpu for cpu in sorted(cpus) if not cpus[cpu]["online"]] == [6, 7]
    assert cpus[6]["package"] is None and cpus[7]["package"] is None
    assert snapshot["cpu"]["online"] == [0, 1, 2, 3, 4, 5], "cpu0 has no online file: online"
    assert online_cpus(snapshot) == [0, 1, 2, 3, 4, 5]


def test_gen_config_never_isolates_an_offline_cpu(tree):
    config = load_text(generate(scan_root(tree)), "<generated>")
    isolated = config.value("cpu.isolated")
    housekeeping = config.value("cpu.housekeeping")
    assert isolated, "the tree has CPUs to isolate"
    named = set(parse_cpulist(isolated)) | set(parse_cpulist(housekeeping))
    assert named == {0, 1, 2, 3, 4, 5}
