#!/usr/bin/python3
"""What RHEL 9's pyproject-rpm-macros do, for a machine without them (Debian), and for
`make install`.

packaging/rpm-macros.debian defines %pyproject_buildrequires, %pyproject_wheel,
%pyproject_install, %pyproject_save_files and %pyproject_check_import as calls of this script
(from the unpacked source tree, the rpmbuild working directory); packaging.mk's install-python
uses `wheel` and `install`. Each subcommand follows RHEL 9.3's pyproject-rpm-macros 1.9.0
(pyproject_buildrequires.py, pyproject_wheel.py, macros.pyproject, pyproject_save_files.py,
import_all_modules.py) as far as lltune needs it:

  buildrequires            the BuildRequires %generate_buildrequires prints
  wheel WHEELDIR           pip wheel --no-deps --no-build-isolation . into WHEELDIR
  install ROOT PREFIX WHEELDIR
                           pip install the wheel under ROOT with RHEL's layout
                           (PREFIX/lib/python3.X/site-packages), shebangs `PYTHON -s`, dist-info
                           as rpm leaves it, byte-compiled (.pyc and .opt-1.pyc)
  save-files ROOT SITELIB FILES MODULES GLOB...
                           the %files list of the matching top-level packages and their
                           dist-info into FILES, their importable module names into MODULES
  check-import ROOT SITELIB MODULES
                           import every module in MODULES from ROOT's site-packages

Python 3.9 compatible (`make install` on RHEL 9 runs it).
"""

import compileall
import fnmatch
import importlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from keyword import iskeyword

# pip's --prefix install on Debian's python3 uses the scheme sysconfig prefers: posix_local
# (PREFIX/local/lib/python3.X/dist-packages), or deb_system (PREFIX/lib/python3/dist-packages)
# when DEB_PYTHON_INSTALL_LAYOUT=deb. RHEL's pip uses posix_prefix: pip runs under that scheme
# here whatever the environment says, and the result is checked against SCHEME's paths.
SCHEME = "posix_prefix"
# The pip options of RHEL's macros, plus --isolated and --no-index: a developer's pip
# configuration (find-links, constraints, an index) must not change what is built, and
# nothing is ever downloaded.
PIP_WHEEL = ["wheel", "--no-deps", "--use-pep517", "--no-build-isolation",
             "--disable-pip-version-check", "--no-clean", "--progress-bar", "off", "--verbose",
             "--isolated", "--no-index"]
PIP_INSTALL = ["install", "--no-deps", "--disable-pip-version-check", "--progress-bar", "off",
               "--verbose", "--ignore-installed", "--no-warn-script-location", "--no-index",
               "--no-cache-dir", "--isolated"]
# Run as `python3 -c RUN_PIP args`: pip with SCHEME as the preferred prefix scheme (Python
# 3.10+ asks sysconfig; 3.9's pip uses distutils, whose prefix scheme is already RHEL's).
RUN_PIP = """
import runpy, sys, sysconfig
preferred = getattr(sysconfig, "_get_preferred_schemes", None)
if preferred is not None:
    sysconfig._get_preferred_schemes = lambda: dict(preferred(), prefix=%r)
sys.argv[0] = "pip"
runpy.run_module("pip", run_name="__main__", alter_sys=True)
""" % SCHEME


def fail(message):
    sys.stderr.write("pyproject-compat: %s\n" % message)
    sys.exit(1)


def scheme_paths(prefix):
    return sysconfig.get_paths(SCHEME, vars={"base": prefix, "platbase": prefix,
                                             "installed_base": prefix,
                                             "installed_platbase": prefix})


def run_pip(args):
    env = dict(os.environ)
    env.pop("DEB_PYTHON_INSTALL_LAYOUT", None)
    print("+ pip " + " ".join(args), flush=True)
    done = subprocess.run([sys.executable, "-c", RUN_PIP] + args, env=env, check=False)
    if done.returncode:
        fail("pip %s failed (%d)" % (args[0], done.returncode))


# --- buildrequires --------------------------------------------------------------------------

