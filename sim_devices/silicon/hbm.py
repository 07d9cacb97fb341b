"""One HBM stack: training, memory BIST, ECC counters and its temperature bands (PHYSICS.md §3, §8).

- Training calibrates every channel; a stack with any channel failing calibration is unusable
  (capacity 0 for the stack, so a 4-stack device reports 72 of 96 GiB).
- Temperature bands: refresh x2 above 85 C, x4 (and throttling) from 95 C, CATTRIP at ~105 C.
  CATTRIP latches in the DRAM: the stack stays shut down until power is removed (`power_off`),
  a reset is not enough.
- ECC counters accrue a small background of correctable errors (retention gets worse hot) and
  whatever the chip reports through `add_errors` (the below-Vmin characterization hook).

Temperatures are what the chip passes in: the stack sees only the instants it is asked about, so
the chip should read `status` at each thermal step for CATTRIP to latch on time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bringup.sim_devices.links.serdes import child_rng, config_from_dict


@dataclass(frozen=True)
class HbmConfig:
    """One stack. Times in seconds; (est.) values are estimates."""

    capacity_gib: float = 24.0         # 96 GiB / 4 stacks
    channels: int = 16                 # HBM3: 16 channels per stack
    refresh_x2_c: float = 85.0
    refresh_x4_c: float = 95.0
    throttle_c: float = 95.0
    cattrip_c: float = 105.0
    train_s: float = 0.2               # (est.) calibration of all channels
    bist_s: float = 1.0                # (est.) a march test over 24 GiB
    refresh_overhead: float = 0.04     # (est.) bandwidth refresh takes at x1
    throttle_bandwidth: float = 0.5    # (est.) bandwidth left when throttled
    ce_per_hour: float = 0.01          # (est.) background correctable errors at ce_ref_temp_c
    ce_ref_temp_c: float = 85.0
    ce_doubling_k: float = 10.0        # retention errors double every this many kelvin
    bist_ce_mean: float = 0.05         # (est.) weak cells a BIST finds at ce_ref_temp_c
    bist_ce_limit: int = 16            # (est.) correctable errors a BIST tolerates (repairable)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "HbmConfig":
        """From the sled description's `hbm:` mapping; unknown keys are reported."""
        return config_from_dict(cls, data)


@dataclass(frozen=True)
class HbmTraining:
    """One training pass: per-channel calibration result."""

    passed: bool
    channels: tuple[bool, ...]  # calibration pass per channel
    started_s: float
    done_s: float
    reason: str = ""            # why it failed, for the log


@dataclass(frozen=True)
class HbmBist:
    """One memory BIST run."""

    passed: bool
    ce: int                     # correctable errors found
    ue: int                     # uncorrectable errors found
    started_s: float
    done_s: float
    reason: str = ""


@dataclass(frozen=True)
class HbmStatus:
    """The stack at one instant."""

    trained: bool
    training: bool              # a training pass is in progress
    capacity_gib: float         # 24 when trained, else 0
    refresh_multiplier: int     # 1, 2 or 4
    throttled: bool
    cattrip: bool               # latched until power_off
    ecc_correctable: int
    ecc_uncorrectable: int
    bandwidth_fraction: float   # of nominal, after refresh and throttling (0 when unusable)


