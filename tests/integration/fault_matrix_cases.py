"""The fault matrix as data: each catalog fault, where procedures/sled_bringup.yaml must catch it,
with which verdict, and what its diagnosis must say. `test_fault_matrix.py` runs and judges them.

A row reads as a sentence: inject `fault` (the `--fault` argument, plus `args`), and the run must
stop at phase `phase` as `caught` ("failed FAIL": a gate measured it; "aborted UNKNOWN": an
interlock took the sled to the safe state; "UNKNOWN": either, as long as it never says PASS;
"caught": a gate's FAIL or an interlock's abort, whichever reads it first), with
every `symptoms` pattern found in the stored diagnosis (phase reason, failing measurements and
steps). `phase=None` means the fault must change nothing: the run passes like a healthy one.

Symptoms are case-insensitive regular expressions, so "chip=2", "chip2" and "chip 2" all name
chip 2; the helpers below keep the rows readable.

Times: `@3h` is absolute simulated time. `@{stress+1min}` is one minute after the phase `stress`
started in the healthy run of the same procedure (the simulator is deterministic, so a faulted run
follows the healthy one until its fault lands): for faults that must land inside a phase whose
start moves whenever the procedure before it changes.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The whole-sled procedure's gates, in order, each run only if the one before it passed.
PHASES = ("cooling", "power_on", "clocks_boot", "pcie", "hbm", "mesh", "thermal_check", "stress", "soak", "vmin_shmoo")

GATE = "failed FAIL"          # a gate's limit caught it
INTERLOCK = "aborted UNKNOWN"  # a monitor aborted the run to the safe state
NOT_PASS = "UNKNOWN"           # failed or aborted, verdict UNKNOWN: a reading it could not trust
CAUGHT = "caught"              # a gate (failed FAIL) or an interlock (aborted UNKNOWN), whichever reads
                               # it first: a rail lost mid-phase meets the next rail check or the
                               # powered-state interlock, and both name the chip and rail


def _n(word: str, n: int) -> str:
    return rf"\b{word}\W{{0,2}}{n}(?!\d)"


def chip(n: int) -> str:
    return _n("chip", n)


def port(n: int) -> str:
    return _n("port", n)


def lane(n: int) -> str:
    return _n("lane", n)


def stack(n: int) -> str:
    return _n("stack", n)


def rail(name: str) -> str:
    return rf"\b{name}\b"


def any_of(*patterns: str) -> str:
    return "(?:" + "|".join(patterns) + ")"


@dataclass(frozen=True)
class Case:
    id: str
    fault: str | None                 # the --fault argument; None: a healthy sled
    phase: str | None                 # where it must be caught; None: nowhere, the run passes
    caught: str = GATE                # GATE | INTERLOCK | NOT_PASS
    symptoms: tuple[str, ...] = ()    # regexes the diagnosis must all contain
    args: tuple[str, ...] = ()        # more `bringup run` arguments (sled file, -p overrides)
    instantaneous: bool = False       # the reading crosses its limit the instant the fault lands:
                                      # the interlock must trip within one interval of the fault time
    cooling_lost: bool = False        # the fault itself stops the coolant (the CDU must still run)
    full_soak: bool = False           # runs the whole soak: the matrix's long poles
    wall_bound: bool = False          # waits on wall time (console stalls), not the CPU
    lands: str | None = None          # the phase the fault lands in, for the coverage table (None:
                                      # from its time: none or an early absolute one is `cooling`)

    @property
    def fault_name(self) -> str | None:
        return None if self.fault is None else self.fault.split("@")[0].split(":")[0]


AIR = ("--sled", "sleds/air.yaml")

CASES: tuple[Case, ...] = (
    Case("healthy", None, None, full_soak=True),
    # the catalog's rates: thousands of lines dropped, garbled or stalled over the night. Each retry
    # costs the driver tens of ms of wall time: this is the matrix's longest run (~4-5 min).
    Case("console_noise", "console_noise", None, full_soak=True, wall_bound=True),

    # -- power_on: rails, sequencing, regulators' own protection ------------------------------------
    Case("rail_short/chip0/VDD_SRAM", "rail_short:chip=0,rail=VDD_SRAM", "power_on",
         symptoms=(chip(0), rail("VDD_SRAM"), any_of("IOUT_OC", r"\bOC\b", "overcurrent", "hiccup"))),
    Case("rail_short/chip2/HBM_VDDQ", "rail_short:chip=2,rail=HBM_VDDQ", "power_on",
         symptoms=(chip(2), rail("HBM_VDDQ"), any_of("IOUT_OC", r"\bOC\b", "overcurrent", "hiccup"))),
    # a leaky core (the catalog's default, x3 leakage) on chip 0 draws 160 A at idle against a 150 A
    # window; a 50 mOhm extra load (the catalog's "50-500 mOhm") on a small rail, 16-24 A more
    Case("soft_short/chip0", "soft_short:chip=0", "power_on",
         symptoms=(chip(0), rail("VDD_CORE"), any_of("current", "idd", "iout", "power"))),
    Case("soft_short/chip1/HBM_VDD", "soft_short:chip=1,rail=HBM_VDD,resistance_mohm=50", "power_on",
         symptoms=(chip(1), rail("HBM_VDD"), any_of("current", "iout", "power"))),
    Case("soft_short/chip3/VDD_SRAM", "soft_short:chip=3,rail=VDD_SRAM,resistance_mohm=50", "power_on",
         symptoms=(chip(3), rail("VDD_SRAM"), any_of("current", "iout", "power"))),
    # chip 1 is seed 0's least leaky part: x3 its leakage idles at 111 A, inside the 150 A window that
    # every healthy part needs, and only its own fused IDDQ bin shows it leaks three times too much
    Case("soft_short/chip1/low_leakage", "soft_short:chip=1", "power_on",
         symptoms=(chip(1), rail("VDD_CORE"), any_of("fused", "iddq", "leak"))),
    # a 50 mOhm load on its core: 15 A more than its bin predicts, also inside the window
    Case("soft_short/chip1/VDD_CORE/50mOhm", "soft_short:chip=1,rail=VDD_CORE,resistance_mohm=50", "power_on",
         symptoms=(chip(1), rail("VDD_CORE"), any_of("fused", "iddq", "leak"))),
    # 5 mOhm on the 1200 A core rail is no overcurrent (150 A more), but far outside the idle window
    Case("rail_short/chip1/VDD_CORE", "rail_short:chip=1,rail=VDD_CORE", "power_on",
         symptoms=(chip(1), rail("VDD_CORE"), "current")),
    # AVDD_PLL 5 % low is seen at its cause, the rail check of power_on, before any lock is tried
    Case("pll_no_lock/chip0/avdd_low", "pll_no_lock:chip=0,cause=avdd_low", "power_on",
         symptoms=(chip(0), rail("AVDD_PLL"), "voltage")),
    Case("pg_stuck/chip0/HBM_VDD", "pg_stuck:chip=0,rail=HBM_VDD", "power_on",
         symptoms=(chip(0), rail("HBM_VDD"), any_of("TON_MAX", "POWER_GOOD", "power.good", r"\bPG\b"))),
    Case("pg_stuck/chip1/SERDES_AVDD", "pg_stuck:chip=1,rail=SERDES_AVDD", "power_on",
         symptoms=(chip(1), rail("SERDES_AVDD"), any_of("TON_MAX", "POWER_GOOD", "power.good", r"\bPG\b"))),
    Case("pg_stuck/chip3/HBM_VDDQ", "pg_stuck:chip=3,rail=HBM_VDDQ", "power_on",
         symptoms=(chip(3), rail("HBM_VDDQ"), any_of("TON_MAX", "POWER_GOOD", "power.good", r"\bPG\b"))),
    Case("sequence_violation/chip0", "sequence_violation:chip=0", "power_on",
         symptoms=(chip(0), any_of("sequenc", rail("VDDIO")))),
    Case("sequence_violation/chip2", "sequence_violation:chip=2", "power_on",
         symptoms=(chip(2), any_of("sequenc", rail("VDDIO")))),
    Case("overvoltage/chip0/VDD_CORE", "overvoltage:chip=0,rail=VDD_CORE", "power_on",
         symptoms=(chip(0), rail("VDD_CORE"), any_of("VOUT_OV", r"\bOV\b", "overvoltage"))),
    Case("overvoltage/chip1/VDD_SRAM", "overvoltage:chip=1,rail=VDD_SRAM", "power_on",
         symptoms=(chip(1), rail("VDD_SRAM"), any_of("VOUT_OV", r"\bOV\b", "overvoltage"))),
    Case("overvoltage/chip3/HBM_VPP", "overvoltage:chip=3,rail=HBM_VPP", "power_on",
         symptoms=(chip(3), rail("HBM_VPP"), any_of("VOUT_OV", r"\bOV\b", "overvoltage"))),

    # -- clocks_boot -----------------------------------------------------------------------------------
    Case("pll_no_lock/chip1", "pll_no_lock:chip=1", "clocks_boot",
         symptoms=(chip(1), any_of("pll", "lock"))),
    Case("pll_no_lock/chip3", "pll_no_lock:chip=3", "clocks_boot",
         symptoms=(chip(3), any_of("pll", "lock"))),

    # -- pcie ------------------------------------------------------------------------------------------
    Case("dead_lane/pcie/chip1/lane0", "dead_lane:chip=1,link=pcie,lane=0", "pcie",
         symptoms=(chip(1), "width", r"(?<![\d.])8(?![\d.])")),     # x16 trains as x8
    Case("dead_lane/pcie/chip3/lane12", "dead_lane:chip=3,link=pcie,lane=12", "pcie",
         symptoms=(chip(3), "width")),
    Case("dead_lane/pcie/chip0/lane15", "dead_lane:chip=0,link=pcie,lane=15", "pcie",
         symptoms=(chip(0), "width")),
    Case("marginal_lane/pcie/chip2/lane3", "marginal_lane:chip=2,link=pcie,lane=3", "pcie",
         symptoms=(chip(2), lane(3), any_of("margin", "ber", "aer"))),

    # -- hbm -------------------------------------------------------------------------------------------
    Case("hbm_train_fail/chip1/stack2", "hbm_train_fail:chip=1,stack=2", "hbm",
         symptoms=(chip(1), any_of(stack(2), r"\b72\b", r"trained_stacks.*\b3\b"))),
    Case("hbm_train_fail/chip3/stack0", "hbm_train_fail:chip=3,stack=0", "hbm",
         symptoms=(chip(3), any_of(stack(0), r"\b72\b", r"trained_stacks.*\b3\b"))),
    Case("hbm_train_fail/chip0/stack3", "hbm_train_fail:chip=0,stack=3", "hbm",
         symptoms=(chip(0), any_of(stack(3), r"\b72\b", r"trained_stacks.*\b3\b"))),

    # -- mesh ------------------------------------------------------------------------------------------
    Case("dead_lane/mesh/chip3/port2", "dead_lane:chip=3,link=mesh,port=2,lane=4", "mesh",
         symptoms=(chip(3), port(2), any_of("lane", "ber", "up"))),
    Case("marginal_lane/mesh/chip1/port1/lane5", "marginal_lane:chip=1,link=mesh,port=1,lane=5", "mesh",
         symptoms=(chip(1), port(1), lane(5), any_of("ber", "fec", "margin"))),
    Case("link_flap/mesh/chip2/port3", "link_flap:chip=2,link=mesh,port=3", "mesh",
         symptoms=(chip(2), port(3), any_of("flap", "link.?down", "retrain"))),

    # -- thermal_check: cooling per watt, before full power -------------------------------------------
    Case("heatsink_misfit/chip2", "heatsink_misfit:chip=2", "thermal_check",
         symptoms=(chip(2), any_of("K/W", "psi", "per watt", "tj", "temp"))),
    # A leaky part (PHYSICS: P_L0 x2-x3) leaks twice its own fused IDDQ bin at idle and power_on
    # refuses it before full power; at the catalog's x3 chip 0 also breaks the 150 A idle window.
    Case("thermal_runaway/chip1/leak2", "thermal_runaway:chip=1,leak_factor=2", "power_on",
         symptoms=(chip(1), rail("VDD_CORE"), any_of("fused", "iddq", "leak"))),
    Case("thermal_runaway/chip2/leak2", "thermal_runaway:chip=2,leak_factor=2", "power_on",
         symptoms=(chip(2), rail("VDD_CORE"), any_of("fused", "iddq", "leak"))),
    Case("thermal_runaway/chip0/leak3", "thermal_runaway:chip=0", "power_on",
         symptoms=(chip(0), rail("VDD_CORE"), "current")),
    # leaking 1.3x its bin passes power_on; chip 0, the sled's leakiest part, on a sink six times
    # worse is refused by the loop gain extrapolated to full power
    Case("thermal_runaway/chip0/leak1.3", "thermal_runaway:chip=0,leak_factor=1.3", "thermal_check",
         symptoms=(chip(0), any_of("K/W", "psi", "gain", "runaway"))),

    # -- stress: timed inside the stress phase (a workload fault needs the workload running) ----------
    # power_virus_oc raises the chip's activity whenever it runs: injected at the start it shows as an
    # idle OC warning in power_on. It lands as the stress phase's power-virus step starts.
    Case("power_virus_oc/chip3", "power_virus_oc:chip=3@{stress+1s}", "stress",
         symptoms=(chip(3), any_of(r"\bOC\b", "IOUT", "current", "brake", "throttle"))),
    Case("below_vmin/chip2", "below_vmin:chip=2@{stress+1min}", "stress",
         symptoms=(chip(2), any_of("mismatch", "golden", "stress_check", "uncorrectable", "sram", "hang"))),
    # Landing before the chip runs (before power-on, in cooling), below_vmin waits for it to boot and
    # then weakens it; landing in pcie it acts at once. Either way the core logs uncorrectable
    # errors at idle, and pcie's health snapshot after the dwell reads them (no workload needed).
    Case("below_vmin/chip0/before_power_on", "below_vmin:chip=0", "pcie",
         symptoms=(chip(0), any_of("uncorrectable", "sram"))),
    Case("below_vmin/chip3@30s", "below_vmin:chip=3@30s", "pcie",
         symptoms=(chip(3), any_of("uncorrectable", "sram"))),
    Case("below_vmin/chip1/pcie+5s", "below_vmin:chip=1@{pcie+5s}", "pcie",
         symptoms=(chip(1), any_of("uncorrectable", "sram"))),

    # -- soak: an interlock, within one interval of the reading crossing its limit ---------------------
    Case("hbm_overtemp/chip2/x4/soak+1min", "hbm_overtemp:chip=2,factor=4@{soak+1min}", "soak", INTERLOCK,
         symptoms=("hbm",)),
    # the soak reads every chip's uncorrectable core errors each minute
    Case("below_vmin/chip2/soak+2min", "below_vmin:chip=2@{soak+2min}", "soak",
         symptoms=(chip(2), any_of("uncorrectable", "sram"))),
    # (pump_failure, coolant_leak and brownout landing in the soak, and in every other phase, are
    # generated by fault_matrix_coverage.py, a minute into the phase)
    Case("fan_failure/air@30min", "fan_failure@30min", "soak", INTERLOCK, args=AIR, instantaneous=True,
         symptoms=(any_of("fan", "cooling_ok"),)),

    # -- a sensor that cannot be trusted: UNKNOWN at the first reading of it, never PASS ----------------
    # (the max_tj interlock reads every junction from the run's first second, in cooling: the
    # sensor is read before any rail is on)
    Case("sensor_stuck/chip1/tj/nan", "sensor_stuck:chip=1,sensor=tj,mode=nan", "cooling", NOT_PASS,
         symptoms=(any_of("tj", "junction"), any_of("nan", "cannot read", "unknown"))),
    Case("sensor_stuck/chip2/VDD_CORE/nack", "sensor_stuck:chip=2,sensor=rail:VDD_CORE,mode=nack@{power_on+100ms}", "power_on",
         NOT_PASS, symptoms=(chip(2), rail("VDD_CORE"),
                             any_of("nan", "nack", "acknowledge", "no PMBus answer", "cannot read", "unknown"))),
)
