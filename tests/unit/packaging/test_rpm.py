"""The RPM: `make rpm` builds lltune.spec (Debian's rpmbuild here) for both tuned layouts,
rpmlint passes, and each package holds what its RHEL needs where that RHEL's tuned reads it.

Builds come from conftest.py (once per session, in temporary directories: never build/ or
dist/ of the working tree). Requirements against RHEL 9's repositories:
test_rpm_requirements.py.
"""

import hashlib
import os
import re
import stat
import subprocess
import sys
import tarfile

import pytest

import lltune
from lltune.system import dbus
from tests.conftest import REPO
from tests.unit.packaging import rpmbuilds
from tests.unit.packaging.rpmbuilds import (
    LAYOUTS,
    SPEC,
    VENDOR,
    extract,
    flags,
    listing,
    provides,
    query,
    requires,
    rpm_macro_args,
    run,
)
from tests.unit.packaging.test_units import APPLIED_PROFILES

RPMLINTRC = os.path.join(REPO, "packaging", "rpmlintrc")
PIN = os.path.join(REPO, "packaging", "sources.sha256")
UNIT_SUFFIXES = (".service", ".timer", ".socket", ".path", ".target")

# What every RHEL needs from the package, by path (the profile's paths per layout below).
REQUIRED_PATHS = [
    "/usr/bin/lltune",
    "/usr/libexec/lltune/lltune-hook",
    "/etc/tuned/lltune-variables.conf",
    "/etc/lltune",
    "/var/lib/lltune",
    "/usr/share/man/man1/lltune.1.gz",
    "/usr/share/bash-completion/completions/lltune",
    "/usr/share/doc/lltune/README.md",
    "/usr/share/licenses/lltune/LICENSE",
    "/usr/share/licenses/lltune/LICENSE.dbus-next",
    VENDOR + "/dbus_next/__init__.py",
    VENDOR + "/dbus_next/aio/message_bus.py",
]
# What `lltune apply` writes into tuned's user profile directory (lltune/tune/render.py):
# %ghost in the package, with the modes apply gives them.
GHOSTS = {"": (stat.S_IFDIR, 0o755), "/tuned.conf": (stat.S_IFREG, 0o644),
          "/hook-data.json": (stat.S_IFREG, 0o644)}
# The only rpmlint warnings left after packaging/rpmlintrc, each explained here. A new warning
# fails the test until it is fixed or explained (in the rpmlintrc if it is Debian-side noise).
EXPLAINED_WARNINGS = {
    # The project has no public home yet: add URL: (and a URL in Source0) when it has one.
    "no-url-tag": "no URL tag",
    # Source0 is made by `make srpm`; on Debian, Source1 is a file name too (rpm-macros.debian's
    # %pypi_source; RHEL's gives PyPI's address).
    "invalid-url": "Source0 (and, built on Debian, Source1) are local file names",
    # dbus-next's aio/__init__.py and glib/__init__.py are the same two import lines: the
    # bundled copy is installed as upstream ships it.
    "files-duplicate": "two identical __init__.py files of the bundled dbus-next",
}
# A unit or profile that points into a backup bundle is the 0.1 bug this package must not have.
BACKUP_REFERENCE = re.compile(r"/var/lib/lltune/backups|~/\.lltune|\$HOME/\.lltune|"
                              r"\$\{HOME\}/\.lltune|/root/\.lltune")


def _spec_text():
    with open(SPEC, encoding="utf-8") as handle:
        return handle.read()


def _units_in_tree():
    return sorted(name for name in os.listdir(os.path.join(REPO, "systemd"))
                  if name.endswith(UNIT_SUFFIXES))


def _sdist(built):
    """The bundled dbus-next sdist the build used: (path, its sha256)."""
    version = re.search(r"^%global dbus_next_version (\S+)$", _spec_text(), re.M).group(1)
    path = os.path.join(built["sources"], "dbus_next-%s.tar.gz" % version)
    with open(path, "rb") as handle:
        return path, hashlib.sha256(handle.read()).hexdigest()


