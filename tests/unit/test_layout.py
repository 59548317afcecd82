"""Project rules that code review alone would let slip."""

import ast
import os

import lltune

PACKAGE = os.path.dirname(lltune.__file__)
# Calls that touch the host's files or spawn processes directly.
HOST_ACCESS = {"open", "os.open", "os.listdir", "os.scandir", "os.readlink", "os.stat",
               "os.lstat", "os.path.exists", "os.path.realpath", "os.path.isdir",
               "os.path.isfile", "glob.glob", "subprocess.run", "subprocess.Popen",
               "subprocess.check_output"}


def _calls(path):
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            parts = []
            while isinstance(func, ast.Attribute):
                parts.insert(0, func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                parts.insert(0, func.id)
                yield ".".join(parts), node.lineno


def test_collectors_read_the_host_only_through_the_reader():
    """STYLE.md: one reader owns the root; collectors name canonical paths only."""
    offenders = []
    directory = os.path.join(PACKAGE, "collectors")
    for name in sorted(os.listdir(directory)):
        if name.endswith(".py"):
            path = os.path.join(directory, name)
            offenders += ["%s:%d %s" % (name, line, call) for call, line in _calls(path)
                          if call in HOST_ACCESS]
    assert offenders == []


def test_every_module_compiles_as_python_3_9():
    """ast with feature_version=(3, 9) rejects match statements and other 3.10+ syntax."""
    for directory, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as handle:
                    ast.parse(handle.read(), path, feature_version=(3, 9))
