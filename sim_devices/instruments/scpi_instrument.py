"""What every simulated SCPI instrument shares: IEEE 488.2 common commands, the error queue, the
status registers.

A model subclasses `ScpiInstrument`, declares its own command set in `commands(tree)` and its
reset state in `reset()`, and reports its live conditions through `questionable_condition()`
and `operation_condition()`. Everything here follows IEEE 488.2 and SCPI-99 as Keysight
instruments implement them: `*IDN?` is `Manufacturer,Model,Serial,Firmware`; `SYST:ERR?`
returns the oldest error first and `+0,"No error"` when the queue is empty; the queue holds 20
errors and its last slot becomes -350 when more arrive; the standard event register records
the class of every error (CME, EXE, DDE, QYE).
"""

from __future__ import annotations

import functools
from collections import deque
from typing import Any, Callable, NamedTuple

from bringup.sim_devices.instruments.scpi_parser import Arg, CommandTree, Parsed, ScpiError, parse_message

# Standard event status register bits (IEEE 488.2 11.5.1)
ESR_OPC, ESR_QYE, ESR_DDE, ESR_EXE, ESR_CME, ESR_PON = 1, 4, 8, 16, 32, 128
# Status byte bits
STB_EAV, STB_QUES, STB_MAV, STB_ESB, STB_MSS, STB_OPER = 4, 8, 16, 32, 64, 128


def need(args: tuple[Arg, ...], low: int, high: int | None = None) -> tuple[Arg, ...]:
    """Check the number of parameters: -109 for too few, -108 for too many."""
    high = low if high is None else high
    if len(args) < low:
        raise ScpiError(-109)
    if len(args) > high:
        raise ScpiError(-108, args[high].text)
    return args


class Message(NamedTuple):
    """A program message resolved once: its commands, whether it only asks, and a direct call if it is one query."""

    parsed: list[Parsed]
    only_queries: bool
    fast: Callable[[], str] | None


class StatusRegister:
    """A SCPI status group: a live condition, an event register that latches rising bits, an enable mask."""

    def __init__(self, condition: Callable[[], int]) -> None:
        self.condition = condition
        self.event = 0
        self.enable = 0
        self._last = 0

    def update(self) -> int:
        now = self.condition()
        self.event |= now & ~self._last
        self._last = now
        return now

    def read_event(self) -> int:
        """Reading the event register clears it (SCPI-99 9.1)."""
        self.update()
        value, self.event = self.event, 0
        return value

    def summary(self) -> bool:
        self.update()
        return bool(self.event & self.enable)

    def clear(self) -> None:
        self.update()
        self.event = 0


