"""The shape of the house: no import circles, arrows only point down, the demo sits on top.

The import graph is read from the source (every ``import`` statement, including those inside
functions and under ``TYPE_CHECKING``: a circle drawn only for the type checker is still a
circle a reader has to untangle). ``from pkg import submodule`` counts as an arrow to the
submodule only.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.support import REPO_ROOT

SRC = REPO_ROOT / "src"

# Packages (or top-level modules) and the ones allowed to import them; the demo composes the
# emulator, org state and heal, so only the CLI may import it.
ONLY_FROM = {"demo": {"cli"}, "cli": {"__main__"}}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in (SRC / "mewarden").rglob("*.py")}


def _imports(path: Path, known: Mapping[str, Path]) -> Iterator[str]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            if node.module not in known:
                continue
            subs = [f"{node.module}.{a.name}" for a in node.names]
            yield from (s for s in subs if s in known)
            if any(s not in known for s in subs):
                yield node.module


def import_graph() -> dict[str, set[str]]:
    """Module -> the mewarden modules it imports."""
    known = _modules()
    return {name: set(_imports(path, known)) - {name} for name, path in known.items()}


def circles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def package_graph(graph: Mapping[str, set[str]]) -> dict[str, set[str]]:
    """Package -> packages it imports (``mewarden.x.y`` belongs to ``x``)."""
    result: dict[str, set[str]] = {}
    for module, targets in graph.items():
        edges = result.setdefault(_package(module), set())
        edges.update(_package(t) for t in targets if _package(t) != _package(module))
    return result


def test_no_module_imports_itself_in_a_circle() -> None:
    assert circles(import_graph()) == []


def test_packages_form_layers() -> None:
    assert circles(package_graph(import_graph())) == []


def test_the_demo_and_the_cli_sit_on_top() -> None:
    graph = import_graph()
    for module, targets in graph.items():
        for target in targets:
            owner = _package(target)
            allowed = ONLY_FROM.get(owner)
            if allowed is not None and _package(module) != owner:
                assert _package(module) in allowed, f"{module} imports {target}"


def test_the_circle_finder_finds_a_circle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert circles(graph) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_function_level_and_type_checking_imports() -> None:
    graph = import_graph()
    # cli.failure imports the store only inside a function; the neutralize verifier imports the
    # plan only for the type checker.
    assert "mewarden.state.store_base" in graph["mewarden.cli.failure"]
    assert "mewarden.firmware.neutralize_plan" in graph["mewarden.firmware.neutralize_verify"]