def rpm_requirement(text):
    """`PyYAML>=5.4` -> `python3dist(pyyaml) >= 5.4`, as pyproject_buildrequires.py writes it."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    requirement = Requirement(text)
    if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
        return None
    name = "python3dist(%s)" % canonicalize_name(requirement.name)
    operators = {">=": ">=", ">": ">", "<=": "<=", "<": "<", "==": "="}
    parts = []
    for specifier in sorted(requirement.specifier, key=str):
        if specifier.operator not in operators or "*" in specifier.version:
            fail("no rpm form for %r here (RHEL's pyproject_buildrequires.py has one)" % text)
        parts.append("%s %s %s" % (name, operators[specifier.operator], specifier.version))
    if not parts:
        return name
    return parts[0] if len(parts) == 1 else "(%s)" % " with ".join(parts)


def buildrequires(_args):
    out = ["pyproject-rpm-macros", "python3-devel", "python3dist(pip) >= 19",
           "python3dist(packaging)"]
    if not os.path.exists("pyproject.toml"):
        fail("no pyproject.toml")
    out.append("(python3dist(tomli) if python3-devel < 3.11)")
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib
    with open("pyproject.toml", "rb") as handle:
        system = tomllib.load(handle).get("build-system", {})
    requires = list(system.get("requires", []))
    backend_name = system.get("build-backend")
    if not backend_name:
        fail("pyproject.toml names no build-backend (RHEL's macros then want a setup.py)")
    sys.path.insert(0, os.getcwd())
    # What the backend prints is no BuildRequires: only this script's last lines go to stdout.
    sys.stdout.flush()
    stdout = os.dup(1)
    os.dup2(2, 1)
    try:
        backend = importlib.import_module(backend_name)
        requires += backend.get_requires_for_build_wheel()
        with tempfile.TemporaryDirectory() as directory:
            name = backend.prepare_metadata_for_build_wheel(directory)
            with open(os.path.join(directory, name, "METADATA"), encoding="utf-8") as handle:
                metadata = handle.read().split("\n\n", 1)[0]
        sys.stdout.flush()
    finally:
        os.dup2(stdout, 1)
        os.close(stdout)
    requires += [line.split(":", 1)[1].strip() for line in metadata.splitlines()
                 if line.startswith("Requires-Dist:")]
    for text in requires:
        line = rpm_requirement(text)
        if line and line not in out:
            out.append(line)
    print("\n".join(out))


# --- wheel and install ----------------------------------------------------------------------

def wheel(args):
    (wheeldir,) = args
    os.makedirs(wheeldir, exist_ok=True)
    run_pip(PIP_WHEEL + ["--wheel-dir", wheeldir, "."])


def _shebang_fix(path, python):
    """RHEL's %py3_shebang_fix (pathfix.py -pni PYTHON -ka s) for pip's console scripts."""
    with open(path, "rb") as handle:
        text = handle.read()
    first, sep, rest = text.partition(b"\n")
    if not first.startswith(b"#!") or b"python" not in first:
        return
    words = first[2:].split()
    flags = [word for word in words[1:] if word.startswith(b"-")]
    if not any(b"s" in flag for flag in flags):
        flags.append(b"-s")
    stat = os.stat(path)
    with open(path, "wb") as handle:
        handle.write(b"#!" + b" ".join([python.encode()] + flags) + sep + rest)
    os.utime(path, (stat.st_atime, stat.st_mtime))


def install(args):
    root, prefix, wheeldir = args
    root = root.rstrip("/")  # "" installs into / itself (`make install` without DESTDIR)
    wheels = sorted(name for name in os.listdir(wheeldir) if name.endswith(".whl"))
    if len(wheels) != 1:
        fail("expected one wheel in %s, found %s" % (wheeldir, wheels))
    name, version = wheels[0].split("-")[:2]
    run_pip(PIP_INSTALL + (["--root", root] if root else []) +
            ["--prefix", prefix, "--find-links", wheeldir, "%s==%s" % (name, version)])
    paths = scheme_paths(prefix)
    sitelib = root + paths["purelib"]
    if not os.path.isdir(sitelib):
        fail("pip did not install into %s" % paths["purelib"])
    bindir = root + paths["scripts"]
    if os.path.isdir(bindir):
        for entry in sorted(os.listdir(bindir)):
            if os.path.isfile(os.path.join(bindir, entry)):
                _shebang_fix(os.path.join(bindir, entry), sys.executable)
        shutil.rmtree(os.path.join(bindir, "__pycache__"), ignore_errors=True)
    for entry in sorted(os.listdir(sitelib)):
        if entry.endswith(".dist-info"):
            distinfo = os.path.join(sitelib, entry)
            with open(os.path.join(distinfo, "INSTALLER"), "w", encoding="utf-8") as handle:
                handle.write("rpm\n")
            for leftover in ("RECORD", "REQUESTED", "direct_url.json"):
                if os.path.exists(os.path.join(distinfo, leftover)):
                    os.unlink(os.path.join(distinfo, leftover))
    # What brp-python-bytecompile does on RHEL after %install (-O0 and -O1, the paths the
    # files will have once installed), whatever PYTHONDONTWRITEBYTECODE says.
    options = {"stripdir": root, "prependdir": "/"} if root else {}
    if not compileall.compile_dir(sitelib, quiet=1, force=True, optimize=[0, 1], **options):
        fail("byte-compiling %s failed" % sitelib)


# --- save-files and check-import ------------------------------------------------------------

def _valid_module_name(name):
    return name.isidentifier() and not iskeyword(name) and not name.startswith("_")


def _module_names(relative):
    """Importable names a .py file under site-packages gives ("a/b/c.py": a, a.b, a.b.c)."""
    parts = relative.split(os.sep)
    if not parts[-1].endswith(".py"):
        return set()
    parts[-1] = parts[-1][:-3]
    if parts[-1] == "__init__":
        del parts[-1]
    if not parts or not all(_valid_module_name(part) for part in parts):
        return set()
    return {".".join(parts[:count + 1]) for count in range(len(parts))}


def save_files(args):
    root, sitelib, files_out, modules_out = args[:4]
    globs = args[4:]
    site = root + sitelib
    entries = sorted(os.listdir(site))
    tops = [entry for entry in entries
            if os.path.isdir(os.path.join(site, entry)) and not entry.endswith(".dist-info")
            and any(fnmatch.fnmatchcase(entry, glob) for glob in globs)]
    if not tops:
        fail("no top-level package in %s matches %s" % (sitelib, " ".join(globs)))
    lines, modules = [], set()
    for top in tops:
        lines.append("%s/%s/" % (sitelib, top))
        for directory, dirs, names in os.walk(os.path.join(site, top)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in names:
                modules |= _module_names(os.path.relpath(os.path.join(directory, name), site))
    # The metadata of what %pyproject_install installed (one wheel: one dist-info), as RHEL's
    # script lists it from the install record.
    lines += ["%s/%s/" % (sitelib, entry) for entry in entries if entry.endswith(".dist-info")]
    with open(files_out, "w", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))
    with open(modules_out, "w", encoding="utf-8") as handle:
        handle.write("".join(name + "\n" for name in sorted(modules)))


def check_import(args):
    root, sitelib, modules_file = args
    site = os.path.realpath(root + sitelib)
    sys.dont_write_bytecode = True  # PYTHONDONTWRITEBYTECODE=1 in RHEL's %py3_check_import
    # import_all_modules.py: the buildroot first, never the source tree in the working directory.
    cwd = os.path.realpath(os.getcwd())
    sys.path[:] = [site] + [entry for entry in sys.path
                            if entry and os.path.realpath(entry) != cwd]
    with open(modules_file, encoding="utf-8") as handle:
        modules = [line.strip() for line in handle if line.strip()]
    if not modules:
        fail("%s lists no module" % modules_file)
    for name in modules:
        print("Check import: %s" % name, flush=True)
        module = importlib.import_module(name)
        origin = os.path.realpath(getattr(module, "__file__", "") or "")
        if not origin.startswith(site + os.sep):
            fail("%s was imported from %s, not from the buildroot" % (name, origin))


COMMANDS = {"buildrequires": buildrequires, "wheel": wheel, "install": install,
            "save-files": save_files, "check-import": check_import}


def main(argv):
    if not argv or argv[0] not in COMMANDS:
        fail("usage: pyproject-compat.py %s ARGS" % "|".join(sorted(COMMANDS)))
    COMMANDS[argv[0]](argv[1:])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