class HbmStack:
    """One HBM stack of a chip."""

    FAULTS = ("hbm_train_fail", "below_vmin_errors")

    def __init__(self, cfg: HbmConfig, rng: np.random.Generator) -> None:
        self.cfg = cfg
        self._rng = child_rng(rng)
        self._failing: frozenset[int] = frozenset()  # channels that fail calibration
        self._training: HbmTraining | None = None
        self._cattrip_at: float | None = None
        self._ce = 0
        self._ue = 0
        self._since_bist_ce = 0   # errors reported since the last BIST: the next one finds them
        self._since_bist_ue = 0
        self._acc_t: float | None = None

    # ---- events -------------------------------------------------------------------------

    def hold_reset(self, t: float) -> None:
        """Reset (or power lost): training is lost. CATTRIP stays latched."""
        self._accrue_to(t, None)
        self._training = None

    def power_off(self, t: float) -> None:
        """Power removed: training lost and the CATTRIP latch cleared."""
        self.hold_reset(t)
        self._cattrip_at = None

    def train(self, t: float, temp_c: float) -> HbmTraining:
        """Calibrate every channel, starting at `t`; the result holds from t + train_s."""
        self._observe(t, temp_c)
        n = self.cfg.channels
        if self._cattrip_at is not None:
            result = HbmTraining(False, (False,) * n, t, t, "CATTRIP latched: power-cycle first")
        else:
            ok = tuple(c not in self._failing for c in range(n))
            bad = [c for c in range(n) if not ok[c]]
            reason = f"calibration failed on channel(s) {bad}" if bad else ""
            result = HbmTraining(all(ok), ok, t, t + self.cfg.train_s, reason)
        self._training = result
        return result

    def bist(self, t: float, temp_c: float) -> HbmBist:
        """A memory BIST from `t`: what it finds and whether the stack passes."""
        self._observe(t, temp_c)
        done = t + self.cfg.bist_s
        if not self._trained(t):
            why = "CATTRIP latched" if self._cattrip_at is not None else "stack not trained"
            return HbmBist(False, 0, 0, t, t, why)
        weak = int(self._rng.poisson(self.cfg.bist_ce_mean * self._heat(temp_c)))
        self._ce += weak
        ce, ue = weak + self._since_bist_ce, self._since_bist_ue
        self._since_bist_ce = self._since_bist_ue = 0
        passed = ue == 0 and ce <= self.cfg.bist_ce_limit
        reason = "" if passed else f"{ce} correctable, {ue} uncorrectable errors"
        return HbmBist(passed, ce, ue, t, done, reason)

    def add_errors(self, ce: int, ue: int) -> None:
        """Errors the chip saw on this stack (e.g. below Vmin): counted, and found by the next
        BIST."""
        if ce < 0 or ue < 0:
            raise ValueError(f"error counts cannot be negative (ce={ce}, ue={ue})")
        self._ce += int(ce)
        self._ue += int(ue)
        self._since_bist_ce += int(ce)
        self._since_bist_ue += int(ue)

    def inject(self, fault: str, **params: Any) -> dict[str, Any]:
        """Inject a fault; returns its ground truth. Faults and parameters:

        - hbm_train_fail(channels=None, **why): those channels (default all) fail calibration
          at every training from now on: the stack ends untrained, capacity 0.
        - below_vmin_errors(ce=0, ue=0): errors as `add_errors`.
        Extra keyword parameters (a `cause`, say) are kept in the ground truth.
        """
        if fault == "hbm_train_fail":
            channels = params.pop("channels", None)
            chans = range(self.cfg.channels) if channels is None else [int(c) for c in channels]
            for c in chans:
                if not 0 <= c < self.cfg.channels:
                    raise ValueError(f"channel {c} out of range 0..{self.cfg.channels - 1}")
            self._failing = self._failing | frozenset(chans)
            return {"fault": fault, "channels": sorted(self._failing),
                    "expected_capacity_gib": 0.0, **params}
        if fault == "below_vmin_errors":
            ce, ue = int(params.pop("ce", 0)), int(params.pop("ue", 0))
            self.add_errors(ce, ue)
            return {"fault": fault, "ce": ce, "ue": ue, **params}
        raise ValueError(f"unknown HBM fault {fault!r}; known: {', '.join(self.FAULTS)}")

    # ---- reading ------------------------------------------------------------------------

    def status(self, t: float, temp_c: float) -> HbmStatus:
        """The stack at `t` at `temp_c` (which also latches CATTRIP if it is hot enough)."""
        self._observe(t, temp_c)
        cfg = self.cfg
        trained = self._trained(t)
        training = (self._training is not None
                    and self._training.started_s <= t < self._training.done_s)
        mult = 4 if temp_c >= cfg.refresh_x4_c else 2 if temp_c >= cfg.refresh_x2_c else 1
        throttled = temp_c >= cfg.throttle_c
        bandwidth = ((1.0 - cfg.refresh_overhead * mult)
                     * (cfg.throttle_bandwidth if throttled else 1.0)) if trained else 0.0
        return HbmStatus(trained=trained, training=training,
                         capacity_gib=cfg.capacity_gib if trained else 0.0,
                         refresh_multiplier=mult, throttled=throttled,
                         cattrip=self._cattrip_at is not None, ecc_correctable=self._ce,
                         ecc_uncorrectable=self._ue, bandwidth_fraction=bandwidth)

    # ---- internals ----------------------------------------------------------------------

    def _trained(self, t: float) -> bool:
        tr = self._training
        return (tr is not None and tr.passed and tr.done_s <= t and self._cattrip_at is None)

    def _heat(self, temp_c: float) -> float:
        return 2.0 ** ((temp_c - self.cfg.ce_ref_temp_c) / self.cfg.ce_doubling_k)

    def _observe(self, t: float, temp_c: float) -> None:
        self._accrue_to(t, temp_c)
        if temp_c >= self.cfg.cattrip_c and self._cattrip_at is None:
            self._cattrip_at = t

    def _accrue_to(self, t: float, temp_c: float | None) -> None:
        """Background correctable errors while trained, at the temperature just read."""
        start = self._acc_t
        self._acc_t = t if start is None else max(t, start)
        if start is None or temp_c is None or t <= start or not self._trained(start):
            return
        hours = (t - start) / 3600.0
        n = int(self._rng.poisson(self.cfg.ce_per_hour * hours * self._heat(temp_c)))
        self._ce += n
        self._since_bist_ce += n
