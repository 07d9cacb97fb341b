"""The dashboard's sections, each a list of one-line `Text`s cut to a width and a line budget.

Plain lines rather than rich tables and panels: a frame of lines costs ~2 ms to draw where the
same frame as nested tables costs ~20 ms, and the dashboard runs at 4 Hz all night inside the
runner's process. Lines also make fitting a 120×40 or an 80×24 terminal exact.
"""

from __future__ import annotations

from rich.text import Text

from bringup.core.states import PhaseState, RunState, Severity, Verdict
from bringup.core.timefmt import format_duration, run_time
from bringup.dashboard import fmt
from bringup.dashboard.model import Line, RunView
from bringup.dashboard.progress import Progress
from bringup.dashboard.sparkline import sparkline
from bringup.dashboard.telemetry import LABELS, NEAR, NO_READING, OK, OUT, Channel, MetricRow, judge, throttle_reasons

# phases' and the run's states in one table (the words they share style alike)
STATE_STYLE = {PhaseState.PASSED: "green", PhaseState.FAILED: "bold red", PhaseState.ABORTED: "bold red",
               RunState.ERROR: "bold red", RunState.INTERRUPTED: "magenta", PhaseState.SKIPPED: "dim",
               PhaseState.RUNNING: "bold cyan", PhaseState.PENDING: "dim"}
VERDICT_STYLE = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.UNKNOWN: "yellow"}
LEVEL_STYLE = {OK: "green", NEAR: "yellow", OUT: "bold red", NO_READING: "bold yellow"}
SEVERITY_STYLE = {Severity.DEBUG: "dim", Severity.INFO: "", Severity.WARNING: "yellow", Severity.ERROR: "bold red",
                  Severity.CRITICAL: "bold red"}
ICON = {PhaseState.PASSED: "✓", PhaseState.FAILED: "✗", PhaseState.ABORTED: "!", PhaseState.SKIPPED: "–",
        PhaseState.RUNNING: "▶", PhaseState.PENDING: "·"}
# states a phase ends in with a reason worth reading in full (the run's own "error" among them)
_STOPPED = (PhaseState.FAILED, PhaseState.ABORTED, RunState.ERROR)


def cut(text: Text, width: int) -> Text:
    text.no_wrap = True
    text.overflow = "ellipsis"
    if text.cell_len > width:
        text.truncate(width, overflow="ellipsis")
    return text


def pad(text: Text, width: int) -> Text:
    cut(text, width)
    text.pad_right(width - text.cell_len)
    return text


def heading(title: str, width: int) -> Text:
    label = f"── {title} "
    return Text(label + "─" * max(0, width - len(label)), style="dim")


# -- header ---------------------------------------------------------------------------------------
def header(view: RunView, width: int) -> list[Text]:
    run = view.run or {}
    state = run.get("state", "waiting")
    badge = Text(f" {state.upper()} ", style=f"reverse {STATE_STYLE.get(state, '')}".strip())
    first = Text.assemble(("bringup ", "bold"), (f"{run.get('procedure', '?')} v{run.get('version', '?')}", "bold"),
                          f" · DUT {run.get('dut', '?')} · station {run.get('station', '?')} · run {view.run_id}")
    cut(first, max(1, width - badge.cell_len - 1))
    first.pad_right(width - first.cell_len - badge.cell_len)
    first.append_text(badge)
    second = _times(view, wall=True)
    if second.cell_len > width:  # a narrow terminal: the wall-clock estimates go first
        second = _times(view, wall=False)
    return [first, cut(second, width)]


