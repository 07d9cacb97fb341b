"""SerDes lane physics shared by the PCIe endpoint and the mesh ports (PHYSICS.md §5).

A lane is a channel with an insertion loss at Nyquist, a transmitter with a FIR preset, and a
receiver whose CTLE/DFE adapts continuously within its range. What the receiver cannot undo
(more loss than TX preset + RX range can equalize, or a preset that already over-equalizes the
channel) is residual ISI; it closes the eye. The eye is a dual-Dirac model:

- timing: deterministic jitter DJ (grows with residual ISI) and Gaussian random jitter sigma_RJ;
  eye width at BER b is `UI - DJ - 2*Qinv(b)*sigma_RJ` (14.07*sigma_RJ at 1e-12);
- vertical: a signal-to-noise Q that sets an error floor, negligible for a healthy NRZ lane and
  what limits a PAM4 lane (raw BER 1e-5..1e-4 by design; FEC cleans it up);
- the BER at the optimum sampling point is the sum of both.

Loss rises with temperature (dielectric and copper), so a lane the receiver can no longer fully
equalize gets worse hot; a healthy lane's receiver tracks the drift. The TX preset is chosen once,
at equalization, as the one leaving the least residual ISI with the receiver nearest its preferred
operating point: so the best preset depends on the channel loss, and a lossy lane ends on an
extreme preset (P7/P10: all the boost the table has).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Callable, TypeVar

import numpy as np
from scipy.optimize import brentq
from scipy.special import ndtr, ndtri


@dataclass(frozen=True)
class TxPreset:
    """A transmitter FIR setting: preshoot (pre-cursor boost) and de-emphasis (post-cursor), dB."""

    name: str
    preshoot_db: float
    deemphasis_db: float  # <= 0

    @property
    def boost_db(self) -> float:
        """High-frequency boost relative to the low-frequency level."""
        return self.preshoot_db - self.deemphasis_db


# PCIe 3.0+ TX presets (PHYSICS.md §5). The mesh uses the same table (a simplification).
PCIE_TX_PRESETS: tuple[TxPreset, ...] = (
    TxPreset("P0", 0.0, -6.0), TxPreset("P1", 0.0, -3.5), TxPreset("P2", 0.0, -4.4),
    TxPreset("P3", 0.0, -2.5), TxPreset("P4", 0.0, 0.0), TxPreset("P5", 1.9, 0.0),
    TxPreset("P6", 2.5, 0.0), TxPreset("P7", 3.5, -6.0), TxPreset("P8", 3.5, -3.5),
    TxPreset("P9", 3.5, 0.0), TxPreset("P10", 0.0, -9.5),
)

LEVELS = {"NRZ": 2, "PAM4": 4}


def q_function(x: float) -> float:
    """Gaussian tail probability P(N(0,1) > x)."""
    return float(ndtr(-x))


def q_inverse(p: float) -> float:
    """x such that Q(x) = p (7.034 for 1e-12)."""
    return float(-ndtri(p))


@dataclass(frozen=True)
class EyeParams:
    """The physics of one kind of lane; each link's config fills these from its own fields."""

    modulation: str          # "NRZ" or "PAM4"
    dj_base_ui: float        # deterministic jitter with no residual ISI
    dj_per_db_ui: float      # DJ added per dB of residual ISI
    rj_rms_ps: float         # random jitter at the receiver (CDR included)
    snr_base_db: float       # vertical SNR (20*log10 of the noise Q) with no residual ISI
    snr_per_db: float        # SNR lost per dB of residual ISI
    snr_tempco_db_per_k: float
    rj_tempco_per_k: float
    amplitude_mv: float      # (inner) eye amplitude at the slicer
    loss_ref_temp_c: float   # channel_loss_db is specified at this temperature
    loss_tempco_per_k: float  # relative insertion-loss increase per kelvin
    margin_ber: float        # the BER at which margins (eye width/height) are quoted

    @classmethod
    def of(cls, modulation: str, cfg: Any) -> "EyeParams":
        """From a link config (`PcieConfig`, `MeshConfig`) that names these fields alike."""
        return cls(modulation, **{f.name: getattr(cfg, f.name) for f in fields(cls)
                                  if f.name != "modulation"})


