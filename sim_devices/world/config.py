"""The sled description: every constant of PHYSICS.md as a default a YAML file can override.

Values marked (est.) in PHYSICS.md are engineering estimates; they are defaults here, never
constants in the code. `SledConfig.from_yaml` deep-merges a YAML description onto these defaults
and reports unknown or invalid keys by their dotted path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RailConfig(_Model):
    """One PMBus regulator output feeding one chip rail (PHYSICS.md §2)."""

    name: str
    vout: float = Field(description="VOUT_COMMAND at power-on, volts")
    idle_w: float = Field(0.0, description="rail load at idle (uncore rails), watts")
    full_w: float = Field(0.0, description="rail load at activity 1.0 (uncore rails), watts")
    heats_hbm: bool = Field(False, description="its power heats the HBM node, not the die")
    i_max: float = Field(description="peak design current, amps; OC limits scale from it")
    r_loadline: float = Field(0.0, description="load-line resistance, ohms (V_die = V_set - I*R_LL)")
    ton_delay_ms: float = 0.5
    ton_rise_ms: float = 2.0
    ton_max_ms: float = 10.0
    toff_fall_ms: float = 2.0
    pg_low_pct: float = 93.0
    pg_high_pct: float = 108.0
    pg_hysteresis_pct: float = 2.5
    pg_deglitch_us: float = 100.0
    ov_fault_pct: float = 112.0
    ov_warn_pct: float = 108.0
    uv_fault_pct: float = 90.0
    uv_warn_pct: float = 95.0
    oc_fault_factor: float = Field(1.25, description="IOUT_OC_FAULT_LIMIT = factor * i_max")
    oc_warn_factor: float = Field(1.05, description="IOUT_OC_WARN_LIMIT = factor * i_max")
    oc_limit_ms: float = Field(1.0, description="time spent in current limit before hiccup")
    hiccup_factor: float = Field(7.0, description="hiccup retry period = factor * TON_RISE")
    ot_fault_c: float = 125.0
    ot_warn_c: float = 110.0
    ot_hysteresis_c: float = 15.0
    efficiency: float = Field(0.90, description="regulator efficiency (88-92 %)")
    r_th_k_per_w: float = Field(0.3, description="regulator temperature rise per watt of loss")
    c_out_f: float = Field(0.001, description="output capacitance, farads (inrush = C dV/dt)")
    vout_mode: int = Field(0x16, description="VOUT_MODE byte (0x16 -> exponent -10)")


def default_rails() -> list[RailConfig]:
    """Power-up order of PHYSICS.md §2: core, SRAM, PLL, SerDes, HBM (VPP first), I/O."""
    return [
        RailConfig(name="VDD_CORE", vout=0.75, i_max=1200.0, r_loadline=0.05e-3, c_out_f=0.05,
                   ton_rise_ms=4.0, r_th_k_per_w=0.25),
        RailConfig(name="VDD_SRAM", vout=0.80, idle_w=15.0, full_w=45.0, i_max=80.0),
        RailConfig(name="AVDD_PLL", vout=0.80, idle_w=0.4, full_w=0.5, i_max=1.0, c_out_f=1e-5),
        RailConfig(name="SERDES_AVDD", vout=0.85, idle_w=12.0, full_w=24.0, i_max=40.0),
        RailConfig(name="SERDES_AVTT", vout=1.20, idle_w=6.0, full_w=12.0, i_max=15.0),
        RailConfig(name="HBM_VPP", vout=2.50, idle_w=1.0, full_w=4.0, i_max=3.0, heats_hbm=True),
        RailConfig(name="HBM_VDD", vout=1.20, idle_w=8.0, full_w=30.0, i_max=35.0, heats_hbm=True),
        RailConfig(name="HBM_VDDQ", vout=1.20, idle_w=6.0, full_w=26.0, i_max=30.0, heats_hbm=True),
        RailConfig(name="VDDIO", vout=1.80, idle_w=2.0, full_w=5.0, i_max=5.0),
    ]


class PowerConfig(_Model):
    """Chip power: P = a*C_eff*V^2*f + P_L0*(V/V0)*exp(k_V(V-V0))*exp(beta(Tj-T0)) + uncore."""

    c_eff_f: float = Field(0.76e-6, description="switched capacitance (600 W at 0.75 V, 1.4 GHz)")
    freq_hz: float = Field(1.4e9, description="core clock at power-on (est.)")
    p_leak0_w: float = Field(120.0, description="leakage at V0, T0 (150 W at 85 C example)")
    leak_sigma: float = Field(0.25, description="log-normal sigma of per-chip P_L0")
    v0: float = Field(0.75, description="leakage reference voltage")
    t0_c: float = Field(85.0, description="leakage reference temperature, C")
    beta_per_k: float = Field(0.036, description="leakage doubles every ln2/beta = 19 K (HotSpot)")
    k_v_per_v: float = Field(3.0, description="leakage voltage exponent, 2-4 /V (est.)")
    activity_reset: float = Field(0.0, description="clocks stopped while in reset")
    activity_idle: float = Field(0.07, description="booted, no workload (0.05-0.1)")
    activity_compute: float = Field(0.75, description="stress level 1.0 of a training workload")
    activity_virus: float = Field(1.0, description="stress kind 'virus' at level 1.0")
    standby_w: float = Field(15.0, description="BMC and 3.3V_AUX, always on while input is present")


class ThermalConfig(_Model):
    """Thermal RC network per chip (PHYSICS.md §3). Resistances K/W, capacities J/K."""

    c_die: float = Field(1.2, description="junction node (HotSpot constants, est.)")
    r_die_lid: float = Field(0.02, description="die to lid")
    c_lid: float = Field(40.0, description="lid node")
    r_lid_sink: float = Field(0.012, description="lid to cold plate (liquid) or heatsink (air)")
    c_sink: float = Field(115.0, description="cold plate 115-190 J/K; air heatsink ~800 J/K")
    r_sink_fluid: float = Field(0.015, description="convective, at nominal flow; scales flow^-0.8")
    c_fluid: float = Field(200.0, description="coolant in the plate (mean node)")
    c_hbm: float = Field(10.0, description="HBM stacks, lumped (est.)")
    r_hbm_sink: float = Field(0.30, description="HBM stacks (lumped) to the cold plate")
    flow_exponent: float = Field(0.8, description="convective resistance ~ flow^-0.8")
    stagnant_flow_frac: float = Field(
        0.35, description="floor on flow for convection only: a stopped loop still conducts")


def default_air_thermal() -> ThermalConfig:
    return ThermalConfig(r_lid_sink=0.015, c_sink=800.0, r_sink_fluid=0.06, c_fluid=5.0,
                         r_hbm_sink=0.5, stagnant_flow_frac=0.15)


class LimitsConfig(_Model):
    """Thermal thresholds (GPU practice, est.) and the throttle controller. HBM's refresh bands,
    throttle and CATTRIP thresholds are the memory model's (`hbm:` settings)."""

    throttle_c: float = Field(90.0, description="SW thermal throttle starts (GPU practice)")
    slowdown_c: float = Field(95.0, description="HW slowdown: clock halved")
    trip_c: float = Field(105.0, description="thermal trip: hardware power-off")
    release_hysteresis_c: float = Field(3.0, description="below a threshold by this to release")
    throttle_step: float = Field(0.9, description="SW thermal multiplies the clock by this per period")
    throttle_min: float = Field(0.3, description="lowest SW throttle clock multiplier")
    control_period_s: float = Field(0.1, description="throttle controller period (and step)")
    power_cap_w: float = Field(1000.0, description="SW power cap per chip")


