"""The RPM: `make rpm` builds lltune.spec (Debian's rpmbuild here), rpmlint passes, and the
package holds what a RHEL 9 host needs where it needs it.

One build per module (about 10 s), in a temporary directory so it never touches build/ or
dist/ of the working tree.
"""

import os
import re
import shutil
import stat
import subprocess

import pytest

import lltune
from tests.conftest import REPO

SPEC = os.path.join(REPO, "lltune.spec")
COMPAT_MACROS = os.path.join(REPO, "packaging", "rpm-macros.debian")
RPMLINTRC = os.path.join(REPO, "packaging", "rpmlintrc")
UNIT_SUFFIXES = (".service", ".timer", ".socket", ".path", ".target")

# What RHEL 9 needs from the package, by path.
REQUIRED_PATHS = [
    "/usr/bin/lltune",
    "/usr/lib/tuned/lltune/tuned.conf",
    "/usr/lib/tuned/lltune/lltune-hook.sh",
    "/usr/libexec/lltune/lltune-hook",
    "/etc/tuned/lltune-variables.conf",
    "/etc/lltune",
    "/var/lib/lltune",
    "/usr/share/man/man1/lltune.1.gz",
    "/usr/share/bash-completion/completions/lltune",
    "/usr/share/doc/lltune/README.md",
    "/usr/share/licenses/lltune/LICENSE",
]
# The only rpmlint warnings left after packaging/rpmlintrc, each explained here. A new warning
# fails the test until it is fixed or explained (in the rpmlintrc if it is Debian-side noise).
EXPLAINED_WARNINGS = {
    # The project has no public home yet: add URL: (and a URL in Source0) when it has one.
    "no-url-tag": "no URL tag",
    "invalid-url": "Source0 is a local tarball name, made by `make srpm`",
}
# A unit or profile that points into a backup bundle is the 0.1 bug this package must not have.
BACKUP_REFERENCE = re.compile(r"/var/lib/lltune/backups|~/\.lltune|\$HOME/\.lltune|"
                              r"\$\{HOME\}/\.lltune|/root/\.lltune")


def _run(args, **kwargs):
    kwargs.setdefault("cwd", REPO)
    result = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=300, **kwargs)
    return result


def _spec_text():
    with open(SPEC, encoding="utf-8") as handle:
        return handle.read()


def _rpm_lacks_rhel_macros():
    """True where rpm is Debian's: packaging.mk then loads packaging/rpm-macros.debian."""
    return _run(["rpm", "--eval", "%{?py3_install:yes}"]).stdout.strip() != "yes"


def _rpm_macro_args():
    return ["--load", COMPAT_MACROS] if _rpm_lacks_rhel_macros() else []


def _units_in_tree():
    return sorted(name for name in os.listdir(os.path.join(REPO, "systemd"))
                  if name.endswith(UNIT_SUFFIXES))


@pytest.fixture(scope="module")
def rpm_tools():
    needed = ["rpmbuild", "rpmlint", "rpm2cpio", "cpio", "rpmspec", "make"]
    if not all(shutil.which(tool) for tool in needed):
        ensure = os.path.join(REPO, "tests", "ensure-apt-packages")
        result = _run([ensure, "rpm", "rpmlint", "cpio", "make"])
        missing = [tool for tool in needed if not shutil.which(tool)]
        if missing:
            pytest.skip("!!! RPM NOT TESTED: %s missing and could not be installed (%s). "
                        "Run `tests/ensure-apt-packages rpm rpmlint cpio` as root, or "
                        "`make apt-deps`. !!!" % (", ".join(missing),
                                                  result.stdout.strip() or "no output"))


@pytest.fixture(scope="module")
def built(rpm_tools, tmp_path_factory):
    """`make rpm` into a temporary tree: {'rpm': path, 'srpm': path, 'dir': tmp}."""
    missing = [path for path in ("tuned-profile/lltune/tuned.conf", "libexec/lltune-hook",
                                 "README.md", "LICENSE")
               if not os.path.exists(os.path.join(REPO, path))]
    if not any(name.endswith(".yaml") for name in os.listdir(os.path.join(REPO, "examples"))):
        missing.append("examples/*.yaml")
    assert not missing, "files the RPM packages are missing from the tree: %s" % missing
    assert _units_in_tree(), "no systemd units in systemd/"
    base = tmp_path_factory.mktemp("rpm")
    dist = base / "dist"
    result = _run(["make", "--no-print-directory", "rpm", "PKG_BUILDDIR=%s" % (base / "build"),
                   "PKG_DISTDIR=%s" % dist])
    assert result.returncode == 0, "make rpm failed:\n" + result.stdout[-6000:]
    version = lltune.__version__
    rpms = sorted(str(path) for path in dist.glob("lltune-%s-*.noarch.rpm" % version))
    srpms = sorted(str(path) for path in dist.glob("lltune-%s-*.src.rpm" % version))
    assert len(rpms) == 1 and len(srpms) == 1, os.listdir(str(dist))
    return {"rpm": rpms[0], "srpm": srpms[0], "dir": base}


