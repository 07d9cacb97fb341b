"""The simulated sled's BMC shell: the console's commands, executed on a `Sled`.

`BmcShell.execute(line)` takes one command line (no tag, no checksum: the console server has
taken those off) and returns an `Answer`: body lines and a status. Every body line is a record of
`key=value` pairs; a value is a bare token, a double-quoted string (`\\"` and `\\\\` escaped), or
a comma-separated list. docs/console.md is the reference for the command set.

Commands that take time on a real sled (HBM training and BIST, a PRBS run, a golden-compare run)
return `wait_s`: the server lets that much clock time pass, outside the lab's lock, before it
answers, as a BMC that blocks on the test would.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Callable

from bringup.sim_devices.power import codec, pmbus
from bringup.sim_devices.console.bmc_format import E_INTERNAL, E_NO_SUCH, E_PMBUS, E_STATE, E_UNKNOWN, E_USAGE, Answer, ConsoleError, record
from bringup.sim_devices.console.bmc_jobs import Jobs
from bringup.sim_devices.console.bmc_links import LinkCommands

VCORE_RANGE = (0.3, 1.0)      # the BMC's own limits on `vcore`, volts
FREQ_RANGE = (1e8, 3e9)       # and on `freq`, hertz

HELP = [
    "id                                   model, serial, firmware, chips, rails, ports, lanes",
    "power [chip]                         sequencer and boot state per chip",
    "power on|off [chip]                  start the power-on / power-off sequence",
    "reset [chip]                         warm reset (rails stay up): the chip boots again",
    "power sequence <chip>                the last power-on sequence: rail, seconds from its start",
    "input                                the sled's input: volts, amps, watts",
    "coolant                              inlet, outlet, flow, pump, leak, fans, cooling_ok",
    "rail <chip> [RAIL]                   decoded rail readings and status registers",
    "pmbus <chip> <RAIL> read <CODE>[,<CODE>...]   raw PMBus words",
    "pmbus <chip> <RAIL> write <CODE> [<VALUE>]    raw PMBus write (CLEAR_FAULTS has no value)",
    "sensors [chip]                       tj, hbm, power, clock, core rail, throttle, errors",
    "pll <chip> | boot <chip> | health <chip>",
    "fuses [chip]                         id, IDDQ bin, speed bin, Vmin burned at wafer sort",
    "hbm train|bist|status <chip>",
    "pcie status|retrain|trace <chip> | pcie margin <chip> [lane]",
    "mesh status|retrain <chip> <port> | mesh margin <chip> <port> [lane]",
    "mesh prbs <chip> <port> [lane|all] [PRBS7|PRBS15|PRBS23|PRBS31] [seconds]",
    "stress | stress start <level%> [compute|virus] [chip] | stress stop [chip]",
    "stress check [chip] [seconds]        golden-result compare",
    "vcore <volts> [chip] | freq <hz> [chip]",
    "log [since]                          event log from a clock time",
    "start <command>                      run a long command (hbm train|bist, mesh prbs, stress check)",
    "                                     as a job: answers job=<id> done_in=<seconds> at once",
    "job <id>                             a job's state (running, left_s) or, when done, its reply",
    "last <tag>                           the reply to tagged command <tag> again",
]


class BmcShell(LinkCommands):
    """Interprets console commands against one sled. `lock` guards the sled (shared with the lab)."""

    def __init__(self, sled: Any, *, lock: Any = None, model: str = "SIM-SLED",
                 serial: str | None = None, firmware: str = "bringup-sim-bmc 1.0") -> None:
        self.sled = sled
        self.lock = lock if lock is not None else threading.RLock()
        self.model, self.firmware = model, firmware
        self.serial = serial or f"SIM{getattr(sled, 'seed', 0):06d}"
        self._commands: dict[str, Callable[[list[str]], Any]] = {
            "help": self._help, "id": self._id, "power": self._power, "reset": self._reset, "input": self._input,
            "coolant": self._coolant, "rail": self._rail, "pmbus": self._pmbus, "sensors": self._sensors,
            "pll": self._pll, "fuses": self._fuses, "boot": self._boot, "health": self._health, "hbm": self._hbm,
            "pcie": self._pcie, "mesh": self._mesh, "stress": self._stress, "vcore": self._vcore,
            "freq": self._freq, "log": self._log, "job": lambda args: self.jobs.collect(args),
        }
        self.jobs = Jobs(sled.now)

    def execute(self, line: str) -> Answer:
        """Run one command line; never raises (a failure is an ERR answer)."""
        words = line.split()
        if words and words[0].lower() == "start":
            if len(words) < 2:
                return Answer(code=E_USAGE, text="usage: start <command>")
            with self.lock:  # the job's start and its answer's due time are one moment of the sled
                return self.jobs.start(self.execute(" ".join(words[1:])))
        handler = self._commands.get(words[0].lower()) if words else None
        if handler is None:
            return Answer(code=E_UNKNOWN, text=f"unknown command {words[0]!r}; try 'help'")
        try:
            with self.lock:
                out = handler(words[1:])
        except ConsoleError as exc:
            return Answer(code=exc.code, text=exc.text)
        except pmbus.PmbusError as exc:
            return Answer(code=E_PMBUS, text=f"PMBus: {exc}")
        except ValueError as exc:
            return Answer(code=E_NO_SUCH, text=str(exc))
        except RuntimeError as exc:
            return Answer(code=E_STATE, text=str(exc))
        except Exception as exc:  # a BMC answers even when its firmware trips over something
            return Answer(code=E_INTERNAL, text=f"{type(exc).__name__}: {exc}")
        return out if isinstance(out, Answer) else Answer(lines=list(out))

    # -- arguments -------------------------------------------------------------------------------
    def _int(self, text: str, what: str) -> int:
        try:
            return int(text, 0)
        except ValueError:
            raise ConsoleError(E_USAGE, f"{what} must be a whole number, not {text!r}") from None

    def _float(self, text: str, what: str) -> float:
        try:
            value = float(text.rstrip("%"))
        except ValueError:
            raise ConsoleError(E_USAGE, f"{what} must be a number, not {text!r}") from None
        if not math.isfinite(value):
            raise ConsoleError(E_USAGE, f"{what} must be finite, not {text!r}")
        return value

    def _chip(self, text: str) -> int:
        chip = self._int(text, "chip")
        if not 0 <= chip < self.sled.n_chips:
            raise ConsoleError(E_NO_SUCH, f"no chip {chip}: chips are 0..{self.sled.n_chips - 1}")
        return chip

    def _chips(self, args: list[str]) -> list[int]:
        return [self._chip(args[0])] if args else list(range(self.sled.n_chips))

    def _rail_name(self, text: str) -> str:
        name = text.upper()
        if name not in self.sled.rail_names:
            raise ConsoleError(E_NO_SUCH, f"no rail {text!r}; rails are {','.join(self.sled.rail_names)}")
        return name

    @staticmethod
    def _need(args: list[str], n: int, usage: str) -> None:
        if len(args) < n:
            raise ConsoleError(E_USAGE, f"usage: {usage}")

    # -- identity, power, input, cooling -------------------------------------------------------
    def _help(self, args: list[str]) -> list[str]:
        return list(HELP)

    def _id(self, args: list[str]) -> list[str]:
        s = self.sled
        pcie = s.pcie_status(0)
        mesh = s.mesh_status(0, 0)
        return [record(model=self.model, serial=self.serial, firmware=self.firmware, chips=s.n_chips,
                       rails=s.rail_names, ports=s.config.mesh_ports, stacks=s.config.hbm_stacks,
                       pcie_lanes=int(pcie["capable_width"]), mesh_lanes=len(mesh["lane_up"]))]

    def _sequencer_state(self, chip: int) -> str:
        # the BMC runs the sequencer, so it knows its state; the facade has no reader for it
        return str(self.sled.engine.chips[chip].sequencer.state)

    def _power(self, args: list[str]) -> list[str]:
        if args and args[0].lower() == "sequence":
            # the last power-on sequence as the sequencer ran it: each rail, and when it was switched
            # on, in seconds from the first rail's enable
            c = self._chip(args[1]) if len(args) > 1 else 0
            history = self.sled.sequence_history(c)
            start = 0
            for i in range(1, len(history)):
                if history[i][2] == "on" and history[i - 1][2] != "on":
                    start = i
            on = [(t, rail) for t, rail, what in history[start:] if what == "on"]
            return [record(chip=c, rail=rail, t_s=float(t - on[0][0])) for t, rail in on]
        if args and args[0].lower() in ("on", "off"):
            verb, chips = args[0].lower(), args[1:]
            chip = self._chip(chips[0]) if chips else None
            if verb == "off":
                self.sled.power_off(chip)
                return []
            if not self.sled.power_on(chip):
                refusal = [text for _, sev, text in self.sled.events()[-3:] if "refused" in text]
                raise ConsoleError(E_STATE, refusal[-1] if refusal else "power-on refused")
            return []
        lines = []
        for c in self._chips(args):
            rails = self.sled.rails(c).values()
            lines.append(record(chip=c, state=self._sequencer_state(c),
                                enabled=sum(1 for r in rails if r["enabled"]), pg=sum(1 for r in rails if r["pg"]),
                                rails=len(rails), boot=self.sled.boot_state(c)))
        return lines

    def _reset(self, args: list[str]) -> list[str]:
        if not self.sled.reset(self._chip(args[0]) if args else None):
            refusal = [text for _, sev, text in self.sled.events()[-3:] if "refused" in text]
            raise ConsoleError(E_STATE, refusal[-1] if refusal else "reset refused")
        return []

    def _input(self, args: list[str]) -> list[str]:
        s = self.sled
        return [record(vin_v=float(s.input_voltage()), iin_a=float(s.input_current()), pin_w=float(s.input_power()))]

    def _coolant(self, args: list[str]) -> list[str]:
        c = self.sled.coolant_status()
        return [record(cooling=c["cooling"], inlet_c=float(c["inlet_c"]), outlet_c=float(c["outlet_c"]),
                       flow_lpm=float(c["flow"]), pump_ok=bool(c["pump_ok"]), leak=bool(c["leak"]),
                       heat_w=float(c["heat_w"]), fan_rpm=[float(x) for x in c["fan_rpm"]],
                       cooling_ok=bool(c["cooling_ok"]))]

    # -- rails and PMBus ---------------------------------------------------------------------------
    def _rail(self, args: list[str]) -> list[str]:
        self._need(args, 1, "rail <chip> [RAIL]")
        chip = self._chip(args[0])
        names = [self._rail_name(args[1])] if len(args) > 1 else self.sled.rail_names
        snaps = self.sled.rails(chip)
        return [self._rail_line(chip, name, snaps[name]) for name in names]

    def _rail_line(self, chip: int, name: str, snap: dict[str, Any]) -> str:
        # what the BMC knows without PMBus (enable and PG are pins it wires itself) ...
        head = dict(rail=name, phase=snap["phase"], enabled=bool(snap["enabled"]), pg=bool(snap["pg"]))
        # ... and what it reads from the regulator, decoded: a stuck or silent device shows here
        try:
            w = {code: self.sled.pmbus_read(chip, name, code) for code in (
                pmbus.VOUT_MODE, pmbus.VOUT_COMMAND, pmbus.READ_VOUT, pmbus.READ_IOUT,
                pmbus.READ_TEMPERATURE_1, pmbus.READ_POUT, pmbus.STATUS_WORD, pmbus.STATUS_VOUT,
                pmbus.STATUS_IOUT, pmbus.STATUS_INPUT, pmbus.STATUS_TEMPERATURE, pmbus.STATUS_CML)}
        except pmbus.PmbusError as exc:
            return record(**head, pmbus="nack", error=str(exc))
        mode = w[pmbus.VOUT_MODE]
        u16 = lambda code: math.nan if w[code] == 0xFFFF else codec.ulinear16_decode(w[code], mode)
        l11 = lambda code: math.nan if w[code] == 0xFFFF else codec.linear11_decode(w[code])
        hexw = lambda code: f"0x{w[code]:04X}"
        return record(**head, vset_v=u16(pmbus.VOUT_COMMAND), vout_v=u16(pmbus.READ_VOUT),
                      iout_a=l11(pmbus.READ_IOUT), temp_c=l11(pmbus.READ_TEMPERATURE_1),
                      pout_w=l11(pmbus.READ_POUT), status_word=hexw(pmbus.STATUS_WORD),
                      status_vout=hexw(pmbus.STATUS_VOUT), status_iout=hexw(pmbus.STATUS_IOUT),
                      status_input=hexw(pmbus.STATUS_INPUT), status_temperature=hexw(pmbus.STATUS_TEMPERATURE),
                      status_cml=hexw(pmbus.STATUS_CML))

    def _code(self, text: str) -> int:
        named = {v: k for k, v in pmbus.COMMAND_NAMES.items()}
        if text.upper() in named:
            return named[text.upper()]
        code = self._int(text, "PMBus command code")
        if not 0 <= code <= 0xFF:
            raise ConsoleError(E_USAGE, f"a PMBus command code is a byte, not {text!r}")
        return code

    def _pmbus(self, args: list[str]) -> list[str]:
        usage = "pmbus <chip> <RAIL> read <CODE>[,<CODE>...] | pmbus <chip> <RAIL> write <CODE> [<VALUE>]"
        self._need(args, 4, usage)
        chip, rail, verb = self._chip(args[0]), self._rail_name(args[1]), args[2].lower()
        if verb == "read":
            codes = [self._code(c) for c in args[3].split(",") if c]
            words = [self.sled.pmbus_read(chip, rail, code) for code in codes]
            return [record(code=f"0x{c:02X}", name=pmbus.COMMAND_NAMES.get(c, "-"), value=f"0x{w:04X}")
                    for c, w in zip(codes, words)]
        if verb == "write":
            value = self._int(args[4], "PMBus value") if len(args) > 4 else None
            self.sled.pmbus_write(chip, rail, self._code(args[3]), value)
            return []
        raise ConsoleError(E_USAGE, f"usage: {usage}")

    # -- chip state -------------------------------------------------------------------------------
    def _sensors(self, args: list[str]) -> list[str]:
        lines = []
        chips = self._chips(args)
        for c, s in zip(chips, self.sled.sensors_of(chips)):  # one snapshot: every chip at one instant
            lines.append(record(chip=c, tj_c=s["tj_c"], hbm_c=s["hbm_c"], power_w=s["power_w"], freq_hz=s["freq_hz"],
                                vdd_core_v=s["vdd_core_v"], idd_core_a=s["idd_core_a"],
                                throttle=f"0x{s['throttle_reasons']:02X}", sram_ce=s["sram_ce"], sram_ue=s["sram_ue"],
                                mismatches=s["golden_mismatches"]))
        return lines

    def _fuses(self, args: list[str]) -> list[str]:
        # the BMC's copy of each chip's fuse bank, taken at the sled's final test: it reads with the
        # rails off, and a chip that leaks or weakens later still reads what it was sorted as
        lines = []
        for c in self._chips(args):
            f = self.sled.fuses(c)
            lines.append(record(chip=c, id=f["id"], iddq_a=f["iddq_a"], iddq_v=f["iddq_v"],
                                iddq_temp_c=f["iddq_temp_c"], speed_bin_hz=f["speed_bin_hz"],
                                vmin_v=f["vmin_v"], vmin_freq_hz=f["vmin_freq_hz"],
                                vmin_temp_c=f["vmin_temp_c"]))
        return lines

    def _pll(self, args: list[str]) -> list[str]:
        self._need(args, 1, "pll <chip>")
        c = self._chip(args[0])
        return [record(chip=c, locked=bool(self.sled.pll_locked(c)))]

    def _boot(self, args: list[str]) -> list[str]:
        self._need(args, 1, "boot <chip>")
        c = self._chip(args[0])
        return [record(chip=c, state=self.sled.boot_state(c))]

    def _health(self, args: list[str]) -> list[str]:
        self._need(args, 1, "health <chip>")
        c = self._chip(args[0])
        d = self.sled.health_detail(c)
        return [record(chip=c, health=d["health"], boot=d["boot"], problems="; ".join(map(str, d["problems"])))]

    def _hbm(self, args: list[str]) -> Answer | list[str]:
        self._need(args, 2, "hbm train|bist|status <chip>")
        verb, c = args[0].lower(), self._chip(args[1])
        now = self.sled.now()
        if verb == "train":
            res = self.sled.hbm_train(c)
            lines = [record(stack=i, passed=bool(r["passed"]), reason=r["reason"], channels=list(r["channels"]))
                     for i, r in enumerate(res)]
            return Answer(lines, wait_s=max([r["done_s"] for r in res], default=now) - now)
        if verb == "bist":
            res = self.sled.hbm_bist(c)
            lines = [record(stack=i, passed=bool(r["passed"]), ce=int(r["ce"]), ue=int(r["ue"]), reason=r["reason"])
                     for i, r in enumerate(res)]
            return Answer(lines, wait_s=max([r["done_s"] for r in res], default=now) - now)
        if verb == "status":
            return [record(stack=i, trained=bool(s["trained"]), training=bool(s["training"]),
                           capacity_gib=float(s["capacity_gib"]), ecc_ce=int(s["ecc_correctable"]),
                           ecc_ue=int(s["ecc_uncorrectable"]), temp_c=float(s["temp_c"]),
                           refresh=int(s["refresh_multiplier"]), throttled=bool(s["throttled"]),
                           cattrip=bool(s["cattrip"]), bandwidth=float(s["bandwidth_fraction"]))
                    for i, s in enumerate(self.sled.hbm_status(c))]
        raise ConsoleError(E_USAGE, "usage: hbm train|bist|status <chip>")

    # -- workload and settings ----------------------------------------------------------------------
    def _stress(self, args: list[str]) -> Answer | list[str]:
        verb = args[0].lower() if args else "status"
        rest = args[1:]
        if verb == "status":
            levels = self.sled.engine.stress_level  # the BMC started the workload: it knows its level
            return [record(chip=c, level_pct=float(levels[c]) * 100.0) for c in range(self.sled.n_chips)]
        if verb == "start":
            self._need(rest, 1, "stress start <level%> [compute|virus] [chip]")
            level = self._float(rest[0], "level")
            if not 0 <= level <= 100:
                raise ConsoleError(E_NO_SUCH, f"stress level is 0..100 %, not {rest[0]}")
            kind, chip = "compute", None
            for word in rest[1:]:
                if word.lower() in ("compute", "virus"):
                    kind = word.lower()
                else:
                    chip = self._chip(word)
            self.sled.stress_start(level / 100.0, kind, chip)
            return []
        if verb == "stop":
            self.sled.stress_stop(self._chip(rest[0]) if rest else None)
            return []
        if verb == "check":
            chip = self._chip(rest[0]) if rest and rest[0].lower() != "all" else None
            seconds = self._float(rest[1], "seconds") if len(rest) > 1 else 1.0
            if not 0 < seconds <= 3600:
                raise ConsoleError(E_NO_SUCH, f"a golden-compare run lasts 0..3600 s, not {seconds:g}")
            res = self.sled.stress_check(chip, seconds)
            return Answer([record(chip=int(r["chip"]), passed=bool(r["passed"]), ran=bool(r["ran"]),
                                  mismatches=int(r["mismatches"]), ce=int(r["ce"]), ue=int(r["ue"]), hang=bool(r["hang"]),
                                  vdd_die_v=float(r["vdd_die_v"]), freq_hz=float(r["freq_hz"]), tj_c=float(r["tj_c"]))
                           for r in res], wait_s=seconds)
        raise ConsoleError(E_USAGE, "usage: stress [start <level%> [kind] [chip] | stop [chip] | check [chip] [seconds]]")

    def _vcore(self, args: list[str]) -> list[str]:
        self._need(args, 1, "vcore <volts> [chip]")
        volts = self._float(args[0], "volts")
        if not VCORE_RANGE[0] <= volts <= VCORE_RANGE[1]:
            raise ConsoleError(E_NO_SUCH, f"vcore {volts:g} V is outside the BMC's {VCORE_RANGE[0]}..{VCORE_RANGE[1]} V")
        self.sled.set_core_voltage(volts, self._chip(args[1]) if len(args) > 1 else None)
        return []

    def _freq(self, args: list[str]) -> list[str]:
        self._need(args, 1, "freq <hz> [chip]")
        hz = self._float(args[0], "frequency")
        if not FREQ_RANGE[0] <= hz <= FREQ_RANGE[1]:
            raise ConsoleError(E_NO_SUCH, f"freq {hz:g} Hz is outside the BMC's {FREQ_RANGE[0]:g}..{FREQ_RANGE[1]:g} Hz")
        self.sled.set_frequency(hz, self._chip(args[1]) if len(args) > 1 else None)
        return []

    def _log(self, args: list[str]) -> list[str]:
        since = self._float(args[0], "since") if args else -math.inf
        return [record(t=float(t), severity=sev, text=text) for t, sev, text in self.sled.events(since)]
