"""`bringup runs` and `bringup report`: what a person reads after a night's run."""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner
from rich.console import Console

from bringup.commands.results import report_command, runs_command
from bringup.outputs.report import load_report, render_rich, render_text
from bringup.store import Measurement, Store, StoreReader

RUN = dict(procedure="sled-bringup", version="2.0", procedure_path="procedures/sled.yaml",
           procedure_sha256="c0ffee" * 10, dut="SN-0042", station="sim-bench", parameters={},
           meta={}, clock="sim")


def record_night(store: Store) -> int:
    run = store.begin_run(**RUN, t=0.0)
    for order, phase in enumerate(("power_on", "links", "soak", "stress")):
        store.phase(run, phase, state="pending", t=0.0, order=order)
    store.phase(run, "power_on", state="running", t=0.0)
    store.measurement(Measurement(run_id=run, path="power_on/3", name="standby current", value=1.5, unit="A",
                                  low=None, high=2.0, verdict="PASS", t=1.0))
    store.measurement(Measurement(run_id=run, path="power_on/5", name="[VDD_CORE] voltage", value=0.751, unit="V",
                                  low=0.7275, high=0.7725, verdict="PASS", t=2.0))
    store.phase(run, "power_on", state="passed", t=2.5, verdict="PASS")
    store.phase(run, "links", state="running", t=2.5)
    store.measurement(Measurement(run_id=run, path="links/0/prbs_ber", name="prbs_ber", value=1e-15, unit="",
                                  low=None, high=1e-12, verdict="PASS", t=10.0, coords={"port": 0}))
    store.measurement(Measurement(run_id=run, path="links/0/prbs_ber", name="prbs_ber", value=3.2e-11, unit="",
                                  low=None, high=1e-12, verdict="FAIL", t=20.0,
                                  coords={"port": 2, "pattern": "PRBS31"}))
    store.measurement(Measurement(run_id=run, path="links/1/ltssm", name="ltssm state", value=None, unit="",
                                  low=None, high=None, verdict="UNKNOWN", t=25.0, message="console timeout",
                                  coords={"port": 3}))
    store.step(run, "links/1/ltssm", "measure", 24.0, 25.0, "timeout", message="console timeout")
    store.event(run, 26.0, "monitor", "max_tj 96.2 degC above 95 degC", severity="warning")
    store.phase(run, "links", state="failed", t=91.25, verdict="FAIL", reason="1 FAIL, 1 UNKNOWN")
    store.phase(run, "soak", state="skipped", t=91.25, reason="gate: links did not pass")
    store.end_run(run, state="failed", verdict="FAIL", exit_code=1, t=92.0, reason="links failed")
    return run


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        record_night(store)
    return path


def invoke(command, *args):
    return CliRunner().invoke(command, [str(a) for a in args])


def test_report_shows_phases_failures_and_counts(store_path):
    result = invoke(report_command, "1", "--store", store_path)
    assert result.exit_code == 0, result.output
    out = result.stdout
    lines = out.splitlines()
    assert "Run 1: sled-bringup 2.0 on DUT SN-0042 at station sim-bench" in out
    assert "state failed, verdict FAIL, exit code 1" in out and "reason: links failed" in out

    def row(first: str) -> list[str]:
        return next(line.split() for line in lines if line.split()[:2] == first.split())

    # one duration format, H:MM:SS with a tenth, truncated like a timer: 88.75 s is 0:01:28.7
    assert row("1 power_on") == ["1", "power_on", "passed", "PASS", "0:00:02.5"]
    assert row("2 links")[2:6] == ["failed", "FAIL", "0:01:28.7", "1"]
    assert "1 FAIL, 1 UNKNOWN" in " ".join(row("2 links"))
    assert row("3 soak") == ["3", "soak", "skipped", "-", "-", "gate:", "links", "did", "not", "pass"]
    assert row("4 stress") == ["4", "stress", "pending", "-", "-"]

    fail = next(line for line in lines if line.split()[:1] == ["FAIL"])
    assert "links/0/prbs_ber" in fail and "3.2e-11" in fail and "<= 1e-12" in fail
    assert "port=2, pattern=PRBS31" in fail
    unknown = next(line for line in lines if line.split()[:1] == ["UNKNOWN"])
    assert "links/1/ltssm" in unknown and "none (console timeout)" in unknown and "port=3" in unknown
    assert "standby current" not in out and "[VDD_CORE] voltage" not in out  # PASS is not listed
    assert "max_tj 96.2 degC above 95 degC" in out
    assert "5 measurements (3 PASS, 1 FAIL, 1 UNKNOWN)" in out
    assert "1 step (0 ok, 1 timeout)" in out
    assert "4 phases (1 failed, 1 passed, 1 pending, 1 skipped)" in out


