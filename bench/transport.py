"""Transport cost: what the simulated instruments and the runner add to a round trip on loopback.

    python bench/transport.py [--n 500] [--rounds 12]

All against the same simulated E36312A on 127.0.0.1, in one run:
  echo      a raw-socket client against a raw-socket echo server written the same way as the
            instrument server (thread per client, line framing): the floor for any answer
  socket    the same raw-socket client asking the simulated supply `MEAS:CURR? (@1)`
  pyvisa    a plain pyvisa-py TCPIP SOCKET session asking the same query
  measure   a `measure: psu.current` step through the runner (bringup.run.session, the real
            KeysightE36312A driver, the SQLite results store on), timed between consecutive steps

Prints the median microseconds of each and the ratios, then one line of JSON.

The process is pinned to one CPU (`--cpu`, or `--no-pin`): client and server threads share one
interpreter, and on a loaded two-core machine whether a wake-up crosses cores decides 20 us
either way, per connection, drowning what is being measured.
Targets: socket <= 1.5 x echo (the simulated instrument answers nearly as fast as an echo);
measure <= 1.2 x pyvisa (the runner and driver add little to the VISA round trip).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyvisa

from bringup.run import session
from bringup.core.clock import SimClock
from bringup.sim_devices.instruments.scpi_server import InstrumentServer
from bringup.sim_devices.instruments.sim_psu import SimE36312A
from bringup.check.station import load_station
from bringup.store import Store

QUERY = "MEAS:CURR? (@1)"


class EchoServer:
    """The baseline: the instrument server's framing with the instrument taken out."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                *lines, buf = buf.split(b"\n")
                if lines:
                    conn.sendall(b"".join(line + b"\n" for line in lines))

    def close(self) -> None:
        self.listener.close()


def time_socket(port: int, n: int) -> list[float]:
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = (QUERY + "\n").encode()
    out = []
    with s:
        for _ in range(n):
            t0 = time.perf_counter()
            s.sendall(msg)
            buf = b""
            while not buf.endswith(b"\n"):
                buf += s.recv(4096)
            out.append(time.perf_counter() - t0)
    return out


def time_pyvisa(resource: str, n: int) -> list[float]:
    res = pyvisa.ResourceManager("@py").open_resource(resource)
    res.read_termination = res.write_termination = "\n"
    res.timeout = 2000
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        res.query(QUERY)
        out.append(time.perf_counter() - t0)
    res.close()
    return out


def time_runner(resource: str, n: int, tmp: Path) -> list[float]:
    station = tmp / "station.yaml"
    station.write_text(f"station: bench\nclock: simulated\nroles:\n"
                       f"  psu: {{driver: keysight.e36312a, resource: '{resource}'}}\n")
    steps = "".join("      - measure: psu.current\n        with: {channel: 1}\n        limit: {high: 2 A}\n"
                    for _ in range(n))
    proc = tmp / "procedure.yaml"
    proc.write_text("procedure: transport\nrequires: {psu: power_supply}\nphases:\n  - id: p\n    steps:\n" + steps)
    prepared = session.prepare(proc, load_station(station))
    stamps: list[float] = []

    def reporter(kind: str, data: dict) -> None:
        if kind == "measurement":
            stamps.append(time.perf_counter())

    with Store(tmp / f"runs-{time.perf_counter_ns()}.sqlite") as db:
        result = session.run(prepared, db, dut="bench", reporter=reporter)
    if result.exit_code != 0:
        sys.exit(f"the runner's measure run failed: {result}")
    return [b - a for a, b in zip(stamps, stamps[1:])]


def median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=500, help="round trips per method per round")
    ap.add_argument("--rounds", type=int, default=12, help="rounds, each method in turn (evens out drift)")
    ap.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the first one allowed)")
    ap.add_argument("--no-pin", action="store_true", help="leave scheduling to the OS")
    args = ap.parse_args()
    if not args.no_pin and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))})

    clock = SimClock()
    psu = SimE36312A(clock)
    psu.handle("VOLT 5,(@1);:CURR 2,(@1);:OUTP ON,(@1)")
    echo = EchoServer()
    samples: dict[str, list[float]] = {"echo": [], "socket": [], "pyvisa": [], "measure": []}
    with InstrumentServer(psu) as server, tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.rounds):
            samples["echo"] += time_socket(echo.port, args.n)
            samples["socket"] += time_socket(server.port, args.n)
            samples["pyvisa"] += time_pyvisa(server.resource, args.n)
            samples["measure"] += time_runner(server.resource, args.n, Path(tmp))
    echo.close()

    med = {k: median_us(v) for k, v in samples.items()}
    sim_ratio = med["socket"] / med["echo"]
    runner_ratio = med["measure"] / med["pyvisa"]
    print(f"loopback round trips, {args.rounds} x {args.n} each, median:")
    print(f"  echo server (raw socket)       {med['echo']:8.1f} us")
    print(f"  simulated E36312A (raw socket) {med['socket']:8.1f} us   {sim_ratio:.2f} x echo    (target <= 1.5)")
    print(f"  simulated E36312A (pyvisa-py)  {med['pyvisa']:8.1f} us")
    print(f"  runner measure step            {med['measure']:8.1f} us   {runner_ratio:.2f} x pyvisa  (target <= 1.2)")
    print(json.dumps({"bench": "transport", "n": args.n, "rounds": args.rounds, "pinned": not args.no_pin,
                      "echo_us": round(med["echo"], 1), "sim_socket_us": round(med["socket"], 1),
                      "pyvisa_us": round(med["pyvisa"], 1), "runner_measure_us": round(med["measure"], 1),
                      "sim_vs_echo": round(sim_ratio, 3), "runner_vs_pyvisa": round(runner_ratio, 3),
                      "sim_target_met": sim_ratio <= 1.5, "runner_target_met": runner_ratio <= 1.2}))


if __name__ == "__main__":
    main()
