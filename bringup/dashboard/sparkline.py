"""Sparklines: a channel's recent history in one line of block characters.

Each character is one time bucket of the run clock, so a gap in the telemetry shows as a gap
(a blank), not as a squeezed line. Characters beyond a limit are drawn in the alarm colour, so a
person sees *when* the excursion was, not only that the value is red now.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

from rich.text import Text

BLOCKS = "▁▂▃▄▅▆▇█"


#: The smallest range a sparkline stretches over, as a fraction of the values' magnitude: a
#: steady 96 °C with half a degree of sensor noise draws as a steady line, not as a storm.
MIN_SPAN = 0.05


def levels(values: Sequence[float | None]) -> list[int | None]:
    """Each value's block level 0..7 scaled to the finite values' range; None for a gap or NaN."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return [None] * len(values)
    lo, hi = min(finite), max(finite)
    floor = MIN_SPAN * max(abs(lo), abs(hi))
    if 0 < hi - lo < floor:
        mid = (lo + hi) / 2
        lo, hi = mid - floor / 2, mid + floor / 2
    span = hi - lo
    out: list[int | None] = []
    for v in values:
        if v is None or not math.isfinite(v):
            out.append(None)
        elif span <= abs(hi) * 1e-9 or span == 0:
            out.append(3)  # flat: a steady mid line reads as "steady", a floor line as "zero"
        else:
            out.append(min(7, int((v - lo) / span * 8)))
    return out


def sparkline(values: Sequence[float | None], width: int, style_of: Callable[[float], str] | None = None,
              base_style: str = "") -> Text:
    """The last `width` values as blocks, right-aligned (newest at the right edge).

    `style_of(value)` gives a character its own style (e.g. red beyond a limit); it is asked only
    for values that are not `base_style`-worthy, so a quiet channel costs one span.
    """
    if width <= 0:
        return Text("")
    recent = list(values)[-width:]
    text = Text(" " * (width - len(recent)), style=base_style)
    # consecutive characters of one style become one span: a frame draws dozens of these lines
    run_chars: list[str] = []
    run_style = base_style
    for v, level in zip(recent, levels(recent)):
        char = " " if level is None else BLOCKS[level]
        style = (style_of(v) if (style_of is not None and level is not None) else "") or base_style
        if style != run_style and run_chars:
            text.append("".join(run_chars), style=run_style)
            run_chars = []
        run_style = style
        run_chars.append(char)
    if run_chars:
        text.append("".join(run_chars), style=run_style)
    return text