def test_report_without_a_run_shows_the_latest(store_path):
    with Store(store_path) as store:
        second = record_night(store)
    result = invoke(report_command, "--store", store_path)
    assert result.exit_code == 0
    assert result.stdout.startswith(f"Run {second}:")


def test_every_failing_point_of_a_sweep_is_listed(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run = store.begin_run(**RUN)
        for i in range(200):
            v = round(0.80 - i * 0.001, 3)
            store.measurement(Measurement(run_id=run, path="vmin/sweep/stress_check", name="stress_check", value=v,
                                          unit="V", low=0.70, high=None, verdict="FAIL" if v < 0.70 else "PASS",
                                          t=float(i), coords={"voltage": v}))
    out = invoke(report_command, run, "--store", path).stdout
    failing = [line for line in out.splitlines() if line.split()[:1] == ["FAIL"]]
    assert len(failing) == 99
    assert "voltage=0.699" in failing[0] and "voltage=0.601" in failing[-1]


@pytest.mark.parametrize("args, says", [
    (["99"], "no run 99 in"),
    (["not-a-number"], "is not a run id"),
])
def test_report_of_an_unknown_run_is_one_line_and_exit_2(store_path, args, says):
    result = invoke(report_command, *args, "--store", store_path)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and says in result.stderr and "Traceback" not in result.stderr
    assert "`bringup runs" in result.stderr  # what to do next


@pytest.mark.parametrize("command", [report_command, runs_command])
def test_a_missing_store_is_one_line_and_exit_2(tmp_path, command):
    missing = tmp_path / "nowhere" / "runs.sqlite"
    result = invoke(command, "--store", missing)
    assert result.exit_code == 2
    assert result.stderr == f"error: no results store at {missing}; run a procedure first, or pass " \
                            f"--store (or set BRINGUP_STORE) to where its results are\n"


def test_runs_lists_ids_newest_first_with_live_and_finished_runs(store_path, monkeypatch):
    with Store(store_path) as store:
        live = store.begin_run(**{**RUN, "dut": "SN-0043"})
        result = invoke(runs_command, "--store", store_path)
    assert result.exit_code == 0
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0][:5] == ["ID", "STARTED", "(UTC)", "STATE", "VERDICT"]
    assert [r[0] for r in rows[1:]] == [str(live), "1"]
    assert rows[1][2:4] == ["running", "-"] and rows[1][-1] == "SN-0043"
    assert rows[2][2:6] == ["failed", "FAIL", "1", "1"]
    monkeypatch.setenv("BRINGUP_STORE", str(store_path))  # the default store comes from the env
    assert invoke(runs_command, "--limit", "1").stdout.splitlines()[1].split()[0] == str(live)


def test_runs_of_an_empty_store(tmp_path):
    path = tmp_path / "runs.sqlite"
    Store(path).close()
    result = invoke(runs_command, "--store", path)
    assert (result.exit_code, result.stdout) == (0, f"no runs in {path}\n")


def test_terminal_rendering_shows_the_same_facts(store_path):
    report = load_report(StoreReader(store_path), 1)
    buffer = io.StringIO()
    render_rich(report, Console(file=buffer, force_terminal=True, width=200, color_system=None))
    rich_out = buffer.getvalue()
    for fact in ("power_on", "passed", "gate: links did not pass", "links/0/prbs_ber", "3.2e-11",
                 "<= 1e-12", "port=2, pattern=PRBS31", "none (console timeout)",
                 "5 measurements (3 PASS, 1 FAIL, 1 UNKNOWN)"):
        assert fact in rich_out and fact in render_text(report)


def test_brackets_in_names_are_text_not_markup(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run = store.begin_run(**RUN)
        store.measurement(Measurement(run_id=run, path="[bold]rail[/bold]", name="[red]x", value=1.0, unit="V",
                                      low=0, high=0.5, verdict="FAIL", t=1.0, message="line one\nline two"))
    report = load_report(StoreReader(path), run)
    buffer = io.StringIO()
    render_rich(report, Console(file=buffer, force_terminal=True, width=200, color_system=None))
    assert "[bold]rail[/bold]" in buffer.getvalue() and "[red]x" in buffer.getvalue()
    text = render_text(report)
    assert "[bold]rail[/bold]" in text and "(line one\\nline two)" in text
