"""Procedures built from shared fragments: `include: [power_on.yaml, pcie.yaml]`.

Each file is a procedure in its own right (runnable alone) and is validated on its own, so a
mistake is reported in the file and at the line where it was written. Including merges:

- phases: every included file's phases, in include order, before the including file's own;
- requires: the union (a role must be the same kind everywhere);
- parameters: the union; the including file's value wins over an included default;
- safe_state and monitors: the including (top) file's own, so a composite declares its safe
  state and interlocks once. A file that declares none takes the nearest included file's (the
  last one included that declares any): a procedure never loses the safe state of what it builds on.

A file included twice (directly or through another fragment) counts once: fragments can each
include the power-on they need and still compose into one run.

An included file must resolve (symlinks followed) inside the including file's folder: a
procedure from someone else cannot make the validator open `../../etc/passwd` or
`/proc/self/environ`. Such an include is refused before anything is opened, naming what was
written, not where it leads. Cycles are refused as well.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bringup.language.procedure import Procedure
from bringup.language.salvage import PartlyRead
from bringup.language.source import Document, InvalidInput, Loc, Problem


@dataclass
class ComposedDocument(Document):
    """The top file's document, knowing which file each merged phase and parameter came from."""

    origins: dict[Loc, tuple[Document, Loc]] = field(default_factory=dict)

    def _origin(self, loc: Loc) -> tuple[Document, Loc]:
        loc = tuple(loc)
        for n in (2, 1):  # ("phases", i) / ("parameters", name) / ("safe_state",) ...
            hit = self.origins.get(loc[:n])
            if hit is not None:
                doc, prefix = hit
                return doc, prefix + loc[n:]
        return self, loc

    def where(self, loc: Loc, key: bool = False) -> tuple[int, int]:
        doc, mapped = self._origin(loc)
        if doc is self:
            return Document.where(self, mapped, key)
        return doc.where(mapped, key)

    def problem(self, loc: Loc, message: str, hint: str = "", key: bool = False) -> Problem:
        doc, mapped = self._origin(loc)
        line, col = doc.where(mapped, key) if doc is not self else Document.where(self, mapped, key)
        return Problem(doc.file, line, col, message, hint)


def compose(top: Procedure, top_doc: Document, load: Any) -> tuple[Procedure, Document]:
    """Merge `top` with everything it includes. `load(path) -> (Procedure, Document)` reads one file."""
    if not top.include:
        return top, top_doc
    files: list[tuple[Procedure, Document]] = []
    problems: list[Problem] = []
    partial: list[PartlyRead] = []  # fragments with schema problems whose rest is still checked
    _collect(top, top_doc, load, files, seen=set(), stack=[], problems=problems, partial=partial)
    if len(problems) > sum(len(p.problems) for p in partial):
        raise InvalidInput(problems)  # a missing or refused file: checking the rest would mislead
    phases, requires, parameters = [], {}, {}
    origins: dict[Loc, tuple[Document, Loc]] = {}
    safe_state, monitors = top.safe_state, top.monitors
    for proc, doc in files[:-1]:  # the top file is last; its own declarations win
        if not top.safe_state and proc.safe_state:
            safe_state = proc.safe_state
            origins[("safe_state",)] = (doc, ("safe_state",))
        if not top.monitors and proc.monitors:
            monitors = proc.monitors
            origins[("monitors",)] = (doc, ("monitors",))
    for proc, doc in files:
        for j, phase in enumerate(proc.phases):
            origins[("phases", len(phases))] = (doc, ("phases", j))
            phases.append(phase)
        for role, kind in proc.requires.items():
            if requires.get(role, kind) != kind:
                problems.append(doc.problem(("requires", role), f"role '{role}' is a {kind} here but a "
                                            f"{requires[role]} in an included file", "use one kind per role"))
            requires.setdefault(role, kind)
            origins.setdefault(("requires", role), (doc, ("requires", role)))
        for name, p in proc.parameters.items():
            parameters[name] = p  # later files (the including one last) win
            origins[("parameters", name)] = (doc, ("parameters", name))
    if len(problems) > sum(len(p.problems) for p in partial):
        raise InvalidInput(problems)
    merged = top.model_copy(update={"phases": phases, "requires": requires, "parameters": parameters,
                                    "safe_state": safe_state, "monitors": monitors})
    # the hash of a composite covers every file it is made of, so a changed fragment is a new procedure
    text = "\n".join(f"# --- {d.file}\n{d.text}" for _, d in files)
    composed = ComposedDocument(top_doc.file, top_doc.data, top_doc.marks, top_doc.key_marks, text, origins)
    if partial:
        raise PartlyRead(problems, merged, composed, set().union(*(p.unread_names for p in partial)))
    return merged, composed


def _collect(proc: Procedure, doc: Document, load: Any, out: list, seen: set[Path], stack: list[Path],
             problems: list[Problem], partial: list[PartlyRead]) -> None:
    here = Path(doc.file).resolve()
    folder = here.parent
    seen.add(here)
    stack.append(here)
    for k, name in enumerate(proc.include):
        shown = Path(os.path.normpath(Path(doc.file).parent / name))  # as the user wrote it, for messages
        path = shown.resolve()  # follows symlinks; reads no file
        if not path.is_relative_to(folder):
            # refused before anything is opened, and without echoing where it leads: a procedure from a
            # colleague must not be able to read /proc/self/environ or ~/.ssh into an error message
            problems.append(doc.problem(("include", k), f"include {name}: outside this procedure's folder",
                                        "an included file must be in the including file's folder or below it "
                                        "(no '..', no absolute path elsewhere, no symlink out); copy it there"))
            continue
        if path in stack:
            chain = " -> ".join(p.name for p in stack[stack.index(path):] + [path])
            problems.append(doc.problem(("include", k), f"include cycle: {chain}", "remove one of the includes"))
            continue
        if path in seen:
            continue  # already part of the composite
        if not shown.is_file():
            problems.append(doc.problem(("include", k), f"included file {name} not found",
                                        f"paths are relative to {Path(doc.file).parent or '.'}"))
            continue
        try:
            inner, inner_doc = load(shown)
        except PartlyRead as exc:
            problems.extend(exc.problems)
            partial.append(exc)
            inner, inner_doc = exc.procedure, exc.document
        except InvalidInput as exc:
            problems.extend(exc.problems)
            continue
        _collect(inner, inner_doc, load, out, seen, stack, problems, partial)
    stack.pop()
    out.append((proc, doc))
