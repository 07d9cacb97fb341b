"""The one way a run stops early: `Abort` ends it through the safe state (exit code 3).

Raised for an interlock trip (monitors.MonitorTrip), a lost instrument (bench.InstrumentLost),
Ctrl-C or SIGTERM; the runner catches it once, whatever raised it.
"""

from __future__ import annotations


class Abort(Exception):
    """The run must stop now and go to the safe state (exit code 3)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
