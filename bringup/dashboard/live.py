"""The refreshing loop: the dashboard beside a running procedure, and `bringup watch`.

Both read the store and nothing else. Beside a run (`live_view`) the dashboard lives in its own
thread: the procedure keeps the main thread, its signals (Ctrl-C aborts to the safe state) and
its instruments. Whatever goes wrong in the view — a rendering bug, a terminal that vanished —
ends the view, never the run.

The dashboard draws on the terminal's alternate screen while it runs, so an overnight of frames
does not fill the scrollback; when it ends, the final state is printed once onto the normal
screen, where it stays.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from typing import Any, Callable, Iterator

from rich.console import Console
from rich.live import Live
from rich.text import Text

from bringup.core.clock import Clock, RealClock
from bringup.store import StoreError
from bringup.dashboard.feed import StoreFeed
from bringup.dashboard.model import RunView
from bringup.dashboard.plain import PlainFollow
from bringup.dashboard.render import frame


class RunIdCatcher:
    """A runner reporter that notes the run id for `live_view`, passing everything on to `then`.

    `bringup run` at a terminal: `catcher = RunIdCatcher()`, `reporter=catcher`, and give
    `catcher.get` to `live_view` as its `run_id_getter`.
    """

    def __init__(self, then: Callable[[str, dict], None] | None = None) -> None:
        self.run_id: int | None = None
        self.then = then

    def __call__(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "run":
            self.run_id = data["run_id"]
        if self.then is not None:
            self.then(kind, data)

    def get(self) -> int | None:
        return self.run_id


class _Viewer:
    """Polls a run and renders frames at the console's current size."""

    def __init__(self, store_path: str | os.PathLike, console: Console, clock: Clock) -> None:
        self.store_path, self.console, self.clock = store_path, console, clock
        self.feed: StoreFeed | None = None
        self.view: RunView | None = None
        self._drawn: tuple | None = None

    def poll(self, run_id: int | None) -> RunView | None:
        if run_id is None:
            return None
        if self.feed is None:
            try:
                self.feed = StoreFeed(self.store_path)
            except StoreError:
                return None  # the runner has not created it yet
        if self.view is None or self.view.run_id != run_id:
            self.view = RunView(self.feed, run_id, self.clock)
        self.view.poll()
        return self.view

    def render(self, run_id: int | None) -> Any:
        width, height = self.console.size
        view = self.view
        if view is None:
            return Text("bringup: waiting for the run to start…", style="dim")
        return frame(view, width, height)

    def changed(self) -> bool:
        """Whether the next frame would differ from the last one drawn (new data or a resize)."""
        key = (None if self.view is None else (id(self.view), self.view.version), tuple(self.console.size))
        if key == self._drawn:
            return False
        self._drawn = key
        return True

    def close(self) -> None:
        if self.feed is not None:
            self.feed.close()


class _LiveThread(threading.Thread):
    def __init__(self, viewer: _Viewer, run_id_getter: Callable[[], int | None], period: float) -> None:
        super().__init__(name="bringup-dashboard", daemon=True)
        self.viewer, self.run_id_getter, self.period = viewer, run_id_getter, period
        self.wake = RealClock()  # its own clock: stopping interrupts only the view's pause
        self.error: BaseException | None = None

    def run(self) -> None:
        viewer = self.viewer
        try:
            with Live(console=viewer.console, screen=True, auto_refresh=False, transient=True) as live:
                while True:
                    run_id = self.run_id_getter()
                    viewer.poll(run_id)
                    if viewer.changed():
                        live.update(viewer.render(run_id), refresh=True)
                    if not self.wake.sleep(self.period):
                        return
        except BaseException as exc:  # the view is over; the run is not
            self.error = exc

    def stop(self) -> None:
        self.wake.interrupt()
        self.join(timeout=5.0)


