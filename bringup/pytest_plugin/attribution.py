"""What each top-level step's item did, read from the run's records.

Every measurement and step row carries the plan's `step_id` of the step that made it (a loop's
nested steps have ids under the loop's: `links/1/2` is inside `links/1`), the `attempt` of a
retried step and the `phase_attempt` of a retried phase. So an item's records are the rows with
its id or one under it, from its phase's last attempt; nothing is guessed from labels or order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bringup.check.plan import LOOPS, PlanStep
from bringup.store import retried

from bringup.core.states import PhaseState, StepOutcome, Verdict


@dataclass
class Outcome:
    """What one item's step did."""

    status: str = "passed"  # passed | failed | skipped
    message: str = ""
    measurements: list[dict] = field(default_factory=list)
    steps: list[dict] = field(default_factory=list)
    done: bool = False

    @property
    def recorded(self) -> bool:
        return bool(self.measurements or self.steps)

    def failures(self) -> list[str]:
        """The final word of each record that did not pass (a retried attempt is not final)."""
        from bringup.outputs.junit import failure_line

        replaced = retried(self.measurements)
        out = [failure_line(m) for m in self.measurements
               if m["verdict"] != Verdict.PASS and m.get("gate", True) and m["id"] not in replaced]
        for i, s in enumerate(self.steps):
            again = any(t["step_id"] == s["step_id"] and t["path"] == s["path"] and t["attempt"] == s["attempt"] + 1
                        for t in self.steps[i + 1:])
            if s["outcome"] not in (StepOutcome.OK, StepOutcome.SKIPPED) and not again:
                out.append(s["message"] or f"{s['path']}: {s['outcome']}")
        return out


def under(step_id: str | None, node: PlanStep) -> bool:
    """Whether a record's step id is this step's or one of its nested steps'."""
    return step_id is not None and (step_id == node.id or step_id.startswith(node.id + "/"))


def last_attempt(measurements: list[dict], steps: list[dict]) -> tuple[list[dict], list[dict]]:
    """A phase's rows from its last run only (`retries:` runs a failed phase again from its start)."""
    last = max((r.get("phase_attempt", 1) for r in measurements + steps), default=1)
    return ([m for m in measurements if m.get("phase_attempt", 1) == last],
            [s for s in steps if s.get("phase_attempt", 1) == last])


def _finished(node: PlanStep, out: Outcome) -> bool:
    """Whether a step got to its end: a loop wrote its own row, a search its result, any other
    step passed or used up its attempts."""
    if node.kind in LOOPS:
        return any(s["step_id"] == node.id and s["kind"] in ("loop", "soak") for s in out.steps)
    if node.kind == "search":
        return any(m["step_id"] == node.id and m.get("gate", True) for m in out.measurements)
    own = [r for r in out.measurements + out.steps if r["step_id"] == node.id]
    if any(r.get("verdict") == Verdict.PASS or not r.get("gate", True) or r.get("outcome") == StepOutcome.OK for r in own):
        return True
    return len(own) >= node.step.retry + 1


def collect(nodes: tuple[PlanStep, ...], measurements: list[dict], steps: list[dict]) -> tuple[list[Outcome], int]:
    """Each record to the top-level step it came from. Returns the outcomes and the index of the
    first step that did not finish."""
    outs = []
    for node in nodes:
        out = Outcome(measurements=[m for m in measurements if under(m["step_id"], node)],
                      steps=[s for s in steps if under(s["step_id"], node)])
        out.done = _finished(node, out)
        outs.append(out)
    cursor = next((j for j, o in enumerate(outs) if not o.done), len(outs))
    return outs, cursor


def judge_phase(nodes: tuple[PlanStep, ...], names: list[str], measurements: list[dict], steps: list[dict],
                phase: str, state: str, reason: str | None) -> list[Outcome]:
    """Every item of a phase, judged from its records and how the phase ended."""
    if state in (PhaseState.PENDING, PhaseState.SKIPPED):
        return [Outcome("skipped", reason or "not run") for _ in nodes]
    outs, cursor = collect(nodes, measurements, steps)
    for out in outs:
        failures = out.failures()
        if failures:
            out.status = "failed"
            out.message = failures[0] + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else "")
    if state == PhaseState.PASSED:
        return outs
    stopper = next((i for i, o in enumerate(outs) if o.done and o.status == "failed"
                    and nodes[i].step.on_fail == "stop"), None)
    if cursor < len(nodes) and (outs[cursor].recorded or stopper is None):
        blame: int | None = cursor
    elif cursor >= len(nodes) and not any(o.status == "failed" for o in outs):
        blame = len(nodes) - 1
    else:
        blame = None
    why = reason or state
    for said in ("aborted: ", "not run: "):  # the runner's words for a phase it left: the state says it
        if state == PhaseState.ABORTED and why.startswith(said):
            why = why[len(said):]
    if blame is not None and outs[blame].status != "failed":
        outs[blame].status = "failed"
        outs[blame].message = (f"phase {phase} {state} during this step: {why}" if state != PhaseState.FAILED
                               else f"phase {phase} failed: {why}")
    first = blame if blame is not None else stopper
    for i in range((first or 0) + 1, len(nodes)):
        if not outs[i].done and not outs[i].recorded:
            outs[i].status = "skipped"
            outs[i].message = f"not run: phase {phase} stopped at '{names[first]}' ({why})"
    return outs


def safe_outcome(node: PlanStep, measurements: list[dict], steps: list[dict]) -> Outcome:
    """A safe-state step's item: what its records say (the safe state runs every step, in order)."""
    out = Outcome(measurements=[m for m in measurements if under(m["step_id"], node)],
                  steps=[s for s in steps if under(s["step_id"], node)], done=True)
    if not out.recorded:
        return Outcome("skipped", "not run: the run ended before its safe state")
    if any(s["outcome"] == StepOutcome.SKIPPED for s in out.steps):
        out.status, out.message = "skipped", next(s["message"] for s in out.steps if s["outcome"] == StepOutcome.SKIPPED)
    failures = out.failures()
    if failures:
        out.status, out.message = "failed", "safe state step failed: " + failures[0]
    return out


__all__ = ["Outcome", "collect", "judge_phase", "last_attempt", "safe_outcome", "under"]
