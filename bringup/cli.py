"""The `bringup` command. Thin: each command parses its options and calls the engine.

Bad input (a malformed procedure or station, an unknown parameter) prints every problem with
file:line:col and exits 2, with no traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from bringup import __version__
from bringup.language.source import InvalidInput
from bringup.core.verdict import EXIT_INVALID


def _fail_invalid(exc: InvalidInput) -> None:
    n = len(exc.problems)
    for p in exc.problems:
        click.echo(str(p), err=True)
    click.echo(f"{n} problem{'s' if n != 1 else ''} found; nothing was run.", err=True)
    sys.exit(EXIT_INVALID)


class _Group(click.Group):
    """Turns InvalidInput from any command into the located report and exit 2."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        from bringup.store import StoreError

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


STATION_HELP = ("station file binding roles to drivers; 'fake' for the in-memory fake bench "
                "(default: the embedded simulated lab)")


def _station(station: str | None):
    """The station a command runs against: a file, the fake bench, or the embedded simulator."""
    from bringup.run.session import open_station

    if station is None:
        from bringup.commands.sim import embedded_station

        return embedded_station()
    return open_station(station)


@main.command()
@click.argument("procedure", type=click.Path())  # a folder is refused by the loader, located like any input
@click.option("--station", "-s", type=click.Path(), help=STATION_HELP)
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="override a parameter")
def validate(procedure: str, station: str | None, params: tuple[str, ...]) -> None:
    """Check a procedure against a station without touching any instrument."""
    from bringup.run.session import parse_overrides
    from bringup.check.station import guardrail_lines
    from bringup.check.validate import validate as check

    st = _station(station)
    checked = check(procedure, st, parse_overrides(params))
    p = checked.procedure
    click.echo(f"{procedure}: OK — {p.procedure} v{p.version}: {len(p.phases)} phases "
               f"({' -> '.join(checked.order)}), {len(p.monitors)} monitors, "
               f"{len(p.safe_state)} safe-state steps; station {st.name}")
    rails = guardrail_lines(st)
    click.echo("station guardrails (the limits that bind each target; every step was checked against them):"
               if rails else "station guardrails: none (no instrument of this station is limited)")
    click.echo("\n".join(f"  {line}" for line in rails))


@main.command()
@click.argument("procedure", type=click.Path())  # a folder is refused by the loader, located like any input
@click.option("--station", "-s", type=click.Path(), help=STATION_HELP)
@click.option("-p", "--param", "params", multiple=True, metavar="NAME=VALUE", help="override a parameter")
@click.option("--dut", default="unknown", show_default=True,
              help="serial number of the device under test (exports without one use the serial the sled reports)")
@click.option("--store", type=click.Path(dir_okay=False), help="results database (default: $BRINGUP_STORE or "
              "./bringup-results/runs.sqlite)")
@click.option("--speed", type=float, help="simulated stations: run at most this multiple of wall time, for "
              "watching (default: as fast as possible); the night is the same at any speed")
@click.option("--fault", "faults", multiple=True, metavar="NAME[:TARGET][@TIME]",
              help="embedded simulator: inject a catalog fault (see `bringup sim faults`); repeatable")
@click.option("--sled", "sled_file", type=click.Path(),
              help="embedded simulator: sled description (YAML; see docs/simulator.md)")
@click.option("--seed", type=int, default=0, show_default=True, help="embedded simulator: random seed")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False),
              help="also write a JUnit XML report of the run here (for CI)")
