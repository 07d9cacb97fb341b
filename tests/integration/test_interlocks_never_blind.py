"""Interlocks are never blind: a pump failure or a coolant leak, injected inside every phase of the
whole-sled bring-up (inside the phase's longest console action, a 60 s PRBS31 run among them), is
caught within one interlock interval of the moment it could first be seen, and no armed interlock
ever went unread for more than its interval plus one poll.

Everything is judged from the store, in simulated time, so the checks are exact: the monitor
samples give every read, the phases when each interlock was armed, the monitor measurements when
the violation was caught. Before this, each 60 s PRBS run left the junction unread for 60 s and a
pump failure at 600 s was first seen at 635 s.

Each case is a real `bringup run` against the embedded lab; the cases run two at a time.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pytest

from bringup.run.monitors import ON_TIME_SLACK_S
from bringup.store import StoreReader
from bringup.check.validate import load_procedure
from bringup.check import binding

ROOT = Path(__file__).resolve().parents[2]
PROCEDURE = ROOT / "procedures" / "sled_bringup.yaml"
SOAK = "10min"  # the soak phase is the same at any length; its faults land inside it all the same
PROC, _ = load_procedure(PROCEDURE)
PHASES = [p.id for p in PROC.phases]
# which interlock can see each fault first, and so bounds how late it may be caught
SEES = {"pump_failure": "sled.coolant_flow", "coolant_leak": "sled.leak"}


def _every(name: str) -> float:
    m = next(m for m in PROC.monitors if (m.name or m.read) == name)
    return binding.evaluate(m.every, {k: binding.parse_parameter(v.default) for k, v in PROC.parameters.items()})


def _run(store: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "bringup.cli", "run", str(PROCEDURE), "-p", f"soak={SOAK}", "--store", str(store)]
    if fault:
        argv += ["--fault", fault]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT)


def _longest_action(reader: StoreReader, run_id: int, phase: dict) -> tuple[float, float]:
    """The longest stretch of a phase with nothing recorded: one action (a PRBS run, a boot)."""
    times = {phase["started_t"], phase["ended_t"]}
    times |= {m["t"] for m in reader.measurements(run_id) if m["path"].split("/")[0] == phase["phase_id"]}
    for s in reader.steps(run_id):
        if s["path"].split("/")[0] == phase["phase_id"]:
            times |= {s["started_t"], s["ended_t"]}
    inside = sorted(t for t in times if phase["started_t"] <= t <= phase["ended_t"])
    return max(zip(inside, inside[1:]), key=lambda span: span[1] - span[0])


@pytest.fixture(scope="module")
def cases(tmp_path_factory) -> Iterator[dict[tuple[str, str], tuple[float, Path, Future]]]:
    """Every (fault, phase) case started on a pool of two, timed from a healthy run of the same night."""
    folder = tmp_path_factory.mktemp("never_blind")
    healthy = folder / "healthy.sqlite"
    done = _run(healthy)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with StoreReader(healthy) as reader:
        run_id = reader.latest_run_id()
        phases = {p["phase_id"]: p for p in reader.phases(run_id)}
        spans = {pid: _longest_action(reader, run_id, phases[pid]) for pid in PHASES}
    pool = ThreadPoolExecutor(max_workers=2)
    out = {}
    for pid, (lo, hi) in spans.items():
        # pump failure half way into the longest action, leak three quarters in: two times per phase
        for fault, at in (("pump_failure", lo + 0.5 * (hi - lo)), ("coolant_leak", lo + 0.75 * (hi - lo))):
            at = round(at, 3)
            store = folder / f"{fault}-{pid}.sqlite"
            out[(fault, pid)] = (at, store, pool.submit(_run, store, f"{fault}@{at}s"))
    yield out
    pool.shutdown(wait=True, cancel_futures=True)


def _armed_windows(phases: list[dict], monitor, end_t: float) -> list[tuple[float, float]]:
    """When the runner held this interlock armed: the phases it is armed in (after its `after`
    phase passed), up to the moment the run went to its safe state."""
    out = []
    passed = set()
    for p in sorted((p for p in phases if p["started_t"] is not None), key=lambda p: p["order"]):
        if (not monitor.during or p["phase_id"] in monitor.during) and (monitor.after is None or monitor.after in passed):
            out.append((p["started_t"], min(p["ended_t"] if p["ended_t"] is not None else end_t, end_t)))
        if p["state"] == "passed":
            passed.add(p["phase_id"])
    # armed between phases too, when armed for the whole run: merge touching windows
    merged: list[tuple[float, float]] = []
    for a, b in out:
        if merged and a <= merged[-1][1] + 1e-9:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


@pytest.mark.parametrize("fault", sorted(SEES))
@pytest.mark.parametrize("phase", PHASES)
def test_a_fault_inside_any_phase_is_caught_within_one_interval_and_no_interlock_went_unread(cases, fault, phase):
    at, store, future = cases[(fault, phase)]
    done = future.result()
    with StoreReader(store) as reader:
        run_id = reader.latest_run_id()
        run = reader.run(run_id)
        phases = reader.phases(run_id)
        safe_t = next(e["t"] for e in reader.events(run_id) if e["kind"] == "safe_state")
        watcher = next(m for m in PROC.monitors if (m.name or m.read) == SEES[fault])
        by_id = {p["phase_id"]: p for p in phases}
        if watcher.after is not None and not (by_id[watcher.after]["state"] == "passed"
                                              and by_id[watcher.after]["ended_t"] <= at):
            # before its interlock is armed (the pump fails while the cooling is being proven):
            # the phase's own gate refuses the sled before anything is powered
            assert done.returncode == 1 and by_id[phase]["state"] == "failed", done.stdout[-3000:]
            assert all(by_id[p]["state"] == "skipped" for p in PHASES[PHASES.index(phase) + 1:])
            return
        assert done.returncode == 3, f"{fault}@{at}s in {phase}: exit {done.returncode}\n{done.stdout[-3000:]}"
        # caught: the first interlock violation, within one interval of the fault
        trips = [m for m in reader.measurements(run_id) if m["path"].startswith("monitors/") and m["verdict"] != "PASS"]
        assert trips, f"{fault}@{at}s in {phase} was not caught by an interlock: {run['reason']}"
        caught = min(t["t"] for t in trips)
        every = _every(SEES[fault])
        assert at <= caught <= at + every + ON_TIME_SLACK_S, (
            f"{fault}@{at}s in {phase}: caught at {caught} s, more than {every:g} s after it could be seen "
            f"({run['reason']})")
        # never blind: every armed interlock read at its interval, from the samples alone
        worst_seen: tuple[float, str] = (0.0, "")
        for m in PROC.monitors:
            name = m.name or m.read
            every_m = _every(name)
            reads = [s["t"] for s in reader.samples(run_id, f"monitor/{name}")]
            for a, b in _armed_windows(phases, m, safe_t):
                inside = [a] + [t for t in reads if a <= t <= b] + [b]
                worst = max((y - x for x, y in zip(inside, inside[1:])), default=0.0)
                worst_seen = max(worst_seen, (worst, name))
                assert worst <= every_m + ON_TIME_SLACK_S, (
                    f"{fault}@{at}s: interlock {name} went {worst:.6g} s unread (every {every_m:g} s) "
                    f"between {a} and {b}")
        print(f"{fault}@{at:g}s in {phase}: caught after {caught - at:.3f} s by {trips[0]['name']}; "
              f"worst gap {worst_seen[0]:g} s ({worst_seen[1]})")
        # and the record says so: the run's own summary agrees, and nothing was late
        summary = [e for e in reader.events(run_id) if e["kind"] == "interlocks"][-1]["data"]["interlocks"]
        assert not [i["name"] for i in summary if i["late"]]
        # the safe state: rails off, cooling left on, no hardware trip
        truth = [e for e in reader.events(run_id) if e["kind"] == "ground_truth"][-1]["data"]["simulator"]["final"]
        assert truth["rails_all_off"] and truth["cooling"]["chiller_running"] and not truth["trips"]
