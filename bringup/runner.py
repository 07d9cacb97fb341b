"""The runner: the only thing that acts on a procedure.

Phases run in dependency order; a phase runs only when every phase it comes `after` passed.
However the run ends — pass, failed gate, interlock trip, exception, Ctrl-C, SIGTERM, lost
instrument — the declared safe state runs, in its order, past any failing step, and is recorded.

Exit codes: 0 pass, 1 fail (a gate failed), 2 invalid input (never reaches here), 3 abort.
"""

from __future__ import annotations

import math
import signal
import threading
import traceback
from dataclasses import dataclass
from typing import Any

from . import binding, monitors
from .clock import Clock
from .driver import Driver, DriverError
from .monitors import Abort
from .plan import PhasePlan
from .execution import Execution, Reporter
from .steps import DEFAULT_STEP_TIMEOUT, Frame, StepFailed, run_step, run_steps
from .validate import Checked
from .verdict import EXIT_ABORT, EXIT_FAIL, EXIT_PASS, FAIL, PASS, UNKNOWN, worst

SAFE_STEP_TIMEOUT = 10.0  # seconds for a safe-state step that declares none


@dataclass(frozen=True)
class RunResult:
    run_id: int
    state: str  # passed | failed | aborted
    verdict: str
    exit_code: int
    reason: str | None
    phases: dict[str, str]  # phase id -> final state


