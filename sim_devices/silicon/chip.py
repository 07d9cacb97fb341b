"""One accelerator of the sled: its regulators, sequencer, boot, memory and links.

The chip wires its parts together: regulator events drive the sequencer and the boot state
machine, boot releases PCIe PERST# and trains HBM, and losing any rail drops the chip back to
reset. Continuous physics (power, heat) is vectorized across chips in `engine.py`; this file is
only the discrete behaviour of one chip.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from bringup.sim_devices.world.agenda import Agenda
from bringup.sim_devices.silicon.boot import READY, Boot
from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.power.railbank import RailBank
from bringup.sim_devices.power.regulator import Regulator
from bringup.sim_devices.power.sequencer import Sequencer

# Order rules the sequence monitor enforces: (later rail, rail that must already be good).
ORDER_RULES = (("VDD_SRAM", "VDD_CORE"), ("AVDD_PLL", "VDD_CORE"), ("SERDES_AVDD", "VDD_CORE"),
               ("HBM_VDD", "HBM_VPP"), ("HBM_VDDQ", "HBM_VPP"), ("VDDIO", "VDD_CORE"))


class LinkMaker(Protocol):
    """Builds a chip's PCIe endpoint, mesh ports and HBM stacks (links.LinkFactory is one)."""

    def make(self, chip: int, rng: np.random.Generator) -> tuple[Any, list[Any], list[Any]]: ...


class ChipHost(Protocol):
    """What a chip needs of the sled engine that owns it (engine.Engine is one).

    Declared here, below the engine, so the chip never imports the engine that builds it.
    """

    cfg: SledConfig
    bank: RailBank
    agenda: Agenda
    links: LinkMaker
    sram_ce: np.ndarray
    sram_ue: np.ndarray
    mismatches: np.ndarray

    def input_voltage(self) -> float: ...

    def log(self, t: float, severity: str, text: str) -> None: ...

    def tj(self, chip: int) -> float: ...

    def hbm_temp(self, chip: int) -> float: ...


