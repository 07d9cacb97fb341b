"""The words the results store understands, as the store's users import them.

Defined once in bringup/core/states.py (StrEnums, so the stored strings are unchanged); re-exported
here because the store is where most readers look for them.
"""

from __future__ import annotations

from bringup.core.states import FAIL, PASS, PHASE_STATES, PHASE_TERMINAL, RUN_END_STATES, SEVERITIES, STEP_OUTCOMES, UNKNOWN, VERDICTS, PhaseState, RunState, Severity, StepOutcome, Verdict

RUN_RUNNING = RunState.RUNNING
RUN_INTERRUPTED = RunState.INTERRUPTED
