"""A simulated Keysight 34461A 6½-digit multimeter, answering its documented SCPI command set.

Command set (Keysight Truevolt 34460A/34461A Operating and Service Guide): `MEASure:<function>?
[range|AUTO|MIN|MAX|DEF[, resolution]]` for VOLTage[:DC], CURRent[:DC], RESistance and
FRESistance; the same through `CONFigure:<function>` + `READ?` or `INITiate` + `FETCh?`;
`CONFigure?`; `[SENSe:]FUNCtion "VOLT"`; per-function `[SENSe:]<function>:RANGe`,
`:RANGe:AUTO`, `:NPLCycles`; `[SENSe:]CURRent:TERMinals 3|10`; `SAMPle:COUNt`;
`TRIGger:SOURce IMMediate|BUS|EXTernal` with `*TRG`; `DISPlay:TEXT`.

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

OVERLOAD = 9.9e37
NPLC_CHOICES = (0.02, 0.2, 1.0, 10.0, 100.0)


@dataclass
class Function:
    """One measurement function: its ranges and its settings."""

    name: str  # as CONF? and FUNC? say it
    unit: str  # SCPI unit suffix
    ranges: tuple[float, ...]
    range: float = 0.0
    auto: bool = True
    nplc: float = 10.0
    default_range: float = 0.0

    def reset(self) -> None:
        self.range, self.auto, self.nplc = self.default_range, True, 10.0

    def fit(self, value: float) -> float:
        """The smallest range that holds |value|; -222 if none does."""
        ranges = self.ranges
        for r in ranges:
            if abs(value) <= r * (1 + 1e-9):
                return r
        raise ScpiError(-222, f"{value:g} {self.unit} is beyond the largest range ({ranges[-1]:g} {self.unit})")


def _functions() -> dict[str, Function]:
    return {
        "VOLT": Function("VOLT", "V", (0.1, 1.0, 10.0, 100.0, 1000.0), default_range=10.0),
        "CURR": Function("CURR", "A", (1e-4, 1e-3, 1e-2, 0.1, 1.0, 3.0, 10.0), default_range=1.0),
        "RES": Function("RES", "OHM", (1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8), default_range=1e3),
        "FRES": Function("FRES", "OHM", (1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8), default_range=1e3),
    }


class SimK34461A(ScpiInstrument):
    """DC volts, DC amps and resistance from callables, with ranges, autorange, NPLC and triggering."""

    model = "34461A"
    firmware = "A.03.01-02.40-03.01-00.52-04-01"

    def __init__(self, clock: Any, *, sources: dict[str, Callable[[], float]] | None = None,
                 serial: str = "MY57200000", noise: bool = True, seed: int = 0) -> None:
        self.sources: dict[str, Callable[[], float]] = {"VOLT": lambda: 0.0, "CURR": lambda: 0.0,
                                                        "RES": lambda: math.inf, **(sources or {})}
        self.sources.setdefault("FRES", self.sources["RES"])
        self.noise = noise
        self._rng = random.Random(seed)
        self.lock = threading.RLock()
        self.functions = _functions()
        self.text = ""
        super().__init__(clock, serial)

    def reset(self) -> None:
        for f in self.functions.values():
            f.reset()
        self.function = "VOLT"
        self.terminals = 3
        self.sample_count = 1
        self.trigger_source = "IMMEDIATE"
        self.readings: list[float] = []
        self.waiting = False  # initiated, waiting for a bus trigger
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

    def _take(self) -> None:
        self.readings = [self.read_once(self.function) for _ in range(self.sample_count)]
        self.waiting = False

    def trigger(self) -> None:
        if self.waiting and self.trigger_source == "BUS":
            self._take()
        # a *TRG while not waiting for one is ignored, as on the real meter

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
        if len(a) > 1:
            a[1].number(f.unit, special={"MIN": 0.0, "MAX": 1.0, "DEF": 0.0})  # resolution: accepted, not modelled
        self.function = name
        self.sample_count, self.trigger_source, self.waiting = 1, "IMMEDIATE", False

    def _ranges(self, f: Function) -> tuple[float, ...]:
        """The ranges usable now: the 10 A range only on the 10 A terminals, and only it there."""
        if f.name == "CURR":
            return (10.0,) if self.terminals == 10 else f.ranges[:-1]
        return f.ranges

    def _select_range(self, f: Function, value: float) -> float:
        r = f.fit(value)
        if r not in self._ranges(f):
            raise ScpiError(-221, f"the {r:g} A range needs the {'10' if r > 3 else '3'} A terminals (CURR:TERM)")
        return r

    def _fetch(self, a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
        need(a, 0)
        if not self.readings:
            raise ScpiError(-230, "no reading: send INIT or READ? first")
        return ",".join(fmt(r) for r in self.readings)

    def commands(self, t: CommandTree) -> None:
        for name, pattern in (("VOLT", "VOLTage[:DC]"), ("CURR", "CURRent[:DC]"), ("RES", "RESistance"),
                              ("FRES", "FRESistance")):
            self._function_commands(t, name, pattern)

        def conf_q(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
            need(a, 0)
            f = self.functions[self.function]
            rng = f.range if not f.auto else f.default_range
            return f'"{f.name} {fmt(rng)},{fmt(rng * 3e-7 * math.sqrt(10.0 / f.nplc))}"'
        t.add("CONFigure", query=conf_q)

        def function(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            text = need(a, 1)[0].string().upper().replace(":DC", "")
            long = {"VOLTAGE": "VOLT", "CURRENT": "CURR", "RESISTANCE": "RES", "FRESISTANCE": "FRES"}
            name = long.get(text, text)
            if name not in self.functions:
                raise ScpiError(-224, f"function {a[0].text} is not simulated")
            self.function = name
        t.add("[SENSe]:FUNCtion[:ON]", write=function,
              query=lambda a, s: (need(a, 0), f'"{self.functions[self.function].name}"')[1])

        def init(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            need(a, 0)
            if self.trigger_source == "BUS":
                self.waiting, self.readings = True, []
            else:
                self._take()
        t.add("INITiate[:IMMediate]", write=init)
        t.add("FETCh", query=self._fetch)

        def read(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
            need(a, 0)
            if self.trigger_source == "BUS":
                raise ScpiError(-213, "READ? with TRIG:SOUR BUS waits for a *TRG that cannot come; use INIT")
            self._take()
            return self._fetch(a, s)
        t.add("READ", query=read)

        def samples(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            n = need(a, 1)[0].number(special={"MIN": 1, "MAX": 10000, "DEF": 1})
            if not (1 <= n <= 10000) or n != int(n):
                raise ScpiError(-222, f"sample count {a[0].text} outside 1..10000")
            self.sample_count = int(n)
        t.add("SAMPle:COUNt", write=samples, query=lambda a, s: (need(a, 0), f"{self.sample_count:+d}")[1])

        def trig_source(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            self.trigger_source = need(a, 1)[0].choice("IMMediate", "BUS", "EXTernal")
        t.add("TRIGger[:SEQuence]:SOURce", write=trig_source,
              query=lambda a, s: (need(a, 0), self.trigger_source[:3] if self.trigger_source != "BUS" else "BUS")[1])

        def terminals(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            n = need(a, 1)[0].number(special={"MIN": 3, "MAX": 10, "DEF": 3})
            if n not in (3, 10):
                raise ScpiError(-224, f"terminals are 3 or 10, not {a[0].text}")
            self.terminals = int(n)
            f = self.functions["CURR"]
            f.range = 10.0 if n == 10 else min(f.range, 3.0) if f.range else f.default_range
        t.add("[SENSe]:CURRent[:DC]:TERMinals", write=terminals,
              query=lambda a, s: (need(a, 0), f"{self.terminals:+d}")[1])

        def text(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            self.text = need(a, 1)[0].string()

        def text_clear(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            need(a, 0)
            self.text = ""
        t.add("DISPlay[:WINDow]:TEXT[:DATA]", write=text, query=lambda a, s: (need(a, 0), f'"{self.text}"')[1])
        t.add("DISPlay[:WINDow]:TEXT:CLEar", write=text_clear)
        t.add("SYSTem:BEEPer[:IMMediate]", write=lambda a, s: None)

    def _function_commands(self, t: CommandTree, name: str, pattern: str) -> None:
        f = self.functions[name]

        def measure(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
            self._configure(name, a)
            self._take()
            return self._fetch((), s)

        def configure(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            self._configure(name, a)

        def range_(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            ranges = self._ranges(f)
            value = need(a, 1)[0].number(f.unit, special={"MIN": ranges[0], "MAX": ranges[-1], "DEF": f.default_range})
            f.range, f.auto = self._select_range(f, value), False

        def range_q(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
            need(a, 0)
            return fmt(f.range)

        def auto(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            arg = need(a, 1)[0]
            if arg.kind == "char" and arg.value == "ONCE":
                f.range, f.auto = self._autorange(f, float(self.sources[name]())), False
            else:
                f.auto = arg.boolean()

        def nplc(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            v = need(a, 1)[0].number(special={"MIN": NPLC_CHOICES[0], "MAX": NPLC_CHOICES[-1], "DEF": 10.0})
            # the meter rounds up to the next integration time it has
            choice = next((c for c in NPLC_CHOICES if v <= c * (1 + 1e-9)), None)
            if choice is None or v <= 0:
                raise ScpiError(-222, f"NPLC {a[0].text} outside 0.02..100")
            f.nplc = choice

        t.add(f"MEASure:{pattern}", query=measure)
        t.add(f"CONFigure:{pattern}", write=configure)
        t.add(f"[SENSe]:{pattern}:RANGe[:UPPer]", write=range_, query=range_q)
        t.add(f"[SENSe]:{pattern}:RANGe:AUTO", write=auto,
              query=lambda a, s: (need(a, 0), "1" if f.auto else "0")[1])
        t.add(f"[SENSe]:{pattern}:NPLCycles", write=nplc, query=lambda a, s: (need(a, 0), fmt(f.nplc))[1])
