"""Each folder imports only the folders below it: the flow of docs/architecture.md, held by a test.

Every import counts, including function-local and `if TYPE_CHECKING:` ones: a type-only import
that points up is still a module that knows about the one above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# lowest first; a module may import its own folder and any folder listed before it
# (`driver` is bringup/driver.py, the old import path third-party drivers still use)
ENGINE = ["core", "language", "drivers", "driver", "check", "store", "run", "outputs", "dashboard", "plots",
          "commands", "pytest_plugin", "cli"]
SIMULATOR = ["world", "power", "thermal", "links", "silicon", "faults", "sled", "instruments",
             "console", "lab", "config_docs"]
# the one place the engine starts the simulated lab (it reaches it only over transports after)
ENGINE_MAY_START_THE_LAB = {"commands"}


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    if parts[0] in ("drivers", "sim_devices"):
        parts = ["bringup"] + parts
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module(p): p for top in ("bringup", "drivers", "sim_devices") for p in (ROOT / top).rglob("*.py")}


def _imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            if node.level > 1:
                base = base[: -(node.level - 1)]
            src = (".".join(base) + (f".{node.module}" if node.module else "")) if node.level else node.module or ""
            for a in node.names:
                out.add(f"{src}.{a.name}" if f"{src}.{a.name}" in known else src)
    return {m for m in out if m in known}


def _layer(module: str) -> tuple[str, str]:
    parts = module.split(".")[1:] or ["core"]  # bringup/__init__ holds only the version
    if parts[0] == "sim_devices":
        return "sim", parts[1] if len(parts) > 1 else "lab"
    return "engine", parts[0]


def test_each_folder_imports_only_the_folders_below_it():
    known = _modules()
    order = {"engine": ENGINE, "sim": SIMULATOR}
    for side, layers in order.items():
        assert {_layer(m)[1] for m in known if _layer(m)[0] == side} <= set(layers), \
            f"a {side} folder is missing from the layer list"
    offenders = []
    for name, path in sorted(known.items()):
        side, layer = _layer(name)
        for target in sorted(_imports(name, path, known)):
            tside, tlayer = _layer(target)
            if tside != side:
                if not (side == "engine" and tside == "sim" and layer in ENGINE_MAY_START_THE_LAB) and \
                        not (side == "sim" and target in ("bringup.core.clock", "bringup.core.units")):
                    offenders.append(f"{name} -> {target} (the {side} must not reach the {tside})")
            elif order[side].index(tlayer) > order[side].index(layer):
                offenders.append(f"{name} -> {target} ({layer}/ is below {tlayer}/)")
    assert offenders == [], "\n".join(offenders)