class CoolingConfig(_Model):
    """The loop (liquid: CDU, pump, leak sensor) or the fans (air)."""

    inlet_c: float = Field(
        30.0, description="CDU setpoint or ambient air (in the lab: the coolant unit's supply temperature)")
    flow_per_chip: float = Field(
        1.5, description="liquid: L/min per chip from the CDU; air: CFM of one fan at full duty")
    nominal_flow_per_chip: float = Field(1.5, description="flow at which r_sink_fluid holds (L/min or CFM)")
    fluid_cp: float = Field(4180.0, description="J/(kg K): water 4180, air 1006")
    fluid_density: float = Field(1.0, description="kg per flow unit-minute: water 1 kg/L, air 0.03285 kg/CFM")
    fan_duty: float = Field(0.7, description="air: fan duty in normal operation")
    fan_spill: float = Field(0.2, description="air: share of a fan's flow over each neighbour")
    fan_full_rpm: float = Field(12000.0, description="air: a fan's tachometer at full duty (est.)")
    fan_min_rpm: float = Field(
        1500.0, description="BMC: cooling_ok needs every fan above this (a stopped fan reads 0)")
    min_flow_fraction: float = Field(
        0.5, description="BMC: cooling_ok needs each chip's coolant flow at least this share of "
                         "nominal_flow_per_chip (liquid)")


