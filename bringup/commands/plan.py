"""`bringup plan PROCEDURE`: the compiled plan as a dry run, touching nothing.

Every driver call the run would make, in order, with the station guardrails it was checked
against; loops with their iterations; the phase graph; the interlocks; the safe state. The
embedded station's drivers and guardrails are known without building or serving the lab (as
`bringup validate`), so no instrument is opened and no port is listened on. `--json` is the same
tree as stable, machine-readable data (`"format": "bringup-plan"`).
"""

from __future__ import annotations

import json
from typing import Any

import click

from bringup.check.plan import Call, MonitorPlan, PhasePlan, Plan, PlanStep
from bringup.core.units import unit

FORMAT_VERSION = 1
_STATION_HELP = ("station file binding roles to drivers; 'fake' for the in-memory fake bench "
                 "(default: the embedded simulated lab, which is not started)")


@click.command("plan")
@click.argument("procedure", type=click.Path())  # a folder is refused by the loader, located like any input
@click.option("--station", "-s", type=click.Path(), help=_STATION_HELP)
@click.option("--json", "as_json", is_flag=True, help="print the plan as JSON (stable, for programs)")
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="override a parameter")
def plan_command(procedure: str, station: str | None, as_json: bool, params: tuple[str, ...]) -> None:
    """Print what a run would do, step by step, without touching any instrument.

    Each step has its stable id (the same in every run's records), the driver call it makes
    with its arguments and units, the station guardrails the call was checked against, its
    limits, and the loops around it. Bad input is reported as by `bringup validate` (exit 2).
    """
    from bringup.run.session import open_station, parse_overrides
    from bringup.check.station import guardrail_lines
    from bringup.check.validate import validate

    if station is None:
        from bringup.commands.sim import embedded_station

        st = embedded_station()
    else:
        st = open_station(station)
    checked = validate(procedure, st, parse_overrides(params))
    rails = guardrail_lines(st)
    if as_json:
        click.echo(json.dumps(plan_json(checked.plan, rails), indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(plan_lines(checked.plan, rails)))


# -- JSON ----------------------------------------------------------------------------------------
def plan_json(plan: Plan, guardrails: list[str] | None = None) -> dict[str, Any]:
    return {
        "format": "bringup-plan", "format_version": FORMAT_VERSION,
        "procedure": plan.procedure, "version": plan.version, "station": plan.station,
        # which station limit binds which target, as `bringup validate` lists them
        "station_guardrails": list(guardrails or []),
        "parameters": {k: str(v) for k, v in plan.parameters.items()},
        "order": list(plan.order),
        "phases": [_phase_json(p) for p in plan.phases],
        "monitors": [_monitor_json(m) for m in plan.monitors],
        "safe_state": [_step_json(s) for s in plan.safe_state],
    }


def _call_json(c: Call | None) -> dict[str, Any] | None:
    if c is None:
        return None
    params = c.spec.params
    args = None if c.args is None else {k: _arg_json(v, params[k].unit if k in params else None)
                                        for k, v in c.args.items()}
    return {"role": c.role, "name": c.name, "kind": c.spec.kind, "text": c.text, "args": args,
            "as_written": {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in c.raw.items()},
            "returns": c.spec.unit if c.spec.kind == "reading" else None,
            "guardrails": [{"param": g.param, "value": g.value, "limit": g.limit, "verdict": g.verdict, "text": str(g)}
                           for g in c.guardrails]}


def _arg_json(v: Any, unit_symbol: str | None) -> dict[str, Any]:
    """An argument as the driver gets it (value, unit) and, for a quantity, in SI (`si`)."""
    out: dict[str, Any] = {"value": v if isinstance(v, (int, float, str, bool)) else str(v), "unit": unit_symbol}
    if unit_symbol and isinstance(v, (int, float)) and not isinstance(v, bool):
        out["si"] = unit(unit_symbol).to_si(float(v))
    return out


def _step_json(s: PlanStep) -> dict[str, Any]:
    out: dict[str, Any] = {"id": s.id, "kind": s.kind, "label": s.label, "call": _call_json(s.call),
                           "limits": s.limits, "unit": s.unit, "loop": s.loop, "gate": s.gate,
                           "retry": s.step.retry, "on_fail": s.step.on_fail,
                           "timeout": None if s.step.timeout is None else str(s.step.timeout)}
    if s.kind == "wait_until":
        out["condition"] = s.step.wait_until.condition
    out["steps"] = [_step_json(c) for c in s.steps]
    if s.kind == "sweep":
        out["recover"] = [_step_json(c) for c in s.recover]
    return out


def _phase_json(p: PhasePlan) -> dict[str, Any]:
    return {"id": p.id, "after": list(p.after), "on_fail": p.on_fail, "retries": p.retries, "timeout": p.timeout,
            "steps": [_step_json(s) for s in p.steps]}


def _monitor_json(m: MonitorPlan) -> dict[str, Any]:
    return {"id": m.id, "label": m.label, "call": _call_json(m.call), "every": m.every, "limits": m.limits,
            "on_violation": m.on_violation, "armed": m.armed}


# -- text ----------------------------------------------------------------------------------------
def plan_lines(plan: Plan, guardrails: list[str] | None = None) -> list[str]:
    width = max([len(s.id) for s in plan.by_id.values()] + [len(m.id) for m in plan.monitors] + [8])
    out = [f"plan: {plan.procedure} v{plan.version} on station {plan.station} (a dry run: nothing is touched)"]
    if plan.parameters:
        out.append("parameters: " + ", ".join(f"{k} = {v}" for k, v in plan.parameters.items()))
    if guardrails is not None:
        out += ["", "station guardrails (the limits that bind each target):" if guardrails
                else "station guardrails: none"] + [f"  {line}" for line in guardrails]
    out += ["", "phases, in the order they run (a phase runs only if every phase it comes after passed):"]
    for pid in plan.order:
        p = plan.phase(pid)
        gate = f"after {', '.join(p.after)}" if p.after else "first"
        extra = [f"retries {p.retries}"] if p.retries else []
        extra += [f"timeout {p.timeout}"] if p.timeout else []
        extra += ["on fail: continue with the next phase"] if p.on_fail == "continue" else []
        out.append(f"  {pid}  ({gate}{'; ' + '; '.join(extra) if extra else ''})")
    out += ["", "interlocks (read between steps and inside every wait):" if plan.monitors else "interlocks: none"]
    for m in plan.monitors:
        out.append(f"  {m.id:<{width}}  {m.call.text} every {m.every}, limit {m.limits}, "
                   f"on violation {m.on_violation}; armed {m.armed}")
        out += [f"  {'':<{width}}    guardrail {g}" for g in m.call.guardrails]
    for pid in plan.order:
        out += ["", f"phase {pid}:"]
        for s in plan.phase(pid).steps:
            out += _step_lines(s, width, 1)
    out += ["", "safe state (always runs, in this order, past any failing step):" if plan.safe_state
            else "safe state: none declared"]
    for s in plan.safe_state:
        out += _step_lines(s, width, 1)
    return out


def _step_lines(s: PlanStep, width: int, depth: int) -> list[str]:
    pad = "  " * depth
    what = _what(s)
    line = f"{pad}{s.id:<{width}}  {s.kind:<10} {what}"
    notes = []
    if s.limits:
        notes.append(f"limit {s.limits}")
    if not s.gate:
        notes.append("characterization: recorded, never a failure")
    if s.step.retry:
        notes.append(f"retry {s.step.retry}")
    if s.step.timeout is not None:
        notes.append(f"timeout {s.step.timeout}")
    if s.step.on_fail == "continue":
        notes.append("on fail: continue")
    out = [line + (f"  [{'; '.join(notes)}]" if notes else "")]
    sub = f"{pad}{'':<{width}}  {'':<10} "
    if s.loop:
        out.append(f"{sub}{s.loop}")
    if s.call is not None:
        out += [f"{sub}guardrail {g}" for g in s.call.guardrails]
    for c in s.steps:
        out += _step_lines(c, width, depth + 1)
    if s.recover:
        out.append(f"{sub}after a point that did not pass, recover with:")
        for c in s.recover:
            out += _step_lines(c, width, depth + 1)
    return out


def _what(s: PlanStep) -> str:
    """The step's driver call (or what it does), with its name when it has one."""
    if s.call is not None:
        text = s.call.text
        if s.kind == "search":
            text = f"{s.label}: {text} at each point"
        elif s.label not in (s.call.ref, text):
            text = f"{s.label}: {text}"
        return text
    if s.kind == "wait_until":
        c = s.step.wait_until
        return s.label if s.label.startswith("wait_until") else f"{s.label}: wait_until {c.condition}"
    if s.kind == "compute":
        return f"{s.label} = {s.step.value}" + (f" [{s.unit}]" if s.unit else "")
    return s.label
