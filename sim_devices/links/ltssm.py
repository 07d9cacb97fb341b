"""The PCIe LTSSM's schedules: which states a link passes through, and for how long, after an event.

PHYSICS.md §5. Training (PERST# released, or the link lost): Detect.Quiet (12 ms) ->
Detect.Active -> Polling.Active (1024 TS1) -> Polling.Configuration -> Configuration.* -> L0 at
2.5 GT/s, then directed speed changes through Recovery.{RcvrLock, RcvrCfg, Speed, Equalization
phases 0-3} up to the capable rate. A retrain or a flap won back passes through Recovery from L0.

A schedule is built whole when its event happens, as `(steps, final)`: `steps` are
[(duration, state), ...] one after another and `final` holds until the next event; with no
`final` the training never completes and `steps` repeat forever. Outcomes come from the lanes:
the caller says which lanes see a receiver and whether equalization at a rate reaches
`eq_fail_ber` (`Equalize`); this module only knows the state machine and its timings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from bringup.sim_devices.links.pcie_config import PcieConfig
from bringup.sim_devices.links.serdes import negotiate_lanes


@dataclass(frozen=True)
class LinkState:
    """One entry of the LTSSM timeline."""

    ltssm: str
    up: bool = False                  # data link up (L0, and Recovery entered from L0)
    speed_gts: float = 0.0
    width: int = 0
    lanes: tuple[int, ...] = ()       # physical lanes in the link
    presets: tuple[str | None, ...] = ()  # per physical lane, from 8 GT/s on
    in_reset: bool = False


Steps = list[tuple[float, LinkState]]
Schedule = tuple[Steps, LinkState | None]
# (rate, lanes) -> (whether every lane reaches eq_fail_ber, the TX preset per physical lane)
Equalize = Callable[[float, tuple[int, ...]], tuple[bool, tuple[str | None, ...]]]


class Ltssm:
    """The schedules of an endpoint with configuration `cfg`."""

    def __init__(self, cfg: PcieConfig) -> None:
        self.cfg = cfg

    def training(self, alive: list[bool], refclk_ok: bool, equalize: Equalize) -> Schedule:
        """From Detect to L0 at the best rate equalization allows. `alive`: which lanes see a
        receiver; a lane without one drops out (x16 trains as x8), none at all loops in Detect,
        and with no refclk the link loops through Detect and Polling."""
        cfg = self.cfg
        dq, da = LinkState("Detect.Quiet"), LinkState("Detect.Active")
        if not refclk_ok:  # our PLL has no clock: receivers seen, no TS1 ever sent
            return [(cfg.detect_quiet_s, dq), (cfg.detect_active_s, da),
                    (cfg.polling_active_timeout_s, LinkState("Polling.Active"))], None
        if not any(alive):  # no far-end termination at all
            return [(cfg.detect_quiet_s, dq), (cfg.detect_active_s, da)], None
        ts_2g5 = 16 * 10 / 2.5e9  # one TS1/TS2 ordered set at 2.5 GT/s (16 symbols, 8b/10b)
        steps = [(cfg.detect_quiet_s, dq), (cfg.detect_active_s, da)]
        if not all(alive):  # Detect runs twice when only some lanes see a receiver
            steps += [(cfg.detect_quiet_s, dq), (cfg.detect_active_s, da)]
        steps += [(cfg.polling_ts1_count * ts_2g5, LinkState("Polling.Active")),
                  ((cfg.polling_ts2_count + 8) * ts_2g5, LinkState("Polling.Configuration"))]
        lanes = negotiate_lanes(alive, cfg.lane_reversal)
        width = len(lanes)
        if width == 0:  # no usable lane group: Configuration times out, back to Detect
            steps.append((cfg.linkwidth_start_timeout_s,
                          LinkState("Configuration.Linkwidth.Start")))
            return steps, None
        wait = cfg.lanenum_wait_timeout_s if width < cfg.lanes else 0.0
        for sub, d in (("Linkwidth.Start", 0.0), ("Linkwidth.Accept", 0.0),
                       ("Lanenum.Wait", wait), ("Lanenum.Accept", 0.0), ("Complete", 0.0),
                       ("Idle", 0.0)):
            steps.append((max(d, cfg.config_substate_s), LinkState("Configuration." + sub)))
        link = LinkState("L0", up=True, speed_gts=2.5, width=width, lanes=lanes)
        for rate in self._speed_ladder():
            ok, presets = equalize(rate, lanes) if rate >= 8.0 else (True, ())
            up = replace(link, speed_gts=rate, presets=presets if ok else link.presets)
            steps += [(cfg.speed_change_delay_s, link),
                      (cfg.recovery_rcvrlock_s, replace(link, ltssm="Recovery.RcvrLock")),
                      (cfg.recovery_rcvrcfg_s, replace(link, ltssm="Recovery.RcvrCfg")),
                      (cfg.recovery_speed_s, replace(link, ltssm="Recovery.Speed")),
                      (cfg.recovery_rcvrlock_s, replace(up, ltssm="Recovery.RcvrLock"))]
            if rate >= 8.0:
                steps += self._eq_steps(up, ok)
            if not ok:
                steps += self._fallback_steps(link)
                break
            link = up
            steps += self._exit_recovery_steps(link)
        return steps, link

    def retraining(self, now: LinkState, equalize: Equalize | None) -> Schedule:
        """Retrain Link from L0 `now`: Recovery and back at the same speed and width. With
        `equalize` (from 8 GT/s), equalization is redone and a failure falls back one rate."""
        if equalize is None or now.speed_gts < 8.0:
            return self.recovery(now)
        ok, presets = equalize(now.speed_gts, now.lanes)
        steps = [(self.cfg.recovery_rcvrlock_s, replace(now, ltssm="Recovery.RcvrLock"))]
        steps += self._eq_steps(now, ok)
        if ok:
            final = replace(now, presets=presets)
            return steps + self._exit_recovery_steps(final), final
        final = replace(now, speed_gts=self._lower_rate(now.speed_gts))
        if final.speed_gts < 8.0:
            final = replace(final, presets=())
        return steps + self._fallback_steps(final), final

    def recovery(self, now: LinkState) -> Schedule:
        """L0 `now` through Recovery and back as it was (a retrain, or a lost lock won back)."""
        return self._exit_recovery_steps(now), now

    def _eq_steps(self, link: LinkState, ok: bool) -> Steps:
        cfg = self.cfg
        d = list(cfg.eq_phase_s)
        if not ok:  # phase 2 searches presets until the timeout, then gives up
            d[2] = cfg.eq_phase_timeout_s
        return [(d[k], replace(link, ltssm=f"Recovery.Equalization.Phase{k}"))
                for k in range(4 if ok else 3)]

    def _exit_recovery_steps(self, link: LinkState) -> Steps:
        cfg = self.cfg
        return [(cfg.recovery_rcvrlock_s, replace(link, ltssm="Recovery.RcvrLock")),
                (cfg.recovery_rcvrcfg_s, replace(link, ltssm="Recovery.RcvrCfg")),
                (cfg.recovery_idle_s, replace(link, ltssm="Recovery.Idle"))]

    def _fallback_steps(self, lower: LinkState) -> Steps:
        """Failed equalization: back through Recovery.Speed to the previous rate."""
        return ([(self.cfg.recovery_speed_s, replace(lower, ltssm="Recovery.Speed"))]
                + self._exit_recovery_steps(lower))

    def _speed_ladder(self) -> list[float]:
        # Equalization at 8 GT/s must precede 16 and 32, so 5 GT/s is skipped above Gen2.
        cap, rates = self.cfg.capable_gts, sorted(self.cfg.rx_eq_max_db)
        low = 8.0 if cap >= 8.0 else 2.5
        return [r for r in rates if low <= r <= cap and r > 2.5]

    def _lower_rate(self, rate: float) -> float:
        return max((r for r in self.cfg.rx_eq_max_db if r < rate), default=2.5)