@dataclass(frozen=True)
class LaneSample:
    """One physical lane as manufactured (drawn once per link) plus the faults injected on it."""

    base_loss_db: float      # at the link's top rate and the reference temperature
    rj_scale: float = 1.0
    dj_offset_ui: float = 0.0
    snr_offset_db: float = 0.0
    extra_loss_db: float = 0.0  # a marginal-lane fault: a bad connector, via or cable
    dead: bool = False          # no receiver detected / no signal

    def loss_db(self, p: EyeParams, temp_c: float, freq_scale: float) -> float:
        """Insertion loss at this rate's Nyquist frequency and this temperature."""
        hot = 1.0 + p.loss_tempco_per_k * (temp_c - p.loss_ref_temp_c)
        return (self.base_loss_db + self.extra_loss_db) * hot * freq_scale


def residual_db(loss_db: float, boost_db: float, rx_max_db: float) -> float:
    """ISI left after TX boost and an RX that adapts anywhere in [0, rx_max_db]."""
    rx_needed = loss_db - boost_db
    return max(0.0, rx_needed - rx_max_db) + max(0.0, -rx_needed)


def best_preset(presets: tuple[TxPreset, ...], loss_db: float, rx_max_db: float,
                rx_pref_db: float) -> TxPreset:
    """Equalization's pick: least residual ISI, then the RX nearest its preferred boost."""
    return min(presets, key=lambda pr: (residual_db(loss_db, pr.boost_db, rx_max_db),
                                        abs(loss_db - pr.boost_db - rx_pref_db)))


@dataclass(frozen=True)
class Eye:
    """A lane's eye at one rate, preset and temperature (times in UI)."""

    ui_ps: float
    dj_ui: float
    rj_ui: float
    snr_q: float
    levels: int
    amplitude_mv: float
    loss_db: float
    residual_db: float
    preset: str

    @property
    def _bits_per_symbol_error(self) -> float:
        # Gray-coded M-PAM: symbol errors per symbol 2(M-1)/M * Q, one bit wrong each, log2(M) bits.
        return 2 * (self.levels - 1) / self.levels / math.log2(self.levels)

    def vertical_ber(self) -> float:
        return self._bits_per_symbol_error * q_function(self.snr_q)

    def timing_ber(self) -> float:
        return q_function((1.0 - self.dj_ui) / (2.0 * self.rj_ui))

    def ber(self) -> float:
        """BER at the optimum sampling point: the lane's true BER."""
        return min(0.5, self.vertical_ber() + self.timing_ber())

    def width_ui(self, ber: float) -> float:
        """Eye width at `ber` (0 when even the centre fails it)."""
        left = min(ber, 0.5) - self.vertical_ber()
        if left <= 0:
            return 0.0
        return max(0.0, 1.0 - self.dj_ui - 2.0 * q_inverse(left) * self.rj_ui)

    def height_mv(self, ber: float) -> float:
        """Eye height at `ber` at the centre of the eye (0 when the eye is closed)."""
        if self.width_ui(ber) <= 0:
            return 0.0
        q_needed = q_inverse(min(0.5, ber / self._bits_per_symbol_error))
        return max(0.0, self.amplitude_mv * (1.0 - q_needed / self.snr_q))


def lane_eye(p: EyeParams, lane: LaneSample, *, rate_gbd: float, freq_scale: float,
             rx_max_db: float, preset: TxPreset, temp_c: float) -> Eye:
    """The eye of `lane` at a symbol rate, with `preset` fixed and the receiver adapted."""
    loss = lane.loss_db(p, temp_c, freq_scale)
    resid = residual_db(loss, preset.boost_db, rx_max_db)
    ui_ps = 1e3 / rate_gbd
    hot = temp_c - p.loss_ref_temp_c
    rj_ps = p.rj_rms_ps * lane.rj_scale * (1.0 + p.rj_tempco_per_k * hot)
    snr_db = (p.snr_base_db + lane.snr_offset_db - p.snr_per_db * resid
              - p.snr_tempco_db_per_k * hot)
    return Eye(ui_ps=ui_ps, dj_ui=p.dj_base_ui + lane.dj_offset_ui + p.dj_per_db_ui * resid,
               rj_ui=rj_ps / ui_ps, snr_q=10 ** (snr_db / 20), levels=LEVELS[p.modulation],
               amplitude_mv=p.amplitude_mv, loss_db=loss, residual_db=resid, preset=preset.name)


