"""Every requirement of every package `make rpm` builds can be met on RHEL 9 (BaseOS,
AppStream, CRB, EPEL 9), by the table packaging/rhel9-packages.json (el9check.py).

The binary package of each tuned layout and the SRPM (its BuildRequires, with the ones
%generate_buildrequires printed) are read with `rpm -qp --requires`. The checker is shown to
fail where it must: on a synthetic list, and on the Fedora-style build that requires
python3-dbus-next.
"""

import re

import pytest

from tests.unit.packaging import el9check
from tests.unit.packaging.el9check import Table, check, compare_evr, parse, rpmvercmp
from tests.unit.packaging.rpmbuilds import LAYOUTS, listing, provides, requires, run

MINOR = re.compile(r"^9\.\d+$")
EVR = re.compile(r"^(\d+:)?[0-9A-Za-z._+~^]+-[0-9A-Za-z._+~^]+$")
SOURCE_WORDS = re.compile(r"openela|github\.com|docs\.|developers\.redhat|packages\.fedora|"
                          r"apt-cache|dnf|copr|listing|spec|transcript|tenable|centos|"
                          r"fetch|pkgs\.org|changelog|pyproject|setuptools|dpkg|installation", re.I)


@pytest.fixture(scope="module")
def table():
    return Table.load()


def _python_abi(package):
    """X.Y of the site-packages the package installs into."""
    versions = {match.group(1) for path in listing(package)
                for match in [re.match(r"/usr/lib/python(3\.\d+)/site-packages/", path)]
                if match}
    assert len(versions) == 1, versions
    return versions.pop()


def _check_package(package, table, target="el9"):
    return check(requires(package), table, provides(package), _python_abi(package), target)


def test_the_table_says_where_each_fact_comes_from(table):
    assert table.minors == ["9.%d" % minor for minor in range(7)]
    assert {"tuned", "python3", "python3-pyyaml", "python3-jsonschema", "python3-jinja2",
            "python3-systemd", "ethtool", "util-linux-core"} <= set(table.packages)
    for name, row in table.packages.items():
        assert row["role"] in ("runtime", "build"), name
        assert row["repository"] in el9check.REPOSITORIES or row["repository"] is None, name
        assert row["repository_confidence"].split(" ")[0] in (
            "confirmed", "inferred", "not", "absent"), name
        assert (row["repository"] is None) == (row["repository_confidence"] == "absent"), name
        for minor, evr in row["versions"].items():
            assert MINOR.match(minor) and minor in table.minors, (name, minor)
            assert EVR.match(evr), (name, evr)
        for evr in row.get("builds", []):
            assert EVR.match(evr), (name, evr)
        if row["repository"] is not None:
            assert table.oldest(name), "%s: no RHEL 9 version recorded" % name
        assert row["sources"] and all(SOURCE_WORDS.search(text) for text in row["sources"]), name
        for entry in row["provides"]:
            parse(entry)
        for column in ("debian12", "debian13"):
            debian = row[column]
            assert set(debian) == {"package", "version"}, (name, column)
            assert (debian["package"] is None) == (debian["version"] is None), (name, column)
            if debian["package"] is None:
                assert "no Debian package" in row["debian_note"], name


def test_the_debian_guests_tuned_matches_the_layout_they_install(table):
    """The system tests register the guests' Debian packages as RPM provides: Debian 12's
    tuned must satisfy the el9 package (and be older than the el10 layout), Debian 13's the
    el10 one."""
    row = table.packages["tuned"]
    debian12 = row["debian12"]["version"].split(":")[-1].split("-")[0]
    debian13 = row["debian13"]["version"].split(":")[-1].split("-")[0]
    assert el9check.satisfies(debian12, ">=", LAYOUTS["el9"]["tuned"])
    assert not el9check.satisfies(debian12, ">=", LAYOUTS["el10"]["tuned"])
    assert el9check.satisfies(debian13, ">=", LAYOUTS["el10"]["tuned"])
    # And RHEL 9's oldest tuned is the floor the el9 package asks for.
    assert compare_evr(table.oldest("tuned"), LAYOUTS["el9"]["tuned"]) >= 0


