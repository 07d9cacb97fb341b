"""IEEE 488.2 / SCPI program messages, as a simulated instrument must understand them.

A command set is declared as patterns in the notation of the instruments' own manuals:
`[SOURce#]:VOLTage[:LEVel][:IMMediate][:AMPLitude]` — capitals are the short form, the whole
word the long form (either is accepted, in any case), `[...]` is an optional node and `#` a
numeric suffix (`OUTP2`, `ISUM3`; 1 when left out). A program message is one line of
`;`-separated commands; a command without a leading `:` continues from the path of the one
before it (`SOUR:VOLT 1;CURR 2` sets SOUR:CURR), common commands (`*IDN?`) leave the path alone.

Errors carry the standard SCPI codes (`-113,"Undefined header"`). A command error (-1xx)
discards the rest of the message, as IEEE 488.2 has the parser resynchronise at the next
terminator; execution errors (-2xx) stop only the command that caused them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

#: The standard messages of the codes the simulated instruments raise (SCPI-99, chapter 21).
ERRORS: dict[int, str] = {
    0: "No error",
    -100: "Command error", -101: "Invalid character", -102: "Syntax error", -103: "Invalid separator",
    -104: "Data type error", -108: "Parameter not allowed", -109: "Missing parameter",
    -112: "Program mnemonic too long", -113: "Undefined header", -114: "Header suffix out of range",
    -120: "Numeric data error", -131: "Invalid suffix", -138: "Suffix not allowed",
    -141: "Invalid character data", -151: "Invalid string data",
    -200: "Execution error", -213: "Init ignored", -221: "Settings conflict", -222: "Data out of range",
    -224: "Illegal parameter value", -230: "Data corrupt or stale",
    -350: "Queue overflow", -410: "Query INTERRUPTED", -420: "Query UNTERMINATED",
}


class ScpiError(Exception):
    """An error for the instrument's error queue: a standard code and, optionally, what exactly."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code, self.detail = code, detail

    @property
    def message(self) -> str:
        text = ERRORS.get(self.code, "Device-specific error")
        return f"{text}; {self.detail}" if self.detail else text

    def entry(self) -> str:
        """As `SYST:ERR?` returns it: `-222,"Data out of range; ..."`."""
        return f'{self.code:+d},"{self.message}"' if self.code == 0 else f'{self.code},"{self.message}"'


# -- program data ---------------------------------------------------------------------------------

_NUMERIC = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([A-Za-z%]*)$")
# SCPI suffix multipliers. "M" is milli; mega is "MA", except in MOHM and MHZ (SCPI-99 7.7.3).
_LONG_WORDS = {"MINIMUM": "MIN", "MAXIMUM": "MAX", "DEFAULT": "DEF", "INFINITY": "INF"}
_MULTIPLIER = {"": 1.0, "P": 1e-12, "N": 1e-9, "U": 1e-6, "M": 1e-3, "K": 1e3, "MA": 1e6, "G": 1e9}


@dataclass(frozen=True, slots=True)
class Arg:
    """One parameter of a command: numeric (with optional unit suffix), character data, string or channel list."""

    text: str
    kind: str  # "num" | "char" | "str" | "chan"
    value: object
    suffix: str = ""

    def number(self, unit: str | None = None, *, special: dict[str, float] | None = None) -> float:
        """The value in base units. `special` maps character data such as MIN/MAX/DEF to values."""
        if self.kind == "char" and special is not None:
            word = _LONG_WORDS.get(str(self.value), str(self.value))
            if word in special:
                return special[word]
            raise ScpiError(-224, f"{self.text!r} is not one of {', '.join(special)}")
        if self.kind != "num":
            raise ScpiError(-104, f"expected a number, not {self.text!r}")
        if not self.suffix:
            return float(self.value)  # type: ignore[arg-type]
        if unit is None:
            raise ScpiError(-138, self.text)
        suffix = self.suffix
        if not suffix.endswith(unit):
            raise ScpiError(-131, f"{self.text!r}: the unit here is {unit}")
        prefix = suffix[: len(suffix) - len(unit)]
        if prefix == "M" and unit in ("OHM", "HZ"):
            prefix = "MA"
        scale = _MULTIPLIER.get(prefix)
        if scale is None:
            raise ScpiError(-131, self.text)
        return float(self.value) * scale  # type: ignore[arg-type]

    def boolean(self) -> bool:
        """ON|OFF|1|0, as SCPI <Boolean> program data."""
        if self.kind == "num" and not self.suffix and float(self.value) in (0.0, 1.0):  # type: ignore[arg-type]
            return float(self.value) == 1.0  # type: ignore[arg-type]
        if self.kind == "char" and self.value in ("ON", "OFF"):
            return self.value == "ON"
        raise ScpiError(-224, f"expected ON, OFF, 1 or 0, not {self.text!r}")

    def choice(self, *words: str) -> str:
        """Character data matched against long forms written like `IMMediate` (short form in capitals)."""
        if self.kind == "char":
            for w in words:
                short = "".join(c for c in w if c.isupper() or c.isdigit())
                if self.value in (w.upper(), short):
                    return w.upper()
        raise ScpiError(-224, f"expected one of {', '.join(words)}, not {self.text!r}")

    def string(self) -> str:
        if self.kind != "str":
            raise ScpiError(-104, f"expected a quoted string, not {self.text!r}")
        return str(self.value)

    def channels(self) -> tuple[int, ...]:
        if self.kind != "chan":
            raise ScpiError(-104, f"expected a channel list such as (@1,2), not {self.text!r}")
        return self.value  # type: ignore[return-value]


