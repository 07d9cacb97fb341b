"""The `bringup` command. Thin: each command parses its options and calls the engine.

Bad input (a malformed procedure or station, an unknown parameter) prints every problem with
file:line:col and exits 2, with no traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .source import InvalidInput
from .verdict import EXIT_INVALID


def _fail_invalid(exc: InvalidInput) -> None:
    n = len(exc.problems)
    for p in exc.problems:
        click.echo(str(p), err=True)
    click.echo(f"{n} problem{'s' if n != 1 else ''} found; nothing was run.", err=True)
    sys.exit(EXIT_INVALID)


class _Group(click.Group):
    """Turns InvalidInput from any command into the located report and exit 2."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from .store import StoreError

        try:
            return super().invoke(ctx)
        except InvalidInput as exc:
            _fail_invalid(exc)
        except StoreError as exc:  # an unusable results store is bad input too: say so, touch nothing
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_INVALID)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bringup")
def main() -> None:
    """Declarative, gated, safe silicon bring-up."""


STATION_HELP = "station file binding roles to drivers (default: the in-memory fake bench)"


@main.command()
@click.argument("procedure", type=click.Path(dir_okay=False))
@click.option("--station", "-s", type=click.Path(dir_okay=False), help=STATION_HELP)
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="override a parameter")
def validate(procedure: str, station: str | None, params: tuple[str, ...]) -> None:
    """Check a procedure against a station without touching any instrument."""
    from .session import open_station, parse_overrides
    from .validate import validate as check

    st = open_station(station)
    checked = check(procedure, st, parse_overrides(params))
    p = checked.procedure
    click.echo(f"{procedure}: OK — {p.procedure} v{p.version}: {len(p.phases)} phases "
               f"({' -> '.join(checked.order)}), {len(p.monitors)} monitors, "
               f"{len(p.safe_state)} safe-state steps; station {st.name}")


@main.command()
@click.argument("procedure", type=click.Path(dir_okay=False))
@click.option("--station", "-s", type=click.Path(dir_okay=False), help=STATION_HELP)
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="override a parameter")
@click.option("--dut", default="unknown", show_default=True, help="serial number of the device under test")
@click.option("--store", type=click.Path(dir_okay=False), help="results database (default: $BRINGUP_STORE or "
              "./bringup-results/runs.sqlite)")
@click.option("--speed", type=float, help="simulated stations: run at this multiple of wall time "
              "(default: as fast as possible)")
@click.option("--verbose", "-v", is_flag=True, help="print passing measurements too")
def run(procedure: str, station: str | None, params: tuple[str, ...], dut: str, store: str | None,
        speed: float | None, verbose: bool) -> None:
    """Run a procedure: phases in dependency order, interlocks watching, safe state on every way out.

    Exit codes: 0 pass, 1 fail, 2 invalid input, 3 aborted.
    """
    from . import session
    from .plainlog import PlainLog
    from .store import default_path

    if speed is not None and speed <= 0:
        raise click.BadParameter("must be a positive multiple of wall time", param_hint="--speed")
    st = session.open_station(station)
    prepared = session.prepare(procedure, st, session.parse_overrides(params), speed)
    log = PlainLog(prepared.clock, verbose=verbose)
    with session.open_store(store or default_path(), prepared) as db:
        result = session.run(prepared, db, dut=dut, reporter=log)
    click.echo(f"results: run {result.run_id} in {store or default_path()} "
               f"(`bringup report {result.run_id}`)")
    sys.exit(result.exit_code)


@main.command()
@click.option("--station", "-s", type=click.Path(dir_okay=False),
              help="list this station's role.action names as completions")
def schema(station: str | None) -> None:
    """Print the JSON Schema of the procedure language (for yaml-language-server and editors)."""
    from .schema import procedure_schema

    click.echo(json.dumps(procedure_schema(station), indent=2))


@main.command()
@click.argument("name", required=False)
def drivers(name: str | None) -> None:
    """List the drivers this installation ships, with every action and reading."""
    from .schema import describe_drivers

    click.echo(describe_drivers(name))


def _add_result_commands() -> None:
    from .commands.results import export_command, report_command, runs_command

    main.add_command(runs_command, "runs")
    main.add_command(report_command, "report")
    main.add_command(export_command, "export")


_add_result_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
