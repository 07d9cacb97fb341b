"""The fault matrix's coverage, as data: for every catalog fault (`bringup sim faults`), the target
kinds it takes, the phases it can land in, and for each landing the phase of
procedures/sled_bringup.yaml that must catch it and what the diagnosis must say.
`generated_cases()` turns each landing into a `Case` timed `@{phase+offset}` off the healthy run,
aimed at one representative target, the fault's aims taken in turn so each kind is aimed at.

A landing a hand-written case of fault_matrix_cases.py already runs names that case (`case=`)
instead of generating another: one run per fact. A landing caught in a later phase than the one
it lands in says why (`later`), in one line; a phase a fault cannot land in says why (`cannot`),
so every (fault, phase) pair is accounted for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fault_matrix_cases import (AIR, CASES, CAUGHT, GATE, INTERLOCK, NOT_PASS, PHASES, Case, any_of, chip,
                                lane, port, rail, stack)

#: Where in a phase a fault lands (the healthy run, seed 0). `power_on` +600 ms: the rails just up,
#: before the idle currents are read; `clocks_boot` +50 ms: chip 0 locking, chips 1-3 still in
#: reset; `hbm` +1 s: chip 0 trained, chips 1-3 not yet; `thermal_check` +1 s: inside chip 0's
#: probe, before chips 1-3's; `stress` +1 min: the compute stress, after the power virus.
OFFSET = {"cooling": "10s", "power_on": "600ms", "clocks_boot": "50ms", "pcie": "5s", "hbm": "1s",
          "mesh": "1min", "thermal_check": "1s", "stress": "1min", "soak": "1min", "vmin_shmoo": "1min"}

OC = any_of("IOUT_OC", r"\bOC\b", "overcurrent", "hiccup", "current")
OV = any_of("VOUT_OV", r"\bOV\b", "overvoltage")
PG = any_of("TON_MAX", "POWER_GOOD", "power.good", r"\bPG\b", "VOUT_UV", "voltage")
VMIN = any_of("mismatch", "golden", "uncorrectable", "sram", "hang", "unhealthy")
LOCK = any_of("pll", "lock")
HOT = any_of("K/W", "psi", "per watt", r"\btj\b", "junction", "temp", "throttle")


@dataclass(frozen=True)
class Aim:
    kind: str                   # chip | rail | pcie lane | mesh port/lane | stack | fan | sensor | sled
    target: str                 # the fault's target arguments ("" for a sled-wide fault)
    names: tuple[str, ...]      # what a diagnosis names it by (regexes)


@dataclass(frozen=True)
class Lands:
    phase: str                  # the phase it lands in
    caught: str | None          # the phase that must catch it (None: the run passes)
    verdict: str = GATE
    says: tuple[str, ...] = ()  # what the diagnosis must say besides naming the target (default: the fault's)
    later: str = ""             # why it is caught after the phase it lands in
    aim: int | None = None      # which of the fault's aims (default: the next in turn)
    params: str = ""            # more fault arguments for this landing (",factor=4")
    offset: str | None = None   # instead of OFFSET[phase]
    case: str | None = None     # a hand-written case already runs this landing
    unnamed: bool = False       # the diagnosis need not name the target (a sled-wide reading)
    instantaneous: bool = False  # seen the instant it lands: tripped within one interlock interval


@dataclass(frozen=True)
class Coverage:
    fault: str
    aims: tuple[Aim, ...]
    says: tuple[str, ...]
    lands: tuple[Lands, ...]
    cannot: dict[str, str] = field(default_factory=dict)   # phase -> why it cannot land there
    args: tuple[str, ...] = ()
    cooling_lost: bool = False  # the fault itself stops the coolant


def _chip(n: int) -> Aim:
    return Aim("chip", f"chip={n}", (chip(n),))


def _rail(n: int, name: str) -> Aim:
    return Aim("rail", f"chip={n},rail={name}", (chip(n), rail(name)))


def _pcie(n: int, k: int, name_lane: bool = True) -> Aim:
    return Aim("pcie lane", f"chip={n},link=pcie,lane={k}", (chip(n),) + ((lane(k),) if name_lane else ()))


def _mesh(n: int, p: int, k: int, name_lane: bool = True) -> Aim:
    return Aim("mesh port/lane", f"chip={n},link=mesh,port={p},lane={k}",
               (chip(n), port(p)) + ((lane(k),) if name_lane else ()))


def _stack(n: int, s: int) -> Aim:
    # a failed stack shows as its index, or as the capacity (72 of 96 GiB) and trained count it leaves
    return Aim("stack", f"chip={n},stack={s}", (chip(n), any_of(stack(s), r"\b72\b", r"trained_stacks.*\b3\b")))


SLED = Aim("sled", "", ())
UNPOWERED = "means something only with the input on: in cooling no rail is on yet"
DIE = "the die's own leakage, there from wafer sort: it is in the part before its first power-on"
SEQ = "the order matters only while the sequencer runs: once, in power_on, before the rails are up"
TRAINED = "training runs once, in hbm: a stack that trained does not untrain"
AFTER_SOAK = ("not run: vmin_shmoo runs after the whole soak, which the matrix does not pay for in every case; "
              "the interlocks inside it are proven by test_interlocks_never_blind")
UNLOADED = "not run: nothing loads a chip before thermal_check, so it lands as in cooling"
NEVER_BLIND = ("not run here: test_interlocks_never_blind lands it inside the longest action of every phase "
               "and checks each trip comes within one interval")
POWERED_EVERY = "not run: as in clocks_boot, mesh and soak, the powered-state interlock reads every 10 s after power_on"
NO_RAIL = "no rail is on before power_on: it shows as the rails come up"
IDLE_OK = "idle looks normal: thermal_check is the first load"
IDLE_AGAIN = "a live rail's idle current is read again only before the thermal probe"
LOADED = ("a gap: under load a 50 mOhm load is a few % of the chip's power: no window sees it; the next "
          "power_on's idle window does")
FIRST_LOCK = "the PLL is first asked to lock in clocks_boot"
FIRST_LINK = "a link is first trained and measured in its own phase"
NO_BER = "a gap: nothing after mesh measures BER or margins: a lane that loses margin later is not seen"
RETRAIN = "the link retrains narrower (a link-down): the soak reads the count every minute"
TRAINS = "training runs in hbm"
FULL_LOAD = "only full load heats the stack past its limit: the first full load is stress"
SHORT_PHASE = "the phase ends before the next flow or cooling_ok read: caught at that read, within one interval"
AIR_ONLY = ("not run: an air-cooled sled only: the matrix runs it once, in the soak (the liquid sled's "
            "phase times do not apply)")
NOISE = "present the whole night from the first byte: one run, wall-bound"
VIRUS = ("not run: the boost acts whenever the core runs, so landing before stress it shows as in cooling "
         "(the power brake at the first clock check) or in the stress virus step")
RAMP = "its 10 s ramp outlasts the phase: the next health snapshot reads the errors"
TJ = any_of("max_tj", r"\btj\b", "junction")


#: Where a rail lost on a live chip is caught: power_on's rail check after the settle, clocks_boot's
#: per-chip rail check, the health snapshot in pcie, hbm, mesh and thermal_check, or (in the long
#: phases, whichever reads first) the powered-state interlock; each names the chip and the rail.
LIVE_PHASES = ("power_on", "clocks_boot", "pcie", "hbm", "mesh", "thermal_check", "stress", "soak")


def _live(*phases: str) -> tuple[Lands, ...]:
    return tuple(Lands(p, p, GATE if p == "power_on" else CAUGHT) for p in phases)


def _as(fault: str, phases: tuple[str, ...], why: str) -> dict[str, str]:
    return {p: f"not run: lands and is caught as {fault} does there ({why})" for p in phases}


COVERAGE: tuple[Coverage, ...] = (
    Coverage("heatsink_misfit", (_chip(2), _chip(1), _chip(3), _chip(0)), (HOT,), (
        Lands("cooling", "thermal_check", case="heatsink_misfit/chip2", later=IDLE_OK),
        Lands("thermal_check", "thermal_check", aim=2),
        # under full load: the compute stress's throttle check, the junction interlock (95 C, naming
        # the hottest chip) or the soak's per-minute Tj limit (90 C), whichever reads it first
        Lands("stress", "stress", CAUGHT),
        Lands("soak", "soak", CAUGHT),
    ), {p: UNLOADED for p in ("power_on", "clocks_boot", "pcie", "hbm", "mesh")} | {"vmin_shmoo": AFTER_SOAK}),

    Coverage("rail_short", (_rail(0, "VDD_SRAM"), _rail(2, "HBM_VDDQ"), _rail(3, "VDDIO"), _rail(1, "SERDES_AVDD")),
             (OC,), (Lands("cooling", "power_on", case="rail_short/chip0/VDD_SRAM", later=NO_RAIL),
                     *_live(*LIVE_PHASES)),
             {"vmin_shmoo": AFTER_SOAK}),

    # a 50 mOhm extra load (PHYSICS: "50-500 mOhm") can appear on a live rail; a leaky die cannot
    Coverage("soft_short", (_rail(0, "VDD_CORE"), _rail(2, "SERDES_AVDD"), _rail(3, "VDD_SRAM"), _rail(1, "HBM_VDD")),
             (any_of("current", "iout", "power", "fused", "iddq", "leak"),), (
        Lands("cooling", "power_on", case="soft_short/chip0", later=NO_RAIL),
        Lands("power_on", "power_on", aim=1, params=",resistance_mohm=50"),
        Lands("pcie", "thermal_check", aim=2, params=",resistance_mohm=50", later=IDLE_AGAIN),
        Lands("mesh", "thermal_check", aim=3, params=",resistance_mohm=50", later=IDLE_AGAIN),
    ), {"clocks_boot": "not run, as in pcie: " + IDLE_AGAIN, "hbm": "not run, as in pcie and mesh: " + IDLE_AGAIN,
        "thermal_check": "not run: before a chip's idle check it is caught as in mesh, after it as in stress",
        "stress": LOADED, "soak": LOADED, "vmin_shmoo": AFTER_SOAK}),

    # on a live rail, 91 % stays inside the PG hysteresis: a VOUT_UV warning, which every rail check
    # (power_on, clocks_boot, the health snapshots, each soak minute) names
    Coverage("pg_stuck", (_rail(0, "HBM_VDD"), _rail(2, "VDD_SRAM"), _rail(3, "SERDES_AVTT")), (PG,), (
        Lands("cooling", "power_on", case="pg_stuck/chip0/HBM_VDD", later=NO_RAIL),
        *_live("power_on", "clocks_boot", "pcie", "mesh", "thermal_check"),
        Lands("hbm", "hbm", CAUGHT),
        Lands("soak", "soak", CAUGHT),
    ), {"stress": "not run, as in soak: no rail status is read under the stress workload; each soak minute reads it",
        "vmin_shmoo": AFTER_SOAK}),

    Coverage("sequence_violation", (_chip(0), _chip(2), _chip(3)), (any_of("sequenc", rail("VDDIO")),), (
        Lands("cooling", "power_on", case="sequence_violation/chip0", later=NO_RAIL),
        Lands("power_on", "power_on", offset="100ms", aim=2),
    ), {p: SEQ for p in PHASES[2:]}),

    Coverage("overvoltage", (_rail(0, "VDD_CORE"), _rail(1, "VDD_SRAM"), _rail(3, "HBM_VPP"), _rail(2, "SERDES_AVDD")),
             (OV,), (Lands("cooling", "power_on", case="overvoltage/chip0/VDD_CORE", later=NO_RAIL),
                     *_live("power_on", "clocks_boot", "hbm", "mesh")),
             {**_as("rail_short", ("pcie", "thermal_check", "stress", "soak"), "an OV latch-off is a rail down"),
              "vmin_shmoo": AFTER_SOAK}),

    # a reference clock that fails mid-run: the core is held in reset, and the chip's PLL lock bit
    # is read in clocks_boot, in every health snapshot, with each golden compare and each soak minute
    Coverage("pll_no_lock", (_chip(1), _chip(3), _chip(2), _chip(0)), (LOCK,), (
        Lands("cooling", "clocks_boot", case="pll_no_lock/chip1", later=FIRST_LOCK),
        Lands("power_on", "clocks_boot", later=FIRST_LOCK),
        Lands("clocks_boot", "clocks_boot"),
        Lands("pcie", "pcie"),
        # chip 2, before its snapshot: landing inside chip 0's one-second BIST it shows as 0 GiB
        Lands("hbm", "hbm", aim=2),
        *(Lands(p, p) for p in ("mesh", "stress", "soak")),
    ), {"thermal_check": "not run, as in hbm and mesh: the health snapshot before each chip's probe reads the lock",
        "vmin_shmoo": AFTER_SOAK}),

    Coverage("marginal_lane", (_pcie(2, 3), _mesh(1, 1, 5)), (any_of("margin", "ber", "aer", "fec"),), (
        Lands("cooling", "pcie", case="marginal_lane/pcie/chip2/lane3", later=FIRST_LINK),
        Lands("pcie", "pcie", aim=0),
        Lands("hbm", "mesh", aim=1, later=FIRST_LINK),
        Lands("mesh", "mesh", aim=1),
    ), {"power_on": "not run, as in cooling: " + FIRST_LINK, "clocks_boot": "not run, as in cooling: " + FIRST_LINK,
        "thermal_check": NO_BER,
        "stress": NO_BER, "soak": NO_BER, "vmin_shmoo": AFTER_SOAK}),

    Coverage("dead_lane", (_pcie(1, 0, False), _mesh(3, 2, 4, False)),
             (any_of("width", "lane", "ber", "up", "link"),), (
        Lands("cooling", "pcie", case="dead_lane/pcie/chip1/lane0", later=FIRST_LINK),
        Lands("pcie", "pcie", aim=0),
        Lands("hbm", "mesh", aim=1, later=FIRST_LINK),
        Lands("mesh", "mesh", aim=1),
        # a lane dying under a trained link retrains it one lane narrower: a link-down / a flap
        Lands("soak", "soak", aim=1, says=(any_of("link.?down", "flap"),)),
    ), {"power_on": "not run, as in cooling: " + FIRST_LINK, "clocks_boot": "not run, as in cooling: " + FIRST_LINK,
        "thermal_check": "not run, as in soak: " + RETRAIN, "stress": "not run, as in soak: " + RETRAIN,
        "vmin_shmoo": AFTER_SOAK}),

    Coverage("link_flap", (_mesh(2, 3, 0, False), _pcie(0, 0, False)), (any_of("flap", "link.?down", "retrain"),), (
        Lands("cooling", "mesh", case="link_flap/mesh/chip2/port3", later=FIRST_LINK),
        Lands("pcie", "soak", aim=1,
              later="at the catalog's 60 an hour a 30 s dwell sees none; each soak minute reads the count"),
        Lands("mesh", "mesh", aim=0),
        Lands("soak", "soak", aim=1),
    ), {"power_on": "not run, as in cooling: " + FIRST_LINK, "clocks_boot": "not run, as in cooling: " + FIRST_LINK,
        "hbm": "not run, as in cooling: " + FIRST_LINK,
        "thermal_check": "not run, as in soak: only the soak reads link counters after mesh, each minute",
        "stress": "not run, as in soak: only the soak reads link counters after mesh, each minute",
        "vmin_shmoo": AFTER_SOAK}),

    Coverage("hbm_train_fail", (_stack(2, 1), _stack(3, 3)),
             (), (
        Lands("cooling", "hbm", case="hbm_train_fail/chip1/stack2", later=TRAINS),
        Lands("pcie", "hbm", later=TRAINS),
        Lands("hbm", "hbm"),
    ), {"power_on": "not run, as in cooling and pcie: " + TRAINS,
        "clocks_boot": "not run, as in cooling and pcie: " + TRAINS,
        **{p: TRAINED for p in PHASES[5:]}}),

    # factor 4 (see the hand-written case): only full load heats a stack past its 95 C interlock
    Coverage("hbm_overtemp", (_chip(2), _chip(1)), ("hbm",), (
        Lands("cooling", "stress", INTERLOCK, params=",factor=4", unnamed=True, later=FULL_LOAD),
        Lands("stress", "stress", INTERLOCK, params=",factor=4", unnamed=True),
        Lands("soak", "soak", INTERLOCK, case="hbm_overtemp/chip2/x4/soak+1min"),
    ), {**{p: "not run, as in cooling: " + FULL_LOAD for p in PHASES[1:7]}, "vmin_shmoo": AFTER_SOAK}),

    Coverage("pump_failure", (SLED,), (any_of("flow", "cooling_ok"),), (
        Lands("cooling", "cooling"),
        Lands("power_on", "clocks_boot", INTERLOCK, unnamed=True, instantaneous=True, later=SHORT_PHASE),
        Lands("soak", "soak", INTERLOCK, unnamed=True, instantaneous=True),
    ), {**{p: NEVER_BLIND for p in ("clocks_boot", "pcie", "hbm", "mesh", "thermal_check", "stress")},
        "vmin_shmoo": AFTER_SOAK}, cooling_lost=True),

    Coverage("coolant_leak", (SLED,), (any_of("leak", "cooling_ok"),), (
        Lands("cooling", "cooling", INTERLOCK, instantaneous=True),
        Lands("soak", "soak", INTERLOCK, unnamed=True, instantaneous=True),
    ), {**{p: NEVER_BLIND for p in PHASES[1:8]}, "vmin_shmoo": AFTER_SOAK}),

    Coverage("brownout", (SLED,), (any_of("powered", "brownout", "VIN", "input"),), (
        Lands("power_on", "power_on", GATE, unnamed=True),
        *(Lands(p, p, INTERLOCK, unnamed=True, instantaneous=True) for p in ("clocks_boot", "mesh", "soak")),
    ), {"cooling": UNPOWERED, **{p: POWERED_EVERY for p in ("pcie", "hbm", "thermal_check", "stress")},
        "vmin_shmoo": AFTER_SOAK}),

    Coverage("fan_failure", (Aim("fan", "fan=0", ()),), (any_of("fan", "cooling_ok"),), (
        Lands("soak", "soak", INTERLOCK, case="fan_failure/air@30min"),
    ), {p: AIR_ONLY for p in PHASES if p != "soak"}, AIR),

    Coverage("console_noise", (SLED,), (), (
        Lands("cooling", None, case="console_noise"),
    ), {p: NOISE for p in PHASES[1:]}),

    Coverage("sensor_stuck", (Aim("sensor", "chip=3,sensor=hbm,mode=nan", ("hbm",)),
                              Aim("sensor", "chip=0,sensor=tj,mode=nan", (chip(0), TJ)),
                              Aim("sensor", "chip=1,sensor=rail:VDD_SRAM,mode=nack", (chip(1), rail("VDD_SRAM")))),
             (any_of("nan", "nack", "acknowledge", "no PMBus answer", "cannot read", "unknown"),), (
        Lands("cooling", "cooling", NOT_PASS, case="sensor_stuck/chip1/tj/nan"),
        Lands("power_on", "power_on", NOT_PASS, case="sensor_stuck/chip2/VDD_CORE/nack"),
        Lands("pcie", "pcie", NOT_PASS, aim=0),
        # the health snapshot's rail check fails the rail that does not answer (a FAIL, never a PASS)
        Lands("hbm", "hbm", CAUGHT, aim=2),
        Lands("mesh", "mesh", NOT_PASS, aim=1),
        Lands("soak", "soak", NOT_PASS, aim=0),
    ), {"clocks_boot": "not run, as in power_on and pcie: the first reading of the sensor says UNKNOWN",
        "thermal_check": "not run, as in mesh: the first reading of the sensor says UNKNOWN",
        "stress": "not run, as in mesh and soak: the first reading of the sensor says UNKNOWN",
        "vmin_shmoo": AFTER_SOAK}),

    Coverage("power_virus_oc", (_chip(3), _chip(1)), (any_of(r"\bOC\b", "IOUT", "current", "brake", "throttle"),), (
        Lands("cooling", "clocks_boot",
              later="the boosted activity starts with the core's clock: the power brake shows at the first clock check"),
        Lands("stress", "stress", offset="1s", case="power_virus_oc/chip3"),
        # the soak's rail check each minute: VDD_CORE's IOUT_OC_WARN under the boosted load
        Lands("soak", "soak", aim=1),
    ), {"power_on": "not run, as in cooling: the power brake shows at the first clock check",
        **{p: VIRUS for p in PHASES[2:7]}, "vmin_shmoo": AFTER_SOAK}),

    Coverage("below_vmin", (_chip(0), _chip(1), _chip(2), _chip(3)), (VMIN,), (
        Lands("cooling", "pcie", case="below_vmin/chip0/before_power_on", later=RAMP),
        Lands("power_on", "pcie", later=RAMP),
        Lands("clocks_boot", "pcie", later=RAMP),
        Lands("pcie", "pcie", case="below_vmin/chip1/pcie+5s"),
        Lands("hbm", "mesh", later=RAMP),
        Lands("mesh", "mesh"),
        Lands("thermal_check", "thermal_check", aim=3),
        Lands("stress", "stress", case="below_vmin/chip2"),
        Lands("soak", "soak", case="below_vmin/chip2/soak+2min"),
    ), {"vmin_shmoo": AFTER_SOAK}),

    Coverage("thermal_runaway", (_chip(0), _chip(1), _chip(2)),
             (any_of("K/W", "psi", "gain", "runaway", "fused", "iddq", "leak", "current"),), (
        Lands("cooling", "power_on", case="thermal_runaway/chip1/leak2", later=NO_RAIL),
    ), {p: DIE for p in PHASES[1:]}),
)


def _case_id(cov: Coverage, aim: Aim, land: Lands) -> str:
    target = aim.target.replace("link=", "").replace("chip=", "chip").replace("rail=", "").replace(",", "/")
    extra = land.params.lstrip(",").replace(",", "/")
    return "/".join(x for x in (cov.fault, target, extra, f"lands@{land.phase}") if x)


def generated_cases() -> tuple[Case, ...]:
    cases = []
    for cov in COVERAGE:
        turn = 0
        for land in cov.lands:
            if land.case:
                continue
            if land.aim is None:
                aim, turn = cov.aims[turn % len(cov.aims)], turn + 1
            else:
                aim = cov.aims[land.aim]
            args = ",".join(x for x in (aim.target, land.params.lstrip(",")) if x)
            spec = cov.fault + (":" + args if args else "") + f"@{{{land.phase}+{land.offset or OFFSET[land.phase]}}}"
            says = (() if land.unnamed else aim.names) + (land.says or cov.says) if land.caught else ()
            cases.append(Case(_case_id(cov, aim, land), spec, land.caught, land.verdict, says, cov.args,
                              instantaneous=land.instantaneous, cooling_lost=cov.cooling_lost,
                              lands=land.phase))
    return tuple(cases)


GENERATED = generated_cases()
ALL_CASES = CASES + GENERATED