@dataclass(frozen=True)
class LaneMargin:
    """Receiver lane margining: how far the sampling point moves before `margin_ber` fails."""

    lane: int
    timing_pct_ui: float   # eye width at margin_ber, % of a UI
    voltage_mv: float      # eye height at margin_ber
    ber: float             # the lane's true BER at the eye centre
    margin_ber: float
    preset: str | None
    pass_pct_ui: float     # the usual pass line (30 % UI)
    passed: bool           # timing margin at or above the pass line


def margin_of(eye: Eye, lane: int, margin_ber: float, pass_pct_ui: float) -> LaneMargin:
    timing = 100.0 * float(eye.width_ui(margin_ber))
    return LaneMargin(lane=lane, timing_pct_ui=timing,
                      voltage_mv=float(eye.height_mv(margin_ber)), ber=float(eye.ber()),
                      margin_ber=margin_ber, preset=eye.preset, pass_pct_ui=pass_pct_ui,
                      passed=timing >= pass_pct_ui)


def solve_extra_loss(ber_of_extra: Callable[[float], float], target_ber: float,
                     max_extra_db: float = 80.0) -> float:
    """The extra loss (dB) at which `ber_of_extra` reaches `target_ber` (log-space root)."""
    def f(x: float) -> float:
        return math.log10(max(ber_of_extra(x), 1e-300)) - math.log10(target_ber)
    if f(0.0) >= 0:
        return 0.0
    if f(max_extra_db) < 0:
        raise ValueError(f"no extra loss up to {max_extra_db} dB reaches BER {target_ber:g}")
    return float(brentq(f, 0.0, max_extra_db, xtol=1e-6))


def draw_lanes(rng: np.random.Generator, n: int, loss_db: float, loss_sigma_db: float,
               rj_sigma: float, dj_sigma_ui: float, snr_sigma_db: float) -> list[LaneSample]:
    """Manufacturing spread of `n` lanes, drawn in a fixed order so a seed reproduces them."""
    draws = rng.standard_normal((n, 4))
    return [LaneSample(base_loss_db=max(0.0, loss_db + loss_sigma_db * float(d[0])),
                       rj_scale=math.exp(rj_sigma * float(d[1])),
                       dj_offset_ui=dj_sigma_ui * float(d[2]),
                       snr_offset_db=snr_sigma_db * float(d[3])) for d in draws]


def draw_link(cfg: Any, rng: np.random.Generator
              ) -> tuple[list[LaneSample], np.random.Generator, np.random.Generator]:
    """A link's lanes as manufactured, then its private streams for error counts and for flaps,
    all from one draw of the sled's generator and in this order, so a seed reproduces the link.
    `cfg` is a link config (`PcieConfig`, `MeshConfig`)."""
    own = child_rng(rng)
    lanes = draw_lanes(own, cfg.lanes, cfg.channel_loss_db, cfg.lane_loss_sigma_db, cfg.rj_sigma,
                       cfg.dj_sigma_ui, cfg.snr_sigma_db)
    return lanes, child_rng(own), child_rng(own)


def check_lane(lane: Any, count: int) -> int:
    """`lane` as a lane number of a link with `count` lanes; a ValueError if it is not one."""
    lane = int(lane)
    if not 0 <= lane < count:
        raise ValueError(f"lane {lane} out of range 0..{count - 1}")
    return lane


def negotiate_lanes(alive: list[bool], reversal: bool) -> tuple[int, ...]:
    """The lanes of the widest link (x16/x8/x4/x2/x1) on lanes 0..w-1, or, with lane reversal,
    on the top w lanes; () if no width works. Lanes that are not alive drop out."""
    n = len(alive)
    for w in (16, 8, 4, 2, 1):
        if w > n:
            continue
        if all(alive[:w]):
            return tuple(range(w))
        if reversal and all(alive[n - w:]):
            return tuple(range(n - w, n))
    return ()


def child_rng(rng: np.random.Generator) -> np.random.Generator:
    """A private stream: one draw from the sled's generator, so reading one model's state
    never shifts another model's random numbers."""
    return np.random.default_rng(int(rng.integers(0, 2**63 - 1)))


C = TypeVar("C")


def config_from_dict(cls: type[C], data: dict[str, Any] | None) -> C:
    """Build a config dataclass from a (YAML) mapping; unknown keys are named, with the known."""
    data = dict(data or {})
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown key(s) {unknown}; known: {sorted(known)}")
    return cls(**data)
