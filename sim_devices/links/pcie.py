"""The chip's PCIe endpoint: LTSSM, negotiated speed and width, AER counters, lane margining.

Simulation grain of PHYSICS.md §5. When PERST# is released the whole training is scheduled on
the link's timeline at once (the states and their timings are `ltssm`'s). What the training
achieves is decided by the lanes' physics (`serdes`) at the training temperature: lanes with no
receiver drop out (x16 trains as x8), equalization that cannot reach `eq_fail_ber` at 16/32 GT/s
falls back one generation, no refclk loops Detect/Polling forever. Later events (reset, retrain,
a flap, a lane dying in L0) cut the schedule and append their own (`link_timeline`).
Error counters accrue lazily from the lanes' true BER over the time the link was up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from bringup.sim_devices.links.link_timeline import LinkTimeline
from bringup.sim_devices.links.ltssm import Equalize, LinkState, Ltssm
from bringup.sim_devices.links.pcie_config import PcieConfig
from bringup.sim_devices.links.serdes import Eye, LaneMargin, LaneSample, TxPreset, best_preset, check_lane, draw_link, lane_eye, margin_of, negotiate_lanes, solve_extra_loss


@dataclass(frozen=True)
class PcieStatus:
    """What the host (lspci, AER, the LTSSM debug register) sees at one instant."""

    ltssm: str
    link_up: bool
    speed_gts: float
    width: int
    capable_gts: float
    capable_width: int
    aer_correctable: int
    aer_uncorrectable: int
    link_down_count: int
    presets: tuple[str | None, ...]
    in_reset: bool
    lanes: tuple[int, ...]
    degraded: bool            # up, but below the capable speed or width
    bandwidth_notice: str     # the line Linux prints about this link


def bandwidth_notice(speed_gts: float, width: int, capable_gts: float, capable_width: int) -> str:
    """As Linux prints it (drivers/pci/pci.c, __pcie_print_link_status)."""
    now = _mbps(speed_gts) * width / 1e3
    cap = _mbps(capable_gts) * capable_width / 1e3
    text = f"{now:.3f} Gb/s available PCIe bandwidth"
    if now < cap:
        text += f", limited by {speed_gts:.1f} GT/s PCIe x{width} link"
    return text + (f" (capable of {cap:.3f} Gb/s with {capable_gts:.1f} GT/s "
                   f"PCIe x{capable_width} link)")


def _mbps(gts: float) -> int:
    # 8b/10b up to 5 GT/s, 128b/130b from 8 GT/s; Linux rounds per lane to Mb/s.
    return round(gts * 1000 * (0.8 if gts < 8 else 128 / 130))


class MarginUnavailable(RuntimeError):
    """Lane margining needs the link in L0 at 16 GT/s or more, on a lane of the link."""


class PcieEndpoint:
    """The PCIe link of one chip, advanced lazily on the sled's clock."""

    FAULTS = ("dead_lane", "marginal_lane", "link_flap")

    def __init__(self, cfg: PcieConfig, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self._eye = cfg.eye_params()
        self._ltssm = Ltssm(cfg)
        self._lanes, self._noise_rng, self._flap_rng = draw_link(cfg, rng)
        self._presets = {p.name: p for p in cfg.presets}
        self._timeline: LinkTimeline[LinkState] = LinkTimeline(
            LinkState("Detect.Quiet", in_reset=True), self._flap_rng, self._flap)
        self._refclk_ok = True
        self._downs = self._timeline.event_log()      # unexpected link downs (also Surprise Down)
        self._recovered = self._timeline.event_log()  # flaps won back in Recovery: a correctable
        self._rx_errors = 0
        self._acc_t = 0.0                   # receiver errors accrued up to here
        self._last_temp = cfg.train_temp_c
        self._ber_cache: dict[tuple, float] = {}

    # ---- events -------------------------------------------------------------------------

    def hold_reset(self, t: float) -> None:
        """PERST# asserted (or power lost): link down, LTSSM held in Detect.Quiet."""
        self._timeline.restart(t)
        self._timeline.add(t, LinkState("Detect.Quiet", in_reset=True))

    def release_reset(self, t: float, refclk_ok: bool = True,
                      temp_c: float | None = None) -> None:
        """PERST# released at `t`: training starts (at `temp_c`, default the last known)."""
        self._refclk_ok = refclk_ok
        self._timeline.restart(t)
        self._schedule_training(t, self._temp(temp_c))

    def retrain(self, t: float, temp_c: float | None = None, equalize: bool = False) -> None:
        """The host sets Retrain Link: L0 -> Recovery -> L0 at the same speed and width.

        `equalize` also redoes equalization (and falls back a generation if it fails). A lane
        that died since training makes Recovery time out: link down and a full retrain. Ignored
        unless the link is settled in L0 (as the LTSSM ignores it).
        """
        self._timeline.advance(t)
        now = self._timeline.at(t)
        if now.ltssm != "L0" or not self._timeline.settled(t):
            return
        temp = self._temp(temp_c)
        if any(self._lanes[i].dead for i in now.lanes):
            self._lose_link(t, temp)
            return
        self._timeline.schedule(t, *self._ltssm.retraining(
            now, self._equalizer(temp) if equalize else None))

    def inject(self, fault: str, **params: Any) -> dict[str, Any]:
        """Inject a fault; returns its ground truth. Faults and parameters:

        - dead_lane(lane, t=None): no receiver on `lane`. Seen at the next training; with `t`,
          a lane of a link in L0 dies at `t` (Recovery times out, link down, retrain).
        - marginal_lane(lane, extra_loss_db=None, t=None): extra loss on `lane`, worse hot. By
          default the loss that gives `marginal_target_ber` at `marginal_ref_temp_c` at the
          capable rate (with the preset equalization picks: the ground truth). A link trained
          before runs on its old preset until it re-equalizes: with `t`, at once (the errors
          send it through Recovery with equalization at `t`), else at the next training.
        - link_flap(rate_per_hour, t=None): intermittent loss of lock (Poisson), from `t`.
        """
        if fault == "dead_lane":
            lane = self._alter_lane(params["lane"], dead=True)
            t = params.get("t")
            if t is not None and self._timeline.carries(lane, t):
                self._lose_link(t, self._last_temp)
            alive = [not s.dead for s in self._lanes]
            width = len(negotiate_lanes(alive, self.cfg.lane_reversal))
            return {"fault": fault, "lane": lane, "expected_width": width}
        if fault == "marginal_lane":
            lane = check_lane(params["lane"], self.cfg.lanes)
            extra = params.get("extra_loss_db")
            rate, temp = self.cfg.capable_gts, self.cfg.marginal_ref_temp_c
            if extra is None:
                extra = solve_extra_loss(
                    lambda x: self._best_ber(replace(self._lanes[lane], extra_loss_db=x),
                                             rate, temp), self.cfg.marginal_target_ber)
            self._alter_lane(lane, extra_loss_db=float(extra))
            if params.get("t") is not None:
                self.retrain(float(params["t"]), equalize=True)
            return {"fault": fault, "lane": lane, "extra_loss_db": float(extra),
                    "ref_temp_c": temp, "ber_at_ref": self._best_ber(self._lanes[lane], rate,
                                                                     temp)}
        if fault == "link_flap":
            rate, start = float(params["rate_per_hour"]), float(params.get("t", self._acc_t))
            self._timeline.start_flaps(rate, start)
            return {"fault": fault, "rate_per_hour": rate, "start": start,
                    "recover_prob": self.cfg.flap_recover_prob}
        raise ValueError(f"unknown PCIe fault {fault!r}; known: {', '.join(self.FAULTS)}")

    # ---- reading ------------------------------------------------------------------------

    def status(self, t: float, temp_c: float) -> PcieStatus:
        """The link at time `t`, counters accrued at `temp_c` since the last reading."""
        self._timeline.advance(t)
        self._accrue(t, temp_c)
        now = self._timeline.at(t)
        downs = self._downs.count(t)
        cap_gts, cap_width = self.cfg.capable_gts, self.cfg.lanes
        return PcieStatus(
            ltssm=now.ltssm, link_up=now.up, speed_gts=now.speed_gts, width=now.width,
            capable_gts=cap_gts, capable_width=cap_width,
            aer_correctable=self._rx_errors + self._recovered.count(t),
            aer_uncorrectable=downs, link_down_count=downs,
            presets=now.presets or (None,) * self.cfg.lanes, in_reset=now.in_reset,
            lanes=now.lanes,
            degraded=now.up and (now.speed_gts < cap_gts or now.width < cap_width),
            bandwidth_notice=bandwidth_notice(now.speed_gts, now.width, cap_gts, cap_width))

    def trace(self, t: float) -> list[tuple[float, str]]:
        """LTSSM transitions up to `t` (the last `trace_limit` of them)."""
        self._timeline.advance(t)
        out: list[tuple[float, str]] = []
        last: tuple[str, bool] | None = None
        for when, state in self._timeline.entries(t, self.cfg.trace_limit):
            if (state.ltssm, state.in_reset) != last:
                out.append((when, state.ltssm))
                last = (state.ltssm, state.in_reset)
        return out

    def margin(self, lane: int, t: float, temp_c: float) -> LaneMargin:
        """Lane margining at the receiver: timing (% UI) and voltage (mV) at `margin_ber`."""
        lane = check_lane(lane, self.cfg.lanes)
        self._timeline.advance(t)
        now = self._timeline.at(t)
        if now.ltssm != "L0" or now.speed_gts < self.cfg.margin_min_gts:
            raise MarginUnavailable(f"lane margining needs L0 at >= {self.cfg.margin_min_gts} "
                                    f"GT/s; the link is in {now.ltssm} at {now.speed_gts} GT/s")
        if lane not in now.lanes:
            raise MarginUnavailable(f"lane {lane} is not part of the x{now.width} link "
                                    f"(lanes {list(now.lanes)})")
        eye = self.eye(lane, now.speed_gts, self._preset_for(now, lane), temp_c)
        return margin_of(eye, lane, self.cfg.margin_ber, self.cfg.margin_pass_pct_ui)

    def eye(self, lane: int, rate_gts: float, preset: TxPreset, temp_c: float) -> Eye:
        """The eye of physical `lane` at a rate with a TX preset (for diagnostics and tests)."""
        return self._sample_eye(self._lanes[lane], rate_gts, preset, temp_c)

    def _sample_eye(self, sample: LaneSample, rate: float, preset: TxPreset, temp: float) -> Eye:
        return lane_eye(self._eye, sample, rate_gbd=rate, freq_scale=self._freq_scale(rate),
                        rx_max_db=self.cfg.rx_eq_max_db[rate], preset=preset, temp_c=temp)

    # ---- training -----------------------------------------------------------------------

    def _schedule_training(self, t: float, temp: float) -> None:
        alive = [not s.dead for s in self._lanes]
        self._timeline.schedule(t, *self._ltssm.training(alive, self._refclk_ok,
                                                         self._equalizer(temp)))

    def _equalizer(self, temp: float) -> Equalize:
        # the LTSSM decides when to equalize; the lanes at the training temperature decide how
        return lambda rate, lanes: self._equalize(rate, lanes, temp)

    def _equalize(self, rate: float, lanes: tuple[int, ...],
                  temp: float) -> tuple[bool, tuple[str | None, ...]]:
        """Best preset per lane at `rate`; fails if any lane stays above eq_fail_ber."""
        presets: list[str | None] = [None] * self.cfg.lanes
        worst = 0.0
        for i in lanes:
            pr = self._best_preset(self._lanes[i], rate, temp)
            presets[i] = pr.name
            worst = max(worst, self.eye(i, rate, pr, temp).ber())
        return worst <= self.cfg.eq_fail_ber, tuple(presets)

    def _best_preset(self, sample: LaneSample, rate: float, temp: float) -> TxPreset:
        loss = sample.loss_db(self._eye, temp, self._freq_scale(rate))
        return best_preset(self.cfg.presets, loss, self.cfg.rx_eq_max_db[rate],
                           self.cfg.rx_eq_pref_db[rate])

    def _best_ber(self, sample: LaneSample, rate: float, temp: float) -> float:
        """The BER equalization would leave on a lane: what a fault's ground truth quotes."""
        return self._sample_eye(sample, rate, self._best_preset(sample, rate, temp), temp).ber()

    def _alter_lane(self, lane: Any, **fault: Any) -> int:
        lane = check_lane(lane, self.cfg.lanes)
        self._lanes[lane] = replace(self._lanes[lane], **fault)  # a fault on the lane as made
        self._ber_cache.clear()  # it held the BERs of the lane as it was
        return lane

    def _preset_for(self, link: LinkState, lane: int) -> TxPreset:
        name = link.presets[lane] if link.presets else None
        if name is None or link.speed_gts < 8.0:
            return TxPreset("de-emphasis", 0.0, self.cfg.gen12_deemphasis_db)
        return self._presets[name]

    def _freq_scale(self, rate: float) -> float:
        return (rate / self.cfg.loss_spec_gts) ** self.cfg.loss_freq_exponent

    # ---- lazy evolution -----------------------------------------------------------------

    def _lose_link(self, t: float, temp: float) -> None:
        """Lock lost in L0 for good: Recovery times out, link down, full training."""
        now = self._timeline.at(t)
        self._timeline.add(t, replace(now, ltssm="Recovery.RcvrLock"))
        down = t + self.cfg.recovery_rcvrlock_timeout_s
        self._downs.record(down)
        self._schedule_training(down, temp)

    def _flap(self, t: float) -> bool:
        """Lock lost at `t` on a settled link: won back in Recovery, or the link goes down."""
        now = self._timeline.at(t)
        if now.ltssm != "L0":
            return False
        if self._flap_rng.random() < self.cfg.flap_recover_prob:
            self._recovered.record(t)
            self._timeline.schedule(t, *self._ltssm.recovery(now))
        else:
            self._lose_link(t, self._last_temp)
        return True

    def _accrue(self, t: float, temp_c: float) -> None:
        """Receiver errors over (last reading, t]: Poisson with the lanes' BER at `temp_c`."""
        self._last_temp = temp_c
        if t <= self._acc_t:
            return
        expected = 0.0
        for lo, hi, state in self._timeline.spans(self._acc_t, t):
            if state.up:
                # a steady link at a steady temperature repeats the same sum: cache it (at
                # 0.01 K, far finer than the lanes' temperature dependence)
                key = (state.speed_gts, state.lanes, state.presets, round(temp_c, 2))
                if key not in self._ber_cache:
                    if len(self._ber_cache) > 4096:
                        self._ber_cache.clear()
                    self._ber_cache[key] = sum(
                        self.eye(i, state.speed_gts, self._preset_for(state, i), temp_c).ber()
                        for i in state.lanes)
                expected += state.speed_gts * 1e9 * (hi - lo) * self._ber_cache[key]
        self._acc_t = t
        if expected > 0:
            self._rx_errors += int(self._noise_rng.poisson(expected))

    def _temp(self, temp_c: float | None) -> float:
        return self._last_temp if temp_c is None else float(temp_c)
