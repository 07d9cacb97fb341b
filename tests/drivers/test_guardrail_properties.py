"""No station lets a setpoint past a limit it declares: generated guardrail rules, typos among them,
through station loading, validation, and the real E36312A driver on a real pyvisa-py session to the
simulated supply (issue 20: `channel: '2'` or `max: nan V` validated and limited nothing)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bringup.check.station import load_station
from bringup.check.validate import validate
from bringup.core.clock import SimClock
from bringup.drivers.base import DriverError
from bringup.drivers.e36312a import KeysightE36312A
from bringup.language.source import InvalidInput
from bringup.sim_devices.instruments.scpi_server import InstrumentServer
from bringup.sim_devices.instruments.sim_psu import SimE36312A

# what people mistype for "output 2": each must be refused, never read as "no output"
SELECTOR_TYPOS = ["'2'", "[2]", "true", "false", "7", "0", "2.0", "'ch2'", "null", "{}"]
LIMIT_TYPOS = ["nan V", "inf V", "-inf V", ".nan", "5", "5 A", "'6 V'x"]
RATED_VOLTS = {1: 6.18, 2: 25.75, 3: 25.75}

# typos one rule in five or so, so that about half the stations load and are run
_valid_channel = st.sampled_from(["1", "2", "3"])
selectors = st.one_of(st.none(), _valid_channel, _valid_channel, _valid_channel, st.sampled_from(SELECTOR_TYPOS))
_volts = st.floats(0.5, 26.0).map(lambda x: f"{x:.3g} V")
volt_limits = st.one_of(_volts, _volts, _volts, _volts, st.sampled_from(LIMIT_TYPOS))
amp_limits = st.one_of(st.none(), st.floats(0.01, 1.0).map(lambda x: f"{x:.3g} A"))
rules = st.lists(st.tuples(selectors, volt_limits, amp_limits), min_size=1, max_size=3)
setpoints = st.tuples(st.sampled_from([1, 2, 3]), st.floats(0.0, 25.75).map(lambda x: float(f"{x:.4g}")),
                      st.floats(0.001, 1.0).map(lambda x: float(f"{x:.3g}")))

WORK = Path(tempfile.mkdtemp(prefix="guardrail-props-"))


def _station_text(rs: list[tuple]) -> str:
    lines = []
    for sel, volts, amps in rs:
        parts = ([f"channel: {sel}"] if sel is not None else []) + [f"voltage: {{max: {volts}}}"]
        parts += [f"current_limit: {{max: {amps}}}"] if amps else []
        lines.append(f"      - {{{', '.join(parts)}}}")
    return ("station: s\nroles:\n  psu:\n    driver: keysight.e36312a\n"
            "    resource: TCPIP::127.0.0.1::5025::SOCKET\n    guardrails:\n" + "\n".join(lines) + "\n")


def _declared(rs: list[tuple]) -> tuple[dict[int, float], dict[int, float]]:
    """The limit each output is meant to have: what a person reading the station file expects."""
    volts, amps = {c: math.inf for c in (1, 2, 3)}, {c: math.inf for c in (1, 2, 3)}
    for sel, v, a in rs:
        for c in (1, 2, 3) if sel is None else (int(sel),):
            volts[c] = min(volts[c], float(v.split()[0]))
            if a:
                amps[c] = min(amps[c], float(a.split()[0]))
    return volts, amps


def _procedure(channel: int, volts: float, amps: float) -> Path:
    p = WORK / "p.yaml"
    p.write_text(f"""procedure: p
requires: {{psu: power_supply}}
phases:
  - id: a
    steps:
      - do: psu.set
        with: {{channel: {channel}, voltage: {volts!r} V, current_limit: {amps!r} A}}
