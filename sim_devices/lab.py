"""The simulated lab: a sled and the bench around it, each on the transport its real counterpart uses.

    bench supply (E36312A command set)  TCP 127.0.0.1:port  output 1 feeds the sled's input
    multimeter (34461A command set)     TCP 127.0.0.1:port  probes chip 0's core rail at the die
    coolant unit (LAUDA Integral XT)    TCP 127.0.0.1:port  its supply temperature and flow are the sled's coolant
    sled management console             pseudo-terminal     the BMC's console over "serial"

On an air-cooled sled the coolant unit stands in for the thermal chamber the sled sits in: its
supply temperature is the air the fans draw in, and its flow reaches nothing (the fans move the
air, run by the BMC), so a procedure written for either sled drives the same instruments.

One clock drives all of it, and one lock serialises every request, so a request sees the whole lab
at one instant. Before each request the lab couples the instruments to the sled: whatever the
supply outputs is the sled's input, whatever the sled draws is the supply's load, and whatever
the coolant unit delivers is the sled's coolant (air: its ambient). Drivers reach it only through
PyVISA and pyserial.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field, replace
from typing import Any

from bringup.core.clock import SimClock

from bringup.sim_devices.console.console_server import ConsoleServer
from bringup.sim_devices.instruments.scpi_server import InstrumentServer
from bringup.sim_devices.instruments.sim_chiller import SimLaudaIntegralXT
from bringup.sim_devices.instruments.sim_dmm import SimK34461A
from bringup.sim_devices.instruments.sim_psu import Rating, SimE36312A
from bringup.sim_devices.sled.sled import Sled

#: The supply's output 1 feeds a whole sled: an E36312A command set on a bigger output (est. 100 A
#: per chip at 12 V; a real lab puts a bulk supply or an eFuse-fed 12 V bus here).
AMPS_PER_CHIP = 100.0


class LabLock:
    """One re-entrant lock for the lab; taking it first brings the sled and the bench together."""

    def __init__(self, lab: "SimLab") -> None:
        self._lock = threading.RLock()
        self._lab = lab
        self._depth = 0

    def __enter__(self) -> "LabLock":
        self._lock.acquire()
        self._depth += 1
        if self._depth == 1:
            try:
                self._lab.couple()
            except BaseException:
                self._depth -= 1
                self._lock.release()
                raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self._depth -= 1
        self._lock.release()

    # what the instruments' own code expects of a lock
    def acquire(self, *a: Any, **k: Any) -> bool:
        self.__enter__()
        return True

    def release(self) -> None:
        self.__exit__()


@dataclass
class FaultRequest:
    """`--fault NAME[:key=value,...][@TIME]`, e.g. `marginal_lane:chip=2,port=1,lane=5@30min`."""

    name: str
    target: dict[str, Any] = field(default_factory=dict)
    at: float | None = None

    @classmethod
    def parse(cls, text: str) -> "FaultRequest":
        from bringup.core.units import UnitError, parse_quantity

        head, _, when = text.partition("@")
        name, _, spec = head.partition(":")
        target: dict[str, Any] = {}
        for part in filter(None, spec.split(",")):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"--fault {text}: write targets as key=value, e.g. chip=2,lane=5")
            target[key.strip()] = _scalar(value.strip())
        at = None
        if when:
            try:
                q = parse_quantity(when)
            except UnitError as exc:
                raise ValueError(f"--fault {text}: the time after @ {exc}") from None
            if q.dimension not in ("time", "number"):
                raise ValueError(f"--fault {text}: the time after @ must be a duration such as 3h or 90s")
            at = q.si
        return cls(name.strip(), target, at)


def _scalar(text: str) -> Any:
    """`2` -> 2, `1.5` -> 1.5, `HBM_VDD` -> "HBM_VDD": fault targets and parameters as written."""
    if re.fullmatch(r"[-+]?\d+", text):
        return int(text)
    if re.fullmatch(r"[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?", text):
        return float(text)
    return text  # names, and words such as nan (sensor_stuck:mode=nan)


class SimLab:
    def __init__(self, *, sled: Sled | None = None, clock: SimClock | None = None, seed: int = 0,
                 faults: list[FaultRequest] | tuple[FaultRequest, ...] = ()) -> None:
        self.clock = clock if clock is not None else SimClock()
        self.sled = sled if sled is not None else Sled(clock=self.clock, seed=seed)
        if self.sled.clock is not self.clock:
            raise ValueError("the sled and the lab must share one clock")
        self.lock = LabLock(self)
        n = self.sled.n_chips
        ratings = {1: Rating(14.0, AMPS_PER_CHIP * n, 15.0), 2: Rating(25.75, 1.03, 27.5), 3: Rating(25.75, 1.03, 27.5)}
        self.psu = SimE36312A(self.clock, load=self._load, ratings=ratings, serial="SIM0001")
        self.dmm = SimK34461A(self.clock, sources={"VOLT": self._core_volts, "CURR": lambda: 0.0})
        self.chiller = SimLaudaIntegralXT(self.clock, heat_load=self._heat)
        for instrument in (self.psu, self.dmm, self.chiller):
            instrument.lock = self.lock
        self.servers = {"psu": InstrumentServer(self.psu, name="psu"), "dmm": InstrumentServer(self.dmm, name="dmm"),
                        "cdu": InstrumentServer(self.chiller, name="cdu")}
        self.console = ConsoleServer(self.sled, lock=self.lock)
        self.console_path: str | None = None
        self.injected = [self.inject(f) for f in faults]

    # -- coupling ---------------------------------------------------------------------------------
    def couple(self) -> None:
        """Bring the sled up to date with the bench: the supply's output and the coolant unit."""
        out = self.psu.outputs[1]
        # the programmed level and limit: the sled browns out by itself if it needs more than the limit
        self.sled.set_input(out.volts if out.on else 0.0, out.amps if out.on else 0.0)
        if self.sled.config.cooling == "air":
            self.sled.set_coolant(inlet_c=self.chiller.supply_temperature())
            return
        running = self.chiller.running
        self.sled.set_coolant(self.chiller.supply_temperature(), self.chiller.flow() if running else 0.0)

    def _load(self, channel: int, volts: float) -> float:
        if channel != 1:
            return volts / 1e4  # outputs 2 and 3 feed nothing but a 10 kOhm bleeder
        return self.sled.input_current() if volts > 0 else 0.0

    def _heat(self) -> float:
        return self.sled.input_power()

    def _core_volts(self) -> float:
        rail = self.sled.rails(0)["VDD_CORE"]
        return float(rail["vout"]) if rail["phase"] != "off" else 0.0

    # -- faults ------------------------------------------------------------------------------------
    def inject(self, fault: FaultRequest) -> dict[str, Any]:
        """Inject a catalog fault into the sled (now, or at a simulated time); returns its ground truth."""
        from bringup.sim_devices.faults.faults import CATALOG

        # `--fault thermal_runaway:chip=1,leak_factor=2`: one key=value list names both where the
        # fault is (targets) and how bad it is (parameters); the catalog says which is which
        spec = CATALOG.get(fault.name)
        params = {k: v for k, v in fault.target.items() if spec is not None and k in spec.params}
        target = {k: v for k, v in fault.target.items() if k not in params}
        with self.lock:
            return self.sled.inject(fault.name, target or None, params or None, fault.at)

    # -- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "SimLab":
        for server in self.servers.values():
            server.start()
        self.console_path = self.console.start()
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.console.stop()

    def __enter__(self) -> "SimLab":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def addresses(self) -> "LabAddresses":
        """Where this lab's instruments are. Before start() the addresses are placeholders
        (validation needs only the drivers and the guardrails, not where the instruments are)."""
        resources = {role: s.resource for role, s in self.servers.items() if s.port}
        return LabAddresses.placeholders(self.sled.n_chips).with_resources(resources, self.console_path)


@dataclass(frozen=True)
class LabAddresses:
    """What a station needs to know of a simulated lab: where each instrument listens, the
    console's pseudo-terminal, and the sled's size (the supply's current rating follows it).
    The engine builds its station from these; the lab writes no station file."""

    psu: str
    dmm: str
    cdu: str
    console: str
    chips: int
    supply_amps: float  # channel 1's rated current: the station's current guardrail

    @classmethod
    def placeholders(cls, chips: int) -> "LabAddresses":
        """A lab not yet serving: addresses nothing listens at, enough to validate against."""
        nowhere = "TCPIP::127.0.0.1::0::SOCKET"
        return cls(nowhere, nowhere, nowhere, "/dev/null", chips, AMPS_PER_CHIP * chips)

    def with_resources(self, resources: dict[str, str], console: str | None) -> "LabAddresses":
        return replace(self, **{role: r for role, r in resources.items() if role in ("psu", "dmm", "cdu")},
                       console=console or self.console)
