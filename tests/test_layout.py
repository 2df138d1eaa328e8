"""The package's shape, read from its source with `ast`: no import cycle among deconv's modules
(imports inside functions included), each room importing only the rooms below it (the engine,
`core/`, none), no module over 400 lines, no function over 60, and the engine free of file I/O
(no `open`, no `os`, files, images or `tf.io` reached from `core/`)."""
import ast
import os

from tests.conftest import ROOT

PACKAGE = os.path.join(ROOT, "deconv")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules():
    """`{dotted name: path}` of every module of the package."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path[:-3], ROOT).replace(os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


def _imported(path, module, known):
    """The package's modules that `path` imports anywhere (functions included)."""
    package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
    names = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolved against this module's package
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            names.update(f"{base}.{alias.name}" for alias in node.names)
            names.add(base)
    found = set()
    for name in names:
        while name and name not in known:  # `deconv.core.graph.Step` -> `deconv.core.graph`
            name = name.rpartition(".")[0]
        if name and name != module and name != "deconv":
            found.add(name)
    return found


def _graph():
    modules = _modules()
    return {name: _imported(path, name, modules) for name, path in modules.items()}


def _cycle(graph):
    """One import cycle as a list of modules, or None (depth-first search)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for other in sorted(graph.get(node, ())):
            if state.get(other) == "open":
                return stack[stack.index(other):] + [other]
            if other not in state:
                found = visit(other)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_cycle_finder_sees_imports_inside_functions(tmp_path):
    """The oracle itself: a cycle closed by a function-level import is found, a chain is not."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    source = tmp_path / "late.py"
    source.write_text("import os\n\ndef f():\n    from deconv.core import graph\n"
                      "    from . import names\n    import deconv.core.rules as rules\n")
    known = {"deconv.core.graph", "deconv.core.names", "deconv.core.rules", "deconv.core.late"}
    assert _imported(str(source), "deconv.core.late", known) == known - {"deconv.core.late"}


def test_no_import_cycles():
    graph = _graph()
    assert len(graph) > 40 and "deconv.core.graph" in graph["deconv.core.deconvnet"]
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


# What each room may import besides itself, `deconv.errors` and `deconv.limits` (ARCHITECTURE.md).
ALLOWED = {"core": set(), "models": {"core"}, "io": {"core"},
           "sweeps": {"core", "models", "io"}, "analysis": {"core", "models", "io", "sweeps"},
           "saved_models": {"core", "io"},
           "explorer": {"core", "io", "analysis", "unit_atlas"},
           "unit_atlas": {"core", "models", "io", "sweeps", "analysis"},
           "distributed": {"core", "models", "io", "sweeps", "unit_atlas"}}


def _room(module):
    parts = module.split(".")
    if parts[:2] == ["deconv", "_cli"]:  # what the commands share: the commands' level
        return None
    return parts[1] if len(parts) > 2 or module in (f"deconv.{r}" for r in ALLOWED) else None


def test_rooms_import_only_the_rooms_below_them():
    """core imports no other room; no library module imports a command; geometry imports no
    model code (see the table in ARCHITECTURE.md)."""
    graph = _graph()
    assert _room("deconv.core.graph") == "core" and _room("deconv.run") is None
    for name, imports in graph.items():
        room = _room(name)
        if room is None:  # a command, _cli, errors or the package itself
            continue
        allowed = ALLOWED[room] | {room}
        bad = {i for i in imports
               if i not in ("deconv.errors", "deconv.limits") and _room(i) not in allowed}
        assert not bad, f"{name} ({room}) imports {sorted(bad)}"
    assert graph["deconv.core.geometry"] <= {"deconv.errors"}
    assert graph["deconv.limits"] <= {"deconv.errors"}  # the table every room may read


