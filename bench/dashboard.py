"""Dashboard cost: CPU of the live view at 4 Hz, and how long a watcher's poll takes, under load.

    python bench/dashboard.py [--seconds 10] [--rate 20000] [--chips 16]

A writer process plays a 16-chip sled's runner: it feeds a results store 20 000 telemetry
samples a second over 64 channels (tj, hbm_temp, power, vdd_core per chip), with a measurement
and an event each second, on a real clock. In this process:

1. the dashboard exactly as `bringup run` shows it (`live_view`, its own thread, rendering at
   4 Hz to a 120x40 terminal that discards its bytes) while the main thread only waits; the
   process's CPU time over wall time is the dashboard's share of one core. Target <= 5 %.
2. a watcher (`RunView.poll`, what `bringup watch` does each frame) polled at 4 Hz; median and
   90th percentile of one poll. Target <= 10 ms at the median.
3. the baseline, in the same run against the same writer: a bare `StoreReader` tail through its
   public calls (run, phases, events since id, samples since id), which hands every new sample to
   Python.

Ends with one line of JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from bringup.store import Measurement

PROCEDURE = """\
procedure: bench-sled
requires: {sled: sled}
monitors:
  - read: sled.max_tj
    every: 100 ms
    limit: {high: 105 degC}
phases:
  - id: soak
    steps:
      - soak: {duration: 8 h, every: 1 s}
        steps:
          - measure: sled.max_tj
            limit: {high: 95 degC}
"""
METRICS = (("tj", "degC", 85.0), ("hbm_temp", "degC", 77.0), ("power", "W", 700.0), ("vdd_core", "V", 0.75))


def writer(path: Path, proc: Path, rate: float, seconds: float, chips: int) -> None:
    """The runner's side: a steady stream of samples on the real clock, then a clean end."""
    from bringup.core.clock import RealClock
    from bringup.store import Store

    clock = RealClock()
    channels = [(f"sled.chip{c}.{m}", unit, base + c * 0.01) for c in range(chips) for m, unit, base in METRICS]
    with Store(path, durable_sync="normal") as db:
        t0 = clock.now()
        run = db.begin_run(procedure="bench-sled", version="0", procedure_path=str(proc),
                           procedure_sha256=hashlib.sha256(PROCEDURE.encode()).hexdigest(), dut="SN-BENCH",
                           station="bench", parameters={}, meta={"speed": None, "telemetry_every": 1.0},
                           clock="real", t=0.0)
        db.phase(run, "soak", state="pending", t=0.0, order=0)
        db.phase(run, "soak", state="running", t=0.0)
        db.event(run, 0.0, "soak", "soak: soak for 28800 s, sampling every 1 s (28801 samples)",
                 data={"duration": 28800.0, "every": 1.0, "samples": 28801})
        written, next_second, i = 0, 1.0, 0
        n = len(channels)
        while True:
            t = clock.now() - t0
            if t >= seconds:
                break
            due = int(t * rate)
            while written < due:  # round robin over the channels, each sample at its due time
                name, unit, base = channels[i]
                db.sample(run, name, written / rate, base + (i % 7) * 0.01, unit)
                written += 1
                i = i + 1 if i + 1 < n else 0
            if t >= next_second:
                db.measurement(Measurement(run_id=run, path="soak", name="sled.max_tj", value=85.2, unit="degC",
                                           low=None, high=95.0, verdict="PASS", t=t, coords={"t": f"{int(t)}"}))
                db.event(run, t, "heartbeat", f"{written} samples")
                next_second += 1.0
            clock.sleep(0.005)
        db.phase(run, "soak", state="passed", t=seconds, verdict="PASS")
        db.end_run(run, state="passed", verdict="PASS", exit_code=0, t=seconds)
    print(json.dumps({"samples": written, "seconds": seconds, "rate": written / seconds}), flush=True)


class Sink:
    """A terminal that keeps nothing: counts the bytes and frames the dashboard sends it."""

    def __init__(self) -> None:
        self.bytes = 0
        self.flushes = 0

    def write(self, s: str) -> int:
        self.bytes += len(s)
        return len(s)

    def flush(self) -> None:
        self.flushes += 1

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        raise OSError("not a real terminal")


def wait_for_samples(path: Path, n: int) -> int:
    from bringup.store import StoreError, StoreReader

    pause = threading.Event()
    while True:
        try:
            with StoreReader(path) as r:
                run = r.latest_run_id()
                if run is not None and r.channels(run) and len(r.samples(run, since_id=0)) >= n:
                    return run
        except StoreError:
            pass
        pause.wait(0.1)


