"""What a simulated bench supply answers about its front panel rather than its outputs: the display,
the beeper, remote/local and `*OPT?`. Shared by the E36312A and N5700 twins, which follow their own
programming guides' forms of each:

- E36300 Series Programming Guide, DISPlay and SYSTem subsystems: `DISP[:WIND][:STAT] ON|OFF`,
  `DISP[:WIND]:TEXT[:DATA] "text"`, `DISP[:WIND]:TEXT:CLE`, `SYST:BEEP[:IMM]`, `SYST:REM`,
  `SYST:LOC`, `SYST:RWL`.
- N5700 User's Guide, language reference: `DISP[:WIND]:STAT ON|OFF`, `SYST:COMM:RLST
  LOC|REM|RWL` (and the E36300's `SYST:REM|LOC|RWL`, which the twin keeps for drivers written
  against it).

A simulation has no panel to show or lock: these commands keep what was set, so a driver that
reads it back sees what it wrote, and `*RST` restores the display (on, no text).
"""

from __future__ import annotations

from typing import Any

from bringup.sim_devices.instruments.scpi_instrument import need
from bringup.sim_devices.instruments.scpi_parser import Arg, CommandTree, ScpiError

#: the E36312A's front panel shows at most this many characters of DISP:TEXT (est.)
TEXT_MAX = 40


class Panel:
    """The front-panel state a supply's SCPI commands can set and read back."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.display_on = True
        self.text = ""
        self.remote = "REM"  # a supply spoken to over LAN is in remote (both guides)


def options_query(t: CommandTree) -> None:
    """`*OPT?`: the installed options. The supplies have none that change the command set, and the
    programming guides answer 0 for "no options" (stock drivers, pymeasure's among them, ask at open)."""
    t.add("*OPT", query=lambda a, s: (need(a, 0), "0")[1])


def panel_commands(t: CommandTree, panel: Any, *, text: bool, rlst: bool) -> None:
    """Declare the display, beeper, remote/local and `*OPT?` commands on `t`; `panel()` gives the Panel
    (a callable, as `*RST` may replace it). `text`: DISP:TEXT exists; `rlst`: SYST:COMM:RLST exists."""
    def display(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        panel().display_on = need(a, 1)[0].boolean()
    t.add("DISPlay[:WINDow][:STATe]", write=display,
          query=lambda a, s: (need(a, 0), "1" if panel().display_on else "0")[1])

    if text:
        def show(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            value = need(a, 1)[0].string()
            if len(value) > TEXT_MAX:
                raise ScpiError(-222, f"{len(value)} characters; the display shows {TEXT_MAX}")
            panel().text = value

        def clear(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            need(a, 0)
            panel().text = ""
        t.add("DISPlay[:WINDow]:TEXT[:DATA]", write=show,
              query=lambda a, s: (need(a, 0), '"' + panel().text.replace('"', '""') + '"')[1])
        t.add("DISPlay[:WINDow]:TEXT:CLEar", write=clear)

    def beep(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
        need(a, 0)  # a simulation has no beeper to sound
    t.add("SYSTem:BEEPer[:IMMediate]", write=beep)

    def word(w: str):
        def write(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            need(a, 0)
            panel().remote = w
        return write
    for long, short in (("REMote", "REM"), ("LOCal", "LOC"), ("RWLock", "RWL")):
        t.add(f"SYSTem:{long}", write=word(short))

    if rlst:
        def rlst_write(a: tuple[Arg, ...], s: tuple[int, ...]) -> None:
            panel().remote = {"LOCAL": "LOC", "REMOTE": "REM", "RWLOCK": "RWL"}[
                need(a, 1)[0].choice("LOCal", "REMote", "RWLock")]
        t.add("SYSTem:COMMunicate:RLSTate", write=rlst_write, query=lambda a, s: (need(a, 0), panel().remote)[1])

    options_query(t)
