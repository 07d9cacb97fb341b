"""Running procedures in-process against the fake bench, for the engine's own tests."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bringup.run import session
from bringup.run.runner import RunResult
from bringup.check.station import load_station
from bringup.store import StoreReader

FAKE_STATION = """
station: test-bench
clock: simulated
roles:
  psu:
    driver: fake.power_supply
    guardrails:
      - {channel: 1, voltage: {max: 13 V}, current_limit: {max: 45 A}}
  dmm: {driver: fake.multimeter}
  cdu: {driver: fake.coolant}
  sled: {driver: fake.sled}
"""


@dataclass
class Outcome:
    result: RunResult
    reader: StoreReader
    drivers: dict[str, Any]
    events: list[tuple[str, dict]]

    @property
    def run_id(self) -> int:
        return self.result.run_id

    def measurements(self, verdicts: set[str] | None = None) -> list[dict]:
        return self.reader.measurements(self.run_id, verdicts)

    def phase_states(self) -> dict[str, str]:
        return {p["phase_id"]: p["state"] for p in self.reader.phases(self.run_id)}

    def calls(self, role: str) -> list[str]:
        return [name for _, name, _ in self.drivers[role].log]


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def station_with(tmp_path: Path, options: dict[str, dict] | None = None, text: str = FAKE_STATION) -> Path:
    """The fake bench, with driver options (e.g. {"sled": {"nan": ["max_tj"]}}) set per role."""
    import yaml

    data = yaml.safe_load(textwrap.dedent(text))
    for role, opts in (options or {}).items():
        data["roles"][role].setdefault("options", {}).update(opts)
    p = tmp_path / "station.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def run(tmp_path: Path, procedure: str, *, options: dict[str, dict] | None = None,
        params: dict[str, str] | None = None, speed: float | None = None, station: str = FAKE_STATION) -> Outcome:
    proc = write(tmp_path, "procedure.yaml", procedure)
    st = load_station(station_with(tmp_path, options, text=station))
    prepared = session.prepare(proc, st, params or {}, speed)
    events: list[tuple[str, dict]] = []
    store_path = tmp_path / "runs.sqlite"
    with session.open_store(store_path, prepared) as db:
        result = session.run(prepared, db, dut="SN-TEST", reporter=lambda k, d: events.append((k, d)))
    return Outcome(result, StoreReader(store_path), prepared.drivers, events)


def publish_driver(site: Path, name: str, target: str, dist: str = "test-drivers") -> None:
    """Install metadata for a distribution publishing `name = target` in the bringup.drivers
    entry-point group, in folder `site` (put it on sys.path): what `pip install` of a package
    declaring `[project.entry-points."bringup.drivers"]` leaves behind, and the only way a station
    reaches a driver this project does not ship."""
    info = site / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    with open(info / "entry_points.txt", "a") as f:
        f.write(f"[bringup.drivers]\n{name} = {target}\n")
