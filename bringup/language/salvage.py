"""Keep validating past a schema error: one misspelled step must not hide the rest of the file.

The schema (pydantic) either gives a whole Procedure or none, and without one the semantic checks
(roles, actions, units, guardrails, bounds) had nothing to check: a `wiat:` hid every other
mistake in the file. Here each step the schema could not read is set aside for a placeholder (a
wait of zero, so no index and no location moves), a phase's or the procedure's optional field it
could not read falls back to its default, an unreadable monitor takes the monitors out of the
check; then the rest is validated as usual and every problem is reported together.

A value the set-aside step would have named (`as:`, `compute:`) is not reported again as
unknown where later steps use it: that is the same mistake, already reported.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable

import pydantic

from bringup.language import procedure
from bringup.language.procedure import STEP_KINDS, Phase, Procedure
from bringup.language.source import Document, InvalidInput, Loc, Problem

_PLACEHOLDER = {"wait": "0 s", "name": "(a step that could not be read)"}
_STEP_FIELDS = {f.alias or n for kind in ("Do", "Measure", "Compute", "Wait", "WaitUntil", "ForEach", "Sweep", "Search",
                                           "Soak") for n, f in getattr(procedure, kind + "Step").model_fields.items()}
_ROUNDS = 3  # a set-aside step cannot fail again, so one round normally suffices


class PartlyRead(InvalidInput):
    """Schema problems, and the rest of the procedure, which is still worth checking."""

    def __init__(self, problems: list[Problem], procedure: Procedure, document: Document,
                 unread_names: set[str]) -> None:
        super().__init__(problems)
        self.procedure, self.document, self.unread_names = procedure, document, unread_names


def remainder(data: Any, errors: list[dict[str, Any]], strip: Callable[[Any], Loc]) -> tuple[Procedure, set[str]] | None:
    """The procedure without what the schema could not read, and the names that went with it;
    None when what is wrong is not a step, a monitor or an optional field (nothing sensible is left)."""
    if not isinstance(data, dict):
        return None
    data = _copy(data)
    names: set[str] = set()
    for _ in range(_ROUNDS):
        for err in errors:
            if not _set_aside(data, strip(err["loc"]), names):
                return None
        try:
            return Procedure.model_validate(data), names
        except pydantic.ValidationError as exc:
            errors = exc.errors(include_url=False)
    return None


def step_kind_problem(step: Any) -> tuple[str, str]:
    """Message and hint for a step with no kind, several, or a misspelled one (`wiat:`)."""
    kinds = ", ".join(STEP_KINDS)
    if isinstance(step, dict):
        found = [k for k in STEP_KINDS if k in step]
        if len(found) > 1:
            return f"a step has one kind, this one has {len(found)}: {', '.join(found)}", "split it into one step each"
        for key in (k for k in step if k not in _STEP_FIELDS):
            close = difflib.get_close_matches(str(key), STEP_KINDS, n=1, cutoff=0.5)
            if close:
                return f"'{key}' is not a step kind", f"did you mean '{close[0]}'? (a step is one of: {kinds})"
    return f"a step needs exactly one of: {kinds}", "e.g. '- do: psu.output' or '- measure: sled.max_tj'"


def compose_rest(top: PartlyRead, compose: Callable[[Procedure, Document], tuple[Procedure, Document]]) -> None:
    """Build the composite on the readable rest of a top file with schema problems; always raises:
    PartlyRead with everything found so far, or InvalidInput if an included file is missing."""
    try:
        merged, composed = compose(top.procedure, top.document)
    except PartlyRead as inner:
        raise PartlyRead(top.problems + inner.problems, inner.procedure, inner.document,
                         top.unread_names | inner.unread_names) from None
    except InvalidInput as exc:
        raise InvalidInput(top.problems + exc.problems) from None
    raise PartlyRead(top.problems, merged, composed, top.unread_names)


def report(partial: PartlyRead, check: Callable[[], Any]) -> InvalidInput:
    """Schema problems together with whatever `check` finds in the rest."""
    problems = list(partial.problems)
    try:
        check()
    except InvalidInput as exc:
        problems.extend(p for p in exc.problems if not _about(p, partial.unread_names))
    return InvalidInput(problems)


def _about(p: Problem, names: set[str]) -> bool:
    return any(f"unknown name '{n}'" in p.message or f"{{{n}}}" in p.message for n in names)


def _set_aside(data: dict[str, Any], loc: Loc, names: set[str]) -> bool:
    for cut in range(len(loc) - 1, 0, -1):  # the innermost step holding the error
        if isinstance(loc[cut], int) and loc[cut - 1] in ("steps", "safe_state"):
            parent = _at(data, loc[:cut])
            if isinstance(parent, list) and loc[cut] < len(parent):
                step = parent[loc[cut]]
                if isinstance(step, dict):
                    names.update(v for k, v in step.items() if k in ("as", "compute") and isinstance(v, str))
                parent[loc[cut]] = dict(_PLACEHOLDER)
                return True
            return False
    if loc[:1] == ("monitors",):
        data["monitors"] = []  # their checks are skipped; the schema problem is reported
        return True
    if len(loc) >= 3 and loc[0] == "phases" and isinstance(loc[1], int) and loc[2] not in ("id", "steps"):
        field = Phase.model_fields.get(str(loc[2]))
        phase = _at(data, loc[:2])
        if field is not None and not field.is_required() and isinstance(phase, dict):
            phase.pop(loc[2], None)
            return True
    if loc[:1] in (("version",), ("description",)):
        data.pop(loc[0], None)
        return True
    return False


def _at(data: Any, loc: Loc) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_copy(v) for v in data]
    return data
