"""A procedure file read into the language's model: YAML with marks, the schema (pydantic), every
include merged in, and schema errors located at file:line:col with a hint. What the model cannot
express (units, bindings, the station) is `validate.py`'s.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Iterable

import pydantic

from bringup.language import salvage
from bringup.language.compose import compose
from bringup.language.procedure import IDENT, STEP_KINDS, ComputeStep, DoStep, ForEachStep, Limit, MeasureStep, Monitor, Procedure, Search, SearchStep, SoakStep, SweepRange, SweepStep, WaitStep, WaitUntilStep, normalise
from bringup.language.source import Document, InvalidInput, Loc, Problem, load_yaml

_ALL_FIELDS = sorted({f.alias or n for m in (Procedure, DoStep, MeasureStep, ComputeStep, WaitStep, WaitUntilStep,
                                              ForEachStep, SweepStep, SearchStep, Search, SoakStep, Monitor, Limit,
                                              SweepRange)
                      for n, f in m.model_fields.items()} | set(STEP_KINDS) | {"condition", "poll", "duration",
                                                                               "every", "from", "to", "step",
                                                                               "default", "help", "after",
                                                                               "on_fail", "retries", "id"})


def load_procedure(path: str | Path, text: str | None = None) -> tuple[Procedure, Document]:
    """A procedure file, with everything it includes merged in (see bringup/language/compose.py)."""
    try:
        proc, doc = _load_one(path, text)
    except salvage.PartlyRead as partial:
        salvage.compose_rest(partial, lambda p, d: compose(p, d, _load_one))
    return compose(proc, doc, _load_one)


def _load_one(path: str | Path, text: str | None = None) -> tuple[Procedure, Document]:
    doc = load_yaml(path, text, what="procedure")
    if not isinstance(doc.data, dict):
        raise InvalidInput([doc.problem((), "a procedure is a mapping with 'procedure', 'requires' and 'phases'",
                                        "see docs/procedures.md")])
    data = normalise(doc.data)
    try:
        proc = Procedure.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False)
        problems = [_located(doc, e) for e in errors]
        rest = salvage.remainder(data, errors, _strip_tags)  # one unreadable step must not hide the others
        if rest is None:
            raise InvalidInput(problems) from None
        raise salvage.PartlyRead(problems, rest[0], doc, rest[1]) from None
    return proc, doc


def _strip_tags(loc: Iterable[Any]) -> Loc:
    out: list[Any] = []
    tag_after = -1  # where a tag was dropped: the step's own field of that name (for_each) follows it
    for part in loc:
        # the step union inserts its tag ("measure") after a list index; the YAML has no such level
        if isinstance(part, str) and part in STEP_KINDS and out and isinstance(out[-1], int) and len(out) >= 2 \
                and out[-2] in ("steps", "safe_state") and tag_after != len(out):
            tag_after = len(out)
            continue
        if isinstance(part, str) and part.startswith("function-"):
            continue
        out.append(part)
    return tuple(out)


def _located(doc: Document, err: dict[str, Any]) -> Problem:
    loc = _strip_tags(err["loc"])
    kind = err["type"]
    where = "/".join(map(str, loc)) or "the top level"
    if kind == "extra_forbidden":
        key = loc[-1]
        close = difflib.get_close_matches(str(key), _ALL_FIELDS, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "remove it; see `bringup schema` for the language"
        return doc.problem(loc, f"unknown key '{key}'", hint, key=True)
    if kind == "missing":
        parent = "/".join(map(str, loc[:-1])) or "the procedure"
        return doc.problem(loc, f"'{loc[-1]}' is required in {parent}", f"add '{loc[-1]}:'")
    if kind == "step_kind":
        return doc.problem(loc, *salvage.step_kind_problem(err.get("input")))
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "[key]":  # a parameter, role or loop variable
        return doc.problem(loc[:-1], f"{'/'.join(map(str, loc[:-2]))}: {err.get('input')!r} is not a name",
                           "a name is letters, digits and _, starting with a letter or _ (it is referred to "
                           "as {name} or role.action)", key=True)
    if kind == "string_pattern_mismatch" and (err.get("ctx") or {}).get("pattern") == IDENT:
        return doc.problem(loc, f"{where}: {err.get('input')!r} is not a name",
                           "a name is letters, digits and _, starting with a letter or _, e.g. power_on")
    if kind == "string_pattern_mismatch":
        return doc.problem(loc, f"{where}: '{err.get('input')}' is not a name of the form role.action",
                           "e.g. psu.set or sled.max_tj")
    msg = str(err["msg"]).removeprefix("Value error, ")
    hint = getattr((err.get("ctx") or {}).get("error"), "hint", "")  # an ExprError knows what to do about it
    return doc.problem(loc, f"{where}: {msg}", hint)


