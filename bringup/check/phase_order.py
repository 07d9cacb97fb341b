"""Phases in dependency order (`after:`), keeping the written order among independent ones."""

from __future__ import annotations


def topological(nodes: list[tuple[str, list[str]]]) -> tuple[list[str], list[str]]:
    """Phases in dependency order, keeping the written order among independent ones; and a cycle if any."""
    deps = {n: list(d) for n, d in nodes}
    order: list[str] = []
    done: set[str] = set()
    remaining = [n for n, _ in nodes]
    while remaining:
        ready = next((n for n in remaining if all(d in done for d in deps[n])), None)
        if ready is None:
            return order, _find_cycle(deps, remaining)
        order.append(ready)
        done.add(ready)
        remaining.remove(ready)
    return order, []


def _find_cycle(deps: dict[str, list[str]], remaining: list[str]) -> list[str]:
    start = remaining[0]
    path: list[str] = []
    node = start
    while node not in path:
        path.append(node)
        node = next(d for d in deps[node] if d in remaining)
    return path[path.index(node):]
