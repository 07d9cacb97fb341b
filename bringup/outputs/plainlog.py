"""Plain, timestamped progress lines for CI logs, pipes and files: no escape codes, one event a line.

Only what a person scanning a log needs: phase transitions, every non-PASS measurement,
warnings and errors, the safe state, a summary, and then the key numbers of the night as
`bringup report` shows them (read back from the store once the run has recorded its end).
Passing measurements are counted, not printed (a soak makes thousands). A step that failed
without a measurement (a `wait_until` that timed out, an action the instrument refused) is a
failure too: it counts under "fail".
"""

from __future__ import annotations

import sys
from typing import Any, Callable, TextIO

from bringup.core.clock import Clock
from bringup.core.states import PhaseState, Severity, StepOutcome, Verdict
from bringup.core.timefmt import run_time


class PlainLog:
    def __init__(self, clock: Clock, stream: TextIO | None = None, verbose: bool = False) -> None:
        self.clock = clock
        self.out = stream or sys.stdout
        self.verbose = verbose
        self.counts = {Verdict.PASS: 0, Verdict.FAIL: 0, Verdict.UNKNOWN: 0}
        self.data = 0
        self.failed_steps = 0
        self._last_failure: str | None = None  # what a following "retry" takes back: a step or a measurement
        self.start = clock.now()

    #: a log line is for scanning; the whole message is in the store (`bringup report`)
    MAX_LINE = 300

    def line(self, text: str) -> None:
        if len(text) > self.MAX_LINE:
            text = text[: self.MAX_LINE - 40].rstrip() + " … (in full: bringup report)"
        self.out.write(f"[{run_time(self.clock.now(), self.start)}] {text}\n")
        self.out.flush()

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        handler: Callable[[dict[str, Any]], None] | None = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(data)

    def _on_run(self, d: dict[str, Any]) -> None:
        self.line(f"run {d['run_id']}: {d['procedure']} on DUT {d['dut']} at station {d['station']}; "
                  f"phases: {', '.join(d['phases'])}")

    def _on_phase(self, d: dict[str, Any]) -> None:
        extra = f" ({d['reason']})" if d.get("reason") else ""
        attempt = f" (attempt {d['attempt']})" if d.get("attempt", 1) > 1 else ""
        self.line(f"phase {d['phase']}: {d['state']}{attempt}{extra}")

    def _on_measurement(self, d: dict[str, Any]) -> None:
        if not d.get("gate", True):
            self.data += 1  # a shmoo point or a search's probe: data, not a verdict on the run
            return
        self.counts[d["verdict"]] += 1
        if d["verdict"] != Verdict.PASS:
            self._last_failure = "measurement"
            self.line(f"{d['verdict']} {d['path']}: {d['message']}")
        elif self.verbose:
            self.line(f"PASS {d['path']}: {d['name']} = {d['value']:.6g} {d['unit']}")

    def _on_message(self, d: dict[str, Any]) -> None:
        self.line(d["message"])

    def _on_monitor(self, d: dict[str, Any]) -> None:
        self.line(f"{d['severity'].upper()}: {d['message']}")

    def _on_step(self, d: dict[str, Any]) -> None:
        # the runner reports a step that failed (timed out, refused) this way and only this way
        if d["severity"] in (Severity.ERROR, Severity.CRITICAL):
            self.failed_steps += 1
            self._last_failure = "step"
        self.line(f"{d['severity'].upper()}: {d['message']}")

    def _on_retry(self, d: dict[str, Any]) -> None:
        # the attempt that just failed is tried again: only the last attempt's failure counts
        if self._last_failure == "step":
            self.failed_steps -= 1
        self._last_failure = None
        self._on_monitor(d)

    _on_exception = _on_monitor

    def _on_safe_state(self, d: dict[str, Any]) -> None:
        if "steps" in d:
            self.line(f"safe state: {d['why'] or 'end of run'} ({d['steps']} steps)")

    def _on_safe_step(self, d: dict[str, Any]) -> None:
        if d["outcome"] != StepOutcome.OK:
            self.line(f"safe state step {d['index']}: {d['outcome']}: {d['message']}")

    def _on_end(self, d: dict[str, Any]) -> None:
        c = self.counts
        steps = f" ({self.failed_steps} of them a step)" if self.failed_steps else ""
        self.line(f"run {d['state'].upper()} (exit {d['exit_code']}): "
                  f"{sum(1 for s in d['phases'].values() if s == PhaseState.PASSED)}/{len(d['phases'])} phases passed; "
                  f"measurements: {c[Verdict.PASS]} pass, {c[Verdict.FAIL] + self.failed_steps} fail{steps}, "
                  f"{c[Verdict.UNKNOWN]} unknown"
                  + (f"; {self.data} characterization points" if self.data else "")
                  + (f"; {d['reason']}" if d.get("reason") else ""))

    def _on_recorded(self, d: dict[str, Any]) -> None:
        """The run's end is in the store: print the night's key numbers from it, as the report has them."""
        from bringup.outputs import findings, interlock_summary, keynumbers
        from bringup.store import StoreError, StoreReader

        try:
            with StoreReader(d["store"]) as reader:
                run = reader.run(d["run_id"]) or {}
                start = run.get("started_t") or 0.0
                numbers = keynumbers.load(reader, d["run_id"])
                interlocks = interlock_summary.read(reader, d["run_id"])
        except StoreError as exc:  # the run stands; only this summary of it is missing
            self.line(f"key numbers: cannot read them back ({exc}); see `bringup report`")
            return
        self.line("key numbers (as in `bringup report`):")
        for text in findings.key_number_lines(numbers, start) + [_gap_line(interlocks, start)]:
            self.line("  " + text)


def _gap_line(records: list | None, start: float) -> str:
    from bringup.outputs.interlock_summary import worst_gap

    if records is None:
        return "interlocks: largest gap not recorded"
    worst = worst_gap(records)
    if worst is None:
        return "interlocks: never read"
    late = [r.name for r in records if r.late]
    at = f" at {run_time(worst.largest_gap_at_t, start)}" if worst.largest_gap_at_t is not None else ""
    return (f"interlocks: largest gap {worst.largest_gap_s:.3g} s ({worst.name}{at}, allowed "
            f"{'-' if worst.allowed_gap_s is None else f'{worst.allowed_gap_s:.4g} s'}); "
            + (f"LATE: {', '.join(late)}" if late else "none late"))
