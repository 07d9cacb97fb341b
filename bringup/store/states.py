"""The words the results store understands: verdicts, run and phase states, step outcomes.

Plain strings rather than enums: they are what lands in the database, in JSON and CSV exports
and in PostgreSQL later, and a runner hands them over on its hot path without conversion.
"""

from __future__ import annotations

PASS = "PASS"
FAIL = "FAIL"
UNKNOWN = "UNKNOWN"
VERDICTS = frozenset({PASS, FAIL, UNKNOWN})

RUN_RUNNING = "running"
# What the runner may record at the end of a run.
RUN_END_STATES = frozenset({"passed", "failed", "aborted", "error"})
# Never written: readers derive it for a run left "running" by a process that no longer exists.
RUN_INTERRUPTED = "interrupted"

PHASE_STATES = frozenset({"pending", "running", "passed", "failed", "skipped", "aborted"})
PHASE_TERMINAL = frozenset({"passed", "failed", "skipped", "aborted"})

STEP_OUTCOMES = frozenset({"ok", "error", "timeout", "aborted", "skipped"})

SEVERITIES = frozenset({"debug", "info", "warning", "error", "critical"})
