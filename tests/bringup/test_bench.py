"""The bench: every driver call of a run goes through it, each with its own deadline, and two
runners (one per DUT, each in its own thread) sharing an instrument never interleave on it."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from bringup.run import execution
from bringup.run.abort import Abort
from bringup.run.bench import Bench, InstrumentLost
from bringup.core.clock import RealClock, SimClock
from bringup.drivers.base import Driver, Param, action, reading
from bringup.drivers.fake import FakeCoolant, FakeMultimeter, FakePowerSupply, FakeSled

from engine_helpers import run


class SharedSupply(Driver):
    """A supply two DUT slots share: it writes down who is inside it, and with which deadline."""

    kind = "power_supply"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.trace: list[tuple[str, str, float | None]] = []

    @action(voltage=Param("V", low=0, high=30))
    def set(self, voltage: float) -> None:
        """Program the output; the instrument takes a moment (a real 2 ms), so another caller
        has every chance to get in meanwhile if nothing stops it."""
        me = threading.current_thread().name
        self.trace.append(("enter", me, self.deadline))
        self.notes.append(f"set by {me}")
        self.wait(0.002)
        self.trace.append(("exit", me, self.deadline))

    @reading("s")
    def deadline_now(self) -> float:
        """The deadline this call was made under."""
        return self.deadline

    @action(seconds=Param("s", low=0, high=60))
    def slow(self, seconds: float) -> None:
        """An action that lets time pass while the instrument works (a watched wait)."""
        self.trace.append(("before", "", self.deadline))
        self.wait(seconds)
        self.trace.append(("after", "", self.deadline))


ADDRESS = "TCPIP::10.0.0.9::5025::SOCKET"


@pytest.mark.parametrize("drivers", ["one driver", "a driver each, one address"])
def test_two_slots_sharing_a_supply_never_interleave_on_it_and_each_keeps_its_deadline_and_notes(drivers):
    clock = RealClock()
    trace: list[tuple[str, str, float | None]] = []
    shared = SharedSupply(role="psu", resource=ADDRESS, clock=clock)
    psus = {"dut-a": shared, "dut-b": shared}
    if drivers != "one driver":  # each slot's station made its own driver for the same instrument
        psus["dut-b"] = SharedSupply(role="psu", resource=ADDRESS.lower(), clock=clock)
    for psu in psus.values():
        psu.trace = trace
    notes: dict[str, list[str]] = {"dut-a": [], "dut-b": []}
    deadline = {"dut-a": clock.now() + 100.0, "dut-b": clock.now() + 200.0}
    errors: list[BaseException] = []

    def slot(name: str) -> None:
        bench = Bench({"psu": psus[name]}, clock, on_note=lambda role, note: notes[name].append(note))
        try:
            for i in range(25):
                bench.call("psu", "set", {"voltage": float(i)}, deadline[name])
        except BaseException as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=slot, args=(n,), name=n) for n in notes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(trace) == 2 * 2 * 25
    for enter, leave in zip(trace[0::2], trace[1::2]):
        # every call is whole: the next one starts only after this one left, and neither saw
        # the other slot's deadline
        assert (enter[0], leave[0]) == ("enter", "exit") and enter[1] == leave[1]
        assert enter[2] == leave[2] == deadline[enter[1]]
    assert {n for _, n, _ in trace} == {"dut-a", "dut-b"}
    # each slot's record has its own driver notes, all of them
    assert notes == {n: [f"set by {n}"] * 25 for n in notes}


def test_a_read_inside_a_paused_action_has_its_own_deadline_and_the_action_gets_its_back():
    psu = SharedSupply(role="psu", clock=SimClock())
    bench = Bench({"psu": psu}, psu.clock)
    inner: list[float] = []

    def watched_wait(seconds: float) -> bool:  # the run's interlocks read in the middle of the action
        inner.append(bench.call("psu", "deadline_now", {}, 7.0))
        return psu.clock.sleep(seconds)

    bench.pause = watched_wait
    bench.call("psu", "slow", {"seconds": 1.0}, 50.0)
    assert inner == [7.0]
    assert psu.trace == [("before", "", 50.0), ("after", "", 50.0)]
    assert psu.deadline is None and not psu.in_call  # nothing left behind on the driver
    assert bench.calls == Counter({("psu", "slow"): 1, ("psu", "deadline_now"): 1})


def test_a_lost_instrument_is_one_abort_that_names_it_and_the_bench_remembers():
    psu = FakePowerSupply(role="psu", clock=SimClock(), options={"lost": ["voltage"]})
    bench = Bench({"psu": psu}, psu.clock)
    with pytest.raises(InstrumentLost) as info:
        bench.call("psu", "voltage", {"channel": 1}, 10.0)
    assert isinstance(info.value, Abort) and info.value.role == "psu"
    assert "instrument unreachable: role 'psu'" in info.value.reason
    assert bench.lost == {"psu"}


PROCEDURE = """
procedure: t
requires: {psu: power_supply, dmm: multimeter, cdu: coolant, sled: sled}
safe_state:
  - sled.stress_stop
  - sled.power_off
  - psu.output: off
monitors:
  - read: sled.max_tj
    every: 1 s
    limit: {high: 100 degC}
phases:
  - id: p
    steps:
      - do: psu.set
        with: {channel: 1, voltage: 12 V, current_limit: 40 A}
      - do: psu.output
        with: {state: on}
      - do: sled.power_on
      - measure: dmm.voltage_dc
      - wait_until:
          condition: psu.current(channel=1) > 0.1 A
          timeout: 5 s
      - wait: 30 s
"""

ENTRIES = ("open", "identity", "telemetry", "call", "close")


def test_every_driver_call_of_a_run_goes_through_the_bench(tmp_path, monkeypatch):
    """Open, identity, steps, interlocks, telemetry, safe state, close: each one reaches its
    driver inside a bench call, and the bench's record counts every one."""
    seen: Counter[tuple[str, str]] = Counter()
    outside: list[tuple[str, str]] = []
    for cls in (FakePowerSupply, FakeMultimeter, FakeCoolant, FakeSled):
        for entry in ENTRIES:
            original = getattr(cls, entry)

            def spy(self, *args, _original=original, _entry=entry, **kw):
                what = args[0] if _entry == "call" else _entry
                seen[self.role, what] += 1
                if not self.in_call:
                    outside.append((self.role, what))
                return _original(self, *args, **kw)
            monkeypatch.setattr(cls, entry, spy)
    benches: list[Bench] = []

    class RecordedBench(Bench):
        def __init__(self, *args, **kw) -> None:
            super().__init__(*args, **kw)
            benches.append(self)
    monkeypatch.setattr(execution, "Bench", RecordedBench)

    o = run(tmp_path, PROCEDURE)
    assert o.result.exit_code == 0, o.result.reason
    assert outside == []
    [bench] = benches
    assert bench.calls == seen
    kinds = {what for _, what in seen}
    assert {"open", "identity", "telemetry", "close", "set", "output", "voltage_dc", "current", "max_tj",
            "stress_stop", "power_off"} <= kinds
    assert seen["sled", "max_tj"] >= 30  # the interlock, every second of the wait
