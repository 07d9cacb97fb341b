"""The runner: the only thing that acts on a procedure.

Phases run in dependency order; a phase runs only when every phase it comes `after` passed.
However the run ends — pass, failed gate, interlock trip, exception, Ctrl-C, SIGTERM, lost
instrument — the declared safe state runs, in its order, past any failing step, and is recorded.

Exit codes: 0 pass, 1 fail (a gate failed), 2 invalid input (never reaches here), 3 abort.
"""

from __future__ import annotations

import os
import signal
import threading
import traceback
from dataclasses import dataclass
from typing import Any

from bringup.check import binding
from bringup.run import monitors
from bringup.run.abort import Abort
from bringup.core.clock import Clock
from bringup.drivers.base import Driver, DriverError
from bringup.check.plan import PhasePlan
from bringup.core.states import PhaseState, RunState, StepOutcome
from bringup.run.execution import Execution, Reporter
from bringup.run.steps import DEFAULT_STEP_TIMEOUT, Frame, StepFailed, run_step, run_steps
from bringup.check.validate import Checked
from bringup.core.verdict import EXIT_ABORT, EXIT_FAIL, EXIT_PASS, FAIL, PASS, UNKNOWN, worst

SAFE_STEP_TIMEOUT = 10.0  # seconds for a safe-state step that declares none


