"""The engine reaches the simulator only through transports: no engine module imports it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# the composition root (CLI glue) may start the embedded lab; nothing else in the engine may
ALLOWED = {"bringup/commands/sim.py"}


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(("." * node.level) + (node.module or ""))
    return names


def test_engine_and_drivers_never_import_the_simulator():
    offenders = []
    for folder in ("bringup", "drivers"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel in ALLOWED:
                continue
            bad = {n for n in _imports(path) if "sim_devices" in n}
            if bad:
                offenders.append(f"{rel}: {sorted(bad)}")
    assert offenders == []


def test_the_simulator_uses_nothing_of_the_engine_but_its_clock():
    offenders = []
    for path in (ROOT / "sim_devices").rglob("*.py"):
        for name in _imports(path):
            if name.startswith("bringup") and not name.startswith("bringup.sim_devices") and name not in ("bringup.core.clock", "bringup.core.units"):
                offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def _private_reaches(path: Path) -> list[str]:
    """`other._name` anywhere but on self/cls: a module leaning on another object's insides."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_no_module_reaches_into_another_objects_private_names():
    # the fault injector once called engine._refresh(): faults go through public methods named
    # for what they do (engine.invalidate(), regulator.set_output_factor(), ...)
    offenders = [hit for folder in ("bringup", "drivers", "sim_devices")
                 for path in sorted((ROOT / folder).rglob("*.py")) for hit in _private_reaches(path)]
    assert offenders == []
