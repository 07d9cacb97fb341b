"""Several readers (threads and processes) follow a run while the one writer keeps writing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import threading

from bringup.store import Measurement, Store, StoreReader

RUN = dict(procedure="soak", version="1", procedure_path="soak.yaml", procedure_sha256="0", dut="SN1",
           station="sim", parameters={}, meta={}, clock="sim")
TICKS = 3000


def test_readers_polling_events_since_id_see_every_event_once_in_order(tmp_path):
    path = tmp_path / "runs.sqlite"
    store = Store(path, batch_interval=0.005)
    run = store.begin_run(**RUN)
    finished = threading.Event()
    views: list[list[dict]] = []
    problems: list[str] = []

    def write() -> None:
        for i in range(TICKS):
            store.event(run, float(i), "tick", str(i))
            store.sample(run, "tj", float(i), 40.0 + i / 100, "degC")
            if i % 500 == 0:  # durable commits interleaved with batches
                store.phase(run, f"phase{i // 500}", state="running", t=float(i))
        store.flush()
        finished.set()

    def follow() -> None:
        reader, seen, last = StoreReader(path), [], 0
        while True:
            done = finished.is_set()  # read before polling, so the last poll sees everything
            for event in reader.events(run, since_id=last):
                if event["id"] <= last:
                    problems.append(f"id {event['id']} after {last}")
                last = event["id"]
                seen.append(event)
            if done:
                break
            finished.wait(0.002)
        views.append(seen)

    # A reader holding one read transaction open for the whole run must not stall the writer.
    long_reader = StoreReader(path)
    with long_reader.snapshot():
        before = len(long_reader.samples(run))
        threads = [threading.Thread(target=follow) for _ in range(3)] + [threading.Thread(target=write)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(long_reader.samples(run)) == before  # its moment, not the writer's
    store.close()

    assert problems == []
    everything = StoreReader(path).events(run)
    ticks = [e["message"] for e in everything if e["kind"] == "tick"]
    assert ticks == [str(i) for i in range(TICKS)]
    assert len(views) == 3
    for seen in views:
        assert seen == everything
    assert len(long_reader.samples(run)) == TICKS


def test_writer_commits_past_checkpoints_while_a_reader_holds_an_old_snapshot(tmp_path):
    path = tmp_path / "runs.sqlite"
    n = 150_000  # several MB of WAL: past SQLite's automatic checkpoint threshold (1000 pages)
    with Store(path) as store:
        run = store.begin_run(**RUN)
        store.sample(run, "tj", -1.0, 0.0)
        store.flush()
        reader = StoreReader(path)
        with reader.snapshot():
            assert reader.channels(run)[0]["last_t"] == -1.0
            for i in range(n):
                store.sample(run, "tj", float(i), float(i))
            store.flush()
            assert os.path.getsize(f"{path}-wal") > 1000 * 4096
            assert reader.channels(run)[0]["last_t"] == -1.0  # still its own moment
        assert reader.channels(run)[0]["last_t"] == float(n - 1)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] == n + 1
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_a_reader_in_another_process_sees_the_live_run(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        run = store.begin_run(**RUN)
        store.phase(run, "soak", state="running", t=0.0)
        for i in range(100):
            store.sample(run, "tj", float(i), 50.0)
        store.measurement(Measurement(run_id=run, path="soak/0", name="tj", value=96.0, unit="degC", low=None,
                                      high=95.0, verdict="FAIL", t=100.0))
        code = ("import json, sys; from bringup.store import StoreReader; r = StoreReader(sys.argv[1]); "
                "run = r.runs()[0]; print(json.dumps([run['state'], run['n_fail'], "
                "len(r.samples(run['id'])), [p['state'] for p in r.phases(run['id'])]]))")
        child = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=True)
        assert json.loads(child.stdout) == ["running", 1, 100, ["running"]]
        store.end_run(run, state="failed", verdict="FAIL", exit_code=1, t=101.0)


def test_a_producer_faster_than_the_disk_waits_instead_of_losing_records(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path, max_pending=64) as store:
        run = store.begin_run(**RUN)
        for i in range(5000):
            store.sample(run, "tj", float(i), float(i))
    values = [s["value"] for s in StoreReader(path).samples(run)]
    assert values == [float(i) for i in range(5000)]


def test_runner_threads_sharing_one_store(tmp_path):
    path = tmp_path / "runs.sqlite"
    with Store(path) as store:
        runs = [store.begin_run(**{**RUN, "dut": f"SN{k}"}) for k in range(3)]

        def runner(run: int) -> None:
            for i in range(300):
                store.measurement(Measurement(run_id=run, path=f"m/{i}", name="v", value=float(i), unit="V",
                                              low=None, high=None, verdict="FAIL" if i % 100 == 0 else "PASS",
                                              t=float(i)))

        threads = [threading.Thread(target=runner, args=(run,)) for run in runs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    reader = StoreReader(path)
    for run in runs:
        ms = reader.measurements(run)
        assert [m["value"] for m in ms] == [float(i) for i in range(300)]
        assert reader.run(run)["n_fail"] == 3
