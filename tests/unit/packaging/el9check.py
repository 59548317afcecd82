"""Can RHEL 9 satisfy a package's requirements? Checked against packaging/rhel9-packages.json.

A requirement is satisfied when a package of the table that is in a RHEL 9 repository (BaseOS,
AppStream, CRB, EPEL 9) provides it, at the oldest version the table records for that
package. Rich dependencies ("(A if B)") are evaluated the same way, and every name in them
must be known to the table. The few requirements no repository answers are handled here,
each with its reason (EXCEPTIONS).

The same check runs against a Debian guest (target "debian12" or "debian13"): the table's
Debian column then names the package and its upstream version, as the system tests register
them as RPM provides.
"""

import json
import os
import re
from typing import Dict, List, Optional, Tuple

from tests.conftest import REPO

TABLE = os.path.join(REPO, "packaging", "rhel9-packages.json")
REPOSITORIES = {"BaseOS", "AppStream", "CRB", "EPEL 9"}
OPERATORS = ("<=", ">=", "<", ">", "=")
RICH_OPERATORS = {"and", "or", "if", "else", "with", "without", "unless"}

EXCEPTIONS = {
    "own provides": "rpm satisfies a requirement on one of the package's own capabilities from "
                    "the package itself (config(lltune) = VERSION-RELEASE for its %config file)",
    "python(abi)": "python(abi) = X.Y comes from the site-packages directory the package installs "
                   "into, i.e. from the Python that built it: 3.9 on RHEL 9 (python3 provides "
                   "python(abi) = 3.9), Debian's 3.11 here. Checked: the table has a provider of "
                   "python(abi), and X.Y is the version of the package's own site-packages.",
    "pythonX.Ydist()": "pythonX.Ydist(NAME) is pythonNdist(NAME) of the building Python (3.11 "
                       "here, 3.9 on RHEL 9): checked as python3dist(NAME), which every RHEL 9 "
                       "Python package provides beside python3.9dist(NAME).",
    "rpmlib()": "rpmlib(FEATURE) requirements are answered by rpm itself, not by a package in the "
                "rpmdb: the table's rpm row lists the features of RHEL 9's rpm 4.16.1.3.",
}


# --- rpm's version comparison ---------------------------------------------------------------

def _alnum(char: str) -> bool:
    return char.isascii() and char.isalnum()


