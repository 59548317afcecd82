"""Building lltune's RPMs with `make` into temporary trees, and reading them with rpm.

Used by the packaging tests through conftest.py's `rpm_builds` fixture: each variant is built
once per session, never into build/ or dist/ of the working tree. The bundled dbus-next sdist
is downloaded once per session (PKG_DOWNLOADDIR) and shared by every build.
"""

import os
import re
import shutil
import subprocess

import lltune
from tests.conftest import REPO

SPEC = os.path.join(REPO, "lltune.spec")
COMPAT_MACROS = os.path.join(REPO, "packaging", "rpm-macros.debian")
TOOLS = ["rpmbuild", "rpmlint", "rpm2cpio", "cpio", "rpmspec", "make"]

# What each layout puts where (lltune.spec, tuned_layout). `user`: tuned's user profile
# directory, where `lltune apply` writes and the package has only %ghost entries.
LAYOUTS = {
    "el9": {"profiles": "/usr/lib/tuned/lltune", "user": "/etc/tuned/lltune",
            "tuned": "2.18", "make": [], "subdir": ""},
    "el10": {"profiles": "/usr/lib/tuned/profiles/lltune", "user": "/etc/tuned/profiles/lltune",
             "tuned": "2.23", "make": ["TUNED_LAYOUT=el10"], "subdir": "el10"},
}
# Variant name -> (make arguments, the results' subdirectory of PKG_DISTDIR).
VARIANTS = {
    "el9": (LAYOUTS["el9"]["make"], ""),
    "el10": (LAYOUTS["el10"]["make"], "el10"),
    # What Fedora builds: dbus-next from the distribution.
    "system-dbus-next": (["BUNDLED_DBUS_NEXT=no"], ""),
}
VENDOR = "/usr/share/lltune/vendor"


def run(args, **kwargs):
    kwargs.setdefault("cwd", REPO)
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=600, check=False, **kwargs)


def missing_tools():
    return [tool for tool in TOOLS if not shutil.which(tool)]


def rpm_lacks_rhel_macros():
    """True where rpm is Debian's: packaging.mk then loads packaging/rpm-macros.debian."""
    return run(["rpm", "--eval", "%{?pyproject_wheel:yes}"]).stdout.strip() != "yes"


def rpm_macro_args():
    """What packaging.mk adds on Debian: the compat macros at the end of rpm's macro path
    (rpm 4.20's rpmbuild ignores a --load'ed file)."""
    if not rpm_lacks_rhel_macros():
        return []
    path = re.search(r"^Macro path: (.*)$", run(["rpm", "--showrc"]).stdout, re.M).group(1)
    return ["--macros=%s:%s" % (path, COMPAT_MACROS)]


def make_rpm(base, downloads, variant, target="rpm"):
    """`make TARGET` of a variant under `base`: {'rpm': path or None, 'srpm': path, ...}."""
    args, subdir = VARIANTS[variant]
    dist = os.path.join(str(base), "dist")
    result = run(["make", "--no-print-directory", target,
                  "PKG_BUILDDIR=%s" % os.path.join(str(base), "build"),
                  "PKG_DISTDIR=%s" % dist, "PKG_DOWNLOADDIR=%s" % downloads] + args)
    assert result.returncode == 0, "make %s %s failed:\n%s" % (target, " ".join(args),
                                                             result.stdout[-6000:])
    results = os.path.join(dist, subdir)
    version = lltune.__version__
    names = sorted(os.listdir(results))
    rpms = [name for name in names if name.startswith("lltune-%s-" % version)
            and name.endswith(".noarch.rpm")]
    srpms = [name for name in names if name.startswith("lltune-%s-" % version)
             and name.endswith(".src.rpm")]
    assert len(srpms) == 1 and len(rpms) == (1 if target == "rpm" else 0), names
    return {"rpm": os.path.join(results, rpms[0]) if rpms else None,
            "srpm": os.path.join(results, srpms[0]), "dir": str(base), "results": results,
            "log": result.stdout, "variant": variant,
            "sources": os.path.join(str(base), "build", "rpmbuild", "SOURCES")}


def query(package, *args):
    result = run(["rpm", "-qp"] + list(args) + [package])
    assert result.returncode == 0, result.stdout
    # Debian's rpm warns on stderr for every query; stdout and stderr are merged here.
    return "\n".join(line for line in result.stdout.splitlines()
                     if "use Alien" not in line and not line.startswith("warning: "))


def listing(package):
    """{path: mode} for every file and directory the package owns."""
    found = {}
    for line in query(package, "--qf", "[%{FILEMODES} %{FILENAMES}\n]").splitlines():
        mode, path = line.split(" ", 1)
        found[path] = int(mode)
    return found


def flags(package):
    """{path: rpm's file flags as letters (c config, n noreplace, g ghost, d doc, l license)}."""
    found = {}
    for line in query(package, "--qf", "[%{FILEFLAGS:fflags} %{FILENAMES}\n]").splitlines():
        flag, path = line.split(" ", 1) if not line.startswith(" ") else ("", line[1:])
        found[path] = flag
    return found


def requires(package):
    return [line.strip() for line in query(package, "--requires").splitlines() if line.strip()]


def provides(package):
    return [line.strip() for line in query(package, "--provides").splitlines() if line.strip()]


def extract(package, destination):
    """The payload of a package under `destination` (ghosts are not in it)."""
    os.makedirs(str(destination), exist_ok=True)
    result = run(["sh", "-c", 'rpm2cpio "$1" | cpio -idm --quiet', "sh", package],
                 cwd=str(destination))
    assert result.returncode == 0, result.stdout
    return str(destination)
