"""The simulated night is pinned: a short run gives, value for value, the committed expectations.

Speed work on the engine, the console or the simulator must not change what a night measures.
This runs `procedures/pcie.yaml` (cooling, the input, every rail, idle currents against the
fused leakage, PLL and boot, every PCIe link's training and margins) against the embedded lab
with a fixed seed and compares every stored measurement — path,
name, value, unit, limits, verdict, time — with `expectations/pcie_seed7.json`. Values agree
to 1e-9 relative (other CPUs' floating-point kernels may differ in the last bits; a change in the
physics or in what is read when moves them by far more).

A change that is meant to change the night regenerates the file, and the diff is reviewed:
`BRINGUP_REGENERATE_EXPECTATIONS=1 python -m pytest tests/integration/test_expected_night.py`.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).parent / "expectations" / "pcie_seed7.json"
COLUMNS = ("path", "name", "value", "unit", "low", "high", "verdict", "t", "coords")


def _night(store: Path) -> list[dict]:
    argv = [sys.executable, "-m", "bringup.cli", "run", str(ROOT / "procedures" / "pcie.yaml"), "--store",
            str(store), "--seed", "7"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    db = sqlite3.connect(store)
    try:
        rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM measurements ORDER BY id").fetchall()
    finally:
        db.close()
    return [dict(zip(COLUMNS, r)) for r in rows]


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def test_a_short_night_measures_exactly_what_it_did(tmp_path):
    got = _night(tmp_path / "runs.sqlite")
    if os.environ.get("BRINGUP_REGENERATE_EXPECTATIONS"):
        EXPECTED.parent.mkdir(exist_ok=True)
        EXPECTED.write_text(json.dumps(got, indent=0) + "\n")
    want = json.loads(EXPECTED.read_text())
    assert len(got) == len(want), f"{len(got)} measurements, expected {len(want)}"
    for g, w in zip(got, want):
        differ = [k for k in COLUMNS if not _same(g[k], w[k])]
        assert not differ, f"{w['path']} {w['name']} at t={w['t']}: {differ} now {[g[k] for k in differ]}, " \
                           f"expected {[w[k] for k in differ]}"