def test_every_requirement_of_each_layouts_package_is_in_the_table(layout_build, table):
    """Both layouts' packages: every name resolves through the table, and every versioned
    requirement holds where the package is meant to go. The el9 package: RHEL 9 (its oldest
    recorded versions) and the Debian 12 guest. The el10 package: the Debian 13 guest (RHEL 10
    has no rows here); on RHEL 9 exactly its tuned floor fails, since RHEL 9's tuned keeps
    the el9 layout whatever its version."""
    package = layout_build["rpm"]
    needed = requires(package)
    names = {parse(line).name for line in needed if not line.startswith("(")}
    # The list read is the real one: the spec's Requires and the generated ones are in it.
    assert {"tuned", "python3", "python3-pyyaml", "python3-systemd", "ethtool",
            "util-linux-core", "/bin/sh", "/usr/bin/python3", "python(abi)"} <= names, names
    assert [name for name in names if name.startswith("rpmlib(")]
    assert [name for name in names if re.match(r"python3\.\d+dist\(pyyaml\)", name)]
    floor = "tuned >= %s" % layout_build["layout"]["tuned"]
    assert [line for line in needed if line.startswith("tuned ")] == [floor]
    if layout_build["name"] == "el9":
        assert _check_package(package, table) == []
        assert _check_package(package, table, "debian12") == []
    else:
        assert _check_package(package, table, "debian13") == []
        problems = _check_package(package, table)
        assert len(problems) == 1 and problems[0].startswith(floor + ": "), problems


def test_every_buildrequires_of_the_srpm_is_on_el9(rpm_builds, table):
    """The SRPM `make rpm` writes (rpmbuild -ba) carries what %generate_buildrequires printed."""
    srpm = rpm_builds("el9")["srpm"]
    needed = requires(srpm)
    for name in ("python3-devel", "pyproject-rpm-macros", "python3dist(setuptools) >= 53",
                 "python3dist(wheel)", "python3dist(pyyaml) >= 5.4",
                 "rpmlib(DynamicBuildRequires) <= 4.15.0-1"):
        assert name in needed, (name, needed)
    assert [line for line in needed if line.startswith("(")], "the rich tomli requirement"
    assert check(needed, table, provides(srpm)) == []


def test_the_checker_rejects_what_el9_lacks(rpm_builds, table):
    package = rpm_builds("el9")["rpm"]
    real = requires(package)
    own, abi = provides(package), _python_abi(package)
    assert check(real, table, own, abi) == []
    bad = {
        "python3-dbus-next": "in no RHEL 9 repository",
        "python3.9dist(dbus-next) >= 0.2.3": "in no RHEL 9 repository",
        "tuned >= 2.19": "oldest recorded version 2.18.0-1.el9",
        "python3 >= 3.10": "does not satisfy",
        "ethtool >= 3:1": "does not satisfy",
        "no-such-package": "unknown to rhel9-packages.json",
        "rpmlib(NoSuchFeature) <= 1.0-1": "unknown",
        "rpmlib(PayloadIsZstd) <= 5.4.17-1": "does not satisfy",
        "/usr/bin/no-such-file": "unknown",
        "/bin/sh >= 1": "no version recorded",  # stricter than rpm: the table must prove it
        "python(abi) = 3.9": "own site-packages version",
        "(python3dist(no-such) if python3-devel < 3.11)": "unknown",
        "(python3dist(tomli) >= 3 if python3-devel < 3.11)": "does not satisfy",
        "(python3-dbus-next or python3dist(no-such))": "unknown",
        "(python3-dbus-next or tuned >= 2.30)": "in no RHEL 9 repository",
    }
    for line, reason in bad.items():
        problems = check(real + [line], table, own, abi)
        assert len(problems) == 1 and problems[0].startswith(line + ":"), (line, problems)
        assert reason in problems[0], (line, problems)
    good = ["tuned >= 2.18", "tuned > 2.17", "ethtool >= 6.0",  # epoch 2 beats any 0:
            "python3 >= 3.9", "rpmlib(RichDependencies) <= 4.12.0-1",
            "(python3dist(tomli) if python3-devel < 3.11)",
            "(python3dist(tomli) if python3-devel >= 3.11 else python3dist(packaging))",
            "(python3-dbus-next or tuned)", "config(lltune) = %s" % [
                line for line in own if line.startswith("config(lltune)")][0].split()[-1],
            "python3.11dist(pyyaml) >= 5.4", "/usr/sbin/swapon"]
    assert check(real + good, table, own, abi) == []


