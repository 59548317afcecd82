"""The systemd units in systemd/: what lltune-verify.service may and may not do.

It verifies the host (reads /proc, /sys and /etc, asks tuned and systemd over the system bus,
writes under /var/lib/lltune, logs to the journal), so it runs hardened, and the hourly timer
that starts it must never start a tuned the administrator stopped. It must run on both tuned
profile layouts (RHEL 9: /etc/tuned/lltune/, RHEL 10: /etc/tuned/profiles/lltune/).
"""

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import REPO

UNITS = os.path.join(REPO, "systemd")
VERIFY = os.path.join(UNITS, "lltune-verify.service")
# What `lltune apply` writes, per layout (the spec's %ghost entries; test_rpm.py checks those).
APPLIED_PROFILES = ["/etc/tuned/lltune/tuned.conf", "/etc/tuned/profiles/lltune/tuned.conf"]
# Unit dependencies that start (or keep running) the units they name.
PULLING = ("Wants", "Requires", "Requisite", "BindsTo", "PartOf", "Upholds")
HARDENING = {"NoNewPrivileges": "yes", "ProtectHome": "yes", "PrivateTmp": "yes",
             "ProtectSystem": "full"}


def parse_unit(text):
    """{section: [(key, value), ...]} in file order (systemd allows repeated keys)."""
    sections, current = {}, None
    lines = iter(text.splitlines())
    for line in lines:
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines, "")
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        if stripped.startswith("[") and stripped.endswith("]"):
            current = sections.setdefault(stripped[1:-1], [])
            continue
        assert current is not None and "=" in stripped, "not a unit line: %r" % line
        key, value = stripped.split("=", 1)
        current.append((key.strip(), value.strip()))
    return sections


def values(section, key):
    """Every value of a key, in order; an empty assignment resets the list, as in systemd."""
    found = []
    for name, value in section:
        if name == key:
            found = [] if value == "" else found + [value]
    return found


def last(section, key):
    found = values(section, key)
    return found[-1] if found else None


def path_conditions_hold(unit, existing):
    """systemd's rule for Condition*= lines, for ConditionPathExists: every plain condition
    must hold, and at least one `|` (triggering) condition when there is any."""
    plain, triggering = [], []
    for value in values(unit.get("Unit", []), "ConditionPathExists"):
        trigger = value.startswith("|")
        value = value.lstrip("|")
        negate = value.startswith("!")
        path = value.lstrip("!")
        result = (path in existing) != negate
        (triggering if trigger else plain).append(result)
    return all(plain) and (not triggering or any(triggering))


def _verify_unit():
    with open(VERIFY, encoding="utf-8") as handle:
        return parse_unit(handle.read())


def test_verify_is_ordered_after_tuned_but_never_starts_it():
    unit = _verify_unit()
    words = " ".join(values(unit["Unit"], "After")).split()
    assert "tuned.service" in words
    for key in PULLING:
        named = " ".join(values(unit["Unit"], key)).split()
        assert "tuned.service" not in named, "%s=tuned.service would start tuned" % key
    # Nor may the timer or the install section pull tuned in.
    for name in sorted(os.listdir(UNITS)):
        with open(os.path.join(UNITS, name), encoding="utf-8") as handle:
            parsed = parse_unit(handle.read())
        for section in parsed.values():
            for key in PULLING + ("WantedBy", "RequiredBy", "Also"):
                assert "tuned.service" not in " ".join(values(section, key)).split(), (name, key)


def test_verify_runs_hardened():
    service = _verify_unit()["Service"]
    for key, value in HARDENING.items():
        assert last(service, key) == value, (key, last(service, key))
    # Nothing that breaks the system bus or netlink (the research notes in packaging/README.md).
    for key in ("PrivateNetwork", "RestrictAddressFamilies", "IPAddressDeny"):
        assert last(service, key) is None, key
    assert last(service, "ProtectSystem") != "strict"
    assert last(service, "Type") == "oneshot"
    assert last(service, "ExecStart") == "/usr/libexec/lltune/lltune-verify"


@pytest.mark.parametrize("existing, runs", [
    ({APPLIED_PROFILES[0]}, True),      # RHEL 9 layout, profile applied
    ({APPLIED_PROFILES[1]}, True),      # RHEL 10 layout, profile applied
    (set(APPLIED_PROFILES), True),
    (set(), False),                     # nothing applied: the unit is skipped, not failed
    ({"/etc/tuned/lltune-variables.conf"}, False),
])
def test_verify_runs_once_a_profile_is_applied_on_either_layout(existing, runs):
    assert path_conditions_hold(_verify_unit(), existing) == runs


def test_the_condition_evaluator_follows_systemd():
    """The parametrized check above would pass on a unit that ANDs the two paths if the
    evaluator treated every condition as triggering."""
    both_plain = parse_unit("[Unit]\nConditionPathExists=/a\nConditionPathExists=/b\n")
    assert not path_conditions_hold(both_plain, {"/a"})
    assert path_conditions_hold(both_plain, {"/a", "/b"})
    either = parse_unit("[Unit]\nConditionPathExists=|/a\nConditionPathExists=|/b\n")
    assert path_conditions_hold(either, {"/b"}) and not path_conditions_hold(either, set())
    negated = parse_unit("[Unit]\nConditionPathExists=|!/a\n")
    assert path_conditions_hold(negated, set()) and not path_conditions_hold(negated, {"/a"})
    reset = parse_unit("[Unit]\nConditionPathExists=/a\nConditionPathExists=\n")
    assert path_conditions_hold(reset, set())


def _analyze(root, units):
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", "--root=%s" % root]
                          + units, capture_output=True, text=True, timeout=120, check=False)
    # Line-numbered messages are about the unit file itself (unknown keys, bad values); the
    # rest is about the empty root (no sysinit.target there).
    return re.findall(r"^\S+:\d+: .*$", done.stdout + done.stderr, re.M)


@pytest.fixture
def unit_root(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed")
    target = tmp_path / "usr" / "lib" / "systemd" / "system"
    target.mkdir(parents=True)
    names = sorted(name for name in os.listdir(UNITS) if name.endswith((".service", ".timer")))
    for name in names:
        shutil.copy(os.path.join(UNITS, name), str(target / name))
    return tmp_path, ["/usr/lib/systemd/system/" + name for name in names]


def test_systemd_parses_every_unit_without_complaint(unit_root):
    root, units = unit_root
    assert _analyze(str(root), units) == []


def test_systemd_analyze_would_see_a_bad_line(unit_root):
    """The check above would pass on any unit if systemd-analyze's line messages were lost."""
    root, units = unit_root
    with open(str(root) + units[0], "a", encoding="utf-8") as handle:
        handle.write("[Service]\nProtectSystem=fulll\n")
    problems = _analyze(str(root), units)
    assert problems and "protect system" in problems[0].lower(), problems
