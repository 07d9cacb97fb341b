"""One frame of the dashboard at a given terminal size.

What matters most stays on screen however small the terminal: the run's header and state,
the banner when it is going to the safe state, what it is doing now and how far along. Then
the phases and the interlocks, then telemetry, then the latest events take what room is left.
At 120×40 the phases and interlocks sit side by side and each chip gets a column; at 80×24 the
phases fold into a line or two and telemetry shows one row per metric.
"""

from __future__ import annotations

from typing import Iterator

from rich.console import Console, ConsoleOptions
from rich.segment import Segment
from rich.text import Text

from bringup.dashboard import interlocks as il
from bringup.dashboard import sections as s
from bringup.dashboard.model import RunView

#: Below this width the phases and interlocks no longer fit side by side.
WIDE = 100
#: Section headings only when there are lines to spare for them.
TALL = 32
_LEFT = 48  # the phase list's column in the wide layout


class Frame:
    """Lines already cut to the width, rendered straight to segments.

    rich's general path would measure and wrap every line again: skipping it is a third of the
    cost of a frame, which matters at 4 Hz inside the runner's process.
    """

    def __init__(self, lines: list[Text]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        newline = Segment.line()
        for line in self.lines:
            if line.spans or not line.style:
                yield from line.render(console, end="")
            else:  # Text.render leaves a span-less line's own style to its caller
                yield Segment(line.plain, console.get_style(line.style))
            yield newline


def frame(view: RunView, width: int, height: int) -> Frame:
    """The dashboard as at most `height` lines of at most `width` cells."""
    return Frame(lines(view, width, height))


def lines(view: RunView, width: int, height: int) -> list[Text]:
    width, height = max(20, width), max(6, height)
    if view.run is None:
        return [s.cut(Text(f"run {view.run_id}: waiting for it to appear in the store…", style="dim"), width)]
    out = s.header(view, width) + s.banner(view, width)
    for note in view.notes[:1]:
        if height - len(out) > 18:
            out.append(s.cut(Text(note, style="dim"), width))
    tall, wide = height >= TALL, width >= WIDE
    left = height - len(out)

    now = s.now(view, width, 3 if tall else 2)
    left -= len(now)

    # the phase/interlock block: as tall as its content, within a share of the room
    monitor_lines = len(view.monitors()) + min(len(view.alarms), 3)
    if wide:
        want = max(len(view.phases), min(monitor_lines, 10), 1)
        block_h = min(want, 10 if tall else 5, max(1, left - 6))
        top = _side_by_side(s.phases(view, _LEFT - 2, block_h),
                            il.monitors_and_alarms(view, width - _LEFT, block_h), _LEFT)
        if tall:
            top.insert(0, _two_headings("Phases", "Interlocks & alarms", width))
    else:
        top = s.phases_compact(view, width, 2)
        top += il.monitors_and_alarms(view, width, min(3, max(1, monitor_lines), max(0, left - len(top) - 6)))
    # why a phase failed or was skipped, at full width: the phase column has no room for a reason
    top += s.phase_reasons(view, width, min(3 if tall else 1, max(0, left - len(top) - 6)))
    left -= len(top)

    events_min = 3 if tall else 2
    tele: list[Text] = []
    if view.channels:
        head = 1 if tall else 0
        rows = s.telemetry_rows(view, width, max(0, left - events_min - head))
        tele = ([s.heading(_telemetry_title(view), width)] if tall and rows else []) + rows
        spare = left - len(tele) - events_min - (1 if tall else 0) - 4
        if wide and tall and spare >= 3:
            tele += s.chip_grid(view, width, min(spare, len(view.metric_rows()) + 1))
    left -= len(tele)

    ev_budget = left - (1 if tall else 0)
    ev = s.events(view, width, ev_budget)
    if tall and ev:
        ev.insert(0, s.heading("Events", width))
    return (out + top + now + tele + ev)[:height]


def _telemetry_title(view: RunView) -> str:
    chips = view.chips()
    span = view.bucket_width
    per = f"{span:g} s" if span < 60 else f"{span / 60:g} min"
    return f"Telemetry · {len(chips)} chips · trend: one character per {per} of run clock" if chips \
        else f"Telemetry · trend: one character per {per} of run clock"


def _two_headings(left: str, right: str, width: int) -> Text:
    text = s.heading(left, _LEFT - 2)
    text.append("  ")
    text.append_text(s.heading(right, width - _LEFT))
    return text


def _side_by_side(left: list[Text], right: list[Text], left_w: int) -> list[Text]:
    out = []
    for i in range(max(len(left), len(right))):
        line = s.pad(left[i].copy() if i < len(left) else Text(""), left_w - 2)
        line.append("  ")
        if i < len(right):
            line.append_text(right[i])
        out.append(line)
    return out
