"""The fault catalog (PHYSICS.md §8): stable names, targets, parameters and expected symptoms.

`CATALOG` is what `bringup sim faults` prints and what `Sled.inject(name, ...)` accepts. Targets
name where a fault lands (chip, rail, link/port/lane, stack, fan); params are its knobs with
their defaults. Any fault can be triggered at injection, at a simulated time, or on a condition
(see `injector.parse_trigger`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FaultSpec:
    name: str
    description: str
    targets: dict[str, Any]          # target field -> default
    params: dict[str, Any]           # parameter -> default
    symptoms: tuple[str, ...]
    physics: str = field(default="")  # the PHYSICS.md §8 row it implements

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "targets": dict(self.targets),
                "params": dict(self.params), "symptoms": list(self.symptoms), "physics": self.physics}


_LINK = {"chip": 0, "link": "mesh", "port": 0, "lane": 0}

CATALOG: dict[str, FaultSpec] = {s.name: s for s in [
    FaultSpec("heatsink_misfit", "lid-to-plate (or heatsink) resistance multiplied",
              {"chip": 0}, {"factor": 12.0},
              ("idle looks normal", "under load Tj far above nominal per watt",
               "throttle within 1-3 s", "thermal trip if not throttled"), "misfit heat sink"),
    FaultSpec("rail_short", "a hard short of a few milliohms on a rail",
              {"chip": 0, "rail": "VDD_SRAM"}, {"resistance_mohm": 5.0},
              ("OC during soft-start, IOUT at the limit", "VOUT below UV",
               "STATUS_WORD IOUT_OC + VOUT + OFF + POWER_GOOD#", "hiccup",
               "later rails never enabled"), "hard rail short"),
    FaultSpec("soft_short", "a leaky part: extra leakage (or a 50-500 mOhm extra load)",
              {"chip": 0, "rail": "VDD_CORE"}, {"leak_factor": 3.0, "resistance_mohm": None},
              ("power-good fine", "idle current far too high", "may run away under load"),
              "soft short / leaky part"),
    FaultSpec("pg_stuck", "a regulator output settles below its PG window, or its enable sticks",
              {"chip": 0, "rail": "HBM_VDD"}, {"mode": "low", "level_pct": 91.0},
              ("TON_MAX fault", "POWER_GOOD# stays 1", "sequencer times out"), "PG never asserts"),
    FaultSpec("sequence_violation", "the sequencer enables rails out of order",
              {"chip": 0},
              {"order": ["VDDIO", "VDD_CORE", "VDD_SRAM", "AVDD_PLL", "SERDES_AVDD", "SERDES_AVTT",
                         "HBM_VDD", "HBM_VPP", "HBM_VDDQ"]},
              ("sequence event", "inrush on I/O rails", "later HBM/PLL failures"),
              "sequencing violation"),
    FaultSpec("overvoltage", "a regulator drives VOUT above its OV limit",
              {"chip": 0, "rail": "VDD_CORE"}, {"percent": 15.0, "transient": True},
              ("OV fault latched", "rail off until re-armed"), "overvoltage"),
    FaultSpec("pll_no_lock", "the PLL cannot lock: no reference clock, or AVDD_PLL low",
              {"chip": 0}, {"cause": "refclk"},
              ("lock bit never set", "core held in reset", "low current",
               "PCIe stuck in Detect/Polling"), "PLL no lock"),
    FaultSpec("marginal_lane", "extra channel loss on one lane, worse hot",
              dict(_LINK), {"extra_loss_db": None},
              ("BER 1e-9..1e-6 on the lane", "margin under 30 % UI", "extreme preset",
               "AER / FEC counts", "may drop a speed"), "marginal lane"),
    FaultSpec("dead_lane", "no receiver detected on one lane",
              {**_LINK, "link": "pcie"}, {},
              ("width x16 -> x8", "negotiated != capable"), "dead lane"),
    FaultSpec("link_flap", "intermittent loss of lock",
              {**_LINK, "link": "pcie"}, {"rate_per_hour": 60.0},
              ("L0 <-> Recovery loops", "link-down counter rising"), "link flapping"),
    FaultSpec("hbm_train_fail", "one HBM stack fails training",
              {"chip": 0, "stack": 0}, {},
              ("calibration fail on its channels", "capacity 72/96 GiB", "device unhealthy"),
              "HBM training fail"),
    FaultSpec("hbm_overtemp", "HBM thermal resistance multiplied",
              {"chip": 0}, {"factor": 3.0},
              ("refresh band x2/x4", "throughput loss (HBM throttle)",
               "CATTRIP emergency shutdown"), "HBM hot / CATTRIP"),
    FaultSpec("pump_failure", "coolant pump stops (or drops to a fraction of its flow)",
              {}, {"flow_fraction": 0.0},
              ("flow reads 0", "the BMC's cooling_ok reads 0 at once", "coolant rises 3-5 K/s",
               "throttle a few seconds later",
               "trip at 10-20 s at 1 kW", "downstream chips first"), "coolant pump failure"),
    FaultSpec("fan_failure", "one fan stops (air-cooled sled)",
              {"fan": 0}, {},
              ("fan reads 0 rpm", "the BMC's cooling_ok reads 0 at once", "neighbours ramp",
               "heatsink temperatures rise over 0.5-2 min"),
              "fan failure (air)"),
    FaultSpec("coolant_leak", "the leak sensor asserts",
              {}, {},
              ("sled powered down at once", "no thermal precursor"), "leak"),
    FaultSpec("console_noise", "the board console drops, garbles and stalls bytes",
              {}, {"drop_rate": 0.02, "garble_rate": 0.01, "stall_rate": 0.002, "stall_s": 2.0},
              ("missing prompts and timeouts", "missing output must never count as a pass"),
              "intermittent console"),
    FaultSpec("sensor_stuck", "a sensor sticks, reads NaN/0xFFFF, or its PMBus device NACKs",
              {"chip": 0, "sensor": "tj"}, {"mode": "stuck", "value": None},
              ("stuck or NaN readings", "PMBus CML bits, read errors",
               "a gate reading it says UNKNOWN, not PASS"), "sensor fault"),
    FaultSpec("brownout", "the sled input sags below its UV threshold",
              {}, {"vin": 9.0, "duration_s": 0.5},
              ("VIN_UV", "all rails off", "chips reset"), "input brownout"),
    FaultSpec("power_virus_oc", "a power-virus workload on a rail with little OC margin",
              {"chip": 0}, {"activity": 1.0, "oc_warn_factor": 0.6, "oc_fault_factor": None},
              ("OC warn", "power brake (HW slowdown)", "maybe OCP"), "power-virus overcurrent"),
    FaultSpec("below_vmin", "VDD_CORE droops below the chip's Vmin(f, T), then is restored",
              {"chip": 0}, {"margin_mv": -30.0, "ramp_s": 10.0, "duration_s": 20.0},
              ("golden-compare mismatches", "CE then UE counts rise", "hang",
               "recovers when V restored"), "below-Vmin errors"),
    FaultSpec("thermal_runaway", "a leaky part (P_L0 x2-x3) on marginal cooling",
              {"chip": 0}, {"leak_factor": 3.0, "cooling_factor": 6.0},
              ("temperature keeps rising at constant load", "throttle oscillation", "trip"),
              "thermal runaway part"),
]}


def catalog_rows() -> list[dict[str, Any]]:
    """The catalog as plain rows, for `bringup sim faults` and the docs."""
    return [spec.as_dict() for spec in CATALOG.values()]
