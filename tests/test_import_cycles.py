"""No import cycles in rnnkit: every module imports, and the graph of its ``import`` statements
(function-level imports included: a late import is how a cycle hides) has no cycle.

The graph is read from the source with ``ast``: an edge A -> B for each ``import B`` /
``from B import name`` in A, where ``from P import name`` points at the module ``P.name`` when
that is a module and at ``P`` otherwise. Parent packages are not edges (every module would
otherwise sit in one cycle through ``rnnkit/__init__.py``).
"""
import ast
import importlib
import pathlib

import pytest

import rnnkit

ROOT = pathlib.Path(rnnkit.__file__).parent

def module_name(path):
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(path): path for path in sorted(ROOT.rglob("*.py"))}


def imported_modules(name, path):
    """The rnnkit modules that module ``name`` (file ``path``) imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in MODULES else target)
    return {module for module in found if module in MODULES and module != name}


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, result = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


GRAPH = {name: imported_modules(name, path) for name, path in MODULES.items()}


def test_the_graph_sees_imports_of_every_kind():
    assert "rnnkit.ops.grad_mode" in GRAPH["rnnkit.ops"]                # from .grad_mode import ...
    assert "rnnkit.ops.activations" in GRAPH["rnnkit.cells.gated"]     # from ..ops.activations import ...
    assert "rnnkit._fast" in GRAPH["rnnkit.cells.dispatch"]            # a function-level `from .. import _fast`
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_imports(name):
    importlib.import_module(name)


def test_no_import_cycles():
    found = cycles(GRAPH)
    assert not found, f"import cycles: {[sorted(c) for c in found]}"


def test_ops_never_import_the_compiled_path():
    for name in MODULES:
        if name == "rnnkit.ops" or name.startswith("rnnkit.ops."):
            assert not {m for m in GRAPH[name] if m.startswith("rnnkit._fast")}, name
