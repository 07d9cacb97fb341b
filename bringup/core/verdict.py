"""Verdicts and how a measured value earns one.

PASS only when a real number was read and lies within its limits. A reading that errors, times
out or returns NaN is UNKNOWN, and UNKNOWN never passes a gate.
"""

from __future__ import annotations

import math

from bringup.core.states import FAIL, PASS, UNKNOWN, Verdict

# exit codes of `bringup run`
EXIT_PASS, EXIT_FAIL, EXIT_INVALID, EXIT_ABORT = 0, 1, 2, 3


def judge(value: float | None, low: float | None, high: float | None) -> Verdict:
    if value is None or not isinstance(value, (int, float)) or math.isnan(value):
        return UNKNOWN
    if low is not None and value < low:
        return FAIL
    if high is not None and value > high:
        return FAIL
    return PASS


def worst(verdicts: list[str]) -> Verdict:
    """FAIL beats UNKNOWN beats PASS; no verdicts at all is a PASS (a phase of only actions)."""
    if FAIL in verdicts:
        return FAIL
    if UNKNOWN in verdicts:
        return UNKNOWN
    return PASS


def describe_limits(low: float | None, high: float | None, unit: str) -> str:
    u = f" {unit}" if unit else ""
    if low is not None and high is not None:
        return f"[{low:.6g}, {high:.6g}]{u}"
    if low is not None:
        return f">= {low:.6g}{u}"
    if high is not None:
        return f"<= {high:.6g}{u}"
    return "no limit"
