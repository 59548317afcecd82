"""Project rules that code review alone would let slip: the package's rooms and their order, no
import circle, small modules, one reader of the host, one set of snapshot queries."""

import ast
import os

import lltune

PACKAGE = os.path.dirname(lltune.__file__)
# The rooms, lowest first: a module imports from its own room and the rooms before it only.
# The data flow reads left to right (host -> model -> config -> audit -> gen-config ...); common
# and system sit underneath (the scanner asks systemd over D-Bus).
LAYERS = ["common", "system", "model", "host", "config", "audit", "genconfig", "report", "tune",
          "validate", "cli"]
MAX_MODULE_LINES = 600
# Calls that touch the host's files or spawn processes directly.
HOST_ACCESS = {"open", "os.open", "os.listdir", "os.scandir", "os.readlink", "os.stat",
               "os.lstat", "os.path.exists", "os.path.realpath", "os.path.isdir",
               "os.path.isfile", "glob.glob", "subprocess.run", "subprocess.Popen",
               "subprocess.check_output"}


def _modules():
    """{dotted module name: path} of every module in the package."""
    found = {}
    for directory, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                relative = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3]
                module = relative.replace(os.sep, ".")
                found[module[:-len(".__init__")] if module.endswith(".__init__") else module] = path
    return found


def _tree(path):
    with open(path, encoding="utf-8") as handle:
        return ast.parse(handle.read(), path)


def _imports(module, path, modules):
    """The package modules `module` imports (at any depth of its code: lazy imports count)."""
    targets = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from lltune.tune import backup` imports the module lltune.tune.backup.
            names = [node.module] + ["%s.%s" % (node.module, alias.name)
                                     for alias in node.names]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name and name != module:
                targets.add(name)
    return targets


def _graph():
    modules = _modules()
    return {module: _imports(module, path, modules) for module, path in modules.items()}


def _room(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _calls(path):
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Call):
            func = node.func
            parts = []
            while isinstance(func, ast.Attribute):
                parts.insert(0, func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                parts.insert(0, func.id)
                yield ".".join(parts), node.lineno


def find_cycles(graph):
    """Every import circle in `graph` ({module: imported modules}), each as a list of modules."""
    cycles, state, stack = [], {}, []

    def visit(module):
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph.get(module, ())):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return cycles


def test_the_cycle_finder_finds_a_cycle():
    """The check below would pass on any graph if find_cycles could not see one."""
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circle():
    assert find_cycles(_graph()) == []


def test_every_room_is_listed_and_imports_only_the_rooms_below():
    graph = _graph()
    rooms = {_room(module) for module in graph} - {None, "__main__"}
    assert rooms == set(LAYERS), "add new rooms to LAYERS (and the README's layout)"
    upward = []
    for module, targets in sorted(graph.items()):
        room = _room(module)
        if room not in LAYERS:
            continue
        for target in sorted(targets):
            other = _room(target)
            if other in LAYERS and LAYERS.index(other) > LAYERS.index(room):
                upward.append("%s imports %s" % (module, target))
    assert upward == []


def test_no_module_over_600_lines():
    long = []
    for module, path in _modules().items():
        with open(path, encoding="utf-8") as handle:
            count = sum(1 for _ in handle)
        if count > MAX_MODULE_LINES:
            long.append("%s: %d lines" % (module, count))
    assert long == []


def test_every_package_says_what_lives_in_it():
    for module, path in _modules().items():
        if path.endswith("__init__.py"):
            assert ast.get_docstring(_tree(path)), "%s has no docstring" % module


def test_snapshot_queries_are_defined_once():
    """gen-config, audit, the report, render and verify ask model.queries; a second function of
    the same name elsewhere is a second copy of a snapshot query. The host room is not asked:
    it reads the host (sysfs, tuned's version file) to make the snapshot."""
    queries = _modules()["lltune.model.queries"]
    names = {node.name for node in _tree(queries).body if isinstance(node, ast.FunctionDef)}
    copies = []
    for module, path in _modules().items():
        if module == "lltune.model.queries" or _room(module) == "host":
            continue
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") in names:
                copies.append("%s.%s" % (module, node.name))
    assert copies == []


def test_collectors_read_the_host_only_through_the_reader():
    """STYLE.md: one reader owns the root; collectors name canonical paths only."""
    offenders = []
    directory = os.path.join(PACKAGE, "host", "collectors")
    for name in sorted(os.listdir(directory)):
        if name.endswith(".py"):
            path = os.path.join(directory, name)
            offenders += ["%s:%d %s" % (name, line, call) for call, line in _calls(path)
                          if call in HOST_ACCESS]
    assert offenders == []


def test_every_module_compiles_as_python_3_9():
    """ast with feature_version=(3, 9) rejects match statements and other 3.10+ syntax."""
    for path in _modules().values():
        with open(path, encoding="utf-8") as handle:
            ast.parse(handle.read(), path, feature_version=(3, 9))
