"""Every plot of the shipped night agrees with the stored numbers.

The whole-sled procedure runs once on the embedded simulator (a 10 min soak); the data each picture
is drawn from (`Shmoo`, `VminChart`, `SoakChart`) is compared with the store's rows, and the PNGs
are checked for what a person looks at first: how many there are, and that every legend fits.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bringup.commands.plot import plot_command
from bringup.plots import group_by_test, run_shmoos, soak_series, soak_windows
from bringup.plots.telemetry import soak_chart, soak_measurements
from bringup.plots.vmin import search_charts
from bringup.store import StoreReader
from bringup.core.units import parse_quantity

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    store = tmp_path_factory.mktemp("night") / "runs.sqlite"
    proc = subprocess.run([sys.executable, "-m", "bringup.cli", "run", str(ROOT / "procedures" / "sled_bringup.yaml"),
                           "-p", "soak=10min", "--store", str(store)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with StoreReader(store) as reader:
        yield store, reader, reader.latest_run_id()


def _si(text: str) -> float:
    return parse_quantity(text).si


def test_vmin_chart_is_the_search_results_value_for_value(night):
    _, reader, run_id = night
    stored = [m for m in reader.measurements(run_id) if m["name"] == "Vmin"]
    assert len(stored) == 8  # 2 frequencies x 4 chips
    (chart,) = search_charts(reader, run_id)  # one Vmin chart, not one per repeat
    drawn = {(chip, p.frequency): p.vmin for chip, pts in chart.chips.items() for p in pts}
    assert len(drawn) == len(stored)
    floor = {e["t"] for e in reader.events(run_id) if e["kind"] == "search" and e["data"]["failed_at"] is None}
    for m in stored:
        vm = drawn[(m["coords"]["chip"], _si(m["coords"]["frequency"]))]
        assert vm.volts == m["value"]  # exactly the recorded number (0.694 V, not a repeat's 0.688 V)
        assert vm.edge == (m["t"] not in floor)  # "at or below" only where the search found no failure
    assert chart.high == stored[0]["high"] and chart.source == "search"


def test_shmoos_are_the_sweep_alone_one_per_chip_and_cell_for_cell(night):
    _, reader, run_id = night
    groups = group_by_test(run_shmoos(reader, run_id))
    (items,) = groups.values()  # the search's probes are not a shmoo (it drew one per repeat)
    assert sorted(s.chip for s in items) == ["0", "1", "2", "3"]
    sweep = [m for m in reader.measurements(run_id)
             if {"voltage", "frequency", "chip"} == set(m["coords"] or {})]
    for s in items:
        mine = [m for m in sweep if m["coords"]["chip"] == s.chip]
        assert len(s.cells) == len(mine) == 7 * 4  # 0.80..0.65 V x 1.0..1.6 GHz
        for m in mine:
            assert s.cells[(_si(m["coords"]["voltage"]), _si(m["coords"]["frequency"]))] == m["verdict"]


def test_soak_charts_draw_every_stored_sample_once_and_say_what_they_leave_out(night):
    _, reader, run_id = night
    windows = soak_windows(reader, run_id)
    assert [w.phase for w in windows] == ["stress", "soak"]
    for w in windows:
        series, marks = soak_series(reader, run_id, w), soak_measurements(reader, run_id, w)
        chart = soak_chart(w, series, marks)
        traces = {(tr.label, tr.measured): tr for p in chart.panels for tr in p.traces}
        steady = {(label, s.family.endswith("(measured)")): s for s in chart.steady for label in s.labels}
        assert not traces.keys() & steady.keys()
        expected = [(s.channel, False, s.t, s.value) for s in series] + \
                   [(name, True, [m["t"] for m in ms], [m["value"] for m in ms]) for (name, _), ms in marks.items()]
        assert len(traces) + len(steady) == len(expected)
        for label, measured, t, value in expected:
            if (label, measured) in traces:
                tr = traces[(label, measured)]
                assert tr.t == [x - w.start for x in t] and tr.value == value
            else:
                assert set(value) == {steady[(label, measured)].value}
        for panel in chart.panels:  # a legend a person can read: a line per quantity and per chip
            assert len(panel.families()) + len(panel.chips()) <= 14, panel.families()
        flaps = [s for s in chart.steady if s.family.startswith("sled.mesh_flaps")]
        assert [len(s.labels) for s in flaps] == ([16] if w.phase == "soak" else [])  # 16 ports, one entry


def test_png_set_is_one_shmoo_per_chip_one_vmin_and_a_soak_chart_per_soak_whose_legends_fit(night, tmp_path):
    pytest.importorskip("matplotlib")
    from bringup.plots.png import soak_figure

    store, reader, run_id = night
    result = CliRunner().invoke(plot_command, ["latest", "--store", str(store), "--png", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        *(f"shmoo-vmin_shmoo-sled.stress_check-duration-1-chip{c}.png" for c in range(4)),
        "soak-soak.png", "soak-stress.png", "vmin-vmin_shmoo-Vmin.png"]
    for w in soak_windows(reader, run_id):
        fig = soak_figure(soak_chart(w, soak_series(reader, run_id, w), soak_measurements(reader, run_id, w)))
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        page = fig.bbox
        for ax in fig.axes:
            for box in [ax.get_tightbbox(renderer)] + ([ax.get_legend().get_window_extent(renderer)]
                                                        if ax.get_legend() else []):
                assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1 and page.y0 - 1 <= box.y0 and \
                    box.y1 <= page.y1 + 1, (w.phase, box, page)
