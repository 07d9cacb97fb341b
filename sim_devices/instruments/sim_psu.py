"""A simulated Keysight E36312A triple-output bench supply, answering its documented SCPI command set.

Command set (Keysight E36300 Series Programming Guide): output selection (`INST CH1`,
`INST:NSEL 2`) or a channel list on each command (`VOLT 5,(@1)`, `MEAS:CURR? (@1:3)`);
`[SOUR:]VOLT`, `[SOUR:]CURR` with MIN/MAX/DEF; over-voltage protection `VOLT:PROT`,
`VOLT:PROT:TRIP?`; over-current protection `CURR:PROT:STAT`, `CURR:PROT:DEL`,
`CURR:PROT:TRIP?`; `OUTP[:STAT]`, `OUTP:PROT:CLE`; `MEAS[:SCAL]:VOLT[:DC]?`,
`MEAS[:SCAL]:CURR[:DC]?`; `APPL CH1,5,1`; the transient trigger system (`VOLT:TRIG`,
`VOLT:MODE STEP`, `TRIG:SOUR`, `INIT`, `*TRG`, `ABOR`: supply_trigger); the display, beeper,
remote/local and `*OPT?` (supply_panel); status through `STAT:QUES`/`STAT:OPER` and
per-output `STAT:QUES:INST:ISUM<n>` / `STAT:OPER:INST:ISUM<n>` (bit layout of the E36100/E36300
family: questionable OV = bit 0, OC = bit 1; operation CV = bit 8, CC = bit 10).

Each output drives a load: `load(channel, volts) -> amps`, resistive by default. The next part of
the lab passes a callable that returns the sled's input current, and `on_output` is told every
change of an output's programmed voltage, limit and state, so the sled's input follows the
supply. Protection trips latch the output off, as the real one does, until `OUTP:PROT:CLE`.

A real E36312A is rated 6 V/5 A and 2 x 25 V/1 A. A sled wants 12 V at hundreds of amps, so the
simulated lab may give an output a bigger `Rating`; the command set is unchanged.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from bringup.sim_devices.instruments.scpi_instrument import ScpiInstrument, StatusRegister, need
from bringup.sim_devices.instruments.scpi_parser import Arg, CommandTree, ScpiError, fmt
from bringup.sim_devices.instruments.supply_panel import Panel, panel_commands
from bringup.sim_devices.instruments.supply_trigger import TriggerSystem, trigger_commands

QUES_OV, QUES_OC = 1, 2
OPER_CV, OPER_CC = 256, 1024


@dataclass(frozen=True)
class Rating:
    """The programmable range of one output: voltage, current limit, over-voltage protection level."""

    volts: float
    amps: float
    ovp_max: float  # (est.) 110 % of the rated voltage


#: The E36312A's outputs: programmable to 103 % of 6 V/5 A and 25 V/1 A (data sheet).
E36312A_RATINGS = {1: Rating(6.18, 5.15, 6.6), 2: Rating(25.75, 1.03, 27.5), 3: Rating(25.75, 1.03, 27.5)}

Load = Callable[[int, float], float]


@dataclass
class Output:
    """One output's settings and latched protection state."""

    rating: Rating
    volts: float = 0.0
    amps: float = 0.0
    ovp: float = 0.0
    ocp: bool = False
    ocp_delay: float = 0.05
    enabled: bool = False  # what was asked for; a protection trip keeps it off regardless
    ov_tripped: bool = False
    oc_tripped: bool = False
    cc_since: float | None = None

    @property
    def on(self) -> bool:
        return self.enabled and not (self.ov_tripped or self.oc_tripped)


def resistive(ohms: dict[int, float]) -> Load:
    """A resistor on each output."""
    return lambda ch, v: v / ohms[ch] if ohms.get(ch) else 0.0


