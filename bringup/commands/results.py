"""`bringup runs`, `bringup report`, `bringup export`: the results store, for people and tools.

All three only read the store (read-only, so they are safe while a run is writing). A problem a
user can fix - no store, no such run, an output file that cannot be written - is one line on
stderr saying what and what to do, with exit status 2.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import IO, Any, Iterator

import click
from rich.console import Console

from bringup.outputs.export import BINARY_FORMATS, FORMATS, ExportError, export_text, write_file
from bringup.outputs.report import load_report, render_rich, render_runs_rich, render_runs_text, render_text, resolve_run
from bringup.store import StoreError, StoreReader, default_path


class ResultsProblem(click.ClickException):
    """A mistake the user can fix: one line on stderr, exit status 2, no traceback."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


_store_option = click.option(
    "--store", type=click.Path(path_type=Path), default=None,
    help="Results store to read. Default: $BRINGUP_STORE, else ./bringup-results/runs.sqlite.")


@contextlib.contextmanager
def _reading(store: Path | None) -> Iterator[StoreReader]:
    try:
        reader = StoreReader(store if store is not None else default_path())
    except StoreError as exc:
        raise ResultsProblem(str(exc)) from exc
    try:
        yield reader
    except (StoreError, ExportError) as exc:
        raise ResultsProblem(str(exc)) from exc
    finally:
        reader.close()


def _console() -> Console:
    # Rich tables for a person at a terminal; plain aligned text when piped, for grep and CI logs.
    return Console(highlight=False)


@click.command("runs")
@_store_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True,
              help="How many of the newest runs to list.")
def runs_command(store: Path | None, limit: int) -> None:
    """List the runs in the results store, newest first, with their ids.

    A run whose process died without recording its end (killed, crashed, power cut) shows as
    "interrupted".
    """
    with _reading(store) as reader:
        runs = reader.runs(limit)
        path = reader.path
    console = _console()
    if console.is_terminal:
        render_runs_rich(runs, path, console)
    else:
        click.echo(render_runs_text(runs, path), nl=False)


@click.command("report")
@click.argument("run", required=False)
@_store_option
def report_command(run: str | None, store: Path | None) -> None:
    """Show what happened in RUN (an id from `bringup runs`; the latest run if omitted).

    Phases with state, verdict, duration and reason; every FAIL and UNKNOWN measurement with its
    path, value, limits and sweep coordinates; warnings and errors; counts. Exit status 0 whatever
    the verdict (use the run's own exit code to gate CI).
    """
    with _reading(store) as reader:
        report = load_report(reader, resolve_run(reader, run))
    console = _console()
    if console.is_terminal:
        render_rich(report, console)
    else:
        click.echo(render_text(report), nl=False)


@click.command("export")
@click.argument("run")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="json", show_default=True,
              help="json: run, phases, steps, measurements, events. csv: one row per measurement. "
                   "junit: JUnit XML for CI. stdf: STDF V4 for yield tools (binary: use -o).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="File to write (replaced whole, or left untouched on error). Default: stdout.")
@_store_option
def export_command(run: str, fmt: str, output: Path | None, store: Path | None) -> None:
    """Export RUN (an id, or "latest") as JSON, CSV, JUnit XML or STDF for other tools.

    A run that was killed or aborted exports too: what never ran is marked so (skipped in
    JUnit, "not executed" and an abnormal end in STDF).
    """
    with _reading(store) as reader:
        if output is None and fmt in BINARY_FORMATS and sys.stdout.isatty():
            raise ResultsProblem(f"{fmt} is a binary format; give -o FILE (or redirect stdout to a file)")
        content = export_text(reader, resolve_run(reader, run), fmt)
        if output is not None:
            write_file(output, content, reader.path)
        elif isinstance(content, bytes):
            click.echo(content, nl=False)  # click writes bytes to stdout's binary buffer as they are
        else:
            click.echo(content, nl=False)
