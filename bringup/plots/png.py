"""PNG pictures of a run: shmoo heat maps, Vmin per frequency, telemetry over a soak.

Needs matplotlib (`pip install 'bringup[plot]'`); nothing else in bringup does. Figures are
drawn on matplotlib's object API with the Agg canvas - no pyplot, no global state, no display
- so drawing works in CI, over SSH and from threads.
"""

from __future__ import annotations

import io
import re
from typing import Any

from bringup.store import FAIL, PASS, UNKNOWN
from bringup.plots.shmoo import Shmoo, format_hertz
from bringup.plots.telemetry import SoakChart
from bringup.plots.vmin import VminChart


class PlotsUnavailable(RuntimeError):
    """matplotlib is not installed."""


COLOURS = {PASS: "#2e9d4a", FAIL: "#d1382f", UNKNOWN: "#f0a030", None: "#e6e6e6"}


def require_matplotlib() -> None:
    """Raise PlotsUnavailable unless matplotlib imports; every drawing function calls it before it
    imports anything of matplotlib's, so a missing extra is one line of advice, never a traceback."""
    try:
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    except ImportError as exc:
        missing = isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == "matplotlib"
        why = "" if missing else f" (matplotlib is installed but does not import: {exc})"
        raise PlotsUnavailable(f"PNG plots need matplotlib: pip install 'bringup[plot]'{why} "
                               "(the terminal views need nothing extra)") from exc


def _figure(width: float, height: float) -> Any:
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

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
    require_matplotlib()
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
    ax.set_xticks([x - 0.5 for x in range(1, len(freqs))], minor=True)
    ax.set_yticks([y - 0.5 for y in range(1, len(volts))], minor=True)
    ax.grid(True, which="minor", color="white", linewidth=0.8)  # each tested point its own cell
    ax.tick_params(which="minor", length=0)
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


def vmin_png(chart: VminChart) -> bytes:
    """Vmin against frequency, one line per chip; the limit dashed; "at or below" where no failure was found."""
    fig = _figure(8.0, 4.0)
    ax = fig.add_subplot()
    for chip, pts in chart.chips.items():
        drawn = [(0.0 if p.frequency is None else p.frequency / 1e9, p.vmin) for p in pts if p.vmin.volts is not None]
        line, = ax.plot([x for x, _ in drawn], [vm.volts for _, vm in drawn], marker="o",
                        label=f"chip {chip}" if chip is not None else "DUT")
        floor = [(x, vm.volts) for x, vm in drawn if not vm.edge]
        if floor:  # no failure found: Vmin is at or below this point
            ax.plot(*zip(*floor), linestyle="none", marker="v", markersize=11, color=line.get_color())
    if any(not p.vmin.edge for pts in chart.chips.values() for p in pts if p.vmin.volts is not None):
        ax.plot([], [], linestyle="none", marker="v", color="grey", label="at or below (no failure found)")
    for bound, name in ((chart.high, "at most"), (chart.low, "at least")):
        if bound is not None:
            ax.axhline(bound, color="black", linestyle="--", linewidth=1, label=f"limit: {name} {bound:.3f} V")
    ax.set_xlabel("frequency (GHz)")
    ax.set_ylabel("Vmin (V)")
    ax.grid(True, alpha=0.3)
    ax.set_title(f"Vmin per frequency: {chart.title}", fontsize=10, wrap=True)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    return _png(fig)


_LINES = ("-", "--", ":", "-.")
_DOTS = ("o", "s", "^", "D", "v", "P", "X", "*")


def soak_png(chart: SoakChart) -> bytes:
    return _png(soak_figure(chart))


def soak_figure(chart: SoakChart) -> Any:
    """One panel per unit; colour tells the chip, line style (telemetry) or marker (readings) the quantity;
    what held one value through the soak is written under the panels instead of drawn."""
    from matplotlib.lines import Line2D

    window = chart.window
    heights = [max(2.0, 0.6 + 0.17 * (len(p.families()) + len(p.chips()))) for p in chart.panels] or [1.0]
    notes = [f"{s.family} = {s.value:g}{' ' + s.unit if s.unit else ''}"
             + (f"  ({len(s.labels)} series)" if len(s.labels) > 1 else "") for s in chart.steady]
    note_h = 0.3 + 0.13 * len(notes) if notes else 0.0
    fig = _figure(10.0, 0.8 + sum(heights) + note_h)
    span = max(window.end - window.start, 1e-9)
    scale, label = (3600.0, "h") if span >= 2 * 3600 else ((60.0, "min") if span >= 120 else (1.0, "s"))
    grid = fig.add_gridspec(len(heights) + (1 if notes else 0), 1, height_ratios=heights + ([note_h] if notes else []))
    axes = [fig.add_subplot(grid[i, 0]) for i in range(len(heights))]
    for ax in axes[1:]:
        ax.sharex(axes[0])
    for ax in axes[:-1]:
        ax.tick_params(labelbottom=False)  # one time axis, under the last panel
    palette = [c["color"] for c in _prop_cycle()]
    for ax, panel in zip(axes, chart.panels):
        chips = [c for c in panel.chips() if c is not None]
        colour = {c: palette[i % len(palette)] for i, c in enumerate(chips)} | {None: "black"}
        style = {f: i for i, f in enumerate(panel.families())}
        for tr in panel.traces:
            x = [t / scale for t in tr.t]
            if tr.measured:
                ax.plot(x, tr.value, linestyle="none", marker=_DOTS[style[tr.family] % len(_DOTS)], markersize=3,
                        color=colour[tr.chip])
            else:
                ax.plot(x, tr.value, linestyle=_LINES[style[tr.family] % len(_LINES)], linewidth=1,
                        color=colour[tr.chip])
        handles = [Line2D([], [], color="dimgrey", linewidth=1,
                          linestyle="none" if f.endswith("(measured)") else _LINES[i % len(_LINES)],
                          marker=_DOTS[i % len(_DOTS)] if f.endswith("(measured)") else None, markersize=4, label=f)
                   for f, i in style.items()]
        if len(chips) > 1:
            handles += [Line2D([], [], color=colour[c], linewidth=4, label=f"chip {c}") for c in chips]
        ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        ax.set_ylabel(panel.unit or "count / state")
        ax.grid(True, alpha=0.3)
    if axes:
        axes[-1].set_xlabel(f"time since soak start ({label})")
        state = "" if window.finished else " (ended early)"
        axes[0].set_title(f"Soak {window.phase}: {format_hours(span)}{state}", fontsize=10)
    if notes:
        box = fig.add_subplot(grid[-1, 0])
        box.axis("off")
        box.text(0, 1, "held one value through the soak:\n" + "\n".join(notes), va="top", fontsize=7,
                 family="monospace")
    return fig


def _prop_cycle() -> Any:
    from matplotlib import rcParams

    return rcParams["axes.prop_cycle"]


def format_hours(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