""")
    return p


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rs=rules, setpoint=setpoints)
def test_no_generated_station_lets_a_setpoint_past_its_declared_limit(rs, setpoint):
    typo = any(sel in SELECTOR_TYPOS or volts in LIMIT_TYPOS for sel, volts, _ in rs)
    try:
        station = load_station(WORK / "s.yaml", _station_text(rs))
    except InvalidInput:
        assert typo, _station_text(rs)  # refused: nothing can run on it
        return
    assert not typo, f"a typo validated:\n{_station_text(rs)}"
    volts_max, amps_max = _declared(rs)
    channel, volts, amps = setpoint
    beyond = volts > volts_max[channel] or amps > amps_max[channel]

    # validation: a procedure past the declared limit is refused before anything runs
    try:
        validate(_procedure(channel, volts, amps), station)
        validated = True
    except InvalidInput:
        validated = False
    assert validated != beyond, (station.roles["psu"].guardrails, setpoint)

    # run time: the real driver, a real socket, the simulated supply; the limit holds there too
    sim = SimE36312A(SimClock(), noise=False)
    before = {c: (out.volts, out.amps) for c, out in sim.outputs.items()}  # the supply's power-on state
    with InstrumentServer(sim) as server:
        psu = KeysightE36312A(role="psu", resource=server.resource, options={"timeout": 2.0},
                              guardrails=station.roles["psu"].guardrails, clock=sim.clock)
        psu.open()
        try:
            try:
                psu.call("set", {"channel": channel, "voltage": volts, "current_limit": amps})
                psu.call("output", {"state": True, "channel": channel})
                done = True
            except DriverError:
                done = False
        finally:
            psu.close()
    assert done == (not beyond and volts <= RATED_VOLTS[channel]), (station.roles["psu"].guardrails, setpoint)
    for c, out in sim.outputs.items():
        # whatever was programmed is within the declared limits; a refused set left the output as it was
        assert (out.volts, out.amps) == before[c] or out.volts <= volts_max[c] and out.amps <= amps_max[c]
        if done and c == channel and math.isfinite(volts_max[c]):
            # the supply's own protection sits at the station's limit (never under its 1 V floor)
            assert out.ovp <= max(volts_max[c], 1.0) + 1e-9


# -- the N5700: one output, so any selector is a typo ------------------------------------------------
_bulk_selector = st.one_of(st.none(), st.none(), st.none(), st.sampled_from(["channel: 1", "output: 1"]))
bulk_rules = st.lists(st.tuples(_bulk_selector,
                                st.one_of(_volts, _volts, _volts, st.sampled_from(LIMIT_TYPOS)),
                                st.one_of(st.none(), st.floats(1.0, 120.0).map(lambda x: f"{x:.3g} A"))),
                      min_size=1, max_size=3)
bulk_setpoints = st.tuples(st.floats(0.0, 12.5).map(lambda x: float(f"{x:.4g}")),
                           st.floats(0.0, 120.0).map(lambda x: float(f"{x:.4g}")))


def _bulk_text(rs: list[tuple]) -> str:
    lines = []
    for sel, v, a in rs:
        parts = ([sel] if sel else []) + [f"voltage: {{max: {v}}}"] + ([f"current_limit: {{max: {a}}}"] if a else [])
        lines.append(f"      - {{{', '.join(parts)}}}")
    return ("station: s\nroles:\n  bulk:\n    driver: keysight.n5700\n"
            "    resource: TCPIP::127.0.0.1::5025::SOCKET\n    guardrails:\n" + "\n".join(lines) + "\n")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rs=bulk_rules, setpoint=bulk_setpoints)
def test_no_generated_station_lets_the_single_output_supply_past_its_declared_limit(rs, setpoint):
    from bringup.drivers.n5700 import KeysightN5700
    from bringup.sim_devices.instruments.sim_n5700 import SimN5700

    typo = any(sel or v in LIMIT_TYPOS for sel, v, _ in rs)
    try:
        station = load_station(WORK / "bulk.yaml", _bulk_text(rs))
    except InvalidInput:
        assert typo, _bulk_text(rs)
        return
    assert not typo, f"a typo validated:\n{_bulk_text(rs)}"
    volts_max = min(float(v.split()[0]) for _, v, _ in rs)
    amps_max = min([float(a.split()[0]) for _, _, a in rs if a] + [math.inf])
    volts, amps = setpoint
    sim = SimN5700(SimClock(), noise=False)
    before = (sim.output.volts, sim.output.amps)
    with InstrumentServer(sim) as server:
        bulk = KeysightN5700(role="bulk", resource=server.resource, options={"timeout": 2.0},
                             guardrails=station.roles["bulk"].guardrails, clock=sim.clock)
        bulk.open()
        try:
            bulk.call("set", {"voltage": volts, "current_limit": amps})
            bulk.call("output", {"state": True})
            done = True
        except DriverError:
            done = False
        finally:
            bulk.close()
    assert done == (volts <= volts_max and amps <= amps_max), (station.roles["bulk"].guardrails, setpoint)
    out = sim.output
    assert (out.volts, out.amps) == before or out.volts <= volts_max and out.amps <= amps_max
