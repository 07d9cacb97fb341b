"""The simulated lab from the command line: `bringup sim serve|faults`, and the embedded default
station of `bringup run` / `bringup validate`.

This is the composition root's only door to `sim_devices`: the engine itself never imports the
simulator, and reaches it like any bench, through PyVISA and pyserial.
"""

from __future__ import annotations

import sys
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import click

from bringup.core.clock import SimClock
from bringup.core.verdict import EXIT_INVALID
from bringup.outputs.output_file import ExportError, write_whole
from bringup.language.source import InvalidInput, Problem, load_yaml
from bringup.check.station import Station
from bringup.commands.sim_station import lab_station, station_text

FAULT_HELP = "inject a catalog fault: NAME[:key=value,...][@TIME], e.g. marginal_lane:chip=2,port=1,lane=5@30min"


def _lab(sled_file: str | None, seed: int, faults: tuple[str, ...], clock: SimClock) -> Any:
    from bringup.sim_devices.lab import FaultRequest, SimLab
    from bringup.sim_devices.sled.sled import Sled

    try:
        requests = [FaultRequest.parse(f) for f in faults]
    except ValueError as exc:
        raise InvalidInput([Problem("<command line>", 1, 1, str(exc), "see `bringup sim faults`")]) from None
    if sled_file:
        # read first within the bounds every input file has (size, aliases, nesting, binary, a folder):
        # the simulator's own loader reads whatever it is given, /dev/zero included
        load_yaml(sled_file, what="sled description")
    try:
        sled = Sled.from_yaml(sled_file, clock, seed) if sled_file else Sled(clock=clock, seed=seed)
    except FileNotFoundError:
        raise InvalidInput([Problem(str(sled_file), 1, 1, "sled description not found")]) from None
    except ValueError as exc:  # the sled's own config errors name file and key
        raise InvalidInput([Problem(str(sled_file), 1, 1, f"bad sled description: {exc}")]) from None
    try:
        return SimLab(sled=sled, clock=clock, faults=requests)
    except (ValueError, KeyError) as exc:
        raise InvalidInput([Problem("<command line>", 1, 1, f"--fault: {exc}", "see `bringup sim faults`")]) from None


def embedded_station() -> Station:
    """The embedded simulator's station, for validation: drivers and guardrails, nothing built."""
    from bringup.sim_devices.world.config import SledConfig
    from bringup.sim_devices.lab import LabAddresses

    return lab_station(LabAddresses.placeholders(SledConfig().n_chips))


class EmbeddedLab:
    """A simulated lab in this process, and the station that reaches it: the one wiring that
    `bringup run` (no --station), the pytest plugin and `bringup sim serve` share."""

    def __init__(self, lab: Any, seed: int, faults: tuple[str, ...]) -> None:
        self.lab, self.seed, self.faults = lab, seed, faults
        self.clock: SimClock = lab.clock

    def start(self) -> None:
        """Open the lab's ports: from here on `station` carries the addresses it serves at."""
        self.lab.start()

    @property
    def addresses(self) -> Any:
        return self.lab.addresses()

    @property
    def station(self) -> Station:
        """The typed station of the lab where it is now (placeholder addresses before start())."""
        return lab_station(self.addresses)

    def meta(self) -> dict[str, Any]:
        """What the run records of how the simulator was set up."""
        return {"simulator": {"seed": self.seed, "faults": list(self.faults)}}

    def ground_truth(self) -> dict[str, Any]:
        """Recorded with the run when it ends: what was injected, and what the simulator saw."""
        return {"simulator": ground_truth(self.lab)}


@contextmanager
def embedded_lab(*, sled_file: str | None = None, seed: int = 0, faults: tuple[str, ...] = (),
                 speed: float | None = None, free_running: bool = False) -> Iterator[EmbeddedLab]:
    """A lab built (not yet serving) on a simulated clock; `start()` opens its ports.

    The embedded lab shares the run's clock, which moves only as the run lets time pass (at most
    `speed` times wall time); a served lab's clients keep real clocks, so its time runs by itself."""
    lab = _lab(sled_file, seed, faults, SimClock(speed=speed, free_running=free_running))
    try:
        yield EmbeddedLab(lab, seed, faults)
    finally:
        lab.stop()


def ground_truth(lab: Any) -> dict[str, Any]:
    """What was injected, and what the simulator saw by the end (rails, cooling, the hottest
    junction, hardware trips): so a test can check the diagnosis and the safe state against the truth."""
    from bringup.sim_devices.faults.observer import observe

    with lab.lock:  # one instant of the whole lab, as every request sees it
        return {"seed": getattr(lab.sled, "seed", None), "faults": lab.sled.faults(), "final": observe(lab)}


@click.group("sim")
def sim_group() -> None:
    """The simulated lab: a sled of accelerators and its bench, on real transports."""


@sim_group.command("faults")
def faults_command() -> None:
    """List every fault the simulator can inject, with its targets and parameters."""
    from bringup.sim_devices.faults import faults

    for row in faults.catalog_rows():
        targets = ",".join(f"{k}={v}" for k, v in row["targets"].items())
        params = ", ".join(f"{k}={v}" for k, v in row["params"].items())
        click.echo(f"{row['name']}{':' + targets if targets else ''}")
        click.echo(f"    {row['description']}")
        if params:
            click.echo(f"    parameters: {params}")
        click.echo(f"    symptoms: {'; '.join(row['symptoms'])}")
    click.echo("\naim with NAME:key=value,... (defaults above), time with @TIME (e.g. pump_failure@3h)")


@sim_group.command("serve")
@click.option("--sled", "sled_file", type=click.Path(), help="sled description (YAML)")
@click.option("--fault", "faults", multiple=True, metavar="NAME[:TARGET][@TIME]", help=FAULT_HELP)
@click.option("--speed", type=float, default=1.0, show_default=True,
              help="simulated time as a multiple of wall time")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--station-out", type=click.Path(dir_okay=False), help="also write the station file here")
def serve_command(sled_file: str | None, faults: tuple[str, ...], speed: float, seed: int,
                  station_out: str | None) -> None:
    """Serve the lab for other programs until Ctrl-C; prints a station file with its addresses.

    Programs that connect use their own (real) clock, so the station says `clock: real`; with
    --speed other than 1, the lab's physics runs that much faster than their waits.
    """
    if speed <= 0:
        raise click.BadParameter("must be positive", param_hint="--speed")
    with embedded_lab(sled_file=sled_file, seed=seed, faults=faults, speed=speed, free_running=True) as embedded:
        embedded.start()
        text = station_text(embedded.addresses, "sim-served", clock="real")
        if station_out:
            try:  # whole or not at all, never through a symlink planted at the path
                write_whole(Path(station_out), text, "--station-out", "nothing was served")
            except ExportError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(EXIT_INVALID)
        click.echo(text)
        click.echo(f"# serving at {speed:g}x wall time; Ctrl-C to stop", err=True)
        sys.stdout.flush()
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("# stopped", err=True)
