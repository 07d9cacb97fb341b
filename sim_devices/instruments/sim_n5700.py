"""A simulated Keysight N5700 Series system DC supply (one output, e.g. the N5763A, 12.5 V 120 A).

Command set (N5700 User's Guide, language reference), with no output selection and no channel
lists, as the real single-output supply: `[SOUR:]VOLT`, `[SOUR:]CURR` with MIN/MAX;
`[SOUR:]VOLT:PROT[:LEV]` (OVP) with MIN/MAX; `[SOUR:]CURR:PROT:STAT` (over-current protection:
the output trips off when it goes into current limit); `OUTP[:STAT]`, `OUTP:PROT:CLE`;
`MEAS[:SCAL]:VOLT[:DC]?`, `MEAS[:SCAL]:CURR[:DC]?`; `STAT:QUES:COND?` (bit 0 over-voltage,
bit 1 over-current); the under-voltage limit `[SOUR:]VOLT:LIM:LOW` (UVL, at most 95 % of the
programmed voltage); `OUTP:PON:STAT RST|AUTO`; `OUTP:PROT:DEL` (how long the output may stay in
current limit before over-current protection trips it); the transient trigger system
(`VOLT:TRIG`, `CURR:TRIG`, `TRIG:SOUR BUS|IMM`, `INIT`, `*TRG`, `ABOR`: supply_trigger); the display, remote/local
(`SYST:COMM:RLST`) and `*OPT?` (supply_panel); and the common commands.

The rule the real supply enforces and a driver must respect: the OVP stays at least 5 % above the
programmed voltage, the UVL at least 5 % below it. A `VOLT` above OVP/1.05 or below UVL/0.95, a
`VOLT:PROT` below 1.05 x the programmed voltage, or a `VOLT:LIM:LOW` above 0.95 x it, is refused
with -222 and changes nothing.

The physics is the E36312A twin's (sim_psu): CV/CC regulation into `load(1, volts) -> amps`,
`on_output(1, volts, limit, on)` told every change, protection trips latched until
`OUTP:PROT:CLE`. Over-current protection acts after `OUTP:PROT:DEL` (0.05 s after `*RST`, est.) in
current limit.
"""

from __future__ import annotations

from typing import Any, Callable

from bringup.sim_devices.instruments.scpi_instrument import need
from bringup.sim_devices.instruments.scpi_parser import Arg, CommandTree, ScpiError, fmt
from bringup.sim_devices.instruments.sim_psu import Load, Output, Rating, SimE36312A, resistive
from bringup.sim_devices.instruments.supply_panel import panel_commands
from bringup.sim_devices.instruments.supply_trigger import trigger_commands

OVP_HEADROOM = 1.05
UVL_HEADROOM = 0.95  # and the under-voltage limit at most 95 % of it
OCP_DELAY_MAX = 255.0  # s, OUTP:PROT:DEL (est.)
_SLACK = 1e-9  # a level written with 6 significant digits still meets the 5 % rule it was computed for


#: models of the series, as their data sheets rate them: (volts, amps, highest OVP), lowest OVP
MODELS: dict[str, tuple[Rating, float]] = {
    "N5763A": (Rating(12.5, 120.0, 15.0), 1.0),   # 1500 W: the sled bench's bulk 12 V
    "N5767A": (Rating(60.0, 25.0, 66.0), 5.0),    # 1500 W
}


