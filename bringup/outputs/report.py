"""What happened in a run, for a person: phases, verdicts, every measurement that did not pass,
and what the night found (key numbers, the safe state, the interlocks, the injected faults).

One model (`RunReport`, read from the store) and two renderings of it: rich tables for a
terminal, plain aligned text when piped or saved (and for tests). Both show the same facts.
Every time is the run clock since the run's start, as in `bringup run`'s log and the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from bringup.outputs import findings, interlock_summary, keynumbers
from bringup.outputs.findings import Section
from bringup.core.states import FAIL, PASS, UNKNOWN, PhaseState, RunState, Severity
from bringup.store import StoreReader, UnknownRun
from bringup.core.timefmt import format_duration, run_time
from bringup.core.verdict import describe_limits

_ALERT_SEVERITIES = (Severity.WARNING, Severity.ERROR, Severity.CRITICAL)
# verdicts, phase and run states in one table; "error" also styles any cell that shows one
_STYLE = {PASS: "green", FAIL: "bold red", UNKNOWN: "yellow", PhaseState.PASSED: "green", PhaseState.FAILED: "bold red",
          PhaseState.ABORTED: "red", RunState.ERROR: "bold red", RunState.INTERRUPTED: "magenta",
          PhaseState.SKIPPED: "dim", PhaseState.RUNNING: "cyan", PhaseState.PENDING: "dim"}


@dataclass(frozen=True)
class RunReport:
    run: dict
    phases: list[dict]
    problems: list[dict]  # FAIL and UNKNOWN measurements, in the order taken
    verdicts: dict[str, int]
    outcomes: dict[str, int]
    alerts: list[dict]  # warning / error / critical events other than phase and run transitions
    store: Path
    found: list[Section]  # key numbers, safe state, interlocks, ground truth: what the night found

    @property
    def start(self) -> float:
        return self.run["started_t"] or 0.0


def resolve_run(reader: StoreReader, run: str | int | None) -> int:
    """A run id from what a user typed: a number, "latest", or nothing (latest)."""
    if run is None or str(run).strip().lower() == "latest":
        latest = reader.latest_run_id()
        if latest is None:
            raise UnknownRun(f"no runs yet in {reader.path}; run a procedure first, or pass --store "
                             f"with the store that has them")
        return latest
    text = str(run).strip().lstrip("#")
    if not text.isdigit():
        raise UnknownRun(f"{run!r} is not a run id; give a number from `bringup runs` or 'latest'")
    run_id = int(text)
    if reader.run(run_id) is None:
        raise UnknownRun(f"no run {run_id} in {reader.path}; `bringup runs --store {reader.path}` "
                         f"lists the runs it has")
    return run_id


def load_report(reader: StoreReader, run_id: int) -> RunReport:
    """Everything the report shows, read from one consistent moment of the store."""
    with reader.snapshot():
        run = reader.run(run_id)
        if run is None:
            raise UnknownRun(f"no run {run_id} in {reader.path}; `bringup runs --store {reader.path}` "
                             f"lists the runs it has")
        events = reader.events(run_id)
        alerts = [e for e in events if e["severity"] in _ALERT_SEVERITIES and e["kind"] not in ("phase", "run")]
        problems = reader.measurements(run_id, {FAIL, UNKNOWN}, gates_only=True)
        start = run["started_t"] or 0.0
        found = findings.key_number_sections(keynumbers.load(reader, run_id), start)
        found.append(findings.safe_state_section(reader.steps(run_id), events, run))
        found.append(findings.interlock_section(interlock_summary.latest(events), start))
        truth = next((e["data"] for e in reversed(events) if e["kind"] == "ground_truth"), None)
        injected = findings.ground_truth_section(truth, problems, events, start)
        if injected is not None:
            found.append(injected)
        return RunReport(run=run, phases=reader.phases(run_id), problems=problems,
                         verdicts=reader.verdict_counts(run_id), outcomes=reader.outcome_counts(run_id),
                         alerts=alerts, store=reader.path, found=found)


# -- formatting of single facts -----------------------------------------------------------------

def fmt_number(x: float | None) -> str:
    return "none" if x is None else f"{x:.6g}"


def fmt_value(value: float | None, unit: str) -> str:
    return fmt_number(value) + (f" {unit}" if unit and value is not None else "")


def fmt_limits(low: float | None, high: float | None, unit: str) -> str:
    return describe_limits(low, high, unit)


def fmt_coords(coords: dict | None) -> str:
    if not coords:
        return ""
    return ", ".join(f"{k}={fmt_number(v) if isinstance(v, float) else v}" for k, v in coords.items())


def fmt_span(start: float | None, end: float | None) -> str:
    return format_duration(end - start, decimals=1) if start is not None and end is not None else "-"


def _phase_row(i: int, p: dict) -> list[str]:
    return [str(i), p["phase_id"], p["state"], p["verdict"] or "-", fmt_span(p["started_t"], p["ended_t"]),
            p["reason"] or ""]


def _problem_row(m: dict, start: float) -> list[str]:
    value = fmt_value(m["value"], m["unit"])
    if m["message"]:
        value += f" ({m['message']})"
    return [m["verdict"], m["path"], m["name"], value, fmt_limits(m["low"], m["high"], m["unit"]),
            fmt_coords(m["coords"]), run_time(m["t"], start)]


def _alert_row(e: dict, start: float) -> list[str]:
    return [run_time(e["t"], start), e["severity"], e["kind"], e["message"]]


def _counts(counts: dict[str, int], order: Sequence[str]) -> str:
    keys = list(order) + sorted(k for k in counts if k not in order)
    return ", ".join(f"{counts.get(k, 0)} {k}" for k in keys if k in order or counts.get(k))


def summary_line(r: RunReport) -> str:
    phase_states: dict[str, int] = {}
    for p in r.phases:
        phase_states[p["state"]] = phase_states.get(p["state"], 0) + 1
    n_meas, n_steps = sum(r.verdicts.values()), sum(r.outcomes.values())
    return (f"{_n(n_meas, 'measurement')} ({_counts(r.verdicts, (PASS, FAIL, UNKNOWN))}); "
            f"{_n(n_steps, 'step')}" + (f" ({_counts(r.outcomes, ('ok',))})" if n_steps else "") +
            f"; {_n(len(r.phases), 'phase')}" + (f" ({_counts(phase_states, ())})" if r.phases else ""))


def _n(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def header_lines(r: RunReport) -> list[str]:
    run = r.run
    lines = [f"Run {run['id']}: {run['procedure']} {run['version']} on DUT {run['dut']} "
             f"at station {run['station']}",
             f"  state {run['state']}, verdict {run['verdict'] or '-'}, exit code "
             f"{'-' if run['exit_code'] is None else run['exit_code']}",
             f"  started {run['started_at']} (UTC), clock {run['clock']}, duration "
             f"{format_duration(run['duration'], decimals=1)}",
             f"  procedure {run['procedure_path']} (sha256 {run['procedure_sha256'][:12]})"]
    if run["reason"]:
        lines.insert(2, f"  reason: {run['reason']}")
    if run["state"] == RunState.INTERRUPTED:
        lines.insert(2, f"  the process that ran it (pid {run['pid']} on {run['host']}) ended without "
                        f"recording an end")
    return lines


# -- plain text ---------------------------------------------------------------------------------

def _one_line(s: object) -> str:
    # A message with a newline must not break the table's rows apart.
    return str(s).replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ")


def plain_table(headers: Sequence[str], rows: Iterable[Sequence[str]], indent: str = "  ") -> list[str]:
    """Columns aligned with spaces; the last column is not padded."""
    rows = [[_one_line(c) for c in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    out = []
    for row in [list(headers), *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths)] + [row[-1]]
        out.append((indent + "  ".join(cells)).rstrip())
    return out


_PHASE_HEADERS = ("#", "PHASE", "STATE", "VERDICT", "DURATION", "REASON")
_PROBLEM_HEADERS = ("VERDICT", "PATH", "NAME", "VALUE", "LIMITS", "COORDS", "AT")
_ALERT_HEADERS = ("AT", "SEVERITY", "KIND", "MESSAGE")


def render_text(r: RunReport) -> str:
    lines = header_lines(r) + ["", "Phases"]
    if r.phases:
        lines += plain_table(_PHASE_HEADERS, [_phase_row(i, p) for i, p in enumerate(r.phases, 1)])
    else:
        lines.append("  (no phases recorded)")
    n_fail, n_unknown = r.verdicts.get(FAIL, 0), r.verdicts.get(UNKNOWN, 0)
    lines += ["", f"Failing and unknown measurements ({n_fail} FAIL, {n_unknown} UNKNOWN)"]
    if r.problems:
        lines += plain_table(_PROBLEM_HEADERS, [_problem_row(m, r.start) for m in r.problems])
    else:
        lines.append("  none")
    if r.alerts:
        lines += ["", "Alerts"]
        lines += plain_table(_ALERT_HEADERS, [_alert_row(e, r.start) for e in r.alerts])
    for sec in r.found:
        lines += ["", sec.title]
        if sec.rows:
            lines += plain_table(sec.headers, sec.rows)
        lines += [f"  {note}" for note in sec.notes]
    lines += ["", "Summary: " + summary_line(r)]
    return "\n".join(lines) + "\n"


def render_runs_text(runs: list[dict], store: Path) -> str:
    if not runs:
        return f"no runs in {store}\n"
    rows = [[str(r["id"]), r["started_at"], r["state"], r["verdict"] or "-", str(r["n_fail"]),
             str(r["n_unknown"]), r["procedure"], r["dut"]] for r in runs]
    headers = ("ID", "STARTED (UTC)", "STATE", "VERDICT", "FAIL", "UNKNOWN", "PROCEDURE", "DUT")
    return "\n".join(plain_table(headers, rows, indent="")) + "\n"


# -- rich, for a terminal -----------------------------------------------------------------------

def _cell(s: str, style_key: str = "") -> Text:
    # Text, never markup: names and messages may contain square brackets.
    return Text(s, style=_STYLE.get(style_key, ""))


def _rich_table(title: str | None, headers: Sequence[str], rows: Iterable[list[Text]]) -> Table:
    table = Table(title=title, title_justify="left", show_edge=False, header_style="bold")
    for h in headers:
        table.add_column(h, overflow="fold")
    for row in rows:
        table.add_row(*row)
    return table


def render_rich(r: RunReport, console: Console) -> None:
    head = header_lines(r)
    console.print(Text(head[0], style="bold"))
    for line in head[1:]:
        console.print(Text(line))
    console.print()
    phase_rows = []
    for i, p in enumerate(r.phases, 1):
        cells = [_cell(c) for c in _phase_row(i, p)]
        cells[2].stylize(_STYLE.get(p["state"], ""))
        cells[3].stylize(_STYLE.get(p["verdict"] or "", ""))
        phase_rows.append(cells)
    console.print(_rich_table("Phases", _PHASE_HEADERS, phase_rows))
    console.print()
    n_fail, n_unknown = r.verdicts.get(FAIL, 0), r.verdicts.get(UNKNOWN, 0)
    title = f"Failing and unknown measurements ({n_fail} FAIL, {n_unknown} UNKNOWN)"
    if r.problems:
        rows = [[_cell(c, m["verdict"] if j == 0 else "") for j, c in enumerate(_problem_row(m, r.start))]
                for m in r.problems]
        console.print(_rich_table(title, _PROBLEM_HEADERS, rows))
    else:
        console.print(Text(title + ": none", style="green"))
    if r.alerts:
        console.print()
        rows = [[_cell(c, (RunState.ERROR if e["severity"] != Severity.WARNING else UNKNOWN) if j == 1 else "")
                 for j, c in enumerate(_alert_row(e, r.start))] for e in r.alerts]
        console.print(_rich_table("Alerts", _ALERT_HEADERS, rows))
    for sec in r.found:
        console.print()
        if sec.rows:
            rows = [[_cell(c, RunState.ERROR if i in sec.bad else "") for c in row] for i, row in enumerate(sec.rows)]
            console.print(_rich_table(sec.title, sec.headers, rows))
        else:
            console.print(Text(sec.title, style="bold"))
        for note in sec.notes:
            console.print(Text("  " + note))
    console.print()
    console.print(Text("Summary: " + summary_line(r), style="bold"))


def render_runs_rich(runs: list[dict], store: Path, console: Console) -> None:
    if not runs:
        console.print(Text(f"no runs in {store}"))
        return
    headers = ("ID", "STARTED (UTC)", "STATE", "VERDICT", "FAIL", "UNKNOWN", "PROCEDURE", "DUT")
    rows = [[_cell(str(r["id"])), _cell(r["started_at"]), _cell(r["state"], r["state"]),
             _cell(r["verdict"] or "-", r["verdict"] or ""),
             _cell(str(r["n_fail"]), FAIL if r["n_fail"] else ""),
             _cell(str(r["n_unknown"]), UNKNOWN if r["n_unknown"] else ""), _cell(r["procedure"]),
             _cell(r["dut"])] for r in runs]
    console.print(_rich_table(None, headers, rows))
