"""Interlock reads that never lie about time or about a lost instrument (issue 20).

- every interlock read has its own deadline, taken when that read starts: one slow read in a
  round delays the reads after it but never fails them (before, they shared the round's
  deadline and failed with "no time left", and three such rounds aborted a healthy soak);
- an interlock whose instrument is gone (InstrumentUnreachable) aborts to the safe state at
  that read, not as "1 of 3" failed reads.

The fake bench, because the point is the runner's logic; the slow and the vanishing instrument
check their deadline and raise what the real transports raise (drivers/scpi.py, sled_console_base).
"""

from __future__ import annotations

import pytest

from bringup.drivers.base import InstrumentUnreachable, StepTimeout, reading
from bringup.drivers.fake import FakePowerSupply, FakeSled
from engine_helpers import publish_driver, run


class SlowConsoleSled(FakeSled):
    """A sled whose console read takes 1.5 s every fifth time (a retried exchange), as a serial
    console does, within its own deadline."""

    reads = 0

    @reading("degC")
    def console_temp(self) -> float:
        """The board temperature over the console."""
        SlowConsoleSled.reads += 1
        if SlowConsoleSled.reads % 5 == 0:
            self.wait(1.5)
        return 30.0


class DeadlineSupply(FakePowerSupply):
    """A supply whose reading gives up when its deadline has passed, as a VISA transport does."""

    lose_after_s: float | None = None

    @reading("A", channel=FakePowerSupply.current.__bringup_spec__.params["channel"])
    def output_current(self, channel: int = 1) -> float:
        """Measured output current, over a transport that honours the deadline."""
        left = self.remaining()
        if left is not None and left <= 0:
            raise StepTimeout(f"{self.role}: no time left before the step's deadline")
        if self.lose_after_s is not None and self.clock.now() >= self.lose_after_s:
            raise InstrumentUnreachable(self.role, self.resource, "connection closed by the instrument")
        return 0.5


STATION = """
station: deadlines
clock: simulated
roles:
  psu: {driver: test.deadline_supply}
  sled: {driver: test.slow_console_sled}
"""


@pytest.fixture(autouse=True)
def _test_drivers_installed(tmp_path_factory, monkeypatch):
    """The two test drivers below, published as an installed package would (stations name drivers;
    they never import a module)."""
    site = tmp_path_factory.mktemp("site")
    publish_driver(site, "test.deadline_supply", "test_interlock_deadlines:DeadlineSupply")
    publish_driver(site, "test.slow_console_sled", "test_interlock_deadlines:SlowConsoleSled")
    monkeypatch.syspath_prepend(str(site))


PROC = """
procedure: deadlines
version: 1
requires: {sled: sled, psu: power_supply}
safe_state:
  - sled.power_off
  - psu.output: off
monitors:
  - read: sled.console_temp
    every: 2 s
    limit: {high: 90 degC}
  - read: psu.output_current
    every: 1 s
    limit: {high: 40 A}
  - read: sled.max_tj
    every: 1 s
    limit: {high: 95 degC}
phases:
  - id: soak
    steps:
      - do: sled.power_on
      - soak: {duration: SOAK, every: EVERY}
        steps:
          - measure: sled.max_tj
            limit: {high: 95 degC}
"""


@pytest.fixture(autouse=True)
def _fresh():
    SlowConsoleSled.reads, DeadlineSupply.lose_after_s = 0, None


def _summary(out) -> dict:
    [summary] = [e for e in out.reader.events(out.run_id) if e["kind"] == "interlocks"][-1:]
    return {il["name"]: il for il in summary["data"]["interlocks"]}


def test_a_slow_read_delays_but_never_fails_the_later_interlocks_of_its_round(tmp_path):
    out = run(tmp_path, PROC.replace("SOAK", "1 min").replace("EVERY", "20 s"), station=STATION)
    assert out.result.exit_code == 0, out.result.reason
    assert SlowConsoleSled.reads >= 10  # slow rounds happened
    cannot = [e["message"] for e in out.reader.events(out.run_id) if "cannot read" in e["message"]]
    assert cannot == []  # before: "interlock psu.output_current: cannot read (no time left ...), 1 of 3"
    summary = _summary(out)
    assert summary["psu.output_current"]["failed_reads"] == 0 and summary["sled.max_tj"]["failed_reads"] == 0
    samples = out.reader.samples(out.run_id, "monitor/psu.output_current")
    assert samples and all(s["value"] == 0.5 for s in samples)
    # a read after a slow one is stamped when it happened (its round's start + 1.5 s), and is late
    delayed = [s["t"] for s in samples if s["t"] % 1]
    assert delayed and all(t % 1 == pytest.approx(0.5) for t in delayed)
    assert summary["psu.output_current"]["late"] and summary["psu.output_current"]["largest_gap_s"] >= 1.5


def test_a_two_hour_soak_with_periodic_slow_reads_does_not_abort(tmp_path):
    out = run(tmp_path, PROC.replace("SOAK", "2 h").replace("EVERY", "10 min"), station=STATION)
    assert out.result.exit_code == 0, out.result.reason
    assert out.phase_states() == {"soak": "passed"}
    assert SlowConsoleSled.reads > 700  # 2 h of a 2 s interlock, one read in five slow
    assert _summary(out)["psu.output_current"]["failed_reads"] == 0


def test_an_interlock_whose_instrument_is_lost_aborts_at_that_read(tmp_path):
    DeadlineSupply.lose_after_s = 30.0
    out = run(tmp_path, PROC.replace("SOAK", "2 h").replace("EVERY", "10 min"), station=STATION)
    assert out.result.exit_code == 3
    assert "psu" in out.result.reason and "connection closed" in out.result.reason
    events = out.reader.events(out.run_id)
    assert not [e for e in events if "of 3" in e["message"]]  # not counted as one transient failed read
    [safe] = [e for e in events if e["kind"] == "safe_state" and e["message"].startswith("safe state:")]
    assert safe["t"] == pytest.approx(30.0)  # the first read after the loss, not three reads later
    steps = {s["path"]: s["outcome"] for s in out.reader.steps(out.run_id) if s["path"].startswith("safe_state")}
    assert list(steps.values()) == ["ok", "skipped"]  # the sled made safe; the lost supply skipped
