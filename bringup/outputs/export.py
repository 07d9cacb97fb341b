"""A run, exported for other tools.

JSON: the run, its phases, steps, measurements and events (and the list of telemetry channels;
samples stay in the store), strict JSON: non-finite numbers become the strings "inf", "-inf",
"nan". CSV: one row per measurement, coordinates both as one exact JSON column and as one
`coords.<name>` column per coordinate for spreadsheets and pivot tables. JUnit XML for CI
(`junit.py`) and STDF V4 for yield tools (`stdf/`), which are bytes.

Exports only read the store. A file is written beside its destination and renamed into place,
so a failed export leaves neither a half-written file nor any change to the store.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from bringup.outputs.junit import junit_xml
from bringup.outputs.output_file import ExportError, write_file  # noqa: F401  (the export commands write with it)
from bringup.outputs.stdf import stdf_bytes
from bringup.store import SCHEMA_VERSION, StoreReader, UnknownRun

FORMATS = ("json", "csv", "junit", "stdf")
BINARY_FORMATS = frozenset({"stdf"})

CSV_COLUMNS = ("run_id", "id", "path", "name", "value", "unit", "low", "high", "verdict", "t",
               "instrument", "dut", "message", "coords")


def run_document(reader: StoreReader, run_id: int) -> dict:
    """Everything `export --format json` writes, read from one consistent moment of the store."""
    with reader.snapshot():
        run = reader.run(run_id)
        if run is None:
            raise UnknownRun(f"no run {run_id} in {reader.path}; `bringup runs --store {reader.path}` "
                             f"lists the runs it has")
        return {"format": "bringup-results", "schema_version": SCHEMA_VERSION, "run": run,
                "phases": reader.phases(run_id), "steps": reader.steps(run_id),
                "measurements": reader.measurements(run_id), "events": reader.events(run_id),
                "channels": reader.channels(run_id)}


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return "nan" if math.isnan(obj) else ("inf" if obj > 0 else "-inf")
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def json_text(reader: StoreReader, run_id: int) -> str:
    return json.dumps(_finite(run_document(reader, run_id)), indent=2, ensure_ascii=False,
                      allow_nan=False) + "\n"


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return v


def csv_text(reader: StoreReader, run_id: int) -> str:
    """One row per measurement, in the order taken."""
    with reader.snapshot():
        run = reader.run(run_id)
        if run is None:
            raise UnknownRun(f"no run {run_id} in {reader.path}; `bringup runs --store {reader.path}` "
                             f"lists the runs it has")
        measurements = reader.measurements(run_id)
    keys: dict[str, None] = {}
    for m in measurements:
        for k in m["coords"] or {}:
            keys.setdefault(k, None)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, *(f"coords.{k}" for k in keys)])
    for m in measurements:
        coords = m["coords"] or {}
        row = {**m, "run_id": run_id, "dut": m["dut"] or run["dut"],
               "coords": json.dumps(coords, ensure_ascii=False) if coords else ""}
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS] +
                        [_cell(coords.get(k)) for k in keys])
    return out.getvalue()


def export_text(reader: StoreReader, run_id: int, fmt: str) -> str | bytes:
    """The export in format `fmt`: text, or bytes for the formats in BINARY_FORMATS."""
    if fmt == "json":
        return json_text(reader, run_id)
    if fmt == "csv":
        return csv_text(reader, run_id)
    if fmt == "junit":
        return junit_xml(reader, run_id)
    if fmt == "stdf":
        return stdf_bytes(reader, run_id)
    raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
