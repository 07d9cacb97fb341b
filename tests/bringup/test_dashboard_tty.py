"""The live dashboard in a real pseudo-terminal (tmux): it draws, Ctrl-C aborts, it exits cleanly.

This is `bringup run` itself at a terminal, which puts `live_view` around the runner. The fake sled's `power_off` hangs until its step times out, so
the safe state takes a visible second of wall time: long enough to see the dashboard say so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine_helpers import station_with
from test_watch_process import NIGHT, ROOT

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None,
                                reason="tmux is not installed (apt-get install tmux): the pseudo-terminal "
                                       "test drives the live dashboard through it")

class Tmux:
    def __init__(self, tmp_path: Path) -> None:
        self.socket = str(tmp_path / "tmux.sock")

    def __call__(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", self.socket, "-f", os.devnull, *args], capture_output=True,
                              text=True, check=True, timeout=30).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "dash")

    def show(self, fmt: str) -> str:
        return self("display-message", "-p", "-t", "dash", fmt).strip()

    def wait_for(self, pred, what: str) -> str:
        pause = threading.Event()
        for _ in range(400):  # a hang guard (40 s), not a timing assertion
            screen = self.screen()
            if pred(screen):
                return screen
            pause.wait(0.1)
        pytest.fail(f"gave up waiting for {what}; the screen shows:\n{self.screen()}")


def test_the_live_view_draws_aborts_on_ctrl_c_and_leaves_the_terminal_clean(tmp_path):
    proc = tmp_path / "night.yaml"
    proc.write_text(NIGHT)
    station = station_with(tmp_path, {"sled": {"hang": ["power_off"]}})
    tmux = Tmux(tmp_path)
    # COLUMNS/LINES may linger in the environment tmux hands the pane (they did under pytest): unset,
    # so the dashboard takes its size from the terminal, as at a person's desk
    status = tmp_path / "exit-status"
    command = " ".join(["env", "-u", "COLUMNS", "-u", "LINES", sys.executable, "-m", "bringup.cli", "run", str(proc),
                        "--station", str(station), "--store", str(tmp_path / "runs.sqlite"), "--speed", "10",
                        "-p", "soak=8h", "--dut", "SN-TTY", ";", "echo", "$?", ">", str(status)])
    tmux("new-session", "-d", "-x", "120", "-y", "40", "-s", "dash", "-e", f"PYTHONPATH={ROOT}",
         "-c", str(tmp_path), command)
    try:
        tmux("set-option", "-t", "dash", "remain-on-exit", "on")
        live = tmux.wait_for(lambda s: "▶ soak" in s and " of 8:00:00 · ETA " in s, "the live dashboard")
        assert tmux.show("#{alternate_on}") == "1"  # drawn on the alternate screen, not the scrollback
        first = live.splitlines()[0]
        assert "watched-night v2 · DUT SN-TTY · station test-bench · run 1" in first
        assert first.rstrip().endswith("RUNNING")
        assert "sim ×10" in live and "⛨ sled.max_tj" in live

        tmux("send-keys", "-t", "dash", "C-c")
        aborting = tmux.wait_for(lambda s: "ABORTING → safe state: Ctrl-C received" in s, "the abort on screen")
        assert "! soak" in aborting and "aborted" in aborting

        # the shell in the pane writes the exit status: tmux's own notion of a dead pane lags under load
        tmux.wait_for(lambda s: status.is_file() and status.read_text().strip() != "", "the run to exit")
        assert status.read_text().strip() == "3"  # the abort code
        assert tmux.show("#{alternate_on}") == "0"  # the terminal is back to normal
        final = tmux.screen()
        assert "run ABORTED (exit 3) after " in final and "Ctrl-C received" in final
        assert "results: run 1 in " in final
        assert "Traceback" not in final
    finally:
        subprocess.run(["tmux", "-S", tmux.socket, "kill-server"], capture_output=True, timeout=30)
