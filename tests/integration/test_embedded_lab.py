"""The whole sled bring-up against the embedded simulated lab, over real PyVISA and pyserial,
exactly as `bringup run` does it on a fresh machine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bringup.store import StoreReader

ROOT = Path(__file__).resolve().parents[2]
SLED = ROOT / "procedures" / "sled_bringup.yaml"


def bringup(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, StoreReader | None]:
    store = tmp_path / "runs.sqlite"
    done = subprocess.run([sys.executable, "-m", "bringup.cli", "run", str(SLED), "--store", str(store), *args],
                          capture_output=True, text=True, timeout=300)
    return done, StoreReader(store) if store.exists() else None


def test_healthy_sled_passes_every_phase_and_ends_safe(tmp_path):
    done, r = bringup(tmp_path, "-p", "soak=5min")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert {p["phase_id"]: p["state"] for p in r.phases(1)} == {
        p: "passed" for p in ("cooling", "power_on", "clocks_boot", "pcie", "hbm", "mesh", "thermal_check", "stress", "soak",
                              "vmin_shmoo")}
    instruments = next(e for e in r.events(1) if e["kind"] == "instruments")["data"]
    assert instruments["psu"].startswith("Keysight Technologies,E36312A")  # *IDN? over PyVISA
    # the bench supply measures what the simulated sled really draws
    idle = next(m for m in r.measurements(1) if m["name"] == "idle input current")
    assert 10 < idle["value"] < 100
    safe = [s for s in r.steps(1) if s["path"].startswith("safe_state")]
    assert [s["outcome"] for s in safe] == ["ok", "ok", "ok"]
    truth = next(e for e in r.events(1) if e["kind"] == "ground_truth")
    assert truth["data"]["simulator"]["faults"] == []
    # the thermal gate measured each chip before full power, and Vmin was searched per chip
    assert len([m for m in r.measurements(1) if m["name"] == "psi"]) == 4
    vmin = [m for m in r.measurements(1) if m["name"] == "Vmin"]
    assert len(vmin) == 8 and all(0.5 < m["value"] < 0.72 for m in vmin)


# Where each catalog fault is caught is proved by test_fault_matrix.py.


def test_a_bad_fault_name_is_bad_input(tmp_path):
    done, reader = bringup(tmp_path, "--fault", "gremlins")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "gremlins" in done.stderr
    assert reader is None  # rejected before anything ran or was recorded