def rpmvercmp(a: str, b: str) -> int:
    """rpm's rpmvercmp (lib/rpmvercmp.c): -1, 0 or 1; `~` sorts before anything, `^` after
    the end of the other string but before more segments."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not _alnum(a[i]) and a[i] not in "~^":
            i += 1
        while j < len(b) and not _alnum(b[j]) and b[j] not in "~^":
            j += 1
        if (i < len(a) and a[i] == "~") or (j < len(b) and b[j] == "~"):
            if i >= len(a) or a[i] != "~":
                return 1
            if j >= len(b) or b[j] != "~":
                return -1
            i, j = i + 1, j + 1
            continue
        if (i < len(a) and a[i] == "^") or (j < len(b) and b[j] == "^"):
            if i >= len(a):
                return -1
            if j >= len(b):
                return 1
            if a[i] != "^":
                return 1
            if b[j] != "^":
                return -1
            i, j = i + 1, j + 1
            continue
        if not (i < len(a) and j < len(b)):
            break
        numeric = a[i].isdigit()
        test = str.isdigit if numeric else str.isalpha
        start_i, start_j = i, j
        while i < len(a) and a[i].isascii() and test(a[i]):
            i += 1
        while j < len(b) and b[j].isascii() and test(b[j]):
            j += 1
        one, two = a[start_i:i], b[start_j:j]
        if not two:
            return 1 if numeric else -1
        if numeric:
            one, two = one.lstrip("0"), two.lstrip("0")
            if len(one) != len(two):
                return 1 if len(one) > len(two) else -1
        if one != two:
            return 1 if one > two else -1
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def parse_evr(text: str) -> Tuple[Optional[str], str, Optional[str]]:
    """[epoch:]version[-release] -> (epoch or None, version, release or None)."""
    epoch = None
    if ":" in text:
        epoch, text = text.split(":", 1)
    version, _, release = text.partition("-")
    return epoch, version, release or None


def _compare_values(one: Optional[str], two: Optional[str]) -> int:
    if one is None or two is None:
        return (one is not None) - (two is not None)
    return rpmvercmp(one, two)


def compare_evr(a: str, b: str) -> int:
    """rpm's rpmverCmp (rpmio/rpmver.c): the order of two EVRs; a missing epoch is 0, a
    missing release sorts first. Used to find the oldest of several builds."""
    (e1, v1, r1), (e2, v2, r2) = parse_evr(a), parse_evr(b)
    return (_compare_values(e1 or "0", e2 or "0") or _compare_values(v1, v2)
            or _compare_values(r1, r2))


def satisfies(provided: Optional[str], operator: Optional[str], required: Optional[str]) -> bool:
    """Does `NAME = provided` meet `NAME operator required`? rpm's rpmdsCompare and
    rpmverOverlap (lib/rpmds.c, rpmio/rpmver.c of rpm 4.16.1.3): an unversioned side always
    matches; an epoch present on one side only counts when it is above 0; the release counts
    only when both sides have one, and a side without release matches when the other side
    says `=`."""
    if operator is None or provided is None or required is None:
        return True
    less, equal, greater = "<" in operator, "=" in operator, ">" in operator
    (e1, v1, r1), (e2, v2, r2) = parse_evr(provided), parse_evr(required)
    if e1 and e2:
        sense = rpmvercmp(e1, e2)
    elif e1 and int(e1) > 0:
        sense = 1
    elif e2 and int(e2) > 0:
        sense = -1
    else:
        sense = 0
    if sense == 0:
        sense = rpmvercmp(v1, v2)
        if sense == 0:
            if r1 and r2:
                sense = rpmvercmp(r1, r2)
            elif (r1 and equal) or r2:
                return True  # the provide says `=`, so a side without release matches
    # `= provided` against `operator required`: provided below required meets `<`, above
    # meets `>`, equal meets `=`.
    if sense < 0:
        return less
    if sense > 0:
        return greater
    return equal


# --- requirements ---------------------------------------------------------------------------

class Atom:
    def __init__(self, name: str, operator: Optional[str] = None, version: Optional[str] = None):
        self.name, self.operator, self.version = name, operator, version

    def __str__(self) -> str:
        return " ".join(part for part in (self.name, self.operator, self.version) if part)


def parse(text: str):
    """A requirement as rpm -q --requires prints it: an Atom, or (operator, [operands]) for a
    rich dependency; `A if B else C` is ("if", [A, B, C])."""
    tokens = _tokens(text)
    if not tokens:
        raise ValueError("empty requirement")
    if tokens[0] != "(":
        return _atom(tokens, text)
    position = [0]

    def expression():
        assert tokens[position[0]] == "("
        position[0] += 1
        operands, operator = [term()], None
        while tokens[position[0]] != ")":
            word = tokens[position[0]]
            if word not in RICH_OPERATORS:
                raise ValueError("not a rich operator: %r in %r" % (word, text))
            if word == "else" and operator == "if":
                pass
            elif operator not in (None, word):
                raise ValueError("mixed operators in %r" % text)
            else:
                operator = word
            position[0] += 1
            operands.append(term())
        position[0] += 1
        return (operator or "and", operands)

    def term():
        if tokens[position[0]] == "(":
            return expression()
        start = position[0]
        position[0] += 1
        if position[0] + 1 < len(tokens) and tokens[position[0]] in OPERATORS:
            position[0] += 2
        return _atom(tokens[start:position[0]], text)

    result = expression()
    if position[0] != len(tokens):
        raise ValueError("trailing text in %r" % text)
    return result


def _tokens(text: str) -> List[str]:
    """"(", ")" and words; a word keeps its own balanced parentheses (bundled(python3dist(x)))."""
    tokens, i = [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text[i] in "()":
            tokens.append(text[i])
            i += 1
        else:
            start, depth = i, 0
            while i < len(text) and not (depth == 0 and (text[i].isspace() or text[i] == ")")):
                depth += {"(": 1, ")": -1}.get(text[i], 0)
                i += 1
            tokens.append(text[start:i])
    return tokens


def _atom(tokens: List[str], text: str) -> Atom:
    if len(tokens) == 1:
        return Atom(tokens[0])
    if len(tokens) == 3 and tokens[1] in OPERATORS:
        return Atom(*tokens)
    raise ValueError("not a requirement: %r" % text)


def _atoms(node) -> List[Atom]:
    if isinstance(node, Atom):
        return [node]
    return [atom for operand in node[1] for atom in _atoms(operand)]


TARGETS = ("el9", "debian12", "debian13")


def debian_upstream(version: str) -> str:
    """A Debian version's upstream part: no epoch (Debian's differ from RHEL's), no revision."""
    version = version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version


