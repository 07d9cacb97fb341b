"""Progress and ETA of the long steps (soaks, sweeps, Vmin searches), derived from the store only.

A soak announces itself with an event (kind "soak", data {duration, every, samples}) and then
takes its samples; its progress is the run clock since that event. A sweep's measurements carry
its coordinates; its progress is the number of distinct points measured against the number the
procedure declares (from the outline), and its ETA the pace so far. Neither asks the runner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bringup.dashboard.outline import Loop


@dataclass
class Progress:
    """One long step under way: `done` of `total` (seconds of run clock, or points)."""

    label: str
    done: float
    total: float | None
    unit: str  # "s" or "points"
    eta: float | None  # run-clock seconds left at the pace so far (None: not known yet)

    @property
    def fraction(self) -> float | None:
        if not self.total:
            return None
        return max(0.0, min(1.0, self.done / self.total))


@dataclass
class _Soak:
    phase: str
    t0: float
    duration: float
    every: float
    ended: bool = False


@dataclass
class _Sweep:
    loop: Loop | None
    names: frozenset[str]
    first_t: float
    last_t: float
    points: set = field(default_factory=set)


class ProgressTracker:
    """Follows soak events, soak step records and sweep coordinates, phase by phase."""

    def __init__(self) -> None:
        self._soaks: dict[str, _Soak] = {}  # phase -> its latest soak
        self._sweeps: dict[tuple[str, frozenset[str]], _Sweep] = {}
        self._latest_sweep: dict[str, tuple[str, frozenset[str]]] = {}

    def soak_started(self, event: dict) -> None:
        data = event.get("data") or {}
        phase = str(event["message"]).split(":", 1)[0]  # the runner writes "<path>: soak for ..."
        if "duration" in data:
            self._soaks[phase] = _Soak(phase, float(event["t"]), float(data["duration"]),
                                       float(data.get("every") or 0.0))

    def step_recorded(self, path: str, kind: str) -> None:
        if kind == "soak":
            soak = self._soaks.get(path.split("/", 1)[0])
            if soak is not None:
                soak.ended = True

    def measured(self, phase: str, coords: dict[str, Any] | None, t: float, loops: list[Loop]) -> None:
        if not coords:
            return
        names = frozenset(k for k in coords if k != "t")
        if not names:
            return
        key = (phase, names)
        sweep = self._sweeps.get(key)
        if sweep is None:
            loop = next((lp for lp in loops if lp.names == names), None)
            sweep = self._sweeps[key] = _Sweep(loop, names, t, t)
        sweep.points.add(tuple(sorted((k, str(v)) for k, v in coords.items() if k != "t")))
        sweep.last_t = t
        self._latest_sweep[phase] = key

    def current(self, phase: str | None, now: float) -> list[Progress]:
        """What is under way in `phase` at run time `now`: a soak first, then the latest sweep."""
        out: list[Progress] = []
        if phase is None:
            return out
        soak = self._soaks.get(phase)
        if soak is not None and not soak.ended:
            done = min(max(0.0, now - soak.t0), soak.duration)
            out.append(Progress("soak", done, soak.duration, "s", soak.duration - done))
        key = self._latest_sweep.get(phase)
        if key is not None:
            sweep = self._sweeps[key]
            total = sweep.loop.total if sweep.loop is not None else None
            done = len(sweep.points)
            if total is None or done < total:
                label = sweep.loop.label if sweep.loop is not None else "sweep " + ", ".join(sorted(sweep.names))
                eta = None
                if total is not None and done > 1 and sweep.last_t > sweep.first_t:
                    eta = (sweep.last_t - sweep.first_t) / (done - 1) * (total - done)
                out.append(Progress(label, float(done), float(total) if total else None, "points", eta))
        return out
