"""The whole-sled procedure on the shipped air-cooled sled, over the wire, exactly as a user runs it:

    bringup run procedures/sled_bringup.yaml --sled sleds/air.yaml

The embedded lab's coolant unit is the air sled's thermal chamber; the sled console reaches the
simulated BMC over a pseudo-terminal and the bench over PyVISA. The procedure is read, not
copied: its length is shortened with whichever of its parameters set the stress and the soak,
and the fault is timed from the healthy run's own stress phase."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bringup.store import StoreReader
from bringup.check.validate import load_procedure

ROOT = Path(__file__).resolve().parents[2]
SLED_BRINGUP = ROOT / "procedures" / "sled_bringup.yaml"
AIR = ROOT / "sleds" / "air.yaml"
# a short run: the stress (`stress` in one version of the procedure, `stress_time` in another) and the soak
QUICK = {"stress": "2min", "stress_time": "2min", "soak": "2min"}


def bringup(store: Path, procedure: Path, *args: str) -> tuple[subprocess.CompletedProcess, StoreReader]:
    done = subprocess.run([sys.executable, "-m", "bringup.cli", "run", str(procedure), "--sled", str(AIR),
                           "--store", str(store), *args], capture_output=True, text=True, timeout=300)
    assert store.exists(), done.stderr[-2000:]
    return done, StoreReader(store)


@pytest.fixture(scope="module")
def procedure():
    proc, _ = load_procedure(SLED_BRINGUP)
    quick = [arg for name, value in QUICK.items() if name in proc.parameters for arg in ("-p", f"{name}={value}")]
    return proc, quick


@pytest.fixture(scope="module")
def healthy(procedure, tmp_path_factory):
    _, quick = procedure
    return bringup(tmp_path_factory.mktemp("healthy") / "runs.sqlite", SLED_BRINGUP, *quick)


def _safe_state_ran(r) -> None:
    """Every declared safe-state step ran and ended ok (an `all()` over none would pass too)."""
    safe = [s for s in r.steps(1) if s["path"].startswith("safe_state")]
    assert len(safe) == 3 and [s["outcome"] for s in safe] == ["ok"] * 3, safe


def test_a_healthy_air_sled_passes_the_whole_sled_procedure(healthy):
    done, r = healthy
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    phases = {p["phase_id"]: p for p in r.phases(1)}
    assert "stress" in phases and all(p["state"] == "passed" for p in phases.values())
    stress = phases["stress"]
    tj = [s["value"] for s in r.samples(1, "monitor/sled.max_tj")
          if stress["started_t"] <= s["t"] <= stress["ended_t"]]
    assert 55.0 < max(tj) < 80.0                       # full stress on air, far from throttle (90 degC)
    _safe_state_ran(r)


def cooling_interlock(proc, tmp_path: Path) -> tuple[Path, float]:
    """The whole-sled procedure with its interlock on the BMC's cooling health and that
    interlock's interval; a procedure without one gets one, read every second."""
    for monitor in proc.monitors:
        if monitor.read == "sled.cooling_ok":
            return SLED_BRINGUP, monitor.every.const.si
    doc = yaml.safe_load(SLED_BRINGUP.read_text())
    assert "monitors" in doc, "the procedure's interlocks live in an included file that has no cooling_ok"
    doc["monitors"].append({"read": "sled.cooling_ok", "every": "1 s", "limit": {"low": 1}})
    path = tmp_path / "sled_bringup_cooling_interlock.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path, 1.0


def test_a_fan_that_stops_under_stress_trips_the_cooling_interlock_within_one_interval(procedure, healthy,
                                                                                      tmp_path):
    proc, quick = procedure
    path, every = cooling_interlock(proc, tmp_path)
    stress = next(p for p in healthy[1].phases(1) if p["phase_id"] == "stress")
    at = stress["started_t"] + 60.0                    # a minute into the full stress
    done, r = bringup(tmp_path / "runs.sqlite", path, *quick, "--fault", f"fan_failure:fan=1@{at:.3f}s")
    assert done.returncode == 3, done.stdout[-2000:]
    assert "cooling_ok" in r.run(1)["reason"]
    (truth,) = next(e for e in r.events(1) if e["kind"] == "ground_truth")["data"]["simulator"]["faults"]
    assert truth["name"] == "fan_failure" and truth["injected_at"] == pytest.approx(at)
    samples = r.samples(1, "monitor/sled.cooling_ok")
    trip = next(s for s in samples if s["value"] < 1.0)
    assert all(s["value"] == 1.0 for s in samples if s["t"] < at)   # air: the fans ran all along
    assert at <= trip["t"] <= at + every               # the next read after the fan stopped
    tj = [s["value"] for s in r.samples(1, "monitor/sled.max_tj") if s["t"] <= trip["t"]]
    assert tj[-1] < 90.0                               # caught before the heat could show
    _safe_state_ran(r)
