"""A simulated Keysight 34461A 6½-digit multimeter, answering its documented SCPI command set.

Command set (Keysight Truevolt Series 34460A/34461A/34465A/34470A Operating and Service Guide,
chapter "SCPI Programming Reference"): `MEASure:<function>? [range|AUTO|MIN|MAX|DEF[,
resolution]]` for VOLTage[:DC], VOLTage:AC, CURRent[:DC], CURRent:AC, RESistance and FRESistance;
the same through `CONFigure:<function>` + `READ?` or `INITiate` + `FETCh?`; `CONFigure?`;
`[SENSe:]FUNCtion`; per function `[SENSe:]<function>:RANGe`, `:RANGe:AUTO`, and for the DC
functions `:RESolution`, `:NPLCycles`, `:ZERO:AUTO`; `[SENSe:]CURRent:TERMinals 3|10`. The
TRIGger, SAMPle, DISPlay and SYSTem subsystems, `ABORt` and `*OPT?` are in sim_dmm_subsystems.

A reading is what the signal source returns (`sources`: function -> callable, so the lab can wire
the meter to a rail or to the supply's output) plus noise that shrinks with integration time.
As on the real meter, a range reads up to 120 % of its value; beyond, the reading is the
overload value +9.9E+37. Readings are taken at once: a real NPLC 10 reading takes 200 ms, and
the simulated lab's clock is not the meter's to advance.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from typing import Any, Callable

from bringup.sim_devices.instruments.scpi_instrument import ScpiInstrument, need
from bringup.sim_devices.instruments.scpi_parser import Arg, CommandTree, ScpiError, fmt
from bringup.sim_devices.instruments.sim_dmm_subsystems import MEMORY, TriggerSystem, subsystem_commands

OVERLOAD = 9.9e37
NPLC_CHOICES = (0.02, 0.2, 1.0, 10.0, 100.0)
# resolution as a fraction of range at each integration time (34461A data sheet, "Resolution":
# 0.02 PLC gives 100 ppm of range ... 100 PLC 0.3 ppm); RESolution picks the NPLC from this
RESOLUTION = dict(zip(NPLC_CHOICES, (100e-6, 10e-6, 3e-6, 1e-6, 0.3e-6)))


@dataclass
class Function:
    """One measurement function: its ranges and its settings."""

    name: str  # as CONF? and FUNC? say it
    unit: str  # SCPI unit suffix
    ranges: tuple[float, ...]
    default_range: float
    dc: bool = True  # AC functions have a bandwidth instead of NPLC, resolution and autozero
    range: float = 0.0
    auto: bool = True
    nplc: float = 10.0
    zero_auto: bool = True

    def reset(self) -> None:
        self.range, self.auto, self.nplc, self.zero_auto = self.default_range, True, 10.0, True

    @property
    def resolution(self) -> float:
        return RESOLUTION[self.nplc] * self.range

    def fit(self, value: float) -> float:
        """The smallest range that holds |value|; -222 if none does."""
        ranges = self.ranges
        for r in ranges:
            if abs(value) <= r * (1 + 1e-9):
                return r
        raise ScpiError(-222, f"{value:g} {self.unit} is beyond the largest range ({ranges[-1]:g} {self.unit})")

    def nplc_for(self, resolution: float) -> float:
        """The fastest integration time that resolves `resolution` on the present range (-222 if none)."""
        for n in NPLC_CHOICES:
            if RESOLUTION[n] * self.range <= resolution * (1 + 1e-6):
                return n
        raise ScpiError(-222, f"resolution {resolution:g} {self.unit} is finer than the "
                              f"{self.range:g} {self.unit} range gives ({RESOLUTION[100.0] * self.range:g})")


def _functions() -> dict[str, Function]:
    amps = (1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0, 10.0)
    ohms = (1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8)
    return {
        "VOLT": Function("VOLT", "V", (0.1, 1.0, 10.0, 100.0, 1000.0), 10.0),
        "VOLT:AC": Function("VOLT:AC", "V", (0.1, 1.0, 10.0, 100.0, 750.0), 10.0, dc=False),
        "CURR": Function("CURR", "A", amps, 1.0),
        "CURR:AC": Function("CURR:AC", "A", amps, 1.0, dc=False),
        "RES": Function("RES", "OHM", ohms, 1e3),
        "FRES": Function("FRES", "OHM", ohms, 1e3),
    }


def function_name(text: str) -> str:
    """`"VOLTage:DC"`, `"volt"`, `"CURR:AC"` ... as the function's key (FUNC? says it so)."""
    words = {"VOLTAGE": "VOLT", "CURRENT": "CURR", "RESISTANCE": "RES", "FRESISTANCE": "FRES"}
    parts = [words.get(p, p) for p in text.strip().upper().split(":")]
    if parts[-1] == "DC":
        parts.pop()
    return ":".join(parts)


