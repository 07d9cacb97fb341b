"""The 34461A's trigger, sample, display and system subsystems, `INITiate`/`FETCh?`/`READ?`/
`ABORt` and `*OPT?`, as the Truevolt Series Operating and Service Guide's SCPI Programming
Reference has them (sections TRIGger, SAMPle, DISPlay, SYSTem, INITiate, FETCh?, READ?, ABORt,
IEEE-488 Common Commands).

Limits are the 34461A's: trigger count 1 to 1,000,000 or INFinite, sample count 1 to 1,000,000,
delays and sample interval 0 to 3600 s, 10,000 readings of memory. The simulated meter takes its
readings at once, so delays and the sample timer are kept and read back but cost no time.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, Protocol

from bringup.sim_devices.instruments.scpi_instrument import need
from bringup.sim_devices.instruments.scpi_parser import Arg, CommandTree, ScpiError, fmt


class Meter(Protocol):
    """What these subsystems use of the meter (sim_dmm.SimK34461A), declared here so that this
    module never imports the one that imports it."""

    functions: dict[str, Any]
    function: str
    line_frequency: float
    options: tuple[str, ...]
    readings: list[float]
    display_on: bool
    text: str
    trig: "TriggerSystem"

    def take(self, triggers: int = 1) -> None: ...

    def fetch(self) -> str: ...


MEMORY = 10_000  # readings the 34461A's reading memory holds
MAX_COUNT = 1_000_000
INFINITE = 9.9e37  # TRIG:COUN INF, as TRIG:COUN? answers it
MAX_SECONDS = 3600.0


@dataclass
class TriggerSystem:
    """The trigger and sample settings, and where the trigger system is (idle or waiting)."""

    source: str = "IMMEDIATE"
    count: float = 1
    delay: float = 0.0
    delay_auto: bool = True
    slope: str = "NEG"
    sample_count: int = 1
    sample_source: str = "IMMEDIATE"
    sample_timer: float = 1.0
    waiting: bool = False  # initiated, waiting for triggers
    pending: float = 0  # triggers still to come while waiting

    def reset(self) -> None:
        for f in fields(self):
            setattr(self, f.name, f.default)

    def configure(self) -> None:
        """What CONFigure and MEASure? set: one immediate trigger with automatic delay, one sample."""
        self.source, self.count, self.delay_auto, self.waiting = "IMMEDIATE", 1, True, False
        self.sample_count, self.sample_source = 1, "IMMEDIATE"


def auto_delay(meter: Meter) -> float:
    """The automatic trigger delay (the guide's "Automatic Trigger Delays" table, simplified: DC
    1.5 ms at 1 PLC and more, 1 ms below; the 1 MOhm and higher ohms ranges 15 ms; AC 0.5 s)."""
    f = meter.functions[meter.function]
    if not f.dc:
        return 0.5
    if f.unit == "OHM" and f.range >= 1e6:
        return 0.015
    return 0.0015 if f.nplc >= 1 else 0.001


def min_interval(meter: Meter) -> float:
    """SAMP:TIM? MIN: one integration (two with autozero, which reads the zero after each) plus the
    delay; the meter's rule of thumb, not its exact timing."""
    f = meter.functions[meter.function]
    integration = f.nplc / meter.line_frequency if f.dc else 0.5
    return integration * (2 if f.dc and f.zero_auto else 1) + (auto_delay(meter) if meter.trig.delay_auto
                                                                   else meter.trig.delay)


def _seconds(arg: Arg, table: dict[str, float], what: str) -> float:
    v = arg.number("S", special=table)
    if not 0 <= v <= MAX_SECONDS:
        raise ScpiError(-222, f"{what} {arg.text} outside 0..3600 s")
    return v


