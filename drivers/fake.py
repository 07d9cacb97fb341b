"""In-memory drivers, nameable in station files, so the engine's own tests run with no simulator.

They behave just enough like a bench to exercise the runner: a supply whose current follows its
load, a sled whose junction warms with stress on the clock, links that report a BER. Options
let a test make any reading return NaN, raise, or hang, and any action fail, which is how the
engine's guarantees (UNKNOWN never PASS, safe state always runs, timeouts honoured) are tested
without hardware.

Options common to all fakes:
  nan:    [reading, ...]   these readings return NaN
  error:  [name, ...]      these actions/readings raise DriverError
  lost:   [name, ...]      these raise InstrumentUnreachable (the instrument is gone)
  hang:   [name, ...]      these block until the step's deadline, then raise StepTimeout
  values: {reading: v}     these readings return v (in the reading's unit)
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import Field

from bringup.drivers.base import Driver, DriverError, InstrumentUnreachable, Param, StepTimeout, action, reading
from bringup.drivers.options import PositiveDuration


class _Fake(Driver):
    class Options(Driver.Options):
        nan: list[str] = Field([], description="these readings return NaN")
        error: list[str] = Field([], description="these actions/readings raise DriverError")
        lost: list[str] = Field([], description="these raise InstrumentUnreachable (the instrument is gone)")
        hang: list[str] = Field([], description="these block until the step's deadline, then raise StepTimeout")
        values: dict[str, float] = Field({}, description="these readings return the value (in the reading's unit)")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.log: list[tuple[float, str, dict]] = []  # every call, for tests to assert order
        # one lookup per call decides whether this call misbehaves, and how
        o = self.options
        self._mode = {name: mode for mode, names in (("nan", o.nan), ("error", o.error), ("lost", o.lost),
                                                      ("hang", o.hang)) for name in names}
        self._mode.update({name: "value" for name in o.values})

    def call(self, name: str, args: dict[str, Any]) -> Any:
        self.log.append((self.clock.now(), name, args))
        mode = self._mode.get(name)
        if mode is None:
            return super().call(name, args)
        if mode == "lost":
            raise InstrumentUnreachable(self.role, self.resource, f"no reply to {name}")
        if mode == "error":
            raise DriverError(f"{self.role}.{name}: instrument reported an error")
        if mode == "hang":
            # a stuck instrument: the transport gives up at the step's deadline, as a real one must
            left = self.remaining()
            self.clock.sleep(max(0.0, left) if left is not None else 5.0)
            raise StepTimeout(f"{self.role}.{name}: no reply before the step's deadline")
        if mode == "nan":
            return math.nan
        return self.options.values[name]


CHANNEL = Param(int, choices=(1, 2, 3), help="output channel")


class FakePowerSupply(_Fake):
    """A three-output bench supply with a resistive load on each output (option `load_ohm`)."""

    kind = "power_supply"
    class Options(_Fake.Options):
        load_ohm: dict[int, float] = Field({1: 6.0, 2: 100.0, 3: 100.0}, description="the load on each output, in Ohm")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.setpoint = {c: 0.0 for c in (1, 2, 3)}
        self.limit = {c: 1.0 for c in (1, 2, 3)}
        self.enabled = {c: False for c in (1, 2, 3)}

    @action(channel=CHANNEL, voltage=Param("V", low=0, high=30, help="output voltage"),
            current_limit=Param("A", low=0, high=500, help="current limit"))
    def set(self, channel: int, voltage: float, current_limit: float) -> None:
        """Program a channel's voltage and current limit (the output state is unchanged)."""
        self.setpoint[channel], self.limit[channel] = voltage, current_limit

    @action(state=Param(type=bool, help="on or off"), channel=Param(int, choices=(0, 1, 2, 3), default=0,
                                                                   help="0 = all channels"))
    def output(self, state: bool, channel: int = 0) -> None:
        """Switch an output (or all outputs) on or off."""
        for c in ((1, 2, 3) if channel == 0 else (channel,)):
            self.enabled[c] = state

    @reading("V", channel=Param(int, choices=(1, 2, 3), default=1))
    def voltage(self, channel: int = 1) -> float:
        """Measured output voltage (drops into current limit when the load asks for more)."""
        if not self.enabled[channel]:
            return 0.0
        r = self.options.load_ohm[channel]
        return min(self.setpoint[channel], self.limit[channel] * r)

    @reading("A", channel=Param(int, choices=(1, 2, 3), default=1))
    def current(self, channel: int = 1) -> float:
        """Measured output current."""
        return self.voltage(channel) / self.options.load_ohm[channel]


class FakeMultimeter(_Fake):
    """A multimeter reading a fixed source (option `source_v`) with a little deterministic noise."""

    kind = "multimeter"
    class Options(_Fake.Options):
        source_v: float = Field(0.75, description="the voltage it reads, in V")
        source_a: float = Field(0.0, description="the current it reads, in A")

    @reading("V", range=Param("V", default=10.0, low=0.1, high=1000))
    def voltage_dc(self, range: float = 10.0) -> float:
        """DC voltage."""
        return self.options.source_v

    @reading("A", range=Param("A", default=1.0, low=1e-4, high=10))
    def current_dc(self, range: float = 1.0) -> float:
        """DC current."""
        return self.options.source_a