def _long_functions(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                yield f"{node.name} ({length} lines)"


def test_modules_and_functions_stay_small():
    too_long = []
    for path in _modules().values():
        with open(path, encoding="utf-8") as stream:
            lines = len(stream.read().splitlines())
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{path}: {lines} lines")
        too_long += [f"{path}: {function}" for function in _long_functions(path)]
    assert not too_long, too_long


# The web framework of the live explorer, an optional extra: only these modules may import it.
WEB_MODULES = {"deconv.serve", "deconv.explorer.app", "deconv.explorer.routes"}
WEB_PACKAGES = ("fastapi", "starlette", "uvicorn", "httpx", "httpx2")


def _third_party(path):
    """The top-level packages `path` imports anywhere (functions included)."""
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_serve_modules_import_the_web_framework():
    users = {name for name, path in _modules().items()
             if _third_party(path) & set(WEB_PACKAGES)}
    assert "fastapi" in _third_party(_modules()["deconv.explorer.app"])  # the check sees it
    assert users == WEB_MODULES, sorted(users ^ WEB_MODULES)


# File I/O the engine must not do: the modules that reach files, and the calls that read or write.
IO_MODULES = {"os", "io", "shutil", "pathlib", "tempfile", "glob", "h5py", "imageio", "PIL",
              "urllib", "requests", "socket", "subprocess"}
IO_CALLS = {"open", "save", "savez", "savez_compressed", "load_weights", "save_weights",
            "imread", "imwrite", "read_file", "write_file", "gfile", "GFile"}


def _file_io(path):
    """`line: what` for each import of an I/O module and each I/O call (or `tf.io` use) in
    `path`."""
    found = []
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {alias.name}" for alias in node.names
                      if alias.name.split(".")[0] in IO_MODULES]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module and (
                node.module.split(".")[0] in IO_MODULES or node.module.startswith("tensorflow.io")):
            found.append(f"{node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Call):
            called = node.func.id if isinstance(node.func, ast.Name) else (
                node.func.attr if isinstance(node.func, ast.Attribute) else None)
            if called in IO_CALLS:
                found.append(f"{node.lineno}: {called}(...)")
        elif (isinstance(node, ast.Attribute) and node.attr == "io"
              and isinstance(node.value, ast.Name) and node.value.id in ("tf", "tensorflow")):
            found.append(f"{node.lineno}: {node.value.id}.io")
    return sorted(found, key=lambda line: int(line.split(":")[0]))


def test_the_file_io_finder_sees_each_kind(tmp_path):
    """The oracle itself: each kind of file access is found; pure computation is not."""
    source = tmp_path / "engine.py"
    source.write_text("import os.path\nfrom PIL import Image\nimport numpy as np\n"
                      "import tensorflow as tf\n\ndef f(x, model):\n"
                      "    open('a')\n    np.save('b', x)\n    model.save_weights('c')\n"
                      "    tf.io.gfile.exists('d')\n    return tf.nn.relu(x) + np.maximum(x, 0)\n")
    assert _file_io(str(source)) == [
        "1: import os.path", "2: from PIL import ...", "7: open(...)", "8: save(...)",
        "9: save_weights(...)", "10: tf.io"]
    source.write_text("import numpy as np\n\ndef f(x):\n    return np.load\n")
    assert _file_io(str(source)) == []


def test_the_engine_does_no_file_io():
    """`core/` takes arrays and Keras models and returns arrays: reading and writing files is
    `models/`'s and `io/`'s."""
    engine = {name: path for name, path in _modules().items()
              if name == "deconv.core" or name.startswith("deconv.core.")}
    assert len(engine) > 10
    found = [f"{name}:{line}" for name, path in sorted(engine.items()) for line in _file_io(path)]
    assert not found, found


def _builder_uses(path):
    """The lines of `path` that read a `.builder` attribute (the engine behind `Deconvnet`)."""
    return sorted(node.lineno for node in ast.walk(ast.parse(open(path, encoding="utf-8").read()))
                  if isinstance(node, ast.Attribute) and node.attr == "builder")


def test_the_builder_check_sees_attribute_access(tmp_path):
    """The oracle itself: `net.builder.x` and `self.net.builder` are found, a name is not."""
    source = tmp_path / "leak.py"
    source.write_text("builder = 1\n\ndef f(net, self):\n    return net.builder.activations_fn"
                      "\n\nmodel = self.net.builder\n")
    assert _builder_uses(str(source)) == [4, 6]


def test_only_the_engine_touches_the_builder():
    """`Deconvnet` is the only door into the engine: no module outside `deconv.core` reads its
    `builder` (what the other rooms need are `Deconvnet`'s public methods)."""
    modules = _modules()
    assert _builder_uses(modules["deconv.core.shared_graphs"])  # the check sees the engine's
    leaks = [f"{path}:{line}" for name, path in modules.items()
             if _room(name) != "core" for line in _builder_uses(path)]
    assert not leaks, f".builder outside deconv.core: {leaks}"
