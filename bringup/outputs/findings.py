"""What the night found, as titled tables of text: the key numbers per chip and per port, the
safe state step by step, what the interlocks saw, and (simulated runs) what was injected.

Built from stored rows only; `bringup report` draws them as plain text or rich tables and the
plain CI log prints the key numbers at its end, so both show the same figures in the same words.
Times are the run clock since the run's start (`bringup.core.timefmt.run_time`), as in the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bringup.outputs.interlock_summary import InterlockRecord
from bringup.outputs.keynumbers import KeyNumbers, Number
from bringup.core.states import Severity, StepOutcome
from bringup.core.timefmt import run_time


@dataclass(frozen=True)
class Section:
    title: str
    labels: tuple[str, ...] = ()  # column names as a sentence says them; headers are their capitals
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # lines under the table (or instead of it)
    bad: frozenset[int] = frozenset()  # rows a person must look at (drawn red at a terminal)

    @property
    def headers(self) -> tuple[str, ...]:
        return tuple(label.upper() for label in self.labels)


def q(n: Number | None, digits: int = 5) -> str:
    """A stored number with its stored unit, five significant digits (a Vmin step is 6.25 mV):
    `0.69375 V`, `4.7103e-13`."""
    if n is None:
        return "-"
    return f"{n.value:.{digits}g}" + (f" {n.unit}" if n.unit else "")


# -- key numbers ----------------------------------------------------------------------------------

def key_number_sections(kn: KeyNumbers, start: float | None) -> list[Section]:
    if not kn:
        return []
    out = [_per_chip(kn, start)]
    if kn.ports():
        out.append(_per_port(kn))
    return out


def _pcie(kn: KeyNumbers, chip: str) -> tuple[str, bool]:
    speed, width = kn.get("pcie_speed", chip), kn.get("pcie_width", chip)
    cap_s, cap_w = kn.get("pcie_capable_speed", chip), kn.get("pcie_capable_width", chip)
    if speed is None and width is None:
        return "-", False
    got = f"{q(speed)} x{width.value:g}" if width is not None else q(speed)
    cap = f"{q(cap_s)} x{cap_w.value:g}" if cap_w is not None else q(cap_s)
    low = ((speed is not None and cap_s is not None and speed.value < cap_s.value)
           or (width is not None and cap_w is not None and width.value < cap_w.value))
    return f"{got} of {cap}" + (" (BELOW CAPABLE)" if low else ""), low


def _margins(kn: KeyNumbers, timing: str, voltage: str, *coords: str) -> str:
    t, v = kn.get(timing, *coords), kn.get(voltage, *coords)
    if t is None and v is None:
        return "-"
    return f"{q(t, 4)} / {q(v, 4)}"


def _per_chip(kn: KeyNumbers, start: float | None) -> Section:
    freqs = kn.along("vmin", 1)
    columns: list[tuple[str, Any]] = [(f"Vmin @{f}", lambda c, f=f: q(kn.get("vmin", c, f))) for f in freqs]
    columns += [("psi", lambda c: q(kn.get("psi", c))),
                ("loop gain", lambda c: q(kn.get("loop_gain", c), 3)),
                ("peak Tj", lambda c: q(kn.get("peak_tj", c))),
                ("peak power", lambda c: q(kn.get("peak_power", c))),
                ("PCIe (of capable)", lambda c: _pcie(kn, c)[0]),
                ("PCIe margin t/v", lambda c: _margins(kn, "pcie_margin_timing", "pcie_margin_voltage", c)),
                ("HBM", lambda c: q(kn.get("hbm_capacity", c))),
                ("HBM ECC", lambda c: q(kn.get("hbm_ecc", c)))]
    chips = kn.chips()
    table = [[fn(c) for _, fn in columns] for c in chips]
    keep = [i for i in range(len(columns)) if any(row[i] != "-" for row in table)]  # nothing measured: no column
    rows = [[f"chip{c}"] + [row[i] for i in keep] for c, row in zip(chips, table)]
    bad = frozenset(i for i, c in enumerate(chips) if _pcie(kn, c)[1])
    notes = []
    hot = kn.worst("peak_tj")
    if hot is not None:
        at = f" at {run_time(hot[1].t, start)}" if hot[1].t is not None else ""
        notes.append(f"hottest: chip{hot[0][0]} {q(hot[1])}{at}")
    return Section("Key numbers per chip", ("chip",) + tuple(columns[i][0] for i in keep), rows, notes, bad)


def _per_port(kn: KeyNumbers) -> Section:
    rows = [[f"chip{c}", p, q(kn.get("ber", c, p), 3),
             _margins(kn, "mesh_margin_timing", "mesh_margin_voltage", c, p)] for c, p in kn.ports()]
    notes = []
    worst = kn.worst("ber")
    if worst is not None:
        notes.append(f"worst BER bound: {q(worst[1], 3)} (chip{worst[0][0]} port {worst[0][1]})")
    tight = kn.worst("mesh_margin_timing")
    if tight is not None:
        notes.append(f"smallest timing margin: {q(tight[1], 3)} (chip{tight[0][0]} port {tight[0][1]})")
    return Section("Key numbers per port", ("chip", "port", "BER bound", "margin t/v (worst lane)"), rows, notes)


def key_number_lines(kn: KeyNumbers, start: float | None) -> list[str]:
    """The key numbers as `label: value` lines, one per chip and port: for a CI log."""
    lines = []
    for sec in key_number_sections(kn, start):
        per_port = sec.labels[:2] == ("chip", "port")
        for row in sec.rows:
            head = f"{row[0]} port {row[1]}" if per_port else row[0]
            cells = [f"{label} {v}" for label, v in zip(sec.labels[2 if per_port else 1:], row[2 if per_port else 1:])
                     if v != "-"]
            lines.append(f"{head}: " + "; ".join(cells))
        lines += sec.notes
    return lines


# -- safe state -----------------------------------------------------------------------------------

def safe_state_section(steps: list[dict], events: list[dict], run: dict) -> Section:
    # why it ran is the run's reason (an abort, a failed gate), or the normal end of a run
    ran = any(e["kind"] == "safe_state" for e in events)
    why = (run.get("reason") or "end of run") if ran else None
    start = run.get("started_t")
    rows, bad = [], set()
    for s in steps:
        if not s["path"].startswith("safe_state/"):
            continue
        _, index, label = (s["path"].split("/", 2) + ["", ""])[:3]
        if s["outcome"] != StepOutcome.OK:
            bad.add(len(rows))
        rows.append([index, label, s["outcome"], run_time(s["started_t"], start), s["message"] or ""])
    notes = [f"why: {why}"] if why else []
    if not rows:
        notes.append("no safe-state steps recorded" + ("" if why else " (the run never reached its safe state)"))
    return Section("Safe state", ("#", "step", "result", "at", "message"), rows, notes, frozenset(bad))


# -- interlocks -----------------------------------------------------------------------------------

def _closest(r: InterlockRecord, start: float | None) -> str:
    c = r.closest
    if c is None:
        return "never read"
    unit = f" {r.unit}" if r.unit else ""
    rel = "≤" if c.side == "high" else "≥"
    at = f" at {run_time(c.t, start, 0)}" if c.t is not None else ""
    return f"{c.value:.4g}{unit} (limit {rel}{c.limit:.4g}, margin {c.margin:.3g}){at}"


def interlock_section(records: list[InterlockRecord] | None, start: float | None) -> Section:
    title = "Interlocks"
    if records is None:
        return Section(title, notes=["largest gap and closest approach: not recorded (this run's runner "
                                     "did not record an interlock summary)"])
    rows, bad = [], set()
    for i, r in enumerate(records):
        gap = "-" if r.largest_gap_s is None else f"{r.largest_gap_s:.4g} s"
        if r.largest_gap_at_t is not None:
            gap += f" at {run_time(r.largest_gap_at_t, start, 0)}"
        allowed = "-" if r.allowed_gap_s is None else f"{r.allowed_gap_s:.4g} s"
        every = "-" if r.every_s is None else f"{r.every_s:g} s"
        reads = f"{r.reads}" + (f" ({r.failed_reads} failed)" if r.failed_reads else "")
        if r.late or r.failed_reads:
            bad.add(i)
        rows.append([r.name, every, reads, gap, allowed, "LATE" if r.late else "on time", _closest(r, start)])
    late = sum(r.late for r in records)
    notes = [f"{late} interlock{'s' if late != 1 else ''} went unread longer than allowed" if late
             else "every interlock was read within its interval plus one poll"] if records else ["no interlocks"]
    return Section(title, ("name", "every", "reads", "largest gap", "allowed", "", "closest to limit"),
                   rows, notes, frozenset(bad))


# -- ground truth (simulated runs) ----------------------------------------------------------------

def ground_truth_section(truth: dict | None, problems: list[dict], events: list[dict],
                         start: float | None) -> Section | None:
    """What the simulator injected and when, against when the run first saw trouble."""
    sim = (truth or {}).get("simulator") if isinstance(truth, dict) else None
    if not isinstance(sim, dict):
        return None
    faults = [f for f in sim.get("faults") or [] if isinstance(f, dict)]
    signs = sorted([m["t"] for m in problems] + [e["t"] for e in events
                                                 if e["severity"] in (Severity.ERROR, Severity.CRITICAL) and e["kind"] != "run"])
    rows = []
    for f in faults:
        target = ", ".join(f"{k}={v}" for k, v in (f.get("target") or {}).items()) or "sled"
        params = ", ".join(f"{k}={v}" for k, v in (f.get("params") or {}).items())
        at = f.get("injected_at")
        if at is None:
            rows.append([str(f.get("name")), target, params, "never (not reached)", "-"])
            continue
        first = next((t for t in signs if t >= at), None)
        seen = "not seen" if first is None else f"{run_time(first, start)} (+{first - at:.4g} s)"
        rows.append([str(f.get("name")), target, params, run_time(at, start), seen])
    final = sim.get("final") or {}
    notes = [f"seed {sim.get('seed')}; " + (f"{len(faults)} fault(s) injected" if faults else "no faults injected")]
    if final.get("tj_peak_c") is not None:
        at = f" at {run_time(final['tj_peak_t'], start)}" if final.get("tj_peak_t") is not None else ""
        notes.append(f"simulator's peak Tj {final['tj_peak_c']:.5g} degC{at}; thermal trips: "
                     f"{final.get('trips_total', 0) or 'none'}; rails all off at the end: "
                     f"{'yes' if final.get('rails_all_off') else 'NO'}")
    return Section("Injected (simulator ground truth)", ("fault", "target", "parameters", "injected at", "first seen"),
                   rows, notes)
