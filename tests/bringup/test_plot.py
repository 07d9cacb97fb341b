"""`bringup plot`: shmoo grids and Vmin per frequency in the terminal, PNGs with --png."""

from __future__ import annotations

import os
import struct
import subprocess
import sys

import pytest
from click.testing import CliRunner

from bringup.commands.plot import plot_command
from bringup.plots import shmoos, soak_windows
from bringup.plots.text import shmoo_text, vmin_text
from bringup.plots.vmin import shmoo_chart
from bringup.store import Store, StoreReader
from engine_helpers import run
from test_export import store_fingerprint, without_root_override

SHMOO = """
procedure: shmoo
version: 1
requires: {psu: power_supply, dmm: multimeter, cdu: coolant, sled: sled}
parameters: {soak: 3 min}
safe_state:
  - sled.power_off
phases:
  - id: power_on
    steps:
      - do: sled.power_on
      - do: sled.stress_start
        with: {level: 100%}
      - soak: {duration: "{soak}", every: 1 min}
        steps:
          - measure: sled.max_tj
            limit: {high: 95 degC}
  - id: vmin
    after: power_on
    steps:
      - for_each: {chip: [0, 1]}
        steps:
          - sweep: {frequency: [1.0 GHz, 1.2 GHz, 1.4 GHz], voltage: {from: 0.80 V, to: 0.60 V, step: -20 mV}}
            steps:
              # passes while voltage >= 0.5 V + 0.2 V/GHz * f + 20 mV * chip
              - measure: sled.rail_voltage
                name: stress_check
                with: {rail: VDD_CORE, chip: "{chip}"}
                limit: {high: "voltage + 0.25 V - (frequency / 1 GHz) * 0.2 V - chip * 0.02 V"}
                on_fail: continue
"""


def m(v, f, verdict, chip=0, name="check", path="vmin"):
    coords = {"chip": chip, "frequency": f, "voltage": v} if f is not None else {"chip": chip, "voltage": v}
    return {"path": path, "name": name, "coords": coords, "verdict": verdict}


def test_vmin_is_the_bottom_of_the_unbroken_passes_from_the_top():
    ragged = [m("0.80 V", "1 GHz", "PASS"), m("0.78 V", "1 GHz", "PASS"), m("0.76 V", "1 GHz", "FAIL"),
              m("0.74 V", "1 GHz", "PASS"),  # a lucky pass below the edge does not count
              m("0.80 V", "2 GHz", "FAIL"), m("0.78 V", "2 GHz", "PASS"),
              m("0.80 V", "3 GHz", "PASS"), m("0.78 V", "3 GHz", "PASS")]
    (s,) = shmoos(ragged)
    vmin = s.vmin()
    assert (vmin[1e9].volts, vmin[1e9].edge) == (0.78, True)
    assert vmin[2e9].volts is None  # fails at the highest voltage tested
    assert (vmin[3e9].volts, vmin[3e9].edge) == (0.78, False)  # never failed: at or below 0.78 V
    assert s.voltages == [0.80, 0.78, 0.76, 0.74] and s.frequencies == [1e9, 2e9, 3e9]


def test_a_point_passes_only_if_every_reading_there_passed_and_chips_are_separate():
    items = shmoos([m("0.8 V", "1 GHz", "PASS"), m("0.8 V", "1 GHz", "FAIL"), m("0.7 V", "1 GHz", "PASS"),
                    m("0.8 V", "1 GHz", "PASS", chip=1), m("0.7 V", "1 GHz", "UNKNOWN", chip=1)])
    assert [(s.chip, s.cells) for s in items] == [
        ("0", {(0.8, 1e9): "FAIL", (0.7, 1e9): "PASS"}), ("1", {(0.8, 1e9): "PASS", (0.7, 1e9): "UNKNOWN"})]


def test_plain_number_coordinates_are_known_by_their_names():
    rows = [{"path": "p", "name": "c", "verdict": "PASS", "coords": {"vdd_core": v, "freq_hz": 1.2e9, "port": 1}}
            for v in (0.9, 0.8)]
    rows.append({"path": "p", "name": "c", "verdict": "PASS", "coords": {"other": 0.5}})
    (s,) = shmoos(rows)
    assert (s.voltage_key, s.frequency_key, s.condition, s.voltages) == ("vdd_core", "freq_hz", "port=1", [0.9, 0.8])


def test_the_text_grid_reads_like_a_whiteboard_shmoo():
    (s,) = shmoos([m(v, f, "PASS" if float(v[:-2]) >= 0.7 + 0.05 * i else "FAIL")
                   for i, f in enumerate(("1 GHz", "1.5 GHz")) for v in ("0.80 V", "0.75 V", "0.70 V")])
    assert shmoo_text(s) == (
        "Shmoo vmin / check, chip 0\n"
        "  * pass  . fail  ? unknown  (blank) not tested\n"
        "           1 GHz   1.5 GHz\n"
        "0.800 V      *        *\n"
        "0.750 V      *        *\n"
        "0.700 V      *        .\n"
        "   Vmin   <=0.700   0.750\n")
    assert vmin_text(shmoo_chart([s]), ascii_only=True) == (
        "Vmin per frequency: vmin / check (from the shmoo)\n"
        "  bar: 0.700 V .. 0.800 V\n"
        "  1 GHz    chip 0  <= 0.700 V  |                              |  passes at every voltage tested\n"
        "  1.5 GHz  chip 0  0.750 V     |###############               |\n")


