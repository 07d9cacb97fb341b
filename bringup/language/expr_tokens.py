"""The expression language's words: tokens (numbers with their units, names, operators, strings),
its one error type, and the bounds that keep any expression far from Python's stack limit.
`expr.py` parses the tokens into a tree.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bringup.core.units import UNITS, Quantity

_UNIT_SYMBOLS = sorted((s for s in UNITS if s), key=len, reverse=True)


class ExprError(ValueError):
    """A bad expression; `offset` is the 0-based column within the expression text."""

    def __init__(self, message: str, offset: int = 0, hint: str = "") -> None:
        super().__init__(message)
        self.offset, self.hint = offset, hint


class TooComplex(ExprError):
    """Past the bounds that keep the (recursive) parser, checker and closures far from Python's stack
    limit, whatever a file holds. The shipped expressions are under 80 characters, 6 levels deep."""


MAX_LENGTH = 1000
MAX_NESTING = 32  # parentheses (calls included), signs and `not` inside one another
MAX_DEPTH = 64  # levels of the tree: a chain a + b + c + ... is one level per operator
_SPLIT = "split it: compute parts with 'compute:' steps and name them with 'as:'"


@dataclass(frozen=True)
class Tok:
    kind: str  # num name op str end
    text: str
    pos: int
    value: Any = None


_TOKEN = re.compile(r"\s*(?:(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)|(?P<name>[A-Za-z_][A-Za-z_0-9]*)"
                    r"|(?P<op><=|>=|==|!=|[<>()+\-*/,.=])|(?P<str>'[^']*'|\"[^\"]*\"))")


def tokenize(text: str) -> list[Tok]:
    toks: list[Tok] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m:
            ws = len(text[pos:]) - len(text[pos:].lstrip())
            raise ExprError(f"unexpected character {text[pos + ws]!r}", pos + ws)
        start = m.start(m.lastgroup)
        if m.lastgroup == "num":
            value = float(m.group("num"))
            end = m.end()
            # a unit may follow a number directly or after spaces: "11.5 V", "300mA", "1.5 L/min"
            rest = text[end:]
            stripped = rest.lstrip()
            for sym in _UNIT_SYMBOLS:
                if stripped.startswith(sym):
                    after = stripped[len(sym):len(sym) + 1]
                    if not (after.isalnum() or after == "_"):
                        u = UNITS[sym]
                        value = Quantity(value, u)
                        end = end + (len(rest) - len(stripped)) + len(sym)
                        break
            toks.append(Tok("num", text[start:end], start, value))
            pos = end
            continue
        kind = m.lastgroup or "op"
        toks.append(Tok(kind, m.group(kind), start, m.group(kind)[1:-1] if kind == "str" else None))
        pos = m.end()
    toks.append(Tok("end", "", len(text)))
    return toks