class Table:
    def __init__(self, data: Dict):
        self.data = data
        self.minors = data["minors"]
        self.packages = data["packages"]
        # capability -> [(package, explicit version or None, what versions it)]
        self.capabilities: Dict[str, List[Tuple[str, Optional[str], str]]] = {}
        for name, row in self.packages.items():
            self._add(name, name, None, "package")
            for entry in row.get("provides", []):
                capability, _, version = (part.strip() for part in entry.partition(" = "))
                if version:
                    kind = "explicit"
                elif capability.startswith("/"):
                    kind = "file"
                else:
                    kind = "upstream"  # python3dist(x) = the package's version, no release
                self._add(capability, name, version or None, kind)

    @classmethod
    def load(cls, path: str = TABLE) -> "Table":
        with open(path, encoding="utf-8") as handle:
            return cls(json.load(handle))

    def _add(self, capability: str, package: str, version: Optional[str], kind: str) -> None:
        self.capabilities.setdefault(capability, []).append((package, version, kind))

    def oldest(self, package: str) -> Optional[str]:
        """The version of the oldest RHEL 9 minor that has one, else the lowest unmapped build."""
        row = self.packages[package]
        for minor in self.minors:
            if minor in row.get("versions", {}):
                return row["versions"][minor]
        builds = list(row.get("builds", []))
        if not builds:
            return None
        oldest = builds[0]
        for build in builds[1:]:
            if compare_evr(build, oldest) < 0:
                oldest = build
        return oldest

    def version(self, package: str, target: str) -> Optional[str]:
        if target == "el9":
            return self.oldest(package)
        debian = self.packages[package][target]
        return debian_upstream(debian["version"]) if debian["version"] else None

    def available(self, package: str, target: str) -> bool:
        if target == "el9":
            return self.packages[package].get("repository") in REPOSITORIES
        return self.packages[package][target]["package"] is not None

    def providers(self, name: str, target: str = "el9") -> List[Tuple[str, Optional[str]]]:
        """(package, the version it provides `name` at, None for files) on the target."""
        found = []
        for package, version, kind in self.capabilities.get(name, []):
            if kind == "package":
                version = self.version(package, target)
            elif kind == "upstream":
                full = self.version(package, target)
                version = parse_evr(full)[1] if full else None
            found.append((package, version))
        return found


def _normalized(name: str) -> str:
    """pythonX.Ydist(NAME) -> python3dist(NAME) (EXCEPTIONS["pythonX.Ydist()"])."""
    return re.sub(r"^python3\.\d+dist\(", "python3dist(", name)


def check(requirements: List[str], table: Table, own_provides: List[str] = (),
          python_abi: Optional[str] = None, target: str = "el9") -> List[str]:
    """The problems the target (RHEL 9, or a Debian guest) has with `requirements` (empty:
    all satisfiable)."""
    assert target in TARGETS, target
    own = {}
    for line in own_provides:
        atom = parse(line)
        own[atom.name] = atom.version
    problems = []
    for line in requirements:
        try:
            node = parse(line)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        unknown = [atom.name for atom in _atoms(node)
                   if not table.capabilities.get(_normalized(atom.name)) and atom.name not in own]
        if unknown:
            problems.append("%s: %s unknown to %s" % (line, ", ".join(unknown),
                                                       os.path.basename(TABLE)))
            continue
        failure = _unsatisfied(node, table, own, python_abi, target)
        if failure:
            problems.append("%s: %s" % (line, failure))
    return problems


def _holds(atom: Atom, table: Table, own: Dict[str, Optional[str]],
           python_abi: Optional[str], target: str) -> Optional[str]:
    """None when the target (RHEL 9: the oldest recorded versions) satisfies the atom, else
    why not."""
    if atom.name in own and satisfies(own[atom.name], atom.operator, atom.version):
        return None  # EXCEPTIONS["own provides"]
    if atom.name == "python(abi)" and python_abi is not None:
        # EXCEPTIONS["python(abi)"]: the building Python's version, which must be the one of
        # the package's site-packages; RHEL 9's python3 provides python(abi) = 3.9.
        return None if atom.operator == "=" and atom.version == python_abi else \
            "python(abi) must be the package's own site-packages version %s" % python_abi
    reasons = []
    for package, version in table.providers(_normalized(atom.name), target):
        if not table.available(package, target):
            reasons.append("%s is in no RHEL 9 repository (BaseOS, AppStream, CRB, EPEL 9)"
                           % package if target == "el9" else
                           "%s has no %s package" % (package, target))
        elif atom.operator and version is None:
            reasons.append("%s: no version recorded" % package)
        elif not satisfies(version, atom.operator, atom.version):
            reasons.append("%s's %s version %s does not satisfy it"
                           % (package, "oldest recorded" if target == "el9" else target,
                              version))
        else:
            return None
    return "; ".join(reasons) or "nothing provides it"


def _unsatisfied(node, table, own, python_abi, target) -> Optional[str]:
    if isinstance(node, Atom):
        return _holds(node, table, own, python_abi, target)
    operator, operands = node
    results = [_unsatisfied(operand, table, own, python_abi, target) for operand in operands]
    ok = [result is None for result in results]
    if operator in ("and", "with"):
        failed = [result for result in results if result]
        return "; ".join(failed) if failed else None
    if operator == "without":
        return results[0]
    if operator == "or":
        return None if any(ok) else "; ".join(results)
    if operator == "unless":   # A unless B: A, when B is not installed
        return None if ok[1] or ok[0] else results[0]
    if operator == "if":       # A if B [else C]
        if ok[1]:
            return results[0]
        return results[2] if len(results) == 3 else None
    raise ValueError(operator)
