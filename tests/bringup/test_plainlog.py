"""What `bringup run` prints into a CI log: the failures counted truly, the key numbers at the end."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from bringup.outputs import interlock_summary
from bringup.core.clock import SimClock
from bringup.outputs.plainlog import PlainLog
from bringup.store import Store
from test_report_findings import T0, interlock, record_night

ROOT = Path(__file__).resolve().parents[2]
PHASES = {"power_on": "passed", "clocks_boot": "failed"}


def log() -> tuple[PlainLog, io.StringIO]:
    out = io.StringIO()
    return PlainLog(SimClock(), out), out


def measured(plain: PlainLog, verdict: str = "PASS") -> None:
    plain("measurement", {"path": "power_on", "name": "sled.leak", "value": 0.0, "unit": "", "verdict": verdict,
                          "message": "", "gate": True})


def test_a_run_that_failed_on_a_wait_until_counts_that_failure():
    plain, out = log()
    for _ in range(3):
        measured(plain)
    # what the runner reports when a wait_until times out: a step error, no measurement
    plain("step", {"message": "PLL lock [chip=0]: 'sled.pll_locked(chip=chip) >= 1' not true within 0.2 s",
                   "severity": "error"})
    plain("end", {"state": "failed", "verdict": "FAIL", "exit_code": 1, "reason": "phase clocks_boot failed",
                  "phases": PHASES})
    last = out.getvalue().splitlines()[-1]
    assert "measurements: 3 pass, 1 fail (1 of them a step), 0 unknown" in last
    assert "0 fail" not in last


def test_a_step_that_passed_on_its_retry_is_not_a_failure():
    plain, out = log()
    plain("step", {"message": "sled.power_on: timed out", "severity": "error"})
    plain("retry", {"message": "power_on: attempt 1 of 2 did not pass; retrying", "severity": "warning"})
    measured(plain)
    plain("end", {"state": "passed", "verdict": "PASS", "exit_code": 0, "reason": None, "phases": PHASES})
    assert "measurements: 1 pass, 0 fail, 0 unknown" in out.getvalue().splitlines()[-1]


def test_the_log_ends_with_the_key_numbers_read_back_from_the_store(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run = record_night(store, summaries=[[interlock("sled.max_tj", 2.0, 2.05),
                                              interlock("hbm_temperature chip0", 61.0, 5.05)]])
    plain, out = log()
    plain.start = T0
    plain("recorded", {"run_id": run, "store": path})
    lines = [line.split("] ", 1)[1] for line in out.getvalue().splitlines()]
    assert lines[0] == "key numbers (as in `bringup report`):"
    chip0 = next(line for line in lines if line.startswith("  chip0:"))
    assert "Vmin @1 GHz 0.58125 V" in chip0 and "peak Tj 70.093 degC" in chip0 and "HBM 96 GiB" in chip0
    assert "  worst BER bound: 9.2e-13 (chip1 port 1)" in lines
    assert lines[-1] == ("  interlocks: largest gap 61 s (hbm_temperature chip0 at 00:02:03.400, allowed 5.05 s); "
                         "LATE: hbm_temperature chip0")


def test_a_store_without_an_interlock_summary_says_not_recorded(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run = record_night(store)
    plain, out = log()
    plain("recorded", {"run_id": run, "store": path})
    assert out.getvalue().splitlines()[-1].endswith("interlocks: largest gap not recorded")
    assert interlock_summary.KIND == "interlocks"  # the contract with the runner


def test_bringup_run_with_a_pll_that_never_locks_counts_the_failure_and_prints_key_numbers(tmp_path):
    """The real runner against the embedded simulator, its stdout a pipe as in CI."""
    store = tmp_path / "runs.sqlite"
    done = subprocess.run([sys.executable, "-m", "bringup.cli", "run", str(ROOT / "procedures" / "sled_bringup.yaml"),
                           "--fault", "pll_no_lock", "--store", str(store)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    lines = done.stdout.splitlines()
    summary = next(line for line in lines if "run FAILED (exit 1)" in line)
    assert "1 fail (1 of them a step)" in summary
    after = lines[lines.index(summary) + 1:]
    assert "key numbers (as in `bringup report`):" in after[0]
    assert any("chip0: peak Tj" in line for line in after)
    assert after[-1].startswith("results: run 1")
