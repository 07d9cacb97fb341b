"""The PCIe endpoint's and channel's constants (PHYSICS.md §5), shared by `pcie` and `ltssm`.

Its own module so the LTSSM's schedules can read the timings without importing the endpoint
that runs them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bringup.sim_devices.links.serdes import PCIE_TX_PRESETS, EyeParams, TxPreset, config_from_dict


@dataclass(frozen=True)
class PcieConfig:
    """The endpoint and its channel. Times in seconds; (est.) values are PHYSICS.md estimates."""

    lanes: int = 16
    capable_gts: float = 32.0
    lane_reversal: bool = True  # x8 can form on lanes 15..8 when a low lane is dead
    # LTSSM (PHYSICS.md §5; LitePCIe #88 trace, ECP5-PCIe ltssm.py)
    detect_quiet_s: float = 0.012
    detect_active_s: float = 1e-4            # (est.) receiver detection
    polling_active_timeout_s: float = 0.024
    polling_ts1_count: int = 1024            # TS1 sent in Polling.Active (8 received)
    polling_configuration_timeout_s: float = 0.048
    polling_ts2_count: int = 16              # TS2 sent after 8 received
    linkwidth_start_timeout_s: float = 0.024
    lanenum_wait_timeout_s: float = 0.002    # waited out when lanes dropped from the link
    config_substate_s: float = 1e-6          # (est.) a few TS exchanges per Configuration state
    speed_change_delay_s: float = 1e-4       # (est.) L0 at 2.5 GT/s before the first change
    recovery_rcvrlock_s: float = 2e-5        # (est.)
    recovery_rcvrlock_timeout_s: float = 0.024
    recovery_rcvrcfg_s: float = 1e-5         # (est.)
    recovery_speed_s: float = 1e-3           # (est.) electrical idle + PLL relock
    recovery_idle_s: float = 1e-6            # (est.)
    eq_phase_s: tuple[float, float, float, float] = (1e-4, 5e-4, 4e-3, 4e-3)  # (est.)
    eq_phase_timeout_s: float = 0.024        # phase 2/3 give up after this
    eq_fail_ber: float = 1e-6                # (est.) equalization that cannot beat this fails
    train_temp_c: float = 40.0               # training temperature when none is known
    # channel (est.): loss at the top rate's Nyquist (16 GHz for 32 GT/s) at loss_ref_temp_c
    channel_loss_db: float = 25.0
    loss_spec_gts: float = 32.0
    lane_loss_sigma_db: float = 0.8
    loss_freq_exponent: float = 0.8          # loss ~ f^0.8 (skin effect + dielectric)
    loss_tempco_per_k: float = 0.0005
    loss_ref_temp_c: float = 25.0
    # receiver CTLE+DFE range per rate (GT/s -> dB), and where it prefers to sit (est.)
    rx_eq_max_db: dict[float, float] = field(default_factory=lambda: {
        2.5: 8.0, 5.0: 10.0, 8.0: 14.0, 16.0: 18.0, 32.0: 24.0})
    rx_eq_pref_db: dict[float, float] = field(default_factory=lambda: {
        2.5: 4.0, 5.0: 6.0, 8.0: 10.0, 16.0: 14.0, 32.0: 20.0})
    presets: tuple[TxPreset, ...] = PCIE_TX_PRESETS   # used from 8 GT/s on
    gen12_deemphasis_db: float = -3.5                 # fixed TX de-emphasis at 2.5/5 GT/s
    # eye (est.): 45 % UI at 1e-12 for a healthy 32 GT/s lane
    dj_base_ui: float = 0.34
    dj_per_db_ui: float = 0.04
    dj_sigma_ui: float = 0.015
    rj_rms_ps: float = 0.47
    rj_sigma: float = 0.08
    rj_tempco_per_k: float = 0.001
    snr_base_db: float = 23.5
    snr_per_db: float = 0.5
    snr_sigma_db: float = 0.5
    snr_tempco_db_per_k: float = 0.01
    amplitude_mv: float = 150.0
    margin_ber: float = 1e-12
    margin_pass_pct_ui: float = 30.0         # pcilmr's usual pass line
    margin_min_gts: float = 16.0             # lane margining at the receiver exists from Gen4
    # faults
    marginal_target_ber: float = 1e-8        # a marginal lane's BER at marginal_ref_temp_c
    marginal_ref_temp_c: float = 45.0
    flap_recover_prob: float = 0.3           # (est.) a lost lock recovered without link down
    trace_limit: int = 10_000

    def __post_init__(self) -> None:
        rates = set(self.rx_eq_max_db)
        if self.capable_gts not in rates or rates != set(self.rx_eq_pref_db):
            raise ValueError(f"PcieConfig: capable_gts {self.capable_gts} needs rx_eq_max_db and "
                             f"rx_eq_pref_db entries for every rate up to it (have "
                             f"{sorted(rates)} and {sorted(self.rx_eq_pref_db)})")
        if self.lanes not in (1, 2, 4, 8, 16):
            raise ValueError(f"PcieConfig: lanes must be 1, 2, 4, 8 or 16, not {self.lanes}")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "PcieConfig":
        """From the sled description's `pcie:` mapping; unknown keys are reported."""
        return config_from_dict(cls, data)

    def eye_params(self) -> EyeParams:
        return EyeParams.of("NRZ", self)