def parse_arg(text: str) -> Arg:
    text = text.strip()
    if not text:
        raise ScpiError(-109)
    first = text[0]
    if first in "\"'":
        if len(text) < 2 or text[-1] != first:
            raise ScpiError(-151, text)
        return Arg(text, "str", text[1:-1].replace(first * 2, first))
    if first == "(":
        return Arg(text, "chan", _channel_list(text))
    m = _NUMERIC.match(text)
    if m:
        return Arg(text, "num", float(m.group(1)), m.group(2).upper())
    if first == "#":
        raise ScpiError(-104, "block data is not accepted here")
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", text):
        return Arg(text, "char", text.upper())
    raise ScpiError(-141 if first.isalpha() else -120, text)


def _channel_list(text: str) -> tuple[int, ...]:
    if not (text.startswith("(@") and text.endswith(")")):
        raise ScpiError(-102, f"channel list {text!r} must look like (@1,2) or (@1:3)")
    out: list[int] = []
    for part in text[2:-1].split(","):
        lo, sep, hi = part.strip().partition(":")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise ScpiError(-102, f"channel list {text!r}") from None
        out.extend(range(a, b + 1) if a <= b else range(a, b - 1, -1))
    return tuple(out)


def split_outside(text: str, sep: str) -> list[str]:
    """Split on `sep` where it is not inside quotes or a (@...) channel list."""
    if '"' not in text and "'" not in text and "(" not in text:
        return text.split(sep)
    parts, start, quote, depth = [], 0, "", 0
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth = max(depth - 1, 0)
        elif c == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if quote:
        raise ScpiError(-151, "unterminated string")
    parts.append(text[start:])
    return parts


# -- the command tree -----------------------------------------------------------------------------

Handler = Callable[[list[Arg], tuple[int, ...]], "str | None"]


@dataclass(frozen=True, slots=True)
class _Node:
    short: str
    long: str
    optional: bool
    suffix: bool


@dataclass(slots=True)
class Command:
    """One pattern of the command set, with what it does when written and when queried."""

    pattern: str
    nodes: tuple[_Node, ...]
    write: Handler | None = None
    query: Handler | None = None


_PATTERN_NODE = re.compile(r"(\[)?:?([A-Za-z*][A-Za-z0-9]*?)(#)?(\])?(?=:|\[|$)")
_TOKEN = re.compile(r"^([A-Z*][A-Z_]*?)(\d*)$")


def _compile(pattern: str) -> tuple[_Node, ...]:
    nodes = []
    pos = 0
    text = pattern.lstrip(":")
    while pos < len(text):
        m = _PATTERN_NODE.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(f"bad SCPI pattern {pattern!r} at {text[pos:]!r}")
        word = m.group(2)
        short = "".join(c for c in word if c.isupper() or c == "*") or word.upper()
        nodes.append(_Node(short, word.upper(), bool(m.group(1)), bool(m.group(3))))
        pos = m.end()
        if pos < len(text) and text[pos] == ":":
            pos += 1
    return tuple(nodes)


