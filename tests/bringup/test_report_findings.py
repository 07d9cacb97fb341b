"""`bringup report` says what the night found: the numbers an engineer writes down, the safe
state, the interlocks' gaps and closest approaches, and what the simulator injected.

The store is written here the way the runner writes it (names, coordinates and units as a real
`sled_bringup.yaml` night stores them), so the report is proved on what it will really read.
"""

from __future__ import annotations

from bringup.outputs import interlock_summary
from bringup.outputs.findings import key_number_lines
from bringup.outputs.keynumbers import load as load_numbers
from bringup.outputs.report import load_report, render_text
from bringup.store import Measurement, Store, StoreReader

RUN = dict(procedure="sled-bringup", version="2", procedure_path="procedures/sled_bringup.yaml",
           procedure_sha256="c0ffee" * 10, dut="SN-0042", station="sim-embedded", parameters={},
           meta={}, clock="simulated")
T0 = 100.0  # the run clock at the run's start: every time shown is since then


def interlock(name: str, gap: float, allowed: float, *, late: bool | None = None, closest: dict | None = None,
              failed: int = 0) -> dict:
    d = {"name": name, "read": name, "unit": "degC", "every_s": 2.0, "allowed_gap_s": allowed, "low": None,
         "high": 100.0, "reads": 1234, "failed_reads": failed, "largest_gap_s": gap, "largest_gap_at_t": T0 + 123.4,
         "closest": closest}
    if late is not None:
        d["late"] = late
    return d


def record_night(store: Store, *, summaries: list[list[dict]] | None = None, truth: dict | None = None) -> int:
    run = store.begin_run(**RUN, t=T0)

    def m(*values: object) -> None:  # the columns in their order, as a table of a night reads best
        columns = ("run_id", "path", "name", "value", "unit", "low", "high", "verdict", "t", "coords")
        store.measurement(Measurement(**dict(zip(columns, values))))
    for chip in range(2):
        c = {"chip": str(chip)}
        m(run, "pcie", f"sled.pcie_capable_speed(chip={chip})", 32.0, "GT/s", None, None, "PASS", T0 + 60, c)
        m(run, "pcie", f"sled.pcie_speed(chip={chip})", 32.0 if chip == 0 else 16.0, "GT/s", 16.0, None, "PASS",
          T0 + 60, c)
        m(run, "pcie", f"sled.pcie_capable_width(chip={chip})", 16.0, "", None, None, "PASS", T0 + 60, c)
        m(run, "pcie", f"sled.pcie_width(chip={chip})", 16.0, "", 8.0, None, "PASS", T0 + 60, c)
        for lane, margin in enumerate((48.6, 38.05)):
            m(run, "pcie", f"sled.pcie_margin_timing(chip={chip}, lane={lane})", margin, "%", 30.0, None, "PASS",
              T0 + 61, {**c, "lane": str(lane)})
        m(run, "hbm", f"sled.hbm_capacity(chip={chip})", 96.0, "GiB", 96.0, None, "PASS", T0 + 70, c)
        m(run, "hbm", f"sled.hbm_ecc(chip={chip}, kind=uncorrectable)", 0.0, "", None, 0.0, "PASS", T0 + 70, c)
        for port in range(2):
            m(run, "mesh", "PRBS31 BER bound (worst lane)", 4.71e-13 if (chip, port) != (1, 1) else 9.2e-13, "",
              None, 1e-12, "PASS", T0 + 100, {**c, "port": str(port)})
        m(run, "thermal_check", "psi", 0.0446840531822342, "K/W", 0.005, 0.08, "PASS", T0 + 1000, c)
        m(run, "thermal_check", "loop gain extrapolated to full power", 0.0934, "", None, 0.35, "PASS", T0 + 1000, c)
        m(run, "stress", "peak power (virus)", 760.85 - chip, "W", None, 900.0, "PASS", T0 + 1100, c)
        for f, v in (("1 GHz", 0.58125), ("1.4 GHz", 0.69375 - 0.0125 * chip)):
            m(run, "vmin_shmoo", "Vmin", v, "V", None, 0.72, "PASS", T0 + 2400, {"frequency": f, "chip": str(chip)})
        store.sample(run, f"sled.chip{chip}.tj", T0 + 1085.05, 70.093 - chip, "degC")
        store.sample(run, f"sled.chip{chip}.tj", T0 + 1095.05, 65.0, "degC")
    store.event(run, T0 + 2968.85, "safe_state", "safe state: end of run", durable=True)
    store.step(run, "safe_state/1/sled.stress_stop(chip=-1)", "do", T0 + 2968.85, T0 + 2968.85, "ok")
    store.step(run, "safe_state/2/sled.power_off(chip=-1)", "do", T0 + 2968.85, T0 + 2968.9, "error",
               message="sled: no reply")
    for i, summary in enumerate(summaries or []):
        store.event(run, T0 + 10.0 * (i + 1), interlock_summary.KIND, "interlock summary",
                    data={"interlocks": summary})
    store.end_run(run, state="passed", verdict="PASS", exit_code=0, t=T0 + 2968.9)
    if truth is not None:
        store.event(run, T0 + 2968.9, "ground_truth", "what the simulator injected", data=truth, durable=True)
    store.flush()
    return run


