"""Any unicode a procedure can contain - names, step paths, coordinates, messages - round-trips."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bringup.store import Measurement, Store, StoreReader

names = st.text(min_size=0, max_size=40)  # any code point but lone surrogates, NUL included
finite = st.floats(allow_nan=False, allow_infinity=False)
coord_values = st.one_of(finite, st.integers(min_value=-(2 ** 70), max_value=2 ** 70), names,
                         st.booleans(), st.none(), st.lists(finite, max_size=3))
coords = st.one_of(st.none(), st.dictionaries(names, coord_values, min_size=1, max_size=5))

measurement = st.tuples(names, names, st.one_of(st.none(), finite), names, coords,
                        st.sampled_from(["PASS", "FAIL", "UNKNOWN"]), st.one_of(st.none(), names))
sample = st.tuples(names, finite, names)


def same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(dut=names, phase=names, ms=st.lists(measurement, max_size=6), ss=st.lists(sample, max_size=6),
       message=names, data=coords)
def test_unicode_round_trips(dut, phase, ms, ss, message, data):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "runs.sqlite"
        with Store(path) as store:
            run = store.begin_run(procedure=phase, version="1", procedure_path=message,
                                  procedure_sha256="0", dut=dut, station="s",
                                  parameters={phase: message}, meta=data or {}, clock="sim")
            store.phase(run, phase, state="running", t=0.0, reason=message)
            for i, (path_, name, value, unit, c, verdict, msg) in enumerate(ms):
                store.measurement(Measurement(run_id=run, path=path_, name=name, value=value, unit=unit, low=None,
                                              high=None, verdict=verdict, t=float(i), coords=c, message=msg))
            for i, (channel, value, unit) in enumerate(ss):
                store.sample(run, channel, float(i), value, unit)
            store.event(run, 1.0, phase, message, data=data)
        with StoreReader(path) as reader:
            got = reader.run(run)
            assert (got["dut"], got["procedure"], got["procedure_path"]) == (dut, phase, message)
            assert same(got["parameters"], {phase: message}) and same(got["meta"], data or {})
            assert [(p["phase_id"], p["reason"]) for p in reader.phases(run)] == [(phase, message)]
            back = reader.measurements(run)
            assert len(back) == len(ms)
            for m, (path_, name, value, unit, c, verdict, msg) in zip(back, ms):
                assert (m["path"], m["name"], m["unit"], m["verdict"], m["message"]) == \
                    (path_, name, unit, verdict, msg)
                assert same(m["value"], value) and same(m["coords"], c)
            assert [(s["channel"], s["value"], s["unit"]) for s in reader.samples(run)] == ss
            event = [e for e in reader.events(run) if e["kind"] == phase and e["message"] == message]
            assert len(event) >= 1 and same(event[-1]["data"], data)