class Chip:
    """Discrete state of accelerator `index`; `engine` owns the shared arrays and the clock."""

    def __init__(self, index: int, engine: ChipHost, rng: np.random.Generator) -> None:
        self.index = index
        self.engine = engine
        cfg = engine.cfg
        self.regulators = [
            Regulator(rc, index, i, engine.bank, engine.agenda, self._rail_event, engine.input_voltage)
            for i, rc in enumerate(cfg.rails)]
        self.by_name = {r.name: r for r in self.regulators}
        self.sequencer = Sequencer(index, self.regulators, engine.agenda, cfg.boot, engine.log,
                                   self._all_rails_good)
        self.boot = Boot(index, cfg.boot, engine.agenda, self)
        self.pcie, self.mesh, self.hbm = engine.links.make(index, rng)
        self.tripped = ""            # "thermal trip", "HBM CATTRIP", ... until the next power-on
        self.sequence_damage: list[str] = []
        self.hbm_results: list[object] = []

    # -- regulator and sequencer events ----------------------------------------------------------
    def _rail_event(self, reg: Regulator, t: float, what: str) -> None:
        eng = self.engine
        if what == "pg":
            self.sequencer.rail_good(reg, t)
            if (self.sequencer.state == "on" and self.boot.state == "off"
                    and all(r.pg for r in self.regulators)):
                eng.log(t, "warning", f"chip{self.index}: all rails good again, rebooting")
                self.boot.power_good(t)
        elif what == "enable":
            self._check_order(reg, t)
        elif what in ("pg_lost", "fault_off"):
            if self.boot.state != "off":
                eng.log(t, "error", f"chip{self.index}: {reg.name} power lost ({what}); chip reset")
                self.boot.power_lost(t, f"{reg.name} power lost")
        elif what in ("oc_fault", "ov_fault", "uv_fault", "ot_fault", "ton_max"):
            eng.log(t, "error", f"chip{self.index}: {reg.name} {what.replace('_', ' ').upper()}")
        elif what in ("oc_warn",):
            eng.log(t, "warning", f"chip{self.index}: {reg.name} OC warning")
        elif what == "ot_restart":
            eng.log(t, "warning", f"chip{self.index}: {reg.name} cooled, restarting")

    def _check_order(self, reg: Regulator, t: float) -> None:
        """The sequence monitor: a rail enabled before the one it depends on is a violation."""
        for later, first in ORDER_RULES:
            if reg.name == later and first in self.by_name and not self.by_name[first].pg:
                self.engine.log(t, "error", f"chip{self.index}: sequence violation: {later} "
                                            f"enabled before {first} was good")
                self._violation_damage(later, first, t)

    def _violation_damage(self, later: str, first: str, t: float) -> None:
        eng = self.engine
        if later == "VDDIO":
            # I/O pads back-power the unpowered core through their ESD diodes: an inrush spike.
            r = self.by_name["VDDIO"].index
            eng.bank.iout_peak[self.index, r] = max(eng.bank.iout_peak[self.index, r],
                                                    3.0 * eng.bank.oc_warn[self.index, r])
            self.by_name["VDDIO"].status_iout |= 0x20
            self.sequence_damage.append("inrush on VDDIO")
        elif later.startswith("HBM"):
            self.sequence_damage.append(f"{later} before {first}: HBM PHY latched up")
            for s, stack in enumerate(self.hbm):
                stack.inject("hbm_train_fail", cause="sequencing")
        elif later == "AVDD_PLL":
            self.sequence_damage.append("AVDD_PLL before VDD_CORE: PLL will not lock")
            self.boot.spoil_pll_supply()

    def _all_rails_good(self, t: float) -> None:
        self.boot.power_good(t)

    # -- boot hooks ------------------------------------------------------------------------------
    def log(self, t: float, severity: str, text: str) -> None:
        self.engine.log(t, severity, text)

    def release_perst(self, t: float, refclk_ok: bool) -> None:
        self.pcie.release_reset(t, refclk_ok=refclk_ok)

    def booted(self, t: float) -> None:
        self.train_hbm(t)
        for port in self.mesh:
            port.release_reset(t)

    def reset_asserted(self, t: float) -> None:
        self.pcie.hold_reset(t)
        for port in self.mesh:
            port.hold_reset(t)
        for stack in self.hbm:
            stack.hold_reset(t)

    def powered_off(self, t: float) -> None:
        for stack in self.hbm:
            stack.power_off(t)   # clears a latched CATTRIP, as a power cycle does
        # the core's error and golden-compare counters count "since power-on": a power cycle clears them
        eng, c = self.engine, self.index
        eng.sram_ce[c] = eng.sram_ue[c] = eng.mismatches[c] = 0

    # -- memory ----------------------------------------------------------------------------------
    def train_hbm(self, t: float) -> list[object]:
        temp = self.engine.hbm_temp(self.index)
        self.hbm_results = [stack.train(t, temp) for stack in self.hbm]
        for s, result in enumerate(self.hbm_results):
            if not getattr(result, "passed", True):
                why = getattr(result, "reason", "")
                self.engine.log(t, "error", f"chip{self.index}: HBM stack {s} training failed: {why}")
        return self.hbm_results

    # -- health ----------------------------------------------------------------------------------
    def problems(self, t: float) -> list[str]:
        """Everything that makes this chip unhealthy right now (empty: nothing known wrong)."""
        out: list[str] = []
        if self.tripped:
            out.append(self.tripped)
        if self.sequencer.state == "failed":
            out.append("power sequence failed")
        out += [f"{r.name} {r.phase_name}" for r in self.regulators
                if r.phase_name in ("latched", "hiccup", "cooldown", "current_limit")]
        if self.boot.state in ("failed", "hung"):
            out.append(self.boot.reason)
        if self.boot.state == READY:
            temp = self.engine.hbm_temp(self.index)
            for s, stack in enumerate(self.hbm):
                st = stack.status(t, temp)
                if not st.trained and not st.training:
                    out.append(f"HBM stack {s} not trained")
                if st.cattrip:
                    out.append(f"HBM stack {s} CATTRIP")
                if st.ecc_uncorrectable:
                    out.append(f"HBM stack {s} uncorrectable ECC")
            ps = self.pcie.status(t, self.engine.tj(self.index))
            if not ps.link_up:
                out.append("PCIe link down")
        if self.engine.sram_ue[self.index]:
            out.append("uncorrectable core errors")
        return out
