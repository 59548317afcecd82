"""Shared test fixtures: the hwloc host trees (real machines) unpacked once per session."""

import os
import subprocess

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
HWLOC = os.path.join(FIXTURES, "hwloc")
HWLOC_NAMES = sorted(name[:-len(".tar.bz2")] for name in os.listdir(HWLOC)
                     if name.endswith(".tar.bz2"))


def unpack(archive: str, destination: str) -> str:
    """Unpack a fixture tarball; returns the single top-level folder inside it."""
    os.makedirs(destination, exist_ok=True)
    # GNU tar: Python's tarfile needs seconds per fixture to walk ten thousand bz2 members.
    # It refuses absolute names and ".." by default.
    subprocess.run(["tar", "-xjf", archive, "-C", destination, "--no-same-owner",
                    "--no-same-permissions"], check=True)
    tops = os.listdir(destination)
    assert len(tops) == 1, "fixture %s has several top-level folders" % archive
    return os.path.join(destination, tops[0])


@pytest.fixture(scope="session")
def hwloc_trees(tmp_path_factory):
    """{fixture name: root directory of its /sys and /proc tree}."""
    base = tmp_path_factory.mktemp("hwloc")
    return {name: unpack(os.path.join(HWLOC, name + ".tar.bz2"), str(base / name))
            for name in HWLOC_NAMES}


def scan_root(root, probes=None):
    from lltune.host.reader import RootReader
    from lltune.host.scan import scan

    return scan(RootReader(str(root), probes), {"kind": "root", "path": str(root)})
