"""An RPM that tells a Debian guest's rpm database what dpkg has installed, under RHEL's names.

lltune's RPM requires RHEL 9 package names (tuned >= 2.18, python3-pyyaml, util-linux-core,
python3.9dist(...), ...). A Debian guest has the same software from Debian's packages, which
rpm knows nothing of. This module builds, on the host, a package that Provides each RHEL name
of packaging/rhel9-packages.json whose Debian counterpart (the table's debian12/debian13
column) the guest has installed, at the version dpkg reports there, so `rpm -ivh lltune.rpm`
checks every requirement for real, without --nodeps. What the guest lacks is not provided:
python3-dbus-next, for one, has no row with a Debian package, so the RPM must bring its own.
"""

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, List

REPO = Path(__file__).resolve().parents[2]
TABLE = REPO / "packaging" / "rhel9-packages.json"
NAME = "lltune-test-guest-provides"
# Debian release -> the table's column.
COLUMNS = {"12": "debian12", "13": "debian13"}


def rpm_evr(debian_version: str) -> str:
    """A Debian version as rpm reads an EVR: epoch kept, upstream part, the Debian revision as
    the release; characters rpm refuses in a version become '.'."""
    epoch, _, rest = debian_version.rpartition(":")
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    clean = lambda text: re.sub(r"[^A-Za-z0-9._+~^]", ".", text)  # noqa: E731
    evr = clean(upstream)
    if revision:
        evr += "-" + clean(revision)
    return ("%s:%s" % (epoch, evr)) if epoch else evr


def upstream(debian_version: str) -> str:
    """The upstream part of a Debian version ("6.0.2-1+b2" -> "6.0.2")."""
    rest = debian_version.rpartition(":")[2]
    return rest.rpartition("-")[0] if "-" in rest else rest


def provides(table: Dict, column: str, installed: Dict[str, str], python: str) -> List[str]:
    """The Provides lines for a guest: `installed` is dpkg's {package: version}, `python` the
    guest's X.Y. Python-versioned names (python(abi), pythonX.Ydist(...)) follow the guest's
    Python, as the same packages built there would provide them."""
    lines = []
    for name, row in sorted(table["packages"].items()):
        debian = row.get(column) or {}
        version = installed.get(debian.get("package") or "")
        if row.get("role") != "runtime" or not version:
            continue
        lines.append("%s = %s" % (name, rpm_evr(version)))
        for extra in row.get("provides") or []:
            if extra.startswith("rpmlib("):
                continue  # rpm provides these itself
            if extra.startswith("python(abi)"):
                lines.append("python(abi) = %s" % python)
            elif re.match(r"^python3(\.\d+)?dist\(", extra):
                dist = re.sub(r"^python3(\.\d+)?dist", "", extra)
                for prefix in ("python3dist", "python%sdist" % python):
                    lines.append("%s%s = %s" % (prefix, dist, upstream(version)))
            elif re.match(r"^python3\.\d+$", extra):
                lines.append("python%s" % python)
            else:
                lines.append(extra)
    return sorted(set(lines))


def spec(lines: List[str], suite: str) -> str:
    return "\n".join([
        "Name: %s" % NAME, "Version: 1", "Release: 1", "BuildArch: noarch",
        "License: GPL-2.0-or-later",
        "Summary: What dpkg installed in the %s test guest, under RHEL's names" % suite,
    ] + ["Provides: %s" % line for line in lines] + [
        "", "%description", "Test fixture of lltune's system tests: Provides only.", "",
        "%files", ""])


def build(guest, directory: Path) -> Path:
    """Build the guest's provides RPM on the host into `directory`; return its path."""
    release = guest.run(". /etc/os-release; printf %s \"$VERSION_ID\"", check=True).stdout
    column = COLUMNS[release.strip()]
    table = json.loads(TABLE.read_text())
    out = guest.run("dpkg-query -W -f '${db:Status-Abbrev} ${Package} ${Version}\\n'",
                    check=True).stdout
    installed = {fields[1]: fields[2] for fields in (line.split() for line in out.splitlines())
                 if len(fields) == 3 and fields[0].startswith("ii")}
    python = guest.run("python3 -c 'import sys; print(\"%d.%d\" % sys.version_info[:2])'",
                       check=True).stdout.strip()
    work = Path(tempfile.mkdtemp(prefix="guest-provides-"))
    try:
        (work / "provides.spec").write_text(spec(provides(table, column, installed, python),
                                                 guest.suite))
        done = subprocess.run(
            ["rpmbuild", "-bb", "--dbpath", str(work / "rpmdb"),
             "--define", "_topdir %s" % work, "--define", "_rpmdir %s" % work,
             "--define", "_build_name_fmt %%{NAME}.rpm", str(work / "provides.spec")],
            capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError("rpmbuild of the guest provides failed: %s" % done.stderr[-2000:])
        directory.mkdir(parents=True, exist_ok=True)
        target = directory / (NAME + ".rpm")
        shutil.copyfile(str(work / (NAME + ".rpm")), str(target))
        return target
    finally:
        shutil.rmtree(str(work), ignore_errors=True)