def report(tmp_path, **kw) -> str:
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run = record_night(store, **kw)
    return render_text(load_report(StoreReader(path), run))


def section(text: str, title: str) -> list[str]:
    lines = text.splitlines()
    start = lines.index(title)
    end = next((i for i in range(start + 1, len(lines)) if not lines[i].startswith("  ")), len(lines))
    return lines[start + 1:end]


def row(lines: list[str], first: str) -> str:
    return next(line for line in lines if line.split()[:1] == [first])


def test_the_key_numbers_per_chip_are_the_stored_ones(tmp_path):
    chips = section(report(tmp_path), "Key numbers per chip")
    head = chips[0]
    for column in ("VMIN @1 GHZ", "VMIN @1.4 GHZ", "PSI", "LOOP GAIN", "PEAK TJ", "PEAK POWER",
                   "PCIE (OF CAPABLE)", "PCIE MARGIN T/V", "HBM", "HBM ECC"):
        assert column in head
    chip0, chip1 = row(chips, "chip0"), row(chips, "chip1")
    # Vmin to the search's own step (6.25 mV): 0.69375 V, not a rounded 0.694
    assert "0.58125 V" in chip0 and "0.69375 V" in chip0 and "0.68125 V" in chip1
    assert "0.044684 K/W" in chip0 and "0.0934" in chip0
    # the peak is the telemetry's (the hottest sample), not the soak's last reading
    assert "70.093 degC" in chip0 and "69.093 degC" in chip1
    assert "760.85 W" in chip0
    assert "32 GT/s x16 of 32 GT/s x16" in chip0 and "BELOW CAPABLE" not in chip0
    assert "16 GT/s x16 of 32 GT/s x16 (BELOW CAPABLE)" in chip1  # a link that trained down shows
    assert "38.05 %" in chip0  # the worst lane's margin
    assert "96 GiB" in chip0
    assert "  hottest: chip0 70.093 degC at 00:18:05.050" in chips  # run time, as the log writes it


def test_the_worst_ber_bound_and_margins_per_port(tmp_path):
    ports = section(report(tmp_path), "Key numbers per port")
    assert [line.split()[:3] for line in ports[1:5]] == [["chip0", "0", "4.71e-13"], ["chip0", "1", "4.71e-13"],
                                                         ["chip1", "0", "4.71e-13"], ["chip1", "1", "9.2e-13"]]
    assert "  worst BER bound: 9.2e-13 (chip1 port 1)" in ports


def test_the_safe_state_lists_each_step_and_its_result(tmp_path):
    safe = section(report(tmp_path), "Safe state")
    assert row(safe, "1").split()[1:4] == ["sled.stress_stop(chip=-1)", "ok", "00:49:28.850"]
    assert row(safe, "2").split()[1:3] == ["sled.power_off(chip=-1)", "error"] and "sled: no reply" in row(safe, "2")
    assert "  why: end of run" in safe


def test_interlocks_without_a_recorded_summary_say_not_recorded(tmp_path):
    lines = section(report(tmp_path), "Interlocks")
    assert lines == ["  largest gap and closest approach: not recorded (this run's runner did not record "
                     "an interlock summary)"]