def _sdist_members(built, prefix):
    """{path inside dbus_next/: bytes} of the sdist's package directory."""
    path, _ = _sdist(built)
    found = {}
    with tarfile.open(path) as archive:
        for member in archive.getmembers():
            name = member.name.split("/", 1)[1] if "/" in member.name else ""
            if member.isfile() and name.startswith(prefix):
                found[name] = archive.extractfile(member).read()
    return found


def test_rpm_lists_the_files_rhel_needs(layout_build):
    listing_ = listing(layout_build["rpm"])
    profiles = layout_build["layout"]["profiles"]
    for path in REQUIRED_PATHS + [profiles + "/tuned.conf", profiles + "/lltune-hook.sh"]:
        assert path in listing_, path
    for unit in _units_in_tree():
        assert "/usr/lib/systemd/system/" + unit in listing_, unit
    for name in os.listdir(os.path.join(REPO, "libexec")):
        path = "/usr/libexec/lltune/" + name
        assert path in listing_ and stat.S_IMODE(listing_[path]) == 0o755, path
    sitelib = [path for path in listing_ if re.fullmatch(
        r"/usr/lib/python3\.\d+/site-packages/lltune/cli/main\.py", path)]
    assert len(sitelib) == 1, "the Python package is not at RHEL's site-packages"
    packages = os.path.dirname(os.path.dirname(os.path.dirname(sitelib[0])))
    # Every module and data file of the package tree (schemas, the template), room by room.
    source = os.path.join(REPO, "lltune")
    for directory, dirs, files in os.walk(source):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if name.endswith((".py", ".json", ".j2")):
                relative = os.path.relpath(os.path.join(directory, name), REPO)
                assert "%s/%s" % (packages, relative) in listing_, relative
    # The pyproject build: a dist-info, installed by rpm, with the console script's entry point.
    assert "%s/lltune-%s.dist-info/METADATA" % (packages, lltune.__version__) in listing_
    assert "%s/lltune-%s.dist-info/entry_points.txt" % (packages, lltune.__version__) in listing_
    assert not [path for path in listing_ if path.endswith(".egg-info")]
    assert not [path for path in listing_ if "/tests/" in path or path.endswith("setup.py")]
    # Byte-compiled as RHEL's brp-python-bytecompile does (-O0 and -O1).
    for module in ("lltune/cli/main", "lltune/system/dbus"):
        pycache = "%s/%s/__pycache__/%s" % (packages, os.path.dirname(module),
                                           os.path.basename(module))
        assert [path for path in listing_ if path.startswith(pycache + ".cpython-")
                and path.endswith(".opt-1.pyc")], module
        assert [path for path in listing_ if path.startswith(pycache + ".cpython-")
                and re.search(r"\.cpython-\d+\.pyc$", path)], module


def test_the_ghosts_are_where_that_layouts_tuned_reads_user_profiles(layout_build):
    """lltune apply's files are owned (rpm -qf names lltune, rpm -e removes them) but never
    installed, under the user profile directory of the package's layout only."""
    user = layout_build["layout"]["user"]
    listing_, flags_ = listing(layout_build["rpm"]), flags(layout_build["rpm"])
    ghosts = {path for path, flag in flags_.items() if "g" in flag}
    assert ghosts == {user + suffix for suffix in GHOSTS}
    for suffix, (kind, mode) in GHOSTS.items():
        path = user + suffix
        assert stat.S_IFMT(listing_[path]) == kind and stat.S_IMODE(listing_[path]) == mode, path
        assert "c" not in flags_[path], "%s: a ghost lltune writes is no config file" % path
    other = LAYOUTS["el10" if layout_build["name"] == "el9" else "el9"]
    assert not [path for path in listing_ if path.startswith(other["profiles"] + "/")
                or path == other["user"] or path.startswith(other["user"] + "/")]
    # The verify unit's conditions name exactly the tuned.conf ghosts of the two layouts.
    assert user + "/tuned.conf" in APPLIED_PROFILES


def test_ghosts_are_not_in_the_payload(layout_build, tmp_path):
    root = extract(layout_build["rpm"], tmp_path / "payload")
    user = layout_build["layout"]["user"]
    assert not os.path.lexists(root + user)
    assert os.path.isfile(root + layout_build["layout"]["profiles"] + "/tuned.conf")