def _times(view: RunView, wall: bool) -> Text:
    run = view.run or {}
    line = Text(f"elapsed {format_duration(view.elapsed)}")
    if not view.finished:
        remaining = view.remaining()
        line.append(" · left ")
        if view.safe is not None:
            line.append("safe state only")
        elif remaining is None:
            line.append("unknown")
        else:
            line.append("≈" + format_duration(remaining))
            speed = view.speed()
            if wall and remaining and speed and speed != 1.0:
                line.append(f" (≈{format_duration(remaining / speed)} wall)", style="dim")
    if run.get("clock") == "simulated":
        declared = (run.get("meta") or {}).get("speed")
        line.append(f" · sim {fmt.speed(declared)}")
        measured = view.measured_speed() if not declared else None
        if measured and wall:
            line.append(f" ≈×{fmt.number(measured, 3)}", style="dim")
    else:
        line.append(" · real clock")
    c = view.counts
    line.append(" · ")
    line.append(f"{c.get(Verdict.PASS, 0)} pass", style="green")
    line.append(" · ")
    line.append(f"{view.failures} fail", style="bold red" if view.failures else "")
    line.append(" · ")
    line.append(f"{c.get(Verdict.UNKNOWN, 0)} unknown", style="yellow" if c.get(Verdict.UNKNOWN) else "")
    return line


def banner(view: RunView, width: int) -> list[Text]:
    """The one line that must not be missed: going safe, aborting, or how the run ended."""
    summary = view.summary()
    if summary is not None:
        style = {RunState.PASSED: "bold green", RunState.INTERRUPTED: "bold magenta"}.get(view.run["state"], "bold white on red")
        return [pad(Text(summary, style=style), width)]
    safe = view.safe
    if safe is None:
        return []
    steps = f" · step {safe.done} of {safe.total}" if safe.total else f" · {safe.done} steps done"
    failed = f" · {safe.failed} failed" if safe.failed else ""
    if safe.aborting:
        return [pad(Text(f"ABORTING → safe state: {safe.why}{steps}{failed}", style="bold white on red"), width)]
    return [pad(Text(f"→ safe state: {safe.why}{steps}{failed}", style="bold yellow"), width)]


