"""`bringup watch`: attach to a run from another terminal (or over ssh) without touching it.

The watcher opens the results store read-only and follows the run through it, so any number
of people can watch the same night, and a watcher that crashes or is killed cannot disturb the
run: the runner does not know it is there.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from bringup.outputs.report import resolve_run
from bringup.store import StoreError, StoreReader, default_path
from bringup.commands.results import ResultsProblem


@click.command("watch")
@click.argument("run", required=False)
@click.option("--store", type=click.Path(path_type=Path), default=None,
              help="Results store to read. Default: $BRINGUP_STORE, else ./bringup-results/runs.sqlite.")
@click.option("--once", is_flag=True, help="Draw one frame of the dashboard and exit (a snapshot to paste).")
@click.option("--frames", type=click.IntRange(min=1), default=None, metavar="N",
              help="Draw N frames, then exit (sooner if the run ends).")
@click.option("--plain", is_flag=True,
              help="Timestamped lines and a summary instead of the dashboard (the default into a pipe or file).")
@click.option("--hz", "refresh_hz", type=click.FloatRange(min=0.2, max=30.0), default=4.0, show_default=True,
              help="Frames per second.")
def watch_command(run: str | None, store: Path | None, once: bool, frames: int | None, plain: bool,
                  refresh_hz: float) -> None:
    """Follow RUN live (an id from `bringup runs`, or "latest"; the latest if omitted).

    At a terminal: the dashboard — phases, the current step and its progress, telemetry by chip
    against its limits, interlocks, alarms and events — until the run ends, then its final state
    and summary. Into a pipe or a file: timestamped lines and a summary. A finished run shows how
    it ended. Read-only: watching never affects the run; Ctrl-C only detaches.
    """
    # imported here, not at the top: the dashboard needs the procedure models, which cost every
    # other command a third of a second of start-up
    from bringup.dashboard.live import watch

    path = store if store is not None else default_path()
    try:
        with StoreReader(path) as reader:
            run_id = resolve_run(reader, run)
    except StoreError as exc:
        raise ResultsProblem(str(exc)) from exc
    console = Console(highlight=False)
    try:
        watch(path, run_id, console=console, refresh_hz=refresh_hz, frames=1 if once else frames,
              plain=True if plain else None)
    except StoreError as exc:
        raise ResultsProblem(str(exc)) from exc


if __name__ == "__main__":  # pragma: no cover - `python -m bringup.commands.watch` until the CLI lists it
    watch_command()
