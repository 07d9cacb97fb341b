"""The fault matrix: every catalog fault, injected into the whole-sled bring-up, is caught at the
right gate with the right diagnosis, and the sled ends safe. The cases are data, in
fault_matrix_cases.py; this file runs them and judges each against the store and the simulator's
ground truth.

Each case is a real `bringup run` subprocess against the embedded simulated lab, its results in
a store under tmp. One module-scoped fixture starts every selected case at once on a small pool
(two CPU-bound runs at a time, plus the console-noise run, which mostly waits on wall time), and
each test waits for its own case only. `-rA` shows each case's wall time, and the last test the
whole matrix's.

Environment: BRINGUP_FAULT_MATRIX_PROCEDURE (another procedure file), FAULT_MATRIX_WORKERS (CPU
pool size, default 2), FAULT_MATRIX_SOAK (e.g. 20min: a shorter soak for the two full-length runs,
for a quick local pass; the default is the procedure's own).
"""

from __future__ import annotations

import json
import math
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bringup.store import StoreReader

sys.path.insert(0, str(Path(__file__).parent))
from fault_matrix_cases import CASES, GATE, INTERLOCK, NOT_PASS, PHASES, Case  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PROCEDURE = Path(os.environ.get("BRINGUP_FAULT_MATRIX_PROCEDURE") or ROOT / "procedures" / "sled_bringup.yaml")
WORKERS = int(os.environ.get("FAULT_MATRIX_WORKERS") or 2)
SOAK = os.environ.get("FAULT_MATRIX_SOAK")
#: Cases that must be caught before the soak run with this soak instead: when one is missed, its
#: test fails in seconds rather than after eight simulated hours (the gates before are unchanged).
SHORT_SOAK = "10min"
TIMEOUT_S = {True: 1500.0, False: 600.0}       # full-length soak or not
BY_ID = {c.id: c for c in CASES}
_RELATIVE = re.compile(r"@\{(\w+)\+([^}]+)\}")
EPS = 1e-6


# -- the procedure under test ----------------------------------------------------------------------
@dataclass(frozen=True)
class Gates:
    phases: tuple[str, ...]
    safe_steps: int
    parameters: frozenset[str] = frozenset()
    error: str | None = None


def _gates() -> Gates:
    from bringup.validate import load_procedure

    try:
        proc, _ = load_procedure(PROCEDURE)
    except Exception as exc:  # a procedure mid-rewrite: every case says why it could not run
        return Gates((), 0, error=f"{PROCEDURE}: {exc}")
    return Gates(tuple(p.id for p in proc.phases), len(proc.safe_state), frozenset(proc.parameters))


GATES = _gates()


# -- running the cases -------------------------------------------------------------------------------
@dataclass
class Result:
    case: Case
    argv: list[str]
    store: Path
    returncode: int | None = None
    stdout: str = ""
    stderr: str = ""
    wall_s: float = math.nan
    error: str | None = None            # the harness could not run it (timeout, relative time)
    notes: list[str] = field(default_factory=list)

    def tail(self, lines: int = 40) -> str:
        out = "\n".join(self.stdout.splitlines()[-lines:])
        err = "\n".join(self.stderr.splitlines()[-15:])
        return f"--- stdout (last {lines} lines) ---\n{out}" + (f"\n--- stderr ---\n{err}" if err else "")


