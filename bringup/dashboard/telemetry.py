"""Telemetry as a person reads it: channels grouped by chip, judged against their limits.

Drivers publish whatever channels they have (`sled.chip3.tj`, `cdu.flow`, `sled.max_tj`); the
dashboard assumes nothing but the naming convention `<role>.chip<N>.<metric>` for per-chip
readings. Per-chip metrics are folded into one row each (the hottest chip, the total power,
the spread of a rail) so a 16-chip sled fits a screen, and laid out chip by chip when there is
room. Anything else is shown as a row of its own.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

OK, NEAR, OUT, NO_READING = "ok", "near", "out", "no reading"

#: How close to a limit counts as "near" (yellow): 5 % of the limit's magnitude, or of the window.
NEAR_FRACTION = 0.05

_CHIP = re.compile(r"^(?P<role>[^./]+)\.chip(?P<n>\d+)\.(?P<metric>.+)$")


@dataclass(frozen=True)
class Metric:
    """How a per-chip metric is summarised across chips and labelled."""

    label: str
    fold: str  # max | sum | range | throttle


METRICS: dict[str, Metric] = {
    "tj": Metric("Tj", "max"),
    "hbm_temp": Metric("HBM temp", "max"),
    "power": Metric("Power", "sum"),
    "vdd_core": Metric("VDD_CORE", "range"),
    "idd_core": Metric("IDD_CORE", "max"),
    "throttle": Metric("Throttle", "throttle"),
}

#: Friendlier labels for well-known non-chip channels; others show their channel name.
LABELS = {"cdu.flow": "Coolant flow", "cdu.supply_temperature": "Coolant supply",
          "cdu.return_temperature": "Coolant return", "sled.max_tj": "Tj max (sled)"}

#: NVML-style clock throttle reasons (PHYSICS.md): bit, name, short name for a grid cell, level.
#: Hardware reasons mean the silicon is protecting itself.
THROTTLE_REASONS = [(0x4, "SW power cap", "SWpwr", NEAR), (0x8, "HW slowdown", "HWslo", OUT),
                    (0x20, "SW thermal", "SWthm", NEAR), (0x40, "HW thermal", "HWthm", OUT),
                    (0x80, "HW power brake", "HWbrk", OUT)]


def parse_channel(name: str) -> tuple[str | None, int | None, str]:
    """`sled.chip3.tj` -> ("sled", 3, "tj"); `cdu.flow` -> (None, None, "cdu.flow")."""
    m = _CHIP.match(name)
    if m is None:
        return None, None, name
    return m.group("role"), int(m.group("n")), m.group("metric")


def throttle_reasons(mask: float | None, short: bool = False) -> tuple[list[str], str]:
    """Decode a throttle bitmask into reason names and a level (OUT for any hardware reason)."""
    if mask is None or not math.isfinite(mask):
        return [], NO_READING
    bits = int(mask)
    names, level = [], OK
    for bit, name, short_name, lvl in THROTTLE_REASONS:
        if bits & bit:
            names.append(short_name if short else name)
            level = OUT if lvl == OUT or level == OUT else NEAR
    unknown = bits & ~sum(r[0] for r in THROTTLE_REASONS) & ~0x1  # 0x1 = idle, not a worry
    if unknown:
        names.append(f"0x{unknown:x}")
        level = level if level != OK else NEAR
    return names, level


def is_discrete(value: float | None, low: float | None, high: float | None, unit: str) -> bool:
    """A state or a count judged exactly (`cooling_ok >= 1`, `leak <= 0`, `errors <= 0`): no unit,
    whole-number reading and limits. Sitting on such a limit is where a healthy sled sits."""
    if unit or value is None or not math.isfinite(value) or not float(value).is_integer():
        return False
    limits = [x for x in (low, high) if x is not None]
    return bool(limits) and all(math.isfinite(x) and float(x).is_integer() for x in limits)


def judge(value: float | None, low: float | None, high: float | None, discrete: bool = False) -> str:
    """OK, NEAR (within NEAR_FRACTION of a limit), OUT (beyond one), or NO_READING.
    `discrete` (see `is_discrete`): no NEAR band, a state is either within its limit or not."""
    if value is None or math.isnan(value):
        return NO_READING
    if (low is not None and value < low) or (high is not None and value > high):
        return OUT
    if discrete:
        return OK
    if low is not None and high is not None:
        margin = (high - low) * NEAR_FRACTION
        return NEAR if value - low < margin or high - value < margin else OK
    if high is not None and high - value < abs(high) * NEAR_FRACTION:
        return NEAR
    if low is not None and value - low < abs(low) * NEAR_FRACTION:
        return NEAR
    return OK


def worst_level(levels: list[str]) -> str:
    for level in (OUT, NO_READING, NEAR):
        if level in levels:
            return level
    return OK


@dataclass
class Channel:
    """One telemetry channel: its latest reading, its recent history in buckets, its limits."""

    name: str
    unit: str
    role: str | None = None
    chip: int | None = None
    metric: str = ""
    low: float | None = None
    high: float | None = None
    last: float | None = None
    last_t: float | None = None
    last_id: int = 0
    # bucket index (run clock // bucket width) -> (sample id, value): the last sample in it
    buckets: dict[int, tuple[int, float | None]] = field(default_factory=dict)

    @property
    def level(self) -> str:
        if self.metric == "throttle":
            return throttle_reasons(self.last)[1]
        return judge(self.last, self.low, self.high, is_discrete(self.last, self.low, self.high, self.unit))

    def add(self, bucket: int, sample_id: int, t: float, value: float | None) -> None:
        old = self.buckets.get(bucket)
        if old is None or sample_id > old[0]:
            self.buckets[bucket] = (sample_id, value)
        if sample_id > self.last_id:
            self.last_id, self.last, self.last_t = sample_id, value, t

    def history(self, newest_bucket: int, n: int) -> list[float | None]:
        """The last `n` buckets up to `newest_bucket`, None where no sample landed."""
        get = self.buckets.get
        out = []
        for b in range(newest_bucket - n + 1, newest_bucket + 1):
            hit = get(b)
            out.append(None if hit is None else hit[1])
        return out

    def trim(self, oldest_bucket: int) -> None:
        if len(self.buckets) > 2 * 256:  # only now and then: the dict stays small either way
            for b in [b for b in self.buckets if b < oldest_bucket]:
                del self.buckets[b]


@dataclass
class MetricRow:
    """A per-chip metric folded across chips: what the telemetry panel shows in one line."""

    metric: str
    label: str
    unit: str
    value: float | None  # the folded value (max, total, or the low end of a range)
    value_high: float | None  # the high end of a range
    chip: int | None  # the chip the value came from (the hottest, the one throttling...)
    level: str
    low: float | None
    high: float | None
    channels: list[Channel]
    note: str = ""  # throttle reasons
    peak: float | None = None  # a total's biggest single chip


def fold(metric: str, channels: list[Channel]) -> MetricRow:
    spec = METRICS.get(metric, Metric(metric, "max"))
    chans = sorted(channels, key=lambda c: c.chip or 0)
    readings = [(c.last, c) for c in chans if c.last is not None and not math.isnan(c.last)]
    unit = chans[0].unit
    level = worst_level([c.level for c in chans])
    low, high = chans[0].low, chans[0].high
    row = MetricRow(metric, spec.label, unit, None, None, None, level, low, high, chans)
    if not readings:
        return row
    if spec.fold == "throttle":
        busy = [(c, throttle_reasons(v)[0]) for v, c in readings if throttle_reasons(v)[0]]
        reasons = sorted({r for _, rs in busy for r in rs})
        row.value = float(len(busy))
        row.note = (f"{len(busy)} of {len(chans)} chips: " + ", ".join(reasons)) if busy else "none"
        row.chip = busy[0][0].chip if busy else None
        return row
    if spec.fold == "sum":
        top_v, top_c = max(readings, key=lambda r: r[0])
        row.value, row.chip, row.peak = sum(v for v, _ in readings), top_c.chip, top_v
        # the per-chip limit cannot judge a total: the row's colour is the worst chip's
        row.low = row.high = None
        return row
    if spec.fold == "range":
        lo_v, lo_c = min(readings, key=lambda r: r[0])
        hi_v, _ = max(readings, key=lambda r: r[0])
        row.value, row.value_high, row.chip = lo_v, hi_v, lo_c.chip
        return row
    top_v, top_c = max(readings, key=lambda r: r[0])
    row.value, row.chip = top_v, top_c.chip
    return row

