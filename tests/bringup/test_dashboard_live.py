"""`live_view` beside a real run in this process: it draws the end, and its failures stay its own."""

from __future__ import annotations

import io

from rich.console import Console

from bringup.run import session
from bringup.dashboard.live import RunIdCatcher, live_view
from bringup.check.station import load_station
from engine_helpers import station_with, write
from test_watch_process import NIGHT


def _run_with_view(tmp_path, console: Console, params: dict[str, str] | None = None):
    proc = write(tmp_path, "night.yaml", NIGHT)
    prepared = session.prepare(proc, load_station(station_with(tmp_path)), params or {"soak": "30 min"}, None)
    store = tmp_path / "runs.sqlite"
    seen: list[str] = []
    catcher = RunIdCatcher(then=lambda kind, data: seen.append(kind))
    with session.open_store(store, prepared) as db:
        with live_view(store, catcher.get, console=console, refresh_hz=20.0):
            result = session.run(prepared, db, dut="SN-LIVE", reporter=catcher)
    return result, catcher, seen


def test_leaving_the_view_draws_the_final_state_once(tmp_path):
    out = io.StringIO()
    console = Console(file=out, width=120, height=40, force_terminal=True, color_system=None)
    result, catcher, seen = _run_with_view(tmp_path, console)
    assert result.exit_code == 0 and catcher.run_id == result.run_id == 1
    # the catcher passes everything on, to the run's end and its being recorded in the store
    assert seen[0] == "run" and seen[-2:] == ["end", "recorded"]
    final = out.getvalue().split("\x1b[?1049l")[-1]  # what stays on the normal screen
    assert final.count("bringup watched-night v2 · DUT SN-LIVE") == 1
    assert ("run PASSED (exit 0) after 0:31:00: 3/3 phases passed; measurements: 180 pass, 0 fail, 0 unknown"
            in final)


class GoneTerminal(io.StringIO):
    """A terminal that went away (an ssh session dropped): every write fails."""

    def write(self, s: str) -> int:
        raise OSError(5, "Input/output error")

    def isatty(self) -> bool:
        return True


def test_a_view_that_fails_does_not_affect_the_run(tmp_path, capsys):
    console = Console(file=GoneTerminal(), width=120, height=40, force_terminal=True)
    result, _, seen = _run_with_view(tmp_path, console)
    assert result.exit_code == 0 and result.state == "passed"
    assert seen[-2:] == ["end", "recorded"]
    from bringup.store import StoreReader

    with StoreReader(tmp_path / "runs.sqlite") as r:
        run = r.run(1)
        assert run["state"] == "passed" and run["n_pass"] == 180
    assert "could not draw the final state" in capsys.readouterr().err
