"""The one line that says how a run ended, in the words of `bringup run`'s plain log: the
dashboard's banner and `bringup watch --plain` both end with it."""

from __future__ import annotations

from bringup.core.states import PhaseState, RunState, StepOutcome, Verdict
from bringup.core.timefmt import format_duration

_CONTAINER_KINDS = ("loop", "search", "soak")  # their outcome is that of a step inside them
_FAILED_OUTCOMES = (StepOutcome.TIMEOUT, StepOutcome.ERROR)


class FailedSteps:
    """Steps that failed without a measurement (a wait_until that timed out, a refused action): a
    failure of the run as much as a FAIL reading. A loop's own row only repeats its step's, and a
    later attempt of the same step supersedes the earlier one's failure."""

    def __init__(self) -> None:
        self.count = 0
        self._paths: set[str] = set()

    def take(self, path: str, kind: str, outcome: str, attempt: int) -> None:
        if attempt > 1 and path in self._paths:
            self._paths.discard(path)
            self.count -= 1
        if kind not in _CONTAINER_KINDS and outcome in _FAILED_OUTCOMES and not path.startswith("safe_state/"):
            self._paths.add(path)
            self.count += 1


def summary_line(run: dict, phases: list[dict], counts: dict[str, int], now_t: float | None,
                 failed_steps: int = 0) -> str:
    """`run PASSED (exit 0) after 8:00:41: 5/5 phases passed; measurements: ...; <reason>`, the
    words of `bringup run`'s plain log (a failed step counts under "fail")."""
    passed = sum(1 for p in phases if p["state"] == PhaseState.PASSED)
    end = run["ended_t"] if run["ended_t"] is not None else (now_t or 0.0)
    code = "-" if run["exit_code"] is None else run["exit_code"]
    reason = run["reason"] or ("the process ended without recording an end"
                               if run["state"] == RunState.INTERRUPTED else None)
    return (f"run {run['state'].upper()} (exit {code}) after {format_duration(end - (run['started_t'] or 0.0))}: "
            f"{passed}/{len(phases)} phases passed; measurements: {counts.get(Verdict.PASS, 0)} pass, "
            f"{counts.get(Verdict.FAIL, 0) + failed_steps} fail"
            + (f" ({failed_steps} of them a step)" if failed_steps else "")
            + f", {counts.get(Verdict.UNKNOWN, 0)} unknown" + (f"; {reason}" if reason else ""))
