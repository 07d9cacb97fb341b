"""How the BMC shell writes values and refuses commands (docs/console.md, "Replies")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# error codes of the status line (docs/console.md keeps the same table)
E_UNKNOWN, E_USAGE, E_NO_SUCH, E_CHECKSUM, E_STATE, E_NO_REPLY, E_PMBUS, E_INTERNAL = 10, 11, 12, 13, 20, 21, 30, 50


class ConsoleError(Exception):
    """A command the BMC refuses: becomes `ERR <code> <text>`."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


@dataclass
class Answer:
    lines: list[str] = field(default_factory=list)
    code: int = 0                # 0: OK
    text: str = ""
    wait_s: float = 0.0          # clock time the command takes before its answer


def fmt(value: Any) -> str:
    """One value as the console prints it."""
    kind = type(value)  # the plain types first, exactly: a night formats millions of values
    if kind is float:
        return repr(value)  # shortest exact form: the driver reads back the very same float
    if kind is int:
        return str(value)
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # shortest exact form: the driver reads back the very same float
    if isinstance(value, (list, tuple)):
        return ",".join("-" if v is None else fmt(v) for v in value)
    text = str(value)
    if text and all(c.isprintable() and c not in ' "=\\,' for c in text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def record(**kv: Any) -> str:
    """One body line: `key=value key=value ...`."""
    return " ".join(f"{k}={fmt(v)}" for k, v in kv.items())