def test_a_wide_sweep_is_drawn_compact():
    (s,) = shmoos([m("0.8 V", f"{1 + i / 10:g} GHz", "PASS") for i in range(30)] + [m("0.7 V", "1 GHz", "FAIL")])
    text = shmoo_text(s)
    assert "frequency, left to right: 1 GHz ... 3.9 GHz (30 columns)" in text
    assert max(len(line) for line in text.splitlines()) <= 100
    assert text.splitlines()[-1] == "0.700 V  ."


@pytest.fixture(scope="module")
def shmoo_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("plot")
    outcome = run(tmp, SHMOO)
    return tmp / "runs.sqlite", outcome


def plot(*args):
    return CliRunner().invoke(plot_command, [str(a) for a in args])


def test_plot_draws_each_chip_and_the_vmin_the_procedure_implies(shmoo_run):
    store, _ = shmoo_run
    result = plot("latest", "--store", store, "--ascii")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Shmoo vmin / stress_check, chip 0\n" in out and "Shmoo vmin / stress_check, chip 1\n" in out
    # the limit puts Vmin at 0.5 V + 0.2 V/GHz * f + 20 mV * chip, on the 20 mV grid
    for f, chip, vmin in (("1 GHz", 0, "0.700"), ("1.2 GHz", 0, "0.740"), ("1.4 GHz", 0, "0.780"),
                          ("1 GHz", 1, "0.720"), ("1.2 GHz", 1, "0.760"), ("1.4 GHz", 1, "0.800")):
        assert any(line.split()[:5] == [*f.split(), "chip", str(chip), vmin] for line in out.splitlines()), (f, chip)
    assert "   Vmin    0.700    0.740    0.780" in out


def test_plot_of_a_run_without_a_sweep_says_so_and_an_unknown_run_is_an_error(tmp_path):
    run(tmp_path, SHMOO.split("  - id: vmin")[0])
    result = plot("1", "--store", tmp_path / "runs.sqlite")
    assert result.exit_code == 0 and result.stdout == (
        "run 1 has no measurement over a voltage sweep: no shmoo or Vmin to draw\n")
    missing = plot("9", "--store", tmp_path / "runs.sqlite")
    assert missing.exit_code == 2 and missing.stderr.startswith("error: no run 9 in ")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_png_writes_shmoos_vmin_and_the_soak_telemetry(shmoo_run, tmp_path):
    pytest.importorskip("matplotlib")
    store, _ = shmoo_run
    out = tmp_path / "plots" / "run1"
    result = plot("latest", "--store", store, "--png", out)
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["shmoo-vmin-stress_check-chip0.png", "shmoo-vmin-stress_check-chip1.png",
                     "soak-power_on.png", "vmin-vmin-stress_check.png"]
    for name in names:
        w, h = png_size((out / name).read_bytes())
        assert w >= 300 and h >= 250
        assert f"wrote {out / name}\n" in result.stdout


# matplotlib made unimportable for the whole process, as on a machine without the extra: blocking only
# `sys.modules` in-process would let submodules other tests imported slip through
NO_MATPLOTLIB = """
import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "matplotlib":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, _NotInstalled())
"""


def test_png_without_matplotlib_is_a_one_line_hint_exit_2_and_writes_nothing(shmoo_run, tmp_path):
    store, _ = shmoo_run
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(NO_MATPLOTLIB)
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}

    def bringup(*args):
        return subprocess.run([sys.executable, "-m", "bringup.cli", *map(str, args)], capture_output=True, text=True,
                              env=env, timeout=120)

    probe = subprocess.run([sys.executable, "-c", "import matplotlib"], capture_output=True, text=True, env=env)
    assert probe.returncode == 1 and "No module named 'matplotlib'" in probe.stderr
    result = bringup("plot", "latest", "--store", store, "--png", tmp_path / "plots")
    assert result.returncode == 2
    assert result.stderr == ("error: PNG plots need matplotlib: pip install 'bringup[plot]' "
                             "(the terminal views need nothing extra)\n")
    assert not (tmp_path / "plots").exists()
    terminal = bringup("plot", "latest", "--store", store)  # the terminal views need no matplotlib
    assert terminal.returncode == 0 and "Shmoo vmin / stress_check, chip 0" in terminal.stdout


def test_png_into_a_read_only_folder_is_a_clear_error_and_the_store_is_unchanged(shmoo_run, tmp_path):
    pytest.importorskip("matplotlib")
    store, _ = shmoo_run
    before = store_fingerprint(store)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with without_root_override():
            result = plot("latest", "--store", store, "--png", locked)
    finally:
        locked.chmod(0o755)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: cannot write {locked / 'shmoo-vmin-stress_check-chip0.png'}: "
                                    f"Permission denied; choose a writable -o path")
    assert list(locked.iterdir()) == [] and store_fingerprint(store) == before


def test_a_soak_cut_short_ends_at_its_last_sample(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run_id = store.begin_run(procedure="p", version="1", procedure_path="p.yaml", procedure_sha256="0",
                                 dut="SN", station="sim", parameters={}, meta={}, clock="simulated", t=0.0)
        store.event(run_id, 10.0, "soak", "burnin: soak for 28800 s, sampling every 60 s (481 samples)",
                    data={"duration": 28800.0, "every": 60.0, "samples": 481})
        for i in range(100):
            store.sample(run_id, "sled.max_tj", 10.0 + i * 30.0, 60.0 + i * 0.1, "degC")
    (window,) = soak_windows(StoreReader(path), run_id)
    assert (window.phase, window.start, window.end, window.finished) == ("burnin", 10.0, 10.0 + 99 * 30.0, False)
