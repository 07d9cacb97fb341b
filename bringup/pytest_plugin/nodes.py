"""The pytest nodes: a procedure file, a group per phase (and the safe state), an item per step."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any, Iterator

import pytest

from bringup.check.plan import PlanStep
from bringup.core.states import PhaseState
from bringup.pytest_plugin.attribution import Outcome, judge_phase, last_attempt, safe_outcome
from bringup.pytest_plugin.summary import RUNS

SAFE_STATE = "safe_state"


def _skip(reason: str) -> None:
    """Skip, reported at the step's line in the procedure rather than at this file's."""
    try:
        raise pytest.skip.Exception(reason, _use_item_location=True)
    except TypeError:  # a pytest without the private flag: the reason is what matters
        pytest.skip(reason)


class StepFailure(Exception):
    """A step that did not pass; `str()` is the one line a person reads."""


class RunProblem(Exception):
    """The procedure could not be run at all (store, station, instruments); every item shows it."""


def unique_names(labels: list[str]) -> list[str]:
    seen: dict[str, int] = defaultdict(int)
    out = []
    for label in labels:
        label = label.replace("::", ":")
        seen[label] += 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


class ProcedureFile(pytest.File):
    """A procedure: validated against the station at collection, run whole before its first item."""

    def collect(self) -> Iterator[pytest.Collector]:
        from bringup.run.session import open_station, parse_overrides
        from bringup.language.source import InvalidInput
        from bringup.check.validate import load_procedure, validate

        opt = self.config.getoption
        try:
            if opt("bringup_station"):
                self.station = open_station(opt("bringup_station"))
            else:  # the embedded simulator's station, for validation: nothing is started yet
                from bringup.commands.sim import embedded_station

                self.station = embedded_station()
            # one command line runs many procedures: an override applies to those that declare it
            # (`--bringup-param soak=30min` shortens the soaks and leaves power_on.yaml alone)
            overrides = parse_overrides(opt("bringup_param"))
            declared = load_procedure(self.path)[0].parameters
            self.overrides = {k: v for k, v in overrides.items() if k in declared}
            self.checked = validate(self.path, self.station, self.overrides)
        except InvalidInput as exc:
            raise self.CollectError(f"not a valid procedure for station {opt('bringup_station') or '(default)'}; "
                                    f"nothing was run:\n{exc}") from None
        plan = self.checked.plan
        for pid in self.checked.order:
            phase = plan.phase(pid)
            yield PhaseGroup.from_parent(self, name=pid, nodes=phase.steps, loc=("phases", phase.index, "steps"))
        if plan.safe_state:
            yield PhaseGroup.from_parent(self, name=SAFE_STATE, nodes=plan.safe_state, loc=(SAFE_STATE,))

    def setup(self) -> None:
        self.results = self._run()

    def _run(self) -> dict[str, list[Outcome]]:
        from bringup.run import session
        from bringup.language.source import InvalidInput
        from bringup.store import StoreError, StoreReader, default_path

        opt = self.config.getoption
        store_path = Path(opt("bringup_store")) if opt("bringup_store") else default_path()
        try:
            if opt("bringup_station"):
                result = self._run_on(session.prepare(self.path, self.station, self.overrides), store_path)
            else:
                result = self._run_embedded(store_path)
            with StoreReader(store_path) as reader, reader.snapshot():
                recorded = (reader.phases(result.run_id), reader.measurements(result.run_id),
                            reader.steps(result.run_id))
        except (InvalidInput, StoreError, OSError) as exc:
            raise RunProblem(f"{self.path.name} could not be run: {exc}") from None
        self.config.stash[RUNS].append(
            f"{self.nodeid}: run {result.run_id} {result.state}, verdict {result.verdict}"
            + (f" ({result.reason})" if result.reason else "")
            + f"; `bringup report {result.run_id} --store {store_path}`")
        return self._judge(*recorded)

    def _run_on(self, prepared: Any, store_path: Path, meta: dict | None = None, finish: Any = None) -> Any:
        from bringup.run import session

        with session.open_store(store_path, prepared) as db:
            result = session.run(prepared, db, dut=self.config.getoption("bringup_dut"), meta=meta)
            if finish is not None:  # the simulator's ground truth, kept with the run it explains
                db.event(result.run_id, prepared.clock.now(), "ground_truth", "what the simulator injected",
                         data=finish(), durable=True)
        return result

    def _run_embedded(self, store_path: Path) -> Any:
        """As `bringup run` with no --station: a simulated lab in this process, on real transports."""
        from bringup.run import session
        from bringup.commands.sim import embedded_lab

        opt = self.config.getoption
        with embedded_lab(seed=opt("bringup_seed"), faults=tuple(opt("bringup_fault"))) as lab:
            lab.start()
            prepared = session.prepare(self.path, lab.station, self.overrides, clock=lab.clock)
            return self._run_on(prepared, store_path, meta=lab.meta(), finish=lab.ground_truth)

    def _judge(self, phases: list[dict], measurements: list[dict], steps: list[dict]) -> dict[str, list[Outcome]]:
        """Each item's outcome, from the rows its step (and the steps inside it) recorded."""
        plan = self.checked.plan
        ended = {p["phase_id"]: (p["state"], p["reason"]) for p in phases}
        out: dict[str, list[Outcome]] = {}
        for pid in self.checked.order:
            nodes = plan.phase(pid).steps
            state, reason = ended.get(pid, (PhaseState.PENDING, None))
            prefix = pid + "/"
            ms, ss = last_attempt([m for m in measurements if (m["step_id"] or "").startswith(prefix)],
                                  [s for s in steps if (s["step_id"] or "").startswith(prefix)])
            out[pid] = judge_phase(nodes, unique_names([n.label for n in nodes]), ms, ss, pid, state, reason)
        out[SAFE_STATE] = [safe_outcome(node, measurements, steps) for node in plan.safe_state]
        return out


class PhaseGroup(pytest.Collector):
    """A phase (or the safe state): one item per top-level step."""

    def __init__(self, *, nodes: tuple[PlanStep, ...], loc: tuple, **kw: Any) -> None:
        super().__init__(**kw)
        self.nodes, self.loc = nodes, loc
        self.names = unique_names([n.label for n in nodes])

    def collect(self) -> Iterator[pytest.Item]:
        for j, name in enumerate(self.names):
            yield StepItem.from_parent(self, name=name, index=j)


class StepItem(pytest.Item):
    """One top-level step: passes, fails (one readable line) or is skipped, from what it recorded."""

    def __init__(self, *, index: int, **kw: Any) -> None:
        super().__init__(**kw)
        self.index = index

    def runtest(self) -> None:
        from bringup.outputs.junit import measurement_log, measurement_name, measurement_properties

        procedure: ProcedureFile = self.parent.parent
        outcome = procedure.results[self.parent.name][self.index]
        for m in outcome.measurements:
            self.user_properties.extend(measurement_properties(m, prefix=measurement_name(m) + "."))
            print(measurement_log(m))
        for s in outcome.steps:
            print(f"t={s['started_t']:.3f}..{s['ended_t']:.3f} s  {s['path']}  {s['outcome']}"
                  + (f"  {s['message']}" if s["message"] else ""))
        if outcome.status == "skipped":
            _skip(outcome.message)
        if outcome.status == "failed":
            raise StepFailure(outcome.message)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, (StepFailure, RunProblem)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        procedure: ProcedureFile = self.parent.parent
        line, _ = procedure.checked.document.where(self.parent.loc + (self.index,))
        # not "phase::name": pytest would turn the dots of "psu.set" into "::" in its output
        return self.path, line - 1, f"{self.parent.name}: {self.name}"
