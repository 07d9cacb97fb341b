"""`bringup plot`: a run's shmoos and Vmin per frequency in the terminal, and as PNG files.

Reads the store only (safe while a run is writing). The terminal views need nothing beyond
bringup; `--png DIR` needs matplotlib (`pip install 'bringup[plot]'`) and also draws the
telemetry of every soak. Every picture is drawn from a data object (`Shmoo`, `VminChart`,
`SoakChart`) built from the stored rows, which is what the tests compare with the store.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bringup.outputs.export import write_file
from bringup.plots import group_by_test, run_shmoos, shmoo_text, soak_series, soak_windows, vmin_text
from bringup.plots.vmin import VminChart, search_charts, shmoo_chart
from bringup.outputs.report import resolve_run
from bringup.commands.results import ResultsProblem, _reading, _store_option


def _ascii_default() -> bool:
    encoding = (getattr(sys.stdout, "encoding", None) or "").lower().replace("-", "")
    return encoding not in ("utf8", "utf16", "utf32")


@click.command("plot")
@click.argument("run", required=False)
@_store_option
@click.option("--png", "png_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Also write PNG files into DIR (made if missing): shmoo-*.png, vmin-*.png, and "
                   "soak-*.png with the telemetry of each soak. Needs matplotlib.")
@click.option("--ascii", "ascii_only", is_flag=True, default=None,
              help="Draw bars with '#' (the default when the terminal is not UTF-8).")
def plot_command(run: str | None, store: Path | None, png_dir: Path | None, ascii_only: bool | None) -> None:
    """Draw RUN's shmoo grids (pass/fail over voltage x frequency) and Vmin per frequency.

    RUN is an id from `bringup runs`, or "latest" (the default). A shmoo is any test measured
    over a voltage coordinate (and usually a frequency one) in a sweep; each chip gets its own.
    Vmin is the run's Vmin search results when it has a search, else the edge each shmoo implies.
    """
    with _reading(store) as reader:
        run_id = resolve_run(reader, run)
        measurements = reader.measurements(run_id)
        groups = group_by_test(run_shmoos(reader, run_id, measurements))
        charts = vmin_charts(reader, run_id, measurements, groups)
        pictures: list[tuple[str, bytes]] = []
        if png_dir is not None:
            pictures = _pictures(reader, run_id, groups, charts)
        if not groups and not charts:
            click.echo(f"run {run_id} has no measurement over a voltage sweep: no shmoo or Vmin to draw")
        for items in groups.values():
            for s in items:
                click.echo(shmoo_text(s))
        for chart in charts:
            click.echo(vmin_text(chart, _ascii_default() if ascii_only is None else ascii_only))
        if png_dir is not None:
            try:
                png_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ResultsProblem(f"cannot make folder {png_dir}: {exc.strerror or exc}; choose a writable "
                                     f"--png folder (the results store is unchanged)") from exc
            for name, data in pictures:
                write_file(png_dir / name, data, reader.path)
                click.echo(f"wrote {png_dir / name}")
            if not pictures:
                click.echo(f"run {run_id} has no shmoo and no soak: no PNG written")


def vmin_charts(reader, run_id: int, measurements: list[dict], groups: dict) -> list[VminChart]:
    """The search's results when the run searched (one chart per search); else one per shmoo group."""
    return search_charts(reader, run_id, measurements) or [shmoo_chart(items) for items in groups.values()]


def _pictures(reader, run_id: int, groups: dict, charts: list[VminChart]) -> list[tuple[str, bytes]]:
    """Every PNG, drawn before any is written, so a missing matplotlib writes nothing."""
    from bringup.plots.png import PlotsUnavailable, require_matplotlib, shmoo_png, slug, soak_png, vmin_png
    from bringup.plots.telemetry import soak_chart, soak_measurements

    out = []
    try:
        require_matplotlib()
        for (path, test, condition), items in groups.items():
            for s in items:
                chip = f"chip{s.chip}" if s.chip is not None else ""
                out.append((f"shmoo-{slug(path, test, condition, chip)}.png", shmoo_png(s)))
        for chart in charts:
            out.append((f"vmin-{slug(chart.path, chart.test, chart.condition)}.png", vmin_png(chart)))
        seen: dict[str, int] = {}
        for window in soak_windows(reader, run_id):
            series = soak_series(reader, run_id, window)
            marks = soak_measurements(reader, run_id, window)
            if series or marks:
                seen[window.phase] = seen.get(window.phase, 0) + 1
                n = seen[window.phase]
                name = f"soak-{slug(window.phase)}" + (f"-{n}" if n > 1 else "")
                out.append((f"{name}.png", soak_png(soak_chart(window, series, marks))))
    except PlotsUnavailable as exc:
        raise ResultsProblem(str(exc)) from exc
    return out