class ScpiInstrument:
    """Base of the simulated SCPI instruments. `handle(line)` takes one program message, returns the reply.

    A subclass sets its configuration before calling `super().__init__`, which declares the
    command set (`commands`) and puts the instrument in its reset state (`reset`).
    """

    manufacturer = "Keysight Technologies"
    model = "SIM"
    firmware = "0.0"
    reply_termination = "\n"
    error_queue_size = 20

    def __init__(self, clock: Any, serial: str = "MY00000000") -> None:
        self.clock = clock
        self.serial = serial
        self.errors: deque[ScpiError] = deque()
        self.esr = ESR_PON
        self.ese = 0
        self.sre = 0
        self.questionable = StatusRegister(self.questionable_condition)
        self.operation = StatusRegister(self.operation_condition)
        self.tree = CommandTree()
        self._common(self.tree)
        self.commands(self.tree)
        self._parsed: dict[str, Message] = {}
        self.reset()

    # -- for models to fill in ----------------------------------------------------------------------
    def commands(self, tree: CommandTree) -> None:
        """Declare the model's command set."""

    def reset(self) -> None:
        """*RST: the model's reset state."""

    def questionable_condition(self) -> int:
        return 0

    def operation_condition(self) -> int:
        return 0

    def trigger(self) -> None:
        """*TRG."""
        raise ScpiError(-200, "this instrument has no trigger system")

    # -- the message loop -----------------------------------------------------------------------------
    def handle(self, line: str) -> str | None:
        """Execute one program message; the replies of its queries joined by ';', or None if it had none."""
        return self.execute(self.parse(line))

    def execute(self, message: "Message") -> str | None:
        if message.fast is not None:  # the hot path: a message that is one query, as a read-back is
            try:
                return message.fast()
            except ScpiError as exc:
                self.error(exc)
                return None
        replies: list[str] = []
        for p in message.parsed:
            if p.error is not None:
                self.error(p.error)
                break
            try:
                if p.query:
                    replies.append(p.command.query(p.args, p.suffixes))  # type: ignore[union-attr,misc]
                else:
                    p.command.write(p.args, p.suffixes)  # type: ignore[union-attr,misc]
            except ScpiError as exc:
                self.error(exc)
                if -200 < exc.code <= -100:
                    break
        return ";".join(replies) if replies else None

    def parse(self, line: str) -> "Message":
        """The message resolved, cached per line: a bench program sends the same few lines again and again."""
        hit = self._parsed.get(line)
        if hit is None:
            parsed = parse_message(self.tree, line)
            only_queries = all(p.query and p.error is None for p in parsed)
            fast = None
            if only_queries and len(parsed) == 1:
                p = parsed[0]
                fast = functools.partial(p.command.query, p.args, p.suffixes)  # type: ignore[union-attr,arg-type]
            hit = Message(parsed, only_queries, fast)
            if len(self._parsed) > 1024:  # messages with ever-new values must not grow it for ever
                self._parsed.clear()
            self._parsed[line] = hit
        return hit

    def error(self, err: ScpiError | int, detail: str = "") -> None:
        """Queue an error and flag its class in the standard event register."""
        if isinstance(err, int):
            err = ScpiError(err, detail)
        code = err.code
        if -200 < code <= -100:
            self.esr |= ESR_CME
        elif -300 < code <= -200:
            self.esr |= ESR_EXE
        elif -500 < code <= -400:
            self.esr |= ESR_QYE
        else:
            self.esr |= ESR_DDE
        if len(self.errors) >= self.error_queue_size:
            self.errors[-1] = ScpiError(-350)
        else:
            self.errors.append(err)

    def status_byte(self) -> int:
        stb = 0
        if self.errors:
            stb |= STB_EAV
        if self.questionable.summary():
            stb |= STB_QUES
        if self.esr & self.ese:
            stb |= STB_ESB
        if self.operation.summary():
            stb |= STB_OPER
        if stb & self.sre:
            stb |= STB_MSS
        return stb

    @property
    def idn(self) -> str:
        return f"{self.manufacturer},{self.model},{self.serial},{self.firmware}"

    # -- IEEE 488.2 common commands, SYSTem:ERRor and STATus ------------------------------------------
    def _common(self, t: CommandTree) -> None:
        def none(args: tuple[Arg, ...], _s: tuple[int, ...]) -> None:
            need(args, 0)

        def mask(args: tuple[Arg, ...]) -> int:
            v = need(args, 1)[0].number()
            if not (0 <= v <= 255) or v != int(v):
                raise ScpiError(-222, f"{args[0].text} is not a register value 0..255")
            return int(v)

        def rst(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            need(a, 0)
            self.reset()

        def cls(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            need(a, 0)
            self.errors.clear()
            self.esr = 0
            self.questionable.clear()
            self.operation.clear()

        def esr_q(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
            need(a, 0)
            value, self.esr = self.esr, 0
            return str(value)

        def ese(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            self.ese = mask(a)

        def sre(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            self.sre = mask(a) & ~STB_MSS  # bit 6 cannot be enabled (IEEE 488.2 11.3.2.3)

        def opc(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            need(a, 0)
            self.esr |= ESR_OPC  # nothing is ever pending: every command completes before the next is read

        def trg(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            need(a, 0)
            self.trigger()

        def err_next(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
            need(a, 0)
            return self.errors.popleft().entry() if self.errors else ScpiError(0).entry()

        def err_count(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
            need(a, 0)
            return f"{len(self.errors):+d}"

        def const(text: str) -> Callable[[tuple[Arg, ...], tuple[int, ...]], str]:
            def q(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
                need(a, 0)
                return text
            return q

        t.add("*IDN", query=lambda a, s: (need(a, 0), self.idn)[1])
        t.add("*RST", write=rst)
        t.add("*CLS", write=cls)
        t.add("*ESR", query=esr_q)
        t.add("*ESE", write=ese, query=lambda a, s: (need(a, 0), str(self.ese))[1])
        t.add("*SRE", write=sre, query=lambda a, s: (need(a, 0), str(self.sre))[1])
        t.add("*STB", query=lambda a, s: (need(a, 0), str(self.status_byte()))[1])
        t.add("*OPC", write=opc, query=const("1"))
        t.add("*WAI", write=none)
        t.add("*TST", query=const("+0"))
        t.add("*TRG", write=trg)
        t.add("SYSTem:ERRor[:NEXT]", query=err_next)
        t.add("SYSTem:ERRor:COUNt", query=err_count)
        t.add("SYSTem:VERSion", query=const("1999.0"))
        for name, reg in (("QUEStionable", self.questionable), ("OPERation", self.operation)):
            self._register(t, f"STATus:{name}", reg)

        def preset(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            need(a, 0)
            self.questionable.enable = self.operation.enable = 0

        t.add("STATus:PRESet", write=preset)

    @staticmethod
    def _register(t: CommandTree, prefix: str, reg: StatusRegister) -> None:
        """STATus:<group>[:EVENt]?, :CONDition?, :ENABle <mask> for one register group."""
        def enable(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            v = need(a, 1)[0].number()
            if not (0 <= v <= 65535) or v != int(v):
                raise ScpiError(-222, f"{a[0].text} is not a register value 0..65535")
            reg.enable = int(v) & 0x7FFF  # bit 15 is never used (SCPI-99 9.2)

        t.add(f"{prefix}[:EVENt]", query=lambda a, s: (need(a, 0), str(reg.read_event()))[1])
        t.add(f"{prefix}:CONDition", query=lambda a, s: (need(a, 0), str(reg.update()))[1])
        t.add(f"{prefix}:ENABle", write=enable, query=lambda a, s: (need(a, 0), str(reg.enable))[1])
