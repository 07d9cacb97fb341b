"""The words a run is recorded in: verdicts, run and phase states, step outcomes, severities.

Defined once, as `StrEnum`s: a member *is* its string, so what lands in SQLite, in JSON and CSV
exports and in the events' data is unchanged ("passed", "PASS"), a row read back compares equal
to the member, and a misspelt state is an AttributeError at import instead of a silent mismatch.
"""

from __future__ import annotations

from enum import StrEnum


class Verdict(StrEnum):
    """A measurement's, a phase's or a run's: PASS only on a real reading within its limits."""

    PASS = "PASS"
    FAIL = "FAIL"
    UNKNOWN = "UNKNOWN"  # no real number was read (error, timeout, NaN): never passes a gate


class RunState(StrEnum):
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    ABORTED = "aborted"
    ERROR = "error"
    # Never written: readers derive it for a run left "running" by a process that no longer exists.
    INTERRUPTED = "interrupted"


class PhaseState(StrEnum):
    PENDING = "pending"  # declared at the start so views list phases never reached
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # behind a failed gate, or never reached
    ABORTED = "aborted"


class StepOutcome(StrEnum):
    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    ABORTED = "aborted"
    SKIPPED = "skipped"


class Severity(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


PASS, FAIL, UNKNOWN = Verdict.PASS, Verdict.FAIL, Verdict.UNKNOWN

# The sets the store checks against hold the plain strings, so its error messages and the SQL
# built from them read exactly as before; a member is found in them all the same.
VERDICTS = frozenset(v.value for v in Verdict)
# What the runner may record at the end of a run.
RUN_END_STATES = frozenset(s.value for s in RunState if s not in (RunState.RUNNING, RunState.INTERRUPTED))
PHASE_STATES = frozenset(s.value for s in PhaseState)
PHASE_TERMINAL = frozenset(s.value for s in PhaseState if s not in (PhaseState.PENDING, PhaseState.RUNNING))
STEP_OUTCOMES = frozenset(s.value for s in StepOutcome)
SEVERITIES = frozenset(s.value for s in Severity)
