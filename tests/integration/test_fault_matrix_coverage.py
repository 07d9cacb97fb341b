"""The fault matrix covers the catalog: every fault, each target kind it takes, each phase it can
land in, accounted for as data (fault_matrix_coverage.py), and the docs' table says the same.
No run here: this is what keeps the matrix from silently dropping a fault, a kind or a phase.

`python tests/integration/test_fault_matrix_coverage.py` prints the table for
docs/sled_procedures.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(Path(__file__).parent)] + ([str(ROOT)] if str(ROOT) not in sys.path else [])
from fault_matrix_cases import CASES, PHASES, Case  # noqa: E402
from fault_matrix_coverage import ALL_CASES, COVERAGE, Coverage  # noqa: E402

from bringup.sim_devices.faults.faults import CATALOG  # noqa: E402

BY_FAULT = {c.fault: c for c in COVERAGE}
HAND = {c.id: c for c in CASES}


def test_every_catalog_fault_has_a_coverage_row():
    assert sorted(BY_FAULT) == sorted(CATALOG), "fault_matrix_coverage.COVERAGE and `bringup sim faults` differ"
    assert len(BY_FAULT) == len(COVERAGE), "a fault has two coverage rows"


@pytest.mark.parametrize("fault", sorted(CATALOG))
def test_each_target_kind_the_catalog_lists_is_aimed_at(fault):
    cov = BY_FAULT[fault]
    assert {a.kind for a in cov.aims} == catalog_kinds(fault)
    aimed = {target_kind(c) for c in ALL_CASES if c.fault_name == fault}
    assert aimed == catalog_kinds(fault), f"{fault}: the matrix aims at {sorted(aimed)}"


@pytest.mark.parametrize("fault", sorted(CATALOG))
def test_each_phase_is_landed_in_or_says_why_not(fault):
    cov = BY_FAULT[fault]
    landed = [land.phase for land in cov.lands]
    assert len(landed) == len(set(landed)), f"{fault}: a phase is landed in twice"
    assert set(landed).isdisjoint(cov.cannot), f"{fault}: landed in a phase it says it cannot land in"
    missing = [p for p in PHASES if p not in landed and p not in cov.cannot]
    assert not missing, f"{fault}: phases neither landed in nor explained: {missing}"
    assert all(why.strip() for why in cov.cannot.values())
    for land in cov.lands:
        if land.caught is None:
            continue
        assert PHASES.index(land.caught) >= PHASES.index(land.phase), f"{fault}: caught before it lands"
        if land.caught != land.phase:
            assert land.later, f"{fault} landing in {land.phase}: caught in {land.caught} without saying why"


@pytest.mark.parametrize("fault", sorted(CATALOG))
def test_landings_run_by_hand_written_cases_match_them(fault):
    for land in BY_FAULT[fault].lands:
        if land.case is None:
            continue
        case = HAND.get(land.case)
        assert case is not None, f"{fault}: no hand-written case {land.case!r}"
        assert case.fault_name == fault
        assert landing_phase(case) == land.phase, f"{land.case} lands in {landing_phase(case)}, not {land.phase}"
        assert case.phase == land.caught, f"{land.case} is caught in {case.phase}, the coverage says {land.caught}"


def test_case_ids_are_unique():
    ids = [c.id for c in ALL_CASES]
    assert len(ids) == len(set(ids))


def test_the_docs_table_is_the_coverage():
    text = (ROOT / "docs" / "sled_procedures.md").read_text()
    assert render_table() in text, ("docs/sled_procedures.md's fault matrix table is not what the matrix "
                                    "proves: paste `python tests/integration/test_fault_matrix_coverage.py`")


# -- what a case aims at and when it lands: for the coverage test and the docs table ------------------
def target_kind(case: Case) -> str:
    from bringup.sim_devices.faults.faults import CATALOG

    name, _, rest = (case.fault or "").split("@")[0].partition(":")
    spec = CATALOG[name]
    given = {**spec.targets, **dict(kv.split("=", 1) for kv in rest.split(",") if "=" in kv)}
    if not spec.targets:
        return "sled"
    if "link" in spec.targets:
        return "pcie lane" if given["link"] == "pcie" else "mesh port/lane"
    for kind in ("rail", "stack", "fan", "sensor"):
        if kind in spec.targets:
            return kind
    return "chip"


def catalog_kinds(name: str) -> set[str]:
    from bringup.sim_devices.faults.faults import CATALOG

    targets = CATALOG[name].targets
    if not targets:
        return {"sled"}
    if "link" in targets:
        return {"pcie lane", "mesh port/lane"}
    return {next((k for k in ("rail", "stack", "fan", "sensor") if k in targets), "chip")}


#: When each phase starts in the healthy run (seed 0), for hand-written cases timed in absolute time.
HEALTHY_STARTS = {"cooling": 0.0, "power_on": 58.0, "clocks_boot": 59.55, "pcie": 60.25, "hbm": 90.25,
                  "mesh": 95.05, "thermal_check": 1055.05, "stress": 1075.05, "soak": 1693.05}


def landing_phase(case: Case) -> str | None:
    from bringup.core.units import parse_quantity

    if case.fault is None:
        return None
    if case.lands:
        return case.lands
    when = case.fault.partition("@")[2]
    if not when:
        return "cooling"
    if when.startswith("{"):
        return when[1:].split("+")[0]
    t = parse_quantity(when).si
    return max((p for p, s in HEALTHY_STARTS.items() if s <= t), key=HEALTHY_STARTS.get)


# -- the docs table ---------------------------------------------------------------------------------
def render_table() -> str:
    """The coverage as the markdown table docs/sled_procedures.md carries (a test keeps them equal)."""
    rows = ["| fault | target kinds: aimed at | lands in → caught in | not run (lands as another row, or "
            "proven elsewhere) | not caught (a gap) | cannot land in |", "|---|---|---|---|---|---|"]
    for cov in COVERAGE:
        aimed = sorted({_target_text(c) for c in ALL_CASES if c.fault_name == cov.fault})
        kinds = ", ".join(sorted({a.kind for a in cov.aims})) + ": " + "; ".join(aimed)
        lands = [land.phase if land.caught == land.phase else f"{land.phase} → {land.caught or 'passes'}"
                 for land in cov.lands]
        rows.append(f"| `{cov.fault}` | {kinds} | {', '.join(lands)} | "
                    + " | ".join(", ".join(p for p in PHASES if _why_not(cov, p) == kind) or "—"
                                 for kind in ("not run", "gap", "cannot")) + " |")
    return "\n".join(rows)


def _why_not(cov: Coverage, phase: str) -> str | None:
    why = cov.cannot.get(phase)
    if why is None:
        return None
    return "not run" if why.startswith("not run") else "gap" if why.startswith("a gap") else "cannot"


def _target_text(case: Case) -> str:
    args = (case.fault or "").split("@")[0].partition(":")[2]
    named = ("chip", "rail", "link", "port", "lane", "stack", "fan", "sensor")
    keep = [kv.split("=", 1)[1] if kv.split("=")[0] in ("rail", "link") else kv.replace("=", " ")
            for kv in args.split(",") if kv.split("=")[0] in named]
    return " ".join(keep).replace("chip ", "chip").replace("sensor rail:", "") or "sled"


if __name__ == "__main__":
    print(render_table())
