"""Fixtures of the packaging tests: the rpm tools, and `make rpm` of each variant, built once
per session (rpmbuilds.VARIANTS) in temporary trees."""

import os

import pytest

from tests.conftest import REPO
from tests.unit.packaging import rpmbuilds


@pytest.fixture(scope="session")
def rpm_tools():
    if rpmbuilds.missing_tools():
        ensure = os.path.join(REPO, "tests", "ensure-apt-packages")
        result = rpmbuilds.run([ensure, "rpm", "rpmlint", "cpio", "make", "python3-pip",
                                "python3-setuptools", "python3-wheel", "python3-packaging"])
        missing = rpmbuilds.missing_tools()
        if missing:
            pytest.skip("!!! RPM NOT TESTED: %s missing and could not be installed (%s). "
                        "Run `make apt-deps` as root. !!!" % (", ".join(missing),
                                                             result.stdout.strip() or "no output"))


@pytest.fixture(scope="session")
def downloads(tmp_path_factory):
    """PKG_DOWNLOADDIR of every build: the dbus-next sdist is fetched once."""
    return str(tmp_path_factory.mktemp("downloads"))


@pytest.fixture(scope="session")
def rpm_builds(rpm_tools, downloads, tmp_path_factory):
    """rpm_builds(variant) -> rpmbuilds.make_rpm()'s result, built on first use."""
    missing = [path for path in ("tuned-profile/lltune/tuned.conf", "libexec/lltune-hook",
                                 "README.md", "LICENSE", "packaging/sources.sha256")
               if not os.path.exists(os.path.join(REPO, path))]
    assert not missing, "files the RPM packages are missing from the tree: %s" % missing
    cache = {}

    def build(variant):
        if variant not in cache:
            base = tmp_path_factory.mktemp("rpm-%s" % variant)
            cache[variant] = rpmbuilds.make_rpm(base, downloads, variant)
        return cache[variant]

    return build


@pytest.fixture(scope="session", params=sorted(rpmbuilds.LAYOUTS))
def layout_build(request, rpm_builds):
    """The bundled build of each tuned layout, with its LAYOUTS entry under 'layout'."""
    built = dict(rpm_builds(request.param))
    built["layout"] = rpmbuilds.LAYOUTS[request.param]
    built["name"] = request.param
    return built