def default_air_cooling() -> CoolingConfig:
    # Air flow is in CFM: 1 CFM = 0.0283 m^3/min * 1.16 kg/m^3 = 0.03285 kg/min.
    return CoolingConfig(inlet_c=35.0, flow_per_chip=100.0, nominal_flow_per_chip=70.0,
                         fluid_cp=1006.0, fluid_density=0.03285)


class BootConfig(_Model):
    """Clocks, reset and boot (PHYSICS.md §2, §5)."""

    rail_gap_s: float = Field(0.001, description="between one rail's PG and the next enable")
    pg_timeout_s: float = Field(0.05, description="sequencer gives up on a rail after this")
    reset_hold_s: float = Field(0.2, description="chip held in reset after all rails are good")
    perst_delay_s: float = Field(0.3, description="PCIe PERST# release after power is stable")
    pll_lock_s: float = Field(0.0005, description="PLL lock time (est.)")
    pll_lock_timeout_s: float = Field(0.01, description="lock bit not set by then: boot fails")
    fw_boot_s: float = Field(1.5, description="firmware boot after PLL lock (est.)")


class CharacterizationConfig(_Model):
    """f_max = K*(V - Vth(T))^alpha / V (alpha-power law), calibrated at a reference point."""

    alpha: float = Field(1.3, description="alpha-power law exponent (Sakurai-Newton)")
    vth0_v: float = Field(0.35, description="threshold voltage at 25 C (est.)")
    vth_tc_v_per_k: float = Field(0.0008, description="Vth falls as the die heats")
    mobility_tc_per_k: float = Field(0.0015, description="drive falls as the die heats")
    ref_freq_hz: float = Field(1.4e9, description="calibration point: frequency")
    ref_vmin_v: float = Field(0.64, description="nominal part's Vmin at ref_freq, ref_temp")
    ref_temp_c: float = Field(85.0, description="calibration point: junction temperature")
    vmin_sigma_v: float = Field(0.015, description="per-chip Vmin spread (10-20 mV)")
    test_noise_v: float = Field(0.002, description="per-test noise: ragged shmoo edges")
    ce_rate_at_edge: float = Field(2.0, description="correctable errors/s just below Vmin")
    error_decade_v: float = Field(0.005, description="error rates x10 per this much lower")
    ue_onset_v: float = Field(0.010, description="uncorrectable errors start this far below")
    hang_onset_v: float = Field(0.025, description="the core hangs this far below")


class FusesConfig(_Model):
    """Values burned into each chip at wafer sort (PHYSICS.md §9), read with the console's `fuses`.

    The leakage bin is the chip's own P_L0 (the same log-normal draw) as wafer sort measured it:
    IDDQ, clocks stopped, at `iddq_v` and `iddq_temp_c`, off by a few percent of tester error and
    rounded to the fuse's resolution. Faults that make a part leak later do not change it: that is
    what bring-up compares against."""

    id_prefix: str = Field("SIM", description="chip id: <prefix>-L<lot>-W<wafer>-D<die>")
    iddq_v: float = Field(0.75, description="IDDQ test voltage (VDD_CORE at sort), V")
    iddq_temp_c: float = Field(25.0, description="IDDQ test temperature (wafer sort), C")
    iddq_error_sigma: float = Field(
        0.02, description="log-normal sigma of the tester's IDDQ error: the bin predicts within a few %")
    iddq_lsb_a: float = Field(0.1, description="resolution of the fused IDDQ, A")
    speed_bins_hz: list[float] = Field(
        default_factory=lambda: [1.4e9, 1.5e9, 1.6e9, 1.7e9],
        description="speed bins, Hz: the fused bin is the fastest the chip passes at the sort point (0: none)")
    speed_test_v: float = Field(0.70, description="speed sort voltage: nominal VDD_CORE less a guardband, V")
    speed_test_c: float = Field(85.0, description="speed and Vmin sort temperature, C")
    vmin_step_v: float = Field(0.00625, description="tester's Vmin step: the fused Vmin is rounded up to it, V")


class InputConfig(_Model):
    """The sled's input: a hot-swap eFuse fed by a bench supply."""

    nominal_v: float = Field(12.0, description="bench supply at start (12 V or 48-54 V)")
    uv_fault_v: float = Field(10.2, description="VIN_UV: every regulator stops")
    uv_warn_v: float = Field(10.8, description="VIN_UV warning")


