"""What a running procedure writes down (`RunRecord`) and how far it has got (`Progress`).

Split from the execution so that the interlocks, the bench and the steps each take only what
they use: an interlock needs to know which phase runs and which have passed, and where to write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from bringup.core.clock import Clock

Reporter = Callable[[str, dict[str, Any]], None]


@dataclass
class RunRecord:
    """The run's record: the results store, the run's id and DUT, the clock its events are timed
    by, and the live view (reporter)."""

    store: Any
    run_id: int
    dut: str
    clock: Clock
    reporter: Reporter | None = None

    def event(self, kind: str, message: str, severity: str = "info", data: dict | None = None,
              durable: bool = False) -> None:
        self.store.event(self.run_id, self.clock.now(), kind, message, severity=severity, data=data, durable=durable)
        self.report(kind, {"message": message, "severity": severity})

    def report(self, kind: str, data: dict[str, Any]) -> None:
        if self.reporter is not None:
            try:
                self.reporter(kind, data)
            except Exception:  # a broken view must never stop a run
                self.reporter = None


@dataclass
class Progress:
    """How far the run has got: what the gates, the interlocks' arming and a sweep's recovery read."""

    phase: str | None = None  # the phase running now (interlocks may be armed only during some)
    passed_phases: set[str] = field(default_factory=set)  # interlocks may be armed only after one
    first_failure: str | None = None  # in the running phase, from a step that said `on_fail: continue`
    # verdicts other than PASS recorded so far, gates and characterization data alike, and the
    # latest one's message: a sweep runs its `recover` steps after a point that added any
    not_passed: int = 0
    not_passed_message: str | None = None

    def not_passing(self, message: str) -> None:
        """One more verdict other than PASS was recorded."""
        self.not_passed, self.not_passed_message = self.not_passed + 1, message
