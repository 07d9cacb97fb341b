"""The fault matrix covers the catalog: every fault, each target kind it takes, each phase it can
land in, accounted for as data (fault_matrix_coverage.py), and the docs' table says the same.
No run here: this is what keeps the matrix from silently dropping a fault, a kind or a phase."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from fault_matrix_cases import CASES, PHASES  # noqa: E402
from fault_matrix_coverage import (ALL_CASES, COVERAGE, catalog_kinds, landing_phase, render_table,  # noqa: E402
                                   target_kind)

from sim_devices.faults import CATALOG  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
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
                                    "proves: paste `python tests/integration/fault_matrix_coverage.py`")