def test_modes(layout_build):
    listing_ = listing(layout_build["rpm"])
    profiles = layout_build["layout"]["profiles"]
    assert stat.S_ISDIR(listing_["/var/lib/lltune"])
    assert stat.S_IMODE(listing_["/var/lib/lltune"]) == 0o700
    assert stat.S_ISDIR(listing_["/etc/lltune"])
    assert stat.S_IMODE(listing_["/etc/lltune"]) == 0o755
    assert stat.S_IMODE(listing_[profiles + "/lltune-hook.sh"]) == 0o755
    assert stat.S_IMODE(listing_[profiles + "/tuned.conf"]) == 0o644
    assert stat.S_IMODE(listing_["/usr/bin/lltune"]) == 0o755
    # The sdist has group-writable files: the bundled copy is 0644/0755 all the same.
    vendor = {path: mode for path, mode in listing_.items() if path.startswith(VENDOR + "/")}
    assert vendor
    for path, mode in vendor.items():
        expected = 0o755 if stat.S_ISDIR(mode) else 0o644
        assert stat.S_IMODE(mode) == expected, (path, oct(mode))
    # No config file is shipped: /etc/lltune is the user's.
    assert not [path for path in listing_ if path.startswith("/etc/lltune/")]


def test_files_in_etc_are_config_noreplace_or_lltunes_ghosts(layout_build):
    flags_ = flags(layout_build["rpm"])
    user = layout_build["layout"]["user"]
    files_in_etc = sorted(path for path, mode in listing(layout_build["rpm"]).items()
                          if path.startswith("/etc/") and not stat.S_ISDIR(mode))
    ghosts = [user + "/hook-data.json", user + "/tuned.conf"]
    assert files_in_etc == sorted(["/etc/tuned/lltune-variables.conf"] + ghosts)
    for path in files_in_etc:
        if path in ghosts:
            # Written by `lltune apply`, never by rpm: %ghost, and not %config (a %ghost
            # %config would survive `rpm -e`, leaving a profile whose base is gone).
            assert flags_[path] == "g", (path, flags_[path])
        else:
            assert "c" in flags_[path] and "n" in flags_[path], (path, flags_[path])


def test_rpmlint_has_no_errors_and_only_explained_warnings(layout_build):
    result = run(["rpmlint", "-r", RPMLINTRC, layout_build["rpm"], layout_build["srpm"]])
    summary = re.search(r"(\d+) errors?, (\d+) warnings?", result.stdout)
    assert summary, result.stdout
    assert summary.group(1) == "0", result.stdout
    warnings = re.findall(r"^\S+: W: (\S+)", result.stdout, re.M)
    unexplained = sorted(set(warnings) - set(EXPLAINED_WARNINGS))
    assert not unexplained, result.stdout
    assert "unused-rpmlintrc-filter" not in result.stdout, result.stdout


def test_no_unit_hook_or_profile_mentions_a_backup_path(layout_build, tmp_path):
    payload = extract(layout_build["rpm"], tmp_path / "payload")
    checked = []
    for directory in ("usr/lib/systemd/system", layout_build["layout"]["profiles"].lstrip("/"),
                      "usr/libexec/lltune"):
        for root, _, files in os.walk(os.path.join(payload, directory)):
            for name in files:
                path = os.path.join(root, name)
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
                assert not BACKUP_REFERENCE.search(text), (path, BACKUP_REFERENCE.search(text))
                checked.append(name)
    assert "tuned.conf" in checked and "lltune-hook" in checked
    assert set(_units_in_tree()) <= set(checked)


def _expand(macro, units):
    result = run(["rpm"] + rpm_macro_args() + ["--eval", "%%%s %s" % (macro, " ".join(units))])
    assert result.returncode == 0, result.stdout
    return result.stdout.strip()