class SimConfig(_Model):
    dt_max_s: float = Field(1.0, description="longest physics step; events split steps")
    expm_cache: int = Field(256, description="cached (Ad, Bd) pairs per (dt, flow, parameters)")


class SledConfig(_Model):
    """The whole sled. `n_chips` 1..16; cooling liquid or air; plumbing series or parallel."""

    n_chips: int = Field(4, ge=1, le=16, description="accelerators on the sled (1..16)")
    cooling: Literal["liquid", "air"] = Field("liquid", description="cold plates or heatsinks")
    plumbing: Literal["series", "parallel"] = Field(
        "parallel", description="series: each chip sees the previous chip's outlet")
    rails: list[RailConfig] = Field(default_factory=default_rails)
    power: PowerConfig = Field(default_factory=PowerConfig)
    thermal: ThermalConfig | None = Field(None, description="default depends on cooling")
    cooling_loop: CoolingConfig | None = Field(None, description="default depends on cooling")
    limits: LimitsConfig = Field(default_factory=LimitsConfig)
    boot: BootConfig = Field(default_factory=BootConfig)
    characterization: CharacterizationConfig = Field(default_factory=CharacterizationConfig)
    fuses: FusesConfig = Field(default_factory=FusesConfig)
    input: InputConfig = Field(default_factory=InputConfig)
    sim: SimConfig = Field(default_factory=SimConfig)
    hbm_stacks: int = Field(4, description="per chip (Trainium2: 4 stacks, 96 GiB)")
    mesh_ports: int = Field(4, description="per chip (Trainium2: 4 NeuronLink ports)")
    hbm: dict[str, Any] = Field(default_factory=dict, description="passed to HbmConfig")
    pcie: dict[str, Any] = Field(default_factory=dict, description="passed to PcieConfig")
    mesh: dict[str, Any] = Field(default_factory=dict, description="passed to MeshConfig")

    @model_validator(mode="before")
    @classmethod
    def _merge_air_defaults(cls, data: Any) -> Any:
        """On an air sled a partial `thermal:` or `cooling_loop:` overrides the air defaults, not
        the liquid ones: `thermal: {r_sink_fluid: 0.05}` keeps the heatsink's 800 J/K."""
        if not isinstance(data, dict) or data.get("cooling") != "air":
            return data
        out = dict(data)
        for key, default in (("thermal", default_air_thermal), ("cooling_loop", default_air_cooling)):
            if isinstance(out.get(key), dict):
                out[key] = {**default().model_dump(), **out[key]}
        return out

    @model_validator(mode="after")
    def _cooling_defaults(self) -> "SledConfig":
        air = self.cooling == "air"
        if self.thermal is None:
            object.__setattr__(self, "thermal", default_air_thermal() if air else ThermalConfig())
        if self.cooling_loop is None:
            object.__setattr__(self, "cooling_loop",
                               default_air_cooling() if air else CoolingConfig())
        names = [r.name for r in self.rails]
        if len(set(names)) != len(names):
            raise ValueError(f"rail names must be unique, got {names}")
        return self

    def rail_index(self, name: str) -> int:
        for i, rail in enumerate(self.rails):
            if rail.name == name:
                return i
        raise KeyError(f"no rail named {name!r}; rails are {[r.name for r in self.rails]}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "<dict>") -> "SledConfig":
        """Validate a description; errors name the dotted key path and the source."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            lines = [f"{source}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                     for e in exc.errors()]
            raise ValueError("invalid sled description:\n  " + "\n  ".join(lines)) from None

    @classmethod
    def from_yaml(cls, path: str | Path) -> "SledConfig":
        """Load a YAML sled description (safe loader) over the defaults."""
        text = Path(path).read_text()
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a sled description is a mapping, got {type(data).__name__}")
        return cls.from_dict(_with_rail_overrides(data), source=str(path))


def _with_rail_overrides(data: dict[str, Any]) -> dict[str, Any]:
    """`rails:` may be a mapping {NAME: {field: value}} that overrides the default rails."""
    rails = data.get("rails")
    if isinstance(rails, dict):
        defaults = {r.name: r.model_dump() for r in default_rails()}
        unknown = set(rails) - set(defaults)
        if unknown:
            raise ValueError(f"rails: unknown rail(s) {sorted(unknown)}; known {list(defaults)}")
        data = dict(data)
        data["rails"] = [{**defaults[n], **(rails.get(n) or {})} for n in defaults]
    return data
