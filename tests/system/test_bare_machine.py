"""`make run` on a bare Debian 12 machine: python3, python3-venv, make and git, nothing else.

No guest: tests/bare/bare_machine.py builds (once, cached by its recipe) a minbase Debian 12
root, clones HEAD of this repository inside it and runs `make run` there as root, in a private
mount namespace with this machine's /proc and /sys bound in read-only. Not using the `guest`
fixture, this test sorts before the guest tests (conftest.py).

Skips only when the host cannot run the check at all (no mmdebstrap to build the root and none
cached, no unshare, not root); LLTUNE_RIG_REQUIRE=1 (CI) makes that a failure.
"""

import os
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bare"))

import bare_machine
import rigplugin


class BareCheckUnavailable(UserWarning):
    """The bare-machine check was skipped: this host cannot run it."""


def test_make_run_on_a_bare_debian12_machine(tmp_path):
    why = bare_machine.unavailable()
    if why:
        msg = "BARE-MACHINE CHECK NOT RUN: %s" % why
        if os.environ.get("LLTUNE_RIG_REQUIRE") == "1":
            pytest.fail(msg + " (LLTUNE_RIG_REQUIRE=1)")
        rigplugin.loud(msg)
        warnings.warn(BareCheckUnavailable(msg), stacklevel=1)
        pytest.skip(msg)
    result = bare_machine.check(out=tmp_path / "bare")
    summary = bare_machine.describe(result)
    sys.stderr.write(summary + "\n")
    if result["source"]["uncommitted_count"]:
        warnings.warn(UserWarning("bare-machine check ran on HEAD %s: %d uncommitted change(s) "
                                  "of the work tree are not part of it" % (
                                      result["source"]["commit"][:12],
                                      result["source"]["uncommitted_count"])), stacklevel=1)
    assert not result["problems"], summary
    # What the check saw, spelled out: the venv is the product's only, the root had no
    # compiler (so nothing was built from C source), and the scan read this machine.
    assert result["inspect"]["test_tools"] == []
    assert result["compilers"] == [] and result["python_headers"] == []
    assert (tmp_path / "bare" / "snapshot.yaml").stat().st_size > 0
    assert not result["mounts_left_outside"]


def test_only_what_pip_needs_passes_into_the_root(tmp_path):
    host = {"PIP_CERT": "/etc/ssl/certs/ca-certificates.crt", "PIP_FIND_LINKS": "/opt/wheels",
            "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt", "https_proxy": "http://p:3128",
            "PATH": "/root/.pyenv/shims:/usr/bin", "VIRTUAL_ENV": "/work/main/.venv",
            "PYTHONPATH": "/work/main", "PYENV_VERSION": "3.9.18", "LLTUNE_RIG_REQUIRE": "1",
            "GIT_SSL_CAINFO": "/etc/ssl/certs/ca-certificates.crt", "HOME": "/home/dev"}
    env = bare_machine.chroot_env(host)
    assert env["PATH"] == bare_machine.CHROOT_PATH and env["HOME"] == "/root"
    for name in ("PIP_CERT", "PIP_FIND_LINKS", "SSL_CERT_FILE", "https_proxy"):
        assert env[name] == host[name]
    for name in ("VIRTUAL_ENV", "PYTHONPATH", "PYENV_VERSION", "LLTUNE_RIG_REQUIRE",
                 "GIT_SSL_CAINFO"):
        assert name not in env
    bundle = tmp_path / "ca.crt"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    files = bare_machine.files_to_pass({"PIP_CERT": str(bundle), "SSL_CERT_FILE": "relative",
                                        "REQUESTS_CA_BUNDLE": "/etc/passwd"})
    assert files == ["/etc/resolv.conf", str(bundle)]


def test_bare_recipe_key_changes_with_the_recipe_only():
    key = bare_machine.recipe_key()
    assert key == bare_machine.recipe_key(dict(bare_machine.RECIPE))
    changed = dict(bare_machine.RECIPE, packages=bare_machine.RECIPE["packages"] + ["gcc"])
    assert bare_machine.recipe_key(changed) != key