def _scriptlets(package):
    """{'postinstall': body, 'preuninstall': ..., 'postuninstall': ...}."""
    text = query(package, "--scripts")
    parts = re.split(r"^(\w+) scriptlet \(using [^)]*\):\n", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _normalize(text):
    return "\n".join(line.rstrip() for line in text.strip().splitlines() if line.strip())


def test_scriptlets_carry_the_systemd_macros_for_every_unit(rpm_builds):
    units = _units_in_tree()
    spec_units = re.search(r"^%global lltune_units (.+)$", _spec_text(), re.M).group(1)
    assert sorted(spec_units.split()) == units, "lltune.spec's lltune_units != systemd/"
    scripts = _scriptlets(rpm_builds("el9")["rpm"])
    for section, macro in (("postinstall", "systemd_post"), ("preuninstall", "systemd_preun"),
                           ("postuninstall", "systemd_postun")):
        expected = _normalize(_expand(macro, spec_units.split()))
        assert expected in _normalize(scripts.get(section, "")), (section, scripts)
    for unit in units:
        assert unit in scripts["postinstall"] and unit in scripts["preuninstall"]
    # Oneshot verify units are never restarted by an upgrade.
    assert "try-restart" not in "".join(scripts.values())
    # Removal takes tuned off lltune's profile before the profile and its hooks go away.
    preun = scripts["preuninstall"]
    assert "/usr/bin/lltune rollback" in preun and "tuned-adm recommend" in preun
    assert preun.index("lltune rollback") < preun.index(_expand("systemd_preun", units)[:20])


@pytest.mark.parametrize("active, removing, expected", [
    ("lltune\n", True, True),
    ("throughput-performance lltune\n", True, True),   # a merged profile
    ("lltune", True, True),                            # no trailing newline
    ("lltune-custom\n", True, False),
    ("", True, False),
    (None, True, False),                               # no active_profile file
    ("lltune\n", False, False),                        # upgrade: nothing to do
])
def test_preun_decides_with_shell_builtins_only(rpm_builds, tmp_path, active, removing,
                                                expected):
    """%preun runs its rollback exactly when tuned's active profile list names lltune, on
    removal; it needs no command but /bin/sh's (tuned-adm and lltune are stubbed here)."""
    preun = _scriptlets(rpm_builds("el9")["rpm"])["preuninstall"]
    active_file = tmp_path / "active_profile"
    if active is not None:
        active_file.write_text(active)
    stubs = tmp_path / "bin"
    stubs.mkdir()
    log = tmp_path / "calls"
    for name in ("lltune", "tuned-adm", "systemctl"):
        (stubs / name).write_text("#!/bin/sh\necho %s \"$@\" >> '%s'\n" % (name, log))
        (stubs / name).chmod(0o755)
    script = preun.replace("/etc/tuned/active_profile", str(active_file)).replace(
        "/usr/bin/lltune", str(stubs / "lltune"))
    # PATH has the stubs only: a scriptlet calling tr, grep or cat would fail here.
    result = subprocess.run(["/bin/sh", "-c", script, "preun", "0" if removing else "1"],
                            env={"PATH": str(stubs)}, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "not found" not in result.stderr, result.stderr
    calls = log.read_text() if log.exists() else ""
    assert ("lltune rollback --quiet" in calls) == expected, calls


def test_the_version_lives_in_lltune_init(rpm_builds):
    version = lltune.__version__
    package = rpm_builds("el9")["rpm"]
    default = re.search(r"^%\{!\?lltune_version:%global lltune_version (\S+)\}$", _spec_text(),
                        re.M)
    assert default, "the spec's default version line changed shape"
    assert default.group(1) == version, "lltune.spec's default version != lltune.__version__"
    assert query(package, "--qf", "%{VERSION}").strip() == version
    newest = query(package, "--qf", "[%{CHANGELOGNAME}\n]").splitlines()[0]
    assert newest.endswith(" - %s-1" % version) or (" - %s-" % version) in newest, (
        "the newest %%changelog entry is not for %s: %s" % (version, newest))


def test_make_install_puts_files_where_the_rpm_does(rpm_builds, tmp_path):
    root = tmp_path / "root"
    result = run(["make", "--no-print-directory", "install", "DESTDIR=%s" % root,
                  "PKG_BUILDDIR=%s" % (tmp_path / "build")])
    assert result.returncode == 0, result.stdout[-6000:]
    listing_ = listing(rpm_builds("el9")["rpm"])
    flags_ = flags(rpm_builds("el9")["rpm"])
    # What only the RPM has: its ghosts (written by `lltune apply`), and the bundled dbus-next
    # with its licence (`make install` is for a host that has dbus-next of its own).
    only_rpm = {path for path, flag in flags_.items() if "g" in flag}
    only_rpm |= {path for path in listing_ if path == "/usr/share/lltune"
                 or path.startswith("/usr/share/lltune/")}
    only_rpm.add("/usr/share/licenses/lltune/LICENSE.dbus-next")
    rpm_paths = {path: mode for path, mode in listing_.items() if path not in only_rpm}
    installed = {}
    for directory, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            path = os.path.join(directory, name)
            installed["/" + os.path.relpath(path, str(root))] = os.lstat(path).st_mode
    rpm_files = {path for path, mode in rpm_paths.items() if not stat.S_ISDIR(mode)}
    tree_files = {path for path, mode in installed.items() if not stat.S_ISDIR(mode)}
    assert rpm_files == tree_files, {"only in the RPM": sorted(rpm_files - tree_files),
                                     "only from make install": sorted(tree_files - rpm_files)}
    for path, mode in rpm_paths.items():
        assert path in installed, path
        assert stat.S_IMODE(installed[path]) == stat.S_IMODE(mode), path
    with open(str(root) + "/usr/bin/lltune", encoding="utf-8") as handle:
        assert handle.readline() == "#!/usr/bin/python3 -s\n"
    # Directories make install creates that nothing else fills (/etc/lltune, /var/lib/lltune)
    # are the package's.
    empty = {path for path, mode in installed.items()
             if stat.S_ISDIR(mode) and not os.listdir(str(root) + path)}
    assert empty <= set(listing_), sorted(empty - set(listing_))
    # The build happened under PKG_BUILDDIR, not in the working tree.
    assert not os.path.exists(os.path.join(REPO, "build", "lib", "lltune"))


def _parsed_spec(defines, extra=()):
    args = ["rpmspec", "-P"] + rpm_macro_args() + list(extra)
    for name, value in defines.items():
        args += ["--define", "%s %s" % (name, value)]
    return run(args + [SPEC])


@pytest.mark.parametrize("defines, layout, bundled", [
    ({"rhel": "9"}, "el9", True),
    ({"rhel": "10"}, "el10", True),
    ({"fedora": "40"}, "el9", False),
    ({"fedora": "41"}, "el10", False),
    ({}, "el9", True),                                  # Debian: no %rhel, no %fedora
    ({"rhel": "9", "tuned_layout": "el10"}, "el10", True),
    ({"fedora": "41", "tuned_layout": "el9"}, "el9", False),
])
def test_the_distribution_chooses_layout_and_bundling(rpm_tools, defines, layout, bundled):
    result = _parsed_spec(defines)
    assert result.returncode == 0, result.stdout
    files = result.stdout.split("\n%files", 1)[1].split("\n%changelog", 1)[0]
    lines = files.splitlines()
    expected = LAYOUTS[layout]
    assert expected["profiles"] + "/" in lines
    assert "%%ghost %%dir %%attr(0755,root,root) %s" % expected["user"] in lines
    other = LAYOUTS["el10" if layout == "el9" else "el9"]
    assert other["profiles"] + "/" not in lines
    assert re.search(r"^Requires:\s+tuned >= %s$" % re.escape(expected["tuned"]), result.stdout,
                     re.M)
    head = result.stdout.split("\n%description", 1)[0]
    assert ("Provides:       bundled(python3dist(dbus-next)) = 0.2.3" in head) == bundled
    assert bool(re.search(r"^Requires:\s+python3-dbus-next$", head, re.M)) == (not bundled)
    assert bool(re.search(r"^Source1:", head, re.M)) == bundled
    license_ = re.search(r"^License:\s+(.+)$", head, re.M).group(1)
    assert license_ == ("GPL-2.0-or-later AND MIT" if bundled else "GPL-2.0-or-later")
    assert ("/usr/share/lltune/" in lines) == bundled


def test_an_unknown_layout_is_refused(rpm_tools):
    result = _parsed_spec({"tuned_layout": "el8"})
    assert result.returncode != 0
    assert "tuned_layout must be el9 or el10" in result.stdout


def test_the_bundled_dbus_next_is_declared_and_private(layout_build):
    package = layout_build["rpm"]
    version = re.search(r"^%global dbus_next_version (\S+)$", _spec_text(), re.M).group(1)
    assert "bundled(python3dist(dbus-next)) = %s" % version in provides(package)
    # Not claimed as the real thing, not required either.
    assert not [line for line in provides(package) + requires(package)
                if re.match(r"python3(\.\d+)?dist\(dbus-next\)", line)
                or line.startswith("python3-dbus-next")]
    assert query(package, "--qf", "%{LICENSE}") == "GPL-2.0-or-later AND MIT"
    # Only the package directory: no dist-info or egg-info (rpm's generator would claim
    # python3dist(dbus-next)), no tests; where lltune looks for it.
    listing_ = listing(package)
    vendored = sorted(path for path in listing_ if path.startswith("/usr/share/lltune/"))
    assert VENDOR == dbus.VENDOR_DIR
    assert vendored and all(path.startswith(VENDOR + "/dbus_next") or path == VENDOR
                            for path in vendored), vendored
    assert not [path for path in vendored if re.search(r"(dist|egg)-info|/test", path)]
    members = _sdist_members(layout_build, "dbus_next/")
    assert {VENDOR + "/" + name for name in members} <= set(listing_)
    assert b"__version__ = '%s'" % version.encode() in members["dbus_next/__version__.py"]
    # Its licence, under its own name, is the sdist's.
    payload_license = query(package, "--qf", "[%{FILENAMES}\n]")
    assert "/usr/share/licenses/lltune/LICENSE.dbus-next" in payload_license
    assert "l" in flags(package)["/usr/share/licenses/lltune/LICENSE.dbus-next"]


def test_the_bundled_copy_imports_through_lltune(layout_build, tmp_path):
    """From the package's payload, with no site-packages at all: import_dbus_next() finds the
    bundled copy where the package put it."""
    root = extract(layout_build["rpm"], tmp_path / "payload")
    members = _sdist_members(layout_build, "LICENSE")
    with open(root + "/usr/share/licenses/lltune/LICENSE.dbus-next", "rb") as handle:
        assert handle.read() == members["LICENSE"]
    sitelib = [os.path.join(root, "usr", "lib", name, "site-packages")
               for name in os.listdir(os.path.join(root, "usr", "lib"))
               if name.startswith("python3")]
    assert len(sitelib) == 1
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from lltune.system.dbus import import_dbus_next; "
            "m = import_dbus_next(sys.argv[2]); print(m.__file__); "
            "print(m.aio.MessageBus.__module__)")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, sitelib[0],
                           root + VENDOR], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [root + VENDOR + "/dbus_next/__init__.py",
                                   "dbus_next.aio.message_bus"]


