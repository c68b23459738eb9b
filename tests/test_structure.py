"""The shape of the code base: the core's modules import without cycles, the core never imports the app, and
every error type a user can cause derives from the one base class."""
import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import diffrec_core
from diffrec_core.errors import DiffRecError

CORE = Path(diffrec_core.__file__).resolve().parent


def _module_imports():
    """module name -> the diffrec_core modules it imports at module level (not inside functions)."""
    graph = {}
    for path in CORE.rglob("*.py"):
        rel = path.relative_to(CORE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        pkg = name if rel.name == "__init__" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                if mod.startswith("diffrec_core"):
                    deps.add(mod)
                    deps.update(f"{mod}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("diffrec_core"))
        graph[name] = deps
    return {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}


def test_no_import_cycle_inside_the_core():
    graph = _module_imports()
    # a package's __init__ importing its own submodules is how registration works: parent -> child edges aside
    graph = {m: {d for d in deps if not d.startswith(m + ".")} for m, deps in graph.items()}
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(d):] + [d]))
            if d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_the_core_never_imports_the_app():
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for n in names:
                assert n.split(".")[0] not in {"streamlit", "plotly", "ui", "views", "app"}, (path, n)


def test_every_error_type_of_the_project_derives_from_the_base():
    found = []
    for info in pkgutil.walk_packages(diffrec_core.__path__, "diffrec_core."):
        if info.name.endswith("__main__"):
            continue
        mod = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ == mod.__name__ and issubclass(cls, Exception) and cls.__name__.endswith("Error"):
                found.append(cls)
                assert issubclass(cls, DiffRecError), f"{cls.__module__}.{cls.__name__} is not a DiffRecError"
    assert len(found) >= 8


def _core_trees():
    for path in CORE.rglob("*.py"):
        yield path, ast.parse(path.read_text(encoding="utf-8"))


def test_no_module_of_the_core_uses_a_private_name_of_another():
    """``from .x import _y`` or ``x._y`` across modules: a name another module needs is public, in one home."""
    modules = {p.stem for p in CORE.rglob("*.py")}
    found = []
    for path, tree in _core_trees():
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("diffrec_core")):
                for a in node.names:
                    if a.name.startswith("_") and not a.name.startswith("__"):
                        found.append(f"{path.name}:{node.lineno} imports {a.name} from {node.module or '.'}")
                    if a.name in modules:
                        aliases.add(a.asname or a.name)
            elif isinstance(node, ast.Import):
                aliases.update(a.asname or a.name.split(".")[0] for a in node.names
                               if a.name.startswith("diffrec_core"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                found.append(f"{path.name}:{node.lineno} reads {node.value.id}.{node.attr}")
    assert not found, found


def test_library_code_never_exits_the_process():
    """Errors are DiffRecError subclasses the caller reports; only the command line (``__main__``) exits."""
    found = []
    for path, tree in _core_trees():
        if path.name == "__main__.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                e = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if isinstance(e, ast.Name) and e.id in ("SystemExit", "KeyboardInterrupt"):
                    found.append(f"{path.name}:{node.lineno}")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and (node.func.value.id, node.func.attr)
                    in {("sys", "exit"), ("os", "_exit")}):
                found.append(f"{path.name}:{node.lineno} calls {node.func.value.id}.{node.func.attr}")
    assert not found, found