# the run's stages, as its signal handler sees them
RUNNING, SAFE_STATE, ENDING = "running", "safe_state", "ending"


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
        self._signal_stage = [RUNNING]  # what a Ctrl-C or SIGTERM does now (`_install_signals`)
        self._pending_abort: str | None = None  # a signal before the run's Execution existed

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> RunResult:
        params = {k: (str(v) if not isinstance(v, (int, float, str, bool, list, type(None))) else v)
                  for k, v in self.checked.parameters.items()}
        # handlers first: a signal while the run is being recorded aborts it too, once it exists
        restore = self._install_signals()
        try:
            run_id = self.store.begin_run(
                procedure=self.proc.procedure, version=self.proc.version, procedure_path=self.procedure_path,
                procedure_sha256=self.checked.sha256, dut=self.dut, station=self.checked.station.name,
                parameters=params, meta=self.meta, clock="simulated" if self.clock.simulated else "real",
                t=self.clock.now())
            ex = self.ex = Execution(self.clock, self.store, run_id, self.drivers, dict(self.checked.parameters),
                                     self.dut, reporter=self.reporter)
            states: dict[str, str] = {pid: PhaseState.PENDING for pid in self.checked.order}
            for i, pid in enumerate(self.checked.order):
                self.store.phase(run_id, pid, state=PhaseState.PENDING, t=self.clock.now(), order=i)
            ex.report("run", {"run_id": run_id, "procedure": self.proc.procedure, "dut": self.dut,
                              "station": self.checked.station.name, "phases": list(self.checked.order)})
        except BaseException:  # the run could not even be recorded: nothing to make safe
            restore()
            raise
        if self._pending_abort is not None:  # a signal came while the run was being set up
            ex.request_abort(self._pending_abort)
        aborted: str | None = None
        failed_gate: str | None = None
        try:
            self._open(ex)
            ex.watch.interlocks = monitors.build(self.plan.monitors, ex.bench, ex.parameters)
            ex.watch_drivers()
            ex.watch.arm()
            if self.telemetry_every:
                ex.watch.sample_every(self.telemetry_every)
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
                if st in (PhaseState.PENDING, PhaseState.RUNNING):
                    why = aborted or failed_gate
                    reason = (f"aborted: {why}" if st == PhaseState.RUNNING else f"not run: {why}") if why else "not run"
                    states[pid] = PhaseState.ABORTED if st == PhaseState.RUNNING else PhaseState.SKIPPED
                    self.store.phase(run_id, pid, state=states[pid], t=self.clock.now(),
                                     verdict=UNKNOWN if st == PhaseState.RUNNING else None, reason=reason)
                    ex.report("phase", {"phase": pid, "state": states[pid], "reason": reason})
            try:
                self._summarise_interlocks(ex)
                self._safe_state(ex, aborted or failed_gate)
                self._close(ex)
                result = self._finish(ex, states, aborted, failed_gate)
            finally:
                # only once the end is recorded: a signal from here on is the caller's (the CLI
                # keeps the recorded exit code; runner signal handling: `_install_signals`)
                restore()
        return result

    def _finish(self, ex: Execution, states: dict[str, str], aborted: str | None, failed_gate: str | None) -> RunResult:
        if aborted:
            state, verdict, code, reason = RunState.ABORTED, UNKNOWN, EXIT_ABORT, aborted
        elif all(s == PhaseState.PASSED for s in states.values()):
            state, verdict, code, reason = RunState.PASSED, PASS, EXIT_PASS, None
        else:
            state, verdict, code = RunState.FAILED, FAIL, EXIT_FAIL
            reason = failed_gate or ", ".join(f"{p} {s}" for p, s in states.items() if s != PhaseState.PASSED)
        self.store.end_run(ex.run_id, state=state, verdict=verdict, exit_code=code, t=self.clock.now(), reason=reason)
        self.store.flush()
        ex.report("end", {"state": state, "verdict": verdict, "exit_code": code, "reason": reason, "phases": states})
        return RunResult(ex.run_id, state, verdict, code, reason, states)

    # -- phases -----------------------------------------------------------------------------------
    def _phases(self, ex: Execution, states: dict[str, str]) -> str | None:
        """Run every phase whose dependencies passed. Returns why the run stopped early, if it did."""
        for pid in self.checked.order:
            phase = self.plan.phase(pid)
            blocked = [d for d in phase.after if states.get(d) != PhaseState.PASSED]
            if blocked:
                reason = "; ".join(f"after: {d} {states[d]}" for d in blocked)
                states[pid] = PhaseState.SKIPPED
                self.store.phase(ex.run_id, pid, state=PhaseState.SKIPPED, t=self.clock.now(), reason=reason)
                ex.report("phase", {"phase": pid, "state": PhaseState.SKIPPED, "reason": reason})
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
            states[phase.id] = PhaseState.RUNNING
            ex.progress.phase = phase.id
            ex.watch.arm()
            ex.progress.first_failure = None
            self.store.phase(ex.run_id, phase.id, state=PhaseState.RUNNING, t=start)
            ex.report("phase", {"phase": phase.id, "state": PhaseState.RUNNING, "attempt": attempt})
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
                ex.watch.check_now()
            if reason is None and verdict != PASS:
                reason = ex.progress.first_failure or f"verdict {verdict}"
            if verdict == PASS:
                break
            if attempt < attempts:
                ex.event("retry", f"phase {phase.id}: attempt {attempt} of {attempts} failed ({reason}); retrying",
                         severity="warning")
        state = PhaseState.PASSED if verdict == PASS else PhaseState.FAILED
        states[phase.id] = state
        ex.progress.phase = None
        if state == PhaseState.PASSED:
            ex.progress.passed_phases.add(phase.id)
        ex.watch.arm()
        self._summarise_interlocks(ex)
        self.store.phase(ex.run_id, phase.id, state=state, t=self.clock.now(), verdict=verdict, reason=reason)
        ex.report("phase", {"phase": phase.id, "state": state, "verdict": verdict, "reason": reason})
        return verdict == PASS, reason

    def _summarise_interlocks(self, ex: Execution) -> None:
        """How each interlock kept watch so far (reads, worst gap, closest approach): the latest
        `interlocks` event is what report and dashboard show (docs/results.md)."""
        if ex.watch.interlocks:
            self.store.event(ex.run_id, self.clock.now(), "interlocks", "interlock summary",
                             data=monitors.summary(ex.watch.interlocks))

    # -- instruments ------------------------------------------------------------------------------
    def _open(self, ex: Execution) -> None:
        # Every instrument is tried even after one fails: the safe state needs all it can reach.
        failures = ex.bench.open_all(SAFE_STEP_TIMEOUT)
        if failures:
            raise Abort("; ".join(failures))
        identities = ex.bench.identities
        ex.event("instruments", "instruments: " + "; ".join(f"{r}={i}" for r, i in identities.items()),
                 data=dict(identities), durable=True)

    def _close(self, ex: Execution) -> None:
        for role, exc in ex.bench.close_all():  # closing must not hide how the run ended
            ex.event("instruments", f"{role}: close failed: {exc}", severity="warning")

    # -- the safe state ---------------------------------------------------------------------------
    def _safe_state(self, ex: Execution, why: str | None) -> None:
        """Always runs. Each step on its own deadline; a failing step is recorded and the next one runs."""
        self._signal_stage[0] = SAFE_STATE  # further signals must not cut the way out short
        self.clock.clear()  # an abort interrupted the clock; the safe state's own waits must work
        ex.abort_reason = None
        ex.watch.stand_down()  # already going safe: no interlock may abort the way out
        ex.report("safe_state", {"why": why, "steps": len(self.proc.safe_state)})
        ex.event("safe_state", f"safe state: {why or 'end of run'}", durable=True)
        for i, node in enumerate(self.plan.safe_state):
            step = node.step
            role = node.call.role if node.call is not None else None
            label = node.id  # "safe_state/2"
            if role in ex.bench.lost:
                ex.store.step(ex.run_id, label, "safe", self.clock.now(), self.clock.now(), StepOutcome.SKIPPED,
                              f"{role} is unreachable", 1, step_id=node.id)
                ex.event("safe_state", f"safe state step {i + 1} skipped: {role} is unreachable", severity="error")
                continue
            frame = Frame("safe_state", label, dict(ex.parameters), {}, self.clock.now() + SAFE_STEP_TIMEOUT
                          if step.timeout is None else None, [])
            started = self.clock.now()
            try:
                run_step(ex, node, frame)  # records itself (step or measurement)
                outcome, message = StepOutcome.OK, None
            except StepFailed as exc:
                outcome, message = StepOutcome.ERROR, exc.message
            except (Abort, Exception) as exc:  # not recorded by the step itself: record it here
                outcome = StepOutcome.ERROR
                message = exc.reason if isinstance(exc, Abort) else f"{type(exc).__name__}: {exc}"
                ex.store.step(ex.run_id, label, "safe", started, self.clock.now(), outcome, message, 1,
                              step_id=node.id)
            ex.report("safe_step", {"index": i + 1, "outcome": outcome, "message": message})
            if outcome != StepOutcome.OK:
                ex.event("safe_state", f"safe state step {i + 1} failed: {message}; continuing", severity="error",
                         durable=True)
        ex.abort_reason = None
        self._signal_stage[0] = ENDING
        self.store.flush()

    # -- signals ----------------------------------------------------------------------------------
    def _install_signals(self):
        """Ctrl-C and SIGTERM ask nothing and wait for nothing: they abort to the safe state. Any
        later one is acknowledged on stderr and ignored, so that nothing cuts the safe state short
        and the run ends with the exit code it records. The acknowledgement is one os.write:
        a handler may run in the middle of a print, where a buffered write would raise."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        stage = self._signal_stage

        def handler(signum: int, _frame: Any) -> None:
            name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
            ex = self.ex
            if ex is None:  # the run is being recorded: it aborts as soon as it exists
                if self._pending_abort is None:
                    self._pending_abort = f"{name} received"
                return
            if stage[0] == RUNNING and ex.abort_reason is None:
                ex.request_abort(f"{name} received")
                return
            if stage[0] == RUNNING:
                said = f"{name}: aborting to the safe state already; ignoring it"
            elif stage[0] == SAFE_STATE:
                said = f"{name}: safe state in progress; ignoring the second interrupt until it ends"
            else:
                said = f"{name}: the safe state is done and the run is ending; ignoring it"
            _say(said)

        for s in previous:
            signal.signal(s, handler)

        def restore() -> None:
            for s, h in previous.items():
                signal.signal(s, h)
        return restore


def _say(text: str) -> None:
    """One line on stderr from a signal handler (unbuffered: see `_install_signals`)."""
    try:
        os.write(2, (text + "\n").encode())
    except OSError:  # no stderr: the record still says how the run ended
        pass


__all__ = ["Runner", "RunResult", "DEFAULT_STEP_TIMEOUT"]
