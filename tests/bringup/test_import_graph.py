"""No import cycles among the modules of bringup/, drivers/ and sim_devices/.

A cycle works today only while the import order happens to suit it; the folder move and every
new module make it a trap. The graph counts every import the interpreter can execute: top-level,
function-local, under `if TYPE_CHECKING:` (a type checker follows those, and a cycle there is
still a design knot), absolute and relative, and `from pkg import mod` as importing pkg.mod.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# source folder -> the package it installs as (pyproject's package-dir)
PACKAGES = {"bringup": "bringup", "drivers": "bringup.drivers", "sim_devices": "bringup.sim_devices"}

# Layering rules: package -> the packages its modules may import (a package prefix allows every
# module under it). A package not named here is unconstrained. Tighten this as the layered
# folders arrive (bringup.core below bringup.language below bringup.check ...).
MAY_IMPORT: dict[str, set[str]] = {
    # the simulated lab shares only the clock and the units with the engine
    "bringup.sim_devices": {"bringup.sim_devices", "bringup.core.clock", "bringup.core.units"},
    # drivers know nothing of procedures: their base class, the clock and units (DESIGN.md)
    "bringup.drivers": {"bringup.drivers", "bringup.drivers.base", "bringup.drivers.options", "bringup.core.clock", "bringup.core.units"},
}


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module this project installs."""
    modules = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([package, *parts])] = path
    return modules


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules one module imports, wherever in the file the import statement sits."""
    found: set[str] = set()

    def add(target: str) -> None:
        # `import a.b.c` runs a.b.c; a name that is not a module is an attribute of its parent
        while target and target not in known:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)

    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _package_of(name, path)
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                source = ".".join(p for p in (base, node.module) if p)
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                add(sub if sub in known else source)
    return found


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    return {name: imports_of(name, path, known) for name, path in files.items()}


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components with more than one module (an import of itself is dropped above)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        # iterative: the graph is a few hundred modules, but recursion depth is not ours to spend
        work = [(v, iter(sorted(graph[v])))]
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        while work:
            node, successors = work[-1]
            for w in successors:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[node] = min(low[node], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == node:
                            break
                    if len(component) > 1:
                        out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _shortest_cycle_through(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    parent = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in sorted(graph[node] & within):
            if nxt == start:
                path = [node]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return [start, *reversed(path[:-1]), start]
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return []


def cycles(graph: dict[str, set[str]]) -> list[str]:
    """Each distinct shortest cycle through each module of each tangle, as 'a -> b -> a'."""
    named = []
    for component in _strongly_connected(graph):
        members = set(component)
        seen = set()
        for module in component:
            cycle = _shortest_cycle_through(graph, module, members)
            ring = cycle[:-1]
            turn = ring.index(min(ring))
            key = tuple(ring[turn:] + ring[:turn])
            if key not in seen:
                seen.add(key)
                named.append(" -> ".join([*key, key[0]]))
    return named


def layer_violations(graph: dict[str, set[str]], rules: dict[str, set[str]]) -> list[str]:
    def inside(module: str, package: str) -> bool:
        return module == package or module.startswith(package + ".")

    bad = []
    for module, targets in sorted(graph.items()):
        for package, allowed in rules.items():
            if inside(module, package):
                bad += [f"{module} imports {t}" for t in sorted(targets)
                        if not any(inside(t, a) for a in allowed)]
    return bad


# Cycles excused while being taken apart (none now). An entry here must still be a cycle, so none
# outlives the knot it excuses.
KNOWN_CYCLES: set[str] = set()


def test_no_module_imports_itself_back_round_a_cycle():
    found = cycles(import_graph())
    assert [c for c in found if c not in KNOWN_CYCLES] == []
    assert sorted(KNOWN_CYCLES - set(found)) == [], "no longer a cycle: drop it from KNOWN_CYCLES"


def test_each_package_imports_only_what_its_layer_may():
    assert layer_violations(import_graph(), MAY_IMPORT) == []


def test_the_graph_sees_local_type_checking_and_relative_imports(tmp_path):
    # the walk must see what a cycle hides behind; a graph that missed these would pass anything
    known = {"p", "p.a", "p.b", "p.c", "p.d"}
    src = tmp_path / "a.py"
    src.write_text("from typing import TYPE_CHECKING\n"
                   "if TYPE_CHECKING:\n    from .b import Thing\n"
                   "def f():\n    import p.c\n"
                   "from . import d\n")
    assert imports_of("p.a", src, known) == {"p.b", "p.c", "p.d"}
    graph = {"p.a": {"p.b"}, "p.b": {"p.c"}, "p.c": {"p.a"}, "p.d": {"p.a"}, "p": set()}
    assert cycles(graph) == ["p.a -> p.b -> p.c -> p.a"]
    assert layer_violations(graph, {"p.d": {"p.d"}}) == ["p.d imports p.a"]
