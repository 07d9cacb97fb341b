"""A simulated LAUDA Integral XT process thermostat with an LRZ 926 Ethernet interface and a MID
flow controller, answering LAUDA's documented ASCII interface protocol.

Protocol (LAUDA Integral XT / interface modules LRZ 913-926 operating instructions): one command
per line, terminated by CR, CRLF or LFCR; every reply ends in CRLF. `_` and a space are the same
separator. Write commands answer `OK`; read commands answer the value; a refused command
answers `ERR_<n>` (2 wrong input, 3 wrong command, 5 syntax error in value, 6 illegal value,
8 module not available, 32 TiH <= TiL). On an RS-485 bus a command may start with the unit's
address (`A015_IN_PV_00`), and the reply then carries it too.

    OUT_SP_00_25.00   setpoint (°C), within the outflow limits TiL..TiH
    OUT_SP_01_3       pump power stage 1..6
    OUT_SP_02_2       cooling: 0 off / 1 on / 2 automatic
    OUT_SP_04_90 / OUT_SP_05_-30   outflow limits TiH / TiL
    OUT_SP_09_6.00    flow control setpoint (L/min, MID flow controller)
    OUT_MODE_05_1     flow control off / on
    OUT_PAR_00..03    control parameters Xp (K), Tn, Tv, Td (s); read back with IN_PAR_00..03
    OUT_PV_05_31.50   external temperature preset through the interface (stored; the twin keeps
                      regulating its outflow, as the unit does while its control source is internal)
    START / STOP      leave / enter standby (pump, heater and cooling off)
    IN_PV_00 outflow temperature, IN_PV_01 controlled temperature, IN_PV_02 pump pressure (bar),
    IN_PV_03 external Pt100 (here: the return line), IN_PV_05 bath level, IN_PV_07 flow (L/min),
    IN_PV_08 actuating signal (W, negative = cooling), IN_PV_10 outflow in 0.001 °C,
    IN_SP_00..05, IN_SP_09, IN_MODE_02 (0 = on, 1 = standby), IN_MODE_05, TYPE, VERSION_R,
    VERSION_Y, STATUS (0 ok, -1 fault), STAT (seven 0/1 flags: error, alarm, warning,
    overtemperature, low level, high level, no external value)

The physics is deliberately simple (every constant is an estimate and a constructor argument):
the outflow temperature approaches the setpoint with a first-order lag while the unit can carry
the heat load away, and rises above it when the load exceeds its cooling capacity; the flow
approaches its setpoint (or the pump stage's flow) in a couple of seconds; the return line is
warmer by P / (flow * c_p). The sled reads `supply_temperature()` and `flow()`; `on_change` is
told whenever a command changes what the unit is doing.
"""

from __future__ import annotations

import math
import re
import threading
from typing import Any, Callable

WATER_J_PER_L_K = 4180.0  # volumetric heat capacity of water, J/(L*K)
_VALUE = re.compile(r"^-?(?:\d{1,3}(?:\.\d{0,2})?|\.\d{1,2})$")
_ADDRESS = re.compile(r"^(A\d{3})_(.+)$")
#: control parameters Xp (K), Tn, Tv (s), Td (s): (est.) factory values and the ranges the unit accepts
CONTROL_DEFAULTS = {"00": 2.5, "01": 38.0, "02": 3.0, "03": 0.3}
CONTROL_RANGES = {"00": (0.1, 99.9), "01": (1.0, 999.0), "02": (0.0, 999.0), "03": (0.0, 999.9)}


