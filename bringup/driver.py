"""The old home of the driver base (before the engine was folded into layers): drivers written
outside this project import `bringup.driver`, and a move of our files must not break theirs.
New code imports `bringup.drivers.base` (the base class, errors, guardrails) and
`bringup.drivers.spec` (Param, ActionSpec, @action, @reading).
"""

from bringup.drivers.base import (Driver, DriverError, Guardrail, GuardrailViolation,  # noqa: F401
                                  InstrumentUnreachable, StepTimeout, guardrail_violation)
from bringup.drivers.spec import ActionSpec, Param, action, declare_spec, reading  # noqa: F401