@contextlib.contextmanager
def live_view(store_path: str | os.PathLike, run_id_getter: Callable[[], int | None], *,
              console: Console | None = None, refresh_hz: float = 4.0,
              clock: Clock | None = None) -> Iterator[None]:
    """Show the live dashboard of the run being written to `store_path` while the body runs.

    `run_id_getter()` returns the run's id once the runner has begun it (None before). The view
    runs in a daemon thread, reads only the store, and draws at `refresh_hz`. Leaving the block
    stops it and prints the final state once. Nothing the view does — failing included — is
    raised into the body or out of the block. `clock` is wall time for measuring how fast a
    simulation runs (default: the monotonic clock) — never the run's own clock.
    """
    console = console or Console()
    viewer = _Viewer(store_path, console, clock or RealClock())
    thread = _LiveThread(viewer, run_id_getter, 1.0 / refresh_hz)
    thread.start()
    try:
        yield
    finally:
        try:
            thread.stop()
            if thread.error is not None:
                console.print(Text(f"dashboard stopped: {type(thread.error).__name__}: {thread.error} "
                                   "(the run was not affected)", style="yellow"))
            if not thread.is_alive():  # a stuck view thread must not race the final frame
                viewer.poll(run_id_getter())
                _print_final(viewer)
        except Exception as exc:  # drawing the end must not turn a finished run into a failure
            print(f"bringup: could not draw the final state: {exc}", file=sys.stderr)
        finally:
            viewer.close()


def _print_final(viewer: _Viewer) -> None:
    if viewer.view is None or viewer.view.run is None:
        return
    width, height = viewer.console.size
    viewer.console.print(frame(viewer.view, width, max(height - 1, 10)))


def watch(store_path: str | os.PathLike, run_id: int, *, console: Console, refresh_hz: float = 4.0,
          frames: int | None = None, plain: bool | None = None, clock: Clock | None = None) -> RunView | None:
    """Follow a run from another process until it ends (or `frames` frames have been drawn).

    At a terminal: the live dashboard, then the final state. Into a pipe or a file: plain
    timestamped lines and a summary (`plain`), or with `frames` the dashboard's frames as text.
    Ctrl-C only detaches: the run is another process and does not notice.
    """
    clock = clock or RealClock()
    period = 1.0 / refresh_hz
    if plain is None:
        plain = frames is None and not console.is_terminal
    if plain:
        feed = StoreFeed(store_path)
        try:
            follow = PlainFollow(feed, run_id, console.file)
            while not follow.poll():
                clock.sleep(max(period, 0.5))  # a log needs no 4 Hz
        except KeyboardInterrupt:
            pass  # detached: the run goes on, and the log simply stops here
        finally:
            feed.close()
        return None
    viewer = _Viewer(store_path, console, clock)
    try:
        if console.is_terminal:
            return _watch_live(viewer, run_id, frames, period, clock)
        return _watch_frames(viewer, run_id, frames, period, clock)
    except KeyboardInterrupt:
        return viewer.view
    finally:
        viewer.close()


def _watch_frames(viewer: _Viewer, run_id: int, frames: int | None, period: float, clock: Clock) -> RunView | None:
    """Frames as plain text one after another (into a file: `--once` is a snapshot to paste)."""
    console = viewer.console
    drawn = 0
    while True:
        view = viewer.poll(run_id)
        drawn += 1
        if view is not None and view.finished:
            _print_final(viewer)
            return view
        console.print(viewer.render(run_id))
        if frames is not None and drawn >= frames:
            return view
        console.print()
        clock.sleep(period)


def _watch_live(viewer: _Viewer, run_id: int, frames: int | None, period: float, clock: Clock) -> RunView | None:
    drawn = 0
    detached = False
    try:
        with Live(console=viewer.console, screen=True, auto_refresh=False, transient=True) as live:
            while True:
                view = viewer.poll(run_id)
                drawn += 1
                if view is not None and view.finished:
                    break
                if viewer.changed():
                    live.update(viewer.render(run_id), refresh=True)
                if frames is not None and drawn >= frames:
                    break
                clock.sleep(period)
    except KeyboardInterrupt:
        detached = True
    _print_final(viewer)
    if detached:
        viewer.console.print(Text(f"detached from run {run_id}; it goes on (the store has everything)",
                                  style="dim"))
    return viewer.view
