"""The docs say what the program does: every command they show exists with the options they give,
the defaults and versions they quote are the code's, and the example bench binds what it says.

Commands are taken from the docs, the README, and the comments of the shipped procedures and
stations: a line or `code span` that starts with `bringup` (or `.venv/bin/bringup`), or a
`python -m bringup.…` module, which must run from the checkout root.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

from bringup.cli import main
from bringup.drivers.sled_console_base import SledConsoleBase
from bringup.run.session import open_station
from bringup.language.source import InvalidInput
from bringup.store import SCHEMA_VERSION
from bringup.check.validate import validate

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"] + sorted((ROOT / "procedures").glob("*.yaml")) \
    + sorted((ROOT / "stations").glob("*.yaml"))
_COMMAND = re.compile(r"(?:^|[`\s])(?:\.venv/bin/)?bringup ((?:[a-z][\w-]*)(?: [^`#\n]*)?)")
_MODULE = re.compile(r"python3? -m (bringup\.[\w.]+)")


def _commands() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for line in page.read_text().splitlines():
            for m in _COMMAND.finditer(line):
                found.append((f"{page.name}: {line.strip()}", m.group(1)))
    return found


def _resolve(words: list[str]) -> tuple[click.Command, list[str]] | None:
    """The subcommand the words name, and the words after it; None if the first is not a command."""
    cmd: click.Command = main
    while isinstance(cmd, click.Group) and words and words[0] in cmd.commands:
        cmd, words = cmd.commands[words[0]], words[1:]
    return None if cmd is main else (cmd, words)


def test_docs_show_commands_at_all():
    assert len(_commands()) > 40


@pytest.mark.parametrize("where, text", _commands(), ids=lambda x: x[:60] if isinstance(x, str) else None)
def test_every_command_in_the_docs_exists_with_the_options_it_is_given(where, text):
    try:
        words = shlex.split(text.replace("...", "").replace("|", " "))
    except ValueError:
        words = text.split()
    resolved = _resolve(words)
    if resolved is None:
        # prose ("bringup talks to ..."), or a dashboard header ("bringup sled-night v3"): not a command
        assert words[0] not in {"run", "validate", "report", "plot", "export", "schema", "drivers", "sim", "watch"}
        return
    cmd, rest = resolved
    known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)}
    for word in rest:
        flag = word.split("=", 1)[0].strip("[]")
        if flag.startswith("-") and flag not in ("-", "--"):
            assert flag in known, f"{where}: `{cmd.name}` has no option {flag} (it has {sorted(known)})"


@pytest.mark.parametrize("module", sorted({m for p in PAGES for m in _MODULE.findall(p.read_text())}))
def test_every_python_m_module_in_the_docs_runs_from_the_checkout_root(module):
    # run from the root, the source folder `bringup/` comes first on sys.path (as with `-m`): a module
    # that exists only where the install maps it (bringup.sim_devices) must still be found
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-1000:]


def test_the_documented_table_writer_runs_from_the_checkout_root():
    proc = subprocess.run([sys.executable, "-m", "bringup.sim_devices.config_docs", "faults"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "pump_failure" in proc.stdout, proc.stderr[-1000:]


def test_the_console_options_table_quotes_the_drivers_defaults():
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", (ROOT / "docs" / "console.md").read_text(), re.M)
    defaults = {name: f.default for name, f in SledConsoleBase.Options.model_fields.items()}
    checked = 0
    for name, shown in rows:
        if name not in defaults or isinstance(defaults[name], str) or defaults[name] is None:
            continue
        number = float(shown.split()[0])
        if shown.strip().endswith("ms"):
            number /= 1000
        assert number == float(defaults[name]), f"docs/console.md says {name} = {shown.strip()}, the driver " \
                                                f"{defaults[name]}"
        checked += 1
    assert checked >= 6  # retries, max_timeouts, baudrate, timeout and the waits


def test_the_results_page_states_the_store_schema_version():
    assert f"Version {SCHEMA_VERSION} (`PRAGMA user_version`" in (ROOT / "docs" / "results.md").read_text()


# Keysight E36312A data sheet: output 1 is 6 V / 5 A, outputs 2 and 3 are 25 V / 1 A
E36312A = {1: (6.0, 5.0), 2: (25.0, 1.0), 3: (25.0, 1.0)}


def test_the_example_bench_binds_its_supply_within_the_supplys_real_ratings():
    st = open_station(str(ROOT / "stations" / "example_bench.yaml"))
    rails = {}
    for g in st.roles["psu"].guardrails:
        rails.setdefault(dict(g.where).get("channel"), {})[g.param] = g.high
    assert st.roles["psu"].driver_name == "keysight.e36312a"
    for channel, (volts, amps) in E36312A.items():
        assert rails[channel]["voltage"] <= volts and rails[channel]["current_limit"] <= amps
    # and, as its comment says, the whole-sled power-on is refused against it before anything runs
    with pytest.raises(InvalidInput, match=r"voltage = 12 V is above the station limit"):
        validate(str(ROOT / "procedures" / "sled_bringup.yaml"), st, {})
