"""dbus-next reaches lltune through one function: lltune.system.dbus.import_dbus_next().

RHEL 9 has no python3-dbus-next, so the RPM bundles dbus-next in a private directory
(VENDOR_DIR, outside site-packages). The function must use the system's copy when there is one
and the bundled one only when there is not. Each case runs in a fresh interpreter: the test
process has dbus_next imported already.
"""

import ast
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest

from lltune.system import dbus
from tests.conftest import REPO

PACKAGE = os.path.join(REPO, "lltune")
FUNCTION = "import_dbus_next"

# Run in the child: {"hidden": bool, "file": ..., "path_tail": ..., "error": ...} on stdout.
# `-I -S` (isolated, no site): neither the venv's site-packages nor PYTHONPATH is on sys.path,
# so the only dbus_next Python can find is one the child puts there itself.
CHILD = r"""
import importlib.util, json, sys
repo, vendor, hide = sys.argv[1], sys.argv[2], sys.argv[3] == "hide"
if not hide:
    sys.path[:0] = json.loads(sys.argv[4])
sys.path.insert(0, repo)
result = {"hidden": importlib.util.find_spec("dbus_next") is None}
from lltune.system.dbus import BusUnavailable, import_dbus_next
try:
    module = import_dbus_next(vendor)
    result["file"] = module.__file__
    result["bus"] = module.aio.MessageBus.__module__
    result["flag"] = int(module.constants.MessageFlag.NO_AUTOSTART)
except BusUnavailable as exc:
    result["error"] = str(exc)
result["path_tail"] = sys.path[-1]
result["vendor_on_path"] = vendor in sys.path
print(json.dumps(result))
"""


def _system_dbus_next():
    spec = importlib.util.find_spec("dbus_next")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("dbus-next is not installed for %s" % sys.executable)
    return list(spec.submodule_search_locations)[0]


def run_child(vendor, hide, extra_path=()):
    """The child's result dict; `hide`: no site directories, so no system dbus_next."""
    args = [sys.executable, "-I", "-S", "-c", CHILD, REPO, str(vendor),
            "hide" if hide else "show", json.dumps(list(extra_path))]
    done = subprocess.run(args, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def bundled_copy(tmp_path):
    """A vendor directory holding a copy of the real dbus_next, as the RPM lays it out."""
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    shutil.copytree(_system_dbus_next(), str(vendor / "dbus_next"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    return vendor


def test_without_a_system_copy_the_bundled_one_is_imported(bundled_copy):
    result = run_child(bundled_copy, hide=True)
    assert result["hidden"], "the child still found a system dbus_next: the test proves nothing"
    assert "error" not in result, result
    assert result["file"] == str(bundled_copy / "dbus_next" / "__init__.py")
    assert result["bus"] == "dbus_next.aio.message_bus"
    assert result["flag"] == 2  # MessageFlag.NO_AUTOSTART
    # Appended, never prepended: the bundled copy comes after everything else.
    assert result["path_tail"] == str(bundled_copy)


def test_the_system_copy_wins_over_the_bundled_one(bundled_copy):
    system = os.path.dirname(_system_dbus_next())
    result = run_child(bundled_copy, hide=False, extra_path=[system])
    assert not result["hidden"]
    assert "error" not in result, result
    assert result["file"] == os.path.join(system, "dbus_next", "__init__.py")
    assert not result["vendor_on_path"]


def test_neither_copy_is_bus_unavailable(tmp_path):
    result = run_child(tmp_path, hide=True)
    assert result["hidden"]
    assert "not installed" in result["error"] and str(tmp_path) in result["error"]
    assert not result["vendor_on_path"]


def test_a_broken_bundled_copy_is_bus_unavailable(tmp_path):
    (tmp_path / "dbus_next").mkdir()
    (tmp_path / "dbus_next" / "__init__.py").write_text("raise ImportError('broken copy')\n")
    result = run_child(tmp_path, hide=True)
    assert "does not import" in result["error"] and "broken copy" in result["error"], result


def test_the_default_vendor_dir_is_where_the_spec_installs_it():
    with open(os.path.join(REPO, "lltune.spec"), encoding="utf-8") as handle:
        spec = handle.read()
    assert "%global lltune_vendor_dir %{_datadir}/lltune/vendor\n" in spec
    assert dbus.VENDOR_DIR == "/usr/share/lltune/vendor"


def _dbus_next_imports(path):
    """(line, function) of every import of dbus_next in a module; function None at top level."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    found = []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            inner = child.name if isinstance(child, (ast.FunctionDef,
                                                     ast.AsyncFunctionDef)) else function
            names = []
            if isinstance(child, ast.Import):
                names = [alias.name for alias in child.names]
            elif isinstance(child, ast.ImportFrom):
                names = [child.module or ""]
            elif isinstance(child, ast.Call):
                # importlib.import_module("dbus_next...") and __import__("dbus_next...")
                names = [arg.value for arg in child.args
                         if isinstance(arg, ast.Constant) and isinstance(arg.value, str)]
                func = child.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name not in ("import_module", "__import__"):
                    names = []
            if any(name == "dbus_next" or name.startswith("dbus_next.") for name in names):
                found.append((child.lineno, function))
            visit(child, inner)

    visit(tree, None)
    return found


def test_only_import_dbus_next_imports_dbus_next():
    offenders, inside = [], []
    for directory, dirs, files in os.walk(PACKAGE):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, REPO)
            for line, function in _dbus_next_imports(path):
                if relative == os.path.join("lltune", "system", "dbus.py") and \
                        function == FUNCTION:
                    inside.append(line)
                else:
                    offenders.append("%s:%d" % (relative, line))
    assert offenders == [], "import dbus_next through lltune.system.dbus.import_dbus_next()"
    assert inside, "import_dbus_next() no longer imports dbus_next: the check is stale"


def test_the_import_finder_sees_every_form(tmp_path):
    """The check above would pass on any tree if _dbus_next_imports missed a form."""
    module = tmp_path / "m.py"
    module.write_text(
        "import dbus_next\n"
        "def f():\n"
        "    from dbus_next.aio import MessageBus\n"
        "    import importlib\n"
        "    importlib.import_module('dbus_next.constants')\n"
        "async def g():\n"
        "    __import__('dbus_next')\n"
        "import dbus_nextish\n"
        "importlib.import_module('yaml')\n")
    assert _dbus_next_imports(str(module)) == [(1, None), (3, "f"), (5, "f"), (7, "g")]
