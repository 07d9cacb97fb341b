"""YAML loaded safely, with the file:line:col of every node, and problems reported against them.

Procedures and station files are written by people at 3 a.m.; every complaint about one must
say where (file:line:col), what is wrong and what would fix it, and all of them at once.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from bringup.language import yaml_core

Loc = tuple[Any, ...]  # a path into the document: ("phases", 0, "steps", 2, "with", "voltage")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file."""

    file: str
    line: int
    col: int
    message: str
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.file}:{self.line}:{self.col}: {self.message}"
        return f"{text}\n    hint: {self.hint}" if self.hint else text


class InvalidInput(Exception):
    """Raised with every problem found; the CLI prints them and exits 2."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(set(problems), key=lambda p: (p.file, p.line, p.col, p.message))
        super().__init__("\n".join(map(str, self.problems)))


@dataclass
class Document:
    """Plain data from a YAML file plus where each piece of it was written."""

    file: str
    data: Any
    marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    key_marks: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    text: str = ""

    def where(self, loc: Loc, key: bool = False) -> tuple[int, int]:
        """line, col (1-based) of the node at `loc`, or of its nearest ancestor that exists."""
        loc = tuple(loc)
        table = self.key_marks if key else self.marks
        while loc:
            if loc in table:
                return table[loc]
            if loc in self.marks:
                return self.marks[loc]
            loc = loc[:-1]
        return self.marks.get((), (1, 1))

    def problem(self, loc: Loc, message: str, hint: str = "", key: bool = False) -> Problem:
        line, col = self.where(loc, key)
        return Problem(self.file, line, col, message, hint)


MAX_BYTES = 4 * 1024 * 1024  # one file; every shipped procedure and station together is under 30 KB

# Unicode format characters that draw nothing or reorder what is drawn (bidirectional overrides and
# isolates, zero-width characters): with them, text displays differently from what runs ("Trojan Source").
_INVISIBLE = re.compile("[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff"
                        "\ufff9-\ufffb\U000e0000-\U000e007f]")
_SHOWN = 10  # invisible characters reported one by one; a file full of them needs no more to be understood


def _read(path: str | Path, what: str) -> str:
    name = str(path)
    try:
        with open(path, "rb") as f:  # a bounded read: /dev/zero or a 50 MB file costs MAX_BYTES, no more
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InvalidInput([Problem(name, 1, 1, f"{what} not found", "check the path")]) from None
    except IsADirectoryError:
        raise InvalidInput([Problem(name, 1, 1, f"{what} is a folder, not a YAML file",
                                    "give one .yaml file inside it")]) from None
    except OSError as exc:
        raise InvalidInput([Problem(name, 1, 1, f"cannot read {what}: {exc.strerror}")]) from None
    if b"\x00" in raw:
        raise InvalidInput([Problem(name, 1, 1, f"{what} is binary, not YAML text", "give the .yaml file")])
    if len(raw) > MAX_BYTES:
        raise InvalidInput([_too_large(name, raw[:MAX_BYTES], what)])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidInput([Problem(name, line, 1, f"{what} is not UTF-8 text (byte 0x{raw[exc.start]:02x})",
                                    "save it as UTF-8")]) from None


def _too_large(name: str, head: bytes, what: str) -> Problem:
    line = head.count(b"\n") + 1
    col = len(head) - (head.rfind(b"\n") + 1) + 1
    return Problem(name, line, col, f"{what} is larger than {MAX_BYTES // (1024 * 1024)} MiB; reading stopped here",
                   "a procedure is a few kilobytes; is this the right file? Repeat steps with for_each or sweep, "
                   "and split a large procedure into files joined with include:")


def _invisible(name: str, text: str) -> list[Problem]:
    problems = []
    for k, m in enumerate(_INVISIBLE.finditer(text)):
        if m.start() == 0 and m.group() == "\ufeff":
            continue  # a byte-order mark at the very start is how some editors save UTF-8
        if k == _SHOWN:
            problems.append(Problem(name, *_line_col(text, m.start()), "more invisible control characters follow"))
            break
        ch = m.group()
        problems.append(Problem(name, *_line_col(text, m.start()),
                                f"invisible Unicode control character U+{ord(ch):04X} "
                                f"({unicodedata.name(ch, 'format character')}): the text around it displays "
                                "differently from what runs",
                                "delete it: retype the name or value around it by hand"))
    return problems


# control characters a double-quoted scalar can spell as an escape ("\x1b", "\u0007"): the raw
# text has none (the YAML reader refuses them), but the value would have, and they move a
# terminal's cursor or forge a line in the log just as bidi overrides reorder what is shown
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _escaped(node: yaml.ScalarNode, doc: Document, problems: list[Problem]) -> bool:
    """An invisible or control character the file spells as an escape, refused like a raw one."""
    m = _INVISIBLE.search(node.value) or _CONTROL.search(node.value)
    if m is None:
        return False
    ch = m.group()
    kind = "control character" if _CONTROL.match(ch) else "invisible Unicode control character"
    named = f" ({unicodedata.name(ch)})" if unicodedata.name(ch, "") else ""
    problems.append(Problem(doc.file, node.start_mark.line + 1, node.start_mark.column + 1,
                            f"{kind} U+{ord(ch):04X}{named} written as an escape: "
                            "the text displays differently from what runs",
                            "delete the escape: write the value as plain text"))
    return True


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def load_yaml(path: str | Path, text: str | None = None, what: str = "file") -> Document:
    """Parse a YAML file safely and within bounds (see bringup/language/yaml_core.py).

    Raises InvalidInput (never a traceback, a hang or a MemoryError) for anything unreadable."""
    name = str(path)
    if text is None:
        text = _read(path, what)
    elif len(text) > MAX_BYTES:
        raise InvalidInput([_too_large(name, text[:MAX_BYTES].encode(), what)])
    found = _invisible(name, text)
    if found:
        raise InvalidInput(found)
    doc = Document(name, None, text=text)
    try:
        node = yaml_core.compose(text)
    except yaml_core.Refused as exc:
        raise InvalidInput([Problem(name, exc.line, exc.col, exc.message, exc.hint)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what_wrong = exc.problem or "not valid YAML"
        hint = "check the indentation and that every key is followed by ':'"
        bad_line = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else ""
        if "\t" in bad_line or "tab" in what_wrong.lower():
            hint = "YAML does not allow tabs for indentation: use spaces"
        raise InvalidInput([Problem(name, line, col, f"invalid YAML: {what_wrong}", hint)]) from None
    except yaml.YAMLError as exc:  # pragma: no cover - unmarked errors are rare
        raise InvalidInput([Problem(name, 1, 1, f"invalid YAML: {exc}")]) from None
    if node is None:
        raise InvalidInput([Problem(name, 1, 1, f"{what} is empty", "see docs/procedures.md for a minimal example")])
    problems: list[Problem] = []
    doc.data = _construct(node, (), doc, problems)
    if problems:
        raise InvalidInput(problems)
    return doc


_scalar = yaml.SafeLoader.__new__(yaml.SafeLoader)  # reused for resolving scalars to Python values


def _construct(node: yaml.Node, loc: Loc, doc: Document, problems: list[Problem]) -> Any:
    """Plain data from a node graph that yaml_core bounded: its expansion is small and shallow."""
    doc.marks[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if node.tag not in (yaml_core.MAP, yaml_core.SEQ) and not isinstance(node, yaml.ScalarNode):
        problems.append(Problem(doc.file, *doc.marks[loc], f"unsupported YAML tag {node.tag}", "remove the tag"))
        return None
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                problems.append(Problem(doc.file, knode.start_mark.line + 1, knode.start_mark.column + 1,
                                        "a key must be a plain name, not a list or mapping"))
                continue
            key = yaml.SafeLoader.construct_scalar(_scalar, knode)
            if isinstance(key, str) and _escaped(knode, doc, problems):
                continue
            if knode.tag == "tag:yaml.org,2002:merge" or key == "<<":
                problems.append(Problem(doc.file, knode.start_mark.line + 1, knode.start_mark.column + 1,
                                        "YAML merge keys (<<) are not supported", "write the keys out"))
                continue
            if key in out:
                problems.append(Problem(doc.file, knode.start_mark.line + 1, knode.start_mark.column + 1,
                                        f"duplicate key '{key}'", "a key may appear once in a mapping; remove one"))
                continue
            doc.key_marks[loc + (key,)] = (knode.start_mark.line + 1, knode.start_mark.column + 1)
            out[key] = _construct(vnode, loc + (key,), doc, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_construct(v, loc + (i,), doc, problems) for i, v in enumerate(node.value)]
    if isinstance(node.value, str) and _escaped(node, doc, problems):
        return None
    try:
        if node.tag == yaml_core.STR:
            return node.value
        if not node.style and yaml_core.is_core(node.tag, node.value):  # plain: None (Python) or "" (libyaml)
            return yaml_core.core_value(node.tag, node.value)
        constructor = yaml.SafeLoader.yaml_constructors.get(node.tag)
        if constructor is None:
            problems.append(Problem(doc.file, node.start_mark.line + 1, node.start_mark.column + 1,
                                    f"unsupported YAML tag {node.tag}", "remove the tag"))
            return None
        value = constructor(_scalar, node)
        if node.tag == "tag:yaml.org,2002:timestamp":
            return node.value  # "2026-11-22" stays text; nothing in a procedure is a date
        return value
    except (yaml.YAMLError, ValueError) as exc:
        problems.append(Problem(doc.file, node.start_mark.line + 1, node.start_mark.column + 1, f"bad value: {exc}"))
        return None
