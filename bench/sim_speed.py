"""Simulator speed: an 8-hour soak of a 16-chip liquid-cooled sled, physics only, in seconds.

    python bench/sim_speed.py [--hours 8] [--chips 16]

The sled boots, goes to full load (stress level 1.0), and every physical sensor of every chip
(Tj, HBM, sink, coolant, power, clock, throttle reasons, every rail's V/I/T, input power, error
counters) is sampled once per simulated second through `Sled.snapshot()`. Target: under 5 s of
wall time for 8 h (more than 5,000x real time).

Also printed: how the cost scales from 1 to 16 chips (1 simulated hour each), and a baseline in
the same run: the same physics stepped chip by chip (a 5-node ZOH step, leakage, rail loads and a
sensor read per chip, the way an object-per-chip model would do it), as a ratio to the
vectorized step. The last line is one line of JSON with the figures.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from bringup.core.clock import SimClock
from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.sled.sled import Sled
from bringup.sim_devices.thermal.thermal import DIE, FLUID, NODES, ThermalNetwork


def loaded_sled(chips: int) -> tuple[Sled, SimClock]:
    clock = SimClock()
    sled = Sled(SledConfig(n_chips=chips, cooling="liquid"), clock, seed=1)
    sled.power_on()
    clock.advance(3.0)
    sled.stress_start(1.0)
    clock.advance(1.0)
    sled.snapshot()
    return sled, clock


def soak(chips: int, seconds: int) -> tuple[float, dict]:
    """Wall seconds for `seconds` simulated seconds, sampling every sensor each second."""
    sled, clock = loaded_sled(chips)
    start, cpu = time.perf_counter(), time.process_time()
    for _ in range(seconds):
        clock.advance(1.0)
        snap = sled.snapshot()
    wall = time.perf_counter() - start
    snap["cpu_s"] = np.array(time.process_time() - cpu)
    return wall, snap


def naive_soak(chips: int, seconds: int) -> float:
    """The baseline: the same per-second physics, one chip at a time."""
    cfg = SledConfig(n_chips=1)
    p, rails = cfg.power, cfg.rails
    nets = [ThermalNetwork(cfg.thermal, cfg.cooling_loop, 1, False) for _ in range(chips)]
    flows = np.array([cfg.cooling_loop.flow_per_chip])
    rng = np.random.default_rng(1)
    leak0 = p.p_leak0_w * rng.lognormal(0.0, p.leak_sigma, chips)
    act = p.activity_idle + (p.activity_compute - p.activity_idle)
    start = time.perf_counter()
    for _ in range(seconds):
        for k, net in enumerate(nets):
            tj = float(net.x[DIE])
            v = rails[0].vout
            pw = [act * p.c_eff_f * v * v * p.freq_hz
                  + leak0[k] * math.exp(p.beta_per_k * (tj - p.t0_c))]
            pw += [r.idle_w + act * (r.full_w - r.idle_w) for r in rails[1:]]
            amps = [w / r.vout for w, r in zip(pw, rails)]
            p_die = sum(w for w, r in zip(pw, rails) if not r.heats_hbm)
            p_hbm = sum(w for w, r in zip(pw, rails) if r.heats_hbm)
            u = net.inputs(np.array([p_die]), np.array([p_hbm]), cfg.cooling_loop.inlet_c)
            net.x = net.advance(net.x, 1.0, u, flows, 0)
            sample = {"tj": float(net.x[DIE]), "fluid": float(net.x[FLUID]), "amps": amps,
                      "power": sum(pw)}
    del sample
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--chips", type=int, default=16)
    args = ap.parse_args()
    seconds = int(args.hours * 3600)

    wall, snap = soak(args.chips, seconds)
    rtf = seconds / wall
    print(f"{args.hours:g} h soak, {args.chips} chips, liquid, full load, every sensor each "
          f"simulated second: {wall:.2f} s wall, {rtf:,.0f}x real time "
          f"(target < 5 s, > 5,000x): {'PASS' if wall < 5.0 else 'MISS'}")
    print(f"  process CPU time {float(snap['cpu_s']):.2f} s (wall exceeds it when other work "
          f"shares the machine)")
    print(f"  end state: max Tj {snap['tj_c'].max():.1f} C, sled power "
          f"{snap['power_w'].sum() / 1e3:.2f} kW, input {float(snap['input_w']) / 1e3:.2f} kW")

    scale_s = 3600
    scaling = {}
    print(f"scaling (1 simulated hour each):")
    for n in (1, 2, 4, 8, 16):
        w, _ = soak(n, scale_s)
        scaling[n] = {"wall_s_per_hour": round(w, 4), "rtf": round(scale_s / w),
                      "us_per_chip_second": round(w / scale_s / n * 1e6, 2)}
        print(f"  {n:2d} chips: {w:6.3f} s/h  {scale_s / w:9,.0f}x real time  "
              f"{w / scale_s / n * 1e6:6.2f} us per chip-second")

    base_s = 900
    naive = naive_soak(args.chips, base_s)
    vec, _ = soak(args.chips, base_s)
    ratio = naive / vec
    print(f"baseline, chip-by-chip stepping of {args.chips} chips ({base_s} s simulated): "
          f"{naive:.3f} s vs vectorized {vec:.3f} s: vectorized is {ratio:.1f}x faster")
    print(json.dumps({"bench": "sim_speed", "chips": args.chips, "hours": args.hours,
                      "wall_s": round(wall, 3), "cpu_s": round(float(snap["cpu_s"]), 3),
                      "rtf": round(rtf), "target_wall_s": 5.0,
                      "scaling": scaling, "naive_over_vectorized": round(ratio, 2)}))


if __name__ == "__main__":
    main()