def test_the_fedora_style_build_fails_the_el9_check(rpm_builds, table):
    """Built with --without bundled_dbus_next, the package requires python3-dbus-next (and
    the generator adds python3.Xdist(dbus-next)): not installable on RHEL 9, and the check
    says so. The same check passes the bundled builds above."""
    package = rpm_builds("system-dbus-next")["rpm"]
    problems = _check_package(package, table)
    assert sorted(problem.split(":")[0] for problem in problems) == sorted(
        line for line in requires(package) if "dbus-next" in line)
    assert len(problems) == 2 and all("in no RHEL 9 repository" in p for p in problems)


@pytest.mark.parametrize("a, b", [
    ("2.18", "2.18.0"), ("2.18.0", "2.18"), ("2.18.0-1.el9", "2.18.0-2.el9"), ("1.0", "1.0a"),
    ("1.0~rc1", "1.0"), ("1.0^git1", "1.0"), ("1.0^git1", "1.0.1"), ("10", "9"), ("1.01", "1.1"),
    ("5.16", "6.2"), ("3.9.16", "3.11"), ("2.0.1", "2.0.1"), ("a", "1"), ("1.0-1", "1.0.0-1"),
    ("4.16.1.3", "4.16.1.3"), ("0.36.2", "0.36.10"), ("1_0", "1.0"), ("~~", "~"),
    ("2:5.16-1.el9", "6.2-1.el9"), ("1:1.0", "1.0"), ("2.18-1.el9", "2.18"), ("1.0-2", "1.0-10"),
])
def test_the_version_comparison_is_rpms(rpm_tools, a, b):
    """rpm.vercmp (rpm's Lua) compares [epoch:]version[-release] as rpm does for deps."""
    result = run(["rpm", "--eval", "%%{lua: print(rpm.vercmp('%s', '%s'))}" % (a, b)])
    assert result.returncode == 0, result.stdout
    expected = int(result.stdout.strip().splitlines()[-1])
    assert compare_evr(a, b) == expected, (a, b)
    if "-" not in a + b and ":" not in a + b:
        assert rpmvercmp(a, b) == expected, (a, b)


def test_epoch_and_release_rules():
    """rpm's overlap rules (rpmverOverlap), on the cases the table meets."""
    satisfies = el9check.satisfies
    assert satisfies("2:5.16-1.el9", ">=", "6.0")            # an epoch on one side only
    assert not satisfies("2:5.16-1.el9", ">=", "3:1")
    assert satisfies("2.18.0-1.el9", ">=", "2.18")           # 2.18.0 > 2.18
    assert satisfies("2.18-1.el9", ">=", "2.18")             # no release asked: not compared
    assert not satisfies("2.18-1.el9", ">", "2.18")
    assert satisfies("2.18-1.el9", "<", "2.18-2")
    assert satisfies("2.18", "<=", "2.18-1")                 # `=` without release matches
    assert not satisfies("2.17", ">=", "2.18")
    assert satisfies("3.0.4-1", "<=", "3.0.4-1") and not satisfies("4.0-1", "<=", "3.0.4-1")
    assert satisfies(None, ">=", "1")                        # rpm: unversioned always overlaps
    assert compare_evr("2.18-1.el9", "2.18") > 0             # but sorts after it


def test_rich_dependencies_parse():
    node = parse("(python3dist(tomli) if python3-devel < 3.11)")
    assert node[0] == "if" and [str(atom) for atom in node[1]] == [
        "python3dist(tomli)", "python3-devel < 3.11"]
    nested = parse("((a and b) or c >= 2)")
    assert nested[0] == "or" and nested[1][0][0] == "and" and str(nested[1][1]) == "c >= 2"
    with pytest.raises(ValueError):
        parse("(a and b or c)")


def test_the_debian_targets_use_the_debian_columns(table):
    """What the guests can register: Debian has python3-dbus-next, not pyproject-rpm-macros;
    versions are Debian's upstream ones (Debian 12's tuned is 2.20.0, Debian 13's 2.25.1)."""
    assert check(["python3-dbus-next", "tuned >= 2.20"], table, target="debian12") == []
    assert check(["tuned >= 2.25"], table, target="debian13") == []
    problems = check(["tuned >= 2.21", "pyproject-rpm-macros"], table, target="debian12")
    assert problems == ["tuned >= 2.21: tuned's debian12 version 2.20.0 does not satisfy it",
                        "pyproject-rpm-macros: pyproject-rpm-macros has no debian12 package"]
    assert el9check.debian_upstream("1:6.1-1") == "6.1"
    assert el9check.debian_upstream("4.18.0+dfsg-1+deb12u1") == "4.18.0+dfsg"