class FakeCoolant(_Fake):
    """A coolant unit: reaches its setpoint instantly, reports flow while running."""

    kind = "coolant"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.running, self.setpoint_c, self.flow_lpm = False, 25.0, 0.0

    @action(setpoint=Param("degC", low=5, high=60, help="coolant supply temperature"),
            flow=Param("L/min", low=0.1, high=20, help="flow"))
    def start(self, setpoint: float, flow: float) -> None:
        """Start circulating at a supply temperature and flow."""
        self.running, self.setpoint_c, self.flow_lpm = True, setpoint, flow

    @action()
    def stop(self) -> None:
        """Stop circulating."""
        self.running = False

    @reading("L/min")
    def flow(self) -> float:
        """Measured flow."""
        return self.flow_lpm if self.running else 0.0

    @reading("degC")
    def supply_temperature(self) -> float:
        """Measured supply (inlet) temperature."""
        return self.setpoint_c


class FakeSled(_Fake):
    """A sled whose junction warms toward `inlet + R*P` with a first-order lag on the clock."""

    kind = "sled"
    class Options(_Fake.Options):
        chips: int = 4
        tau_s: PositiveDuration = Field(20.0, description="thermal time constant of the junction")
        r_kw: float = Field(0.06, description="junction-to-coolant resistance, K/W")
        idle_w: float = Field(80.0, description="power when idle, W")
        stress_w: float = Field(700.0, description="power at full stress, W")
        ber: float = Field(1e-15, description="what every BER reading returns")
        rails: dict[str, float] = Field({"VDD_CORE": 0.75, "VDD_SRAM": 0.8, "VDDIO": 1.8},
                                        description="each rail's voltage when powered, V")

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.powered = False
        self.level = 0.0
        self._tj, self._t = 30.0, self.clock.now()

    def _advance(self) -> float:
        now = self.clock.now()
        o = self.options
        target = 30.0 + (o.r_kw * (o.idle_w + self.level * (o.stress_w - o.idle_w)) if self.powered else 0.0)
        self._tj = target + (self._tj - target) * math.exp(-(now - self._t) / o.tau_s)
        self._t = now
        return self._tj

    @action()
    def power_on(self) -> None:
        """Sequence every rail on, in order."""
        self._advance()
        self.powered = True

    @action()
    def power_off(self) -> None:
        """Sequence every rail off, in reverse order."""
        self._advance()
        self.powered, self.level = False, 0.0

    @action(level=Param("%", low=0, high=100, default=100.0, help="activity"))
    def stress_start(self, level: float = 100.0) -> None:
        """Start the stress workload at a level of activity."""
        if not self.powered:
            raise DriverError("sled: stress_start refused: the sled is off")
        self._advance()
        self.level = level / 100.0

    @action()
    def stress_stop(self) -> None:
        """Stop the stress workload."""
        self._advance()
        self.level = 0.0

    @reading("V", rail=Param(type=str, choices=("VDD_CORE", "VDD_SRAM", "VDDIO"), help="rail name"),
             chip=Param(int, default=0, low=0, high=15))
    def rail_voltage(self, rail: str, chip: int = 0) -> float:
        """Die-sense voltage of a rail."""
        return self.options.rails[rail] if self.powered else 0.0

    @reading("degC")
    def max_tj(self) -> float:
        """Hottest junction temperature on the sled."""
        return self._advance()

    @reading("", port=Param(int, low=0, high=3), pattern=Param(type=str, choices=("PRBS7", "PRBS15", "PRBS31"),
                                                                default="PRBS31"),
             confidence=Param("%", default=95.0, low=50, high=99.99))
    def prbs_ber(self, port: int, pattern: str = "PRBS31", confidence: float = 95.0) -> float:
        """Upper bound of a mesh port's bit error rate at a confidence level."""
        if not self.powered:
            raise DriverError("sled: links are down (the sled is off)")
        return self.options.ber

    @reading("", port=Param(int, low=0, high=3), duration=Param("s", low=0, high=3600, help="how long the test runs"),
             holds="duration")
    def bert_ber(self, port: int, duration: float) -> float:
        """A port's bit error rate from an external error tester that blocks until its run is over:
        it holds the runner for `duration` (validation refuses one longer than an armed interlock's interval)."""
        if not self.powered:
            raise DriverError("sled: links are down (the sled is off)")
        self.clock.sleep(duration)  # not self.wait: this instrument cannot let the interlocks in
        return self.options.ber

    @reading("", idempotent=True)
    def powered_state(self) -> float:
        """1 when every rail is up, else 0."""
        return 1.0 if self.powered else 0.0

    def telemetry(self) -> dict[str, tuple[float, str]]:
        return {"sled.max_tj": (self._advance(), "degC")}
