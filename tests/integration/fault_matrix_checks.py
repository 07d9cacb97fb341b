"""The fault matrix's judgement of one run, read back from its store: the catch phase and verdict,
the diagnosis, nothing after the failing gate, the safe state, the simulator's ground truth, and
no interlock read late. test_fault_matrix.py runs the cases and calls these; each check appends
what a user would notice to `problems`.
"""

from __future__ import annotations

import os
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bringup.store import StoreReader

from fault_matrix_cases import CAUGHT, GATE, INTERLOCK, NOT_PASS, Case

ROOT = Path(__file__).resolve().parents[2]
PROCEDURE = Path(os.environ.get("BRINGUP_FAULT_MATRIX_PROCEDURE") or ROOT / "procedures" / "sled_bringup.yaml")
EPS = 1e-6


# -- the procedure under test ----------------------------------------------------------------------
@dataclass(frozen=True)
class Gates:
    phases: tuple[str, ...]
    safe_steps: int
    parameters: frozenset[str] = frozenset()
    error: str | None = None


def _gates() -> Gates:
    from bringup.check.validate import load_procedure

    try:
        proc, _ = load_procedure(PROCEDURE)
    except Exception as exc:  # a procedure mid-rewrite: every case says why it could not run
        return Gates((), 0, error=f"{PROCEDURE}: {exc}")
    return Gates(tuple(p.id for p in proc.phases), len(proc.safe_state), frozenset(proc.parameters))


GATES = _gates()


# -- reading one run back ----------------------------------------------------------------------------
@dataclass
class Run:
    reader: StoreReader
    id: int
    run: dict
    phases: list[dict]
    steps: list[dict]
    measurements: list[dict]
    events: list[dict]
    truth: dict | None

    @classmethod
    def read(cls, store: Path) -> "Run | None":
        if not store.is_file():
            return None
        r = StoreReader(store)
        rid = r.latest_run_id()
        if rid is None:
            return None
        events = r.events(rid)
        truth = next((e["data"]["simulator"] for e in events if e["kind"] == "ground_truth"), None)
        return cls(r, rid, r.run(rid), r.phases(rid), r.steps(rid), r.measurements(rid), events, truth)

    def phase(self, pid: str) -> dict | None:
        return next((p for p in self.phases if p["phase_id"] == pid), None)

    def under(self, rows: list[dict], pid: str) -> list[dict]:
        return [row for row in rows if row["path"].split("/")[0] == pid]


def _phase_line(p: dict) -> str:
    reason = (p["reason"] or "")[:300]
    return f"  {p['phase_id']:<14} {p['state']:<8} {p['verdict'] or '-':<8} {reason}"


def _report(result: Any, run: "Run | None", problems: list[str]) -> str:
    case = result.case
    head = [f"case {case.id}: expected " + (f"caught at {case.phase} as {case.caught}" if case.phase
                                             else "a passing run, like a healthy sled"),
            f"  ran: {' '.join(result.argv[2:])}",
            f"  exit {result.returncode} after {result.wall_s:.1f} s" + (f"; {result.error}" if result.error else "")]
    head += [f"  note: {n}" for n in result.notes]
    if run is not None:
        head.append(f"  run: {run.run['state']} {run.run['verdict']}: {(run.run['reason'] or '')[:400]}")
        head += [_phase_line(p) for p in run.phases]
    head.append("problems:")
    head += [f"  - {p}" for p in problems]
    return "\n".join(head) + "\n" + result.tail()


# -- the checks ---------------------------------------------------------------------------------------
def _diagnosis(run: Run, pid: str) -> tuple[str, list[str]]:
    """Everything stored about why `pid` stopped: its reason, the run's, failing measurements and
    steps under it, and the interlocks' own records."""
    p = run.phase(pid) or {}
    stored = [m["message"] or f"{m['name']} = {m['value']}" for m in run.measurements
              if m["verdict"] != "PASS" and (m["path"].split("/")[0] == pid or m["path"].startswith("monitors/"))]
    stored += [s["message"] for s in run.under(run.steps, pid) if s["outcome"] != "ok" and s["message"]]
    text = "\n".join(dict.fromkeys([p.get("reason") or "", run.run.get("reason") or "", *stored]))
    return text, stored