class CommandTree:
    """The command set of one instrument model."""

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self._cache: dict[tuple[str, ...], tuple[Command, tuple[int, ...]] | int] = {}

    def add(self, pattern: str, *, write: Handler | None = None, query: Handler | None = None) -> None:
        """Declare a command; `write` runs for `HEADER args`, `query` for `HEADER? args` and returns the reply."""
        self.commands.append(Command(pattern, _compile(pattern), write, query))
        self._cache.clear()

    def resolve(self, tokens: tuple[str, ...]) -> tuple[Command, tuple[int, ...]]:
        """The command these upper-case header mnemonics name, and its numeric suffixes (-113/-114 if none)."""
        hit = self._cache.get(tokens)
        if hit is None:
            hit = self._search(tokens)
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[tokens] = hit
        if isinstance(hit, int):
            raise ScpiError(hit, ":".join(tokens))
        return hit

    def _search(self, tokens: tuple[str, ...]) -> tuple[Command, tuple[int, ...]] | int:
        split = []
        for t in tokens:
            m = _TOKEN.match(t)
            if not m:
                return -113
            split.append((m.group(1), int(m.group(2)) if m.group(2) else None))
        suffix_only_mismatch = False
        for cmd in self.commands:
            got = _match(split, 0, cmd.nodes, 0, [])
            if got is not None:
                return cmd, tuple(got)
            if _match(split, 0, cmd.nodes, 0, [], ignore_suffix=True) is not None:
                suffix_only_mismatch = True
        return -114 if suffix_only_mismatch else -113


def _match(tokens: list[tuple[str, int | None]], i: int, nodes: tuple[_Node, ...], j: int, sfx: list[int],
           ignore_suffix: bool = False) -> list[int] | None:
    if j == len(nodes):
        return sfx if i == len(tokens) else None
    node = nodes[j]
    if i < len(tokens):
        word, num = tokens[i]
        if word == node.short or word == node.long:
            if num is None or node.suffix or ignore_suffix:
                got = _match(tokens, i + 1, nodes, j + 1, sfx + ([num or 1] if node.suffix else []), ignore_suffix)
                if got is not None:
                    return got
    if node.optional:
        return _match(tokens, i, nodes, j + 1, sfx + ([1] if node.suffix else []), ignore_suffix)
    return None


# -- program messages -----------------------------------------------------------------------------

_HEADER = re.compile(r"^(:?)(\*[A-Z]+|[A-Z][A-Z0-9_]*(?::[A-Z][A-Z0-9_]*)*)(\?)?$")


@dataclass(frozen=True, slots=True)
class Parsed:
    """One command of a message, resolved; or the error that stopped the message there."""

    command: Command | None
    query: bool
    args: tuple[Arg, ...]
    suffixes: tuple[int, ...]
    error: ScpiError | None = None


def parse_message(tree: CommandTree, line: str) -> list[Parsed]:
    """Resolve every command of one program message. A command error ends the list."""
    out: list[Parsed] = []
    path: tuple[str, ...] = ()
    try:
        units = split_outside(line, ";")
    except ScpiError as exc:
        return [Parsed(None, False, (), (), exc)]
    for unit in units:
        unit = unit.strip()
        if not unit:
            if len(units) > 1:
                return out + [Parsed(None, False, (), (), ScpiError(-102, "empty command between ';'"))]
            continue
        head, rest = _split_header(unit)
        m = _HEADER.match(head.upper())
        if not m:
            return out + [Parsed(None, False, (), (), ScpiError(-102, head))]
        rooted, header, query = m.group(1) == ":", m.group(2), m.group(3) == "?"
        try:
            if header.startswith("*"):
                tokens: tuple[str, ...] = (header,)
            else:
                own = tuple(header.split(":"))
                tokens = own if rooted else path + own
                path = tokens[:-1]
            cmd, sfx = tree.resolve(tokens)
            handler = cmd.query if query else cmd.write
            if handler is None:
                raise ScpiError(-113, f"{header}{'?' if query else ''} (the command exists only as "
                                      f"{'a setting' if query else 'a query'})")
            args = tuple(parse_arg(a) for a in split_outside(rest, ",")) if rest.strip() else ()
        except ScpiError as exc:
            return out + [Parsed(None, query, (), (), exc)]
        out.append(Parsed(cmd, query, args, sfx))
    return out


def _split_header(unit: str) -> tuple[str, str]:
    for i, c in enumerate(unit):
        if c in " \t":
            return unit[:i], unit[i + 1:]
    return unit, ""


_FORMATTED: dict[float, str] = {}


def fmt(x: float) -> str:
    """A number as Keysight instruments return it: `+1.20000000E+01`."""
    # formatting a float in E notation is the dearest step of answering a read-back, and a bench
    # reads the same few values (a setting plus one of a table of noise deviates) over and over
    text = _FORMATTED.get(x)
    if text is None:
        if len(_FORMATTED) > 16384:
            _FORMATTED.clear()
        text = _FORMATTED[x] = f"{x:+.8E}"
    return text
