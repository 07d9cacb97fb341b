"""Shmoo grids and Vmin per frequency as plain text, for a terminal or a CI log (no extra packages).

A shmoo is drawn the way bring-up engineers draw it on a whiteboard: voltage down the side,
highest at the top (the safe corner), frequency across, `*` pass and `.` fail.
"""

from __future__ import annotations

from bringup.store import FAIL, PASS, UNKNOWN
from bringup.plots.shmoo import Shmoo, format_hertz, format_volts
from bringup.plots.vmin import VminChart

MARK = {PASS: "*", FAIL: ".", UNKNOWN: "?"}
LEGEND = "* pass  . fail  ? unknown  (blank) not tested"
WIDTH = 100  # columns a CI log shows without wrapping
BAR = 30


def shmoo_text(s: Shmoo) -> str:
    freqs = s.frequencies
    labels = [format_hertz(f) if f is not None else s.voltage_key for f in freqs]
    vlabels = [format_volts(v) for v in s.voltages]
    side = max(len(v) for v in vlabels + ["Vmin"]) + 2
    cell = max(len(label) for label in labels) + 2
    compact = side + cell * len(freqs) > WIDTH
    if compact:
        cell = 2
    lines = [f"Shmoo {s.title}", f"  {LEGEND}"]
    if compact:
        lines.append(f"  frequency, left to right: {labels[0]} ... {labels[-1]} ({len(freqs)} columns)")
    else:
        lines.append(" " * side + "".join(label.center(cell) for label in labels).rstrip())
    for v, vl in zip(s.voltages, vlabels):
        row = "".join(MARK.get(s.cells.get((v, f), ""), " ").center(cell) for f in freqs)
        lines.append((vl.rjust(side - 2) + "  " + row).rstrip())
    if not compact:
        vmin = s.vmin()
        lines.append("Vmin".rjust(side - 2) + "  " + "".join(_vmin_cell(vmin[f]).center(cell) for f in freqs).rstrip())
    return "\n".join(lines) + "\n"


def _vmin_cell(v) -> str:
    if v.volts is None:
        return "none"
    return ("<=" if not v.edge else "") + f"{v.volts:.3f}"


def vmin_text(chart: VminChart, ascii_only: bool = False) -> str:
    """Vmin per frequency for every chip, with a bar scaled over the chart's span (a shmoo: the
    voltages swept; a search: its results and limit)."""
    lo, hi = chart.span or (0.0, 0.0)
    fill = "#" if ascii_only else "\u2588"
    rows = []
    for chip, points in chart.chips.items():
        who = f"chip {chip}" if chip is not None else ""
        for p in points:
            vm = p.vmin
            if vm.volts is None:
                value, bar = "none", ("no passing point" if chart.source == "search"
                                      else f"fails at {format_volts(hi)}, the highest tested")
            else:
                value = ("<= " if not vm.edge else "") + format_volts(vm.volts)
                n = round(BAR * (vm.volts - lo) / (hi - lo)) if hi > lo else BAR
                floor = "no failure down to the lowest point tried" if chart.source == "search" \
                    else "passes at every voltage tested"
                bar = "|" + fill * n + " " * (BAR - n) + "|" + ("" if vm.edge else f"  {floor}")
            rows.append((format_hertz(p.frequency), who, value, bar))
    widths = [max(len(r[i]) for r in rows) for i in range(3)] if rows else [0, 0, 0]
    lines = [f"Vmin per frequency: {chart.title}", f"  bar: {format_volts(lo)} .. {format_volts(hi)}"]
    if chart.high is not None or chart.low is not None:
        lines.append("  limit: " + " and ".join(t for t in (chart.low is not None and f">= {format_volts(chart.low)}",
                                                          chart.high is not None and f"<= {format_volts(chart.high)}")
                                                  if t))
    for r in rows:
        lines.append(("  " + "  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3]).rstrip())
    return "\n".join(lines) + "\n"
