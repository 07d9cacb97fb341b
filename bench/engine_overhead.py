"""Engine overhead: microseconds per measurement and per phase, bringup vs OpenHTF, same shape, one run.

    python bench/engine_overhead.py            # needs the optional extra: pip install '.[bench]'

bringup runs N phases x M measurements against the in-memory fake multimeter with the SQLite
store on (every measurement written to disk). OpenHTF runs the same shape: N phases, each
declaring M measurements with an in-range validator and setting each from the same kind of
in-memory reading. Two shapes separate the costs: many measurements in few phases gives the
per-measurement cost; many phases of one measurement gives the per-phase cost.
Targets for bringup: <= 10 us per measurement and <= 100 us per phase. The same shapes with the
store replaced by a sink show the engine's own share; the rest is SQLite (a phase ends with a
durable commit, whose floor on a virtual disk is ~75-100 us for a single row).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import statistics
import sys
import tempfile
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from bringup.run import session
from bringup.check.station import load_station

STATION = """
station: bench
clock: simulated
roles:
  dmm: {driver: fake.multimeter, options: {source_v: 0.75}}
"""


def bringup_procedure(phases: int, measures: int) -> str:
    """N phases of M measurements. M > 1 is a `for_each` over M points of one measure step (each
    point a step run and recorded on its own, with its coordinates): 5 x 2000 written-out steps
    would pass the 50,000-node bound on a procedure document (docs/procedures.md, "Bounds")."""
    lines = ["procedure: overhead", "requires: {dmm: multimeter}", "phases:"]
    measure = ["measure: dmm.voltage_dc", "name: m", "limit: {low: 0 V, high: 10 V}"]
    for p in range(phases):
        lines += [f"  - id: p{p}", "    on_fail: continue", "    steps:"]
        if measures == 1:
            lines += ["      - " + measure[0]] + [f"        {x}" for x in measure[1:]]
        else:
            lines += [f"      - for_each: {{i: [{', '.join(map(str, range(measures)))}]}}", "        steps:",
                      "          - " + measure[0]] + [f"            {x}" for x in measure[1:]]
    return "\n".join(lines) + "\n"


class NoStore:
    """Accepts every record and keeps none: isolates the engine's own cost from SQLite's."""

    def begin_run(self, **_: object) -> int:
        return 1

    def __getattr__(self, _name: str):
        return lambda *a, **k: None


def time_bringup(phases: int, measures: int, tmp: Path, store: bool = True) -> float:
    proc = tmp / f"p{phases}x{measures}.yaml"
    proc.write_text(bringup_procedure(phases, measures))
    st = tmp / "station.yaml"
    st.write_text(STATION)
    prepared = session.prepare(proc, load_station(st))
    db = session.open_store(tmp / f"runs-{phases}x{measures}-{time.perf_counter_ns()}.sqlite", prepared) \
        if store else NoStore()
    try:
        t0 = time.perf_counter()
        result = session.run(prepared, db, dut="bench", telemetry_every=None)
        elapsed = time.perf_counter() - t0
    finally:
        if store:
            db.close()
    assert result.exit_code == 0, result
    return elapsed


def time_openhtf(phases: int, measures: int) -> float:
    import openhtf as htf

    logging.getLogger("openhtf").setLevel(logging.ERROR)

    def reading() -> float:
        return 0.75

    def make_phase(index: int):
        names = [f"m{m}" for m in range(measures)]

        def phase(test):
            for n in names:
                test.measurements[n] = reading()
        phase.__name__ = f"p{index}"
        return htf.measures(*[htf.Measurement(n).in_range(0, 10) for n in names])(phase)

    test = htf.Test(*[make_phase(i) for i in range(phases)])
    sink = io.StringIO()
    with redirect_stdout(sink), redirect_stderr(sink):
        t0 = time.perf_counter()
        test.execute(test_start=lambda: "bench")
        elapsed = time.perf_counter() - t0
    return elapsed


def per_unit(timer, big_m: tuple[int, int], big_n: tuple[int, int], repeats: int) -> tuple[float, float]:
    """(us per measurement, us per phase) from the median of `repeats` runs of each shape."""
    t_m = statistics.median(timer(*big_m) for _ in range(repeats))
    t_n = statistics.median(timer(*big_n) for _ in range(repeats))
    per_measure = t_m / (big_m[0] * big_m[1])
    per_phase = (t_n - big_n[0] * big_n[1] * per_measure) / big_n[0]
    return per_measure * 1e6, per_phase * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--measures", type=int, default=2000, help="measurements per phase in the measurement shape")
    ap.add_argument("--phases", type=int, default=500, help="phases in the phase shape")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    m_shape, n_shape = (5, args.measures), (args.phases, 1)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        time_bringup(2, 10, tmp)  # warm imports and caches
        b_meas, b_phase = per_unit(lambda n, m: time_bringup(n, m, tmp), m_shape, n_shape, args.repeats)
        e_meas, e_phase = per_unit(lambda n, m: time_bringup(n, m, tmp, store=False), m_shape, n_shape,
                                   args.repeats)
    try:
        o_meas, o_phase = per_unit(time_openhtf, m_shape, n_shape, args.repeats)
    except ImportError:
        print("OpenHTF is not installed (pip install '.[bench]'); bringup figures only", file=sys.stderr)
        o_meas = o_phase = float("nan")
    print(f"shape: {m_shape[0]} phases x {m_shape[1]} measurements; {n_shape[0]} phases x 1 measurement")
    print(f"{'':14}{'us/measurement':>16}{'us/phase':>12}")
    print(f"{'bringup':14}{b_meas:16.2f}{b_phase:12.1f}   (store on: every result on disk)")
    print(f"{'  engine only':14}{e_meas:16.2f}{e_phase:12.1f}   (store off: what SQLite adds is the difference)")
    print(f"{'OpenHTF':14}{o_meas:16.2f}{o_phase:12.1f}   (record in memory)")
    print(f"{'ratio':14}{o_meas / b_meas:15.1f}x{o_phase / b_phase:11.1f}x   (OpenHTF / bringup)")
    print(f"targets: bringup <= 10 us/measurement ({'met' if b_meas <= 10 else 'MISSED'}), "
          f"<= 100 us/phase ({'met' if b_phase <= 100 else 'MISSED'})")
    print(json.dumps({"bench": "engine_overhead", "bringup_us_per_measurement": round(b_meas, 3),
                      "bringup_us_per_phase": round(b_phase, 2), "engine_only_us_per_measurement": round(e_meas, 3),
                      "engine_only_us_per_phase": round(e_phase, 2), "openhtf_us_per_measurement": round(o_meas, 3),
                      "openhtf_us_per_phase": round(o_phase, 2),
                      "ratio_measurement": round(o_meas / b_meas, 2), "ratio_phase": round(o_phase / b_phase, 2)}))


if __name__ == "__main__":
    main()
