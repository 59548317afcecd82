"""Where the host's tuned reads profiles, read from the files tuned itself reads (issue 11).

The consts.py lines below state facts of tuned's sources (tuned/consts.py at v2.20.0 and
v2.25.1, as the RHEL 9 and RHEL 10 builds install it); the guest tests prove both layouts
against the real tuned 2.20 and 2.25.1.
"""

import os

import pytest

from lltune.host.collectors.tuned import (
    NEW_LAYOUT,
    OLD_LAYOUT,
    dirs_from_consts,
    dirs_from_main_conf,
    profile_dirs,
    profile_locations,
)
from lltune.host.reader import RootReader
from lltune.model.queries import tuned_profile_dirs, tuned_user_dir
from tests.conftest import scan_root

CONSTS_220 = 'GLOBAL_CONFIG_FILE = "/etc/tuned/tuned-main.conf"\n' \
             'LOAD_DIRECTORIES = ["/usr/lib/tuned", "/etc/tuned"]\n'
CONSTS_225 = 'SYSTEM_PROFILES_DIR = "/usr/lib/tuned/profiles"\n' \
             'USER_PROFILES_DIR = "/etc/tuned/profiles"\n' \
             'CFG_DEF_PROFILE_DIRS = [SYSTEM_PROFILES_DIR, USER_PROFILES_DIR]\n'
SITE = "/usr/lib/python3.9/site-packages/tuned/consts.py"


def _file(root, path, text):
    target = os.path.join(str(root), path.lstrip("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w") as handle:
        handle.write(text)


@pytest.mark.parametrize("text, dirs", [
    ("", None),
    ("#profile_dirs = /usr/lib/tuned/profiles,/etc/tuned/profiles\n", None),
    ("profile_dirs = /usr/lib/tuned/profiles,/etc/tuned/profiles\n", NEW_LAYOUT),
    ("profile_dirs=/usr/lib/tuned ; /etc/tuned;\n", OLD_LAYOUT),
    ("profile_dirs = /a\ndaemon = 1\nprofile_dirs = /b,/c  # later wins\n", ["/b", "/c"]),
    ("profile_dirs =\n", None),
])
def test_profile_dirs_from_tuned_main_conf(text, dirs):
    assert dirs_from_main_conf(text) == dirs


@pytest.mark.parametrize("text, dirs", [
    (CONSTS_220, OLD_LAYOUT),
    (CONSTS_225, NEW_LAYOUT),
    ("LOAD_DIRECTORIES = [UNKNOWN_NAME, '/etc/tuned']\n", None),
    ("this is not python (\n", None),
    (None, None),
])
def test_profile_dirs_from_tuneds_consts(text, dirs):
    assert dirs_from_consts(text) == dirs


def test_tuned_main_conf_wins_over_consts(tmp_path):
    _file(tmp_path, SITE, CONSTS_225)
    assert profile_dirs(RootReader(str(tmp_path))) == (NEW_LAYOUT, SITE)
    _file(tmp_path, "/etc/tuned/tuned-main.conf", "profile_dirs = /srv/a,/srv/b\n")
    assert profile_dirs(RootReader(str(tmp_path))) == (["/srv/a", "/srv/b"],
                                                        "/etc/tuned/tuned-main.conf")


def test_without_either_file_the_stock_profiles_tell_the_layout(tmp_path):
    reader = RootReader(str(tmp_path))
    dirs, source = profile_dirs(reader)
    assert dirs == OLD_LAYOUT and source.startswith("assumed")
    _file(tmp_path, "/usr/lib/tuned/profiles/balanced/tuned.conf", "[main]\n")
    assert profile_dirs(RootReader(str(tmp_path)))[0] == NEW_LAYOUT


def test_profile_locations_name_every_directory_holding_a_profile(tmp_path):
    _file(tmp_path, "/usr/lib/tuned/profiles/lltune/tuned.conf", "[main]\n")
    _file(tmp_path, "/etc/tuned/profiles/lltune/tuned.conf", "[main]\n")
    _file(tmp_path, "/usr/lib/tuned/profiles/realtime/tuned.conf", "[main]\n")
    os.makedirs(str(tmp_path / "etc/tuned/profiles/network-latency"))  # no tuned.conf
    found = profile_locations(RootReader(str(tmp_path)), NEW_LAYOUT)
    assert found["lltune"] == NEW_LAYOUT
    assert found["realtime"] == ["/usr/lib/tuned/profiles"]
    assert found["network-latency"] == []


def test_the_snapshot_carries_the_layout_and_the_queries_read_it(tmp_path):
    _file(tmp_path, SITE, CONSTS_225)
    _file(tmp_path, "/usr/lib/tuned/profiles/network-latency/tuned.conf", "[main]\n")
    tuned = scan_root(tmp_path)["services"]["tuned"]
    assert tuned["profile_dirs"] == NEW_LAYOUT and tuned["profile_dirs_source"] == SITE
    assert tuned["profiles"]["network-latency"] == ["/usr/lib/tuned/profiles"]
    snapshot = {"services": {"tuned": tuned}}
    assert tuned_user_dir(snapshot) == "/etc/tuned/profiles"
    # A snapshot from before lltune recorded the layout: RHEL 9's.
    assert tuned_profile_dirs({"services": {"tuned": {}}}) == OLD_LAYOUT
    assert tuned_user_dir({}) == "/etc/tuned"
