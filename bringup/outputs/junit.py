"""A run as JUnit XML, the report GitLab, Jenkins and the GitHub Actions reporters render.

- one `<testsuite>` per run, named after the procedure, with the run's facts as properties and
  its event log as system-out;
- one `<testcase>` per measurement and per action step, its phase as the classname; a name
  repeated in a loop gets its coordinates (`sled.max_tj[t=01:00:00]`), and `#2`, `#3` if
  still not unique; a retried step is one testcase (its earlier attempts are in its log), told
  by the records' `step_id` and `attempt` columns, never by their messages;
- a measurement's value, unit, limits and verdict are the testcase's properties, what it
  recorded is its system-out;
- FAIL is a `<failure>`, UNKNOWN and errors are an `<error>`, each with a one-line message
  ("vdd_core = 0.69 V not in [0.7275, 0.7725] V");
- what never ran is `<skipped>`: a phase behind a failed gate, and every phase a killed or
  aborted run never reached, with the reason; a phase the run died in is an `<error>`.

Only reads the store, so it works on a run killed halfway and on one still running.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bringup.outputs.output_file import write_file
from bringup.core.states import PhaseState, RunState, StepOutcome
from bringup.store import FAIL, PASS, UNKNOWN, StoreReader, UnknownRun, retried
from bringup.core.verdict import describe_limits

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
SAFE_STATE = "safe_state"


def coords_label(coords: dict | None) -> str:
    """`{"voltage": "0.8 V", "t": "01:00:00"}` -> `voltage=0.8 V, t=01:00:00`."""
    return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in (coords or {}).items())


def measurement_name(m: dict) -> str:
    """A measurement's name with its loop coordinates: unique within a sweep or soak."""
    label = coords_label(m["coords"])
    return f"{m['name']}[{label}]" if label else m["name"]


def failure_line(m: dict) -> str:
    """The one line a person reads: the runner's own message, or the same words rebuilt."""
    if m["message"]:
        return m["message"]
    if m["value"] is None:
        return f"{m['name']} = NaN (no valid reading)"
    unit = f" {m['unit']}" if m["unit"] else ""
    return f"{m['name']} = {m['value']:.6g}{unit} not in {describe_limits(m['low'], m['high'], m['unit'])}"


def measurement_log(m: dict) -> str:
    """One line of a measurement for logs: when, what, value, limits, verdict, where."""
    value = "none" if m["value"] is None else f"{m['value']:.6g}" + (f" {m['unit']}" if m["unit"] else "")
    line = (f"t={m['t']:.3f} s  {measurement_name(m)} = {value}  limits "
            f"{describe_limits(m['low'], m['high'], m['unit'])}  {m['verdict']}")
    if m.get("instrument"):
        line += f"  ({m['instrument']})"
    if m["message"] and not m["message"].startswith(f"{m['name']} = "):
        line += f"  {m['message']}"  # a timeout, a failed read, an attempt number
    return line


def measurement_properties(m: dict, prefix: str = "") -> list[tuple[str, str]]:
    """value, unit, low, high, verdict (those that exist), then each coordinate."""
    props = [(f"{prefix}value", _num(m["value"]) if m["value"] is not None else "none"),
             (f"{prefix}unit", m["unit"])]
    props += [(f"{prefix}{k}", _num(m[k])) for k in ("low", "high") if m[k] is not None]
    props.append((f"{prefix}verdict", m["verdict"]))
    props += [(f"{prefix}coords.{k}", v if isinstance(v, str) else _num(v)) for k, v in (m["coords"] or {}).items()]
    return props