def _check_common(case: Case, run: Run, problems: list[str]) -> None:
    """What every run must end in: the safe state, all rails off, cooling on, no hardware trip;
    and no interlock ever went unread past its interval, whatever the fault did to the sled."""
    summaries = [e["data"]["interlocks"] for e in run.events if e["kind"] == "interlocks"]
    if not summaries:
        problems.append("no interlock summary stored")
    else:
        late = [f"{i['name']} {i['largest_gap_s']:g} s (every {i['every_s']:g} s)" for i in summaries[-1] if i["late"]]
        if late:
            problems.append("interlocks read late: " + ", ".join(late))
        worst = max(summaries[-1], key=lambda i: i["largest_gap_s"] - i["every_s"])
        print(f"{case.id}: worst interlock gap {worst['largest_gap_s']:g} s ({worst['name']}, every {worst['every_s']:g} s)")
    safe = [s for s in run.steps if s["path"].startswith("safe_state")]
    if len(safe) != GATES.safe_steps or any(s["outcome"] != "ok" for s in safe):
        problems.append(f"safe state: expected {GATES.safe_steps} steps all ok, got "
                        + (", ".join(f"{s['path']} {s['outcome']} {s['message'] or ''}".strip() for s in safe) or "none"))
    if run.truth is None:
        problems.append("no ground_truth event stored")
        return
    names = [f["name"] for f in run.truth.get("faults", [])]
    if names != ([case.fault_name] if case.fault_name else []):
        problems.append(f"ground truth names faults {names}, injected {case.fault_name}")
    for f in run.truth.get("faults", []):
        if f.get("state") != "active":
            problems.append(f"fault {f['name']} never fired (state {f.get('state')}, trigger {f.get('trigger')})")
    final = run.truth.get("final")
    if not final:
        problems.append("ground truth has no `final` (sim_devices/faults/observer.py)")
        return
    on = {f"chip{ch['chip']}": ch["rails_on"] for ch in final["chips"] if ch["rails_on"]}
    if not final["rails_all_off"] or on:
        problems.append(f"rails still on at the end: {on}")
    cooling = final["cooling"]
    kept = cooling.get("chiller_running", cooling["on"]) if cooling["kind"] == "liquid" else cooling["on"]
    if not kept or (not cooling["on"] and not case.cooling_lost):
        problems.append(f"cooling not on at the end: {cooling}")
    trip_c = final["limits"]["trip_c"]
    if not final["tj_peak_c"] < trip_c:
        problems.append(f"junction reached {final['tj_peak_c']} C at t={final['tj_peak_t']} s: the trip "
                        f"temperature is {trip_c} C")
    if final["trips"]:
        problems.append(f"the hardware had to protect itself: {final['trips']}")


def _check_passing(case: Case, run: Run, result: Any, problems: list[str], healthy: Run | None) -> None:
    if result.returncode != 0 or run.run["state"] != "passed":
        problems.append(f"expected exit 0 and a passed run, got exit {result.returncode}, {run.run['state']}")
    bad = [p["phase_id"] for p in run.phases if p["state"] != "passed" or p["verdict"] != "PASS"]
    if bad or [p["phase_id"] for p in run.phases] != list(GATES.phases):
        problems.append(f"every phase must pass: not passed {bad}")
    # characterization points (a shmoo's failing corner) are data, not gates
    not_pass = [m for m in run.measurements if m["verdict"] != "PASS" and m.get("gate", 1)]
    if not_pass:
        problems.append(f"{len(not_pass)} gating measurements did not pass, first: {not_pass[0]['message']}")
    if "soak" in GATES.phases:
        _check_soak(run, problems)
    if healthy is not None and case.id != "healthy":
        mine = sorted((m["path"], m["name"], m["verdict"]) for m in run.measurements)
        theirs = sorted((m["path"], m["name"], m["verdict"]) for m in healthy.measurements)
        if mine != theirs:
            diff = sorted(set(mine) ^ set(theirs))[:5]
            problems.append(f"verdicts differ from the healthy run's ({len(mine)} vs {len(theirs)} "
                            f"measurements), e.g. {diff}")


def _check_soak(run: Run, problems: list[str]) -> None:
    """The soak really ran its whole simulated length, sampling on its grid."""
    from bringup.core.units import parse_quantity

    soak = run.phase("soak")
    wanted = parse_quantity(str(run.run["parameters"].get("soak", "8 h"))).si
    span = (soak["ended_t"] or 0) - (soak["started_t"] or 0)
    if span + EPS < wanted:
        problems.append(f"soak phase lasted {span:.0f} s of simulated time, the soak is {wanted:.0f} s")
    declared = [e["data"] for e in run.events if e["kind"] == "soak" and (e["data"] or {}).get("duration") == wanted]
    if not declared:
        problems.append(f"no soak of {wanted:.0f} s declared in the events")
        return
    taken = sorted({m["t"] for m in run.under(run.measurements, "soak")})
    if len(taken) < declared[0]["samples"]:
        problems.append(f"soak sampled {len(taken)} times, {declared[0]['samples']} declared "
                        f"(every {declared[0]['every']:g} s)")


