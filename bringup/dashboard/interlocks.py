"""The dashboard's interlock rows: each interlock's reading, limit, trend and state, and how
well it was watched — its largest gap between reads, from the runner's interlock summary
(`bringup.outputs.interlock_summary`, the same record `bringup report` shows). Then the latest alarms.

An interlock's name is what tells four `hbm_temperature chipN` rows apart, so it is never cut:
the trend gives way first. An interlock that went unread longer than allowed says LATE in red.
"""

from __future__ import annotations

from rich.text import Text

from bringup.dashboard import fmt
from bringup.dashboard.model import MonitorRow, RunView
from bringup.dashboard.sections import LEVEL_STYLE, _spark, cut, event_line
from bringup.dashboard.telemetry import NEAR, NO_READING, OK, OUT

_VALUE_W, _LIMIT_W = 11, 10


def monitors_and_alarms(view: RunView, width: int, budget: int) -> list[Text]:
    rows = view.monitors()
    name_w = max((len(m.name) for m in rows), default=0)
    out = [monitor_line(view, m, width, name_w) for m in rows][:budget]
    for a in reversed(view.alarms):
        if len(out) >= budget:
            break
        out.append(event_line(view, a, width, kind=False))
    if not out and budget:
        out.append(Text("no interlocks declared · no alarms", style="dim"))
    return out


def fit_name(name: str, width: int) -> str:
    """The whole name when it fits; else its head and its tail (`hbm_te…chip0`), never just the
    head, which is what interlocks reading the same thing have in common."""
    if len(name) <= width:
        return name
    if width < 5:
        return name[-width:]
    tail = (width - 1) // 2
    return name[:width - 1 - tail] + "…" + name[len(name) - tail:]


def gap_text(m: MonitorRow) -> tuple[str, str]:
    """`gap 2 s` (how long it went unread at most) or `LATE gap 61 s` (beyond what it is allowed)."""
    r = m.record
    if r is None or r.largest_gap_s is None:
        return "", "dim"
    if r.late:
        return f"LATE gap {r.largest_gap_s:.3g} s", "bold red"
    return f"gap {r.largest_gap_s:.3g} s", "dim"


def monitor_line(view: RunView, m: MonitorRow, width: int, name_w: int = 0) -> Text:
    level = m.level
    style = LEVEL_STYLE[level]
    ch = m.channel
    value = fmt.reading(ch.last, ch.unit) if ch is not None else "—"
    unit = ch.unit if ch is not None else ""
    status = {OK: "ok", NEAR: "near limit", OUT: "TRIPPED" if m.tripped else "beyond limit",
              NO_READING: "no reading"}[level]
    gap, gap_style = gap_text(m)
    limit = fmt.limits(m.low, m.high, unit)
    tail = len(status) + (len(gap) + 3 if gap else 0)
    # the name takes what the value, limit and status leave; the trend only what is left after it
    name_w = max(len(m.name), name_w)
    room = width - 2 - 1 - _VALUE_W - 1 - _LIMIT_W - 1 - tail
    value_w, limit_w = _VALUE_W, _LIMIT_W
    if room < len(m.name):  # no room for the columns to line up: the name comes first
        value_w, limit_w = len(value), len(limit)
        room = width - 2 - 1 - value_w - 1 - limit_w - 1 - tail
    shown = fit_name(m.name, max(1, min(name_w, room)))
    line = Text.assemble(("⛨ ", "dim"), (shown.ljust(min(name_w, max(room, len(shown)))), "bold"), " ",
                         (value.rjust(value_w), style), " ", limit.ljust(limit_w), " ")
    if ch is not None and width - line.cell_len - tail > 4:
        spark_w = min(20, width - line.cell_len - tail - 1)
        line.append_text(_spark(view, ch, spark_w))
        line.append(" ")
    line.append(status, style=style)
    if gap:
        line.append(" · ", style="dim")
        line.append(gap, style=gap_style)
    return cut(line, width)