def _query(now: Callable[[], float], table: Callable[[], dict[str, float]]) -> Callable[..., str]:
    """A numeric query that also answers `? MIN|MAX|DEF` with what that word would set."""
    def q(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
        need(a, 0, 1)
        return fmt(a[0].number("S", special=table()) if a else now())
    return q


def subsystem_commands(meter: Meter, t: CommandTree) -> None:
    trig = meter.trig

    # -- INITiate, FETCh?, READ?, ABORt -----------------------------------------------------------------
    def init(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        need(a, 0)
        if trig.waiting:
            raise ScpiError(-213, "already waiting for a trigger: ABORt first")
        meter.readings = []
        if trig.source == "IMMEDIATE":
            meter.take(MEMORY if trig.count >= INFINITE else int(trig.count))
        else:  # BUS: each *TRG takes the samples; EXTernal: no trigger line reaches a simulated meter
            trig.waiting, trig.pending = True, trig.count

    def read(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
        need(a, 0)
        if trig.count >= INFINITE:
            raise ScpiError(-221, "READ? with an infinite trigger count would never end; use INIT, ABOR, FETC?")
        if trig.source != "IMMEDIATE":
            raise ScpiError(-213, f"READ? with TRIG:SOUR {trig.source[:3]} waits for a trigger that cannot come; use INIT")
        meter.readings = []
        meter.take(int(trig.count))
        return meter.fetch()

    def abort(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        need(a, 0)
        trig.waiting, trig.pending = False, 0  # the readings taken so far stay in memory

    t.add("INITiate[:IMMediate]", write=init)
    t.add("FETCh", query=lambda a, s: (need(a, 0), meter.fetch())[1])
    t.add("READ", query=read)
    t.add("ABORt", write=abort)

    # -- TRIGger --------------------------------------------------------------------------------------
    def trig_source(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        trig.source = need(a, 1)[0].choice("IMMediate", "BUS", "EXTernal")

    def trig_count(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        arg = need(a, 1)[0]
        n = arg.number(special={"MIN": 1, "MAX": MAX_COUNT, "DEF": 1, "INF": INFINITE})
        if n != INFINITE and not 1 <= n <= MAX_COUNT:
            raise ScpiError(-222, f"trigger count {arg.text} outside 1..1000000 (or INF)")
        trig.count = n if n == INFINITE else round(n)

    def trig_delay(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        trig.delay = _seconds(need(a, 1)[0], {"MIN": 0.0, "MAX": MAX_SECONDS, "DEF": 1.0}, "trigger delay")
        trig.delay_auto = False  # a delay given is a delay kept (the guide: it turns the automatic one off)

    def delay_auto(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        trig.delay_auto = need(a, 1)[0].boolean()

    def slope(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        trig.slope = need(a, 1)[0].choice("POSitive", "NEGative")[:3]

    t.add("TRIGger[:SEQuence]:SOURce", write=trig_source,
          query=lambda a, s: (need(a, 0), trig.source[:3] if trig.source != "BUS" else "BUS")[1])
    t.add("TRIGger[:SEQuence]:COUNt", write=trig_count, query=_query(
        lambda: trig.count, lambda: {"MIN": 1, "MAX": MAX_COUNT, "DEF": 1, "INF": INFINITE}))
    t.add("TRIGger[:SEQuence]:DELay", write=trig_delay, query=_query(
        lambda: auto_delay(meter) if trig.delay_auto else trig.delay,
        lambda: {"MIN": 0.0, "MAX": MAX_SECONDS, "DEF": 1.0}))
    t.add("TRIGger[:SEQuence]:DELay:AUTO", write=delay_auto,
          query=lambda a, s: (need(a, 0), "1" if trig.delay_auto else "0")[1])
    t.add("TRIGger[:SEQuence]:SLOPe", write=slope, query=lambda a, s: (need(a, 0), trig.slope)[1])

    # -- SAMPle ---------------------------------------------------------------------------------------
    def samples(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        n = need(a, 1)[0].number(special={"MIN": 1, "MAX": MAX_COUNT, "DEF": 1})
        if not (1 <= n <= MAX_COUNT) or n != int(n):
            raise ScpiError(-222, f"sample count {a[0].text} outside 1..1000000")
        trig.sample_count = int(n)

    def sample_source(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        trig.sample_source = need(a, 1)[0].choice("IMMediate", "TIMer")

    def timer_table() -> dict[str, float]:
        return {"MIN": min_interval(meter), "MAX": MAX_SECONDS, "DEF": 1.0}

    def timer(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        trig.sample_timer = _seconds(need(a, 1)[0], timer_table(), "sample interval")

    def count_q(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
        need(a, 0, 1)
        n = a[0].number(special={"MIN": 1, "MAX": MAX_COUNT, "DEF": 1}) if a else trig.sample_count
        return f"{int(n):+d}"

    t.add("SAMPle:COUNt", write=samples, query=count_q)
    t.add("SAMPle:SOURce", write=sample_source, query=lambda a, s: (need(a, 0), trig.sample_source[:3])[1])
    t.add("SAMPle:TIMer", write=timer, query=_query(lambda: trig.sample_timer, timer_table))

    # -- DISPlay, SYSTem, *OPT? -----------------------------------------------------------------------
    def display(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        meter.display_on = need(a, 1)[0].boolean()

    def text(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        meter.text = need(a, 1)[0].string()

    def text_clear(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        need(a, 0)
        meter.text = ""

    t.add("DISPlay[:STATe]", write=display, query=lambda a, s: (need(a, 0), "1" if meter.display_on else "0")[1])
    t.add("DISPlay[:WINDow]:TEXT[:DATA]", write=text, query=lambda a, s: (need(a, 0), f'"{meter.text}"')[1])
    t.add("DISPlay[:WINDow]:TEXT:CLEar", write=text_clear)
    t.add("SYSTem:BEEPer[:IMMediate]", write=lambda a, s: None)
    t.add("SYSTem:LFRequency", query=lambda a, s: (need(a, 0), f"{meter.line_frequency:+d}")[1])
    t.add("*OPT", query=lambda a, s: (need(a, 0), ",".join(meter.options) or "0")[1])
