"""Crash-safe results: an embedded SQLite store (WAL) written by the runner, read by the views.

`Store` is the runner's one writer; `StoreReader` is for everything else (report, export,
dashboard, watch), any number at once, from any process, while a run is being written.
See docs/results.md for the schema and the guarantees.
"""

from __future__ import annotations

import os
import pathlib

from bringup.store.errors import NotAStore, SchemaTooNew, StoreError, StoreMissing, UnknownRun
from bringup.store.reader import StoreReader
from bringup.store.records import Measurement, retried
from bringup.store.schema import LATEST as SCHEMA_VERSION
from bringup.store.states import FAIL, PASS, PHASE_STATES, RUN_END_STATES, RUN_INTERRUPTED, STEP_OUTCOMES, UNKNOWN, VERDICTS, PhaseState, RunState, Severity, StepOutcome, Verdict
from bringup.store.writer import Store

__all__ = [
    "Store", "StoreReader", "Measurement", "retried", "default_path", "SCHEMA_VERSION",
    "PASS", "FAIL", "UNKNOWN", "VERDICTS", "PHASE_STATES", "RUN_END_STATES", "RUN_INTERRUPTED",
    "STEP_OUTCOMES", "Verdict", "RunState", "PhaseState", "StepOutcome", "Severity",
    "StoreError", "StoreMissing", "NotAStore", "SchemaTooNew", "UnknownRun",
]


def default_path() -> pathlib.Path:
    """$BRINGUP_STORE if set, else ./bringup-results/runs.sqlite (relative to the current folder)."""
    env = os.environ.get("BRINGUP_STORE")
    if env:
        return pathlib.Path(env).expanduser()
    return pathlib.Path("bringup-results") / "runs.sqlite"
