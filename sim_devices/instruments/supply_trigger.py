"""The transient trigger system of the simulated supplies: an output steps to a programmed level
when a trigger arrives, as a bench program uses to move several outputs at one instant.

The E36300 Series Programming Guide (TRIGger, INITiate, ABORt subsystems and `[SOUR:]VOLT:TRIG`,
`VOLT:MODE`) and the N5700 User's Guide (the same subsystems) share this shape; the optional
nodes take either manual's spelling:

    [SOUR:]VOLT:TRIG[:AMPL] v   [SOUR:]CURR:TRIG[:AMPL] i      the levels a trigger applies
    [SOUR:]VOLT:MODE FIX|STEP   [SOUR:]CURR:MODE FIX|STEP      STEP: a trigger applies them
    TRIG[:TRAN]:SOUR BUS|IMM                                   BUS: wait for *TRG or TRIG
    INIT[:IMM][:TRAN]           arm the trigger system (-213 Init ignored if it is armed already)
    TRIG[:TRAN][:IMM], *TRG     the trigger: each armed output in STEP mode takes its levels
    ABOR[:TRAN]                 disarm

A trigger that finds the system idle is ignored. After a trigger the system is idle again (no
continuous initiation). `*RST` sets FIXed mode, BUS source, idle, and the triggered levels to
the immediate levels' reset values. What the twins leave out: LIST mode (refused with -224),
external trigger sources (PIN, EXT: -224), and trigger delays.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from bringup.sim_devices.instruments.scpi_instrument import need
from bringup.sim_devices.instruments.scpi_parser import Arg, CommandTree, ScpiError, fmt

Channels = Callable[[tuple[Arg, ...], int], Sequence[int]]


class TriggerSystem:
    """Per output: the triggered levels and the mode; for the whole supply: the source and whether armed."""

    def __init__(self, supply: Any) -> None:
        self.supply = supply
        self.reset()

    def reset(self) -> None:
        outs = self.supply.outputs
        self.volts = {ch: 0.0 for ch in outs}
        self.amps = {ch: out.rating.amps for ch, out in outs.items()}
        self.step = {ch: False for ch in outs}  # FIXed: a trigger leaves the output alone
        self.source = "BUS"
        self.armed: set[int] = set()

    def fire(self) -> None:
        """A trigger: every armed output in STEP mode takes its triggered levels."""
        for ch in sorted(self.armed):
            if self.step[ch]:
                out = self.supply.outputs[ch]
                out.volts, out.amps = self.volts[ch], self.amps[ch]
        self.armed.clear()


def trigger_commands(t: CommandTree, system: Callable[[], TriggerSystem], channels: Channels) -> None:
    """Declare the trigger commands on `t`. `channels(args, values)` gives the outputs a command
    addresses (its channel list, else the selected output, for the E36312A; always 1 for the N5700)."""
    def level(attr: str, unit: str, low: float, high: Callable[[Any], float]):
        def write(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            sys = system()
            chans = channels(a, 1)
            values = {}
            for ch in chans:
                hi = high(sys.supply.outputs[ch])
                v = a[0].number(unit, special={"MIN": low, "MAX": hi})
                if not (low <= v <= hi):
                    raise ScpiError(-222, f"{a[0].text} outside {low:g}..{hi:g} {unit} on output {ch}")
                values[ch] = v
            getattr(sys, attr).update(values)

        def query(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
            sys = system()
            return ",".join(fmt(getattr(sys, attr)[ch]) for ch in channels(a, 0))
        return write, query

    w, q = level("volts", "V", 0.0, lambda o: o.rating.volts)
    t.add("[SOURce]:VOLTage[:LEVel]:TRIGgered[:AMPLitude]", write=w, query=q)
    w, q = level("amps", "A", 0.0, lambda o: o.rating.amps)
    t.add("[SOURce]:CURRent[:LEVel]:TRIGgered[:AMPLitude]", write=w, query=q)

    def mode(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        word = need(a, 1, 2)[0].choice("FIXed", "STEP", "LIST")
        if word == "LIST":
            raise ScpiError(-224, "LIST mode is not simulated")
        for ch in channels(a, 1):
            system().step[ch] = word == "STEP"

    def mode_q(a: tuple[Arg, ...], s: tuple[int, ...]) -> str:
        return ",".join("STEP" if system().step[ch] else "FIX" for ch in channels(a, 0))
    for what in ("VOLTage", "CURRent"):
        # one mode per output for both, as a step moves voltage and current together in the twin
        t.add(f"[SOURce]:{what}:MODE", write=mode, query=mode_q)

    def source(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        word = need(a, 1, 2)[0].choice("BUS", "IMMediate", "EXTernal", "PIN1", "PIN2", "PIN3")
        if word not in ("BUS", "IMMEDIATE"):
            raise ScpiError(-224, f"{a[0].text}: only BUS and IMMediate triggers are simulated")
        system().source = "BUS" if word == "BUS" else "IMM"
    t.add("TRIGger[:TRANsient]:SOURce", write=source, query=lambda a, s: (need(a, 0, 1), system().source)[1])

    def initiate(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        sys = system()
        chans = set(channels(a, 0)) if a else set(sys.supply.outputs)
        if sys.armed & chans:
            raise ScpiError(-213, "the trigger system is already initiated")
        sys.armed |= chans
        if sys.source == "IMM":
            sys.fire()
    t.add("INITiate[:IMMediate][:TRANsient]", write=initiate)

    def fire(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        system().fire()  # a channel list, if any, names outputs that are all armed together anyway
    t.add("TRIGger[:TRANsient][:IMMediate]", write=fire)

    def abort(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        system().armed.clear()
    t.add("ABORt[:TRANsient]", write=abort)
