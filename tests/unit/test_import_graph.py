"""The project's import graph keeps its layers: the library knows no service, a service knows no
benchmark nor the command line, and no module imports itself round a circle.

Every .py file under shared/, services/, cpnet/ and bench/ is parsed (never imported). Imports
anywhere in a file count — at module level and inside functions — and so does
`importlib.import_module` with a literal (or f-string) name. Only imports under
`if TYPE_CHECKING:` are left out of the circle check: they never run.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "services", "cpnet", "bench")
# What a package may not import: (importer's package, forbidden package).
FORBIDDEN = (
    ("shared", "services"),
    ("shared", "cpnet"),
    ("shared", "bench"),
    ("services", "bench"),
    ("services", "cpnet"),
)


@dataclass(frozen=True)
class Edge:
    source: str  # module that imports
    target: str  # project module imported
    path: str  # file of the source, relative to the root
    line: int
    type_checking: bool  # under `if TYPE_CHECKING:`, never run
    in_function: bool  # run when the function is called, not when the module is imported

    def __str__(self) -> str:
        return f"{self.source} -> {self.target} ({self.path}:{self.line})"


def project_modules() -> dict[str, Path]:
    """Dotted module name → file, for every module of the project's packages."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The most specific project module `name` (or its longest importable prefix) names."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def _dynamic_name(call: ast.Call) -> str | None:
    """The literal part of the name given to `importlib.import_module(...)`, if any."""
    func = call.func
    called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    if called != "import_module" or not call.args:
        return None
    arg = call.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values:
        first = arg.values[0]
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            return first.value.rstrip(".")
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[Edge]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    relative = str(path.relative_to(ROOT))
    edges: dict[Edge, None] = {}  # one edge per import statement, in order

    def add(target: str | None, node: ast.AST, type_checking: bool, in_function: bool) -> None:
        if target is not None and target != module:
            edges[Edge(module, target, relative, node.lineno, type_checking, in_function)] = None

    def visit(node: ast.AST, type_checking: bool, in_function: bool = False) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True, in_function)
            for child in node.orelse:
                visit(child, type_checking, in_function)
            return
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            in_function = True
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(_resolve(alias.name, modules), node, type_checking, in_function)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                if node.module:
                    base = base + node.module.split(".")
                origin = ".".join(base)
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                # `from package import submodule` imports the submodule; otherwise a name of origin.
                target = submodule if submodule in modules else _resolve(origin, modules)
                add(target, node, type_checking, in_function)
        elif isinstance(node, ast.Call):
            name = _dynamic_name(node)
            if name is not None:
                add(_resolve(name, modules), node, type_checking, in_function)
        for child in ast.iter_child_nodes(node):
            visit(child, type_checking, in_function)

    visit(tree, False)
    return list(edges)


def import_graph() -> list[Edge]:
    modules = project_modules()
    edges: list[Edge] = []
    for module, path in modules.items():
        edges.extend(imports_of(module, path, modules))
    return edges


def cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0

    for root in sorted(graph):
        if root in index:
            continue
        # Iterative Tarjan: (node, iterator over its successors).
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(sorted(graph[root])))]
        while work:
            node, successors = work[-1]
            advanced = False
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    advanced = True
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def _package(module: str) -> str:
    return module.split(".", 1)[0]


def _refuse(title: str, edges: list[Edge]) -> None:
    if edges:
        pytest.fail(f"{title}:\n" + "\n".join(f"  {edge}" for edge in sorted(edges, key=str)), pytrace=False)


def test_the_graph_is_read():
    """The walk finds what it should, so an empty graph cannot pass the tests below."""
    edges = import_graph()
    pairs = {(edge.source, edge.target) for edge in edges}
    assert ("shared.service", "shared.settings") in pairs
    assert any(_package(edge.source) == "services" and _package(edge.target) == "shared" for edge in edges)


def test_layers_are_kept():
    """shared/ imports no service, no CLI and no benchmark; services/ imports no benchmark."""
    offending = [
        edge for edge in import_graph() if (_package(edge.source), _package(edge.target)) in FORBIDDEN
    ]
    _refuse("imports that go against the layers", offending)


def test_the_command_line_imports_benchmarks_only_when_asked():
    """cpnet's `bench` commands import bench/ inside the command: bench/ is not in the wheel, and
    it imports cpnet's importer and runner, so a module-level import would tie the two packages
    together on every start of the command line."""
    offending = [
        edge
        for edge in import_graph()
        if _package(edge.source) == "cpnet" and _package(edge.target) == "bench" and not edge.in_function
    ]
    _refuse("cpnet imports bench at module level", offending)


def test_no_import_circle():
    edges = [edge for edge in import_graph() if not edge.type_checking]
    found = cycles(edges)
    if not found:
        return
    lines = []
    for component in found:
        members = set(component)
        lines.append("circle among " + ", ".join(component) + ":")
        lines.extend(
            f"    {edge}"
            for edge in sorted(edges, key=str)
            if edge.source in members and edge.target in members
        )
    pytest.fail("import circles:\n" + "\n".join(lines), pytrace=False)
