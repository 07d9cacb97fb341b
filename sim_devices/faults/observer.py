"""What the simulator saw by the end of a run: the half of the ground truth a procedure cannot fake.

A run's own records say what the procedure measured and did; this says what the physics really
was when it stopped, so a test can hold one against the other: is every rail really off, is the
cooling really still on, did any junction ever reach the trip temperature, did the hardware have
to protect itself (thermal trip, HBM CATTRIP) because the procedure did not act first.

Small and JSON-serialisable on purpose: it is stored with every run as part of its ground truth.
"""

from __future__ import annotations

import math
from typing import Any

from bringup.sim_devices.power.railbank import PHASE_NAMES
from bringup.sim_devices.thermal.thermal import DIE, NODES

#: Regulator phases in which a rail is driving (or about to drive) its output.
_DRIVING = frozenset({"delay", "rise", "on", "hiccup", "current_limit"})
#: A rail whose output is above this share of its nominal voltage is not off (PHYSICS.md §2:
#: each rail below ~10 % before the next one goes down).
_OFF_FRACTION = 0.10
#: Hardware self-protection, as the engine logs it: the procedure should have acted before these.
_TRIP_WORDS = ("thermal trip", "CATTRIP")
_MAX_TRIPS = 16


def observe(lab: Any) -> dict[str, Any]:
    """The sled and its cooling at the lab's present time, plus what the whole run reached."""
    sled = lab.sled
    t = sled.sync()
    engine = sled.engine
    chips = [_chip(engine, c) for c in range(sled.n_chips)]
    limits = sled.config.limits
    # before the first physics step there is no running peak: the junctions as they are
    peak = engine.tj_peak if math.isfinite(engine.tj_peak) else float(engine.thermal.x[DIE::NODES].max())
    trips = [{"t": round(tt, 3), "text": text} for tt, severity, text in sled.events()
             if severity == "critical" and any(w in text for w in _TRIP_WORDS)]
    return {
        "t": t,
        "rails_all_off": not any(ch["rails_on"] for ch in chips),
        "chips": chips,
        "cooling": _cooling(lab),
        "tj_peak_c": round(float(peak), 3),
        "tj_peak_t": engine.tj_peak_t,
        "limits": {"trip_c": float(limits.trip_c), "hbm_cattrip_c": float(engine.hbm_cattrip_c)},
        "trips": trips[:_MAX_TRIPS],
        "trips_total": len(trips),
    }


def _chip(engine: Any, c: int) -> dict[str, Any]:
    """Rails still on by the regulator's own state and by the true output (not a sensor's word)."""
    bank = engine.bank
    on: dict[str, str] = {}
    for reg in engine.chips[c].regulators:
        phase = PHASE_NAMES[int(bank.phase[c, reg.index])]
        vout = float(bank.vout[c, reg.index])
        if phase in _DRIVING or vout > _OFF_FRACTION * float(bank.vnom[c, reg.index]):
            on[reg.name] = phase
    ch = engine.chips[c]
    return {"chip": c, "rails_on": on, "boot": ch.boot.state, "tripped": ch.tripped}


def _cooling(lab: Any) -> dict[str, Any]:
    """Liquid: the CDU running and coolant reaching the sled. Air: the fans spinning."""
    status = lab.sled.coolant_status()
    common = {"cooling_ok": status.get("cooling_ok"), "leak": bool(status.get("leak"))}
    if status.get("cooling") == "air":
        rpm = [round(float(r)) for r in status.get("fan_rpm") or []]
        return {"kind": "air", "on": any(r > 0 for r in rpm), "fan_rpm": rpm, **common}
    running = bool(getattr(lab.chiller, "running", False))
    flow = float(status.get("flow") or 0.0)
    return {"kind": "liquid", "on": running and flow > 0.0, "chiller_running": running,
            "flow_lpm": round(flow, 3), "pump_ok": bool(status.get("pump_ok")), **common}