class Matrix:
    """Every selected case, started at once on bounded pools; `result(id)` waits for one."""

    def __init__(self, selected: list[Case], tmp: Path) -> None:
        self.tmp = tmp
        self.cases = selected
        self.futures: dict[str, Future] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._lock = threading.Lock()
        self._closing = False
        self.started = time.perf_counter()
        self.ended: float | None = None
        cpu = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="fault-matrix")
        wall = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fault-matrix-wall")
        self._pools = (cpu, wall)
        # longest first: the full soaks, then the soak faults by how far into the soak they land
        for case in sorted(selected, key=_expected_cost, reverse=True):
            pool = wall if case.wall_bound else cpu
            self.futures[case.id] = pool.submit(self._run, case)

    def result(self, case_id: str) -> Result:
        return self.futures[case_id].result()

    def close(self) -> None:
        self._closing = True
        with self._lock:
            for proc in self._procs.values():
                if proc.poll() is None:
                    proc.kill()
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=True)

    # -- one case ------------------------------------------------------------------------------------
    def _argv(self, case: Case, store: Path) -> tuple[list[str], list[str]]:
        args, notes = list(case.args), []
        if case.full_soak and SOAK:
            args += ["-p", f"soak={SOAK}"]
            notes.append(f"FAULT_MATRIX_SOAK: soak shortened to {SOAK}")
        elif _before_soak(case) and "soak" in GATES.parameters:
            args += ["-p", f"soak={SHORT_SOAK}"]
        fault = case.fault
        if fault and _RELATIVE.search(fault):
            fault = _RELATIVE.sub(lambda m: "@" + self._phase_time(m.group(1), m.group(2)), fault)
            notes.append(f"{case.fault} timed off the healthy run: {fault}")
        argv = [sys.executable, "-m", "bringup.cli", "run", str(PROCEDURE), "--store", str(store)]
        return argv + (["--fault", fault] if fault else []) + args, notes

    def _phase_time(self, phase: str, offset: str) -> str:
        """`{phase+offset}`: the healthy run's start of `phase`, plus offset, in seconds."""
        from bringup.units import parse_quantity

        healthy = self.futures.get("healthy")
        store = self.tmp / _store_name("healthy")
        while not self._closing:
            done = healthy is None or healthy.done()
            if store.is_file():
                try:
                    with StoreReader(store) as r:
                        rid = r.latest_run_id()
                        started = {p["phase_id"]: p["started_t"] for p in r.phases(rid)
                                   if p["state"] not in ("pending", "skipped")} if rid else {}
                except Exception:
                    started = {}
                if started.get(phase) is not None:
                    return f"{started[phase] + parse_quantity(offset).si:.3f}s"
            if done:
                raise RuntimeError(f"the healthy run never started phase {phase!r}: cannot time a fault into it")
            time.sleep(0.2)
        raise RuntimeError("the matrix was closed")

    def _run(self, case: Case) -> Result:
        store = self.tmp / _store_name(case.id)
        result = Result(case, [], store)
        start = time.perf_counter()
        try:
            result.argv, result.notes = self._argv(case, store)
            proc = subprocess.Popen(result.argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            with self._lock:
                self._procs[case.id] = proc
            try:
                result.stdout, result.stderr = proc.communicate(timeout=TIMEOUT_S[case.full_soak])
            except subprocess.TimeoutExpired:
                proc.kill()
                result.stdout, result.stderr = proc.communicate()
                result.error = f"timed out after {TIMEOUT_S[case.full_soak]:g} s of wall time"
            result.returncode = proc.returncode
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        result.wall_s = time.perf_counter() - start
        self.ended = time.perf_counter()
        return result


def _store_name(case_id: str) -> str:
    return re.sub(r"[^\w.-]+", "_", case_id) + ".sqlite"


def _before_soak(case: Case) -> bool:
    return case.phase in PHASES and PHASES.index(case.phase) < PHASES.index("soak")


def _expected_cost(case: Case) -> float:
    """Simulated seconds a case runs, roughly: what decides its wall time."""
    from bringup.units import parse_quantity

    if case.full_soak:
        return math.inf
    when = (case.fault or "").partition("@")[2]
    if not when or _before_soak(case):
        return 0.0
    if when.startswith("{"):
        return 3600.0  # a little way into a phase of the healthy run
    return parse_quantity(when).si


def _runnable(case: Case) -> str | None:
    """Why a case cannot run against this procedure, or None."""
    if GATES.error:
        return GATES.error
    if case.phase is not None and case.phase not in GATES.phases:
        return (f"{PROCEDURE.name} has no phase {case.phase!r} (its phases: {', '.join(GATES.phases)}); "
                f"the matrix is written for {', '.join(PHASES)}")
    return None


@pytest.fixture(scope="module")
def matrix(request, tmp_path_factory):
    here = request.node.nodeid if hasattr(request.node, "nodeid") else ""
    selected = {item.callspec.params["case"] for item in request.session.items
                if item.nodeid.startswith(here) and hasattr(item, "callspec") and "case" in item.callspec.params}
    cases = [c for c in CASES if c.id in selected and _runnable(c) is None]
    if any(c.fault and _RELATIVE.search(c.fault) for c in cases) and not any(c.id == "healthy" for c in cases):
        cases.append(BY_ID["healthy"])  # relative fault times are read off the healthy run
    m = Matrix(cases, tmp_path_factory.mktemp("fault_matrix"))
    yield m
    m.close()


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


def _report(result: Result, run: Run | None, problems: list[str]) -> str:
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
        problems.append("ground truth has no `final` (sim_devices/observer.py)")
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


def _check_passing(case: Case, run: Run, result: Result, problems: list[str], healthy: Run | None) -> None:
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
    from bringup.units import parse_quantity

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


def _check_caught(case: Case, run: Run, result: Result, problems: list[str]) -> None:
    state_verdict = {GATE: {("failed", "FAIL")}, INTERLOCK: {("aborted", "UNKNOWN")},
                     NOT_PASS: {("failed", "UNKNOWN"), ("aborted", "UNKNOWN")}}[case.caught]
    codes = {GATE: {1}, INTERLOCK: {3}, NOT_PASS: {1, 3}}[case.caught]
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
    if case.caught == INTERLOCK:
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
    if len(ts) < 2:
        problems.append(f"interlock {trip['name']}: {len(ts)} samples stored, cannot tell its interval")
        return
    interval = statistics.median(b - a for a, b in zip(ts, ts[1:]))
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


# -- the tests ------------------------------------------------------------------------------------------
def test_the_procedure_has_the_gates_the_matrix_is_written_for():
    assert GATES.error is None, GATES.error
    assert GATES.phases == PHASES, (f"{PROCEDURE} has phases {list(GATES.phases)}; the fault matrix expects "
                                    f"{list(PHASES)} in this order (cases for missing phases are skipped)")


@pytest.mark.parametrize("case", [c.id for c in CASES])
def test_fault_is_caught_at_its_gate(matrix, case, record_property):
    c = BY_ID[case]
    why = _runnable(c)
    if why:
        pytest.skip(why)
    result = matrix.result(case)
    record_property("wall_s", round(result.wall_s, 2))
    print(f"{case}: exit {result.returncode}, {result.wall_s:.1f} s wall")
    run = Run.read(result.store)
    problems: list[str] = []
    if result.error:
        problems.append(result.error)
    if run is None:
        problems.append(f"no run in the store (exit {result.returncode})")
        pytest.fail(_report(result, None, problems), pytrace=False)
    healthy = None
    if c.phase is None and c.id != "healthy" and "healthy" in matrix.futures:
        healthy = Run.read(matrix.result("healthy").store)
    if c.phase is None:
        _check_passing(c, run, result, problems, healthy)
    else:
        _check_caught(c, run, result, problems)
    _check_common(c, run, problems)
    if c.fault_name == "console_noise":
        retries = [e for e in run.events if "console retry" in e["message"]]
        if not retries or any(e["severity"] != "warning" for e in retries):
            problems.append(f"console retries: {len(retries)} recorded, severities "
                            f"{sorted({e['severity'] for e in retries})} (every one must be a warning)")
        else:
            print(f"{case}: {len(retries)} console retries, each recorded as a warning")
    if c.id == "healthy" and "soak" in GATES.phases and run.phase("soak"):
        soak = run.phase("soak")
        print(f"{case}: soak {(soak['ended_t'] - soak['started_t']) / 3600:.2f} h simulated")
    if problems:
        pytest.fail(_report(result, run, problems), pytrace=False)


def test_matrix_wall_time(matrix, record_property):
    """Not a gate: the matrix's wall time, per case and in all (`pytest -rA` shows it)."""
    results = [matrix.result(c.id) for c in matrix.cases]
    if not results:
        pytest.skip("no case selected")
    total = (matrix.ended or time.perf_counter()) - matrix.started
    record_property("matrix_wall_s", round(total, 1))
    print(f"fault matrix: {len(results)} runs, {total:.1f} s wall on {WORKERS} CPU workers (+1 wall-bound)")
    for r in sorted(results, key=lambda r: -r.wall_s):
        print(f"  {r.wall_s:7.1f} s  exit {r.returncode}  {r.case.id}")
    print(json.dumps({"matrix_wall_s": round(total, 1),
                      "cases": {r.case.id: round(r.wall_s, 1) for r in results}}))
