"""PNG pictures of a run: shmoo heat maps, Vmin per frequency, telemetry over a soak.

Needs matplotlib (`pip install 'bringup[plot]'`); nothing else in bringup does. Figures are
drawn on matplotlib's object API with the Agg canvas - no pyplot, no global state, no display
- so drawing works in CI, over SSH and from threads.
"""

from __future__ import annotations

import io
import re
from typing import Any

from ..store import FAIL, PASS, UNKNOWN
from .shmoo import Shmoo, format_hertz
from .telemetry import Series, SoakWindow


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed."""


COLOURS = {PASS: "#2e9d4a", FAIL: "#d1382f", UNKNOWN: "#f0a030", None: "#e6e6e6"}


def _figure(width: float, height: float) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise PlotsUnavailable("PNG plots need matplotlib: pip install 'bringup[plot]' "
                               "(the terminal views need nothing extra)") from exc
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def slug(*parts: object) -> str:
    """A file-name-safe name: `vmin / sled.stress_check, chip 0` -> `vmin-sled.stress_check-chip0`."""
    text = "-".join(str(p) for p in parts if p not in (None, ""))
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-")[:120] or "plot"


def shmoo_png(s: Shmoo) -> bytes:
    """Pass/fail over voltage x frequency, highest voltage at the top, Vmin marked per column."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    volts, freqs = s.voltages, s.frequencies
    codes = {None: 0, PASS: 1, FAIL: 2, UNKNOWN: 3}
    grid = [[codes[s.cells.get((v, f))] for f in freqs] for v in volts]
    fig = _figure(max(6.0, 2.5 + 0.5 * len(freqs)), max(3.5, 1.5 + 0.22 * len(volts)))
    ax = fig.add_subplot()
    cmap = ListedColormap([COLOURS[None], COLOURS[PASS], COLOURS[FAIL], COLOURS[UNKNOWN]])
    ax.imshow(grid, cmap=cmap, vmin=0, vmax=3, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(freqs)), [format_hertz(f) for f in freqs], rotation=45 if len(freqs) > 6 else 0)
    step = max(1, len(volts) // 20)
    ax.set_yticks(range(0, len(volts), step), [f"{volts[i]:.3f}" for i in range(0, len(volts), step)])
    ax.set_xlabel("frequency")
    ax.set_ylabel("voltage (V)")
    vmin = s.vmin()
    for x, f in enumerate(freqs):
        if vmin[f].volts is not None:
            ax.plot([x - 0.5, x + 0.5], [volts.index(vmin[f].volts) + 0.5] * 2, color="black", linewidth=2)
    fig.suptitle(f"Shmoo {s.title}", fontsize=10, wrap=True)
    ax.legend(handles=[Patch(color=COLOURS[k], label=k) for k in (PASS, FAIL, UNKNOWN)]
              + [Patch(color="black", label="Vmin")], loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return _png(fig)


def vmin_png(group: list[Shmoo]) -> bytes:
    """Vmin against frequency, one line per chip."""
    fig = _figure(6.5, 4.0)
    ax = fig.add_subplot()
    first = group[0]
    for s in group:
        points = [(0.0 if f is None else f / 1e9, vm) for f, vm in s.vmin().items() if vm.volts is not None]
        line, = ax.plot([x for x, _ in points], [vm.volts for _, vm in points], marker="o",
                        label=f"chip {s.chip}" if s.chip is not None else "DUT")
        floor = [(x, vm.volts) for x, vm in points if not vm.edge]
        if floor:  # passed at every voltage tested: Vmin is at or below this point
            ax.plot(*zip(*floor), linestyle="none", marker="v", markersize=11, color=line.get_color())
    ax.plot([], [], linestyle="none", marker="v", color="grey", label="at or below (no failure found)")
    ax.set_xlabel("frequency (GHz)")
    ax.set_ylabel("Vmin (V)")
    ax.grid(True, alpha=0.3)
    ax.set_title(f"Vmin per frequency: {first.path} / {first.test}", fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


def soak_png(window: SoakWindow, series: list[Series], marks: dict[tuple[str, str], list[dict]]) -> bytes:
    """Every telemetry channel over the soak, one panel per unit, the soak's readings as dots."""
    units = sorted({s.unit for s in series} | {u for _, u in marks})
    units = units or [""]
    fig = _figure(9.0, 2.2 + 2.0 * len(units))
    span = max(window.end - window.start, 1e-9)
    scale, label = (3600.0, "h") if span >= 2 * 3600 else ((60.0, "min") if span >= 120 else (1.0, "s"))
    axes = fig.subplots(len(units), 1, sharex=True, squeeze=False)[:, 0]
    for ax, unit in zip(axes, units):
        for s in series:
            if s.unit == unit:
                ax.plot([(t - window.start) / scale for t in s.t], s.value, linewidth=1, label=s.channel)
        for (name, u), ms in marks.items():
            if u == unit:
                ax.plot([(m["t"] - window.start) / scale for m in ms], [m["value"] for m in ms], "o",
                        markersize=3, label=f"{name} (measured)")
        ax.set_ylabel(unit or "value")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))
    axes[-1].set_xlabel(f"time since soak start ({label})")
    state = "" if window.finished else " (ended early)"
    axes[0].set_title(f"Soak {window.phase}: {format_hours(span)}{state}", fontsize=10)
    return _png(fig)


def format_hours(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
