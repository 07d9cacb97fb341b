"""The shipped Vmin and shmoo run, end to end: what it stores is physically possible, the shmoo and
the Vmin search agree with each other, `bringup plot` draws exactly those numbers, and every
recovery after a failing point is in the record.

`procedures/vmin_shmoo.yaml` runs once on the embedded simulator (seed 0, a few seconds). The
per-seed, per-sled properties (monotone up to the test noise, agreement within one step) are in
tests/sim_devices/test_shmoo_physics.py; this is the same promise kept by a whole run.
"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from bringup.plots import group_by_test, run_shmoos
from bringup.plots.vmin import search_charts
from bringup.sim_devices.world.config import CharacterizationConfig
from bringup.store import StoreReader
from bringup.core.units import parse_quantity

ROOT = Path(__file__).resolve().parents[2]
SHMOO_STEP = 0.025                                         # the procedure's voltage step
BAND = 2 * 5 * CharacterizationConfig().test_noise_v       # the search's and the shmoo's check noise


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    store = tmp_path_factory.mktemp("shmoo") / "runs.sqlite"
    proc = subprocess.run([sys.executable, "-m", "bringup.cli", "run", str(ROOT / "procedures" / "vmin_shmoo.yaml"),
                           "--store", str(store)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with StoreReader(store) as reader:
        yield reader, reader.latest_run_id()


def _si(text: str) -> float:
    return parse_quantity(text).si


def _sweep(reader: StoreReader, run_id: int) -> list[dict]:
    return [m for m in reader.measurements(run_id) if set(m["coords"] or {}) == {"voltage", "frequency", "chip"}]


def test_every_chips_stored_shmoo_is_monotone_in_voltage_and_frequency(run):
    reader, run_id = run
    cells: dict[str, dict[tuple[float, float], str]] = defaultdict(dict)
    for m in _sweep(reader, run_id):
        cells[str(m["coords"]["chip"])][(_si(m["coords"]["voltage"]), _si(m["coords"]["frequency"]))] = m["verdict"]
    assert sorted(cells) == ["0", "1", "2", "3"]
    for chip, grid in cells.items():
        for (v, f), verdict in grid.items():
            if verdict == "PASS":
                continue
            easier = [p for p, other in grid.items() if other == "PASS" and p[0] <= v and p[1] >= f]
            assert not easier, f"chip {chip} fails at {v:.3f} V, {f / 1e9:g} GHz but passes at {easier}"


def test_the_drawn_shmoo_and_vmin_are_the_stored_numbers_and_agree_within_one_step(run):
    reader, run_id = run
    (items,) = group_by_test(run_shmoos(reader, run_id)).values()
    sweep = _sweep(reader, run_id)
    (chart,) = search_charts(reader, run_id)
    searched = {(str(m["coords"]["chip"]), _si(m["coords"]["frequency"])): m["value"]
                for m in reader.measurements(run_id) if m["name"] == "Vmin"}
    drawn = {(str(chip), p.frequency): p.vmin.volts for chip, pts in chart.chips.items() for p in pts}
    assert drawn == searched and len(searched) == 8           # the Vmin chart: the search's numbers
    for s in items:
        mine = [m for m in sweep if str(m["coords"]["chip"]) == s.chip]
        assert {(_si(m["coords"]["voltage"]), _si(m["coords"]["frequency"])): m["verdict"] for m in mine} == s.cells
        for f, edge in s.vmin().items():                       # the shmoo's Vmin row, as drawn
            if (s.chip, f) not in searched:
                continue
            vmin = searched[(s.chip, f)]
            assert edge.volts is not None, f"chip {s.chip} fails at {f / 1e9:g} GHz at every voltage"
            # the edge lies between the last pass and the first fail, a shmoo step apart
            assert vmin <= edge.volts + BAND, (s.chip, f, vmin, edge)
            if edge.edge:
                assert vmin > edge.volts - SHMOO_STEP - BAND, (s.chip, f, vmin, edge)


def test_every_failing_shmoo_point_is_followed_by_a_recorded_recovery(run):
    reader, run_id = run
    failing: dict[tuple[str, str], float] = {}
    starts: dict[tuple[str, str], float] = {}
    for m in _sweep(reader, run_id):
        point = (m["coords"]["voltage"], m["coords"]["frequency"])
        starts[point] = min(starts.get(point, m["t"]), m["t"])
        if m["verdict"] != "PASS":
            failing[point] = max(failing.get(point, m["t"]), m["t"])
    events = reader.events(run_id, kind="recover")
    recovered = {(e["data"]["coords"]["voltage"], e["data"]["coords"]["frequency"]): e["t"] for e in events}
    assert failing and recovered.keys() == failing.keys() and len(events) == len(failing)
    ordered = sorted(starts, key=starts.get)
    for point, t in recovered.items():
        later = ordered[ordered.index(point) + 1:]
        assert t >= failing[point] and all(starts[p] >= t for p in later)   # after it, before the next
    resets = [s for s in reader.steps(run_id) if s["path"].endswith("reset after a failing shmoo point")]
    assert len(resets) == len(failing) and all(s["outcome"] == "ok" for s in resets)
    searches = [s for s in reader.steps(run_id) if s["path"].endswith("reset after the Vmin search")]
    assert len(searches) == 8