@click.option("--verbose", "-v", is_flag=True, help="print passing measurements too")
def run(procedure: str, station: str | None, params: tuple[str, ...], dut: str, store: str | None,
        speed: float | None, faults: tuple[str, ...], sled_file: str | None, seed: int, junit_file: str | None,
        verbose: bool) -> None:
    """Run a procedure: phases in dependency order, interlocks watching, safe state on every way out.

    With no --station, the procedure runs against the embedded simulated lab, reached through
    PyVISA and pyserial like a real bench. Exit codes: 0 pass, 1 fail, 2 invalid input, 3 aborted.
    """
    from bringup.run import session

    if speed is not None and speed <= 0:
        raise click.BadParameter("must be a positive multiple of wall time", param_hint="--speed")
    from bringup.commands.exit_guard import ExitGuard

    overrides = session.parse_overrides(params)
    if station is not None:
        if faults or sled_file:
            raise click.UsageError("--fault and --sled apply to the embedded simulator; drop --station to use it")
        st = session.open_station(station)
        with ExitGuard(_is_process_entry()) as guard:  # the recorded exit code is the process's, whatever signals come
            _run(session.prepare(procedure, st, overrides, speed), store, dut, verbose, guard, junit_file)
        return
    from bringup.commands.sim import embedded_lab

    with ExitGuard(_is_process_entry()) as guard, embedded_lab(sled_file=sled_file, seed=seed, faults=faults, speed=speed) as lab:
        # validate first: the lab starts serving only for a procedure that can run
        session.prepare(procedure, lab.station, overrides, clock=lab.clock)
        lab.start()
        prepared = session.prepare(procedure, lab.station, overrides, clock=lab.clock)
        _run(prepared, store, dut, verbose, guard, junit_file, meta=lab.meta(), finish=lab.ground_truth)


def _is_process_entry() -> bool:
    """Whether this command is the process itself (`bringup ...`, `python -m bringup.cli`), as
    opposed to one called inside another program (a test's CliRunner)."""
    return click.get_current_context().find_root().command is getattr(sys.modules.get("__main__"), "main", None)


def _is_terminal() -> bool:
    from rich.console import Console

    return Console().is_terminal


def _run(prepared, store: str | None, dut: str, verbose: bool, guard, junit_file: str | None = None,
         meta: dict | None = None, finish=None) -> None:
    from bringup.run import session
    from bringup.outputs.plainlog import PlainLog
    from bringup.store import default_path

    path = store or default_path()
    with session.open_store(path, prepared) as db:
        if _is_terminal():
            # the live dashboard reads the store like any watcher; it never reaches into the run
            from bringup.dashboard import RunIdCatcher, live_view

            catcher = RunIdCatcher()
            with live_view(path, catcher.get):
                result = session.run(prepared, db, dut=dut, reporter=guard.reporting(catcher), meta=meta)
        else:
            log = PlainLog(prepared.clock, verbose=verbose)
            result = session.run(prepared, db, dut=dut, reporter=guard.reporting(log), meta=meta)
        if finish is not None:  # e.g. the simulator's ground truth, kept with the run it explains
            db.event(result.run_id, prepared.clock.now(), "ground_truth", "what the simulator injected",
                     data=finish(), durable=True)
    click.echo(f"results: run {result.run_id} in {path} (`bringup report {result.run_id}`)")
    if junit_file:
        from bringup.outputs.export import ExportError
        from bringup.outputs.junit import write_junit
        from bringup.store import StoreReader

        with StoreReader(path) as reader:
            try:
                write_junit(reader, result.run_id, junit_file)
            except ExportError as exc:  # the run and its results stand; only the report is missing
                click.echo(f"error: {exc}", err=True)
                sys.exit(result.exit_code or EXIT_INVALID)
    sys.exit(result.exit_code)


@main.command()
@click.option("--station", "-s", type=click.Path(dir_okay=False),
              help="list this station's role.action names as completions")
def schema(station: str | None) -> None:
    """Print the JSON Schema of the procedure language (for yaml-language-server and editors)."""
    from bringup.check.schema import procedure_schema

    click.echo(json.dumps(procedure_schema(_station(station) if station else None), indent=2))


@main.command()
@click.argument("name", required=False)
def drivers(name: str | None) -> None:
    """List the drivers this installation ships, with every action and reading (NAME: just that one)."""
    from bringup.check.schema import NoSuchDriver, describe_drivers

    try:
        click.echo(describe_drivers(name))
    except NoSuchDriver as exc:  # a typo is bad input like any other: say what exists, exit 2
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID)


def _add_result_commands() -> None:
    from bringup.commands.results import export_command, report_command, runs_command

    main.add_command(runs_command, "runs")
    main.add_command(report_command, "report")
    main.add_command(export_command, "export")
    from bringup.commands.plan import plan_command
    from bringup.commands.plot import plot_command
    from bringup.commands.sim import sim_group
    from bringup.commands.watch import watch_command

    main.add_command(plan_command, "plan")
    main.add_command(sim_group, "sim")
    main.add_command(plot_command, "plot")
    main.add_command(watch_command, "watch")


_add_result_commands()


if __name__ == "__main__":  # pragma: no cover
    main()
