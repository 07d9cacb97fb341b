"""Soaks keep to the run clock (issue 20): a soak of duration D every E takes its samples at
0, E, 2E, ... strictly before D, ends at D, and each sample carries the time it was taken.

Before, a soak took D/E + 1 samples (the last one at D, after the soak should be over) and
labelled each with its planned time, so a soak whose steps overran read as on schedule.
"""

from __future__ import annotations

import pytest

from engine_helpers import run

HEAD = """
procedure: soaks
requires: {sled: sled, psu: power_supply}
safe_state:
  - sled.power_off
phases:
  - id: soak
    steps:
      - do: sled.power_on
"""


def _soak(tmp_path, soak: str, body: str = ""):
    out = run(tmp_path, HEAD + f"      - soak: {soak}\n        steps:\n" + body +
              "          - measure: sled.max_tj\n            limit: {high: 95 degC}\n")
    [step] = [s for s in out.reader.steps(out.run_id) if s["kind"] == "soak"]
    return out, out.measurements(), step


def test_a_soak_samples_at_each_interval_before_its_duration_and_ends_at_it(tmp_path):
    out, ms, step = _soak(tmp_path, "{duration: 2 h, every: 10 min}")
    assert [m["t"] - step["started_t"] for m in ms] == pytest.approx([600.0 * k for k in range(12)])
    assert [m["coords"]["t"] for m in ms][-2:] == ["01:40:00", "01:50:00"]  # none at 02:00:00
    assert step["ended_t"] - step["started_t"] == pytest.approx(7200.0)
    [said] = [e for e in out.reader.events(out.run_id) if e["kind"] == "soak"]
    assert said["data"]["samples"] == 12 and "(12 samples)" in said["message"]


def test_a_soak_whose_steps_overrun_its_interval_stamps_when_each_sample_was_taken(tmp_path):
    # each sample's steps take 25 s of a 10 s interval: samples at 0, 25, 50 s, then the minute is up
    out, ms, step = _soak(tmp_path, "{duration: 1 min, every: 10 s}", "          - wait: 25 s\n")
    taken = [m["t"] - step["started_t"] for m in ms]
    assert taken == pytest.approx([25.0, 50.0, 75.0])  # each measured after its sample's 25 s wait
    assert [m["coords"]["t"] for m in ms] == ["00:00:00", "00:00:25", "00:00:50"]  # not 00:00:10, 00:00:20
    assert step["ended_t"] - step["started_t"] == pytest.approx(75.0)  # the last sample's steps, then no more
    over = [e for e in out.reader.events(out.run_id) if "soak over after 3 of 6 samples" in e["message"]]
    assert over and over[0]["severity"] == "warning"


def test_an_eight_hour_soak_from_a_parameter_every_half_hour(tmp_path):
    out = run(tmp_path, HEAD.replace("procedure: soaks", "procedure: soaks\nparameters: {soak: 2 h}") +
              """      - soak: {duration: "{soak}", every: 30 min}
        steps:
          - measure: sled.max_tj
            limit: {high: 95 degC}
""", params={"soak": "8h"})
    ms = out.measurements()
    assert len(ms) == 16  # 0, 0:30, ..., 7:30: none at 8:00, when the soak is over
    assert [m["coords"]["t"] for m in ms[:3]] == ["00:00:00", "00:30:00", "01:00:00"]
    assert ms[-1]["coords"] == {"t": "07:30:00"} and ms[-1]["t"] == pytest.approx(7.5 * 3600)
    [soak] = [s for s in out.reader.steps(out.run_id) if s["kind"] == "soak"]
    assert soak["ended_t"] - soak["started_t"] == pytest.approx(8 * 3600)  # ends at D of run clock