class LaudaError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class SimLaudaIntegralXT:
    """Setpoint, flow control, pump stages, outflow limits, standby and a lagging bath temperature."""

    reply_termination = "\r\n"
    type_name = "XT"
    versions = {"R": "V3.39", "S": "V1.41", "B": "V3.39", "T": "V1.28", "Y": "V2.21"}

    def __init__(self, clock: Any, *, heat_load: Callable[[], float] | None = None,
                 on_change: Callable[["SimLaudaIntegralXT"], None] | None = None, ambient_c: float = 25.0,
                 capacity_w: float = 6000.0, tau_s: float = 60.0, flow_tau_s: float = 2.0,
                 overload_k_per_w: float = 0.004, limits_c: tuple[float, float] = (-30.0, 90.0),
                 max_flow_lpm: float = 20.0, stage_flow_lpm: float = 3.0, flow_controller: bool = True,
                 pressure_bar_per_lpm2: float = 0.02) -> None:
        self.clock = clock
        self.heat_load = heat_load or (lambda: 0.0)
        self.on_change = on_change
        self.ambient_c = ambient_c
        self.capacity_w = capacity_w
        self.tau_s, self.flow_tau_s = tau_s, flow_tau_s
        self.overload_k_per_w = overload_k_per_w
        self.limits_c = limits_c
        self.max_flow_lpm = max_flow_lpm
        self.stage_flow_lpm = stage_flow_lpm
        self.flow_controller = flow_controller
        self.pressure_k = pressure_bar_per_lpm2
        self.lock = threading.RLock()
        self.pump_factor = 1.0  # a failing pump delivers only this fraction
        # the unit as it powers up: in standby, at ambient
        self.running = False
        self.setpoint_c = 20.0
        self.tih_c, self.til_c = limits_c[1], limits_c[0]
        self.overtemp_c = limits_c[1] + 5.0
        self.pump_stage = 3
        self.cooling_mode = 2
        self.flow_control = False
        self.flow_setpoint_lpm = 0.0
        self.keyboard_locked = False
        self.control_parameters = dict(CONTROL_DEFAULTS)
        self.external_preset_c: float | None = None
        self.overtemp_fault = False
        self._t = clock.now()
        self._temp = ambient_c
        self._flow = 0.0

    # -- physics --------------------------------------------------------------------------------------
    def _targets(self) -> tuple[float, float]:
        if not self.running:
            return self.ambient_c, 0.0
        flow = (self.flow_setpoint_lpm if self.flow_control else self.pump_stage * self.stage_flow_lpm)
        load = max(float(self.heat_load()), 0.0)
        excess = max(load - (self.capacity_w if self.cooling_mode != 0 else 0.0), 0.0)
        return self.setpoint_c + excess * self.overload_k_per_w, flow * self.pump_factor

    def advance(self) -> None:
        """Bring temperature and flow up to the clock's now (exact first-order steps)."""
        now = self.clock.now()
        dt = now - self._t
        if dt <= 0:
            return
        self._t = now
        temp_target, flow_target = self._targets()
        self._temp = temp_target + (self._temp - temp_target) * math.exp(-dt / self.tau_s)
        self._flow = flow_target + (self._flow - flow_target) * math.exp(-dt / self.flow_tau_s)
        if self.running and self._temp > self.overtemp_c:
            self.overtemp_fault = True  # the protection system switches the unit off
            self.running = False
            self._notify()

    def supply_temperature(self) -> float:
        """Outflow (supply) temperature, °C."""
        self.advance()
        return self._temp

    def flow(self) -> float:
        """Flow through the external loop, L/min."""
        self.advance()
        return self._flow

    def return_temperature(self) -> float:
        """Return-line temperature: the supply plus what the load heats the flow by."""
        self.advance()
        if self._flow < 1e-3:
            return self._temp
        return self._temp + max(float(self.heat_load()), 0.0) / (WATER_J_PER_L_K * self._flow / 60.0)

    def fail_pump(self, fraction: float) -> None:
        """Fault injection: the pump delivers only `fraction` of its flow from now on."""
        with self.lock:
            self.advance()
            self.pump_factor = float(fraction)

    def _notify(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    # -- the protocol ---------------------------------------------------------------------------------
    def handle(self, line: str) -> str | None:
        """One command line -> its reply (`OK`, a value or `ERR_n`)."""
        text = line.strip().upper().replace(" ", "_")
        if not text:
            return None
        prefix = ""
        m = _ADDRESS.match(text)
        if m:
            prefix, text = m.group(1) + "_", m.group(2)
        with self.lock:
            self.advance()
            try:
                reply = self._execute(text)
            except LaudaError as exc:
                reply = f"ERR_{exc.code}"
        return prefix + reply

    def _execute(self, text: str) -> str:
        if len(text) > 80:
            raise LaudaError(2)
        if text in ("START", "STOP"):
            self.running = text == "START" and not self.overtemp_fault
            if text == "START" and self.overtemp_fault:
                raise LaudaError(6)
            self._notify()
            return "OK"
        if text == "TYPE":
            return self.type_name
        if text.startswith("VERSION_"):
            v = self.versions.get(text[8:])
            if v is None:
                raise LaudaError(8)
            return v
        if text == "STATUS":
            return "-1" if self.overtemp_fault else "0"
        if text == "STAT":
            return "1001000" if self.overtemp_fault else "0000000"
        parts = text.split("_")
        if len(parts) >= 3 and parts[0] == "IN":
            if len(parts) != 3:
                raise LaudaError(3)
            return self._read(parts[1], parts[2])
        if len(parts) >= 4 and parts[0] == "OUT":
            if len(parts) != 4:
                raise LaudaError(5)
            self._write(parts[1], parts[2], parts[3])
            self._notify()
            return "OK"
        raise LaudaError(3)

    def _read(self, group: str, index: str) -> str:
        if group == "PV":
            readers: dict[str, Callable[[], str]] = {
                "00": lambda: f"{self._temp:.2f}",
                "01": lambda: f"{self._temp:.2f}",
                "02": lambda: f"{self.pressure_k * self._flow ** 2:.2f}",
                "03": lambda: f"{self.return_temperature():.2f}",
                "05": lambda: "6",
                "07": self._flow_reading,
                "08": lambda: f"{-self._cooling_w():.0f}",
                "10": lambda: f"{self._temp:.3f}",
            }
        elif group == "SP":
            readers = {
                "00": lambda: f"{self.setpoint_c:.2f}", "01": lambda: str(self.pump_stage),
                "02": lambda: str(self.cooling_mode), "03": lambda: f"{self.overtemp_c:.1f}",
                "04": lambda: f"{self.tih_c:.1f}", "05": lambda: f"{self.til_c:.1f}",
                "09": lambda: self._need_mid(f"{self.flow_setpoint_lpm:.2f}"),
            }
        elif group == "PAR":
            readers = {k: (lambda k=k: f"{self.control_parameters[k]:.1f}") for k in CONTROL_RANGES}
        elif group == "MODE":
            readers = {"00": lambda: "1" if self.keyboard_locked else "0", "01": lambda: "0",
                       "02": lambda: "0" if self.running else "1",
                       "05": lambda: self._need_mid("1" if self.flow_control else "0")}
        else:
            raise LaudaError(3)
        reader = readers.get(index)
        if reader is None:
            raise LaudaError(3)
        return reader()

    def _cooling_w(self) -> float:
        """What the controller spends on cooling: the load, up to the unit's capacity."""
        if not self.running or self.cooling_mode == 0:
            return 0.0
        return min(max(float(self.heat_load()), 0.0), self.capacity_w)

    def _flow_reading(self) -> str:
        return self._need_mid(f"{self._flow:.2f}")

    def _need_mid(self, text: str) -> str:
        if not self.flow_controller:
            raise LaudaError(8)
        return text

    def _write(self, group: str, index: str, raw: str) -> None:
        if not _VALUE.match(raw):
            raise LaudaError(5)
        value = float(raw)
        if group == "SP":
            if index == "00":
                if not (self.til_c <= value <= self.tih_c):
                    raise LaudaError(6)
                self.setpoint_c = value
            elif index == "01":
                if value != int(value) or not (1 <= value <= 6):
                    raise LaudaError(6)
                self.pump_stage = int(value)
            elif index == "02":
                if value not in (0, 1, 2):
                    raise LaudaError(6)
                self.cooling_mode = int(value)
            elif index in ("04", "05"):
                tih, til = (value, self.til_c) if index == "04" else (self.tih_c, value)
                if not (self.limits_c[0] <= value <= self.limits_c[1]):
                    raise LaudaError(6)
                if tih <= til:
                    raise LaudaError(32)
                self.tih_c, self.til_c = tih, til
                self.setpoint_c = min(max(self.setpoint_c, til), tih)
            elif index == "09":
                self._need_mid("")
                if not (0.0 <= value <= self.max_flow_lpm):
                    raise LaudaError(6)
                self.flow_setpoint_lpm = value
            else:
                raise LaudaError(3)
        elif group == "PAR":
            if index not in CONTROL_RANGES:
                raise LaudaError(3)
            low, high = CONTROL_RANGES[index]
            if not (low <= value <= high):
                raise LaudaError(6)
            self.control_parameters[index] = value
        elif group == "PV" and index == "05":
            if not (self.limits_c[0] <= value <= self.limits_c[1]):
                raise LaudaError(6)
            self.external_preset_c = value
        elif group == "MODE":
            if value not in (0, 1):
                raise LaudaError(6)
            if index == "00":
                self.keyboard_locked = value == 1
            elif index == "05":
                self._need_mid("")
                self.flow_control = value == 1
            else:
                raise LaudaError(3)
        else:
            raise LaudaError(3)