def _check_caught(case: Case, run: Run, result: Any, problems: list[str]) -> None:
    state_verdict = {GATE: {("failed", "FAIL")}, INTERLOCK: {("aborted", "UNKNOWN")},
                     NOT_PASS: {("failed", "UNKNOWN"), ("aborted", "UNKNOWN")},
                     CAUGHT: {("failed", "FAIL"), ("aborted", "UNKNOWN")}}[case.caught]
    codes = {GATE: {1}, INTERLOCK: {3}, NOT_PASS: {1, 3}, CAUGHT: {1, 3}}[case.caught]
    if result.returncode not in codes or run.run["state"] == "passed" or run.run["verdict"] == "PASS":
        problems.append(f"expected exit {sorted(codes)} and a run that did not pass, got exit "
                        f"{result.returncode}, {run.run['state']} {run.run['verdict']}")
    order = [p["phase_id"] for p in run.phases]
    if case.phase not in order:
        problems.append(f"phase {case.phase} not in the run (phases {order})")
        return
    k = order.index(case.phase)
    early = [f"{p['phase_id']} {p['state']}" for p in run.phases[:k] if p["state"] != "passed"]
    if early:
        problems.append(f"caught too early: {', '.join(early)} before {case.phase}")
    p = run.phases[k]
    if (p["state"], p["verdict"]) not in state_verdict:
        problems.append(f"{case.phase}: expected {' or '.join(' '.join(sv) for sv in sorted(state_verdict))}, "
                        f"got {p['state']} {p['verdict']}")
    if p["state"] in ("pending", "skipped"):
        return  # never reached: what it would have said is moot
    for later in run.phases[k + 1:]:
        ran = run.under(run.steps, later["phase_id"]) + run.under(run.measurements, later["phase_id"])
        if later["state"] != "skipped" or ran:
            problems.append(f"{later['phase_id']} after the failing gate: {later['state']}, "
                            f"{len(ran)} steps/measurements recorded")
    text, stored = _diagnosis(run, case.phase)
    if not p["reason"] or not stored:
        problems.append(f"diagnosis not stored: phase reason {p['reason']!r}, "
                        f"{len(stored)} failing measurements/steps with a message")
    missing = [s for s in case.symptoms if not re.search(s, text, re.I)]
    if missing:
        problems.append(f"diagnosis lacks {missing}; it says: {text[:800]!r}")
    if case.caught == INTERLOCK or (case.caught == CAUGHT and p["state"] == "aborted"):
        _check_interlock(case, run, problems)


def _check_interlock(case: Case, run: Run, problems: list[str]) -> None:
    """The interlock tripped on the first reading past its limit, and for a fault that is seen at
    once (flow, leak, power, fan), within one interval of the fault landing."""
    trips = [m for m in run.measurements if m["path"].startswith("monitors/") and m["verdict"] != "PASS"]
    if not trips:
        problems.append("no interlock trip recorded (no failing monitors/ measurement)")
        return
    trip = trips[0]
    samples = run.reader.samples(run.id, "monitor/" + trip["name"])
    ts = [s["t"] for s in samples]
    declared = [i["every_s"] for e in run.events if e["kind"] == "interlocks"
                for i in e["data"]["interlocks"] if i["name"] == trip["name"]]
    if len(ts) < 2 and not declared:
        problems.append(f"interlock {trip['name']}: {len(ts)} samples stored, cannot tell its interval")
        return
    # an interlock armed by a phase that ended just before may trip on its first read
    interval = statistics.median(b - a for a, b in zip(ts, ts[1:])) if len(ts) >= 2 else declared[-1]
    before = [s for s in samples if s["t"] < trip["t"] - EPS]
    if before:
        prev = before[-1]
        inside = (trip["low"] is None or prev["value"] >= trip["low"]) and (trip["high"] is None or prev["value"] <= trip["high"])
        if not inside or trip["t"] - prev["t"] > interval + EPS:
            problems.append(f"interlock {trip['name']} late: the reading before the trip was {prev['value']} "
                            f"at t={prev['t']}, the trip at t={trip['t']} (interval {interval:g} s)")
    if case.instantaneous and run.truth:
        landed = [f["injected_at"] for f in run.truth.get("faults", []) if f.get("injected_at") is not None]
        if not landed:
            problems.append("the fault never landed")
        elif not landed[0] - EPS <= trip["t"] <= landed[0] + interval + EPS:
            problems.append(f"interlock {trip['name']} tripped at t={trip['t']} s, the fault landed at "
                            f"t={landed[0]} s: more than one interval ({interval:g} s) apart")