def test_interlocks_show_largest_gap_closest_approach_and_a_late_one_as_late(tmp_path):
    early = [interlock("sled.max_tj", 2.0, 2.05)]
    final = [interlock("sled.max_tj", 2.0, 2.05, late=False,
                       closest={"value": 88.1, "limit": 100.0, "side": "high", "margin": 11.9, "t": T0 + 4567.0}),
             interlock("hbm_temperature chip0", 61.0, 5.05, closest=None, failed=2)]  # no `late`: judged here
    lines = section(report(tmp_path, summaries=[early, final]), "Interlocks")  # the latest supersedes
    tj = row(lines, "sled.max_tj")
    assert "2 s at 00:02:03" in tj and "2.05 s" in tj and "on time" in tj
    assert "88.1 degC (limit ≤100, margin 11.9) at 01:16:07" in tj
    hbm = next(line for line in lines if "hbm_temperature chip0" in line)
    assert "61 s at 00:02:03" in hbm and "LATE" in hbm and "1234 (2 failed)" in hbm and "never read" in hbm
    assert "  1 interlock went unread longer than allowed" in lines


def test_a_simulated_run_shows_what_was_injected_and_when_it_was_first_seen(tmp_path):
    truth = {"simulator": {"seed": 7, "faults": [
        {"id": 1, "name": "pump_failure", "target": {}, "params": {"flow_fraction": 0.0}, "trigger": 300.0,
         "state": "active", "injected_at": T0 + 300.0}],
        "final": {"tj_peak_c": 50.546, "tj_peak_t": T0 + 335.05, "trips_total": 0, "rails_all_off": True}}}
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run = record_night(store, truth=truth)
        store.measurement(Measurement(run_id=run, path="monitors/sled.coolant_flow", name="sled.coolant_flow",
                                      value=0.0, unit="L/min", low=1.0, high=None, verdict="FAIL", t=T0 + 335.05,
                                      message="interlock sled.coolant_flow = 0 L/min outside >= 1 L/min"))
    lines = section(render_text(load_report(StoreReader(path), run)), "Injected (simulator ground truth)")
    pump = row(lines, "pump_failure")
    assert "flow_fraction=0.0" in pump and "00:05:00.000" in pump and "00:05:35.050 (+35.05 s)" in pump
    assert "  seed 7; 1 fault(s) injected" in lines
    assert any("simulator's peak Tj 50.546 degC at 00:05:35.050" in line for line in lines)


def test_a_bench_run_without_these_measurements_has_no_key_number_section(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run = store.begin_run(**RUN, t=0.0)
        store.measurement(Measurement(run_id=run, path="power_on", name="standby current", value=1.5, unit="A",
                                      low=None, high=2.0, verdict="PASS", t=1.0))
        store.end_run(run, state="passed", verdict="PASS", exit_code=0, t=2.0)
    text = render_text(load_report(StoreReader(path), run))
    assert "Key numbers" not in text and "Injected" not in text
    assert "Safe state" in text and "no safe-state steps recorded" in text


def test_the_ci_log_lines_carry_the_same_numbers(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run = record_night(store)
    lines = key_number_lines(load_numbers(StoreReader(path), run), T0)
    chip0 = next(line for line in lines if line.startswith("chip0:"))
    assert "Vmin @1.4 GHz 0.69375 V" in chip0 and "peak Tj 70.093 degC" in chip0 and "psi 0.044684 K/W" in chip0
    assert "chip1 port 1: BER bound 9.2e-13; margin t/v (worst lane) -" not in lines  # nothing invented
    assert any(line.startswith("chip1 port 1: BER bound 9.2e-13") for line in lines)


def test_the_terminal_report_shows_the_same_findings(tmp_path):
    import io

    from rich.console import Console

    from bringup.outputs.report import render_rich

    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run = record_night(store, summaries=[[interlock("hbm_temperature chip0", 61.0, 5.05)]])
    buffer = io.StringIO()
    render_rich(load_report(StoreReader(path), run), Console(file=buffer, force_terminal=True, width=250,
                                                             color_system=None))
    out = buffer.getvalue()
    for fact in ("Key numbers per chip", "0.69375 V", "16 GT/s x16 of 32 GT/s x16 (BELOW CAPABLE)", "9.2e-13",
                 "Safe state", "sled: no reply", "why: end of run", "hbm_temperature chip0", "LATE"):
        assert fact in out, fact