# -- phases ---------------------------------------------------------------------------------------
def phases(view: RunView, width: int, budget: int) -> list[Text]:
    rows = view.phases
    if budget <= 0:
        return []
    if len(rows) > budget:  # keep the running phase (or the last one that moved) in view
        active = next((i for i, p in enumerate(rows) if p["state"] == PhaseState.RUNNING),
                      max((i for i, p in enumerate(rows) if p["state"] != PhaseState.PENDING), default=0))
        start = max(0, min(active - budget // 2, len(rows) - budget))
        rows = rows[start:start + budget]
    name_w = min(max((len(p["phase_id"]) for p in rows), default=5), 18)
    out = []
    for p in rows:
        style = STATE_STYLE.get(p["state"], "")
        line = Text.assemble((ICON.get(p["state"], "?") + " ", style), (p["phase_id"].ljust(name_w), "bold"), " ",
                             (p["state"].ljust(8), style), " ",
                             ((p["verdict"] or "").ljust(7), VERDICT_STYLE.get(p["verdict"] or "", "")), " ",
                             format_duration(view.phase_duration(p)).rjust(8))
        if p["reason"] and p["state"] in (*_STOPPED, PhaseState.SKIPPED):
            line.append(" ↓" if p["state"] != PhaseState.SKIPPED else "", style="dim")  # its reason: below, full width
        out.append(cut(line, width))
    return out


def phase_reasons(view: RunView, width: int, budget: int) -> list[Text]:
    """Why phases failed or were skipped, each on a line of the whole width: a reason is the one
    thing a person must read in full, and the phase column has no room for it. Skipped phases
    that share a reason (everything after a failed gate) share one line."""
    out: list[Text] = []
    skipped: dict[str, list[str]] = {}
    for p in view.phases:
        if not p["reason"]:
            continue
        if p["state"] == PhaseState.SKIPPED:
            skipped.setdefault(p["reason"], []).append(p["phase_id"])
        elif p["state"] in _STOPPED:
            style = STATE_STYLE.get(p["state"], "")
            out.append(cut(Text.assemble((f"{ICON.get(p['state'], '?')} {p['phase_id']} {p['state']}: ", style),
                                         p["reason"]), width))
    for reason, ids in skipped.items():
        names = ids[0] if len(ids) == 1 else f"{len(ids)} phases ({', '.join(ids)})"
        out.append(cut(Text.assemble(("– ", "dim"), (f"{names} skipped: {reason}", "dim")), width))
    return out[:max(0, budget)]


def phases_compact(view: RunView, width: int, budget: int) -> list[Text]:
    """All phases on one or two lines, for a small terminal."""
    line, out = Text("phases "), []
    for p in view.phases:
        style = STATE_STYLE.get(p["state"], "")
        word = Text(ICON.get(p["state"], "?") + p["phase_id"], style=style)
        if p["state"] == PhaseState.RUNNING:
            word.append(" " + format_duration(view.phase_duration(p)), style=style)
        if line.cell_len + word.cell_len + 1 > width and len(out) + 1 < budget:
            out.append(line)
            line = Text("  ")
        line.append_text(word)
        line.append(" ")
    out.append(cut(line, width))
    return out[:budget]


# -- now ------------------------------------------------------------------------------------------
def now(view: RunView, width: int, budget: int) -> list[Text]:
    if budget <= 0:
        return []
    doing = view.current or ("waiting for the first step" if not view.finished else "-")
    if view.finished:
        doing = f"finished · last: {doing}"
    out = [cut(Text.assemble(("now ", "bold"), doing), width)]
    speed = view.speed()
    for prog in view.long_steps()[:budget - 1]:
        out.append(progress_line(prog, width, speed))
    return out


def progress_line(prog: Progress, width: int, speed: float | None) -> Text:
    frac = prog.fraction
    if prog.unit == "s":
        amount = f"{format_duration(prog.done)} of {format_duration(prog.total)}"
    else:
        amount = f"{int(prog.done)} of {int(prog.total)} points" if prog.total else f"{int(prog.done)} points"
    eta = ""
    if prog.eta is not None:
        eta = f" · ETA {format_duration(prog.eta)}"
        if speed and speed != 1.0:
            eta += f" (≈{format_duration(prog.eta / speed)} wall)"
    tail = f" {'' if frac is None else f'{frac * 100:3.0f}%'} {amount}{eta}"
    label = f"  {prog.label} "
    bar_w = max(0, min(40, width - len(label) - len(tail)))
    line = Text(label, style="bold")
    if frac is not None and bar_w > 4:
        filled = int(round(frac * bar_w))
        line.append("█" * filled, style="cyan")
        line.append("░" * (bar_w - filled), style="dim")
    line.append(tail)
    return cut(line, width)


# -- events ---------------------------------------------------------------------------------------
def event_line(view: RunView, e: Line, width: int, kind: bool = True) -> Text:
    start = (view.run or {}).get("started_t") or 0.0
    line = Text.assemble((f"[{run_time(e.t, start, decimals=0)}] ", "dim"), (f"{e.kind:<11} " if kind else "", "dim"),
                         (e.message.replace("\n", "\\n"), SEVERITY_STYLE.get(e.severity, "")))
    return cut(line, width)


def events(view: RunView, width: int, budget: int) -> list[Text]:
    if budget <= 0:
        return []
    return [event_line(view, e, width) for e in list(view.events)[-budget:]]


# -- telemetry ------------------------------------------------------------------------------------
_LABEL_W, _VALUE_W, _WHERE_W, _LIMIT_W = 15, 16, 7, 12


def telemetry_rows(view: RunView, width: int, budget: int) -> list[Text]:
    """One line per folded chip metric, then one per other channel, each with its trend."""
    out: list[Text] = []
    spark_w = max(0, min(40, width - (_LABEL_W + _VALUE_W + _WHERE_W + _LIMIT_W + 2)))
    newest = view.newest_bucket()
    for row in view.metric_rows():
        if len(out) >= budget:
            return out
        out.append(_metric_line(row, width, spark_w, newest))
    for ch in view.other_channels():
        if len(out) >= budget:
            break
        line = _row_start(LABELS.get(ch.name, ch.name), _value_text(ch.last, ch.unit, ch.level, ch.metric), "")
        line.append_text(_spark(view, ch, spark_w, newest))
        line.append(" " + fmt.limits(ch.low, ch.high, ch.unit))
        out.append(cut(line, width))
    return out


def _metric_line(row: MetricRow, width: int, spark_w: int, newest: int) -> Text:
    style = LEVEL_STYLE[row.level]
    if row.metric == "throttle":
        line = Text(row.label[:_LABEL_W].ljust(_LABEL_W), style="bold")
        line.append(row.note or "—", style=style if row.value else "green")
        return cut(line, width)
    if row.value_high is not None and row.value_high != row.value:
        value = Text(f"{fmt.number(row.value)}–{fmt.reading(row.value_high, row.unit)}", style=style)
    else:
        value = Text(fmt.reading(row.value, row.unit), style=style)
    where = f"chip{row.chip}" if row.chip is not None else ""
    line = _row_start(row.label, value, where)
    history = _folded_history(row, newest, spark_w)
    line.append_text(sparkline(history, spark_w, _style_for(row.low, row.high), "cyan"))
    limit = fmt.limits(row.channels[0].low, row.channels[0].high, row.unit)
    if limit and row.peak is not None:
        limit += "/chip"  # a total is not judged; each chip is, against its own limit
    line.append(" " + limit.ljust(_LIMIT_W))
    if row.peak is not None:
        line.append(f" max chip{row.chip} {fmt.reading(row.peak, row.unit)}", style="dim")
    return cut(line, width)


def _row_start(label: str, value: Text, where: str) -> Text:
    line = Text(label[:_LABEL_W].ljust(_LABEL_W), style="bold")
    line.append_text(pad(value, _VALUE_W))
    line.append(where[:_WHERE_W].ljust(_WHERE_W), style="dim")
    return line


def _value_text(value: float | None, unit: str, level: str, metric: str) -> Text:
    if metric == "throttle":
        names, lvl = throttle_reasons(value)
        return Text(", ".join(names) or "none", style=LEVEL_STYLE[lvl])
    return Text(fmt.reading(value, unit), style=LEVEL_STYLE[level])


def _style_for(low: float | None, high: float | None):
    if low is None and high is None:
        return None
    return lambda v: LEVEL_STYLE[OUT] if judge(v, low, high) == OUT else ""


def _spark(view: RunView, ch: Channel, width: int, newest: int | None = None) -> Text:
    newest = view.newest_bucket() if newest is None else newest
    return sparkline(ch.history(newest, width), width, _style_for(ch.low, ch.high), "cyan")


def _folded_history(row: MetricRow, newest: int, n: int) -> list[float | None]:
    if n <= 0:
        return []
    histories = [c.history(newest, n) for c in row.channels]
    out: list[float | None] = []
    for column in zip(*histories):
        vals = [v for v in column if v is not None]
        if not vals:
            out.append(None)
        elif row.metric == "power":
            out.append(sum(vals) if len(vals) == len(column) else None)
        elif row.value_high is not None:  # a range: its low end is the one that fails first (droop)
            out.append(min(vals))
        else:
            out.append(max(vals))
    return out


def chip_grid(view: RunView, width: int, budget: int) -> list[Text]:
    """Metric by chip, each cell coloured against its limit: which chip is the odd one out."""
    chips = view.chips()
    rows = view.metric_rows()
    if not chips or budget < 2:
        return []
    label_w = 10
    cell = (width - label_w) // len(chips)
    if cell < 5:
        return []
    cell = min(cell, 9)
    head = Text("".ljust(label_w), style="dim")
    for c in chips:
        head.append(f"chip{c}".rjust(cell), style="dim")
    out = [head]
    for row in rows[:budget - 1]:
        line = Text(row.label[:label_w - 1].ljust(label_w), style="bold")
        by_chip = {ch.chip: ch for ch in row.channels}
        for c in chips:
            ch = by_chip.get(c)
            if ch is None:
                line.append("".rjust(cell))
                continue
            if row.metric == "throttle":
                names, lvl = throttle_reasons(ch.last, short=True)
                text = "-" if not names else "+".join(names)
                line.append(text[:cell - 1].rjust(cell), style=LEVEL_STYLE[lvl] if names else "dim")
            else:
                line.append(fmt.number(ch.last)[:cell - 1].rjust(cell), style=LEVEL_STYLE[ch.level])
        out.append(line)
    return out