class Runner:
    def __init__(self, checked: Checked, drivers: dict[str, Driver], clock: Clock, store: Any, *,
                 dut: str = "unknown", reporter: Reporter | None = None, meta: dict | None = None,
                 procedure_path: str = "", telemetry_every: float | None = 1.0) -> None:
        self.checked = checked
        self.proc = checked.procedure
        self.plan = checked.plan
        self.clock = clock
        self.store = store
        self.drivers = drivers
        self.dut = dut
        self.reporter = reporter
        self.meta = meta or {}
        self.procedure_path = procedure_path or checked.document.file
        self.ex: Execution | None = None
        self.telemetry_every = telemetry_every  # None: no periodic telemetry (benchmarks)

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> RunResult:
        params = {k: (str(v) if not isinstance(v, (int, float, str, bool, list, type(None))) else v)
                  for k, v in self.checked.parameters.items()}
        run_id = self.store.begin_run(
            procedure=self.proc.procedure, version=self.proc.version, procedure_path=self.procedure_path,
            procedure_sha256=self.checked.sha256, dut=self.dut, station=self.checked.station.name,
            parameters=params, meta=self.meta, clock="simulated" if self.clock.simulated else "real",
            t=self.clock.now())
        ex = self.ex = Execution(self.clock, self.store, run_id, self.drivers, dict(self.checked.parameters), self.dut,
                                 reporter=self.reporter)
        states: dict[str, str] = {pid: "pending" for pid in self.checked.order}
        for i, pid in enumerate(self.checked.order):
            self.store.phase(run_id, pid, state="pending", t=self.clock.now(), order=i)
        ex.report("run", {"run_id": run_id, "procedure": self.proc.procedure, "dut": self.dut,
                          "station": self.checked.station.name, "phases": list(self.checked.order)})
        restore = self._install_signals(ex)
        aborted: str | None = None
        failed_gate: str | None = None
        try:
            self._open(ex)
            ex.interlocks = monitors.build(self.proc.monitors, ex)
            ex.watch_drivers()
            ex.arm()
            if self.telemetry_every:
                ex.telemetry_every = self.telemetry_every
                ex.next_telemetry_due = self.clock.now()
            failed_gate = self._phases(ex, states)
        except Abort as exc:
            aborted = exc.reason
        except Exception as exc:  # a bug or an unforeseen driver failure: still end safe
            aborted = f"unexpected error: {type(exc).__name__}: {exc}"
            ex.event("exception", aborted, severity="error", data={"traceback": traceback.format_exc()}, durable=True)
        except BaseException as exc:  # KeyboardInterrupt outside our handler (e.g. not the main thread)
            aborted = f"interrupted ({type(exc).__name__})"
        finally:
            for pid, st in states.items():
                if st in ("pending", "running"):
                    why = aborted or failed_gate
                    reason = (f"aborted: {why}" if st == "running" else f"not run: {why}") if why else "not run"
                    states[pid] = "aborted" if st == "running" else "skipped"
                    self.store.phase(run_id, pid, state=states[pid], t=self.clock.now(),
                                     verdict=UNKNOWN if st == "running" else None, reason=reason)
                    ex.report("phase", {"phase": pid, "state": states[pid], "reason": reason})
            self._summarise_interlocks(ex)
            self._safe_state(ex, aborted or failed_gate)
            self._close(ex)
            restore()
        return self._finish(ex, states, aborted, failed_gate)

    def _finish(self, ex: Execution, states: dict[str, str], aborted: str | None, failed_gate: str | None) -> RunResult:
        if aborted:
            state, verdict, code, reason = "aborted", UNKNOWN, EXIT_ABORT, aborted
        elif all(s == "passed" for s in states.values()):
            state, verdict, code, reason = "passed", PASS, EXIT_PASS, None
        else:
            state, verdict, code = "failed", FAIL, EXIT_FAIL
            reason = failed_gate or ", ".join(f"{p} {s}" for p, s in states.items() if s != "passed")
        self.store.end_run(ex.run_id, state=state, verdict=verdict, exit_code=code, t=self.clock.now(), reason=reason)
        self.store.flush()
        ex.report("end", {"state": state, "verdict": verdict, "exit_code": code, "reason": reason, "phases": states})
        return RunResult(ex.run_id, state, verdict, code, reason, states)

    # -- phases -----------------------------------------------------------------------------------
    def _phases(self, ex: Execution, states: dict[str, str]) -> str | None:
        """Run every phase whose dependencies passed. Returns why the run stopped early, if it did."""
        for pid in self.checked.order:
            phase = self.plan.phase(pid)
            blocked = [d for d in phase.after if states.get(d) != "passed"]
            if blocked:
                reason = "; ".join(f"after: {d} {states[d]}" for d in blocked)
                states[pid] = "skipped"
                self.store.phase(ex.run_id, pid, state="skipped", t=self.clock.now(), reason=reason)
                ex.report("phase", {"phase": pid, "state": "skipped", "reason": reason})
                continue
            ok, reason = self._phase(ex, phase, states)
            if not ok and phase.on_fail == "abort":
                return f"phase {pid} failed"  # the why is recorded once, on the phase itself
        return None

    def _phase(self, ex: Execution, phase: PhasePlan, states: dict[str, str]) -> tuple[bool, str | None]:
        attempts = phase.retries + 1
        verdict, reason = UNKNOWN, None
        for attempt in range(1, attempts + 1):
            start = self.clock.now()
            states[phase.id] = "running"
            ex.phase = phase.id
            ex.arm()
            ex.first_failure = None
            self.store.phase(ex.run_id, phase.id, state="running", t=start)
            ex.report("phase", {"phase": phase.id, "state": "running", "attempt": attempt})
            declared = phase.phase.timeout
            timeout = binding.evaluate(declared, ex.parameters) if declared is not None else None
            frame = Frame(phase.id, phase.id, dict(ex.parameters), {}, start + timeout if timeout else None, [],
                          phase_attempt=attempt)
            reason = None
            try:
                run_steps(ex, phase.steps, frame)
            except StepFailed as exc:
                reason = exc.message
            except DriverError as exc:  # a step's time ran out inside a wait, or a bind failed at run time
                reason = str(exc)
                frame.verdicts.append(FAIL)
            except ValueError as exc:
                reason = f"bad value at run time: {exc}"
                frame.verdicts.append(FAIL)
            if frame.deadline is not None and self.clock.now() > frame.deadline and reason is None:
                reason = f"phase timed out after {timeout:g} s"
                frame.verdicts.append(FAIL)
            verdict = worst(frame.verdicts)
            if verdict != PASS:
                # a failed step is often the first symptom of an unsafe sled (a leak powers it down
                # and the next reading fails): read every armed interlock now, before judging, so the
                # run ends on the cause, not on its symptom
                monitors.check_now(ex.interlocks, ex, self.clock.now())
            if reason is None and verdict != PASS:
                reason = ex.first_failure or f"verdict {verdict}"
            if verdict == PASS:
                break
            if attempt < attempts:
                ex.event("retry", f"phase {phase.id}: attempt {attempt} of {attempts} failed ({reason}); retrying",
                         severity="warning")
        state = "passed" if verdict == PASS else "failed"
        states[phase.id] = state
        ex.phase = None
        if state == "passed":
            ex.passed_phases.add(phase.id)
        ex.arm()
        self._summarise_interlocks(ex)
        self.store.phase(ex.run_id, phase.id, state=state, t=self.clock.now(), verdict=verdict, reason=reason)
        ex.report("phase", {"phase": phase.id, "state": state, "verdict": verdict, "reason": reason})
        return verdict == PASS, reason

    def _summarise_interlocks(self, ex: Execution) -> None:
        """How each interlock kept watch so far (reads, worst gap, closest approach): the latest
        `interlocks` event is what report and dashboard show (docs/results.md)."""
        if ex.interlocks:
            self.store.event(ex.run_id, self.clock.now(), "interlocks", "interlock summary",
                             data=monitors.summary(ex.interlocks))

    # -- instruments ------------------------------------------------------------------------------
    def _open(self, ex: Execution) -> None:
        # Every instrument is tried even after one fails: the safe state needs all it can reach.
        failures = []
        for role, driver in self.drivers.items():
            driver.deadline = self.clock.now() + SAFE_STEP_TIMEOUT
            try:
                driver.open()
                ex.identities[role] = driver.identity()
            except DriverError as exc:
                ex.lost_roles.add(role)
                failures.append(str(exc))
            finally:
                driver.deadline = None
        if failures:
            raise Abort("; ".join(failures))
        ex.event("instruments", "instruments: " + "; ".join(f"{r}={i}" for r, i in ex.identities.items()),
                 data=dict(ex.identities), durable=True)

    def _close(self, ex: Execution) -> None:
        for role, driver in self.drivers.items():
            try:
                driver.close()
            except Exception as exc:  # closing must not hide how the run ended
                ex.event("instruments", f"{role}: close failed: {exc}", severity="warning")

    # -- the safe state ---------------------------------------------------------------------------
    def _safe_state(self, ex: Execution, why: str | None) -> None:
        """Always runs. Each step on its own deadline; a failing step is recorded and the next one runs."""
        getattr(self, "_in_safe_state", [False])[0] = True  # further signals must not cut the way out short
        self.clock.clear()  # an abort interrupted the clock; the safe state's own waits must work
        ex.abort_reason = None
        ex.interlocks, ex.next_monitor_due = [], math.inf  # already going safe: no interlock may abort the way out
        ex.report("safe_state", {"why": why, "steps": len(self.proc.safe_state)})
        ex.event("safe_state", f"safe state: {why or 'end of run'}", durable=True)
        for i, node in enumerate(self.plan.safe_state):
            step = node.step
            role = node.call.role if node.call is not None else None
            label = node.id  # "safe_state/2"
            if role in ex.lost_roles:
                ex.store.step(ex.run_id, label, "safe", self.clock.now(), self.clock.now(), "skipped",
                              f"{role} is unreachable", 1, step_id=node.id)
                ex.event("safe_state", f"safe state step {i + 1} skipped: {role} is unreachable", severity="error")
                continue
            frame = Frame("safe_state", label, dict(ex.parameters), {}, self.clock.now() + SAFE_STEP_TIMEOUT
                          if step.timeout is None else None, [])
            started = self.clock.now()
            try:
                run_step(ex, node, frame)  # records itself (step or measurement)
                outcome, message = "ok", None
            except StepFailed as exc:
                outcome, message = "error", exc.message
            except (Abort, Exception) as exc:  # not recorded by the step itself: record it here
                outcome = "error"
                message = exc.reason if isinstance(exc, Abort) else f"{type(exc).__name__}: {exc}"
                ex.store.step(ex.run_id, label, "safe", started, self.clock.now(), outcome, message, 1,
                              step_id=node.id)
            ex.report("safe_step", {"index": i + 1, "outcome": outcome, "message": message})
            if outcome != "ok":
                ex.event("safe_state", f"safe state step {i + 1} failed: {message}; continuing", severity="error",
                         durable=True)
        ex.abort_reason = None
        self.store.flush()

    # -- signals ----------------------------------------------------------------------------------
    def _install_signals(self, ex: Execution):
        """Ctrl-C and SIGTERM ask nothing and wait for nothing: they abort to the safe state."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        in_safe_state = [False]

        def handler(signum: int, _frame: Any) -> None:
            name = signal.Signals(signum).name
            if ex.abort_reason is None and not in_safe_state[0]:
                ex.request_abort(f"{'Ctrl-C' if signum == signal.SIGINT else name} received")
            else:
                ex.report("message", {"message": f"{name}: the safe state is running and will finish first"})

        for s in previous:
            signal.signal(s, handler)
        self._in_safe_state = in_safe_state

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)
        return restore


__all__ = ["Runner", "RunResult", "DEFAULT_STEP_TIMEOUT"]