class SimN5700(SimE36312A):
    """One output with CV/CC regulation, OVP held 5 % above the setting, and OCP."""

    manufacturer = "Keysight Technologies"
    firmware = "A.01.05"

    def __init__(self, clock: Any, *, model: str = "N5763A", load: Load | None = None,
                 on_output: Callable[[int, float, float, bool], None] | None = None, serial: str = "US17M1234P",
                 noise: bool = True, seed: int = 0) -> None:
        if model not in MODELS:
            raise ValueError(f"unknown N5700 model {model!r}; one of {', '.join(MODELS)}")
        self.model = model
        rating, self.ovp_min = MODELS[model]
        super().__init__(clock, load=load or resistive({1: 1.0}), ratings={1: rating}, on_output=on_output,
                         serial=serial, noise=noise, seed=seed)

    def reset(self) -> None:
        super().reset()
        self.uvl = 0.0  # under-voltage limit: the lowest voltage the output may be programmed to
        self.power_on = "RST"  # OUTP:PON:STAT: the output comes up as after *RST (or AUTO: as it was)

    @property
    def output(self) -> Output:
        return self.outputs[1]

    def commands(self, t: CommandTree) -> None:
        out = lambda: self.outputs[1]  # noqa: E731 - reset() replaces the Output

        def level(a: tuple[Arg, ...], low: float, high: float, unit: str) -> float:
            v = need(a, 1)[0].number(unit, special={"MIN": low, "MAX": high})
            if not (low <= v <= high):
                raise ScpiError(-222, f"{a[0].text} outside {low:g}..{high:g} {unit}")
            return v

        def query(low: Callable[[], float], high: Callable[[], float], now: Callable[[], float]):
            def q(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
                need(a, 0, 1)
                which = a[0].choice("MINimum", "MAXimum") if a else None
                return fmt(low() if which == "MINIMUM" else high() if which == "MAXIMUM" else now())
            return q

        def volt(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            v = level(a, 0.0, out().rating.volts, "V")
            if v * OVP_HEADROOM > out().ovp * (1 + _SLACK):
                raise ScpiError(-222, f"{a[0].text}: the OVP ({out().ovp:g} V) must stay 5 % above the output")
            if v * UVL_HEADROOM < self.uvl * (1 - _SLACK):
                raise ScpiError(-222, f"{a[0].text}: the UVL ({self.uvl:g} V) must stay 5 % below the output")
            out().volts = v

        def curr(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            out().amps = level(a, 0.0, out().rating.amps, "A")

        def ovp(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            v = level(a, self.ovp_min, out().rating.ovp_max, "V")
            if v * (1 + _SLACK) < out().volts * OVP_HEADROOM:
                raise ScpiError(-222, f"{a[0].text}: the OVP must stay 5 % above the output ({out().volts:g} V)")
            out().ovp = v

        t.add("[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", write=volt,
              query=query(lambda: 0.0, lambda: out().rating.volts, lambda: out().volts))
        t.add("[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]", write=curr,
              query=query(lambda: 0.0, lambda: out().rating.amps, lambda: out().amps))
        t.add("[SOURce]:VOLTage:PROTection[:LEVel]", write=ovp,
              query=query(lambda: self.ovp_min, lambda: out().rating.ovp_max, lambda: out().ovp))

        def uvl(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            v = level(a, 0.0, out().rating.volts * UVL_HEADROOM, "V")
            if v * (1 - _SLACK) > out().volts * UVL_HEADROOM:
                raise ScpiError(-222, f"{a[0].text}: the UVL must stay 5 % below the output ({out().volts:g} V)")
            self.uvl = v
        t.add("[SOURce]:VOLTage:LIMit:LOW", write=uvl,
              query=query(lambda: 0.0, lambda: out().rating.volts * UVL_HEADROOM, lambda: self.uvl))

        def pon(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            self.power_on = {"RST": "RST", "AUTO": "AUTO"}[need(a, 1)[0].choice("RST", "AUTO")]
        t.add("OUTPut:PON:STATe", write=pon, query=lambda a, s: (need(a, 0), self.power_on)[1])

        def ocp_delay(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            out().ocp_delay = level(a, 0.0, OCP_DELAY_MAX, "S")
        t.add("OUTPut:PROTection:DELay", write=ocp_delay,
              query=query(lambda: 0.0, lambda: OCP_DELAY_MAX, lambda: out().ocp_delay))

        def flag(attr: str):
            def write(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
                setattr(out(), attr, need(a, 1)[0].boolean())
            return write

        t.add("[SOURce]:CURRent:PROTection:STATe", write=flag("ocp"),
              query=lambda a, s: (need(a, 0), "1" if out().ocp else "0")[1])
        t.add("OUTPut[:STATe]", write=flag("enabled"), query=lambda a, s: (need(a, 0), "1" if out().on else "0")[1])

        def clear(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            need(a, 0)
            out().ov_tripped = out().oc_tripped = False
            out().cc_since = None
        t.add("OUTPut:PROTection:CLEar", write=clear)

        t.add("MEASure[:SCALar]:VOLTage[:DC]", query=lambda a, s: (need(a, 0), fmt(self.read_back(1, 0)))[1])
        t.add("MEASure[:SCALar]:CURRent[:DC]", query=lambda a, s: (need(a, 0), fmt(self.read_back(1, 1)))[1])
        panel_commands(t, lambda: self.panel, text=False, rlst=True)
        trigger_commands(t, lambda: self.triggers, lambda a, values: (need(a, values), [1])[1])
