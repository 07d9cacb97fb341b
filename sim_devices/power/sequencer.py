"""Power sequencing of one chip: rails up in order, down in exact reverse.

Up: enable a rail, wait for its power-good, wait the inter-rail gap, enable the next; a rail
that is not good within the timeout stops the sequence (later rails are never enabled). Down:
disable the last rail, wait until it is below ~10 % of its voltage, then the next (PHYSICS.md §2
safe state). An emergency off (thermal trip, leak, CATTRIP) drops every rail at once.
"""

from __future__ import annotations

from typing import Callable

from bringup.sim_devices.world.agenda import Agenda, Event
from bringup.sim_devices.world.config import BootConfig
from bringup.sim_devices.power.regulator import Regulator

Log = Callable[[float, str, str], None]


class Sequencer:
    """States: off, up, on, down, failed."""

    def __init__(self, chip: int, regulators: list[Regulator], agenda: Agenda, cfg: BootConfig,
                 log: Log, on_all_good: Callable[[float], None]) -> None:
        self.chip = chip
        self.regs = regulators
        self.agenda = agenda
        self.cfg = cfg
        self.log = log
        self.on_all_good = on_all_good
        self.order = list(range(len(regulators)))  # rail indices, in the order they are enabled
        self.state = "off"
        self._step = 0
        self._enabled: list[int] = []
        self._pending: list[Event] = []
        self.history: list[tuple[float, str, str]] = []  # (t, rail, "on"/"off")

    def _cancel(self) -> None:
        for ev in self._pending:
            ev.cancel()
        self._pending = []

    def power_on(self, t: float) -> None:
        """Start the up-sequence (no-op if already up or on)."""
        if self.state in ("up", "on"):
            return
        self._cancel()
        self.state = "up"
        self._step = 0
        self._enabled = []
        self.log(t, "info", f"chip{self.chip}: power-on sequence started")
        self._enable_next(t)

    def _enable_next(self, t: float) -> None:
        if self.state != "up":
            return
        idx = self.order[self._step]
        reg = self.regs[idx]
        self._enabled.append(idx)
        self.history.append((t, reg.name, "on"))
        reg.enable(t)
        step = self._step
        self._pending.append(self.agenda.at(t + self.cfg.pg_timeout_s,
                                            lambda tt: self._timeout(tt, step)))
        if reg.pg:
            self.rail_good(reg, t)

    def rail_good(self, reg: Regulator, t: float) -> None:
        """A regulator reports power-good: advance the sequence if it is the one awaited."""
        if self.state != "up" or self.order[self._step] != reg.index:
            return
        self._step += 1
        if self._step == len(self.order):
            self.state = "on"
            self._cancel()
            self.log(t, "info", f"chip{self.chip}: all rails good")
            self.on_all_good(t)
            return
        self._pending.append(self.agenda.at(t + self.cfg.rail_gap_s, self._enable_next))

    def _timeout(self, t: float, step: int) -> None:
        if self.state == "up" and self._step == step:
            rail = self.regs[self.order[step]].name
            self.state = "failed"
            self.log(t, "error", f"chip{self.chip}: sequencer timeout waiting for {rail} "
                                 "power-good; later rails not enabled")

    def power_off(self, t: float) -> None:
        """Down-sequence in exact reverse of the rails that were enabled."""
        self._cancel()
        if not self._enabled and self.state == "off":
            return
        self.state = "down"
        self.log(t, "info", f"chip{self.chip}: power-off sequence started")
        self._disable_next(t)

    def _disable_next(self, t: float) -> None:
        if self.state != "down":
            return
        if not self._enabled:
            self.state = "off"
            self.log(t, "info", f"chip{self.chip}: all rails off")
            return
        reg = self.regs[self._enabled.pop()]
        self.history.append((t, reg.name, "off"))
        was_delivering = reg.phase_name in ("on", "rise", "current_limit")
        reg.disable(t)
        wait = 0.9 * reg.toff_fall if was_delivering else 0.0
        self._pending.append(self.agenda.at(t + wait, self._disable_next))

    def emergency_off(self, t: float, reason: str) -> None:
        """Hardware power-off: every rail at once, no ordering (trip, leak, CATTRIP, brownout)."""
        self._cancel()
        for reg in reversed(self.regs):
            # a latched-off output stays latched: only an explicit re-arm brings it back
            if reg.phase_name not in ("off", "latched"):
                reg.disable(t, immediate=True)
        self._enabled = []
        if self.state != "off":
            self.log(t, "critical", f"chip{self.chip}: emergency power-off ({reason})")
        self.state = "off"

    def input_lost(self, t: float) -> None:
        """VIN under UV: every regulator stops at once (VIN_UV latched); nothing is sequenced."""
        self._cancel()
        for reg in self.regs:
            reg.vin_lost(t)
        self._enabled = []
        self.state = "off"