def test_without_bundling_the_package_requires_the_distributions_dbus_next(rpm_builds):
    built = rpm_builds("system-dbus-next")
    package = built["rpm"]
    assert "python3-dbus-next" in requires(package)
    assert not [line for line in provides(package) if line.startswith("bundled(")]
    assert query(package, "--qf", "%{LICENSE}") == "GPL-2.0-or-later"
    assert not [path for path in listing(package) if path.startswith("/usr/share/lltune")
                or path.endswith("LICENSE.dbus-next")]
    # Nothing was downloaded for it, and the SRPM carries no sdist.
    assert not [name for name in os.listdir(built["sources"]) if name.startswith("dbus_next")]
    assert sorted(query(built["srpm"], "-l").split()) == [
        "lltune-%s.tar.gz" % lltune.__version__, "lltune.spec"]


def test_the_pinned_sha256_is_the_sources_and_is_checked(rpm_builds, tmp_path):
    built = rpm_builds("el9")
    path, digest = _sdist(built)
    with open(PIN, encoding="utf-8") as handle:
        pins = handle.read().splitlines()
    assert pins == ["%s  %s" % (digest, os.path.basename(path))]
    # The file name is the one the spec's Source1 names.
    parsed = run(["rpmspec", "-P"] + rpm_macro_args() + [SPEC])
    assert parsed.returncode == 0, parsed.stdout
    source1 = re.search(r"^Source1:\s+(\S+)$", parsed.stdout, re.M).group(1)
    assert source1.rsplit("/", 1)[-1] == os.path.basename(path)
    # A stale copy in the download directory, and an index that serves a wrong file: pip
    # refuses it (hash-checking mode), and nothing reaches the rpmbuild tree.
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / os.path.basename(path)).write_bytes(b"not the sdist")
    index = tmp_path / "index"
    index.mkdir()
    (index / os.path.basename(path)).write_bytes(b"still not the sdist")
    sources = tmp_path / "build" / "rpmbuild" / "SOURCES" / os.path.basename(path)

    def bundled_sources(find_links):
        return run(["make", "--no-print-directory", "bundled-sources",
                    "PKG_BUILDDIR=%s" % (tmp_path / "build"), "PKG_DOWNLOADDIR=%s" % downloads,
                    "PKG_PIP_DOWNLOAD_OPTIONS=--no-index --find-links %s" % find_links])

    result = bundled_sources(index)
    assert result.returncode != 0, result.stdout
    assert "DO NOT MATCH THE HASHES" in result.stdout
    assert "matching packaging/sources.sha256: refused" in result.stdout
    assert not sources.exists() and not (downloads / os.path.basename(path)).exists()
    # The right file, offline: accepted, copied, checked again.
    result = bundled_sources(os.path.dirname(path))
    assert result.returncode == 0, result.stdout
    assert "sha256 as pinned" in result.stdout
    with open(str(sources), "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == digest


def test_the_srpm_rebuilds_without_make(rpm_builds, downloads, tmp_path):
    """What a RHEL user does: `rpmbuild --rebuild` of the SRPM (`make srpm`, rpmbuild -bs), no
    --define: the spec's default version must name the tarball it carries, and the rebuilt
    package must hold what `make rpm` builds."""
    built = rpmbuilds.make_rpm(tmp_path / "srpm", downloads, "el9", target="srpm")
    sources = query(built["srpm"], "-l").split()
    sdist, digest = _sdist(rpm_builds("el9"))
    assert sorted(sources) == sorted(["lltune-%s.tar.gz" % lltune.__version__, "lltune.spec",
                                      os.path.basename(sdist)])
    result = run(["rpmspec", "-q", "--srpm", "--qf", "%{VERSION}"] + rpm_macro_args() + [SPEC])
    assert result.returncode == 0, result.stdout
    assert result.stdout.split()[-1] == lltune.__version__
    top = tmp_path / "rebuild"
    extra = []
    if rpmbuilds.rpm_lacks_rhel_macros():
        extra = ["--nodeps", "--dbpath", str(tmp_path / "rpmdb")]
    result = run(["rpmbuild"] + rpm_macro_args() + extra
                 + ["--define", "_topdir %s" % top, "--rebuild", built["srpm"]],
                 cwd=str(tmp_path))
    assert result.returncode == 0, result.stdout[-6000:]
    rebuilt = [os.path.join(dirpath, name) for dirpath, _, names in os.walk(str(top / "RPMS"))
               for name in names if name.endswith(".noarch.rpm")]
    assert len(rebuilt) == 1
    assert listing(rebuilt[0]) == listing(rpm_builds("el9")["rpm"])
    assert sorted(requires(rebuilt[0])) == sorted(requires(rpm_builds("el9")["rpm"]))
    # Checked in the SRPM too: the sdist it carries is the pinned one.
    payload = extract(built["srpm"], tmp_path / "srpm-payload")
    with open(os.path.join(payload, os.path.basename(sdist)), "rb") as handle:
        assert hashlib.sha256(handle.read()).hexdigest() == digest


def test_the_validate_tools_are_weak_dependencies(layout_build):
    """`lltune validate` runs them when installed; apply, verify and rollback need none of
    them, so they are Recommends (RHEL 9 AppStream's names), never Requires."""
    weak = query(layout_build["rpm"], "--recommends").split()
    assert sorted(weak) == ["realtime-tests", "rtla"]
    strong = requires(layout_build["rpm"])
    assert not any(line.split()[0] in ("realtime-tests", "rtla", "rt-tests") for line in strong)
    manpage = [path for path in listing(layout_build["rpm"]) if path.endswith("lltune.1.gz")]
    assert manpage, "the man page (it documents validate: tests/unit/cli/test_manpage.py)"
