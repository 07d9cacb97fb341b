"""Plain, timestamped progress lines for CI logs, pipes and files: no escape codes, one event a line.

Only what a person scanning a log needs: phase transitions, every non-PASS measurement,
warnings and errors, the safe state, and a summary at the end. Passing measurements are
counted, not printed (a soak makes thousands).
"""

from __future__ import annotations

import sys
from typing import Any, Callable, TextIO

from .clock import Clock


class PlainLog:
    def __init__(self, clock: Clock, stream: TextIO | None = None, verbose: bool = False) -> None:
        self.clock = clock
        self.out = stream or sys.stdout
        self.verbose = verbose
        self.counts = {"PASS": 0, "FAIL": 0, "UNKNOWN": 0}
        self.data = 0
        self.start = clock.now()

    #: a log line is for scanning; the whole message is in the store (`bringup report`)
    MAX_LINE = 300

    def line(self, text: str) -> None:
        if len(text) > self.MAX_LINE:
            text = text[: self.MAX_LINE - 40].rstrip() + " … (in full: bringup report)"
        t = self.clock.now() - self.start
        s = int(t)
        self.out.write(f"[{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}.{int((t - s) * 1000):03d}] {text}\n")
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
        if d["verdict"] != "PASS":
            self.line(f"{d['verdict']} {d['path']}: {d['message']}")
        elif self.verbose:
            self.line(f"PASS {d['path']}: {d['name']} = {d['value']:.6g} {d['unit']}")

    def _on_message(self, d: dict[str, Any]) -> None:
        self.line(d["message"])

    def _on_monitor(self, d: dict[str, Any]) -> None:
        self.line(f"{d['severity'].upper()}: {d['message']}")

    def _on_step(self, d: dict[str, Any]) -> None:
        self.line(f"{d['severity'].upper()}: {d['message']}")

    _on_retry = _on_monitor
    _on_exception = _on_monitor

    def _on_safe_state(self, d: dict[str, Any]) -> None:
        if "steps" in d:
            self.line(f"safe state: {d['why'] or 'end of run'} ({d['steps']} steps)")

    def _on_safe_step(self, d: dict[str, Any]) -> None:
        if d["outcome"] != "ok":
            self.line(f"safe state step {d['index']}: {d['outcome']}: {d['message']}")

    def _on_end(self, d: dict[str, Any]) -> None:
        c = self.counts
        self.line(f"run {d['state'].upper()} (exit {d['exit_code']}): "
                  f"{sum(1 for s in d['phases'].values() if s == 'passed')}/{len(d['phases'])} phases passed; "
                  f"measurements: {c['PASS']} pass, {c['FAIL']} fail, {c['UNKNOWN']} unknown"
                  + (f"; {self.data} characterization points" if self.data else "")
                  + (f"; {d['reason']}" if d.get("reason") else ""))