def _query(package, *args):
    result = _run(["rpm", "-qp"] + list(args) + [package])
    assert result.returncode == 0, result.stdout
    # Debian's rpm warns on stderr for every query; stdout and stderr are merged here.
    return "\n".join(line for line in result.stdout.splitlines()
                     if "use Alien" not in line and not line.startswith("warning: "))


def _listing(package):
    """{path: mode} for every file and directory the package owns."""
    text = _query(package, "--qf", "[%{FILEMODES} %{FILENAMES}\n]")
    listing = {}
    for line in text.splitlines():
        mode, path = line.split(" ", 1)
        listing[path] = int(mode)
    return listing


def test_rpm_lists_the_files_rhel_needs(built):
    listing = _listing(built["rpm"])
    for path in REQUIRED_PATHS:
        assert path in listing, path
    for unit in _units_in_tree():
        assert "/usr/lib/systemd/system/" + unit in listing, unit
    for name in os.listdir(os.path.join(REPO, "libexec")):
        path = "/usr/libexec/lltune/" + name
        assert path in listing and stat.S_IMODE(listing[path]) == 0o755, path
    sitelib = [path for path in listing if re.fullmatch(
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
                assert "%s/%s" % (packages, relative) in listing, relative
    assert not [path for path in listing if "/tests/" in path or path.endswith("setup.py")]


def test_modes(built):
    listing = _listing(built["rpm"])
    assert stat.S_ISDIR(listing["/var/lib/lltune"])
    assert stat.S_IMODE(listing["/var/lib/lltune"]) == 0o700
    assert stat.S_ISDIR(listing["/etc/lltune"])
    assert stat.S_IMODE(listing["/etc/lltune"]) == 0o755
    assert stat.S_IMODE(listing["/usr/lib/tuned/lltune/lltune-hook.sh"]) == 0o755
    assert stat.S_IMODE(listing["/usr/bin/lltune"]) == 0o755
    assert stat.S_IMODE(listing["/usr/lib/tuned/lltune/tuned.conf"]) == 0o644
    # No config file is shipped: /etc/lltune is the user's.
    assert not [path for path in listing if path.startswith("/etc/lltune/")]


def test_files_in_etc_are_config_noreplace(built):
    flags = {}
    for line in _query(built["rpm"], "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]").splitlines():
        flag, path = line.split(" ", 1) if not line.startswith(" ") else ("", line[1:])
        flags[path] = flag
    files_in_etc = [path for path, mode in _listing(built["rpm"]).items()
                    if path.startswith("/etc/") and not stat.S_ISDIR(mode)]
    assert files_in_etc == ["/etc/tuned/lltune-variables.conf"]
    for path in files_in_etc:
        assert "c" in flags[path] and "n" in flags[path], (path, flags[path])


def test_rpmlint_has_no_errors_and_only_explained_warnings(built):
    result = _run(["rpmlint", "-r", RPMLINTRC, built["rpm"], built["srpm"]])
    summary = re.search(r"(\d+) errors?, (\d+) warnings?", result.stdout)
    assert summary, result.stdout
    assert summary.group(1) == "0", result.stdout
    warnings = re.findall(r"^\S+: W: (\S+)", result.stdout, re.M)
    unexplained = sorted(set(warnings) - set(EXPLAINED_WARNINGS))
    assert not unexplained, result.stdout
    assert "unused-rpmlintrc-filter" not in result.stdout, result.stdout


def test_no_unit_hook_or_profile_mentions_a_backup_path(built, tmp_path):
    payload = tmp_path / "payload"
    payload.mkdir()
    result = _run(["sh", "-c", 'rpm2cpio "$1" | cpio -idm --quiet', "sh", built["rpm"]],
                  cwd=str(payload))
    assert result.returncode == 0, result.stdout
    checked = []
    for directory in ("usr/lib/systemd/system", "usr/lib/tuned/lltune", "usr/libexec/lltune"):
        for root, _, files in os.walk(str(payload / directory)):
            for name in files:
                path = os.path.join(root, name)
                with open(path, encoding="utf-8", errors="replace") as handle:
                    text = handle.read()
                assert not BACKUP_REFERENCE.search(text), (path, BACKUP_REFERENCE.search(text))
                checked.append(name)
    assert "tuned.conf" in checked and "lltune-hook" in checked
    assert set(_units_in_tree()) <= set(checked)


def _expand(macro, units):
    result = _run(["rpm"] + _rpm_macro_args() + ["--eval", "%%%s %s" % (macro, " ".join(units))])
    assert result.returncode == 0, result.stdout
    return result.stdout.strip()


def _scriptlets(package):
    """{'postinstall': body, 'preuninstall': ..., 'postuninstall': ...}."""
    text = _query(package, "--scripts")
    parts = re.split(r"^(\w+) scriptlet \(using [^)]*\):\n", text, flags=re.M)
    return {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}


def _normalize(text):
    return "\n".join(line.rstrip() for line in text.strip().splitlines() if line.strip())


def test_scriptlets_carry_the_systemd_macros_for_every_unit(built):
    units = _units_in_tree()
    spec_units = re.search(r"^%global lltune_units (.+)$", _spec_text(), re.M).group(1)
    assert sorted(spec_units.split()) == units, "lltune.spec's lltune_units != systemd/"
    scripts = _scriptlets(built["rpm"])
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


def test_the_version_lives_in_lltune_init(built):
    version = lltune.__version__
    spec = _spec_text()
    default = re.search(r"^%\{!\?lltune_version:%global lltune_version (\S+)\}$", spec, re.M)
    assert default, "the spec's default version line changed shape"
    assert default.group(1) == version, "lltune.spec's default version != lltune.__version__"
    assert _query(built["rpm"], "--qf", "%{VERSION}").strip() == version
    newest = _query(built["rpm"], "--qf", "[%{CHANGELOGNAME}\n]").splitlines()[0]
    assert newest.endswith(" - %s-1" % version) or (" - %s-" % version) in newest, (
        "the newest %%changelog entry is not for %s: %s" % (version, newest))


def test_make_install_puts_files_where_the_rpm_does(built, tmp_path):
    root = tmp_path / "root"
    result = _run(["make", "--no-print-directory", "install", "DESTDIR=%s" % root,
                   "PKG_BUILDDIR=%s" % (tmp_path / "build")])
    assert result.returncode == 0, result.stdout[-6000:]
    listing = _listing(built["rpm"])
    installed = {}
    for directory, dirs, files in os.walk(str(root)):
        for name in dirs + files:
            path = os.path.join(directory, name)
            installed["/" + os.path.relpath(path, str(root))] = os.lstat(path).st_mode
    rpm_files = {path for path, mode in listing.items() if not stat.S_ISDIR(mode)}
    tree_files = {path for path, mode in installed.items() if not stat.S_ISDIR(mode)}
    assert rpm_files == tree_files, {"only in the RPM": sorted(rpm_files - tree_files),
                                     "only from make install": sorted(tree_files - rpm_files)}
    for path, mode in listing.items():
        assert path in installed, path
        assert stat.S_IMODE(installed[path]) == stat.S_IMODE(mode), path
    # Directories make install creates that nothing else fills (/etc/lltune, /var/lib/lltune)
    # are the package's.
    empty = {path for path, mode in installed.items()
             if stat.S_ISDIR(mode) and not os.listdir(str(root) + path)}
    assert empty <= set(listing), sorted(empty - set(listing))


@pytest.mark.parametrize("defines, profiles, tuned", [
    ({"rhel": "9"}, "/usr/lib/tuned/lltune/", "2.20"),
    ({"rhel": "10"}, "/usr/lib/tuned/profiles/lltune/", "2.23"),
    ({"fedora": "41"}, "/usr/lib/tuned/profiles/lltune/", "2.23"),
])
def test_the_tuned_profile_directory_follows_the_distribution(rpm_tools, defines, profiles,
                                                              tuned):
    args = ["rpmspec", "-P"] + _rpm_macro_args()
    for name, value in defines.items():
        args += ["--define", "%s %s" % (name, value)]
    result = _run(args + [SPEC])
    assert result.returncode == 0, result.stdout
    files = result.stdout.split("\n%files\n", 1)[1].split("\n%changelog", 1)[0]
    assert profiles in files.splitlines()
    assert re.search(r"^Requires:\s+tuned >= %s$" % re.escape(tuned), result.stdout, re.M)


def test_the_srpm_rebuilds_without_make(built):
    """What a RHEL user does, `rpmbuild --rebuild` of the SRPM, gets no --define: the spec's
    default version must name the tarball the SRPM carries."""
    sources = _query(built["srpm"], "-l").split()
    assert sorted(sources) == ["lltune-%s.tar.gz" % lltune.__version__, "lltune.spec"]
    result = _run(["rpmspec", "-q", "--srpm", "--qf", "%{VERSION}"] + _rpm_macro_args()
                  + [SPEC])
    assert result.returncode == 0, result.stdout
    assert result.stdout.split()[-1] == lltune.__version__