class SimE36312A(ScpiInstrument):
    """Three outputs with CV/CC regulation, OVP and OCP, measuring what its load draws."""

    model = "E36312A"
    firmware = "2.1.0-1.0.4-1.12"

    def __init__(self, clock: Any, *, load: Load | None = None, ratings: dict[int, Rating] | None = None,
                 on_output: Callable[[int, float, float, bool], None] | None = None, serial: str = "MY59001234",
                 noise: bool = True, seed: int = 0) -> None:
        self.ratings = dict(ratings or E36312A_RATINGS)
        self.load = load or resistive({1: 6.0, 2: 100.0, 3: 100.0})
        self.on_output = on_output
        self.noise = noise
        rng = random.Random(seed)
        self._noise = [rng.gauss(0.0, 1.0) for _ in range(256)]
        self._noise_at = 0
        self.lock = threading.RLock()  # the server and the lab's physics share the instrument
        self.outputs: dict[int, Output] = {}
        self.selected = 1
        self.panel = Panel()
        self.ques_inst = {ch: StatusRegister(lambda ch=ch: self._channel_ques(ch)) for ch in self.ratings}
        self.oper_inst = {ch: StatusRegister(lambda ch=ch: self._channel_oper(ch)) for ch in self.ratings}
        super().__init__(clock, serial)

    # -- the physics of a bench supply ----------------------------------------------------------------
    def reset(self) -> None:
        self.outputs = {ch: Output(r, 0.0, r.amps, r.ovp_max) for ch, r in self.ratings.items()}
        self.selected = min(self.ratings)
        self._watching = False
        self.panel.reset()
        self.triggers = TriggerSystem(self)
        self._notify_all()

    def trigger(self) -> None:
        """*TRG: the transient trigger (supply_trigger)."""
        self.triggers.fire()

    def solve(self, ch: int) -> tuple[float, float, str]:
        """(volts, amps, mode) of an output: CV while the load draws less than the limit, else CC."""
        out = self.outputs[ch]
        if not out.on:
            return 0.0, 0.0, "OFF"
        amps = _finite(self.load(ch, out.volts))
        if amps <= out.amps:
            return out.volts, amps, "CV"
        # current limit: the voltage falls until the load draws exactly the limit
        lo, hi = 0.0, out.volts
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            if _finite(self.load(ch, mid)) > out.amps:
                hi = mid
            else:
                lo = mid
        return lo, out.amps, "CC"

    def update(self) -> None:
        """Let protection act on what the outputs are doing now. Called on every message that needs it;
        the lab may call it too (a load that changes between messages can push an output into CC)."""
        now = self.clock.now()
        for ch, out in self.outputs.items():
            if not out.on:
                out.cc_since = None
                continue
            if out.volts > out.ovp:
                self._trip(ch, "ov")
                continue
            if not out.ocp:
                continue  # only over-current protection needs to know whether the output is in CC
            _, _, mode = self.solve(ch)
            if mode == "CC":
                if out.cc_since is None:
                    out.cc_since = now
                if now - out.cc_since >= out.ocp_delay:
                    self._trip(ch, "oc")
            else:
                out.cc_since = None
        # only an output that is on with OCP armed can trip while nothing is sent to the supply
        self._watching = any(o.on and o.ocp for o in self.outputs.values())

    def _trip(self, ch: int, kind: str) -> None:
        out = self.outputs[ch]
        if kind == "ov":
            out.ov_tripped = True
        else:
            out.oc_tripped = True
        out.cc_since = None
        self._notify(ch)

    def measure(self, ch: int) -> tuple[float, float]:
        """Read-back voltage and current as of the last `update`, with the instrument's small noise."""
        return self.read_back(ch, 0), self.read_back(ch, 1)

    def read_back(self, ch: int, what: int) -> float:
        """What `MEAS:VOLT?` (what=0) or `MEAS:CURR?` (what=1) returns for one output."""
        out = self.outputs[ch]
        if not out.on:
            return 0.0
        volts = out.volts
        amps = self.load(ch, volts)
        if not 0.0 < amps < math.inf:  # also false for NaN: a load that says nothing draws nothing
            amps = 0.0
        if amps > out.amps:
            volts, amps, _ = self.solve(ch)  # in current limit: solve for the voltage
        value = volts if what == 0 else amps
        if self.noise:
            # a table of 256 seeded normal deviates, read in turn: as random as a read-back needs,
            # far cheaper than drawing one on the instrument's hottest path, and its few distinct
            # values let the reply formatting be memoised
            self._noise_at = k = (self._noise_at + 1) & 255
            value += self._noise[k] * (2e-4 if what == 0 else 5e-5 + 2e-4 * abs(value))
        return value

    def _state(self, ch: int) -> tuple[float, float, bool]:
        out = self.outputs[ch]
        return out.volts, out.amps, out.on

    def _notify(self, ch: int) -> None:
        if self.on_output is not None:
            v, i, on = self._state(ch)
            self.on_output(ch, v if on else 0.0, i, on)

    def _notify_all(self) -> None:
        for ch in getattr(self, "outputs", {}):
            self._notify(ch)

    def handle(self, line: str) -> str | None:
        with self.lock:
            if self._watching:
                self.update()  # over-current protection acts on the time that passed since the last message
            message = self.parse(line)
            if message.only_queries:
                return self.execute(message)  # the hot path: a read-back changes no setting
            before = [self._state(ch) for ch in self.outputs]
            reply = self.execute(message)
            self.update()  # a new setting may trip a protection at once (OVP below the output)
            for ch, old in zip(self.outputs, before):
                if self._state(ch) != old:
                    self._notify(ch)
            return reply

    # -- status ---------------------------------------------------------------------------------------
    def _channel_ques(self, ch: int) -> int:
        out = self.outputs[ch]
        return (QUES_OV if out.ov_tripped else 0) | (QUES_OC if out.oc_tripped else 0)

    def _channel_oper(self, ch: int) -> int:
        mode = self.solve(ch)[2]
        return OPER_CV if mode == "CV" else OPER_CC if mode == "CC" else 0

    def questionable_condition(self) -> int:
        bits = 0
        for ch in getattr(self, "outputs", {}):
            bits |= self._channel_ques(ch)
        return bits

    def operation_condition(self) -> int:
        bits = 0
        for ch in getattr(self, "outputs", {}):
            bits |= self._channel_oper(ch)
        return bits

    # -- the command set ------------------------------------------------------------------------------
    def _channels(self, args: tuple[Arg, ...], values: int) -> Sequence[int]:
        """The outputs a command addresses: its trailing (@list), else the selected output."""
        if len(args) == values + 1:
            chans = args[-1].value
            if type(chans) is tuple and len(chans) == 1 and chans[0] in self.outputs:
                return chans  # the common case, (@n), checked without building anything
        if len(args) > values and args[-1].kind == "chan":
            chans = list(args[-1].channels())
            for ch in chans:
                if ch not in self.outputs:
                    raise ScpiError(-224, f"there is no output {ch}")
            need(args, values + 1)
            return chans
        need(args, values)
        return [self.selected]

    def commands(self, t: CommandTree) -> None:
        def setting(attr: str, limit: Callable[[Output], float], unit: str, low: float = 0.0):
            def write(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
                chans = self._channels(a, 1)
                for ch in chans:
                    out = self.outputs[ch]
                    hi = limit(out)
                    v = a[0].number(unit, special={"MIN": low, "MAX": hi, "DEF": _default(attr, out)})
                    if not (low <= v <= hi):
                        raise ScpiError(-222, f"{a[0].text} outside {low:g}..{hi:g} {unit} on CH{ch}")
                for ch in chans:
                    setattr(self.outputs[ch], attr, a[0].number(unit, special={
                        "MIN": low, "MAX": limit(self.outputs[ch]), "DEF": _default(attr, self.outputs[ch])}))

            def query(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
                which = a[0].choice("MINimum", "MAXimum") if a and a[0].kind == "char" else None
                chans = self._channels(a[1:] if which else a, 0)
                vals = [low if which == "MINIMUM" else limit(self.outputs[ch]) if which == "MAXIMUM"
                        else getattr(self.outputs[ch], attr) for ch in chans]
                return ",".join(fmt(v) for v in vals)
            return write, query

        w, q = setting("volts", lambda o: o.rating.volts, "V")
        t.add("[SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]", write=w, query=q)
        w, q = setting("amps", lambda o: o.rating.amps, "A", low=0.001)
        t.add("[SOURce]:CURRent[:LEVel][:IMMediate][:AMPLitude]", write=w, query=q)
        w, q = setting("ovp", lambda o: o.rating.ovp_max, "V", low=1.0)
        t.add("[SOURce]:VOLTage:PROTection[:LEVel]", write=w, query=q)
        w, q = setting("ocp_delay", lambda o: 0.255, "S")
        t.add("[SOURce]:CURRent:PROTection:DELay[:TIME]", write=w, query=q)

        def flag(attr: str):
            def write(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
                chans = self._channels(a, 1)
                value = a[0].boolean()
                for ch in chans:
                    setattr(self.outputs[ch], attr, value)

            def query(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
                return ",".join("1" if getattr(self.outputs[ch], attr) else "0" for ch in self._channels(a, 0))
            return write, query

        w, _ = flag("enabled")
        t.add("OUTPut[:STATe]", write=w,
              query=lambda a, s: ",".join("1" if self.outputs[ch].on else "0" for ch in self._channels(a, 0)))
        w, q = flag("ocp")
        t.add("[SOURce]:CURRent:PROTection:STATe", write=w, query=q)
        _, q = flag("ov_tripped")
        t.add("[SOURce]:VOLTage:PROTection:TRIPped", query=q)
        _, q = flag("oc_tripped")
        t.add("[SOURce]:CURRent:PROTection:TRIPped", query=q)

        def clear(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            for ch in self._channels(a, 0):
                out = self.outputs[ch]
                out.ov_tripped = out.oc_tripped = False
                out.cc_since = None
        t.add("OUTPut:PROTection:CLEar", write=clear)

        def meas(what: int):
            def query(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
                chans = self._channels(a, 0)
                if len(chans) == 1:
                    return fmt(self.read_back(chans[0], what))
                return ",".join(fmt(self.read_back(ch, what)) for ch in chans)
            return query
        t.add("MEASure[:SCALar]:VOLTage[:DC]", query=meas(0))
        t.add("MEASure[:SCALar]:CURRent[:DC]", query=meas(1))

        def select(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            self.selected = self._named(need(a, 1)[0])

        def nselect(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            ch = need(a, 1)[0].number(special={"MIN": min(self.outputs), "MAX": max(self.outputs)})
            if ch not in self.outputs:
                raise ScpiError(-222, f"there is no output {a[0].text}")
            self.selected = int(ch)
        t.add("INSTrument[:SELect]", write=select, query=lambda a, s: (need(a, 0), f"CH{self.selected}")[1])
        t.add("INSTrument:NSELect", write=nselect, query=lambda a, s: (need(a, 0), str(self.selected))[1])

        def apply(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            need(a, 2, 3)
            ch = self._named(a[0])
            out = self.outputs[ch]
            v = a[1].number("V", special={"MIN": 0.0, "MAX": out.rating.volts, "DEF": 0.0})
            i = a[2].number("A", special={"MIN": 0.001, "MAX": out.rating.amps, "DEF": out.rating.amps}) \
                if len(a) > 2 else out.amps
            if not (0 <= v <= out.rating.volts) or not (0.001 <= i <= out.rating.amps):
                raise ScpiError(-222, f"APPL {a[1].text} outside the ratings of CH{ch}")
            out.volts, out.amps = v, i

        def apply_q(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
            ch = self._named(need(a, 0, 1)[0]) if a else self.selected
            return f'"{fmt(self.outputs[ch].volts)},{fmt(self.outputs[ch].amps)}"'
        t.add("APPLy", write=apply, query=apply_q)

        for prefix, regs in (("STATus:QUEStionable", self.ques_inst), ("STATus:OPERation", self.oper_inst)):
            def pick(s: tuple[int, ...], regs: dict[int, StatusRegister] = regs) -> StatusRegister:
                if s[0] not in regs:
                    raise ScpiError(-114, f"ISUMmary{s[0]}: there is no output {s[0]}")
                return regs[s[0]]

            def enable(a: tuple[Arg, ...], s: tuple[int, ...], pick=pick) -> None:
                pick(s).enable = int(need(a, 1)[0].number()) & 0x7FFF
            t.add(f"{prefix}:INSTrument:ISUMmary#[:EVENt]", query=lambda a, s, pick=pick: str(pick(s).read_event()))
            t.add(f"{prefix}:INSTrument:ISUMmary#:CONDition", query=lambda a, s, pick=pick: str(pick(s).update()))
            t.add(f"{prefix}:INSTrument:ISUMmary#:ENABle", write=enable,
                  query=lambda a, s, pick=pick: str(pick(s).enable))
        panel_commands(t, lambda: self.panel, text=True, rlst=False)
        trigger_commands(t, lambda: self.triggers, self._channels)

    def _named(self, arg: Arg) -> int:
        if arg.kind == "char" and arg.value in {f"CH{ch}" for ch in self.outputs}:
            return int(str(arg.value)[2:])
        raise ScpiError(-224, f"{arg.text!r}: name an output CH1..CH{max(self.outputs)}")


def _default(attr: str, out: Output) -> float:
    return {"volts": 0.0, "amps": out.rating.amps, "ovp": out.rating.ovp_max, "ocp_delay": 0.05}[attr]


def _finite(x: float) -> float:
    return float(x) if math.isfinite(x) and x > 0 else 0.0
