"""What each chip's fuses say: values burned at wafer sort and read at bring-up (PHYSICS.md §9).

A chip id, its leakage bin (IDDQ at a stated voltage and temperature), its speed bin and its
characterized Vmin at the nominal clock. They are worked out once, from the chip's own silicon
(the same P_L0 and Vth draws the physics uses) before anything can happen to it, as a tester
would have measured them: with a few percent of error and at the fuse's resolution. A fault that
later makes the part leak or weaken leaves them as they were, which is why bring-up judges a chip
against its own fuses.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from bringup.sim_devices.silicon.characterization import Silicon
from bringup.sim_devices.world.config import CharacterizationConfig, FusesConfig, PowerConfig
from bringup.sim_devices.power.power_model import PowerModel

_WAFERS = 25        # a lot's wafers
_DIES = 600         # candidate dies per wafer of a reticle this size


@dataclass(frozen=True)
class Fuses:
    chip: int
    id: str
    iddq_a: float          # VDD_CORE quiescent current at iddq_v, iddq_temp_c (clocks stopped)
    iddq_v: float
    iddq_temp_c: float
    speed_bin_hz: float    # 0: slower than every bin
    vmin_v: float          # characterized Vmin at vmin_freq_hz and vmin_temp_c
    vmin_freq_hz: float
    vmin_temp_c: float

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def burn(cfg: FusesConfig, power_cfg: PowerConfig, char_cfg: CharacterizationConfig,
         power: PowerModel, silicon: Silicon, rng: np.random.Generator) -> list[Fuses]:
    """Every chip's fuses, from its untouched silicon. Call before any fault can act."""
    n = power.n
    v, t = cfg.iddq_v, cfg.iddq_temp_c
    # the physics' own leakage law, evaluated at the sort point for the part as it was made
    true_iddq = (power.p_leak0 * np.exp(power_cfg.k_v_per_v * (v - power_cfg.v0)
                                        + power_cfg.beta_per_k * (t - power_cfg.t0_c)) / power_cfg.v0)
    measured = true_iddq * rng.lognormal(0.0, cfg.iddq_error_sigma, n)
    iddq = np.round(measured / cfg.iddq_lsb_a) * cfg.iddq_lsb_a
    f_nom, t_sort = power_cfg.freq_hz, cfg.speed_test_c
    vmin = silicon.vmin(f_nom, t_sort) + rng.normal(0.0, char_cfg.test_noise_v, n)
    # a tester steps the voltage down and fuses the last passing step: never below the truth's step
    vmin_fused = np.ceil(vmin / cfg.vmin_step_v - 1e-9) * cfg.vmin_step_v
    fmax = silicon.fmax(np.full(n, cfg.speed_test_v), np.full(n, t_sort))
    lot = int(rng.integers(10000, 100000))
    wafers = rng.integers(1, _WAFERS + 1, n)
    dies = rng.choice(_DIES, n, replace=False) + 1      # distinct dies: every id is unique
    out = []
    for c in range(n):
        bins = [f for f in sorted(cfg.speed_bins_hz) if f <= fmax[c]]
        out.append(Fuses(chip=c, id=f"{cfg.id_prefix}-L{lot:05d}-W{int(wafers[c]):02d}-D{int(dies[c]):03d}",
                         iddq_a=round(float(iddq[c]), 6), iddq_v=float(v), iddq_temp_c=float(t),
                         speed_bin_hz=float(bins[-1]) if bins else 0.0,
                         vmin_v=round(float(vmin_fused[c]), 6), vmin_freq_hz=float(f_nom),
                         vmin_temp_c=float(t_sort)))
    return out


def predicted_leakage_a(fuses: Fuses, tj_c: float, beta_per_k: float) -> float:
    """The chip's quiescent core current at `tj_c` as its fuses predict it (at the fused voltage)."""
    return fuses.iddq_a * math.exp(beta_per_k * (tj_c - fuses.iddq_temp_c))