class SimK34461A(ScpiInstrument):
    """DC and AC volts and amps and resistance from callables, with the meter's range, integration,
    trigger and sample settings."""

    model = "34461A"
    firmware = "A.03.01-02.40-03.01-00.52-04-01"

    def __init__(self, clock: Any, *, sources: dict[str, Callable[[], float]] | None = None,
                 serial: str = "MY57200000", noise: bool = True, seed: int = 0, line_frequency: int = 50,
                 options: tuple[str, ...] = ()) -> None:
        self.sources: dict[str, Callable[[], float]] = {"VOLT": lambda: 0.0, "CURR": lambda: 0.0,
                                                        "RES": lambda: math.inf, **(sources or {})}
        self.sources.setdefault("FRES", self.sources["RES"])
        self.sources.setdefault("VOLT:AC", lambda: 0.0)
        self.sources.setdefault("CURR:AC", lambda: 0.0)
        self.noise = noise
        self.line_frequency = line_frequency  # the mains the meter is plugged into: 50 or 60 Hz
        self.options = options  # *OPT?: none fitted by default (the 34461A's SEC is an option)
        self._rng = random.Random(seed)
        self.lock = threading.RLock()
        self.functions = _functions()
        self.text = ""
        self.trig = TriggerSystem()
        super().__init__(clock, serial)

    def reset(self) -> None:
        """*RST, as the guide's "Factory Reset State" table: DC volts, autorange, 10 PLC, autozero
        on, one sample per trigger, one immediate trigger with automatic delay, display on."""
        for f in self.functions.values():
            f.reset()
        self.function = "VOLT"
        self.terminals = 3
        self.trig.reset()
        self.readings: list[float] = []
        self.display_on = True
        self.text = ""

    def handle(self, line: str) -> str | None:
        with self.lock:
            return super().handle(line)

    # -- taking readings ------------------------------------------------------------------------------
    def read_once(self, name: str) -> float:
        f = self.functions[name]
        value = float(self.sources[name]())
        rng = self._autorange(f, value) if f.auto else f.range
        if not math.isfinite(value) or abs(value) > 1.2 * rng:
            return OVERLOAD
        if self.noise:
            # 34461A, 1 year, DC: about 2 ppm of range at NPLC 10; white noise falls as sqrt(NPLC)
            value += self._rng.gauss(0.0, 2e-6 * rng * math.sqrt(10.0 / f.nplc))
        return value

    def _autorange(self, f: Function, value: float) -> float:
        ranges = self._ranges(f)
        return next((r for r in ranges if abs(value) <= 1.2 * r), ranges[-1])

    def take(self, triggers: int = 1) -> None:
        """The readings of `triggers` triggers, into reading memory (the newest MEMORY kept, as the
        real meter overwrites the oldest when it is full)."""
        n = min(self.trig.sample_count * triggers, MEMORY)
        self.readings.extend(self.read_once(self.function) for _ in range(n))
        del self.readings[:-MEMORY]

    def trigger(self) -> None:
        if self.trig.waiting and self.trig.source == "BUS":
            self.take()
            self.trig.pending -= 1
            self.trig.waiting = self.trig.pending > 0
        # a *TRG while not waiting for one is ignored, as on the real meter

    def fetch(self) -> str:
        if not self.readings:
            raise ScpiError(-230, "no reading: send INIT or READ? first")
        return ",".join(fmt(r) for r in self.readings)

    # -- the command set ------------------------------------------------------------------------------
    def _configure(self, name: str, a: tuple[Arg, ...]) -> None:
        need(a, 0, 2)
        f = self.functions[name]
        ranges = self._ranges(f)
        if a:
            if a[0].kind == "char" and a[0].value == "AUTO":
                f.auto = True
            else:
                f.range = self._select_range(f, a[0].number(f.unit, special={
                    "MIN": ranges[0], "MAX": ranges[-1], "DEF": f.default_range}))
                f.auto = False
        else:
            f.auto = True
        if len(a) > 1 and f.dc:
            self._set_resolution(f, a[1])
        self.function = name
        self.trig.configure()  # CONF and MEAS preset the trigger and sample settings

    def _set_resolution(self, f: Function, arg: Arg) -> None:
        special = {"MIN": RESOLUTION[100.0] * f.range, "MAX": RESOLUTION[0.02] * f.range,
                   "DEF": RESOLUTION[10.0] * f.range}
        f.nplc = f.nplc_for(arg.number(f.unit, special=special))

    def _ranges(self, f: Function) -> tuple[float, ...]:
        """The ranges usable now: the 10 A range only on the 10 A terminals, and only it there."""
        if f.name.startswith("CURR"):
            return (10.0,) if self.terminals == 10 else f.ranges[:-1]
        return f.ranges

    def _select_range(self, f: Function, value: float) -> float:
        r = f.fit(value)
        if r not in self._ranges(f):
            raise ScpiError(-221, f"the {r:g} A range needs the {'10' if r > 3 else '3'} A terminals (CURR:TERM)")
        return r

    def commands(self, t: CommandTree) -> None:
        for name, pattern in (("VOLT", "VOLTage[:DC]"), ("VOLT:AC", "VOLTage:AC"), ("CURR", "CURRent[:DC]"),
                              ("CURR:AC", "CURRent:AC"), ("RES", "RESistance"), ("FRES", "FRESistance")):
            self._function_commands(t, name, pattern)

        def conf_q(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
            need(a, 0)
            f = self.functions[self.function]
            res = f.resolution if f.dc else f.range * 1e-6
            return f'"{f.name} {fmt(f.range)},{fmt(res)}"'
        t.add("CONFigure", query=conf_q)

        def function(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            name = function_name(need(a, 1)[0].string())
            if name not in self.functions:
                raise ScpiError(-224, f"function {a[0].text} is not simulated")
            self.function = name
        t.add("[SENSe]:FUNCtion[:ON]", write=function,
              query=lambda a, s: (need(a, 0), f'"{self.functions[self.function].name}"')[1])

        def terminals(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            n = need(a, 1)[0].number(special={"MIN": 3, "MAX": 10, "DEF": 3})
            if n not in (3, 10):
                raise ScpiError(-224, f"terminals are 3 or 10, not {a[0].text}")
            self.terminals = int(n)
            for f in (self.functions["CURR"], self.functions["CURR:AC"]):
                f.range = 10.0 if n == 10 else min(f.range, 3.0) if f.range else f.default_range
        t.add("[SENSe]:CURRent[:DC]:TERMinals", write=terminals,
              query=lambda a, s: (need(a, 0), f"{self.terminals:+d}")[1])
        subsystem_commands(self, t)

    def _function_commands(self, t: CommandTree, name: str, pattern: str) -> None:
        f = self.functions[name]

        def limits(a: tuple[Arg, ...], table: dict[str, float], now: float) -> str:
            """A query's reply: the setting now, or with MIN|MAX|DEF what that word would set."""
            need(a, 0, 1)
            return fmt(a[0].number(f.unit, special=table) if a else now)

        def measure(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
            self._configure(name, a)
            self.readings = []
            self.take()
            return self.fetch()

        def configure(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            self._configure(name, a)

        def range_table() -> dict[str, float]:
            ranges = self._ranges(f)
            return {"MIN": ranges[0], "MAX": ranges[-1], "DEF": f.default_range}

        def range_(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            value = need(a, 1)[0].number(f.unit, special=range_table())
            f.range, f.auto = self._select_range(f, value), False

        def auto(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            arg = need(a, 1)[0]
            if arg.kind == "char" and arg.value == "ONCE":
                f.range, f.auto = self._autorange(f, float(self.sources[name]())), False
            else:
                f.auto = arg.boolean()

        t.add(f"MEASure:{pattern}", query=measure)
        t.add(f"CONFigure:{pattern}", write=configure)
        t.add(f"[SENSe]:{pattern}:RANGe[:UPPer]", write=range_,
              query=lambda a, s: limits(a, range_table(), f.range))
        t.add(f"[SENSe]:{pattern}:RANGe:AUTO", write=auto,
              query=lambda a, s: (need(a, 0), "1" if f.auto else "0")[1])
        if not f.dc:
            return

        def nplc(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            v = need(a, 1)[0].number(special={"MIN": NPLC_CHOICES[0], "MAX": NPLC_CHOICES[-1], "DEF": 10.0})
            # the meter rounds up to the next integration time it has
            choice = next((c for c in NPLC_CHOICES if v <= c * (1 + 1e-9)), None)
            if choice is None or v <= 0:
                raise ScpiError(-222, f"NPLC {a[0].text} outside 0.02..100")
            f.nplc = choice

        def resolution_q(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
            return limits(a, {"MIN": RESOLUTION[100.0] * f.range, "MAX": RESOLUTION[0.02] * f.range,
                              "DEF": RESOLUTION[10.0] * f.range}, f.resolution)

        def zero(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            arg = need(a, 1)[0]
            # ONCE takes one zero reading and leaves autozero off (the guide's ZERO:AUTO ONCE)
            f.zero_auto = False if arg.kind == "char" and arg.value == "ONCE" else arg.boolean()

        t.add(f"[SENSe]:{pattern}:NPLCycles", write=nplc, query=lambda a, s: limits(
            a, {"MIN": NPLC_CHOICES[0], "MAX": NPLC_CHOICES[-1], "DEF": 10.0}, f.nplc))
        t.add(f"[SENSe]:{pattern}:RESolution", write=lambda a, s: self._set_resolution(f, need(a, 1)[0]),
              query=resolution_q)
        if name != "FRES":  # 4-wire ohms cancels the offset itself: the guide lists no FRES:ZERO:AUTO
            t.add(f"[SENSe]:{pattern}:ZERO:AUTO", write=zero,
                  query=lambda a, s: (need(a, 0), "1" if f.zero_auto else "0")[1])
