"""How the dashboard writes numbers, units and durations for a person reading across a room.

Four significant digits are plenty for a reading on a screen (the store keeps full precision),
durations are `bringup.core.timefmt`'s H:MM:SS like every other view's, and the few units people say differently from
how drivers declare them (`degC`) are shown as people say them.
"""

from __future__ import annotations

import math

_DISPLAY_UNIT = {"degC": "°C", "degF": "°F", "Ohm": "Ω", "ohm": "Ω"}

# Readings big enough to want a prefix on a dashboard (a sled's total power, a core rail's current).
_PREFIXABLE = {"W", "A", "Hz"}


def unit_label(symbol: str) -> str:
    """The unit as a person reads it: `degC` -> `°C`; others unchanged."""
    return _DISPLAY_UNIT.get(symbol, symbol)


def number(value: float | None, digits: int = 4) -> str:
    """`91.2345` -> `91.23`; `0.75012` -> `0.7501`; None -> `—`; NaN stays visible as `NaN`."""
    if value is None:
        return "—"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if 1e-3 <= magnitude < 1e6:
        decimals = max(0, digits - 1 - int(math.floor(math.log10(magnitude))))
        text = f"{value:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text
    return f"{value:.{digits - 1}e}".replace("e-0", "e-").replace("e+0", "e+").replace("e+", "e")


def reading(value: float | None, symbol: str) -> str:
    """A reading with its unit: `91.23 °C`, `11.2 kW`, `1.5 L/min`, `—` when there is none."""
    if value is None:
        return "—"
    if symbol in _PREFIXABLE and not math.isnan(value) and abs(value) >= 10_000:
        value, symbol = value / 1000.0, "k" + symbol
    label = unit_label(symbol)
    return f"{number(value)} {label}" if label else number(value)


def limits(low: float | None, high: float | None, symbol: str) -> str:
    """`≤105 °C`, `≥1 L/min`, `0.7–0.8 V`, or empty when there is no limit."""
    label = unit_label(symbol)
    suffix = f" {label}" if label else ""
    if low is not None and high is not None:
        return f"{number(low)}–{number(high)}{suffix}"
    if high is not None:
        return f"≤{number(high)}{suffix}"
    if low is not None:
        return f"≥{number(low)}{suffix}"
    return ""


def speed(multiple: float | None) -> str:
    """`×50`, `×0.5`; `as fast as possible` for a simulation that jumps."""
    if multiple is None:
        return "as fast as possible"
    return f"×{number(multiple, 3)}"
