"""The fault matrix: every catalog fault, injected into the whole-sled bring-up, is caught at the
right gate with the right diagnosis, and the sled ends safe. The cases are data: hand-written in
fault_matrix_cases.py, and generated in fault_matrix_coverage.py from each fault's target kinds and
the phases it can land in. This file runs them; fault_matrix_checks.py judges each against the
store and the simulator's ground truth.

Each case is a real `bringup run` subprocess against the embedded simulated lab, its results in
a store under tmp. One module-scoped fixture starts every selected case at once on a small pool
(two CPU-bound runs at a time, plus the console-noise run, which mostly waits on wall time), and
each test waits for its own case only. `-rA` shows each case's wall time, and the last test the
whole matrix's.

Environment: BRINGUP_FAULT_MATRIX_PROCEDURE (another procedure file), FAULT_MATRIX_WORKERS (CPU
pool size, default 2), FAULT_MATRIX_SOAK (e.g. 20min: a shorter soak for the two full-length runs,
for a quick local pass; the default is the procedure's own). Every case caught before the soak,
or landing in its first minutes, runs with a 10 min soak: a miss fails in seconds.
"""

from __future__ import annotations

import json
import math
import os
import re
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
from fault_matrix_cases import PHASES, Case  # noqa: E402
from fault_matrix_coverage import ALL_CASES as CASES  # noqa: E402
from fault_matrix_checks import (GATES, PROCEDURE, Run, _check_caught, _check_common,  # noqa: E402
                                 _check_passing, _report)

ROOT = Path(__file__).resolve().parents[2]
WORKERS = int(os.environ.get("FAULT_MATRIX_WORKERS") or 2)
SOAK = os.environ.get("FAULT_MATRIX_SOAK")
#: Cases that must be caught before the soak run with this soak instead: when one is missed, its
#: test fails in seconds rather than after eight simulated hours (the gates before are unchanged).
SHORT_SOAK = "10min"
TIMEOUT_S = {True: 1500.0, False: 600.0}       # full-length soak or not
BY_ID = {c.id: c for c in CASES}
_RELATIVE = re.compile(r"@\{(\w+)\+([^}]+)\}")


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
        elif (_before_soak(case) or _early_in_soak(case)) and "soak" in GATES.parameters:
            args += ["-p", f"soak={SHORT_SOAK}"]
        fault = case.fault
        if fault and _RELATIVE.search(fault):
            fault = _RELATIVE.sub(lambda m: "@" + self._phase_time(m.group(1), m.group(2)), fault)
            notes.append(f"{case.fault} timed off the healthy run: {fault}")
        argv = [sys.executable, "-m", "bringup.cli", "run", str(PROCEDURE), "--store", str(store)]
        return argv + (["--fault", fault] if fault else []) + args, notes

    def _phase_time(self, phase: str, offset: str) -> str:
        """`{phase+offset}`: the healthy run's start of `phase`, plus offset, in seconds."""
        from bringup.core.units import parse_quantity

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


def _early_in_soak(case: Case) -> bool:
    """Caught in the soak, landing in its first minutes: the short soak holds it, and a miss fails
    in seconds instead of running eight simulated hours."""
    from bringup.core.units import parse_quantity

    m = _RELATIVE.search(case.fault or "")
    return (case.phase == "soak" and m is not None and m.group(1) == "soak"
            and parse_quantity(m.group(2)).si < parse_quantity(SHORT_SOAK).si / 2)


def _expected_cost(case: Case) -> float:
    """Simulated seconds a case runs, roughly: what decides its wall time."""
    from bringup.core.units import parse_quantity

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
    """Every case ran to its end within its timeout (none hung the pool, none could not start);
    and the matrix's wall time, per case and in all, for the record (`pytest -rA -s` shows it)."""
    results = [matrix.result(c.id) for c in matrix.cases]
    if not results:
        pytest.skip("no case selected")
    unfinished = [f"{r.case.id}: {r.error or 'no exit code'}" for r in results
                  if r.returncode is None or (r.error and "timed out" in r.error)]
    assert not unfinished, "cases that did not run to their end: " + "; ".join(unfinished)
    total = (matrix.ended or time.perf_counter()) - matrix.started
    record_property("matrix_wall_s", round(total, 1))
    print(f"fault matrix: {len(results)} runs, {total:.1f} s wall on {WORKERS} CPU workers (+1 wall-bound)")
    for r in sorted(results, key=lambda r: -r.wall_s):
        print(f"  {r.wall_s:7.1f} s  exit {r.returncode}  {r.case.id}")
    print(json.dumps({"matrix_wall_s": round(total, 1),
                      "cases": {r.case.id: round(r.wall_s, 1) for r in results}}))