def dashboard_cpu(path: Path, run_id: int, seconds: float) -> dict:
    from rich.console import Console

    from bringup.dashboard.live import live_view

    sink = Sink()
    console = Console(file=sink, force_terminal=True, width=120, height=40, color_system="truecolor")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    with live_view(path, lambda: run_id, console=console, refresh_hz=4.0):
        threading.Event().wait(seconds)  # the "run": this thread does nothing but wait
        cpu1, wall1 = time.process_time(), time.perf_counter()
    wall = wall1 - wall0
    return {"cpu_pct": (cpu1 - cpu0) / wall * 100.0, "frames": sink.flushes, "kib_per_frame":
            sink.bytes / max(1, sink.flushes) / 1024, "seconds": wall}


def poll_times(poll, seconds: float, hz: float = 4.0) -> list[float]:
    times = []
    pause = threading.Event()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        poll()
        times.append((time.perf_counter() - t0) * 1000.0)
        pause.wait(max(0.0, 1.0 / hz - (time.perf_counter() - t0)))
    return times


def watcher_polls(path: Path, run_id: int, seconds: float) -> list[float]:
    from bringup.dashboard.feed import StoreFeed
    from bringup.dashboard.model import RunView

    view = RunView(StoreFeed(path), run_id)
    view.poll()  # attaching (loads the recent window) is not a steady-state poll
    return poll_times(view.poll, seconds)


def baseline_polls(path: Path, run_id: int, seconds: float) -> list[float]:
    from bringup.store import StoreReader

    reader = StoreReader(path)
    last = {"event": 0, "sample": max((s["id"] for s in reader.samples(run_id)), default=0)}

    def poll() -> None:
        with reader.snapshot():
            reader.run(run_id)
            reader.phases(run_id)
            for e in reader.events(run_id, since_id=last["event"]):
                last["event"] = e["id"]
            for s in reader.samples(run_id, since_id=last["sample"]):
                last["sample"] = s["id"]
    return poll_times(poll, seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each measurement")
    ap.add_argument("--rate", type=float, default=20_000.0, help="samples per second into the store")
    ap.add_argument("--chips", type=int, default=16, help="chips on the sled (4 channels each)")
    ap.add_argument("--writer", nargs=2, metavar=("STORE", "PROCEDURE"), help=argparse.SUPPRESS)
    ap.add_argument("--writer-seconds", type=float, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.writer:
        writer(Path(args.writer[0]), Path(args.writer[1]), args.rate, args.writer_seconds, args.chips)
        return
    with tempfile.TemporaryDirectory() as d:
        store, proc = Path(d) / "runs.sqlite", Path(d) / "bench-sled.yaml"
        proc.write_text(PROCEDURE)
        total = 2.0 + 3 * args.seconds + 2.0
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                                            os.environ.get("PYTHONPATH", "")])}
        child = subprocess.Popen([sys.executable, __file__, "--writer", str(store), str(proc), "--rate",
                                  str(args.rate), "--chips", str(args.chips), "--writer-seconds", str(total)],
                                 stdout=subprocess.PIPE, text=True, env=env)
        run_id = wait_for_samples(store, int(args.rate))  # a second of load before measuring
        dash = dashboard_cpu(store, run_id, args.seconds)
        ours = watcher_polls(store, run_id, args.seconds)
        base = baseline_polls(store, run_id, args.seconds)
        written = json.loads(child.communicate(timeout=total + 60)[0].strip().splitlines()[-1])
    med, p90 = statistics.median(ours), statistics.quantiles(ours, n=10)[-1]
    bmed = statistics.median(base)
    channels = args.chips * len(METRICS)
    print(f"load: {written['rate']:.0f} samples/s into the store over {channels} channels ({args.chips} chips)")
    print(f"dashboard (live_view, 4 Hz, 120x40): {dash['cpu_pct']:.2f} % of one core, {dash['frames']} frames "
          f"in {dash['seconds']:.1f} s, {dash['kib_per_frame']:.1f} KiB/frame  "
          f"(target <= 5 %: {'met' if dash['cpu_pct'] <= 5 else 'MISSED'})")
    print(f"watcher poll (RunView.poll): median {med:.2f} ms, p90 {p90:.2f} ms over {len(ours)} polls  "
          f"(target <= 10 ms median: {'met' if med <= 10 else 'MISSED'})")
    print(f"baseline (bare StoreReader tail of every sample): median {bmed:.2f} ms over {len(base)} polls; "
          f"ratio baseline/watcher {bmed / med:.1f}x")
    print(json.dumps({"bench": "dashboard", "samples_per_s": round(written["rate"]), "channels": channels,
                      "dashboard_cpu_pct": round(dash["cpu_pct"], 2), "dashboard_frames": dash["frames"],
                      "watcher_poll_median_ms": round(med, 3), "watcher_poll_p90_ms": round(p90, 3),
                      "baseline_poll_median_ms": round(bmed, 3), "ratio_baseline_over_watcher": round(bmed / med, 2)}))


if __name__ == "__main__":
    main()