def _num(v: Any) -> str:
    return repr(float(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)


@dataclass
class Case:
    classname: str
    name: str
    time: float = 0.0
    outcome: str = "passed"  # passed | failure | error | skipped
    message: str = ""
    detail: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    properties: list[tuple[str, str]] = field(default_factory=list)


def _measurement_case(m: dict, earlier: list[dict]) -> Case:
    case = Case(_phase_of(m["path"]), measurement_name(m), properties=measurement_properties(m))
    case.log = [measurement_log(x) for x in earlier + [m]]
    if not m.get("gate", 1):
        case.properties.append(("characterization", m["verdict"]))  # a shmoo point: data, never a failure
    elif m["verdict"] != PASS:
        case.outcome = "failure" if m["verdict"] == FAIL else "error"
        case.message = failure_line(m)
        case.detail = [f"path: {m['path']}", f"measurement: {m['name']}", *case.log]
    return case


def _step_case(s: dict, earlier: list[dict]) -> Case:
    phase = _phase_of(s["path"])
    rest = s["path"][len(phase) + 1:]
    if phase == SAFE_STATE:  # "safe_state/2/sled.power_off"
        rest = rest.split("/", 1)[-1]
    case = Case(phase, rest or s["path"], time=max(0.0, s["ended_t"] - s["started_t"]))
    what = rest if rest.startswith(s["kind"]) else f"{s['kind']} {rest}"  # "wait_until ..." says it already
    case.log = [f"t={x['started_t']:.3f}..{x['ended_t']:.3f} s  {what}  {x['outcome']}"
                f"{' (attempt %d)' % x['attempt'] if x['attempt'] > 1 else ''}"
                f"{'  ' + x['message'] if x['message'] else ''}" for x in earlier + [s]]
    if s["outcome"] == StepOutcome.SKIPPED:
        case.outcome, case.message = "skipped", s["message"] or "skipped"
    elif s["outcome"] != StepOutcome.OK:
        case.outcome = "failure" if s["outcome"] == StepOutcome.ERROR and phase != SAFE_STATE else "error"
        case.message = s["message"] or f"{rest}: {s['outcome']}"
        case.detail = [f"path: {s['path']}", *case.log]
    return case


def _phase_of(path: str) -> str:
    return path.split("/", 1)[0]


def build_cases(run: dict, phases: list[dict], steps: list[dict], measurements: list[dict]) -> list[Case]:
    """Every testcase of a run, phase by phase in the procedure's order, the safe state last."""
    # A retried step is one testcase: chain each attempt to the one before it (same plan step;
    # in a store from before step ids, the same path).
    step_earlier: dict[int, list[dict]] = {}
    retried_steps: set[int] = set()
    chains: dict[str, list[dict]] = {}
    actions = [s for s in steps if s["kind"] not in ("loop", "soak")]
    for s in actions:
        key = f"{s.get('step_id')}|{s['path']}"
        chain = chains.get(key)
        if s["attempt"] > 1 and chain and chain[-1]["attempt"] == s["attempt"] - 1:
            retried_steps.add(chain[-1]["id"])
            chain.append(s)
        else:
            chain = [s]
        chains[key] = chain
        step_earlier[s["id"]] = chain[:-1]
    # a measurement's earlier attempts go in the log of the one that replaced them
    replaced = retried(measurements)
    earlier_of: dict[int, list[dict]] = {}
    pending: dict[tuple, list[dict]] = {}
    for m in measurements:
        key = (m.get("step_id"), m["path"], m["name"], coords_label(m["coords"]))
        earlier_of[m["id"]] = pending.pop(key, []) if m.get("step_id") else []
        if m["id"] in replaced:
            pending[key] = earlier_of[m["id"]] + [m]
    records = [(m["t"], 1, m["id"], "m", m) for m in measurements if m["id"] not in replaced]
    records += [(s["started_t"], 0, s["id"], "s", s) for s in actions if s["id"] not in retried_steps]
    records.sort(key=lambda r: r[:3])
    by_phase: dict[str, list[Case]] = {}
    for _, _, _, kind, rec in records:
        case = (_step_case(rec, step_earlier[rec["id"]]) if kind == "s"
                else _measurement_case(rec, earlier_of[rec["id"]]))
        by_phase.setdefault(case.classname, []).append(case)

    cases: list[Case] = []
    order = [p["phase_id"] for p in phases] + [c for c in by_phase if c not in {p["phase_id"] for p in phases}]
    states = {p["phase_id"]: p for p in phases}
    for pid in order:
        own = by_phase.get(pid, [])
        cases.extend(own)
        if pid in states:
            extra = _phase_case(run, states[pid], own)
            if extra is not None:
                cases.append(extra)
    _unique(cases)
    return cases


def _phase_case(run: dict, p: dict, own: list[Case]) -> Case | None:
    """A testcase for the phase itself when its state says more than its steps do."""
    pid, state, reason = p["phase_id"], p["state"], p["reason"]
    case = Case(pid, pid)
    if state in (PhaseState.PENDING, PhaseState.SKIPPED):
        if run["state"] == RunState.RUNNING:
            why = "not run yet (the run is still running)"
        elif state == PhaseState.PENDING:
            why = f"not run: the run was {run['state']}" + (f" ({run['reason']})" if run["reason"] else "")
        else:
            why = reason or "not run"
        case.outcome, case.message = "skipped", why
    elif state == PhaseState.RUNNING:
        if run["state"] == RunState.RUNNING:
            case.outcome, case.message = "skipped", "still running"
        else:
            case.outcome = "error"
            case.message = (f"phase {pid} was running when the run's process ended without recording an end"
                            if run["state"] == RunState.INTERRUPTED else f"phase {pid} did not finish: {run['reason']}")
    elif state == PhaseState.ABORTED:
        case.outcome, case.message = "error", f"phase {pid} aborted: {reason or run['reason'] or 'no reason given'}"
    elif state == PhaseState.FAILED and not any(c.outcome in ("failure", "error") for c in own):
        case.outcome, case.message = "failure", f"phase {pid} failed: {reason or 'no reason given'}"
    else:
        return None
    case.detail = [case.message]
    return case


def _unique(cases: list[Case]) -> None:
    seen: Counter = Counter()
    for case in cases:
        key = (case.classname, case.name)
        seen[key] += 1
        if seen[key] > 1:
            case.name = f"{case.name} #{seen[key]}"


def _clean(text: Any) -> str:
    return _NOT_XML.sub("?", str(text))


def junit_xml(reader: StoreReader, run_id: int) -> str:
    """Run `run_id` as a JUnit XML document, read from one consistent moment of the store."""
    with reader.snapshot():
        run = reader.run(run_id)
        if run is None:
            raise UnknownRun(f"no run {run_id} in {reader.path}; `bringup runs --store {reader.path}` "
                             f"lists the runs it has")
        phases, steps = reader.phases(run_id), reader.steps(run_id)
        measurements, events = reader.measurements(run_id), reader.events(run_id)
    cases = build_cases(run, phases, steps, measurements)
    counts = Counter(c.outcome for c in cases)
    totals = {"tests": str(len(cases)), "failures": str(counts["failure"]), "errors": str(counts["error"]),
              "skipped": str(counts["skipped"]), "time": f"{run['duration'] or 0.0:.3f}"}
    root = ET.Element("testsuites", {"name": f"bringup {run['procedure']}", **totals})
    suite = ET.SubElement(root, "testsuite", {
        "name": _clean(run["procedure"]), **totals, "timestamp": _clean((run["started_at"] or "")[:19]),
        "hostname": _clean(run["host"]), "id": str(run["id"])})
    props = ET.SubElement(suite, "properties")
    facts = [("run_id", run["id"]), ("procedure", run["procedure"]), ("version", run["version"]),
             ("dut", run["dut"]), ("station", run["station"]), ("clock", run["clock"]), ("state", run["state"]),
             ("verdict", run["verdict"]), ("exit_code", run["exit_code"]), ("reason", run["reason"]),
             ("started_at", run["started_at"]), ("procedure_sha256", run["procedure_sha256"])]
    facts += [(f"parameters.{k}", v) for k, v in (run["parameters"] or {}).items()]
    for name, value in facts:
        if value is not None:
            ET.SubElement(props, "property", {"name": _clean(name), "value": _clean(value)})
    for case in cases:
        el = ET.SubElement(suite, "testcase", {"classname": _clean(case.classname), "name": _clean(case.name),
                                               "time": f"{case.time:.3f}"})
        if case.properties:
            cp = ET.SubElement(el, "properties")
            for name, value in case.properties:
                ET.SubElement(cp, "property", {"name": _clean(name), "value": _clean(value)})
        if case.outcome != "passed":
            tag = {"failure": "failure", "error": "error", "skipped": "skipped"}[case.outcome]
            attrs = {"message": _clean(case.message)}
            if tag != "skipped":
                attrs["type"] = {"failure": FAIL, "error": UNKNOWN}[case.outcome]
            out = ET.SubElement(el, tag, attrs)
            if case.detail and tag != "skipped":
                out.text = _clean("\n".join(case.detail))
        if case.log:
            ET.SubElement(el, "system-out").text = _clean("\n".join(case.log) + "\n")
    log = [f"t={e['t']:.3f} s  {e['severity']:<8} {e['kind']:<12} {e['message']}"
           for e in events if e["severity"] != "debug"]
    ET.SubElement(suite, "system-out").text = _clean("\n".join(log) + "\n")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(reader: StoreReader, run_id: int, path: str | Path) -> None:
    """Write run `run_id` as JUnit XML to `path`, whole or not at all (for `bringup run --junit`).

    Raises UnknownRun for a run the store does not have and output_file.ExportError (a one-line,
    user-facing message) when the file cannot be written; the store is never touched.
    """
    write_file(Path(path), junit_xml(reader, run_id), reader.path)
