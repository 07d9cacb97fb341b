"""The reference tables of docs/simulator.md, written from the models themselves.

    python -m bringup.sim_devices.config_docs config   # the sled description's knobs
    python -m bringup.sim_devices.config_docs faults   # the fault catalog

Each prints a block of markdown that docs/simulator.md holds verbatim between a `<!-- begin NAME
-->` and `<!-- end NAME -->` marker; `--write PATH` replaces that block in place. A test checks
that the page and the models agree, so a new knob or fault cannot go undocumented.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from bringup.sim_devices.world.config import RailConfig, SledConfig, default_air_cooling, default_air_thermal, default_rails
from bringup.sim_devices.faults.faults import catalog_rows

_SECTIONS = ("power", "thermal", "cooling_loop", "limits", "boot", "characterization", "fuses", "input", "sim")
_RAIL_COLUMNS = (("vout", "vout V"), ("idle_w", "idle W"), ("full_w", "full W"), ("i_max", "i_max A"),
                 ("r_loadline", "R_LL ohm"), ("ton_rise_ms", "TON_RISE ms"))


def _knobs(title: str, model: BaseModel, keys: list[str] | None = None) -> list[str]:
    fields = type(model).model_fields
    lines = [f"#### `{title}`", "", "| key | default | meaning / source |", "|---|---|---|"]
    for name in keys or list(fields):
        lines.append(f"| `{name}` | `{getattr(model, name)}` | {fields[name].description or ''} |")
    return lines + [""]


def config_markdown() -> str:
    """The knobs of a sled description, with their defaults and descriptions."""
    cfg = SledConfig()
    top = [n for n in SledConfig.model_fields if n not in _SECTIONS and n != "rails"]
    lines = _knobs("top level", cfg, top)
    for section in _SECTIONS:
        lines += _knobs(section, getattr(cfg, section))
    lines += ["With `cooling: air` the `thermal` and `cooling_loop` defaults become:", ""]
    lines += _knobs("thermal (air)", default_air_thermal())
    lines += _knobs("cooling_loop (air)", default_air_cooling())
    head = " | ".join(label for _, label in _RAIL_COLUMNS)
    lines += ["#### `rails` (power-up order)", "", f"| rail | {head} | its heat goes to |",
              "|" + "---|" * (len(_RAIL_COLUMNS) + 2)]
    for rail in default_rails():
        cells = " | ".join(str(getattr(rail, key)) for key, _ in _RAIL_COLUMNS)
        lines.append(f"| {rail.name} | {cells} | {'HBM' if rail.heats_hbm else 'die'} |")
    lines += ["", "Every rail also has these keys (defaults shown):", ""]
    shown = {"name", "heats_hbm", *(key for key, _ in _RAIL_COLUMNS)}
    example = default_rails()[1]
    for name, info in RailConfig.model_fields.items():
        if name not in shown:
            note = f" — {info.description}" if info.description else ""
            lines.append(f"- `{name}`: `{getattr(example, name)}`{note}")
    return "\n".join(lines) + "\n"


def _cells(values: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in values.items()) or "—"


def faults_markdown() -> str:
    """The fault catalog: names, targets and parameters with their defaults, symptoms."""
    lines = ["| name | targets (defaults) | params (defaults) | symptoms |", "|---|---|---|---|"]
    for row in catalog_rows():
        lines.append(f"| `{row['name']}` | {_cells(row['targets'])} | {_cells(row['params'])} | "
                     f"{'; '.join(row['symptoms'])} |")
    return "\n".join(lines) + "\n"


BLOCKS = {"config": config_markdown, "faults": faults_markdown}


def block_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- begin {name} -->\n)(.*?)(<!-- end {name} -->)", re.S)


def replace_block(text: str, name: str) -> str:
    """`text` with the block between the markers of `name` written afresh."""
    pattern = block_pattern(name)
    if not pattern.search(text):
        raise ValueError(f"no '<!-- begin {name} -->' ... '<!-- end {name} -->' markers")
    return pattern.sub(lambda m: m.group(1) + "\n" + BLOCKS[name]() + "\n" + m.group(3), text, count=1)


def main(argv: list[str]) -> int:
    names = [a for a in argv if a in BLOCKS]
    if "--write" in argv:
        path = Path(argv[argv.index("--write") + 1])
        text = path.read_text()
        for name in names or list(BLOCKS):
            text = replace_block(text, name)
        path.write_text(text)
        return 0
    if not names:
        print(__doc__, file=sys.stderr)
        return 2
    for name in names:
        sys.stdout.write(BLOCKS[name]())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
