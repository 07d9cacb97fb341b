"""The numbers a bring-up engineer writes down after a night, taken from the stored measurements.

Which stored measurement carries which number is declared once, in `QUANTITIES`: by the name a
procedure gives a step (`Vmin`, `psi`), or by the driver reading a step measures (stored as
`sled.pcie_speed(chip=0)` when the step has no name of its own), and for peaks also by the
per-chip telemetry channel (`sled.chip0.tj`). Chip, port and frequency come from the
measurement's coordinates, never from its message. A procedure that measures none of these
(a bench demo) simply has no key numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bringup.store import StoreReader


@dataclass(frozen=True)
class Quantity:
    key: str
    label: str
    pick: str  # which of several readings is the number: "last", "max" (peaks, errors, BER) or "min" (margins)
    names: tuple[str, ...] = ()  # step names, as the shipped procedures give them
    readings: tuple[str, ...] = ()  # driver readings, as `role.reading`
    channel: str | None = None  # per-chip telemetry whose peak counts too ({chip} is the chip number)
    by: tuple[str, ...] = ("chip",)  # the coordinates one number is kept per


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("vmin", "Vmin", "last", names=("Vmin",), by=("chip", "frequency")),
    Quantity("psi", "psi", "last", names=("psi",)),
    Quantity("loop_gain", "loop gain at full power", "last", names=("loop gain extrapolated to full power",)),
    Quantity("peak_tj", "peak Tj", "max", readings=("sled.tj",), channel="sled.chip{chip}.tj"),
    Quantity("peak_power", "peak power", "max", names=("peak power (virus)",), readings=("sled.chip_power",),
             channel="sled.chip{chip}.power"),
    Quantity("pcie_speed", "PCIe speed", "last", readings=("sled.pcie_speed",)),
    Quantity("pcie_capable_speed", "PCIe capable speed", "last", readings=("sled.pcie_capable_speed",)),
    Quantity("pcie_width", "PCIe width", "last", readings=("sled.pcie_width",)),
    Quantity("pcie_capable_width", "PCIe capable width", "last", readings=("sled.pcie_capable_width",)),
    Quantity("pcie_margin_timing", "PCIe margin (timing, worst lane)", "min", readings=("sled.pcie_margin_timing",)),
    Quantity("pcie_margin_voltage", "PCIe margin (voltage, worst lane)", "min", readings=("sled.pcie_margin_voltage",)),
    Quantity("hbm_capacity", "HBM capacity", "last", readings=("sled.hbm_capacity",)),
    Quantity("hbm_ecc", "HBM ECC errors (most read)", "max", readings=("sled.hbm_ecc",)),
    Quantity("ber", "BER bound", "max", names=("PRBS31 BER bound (worst lane)",), readings=("sled.prbs_ber",),
             by=("chip", "port")),
    Quantity("mesh_margin_timing", "mesh margin (timing, worst lane)", "min", readings=("sled.mesh_margin_timing",),
             by=("chip", "port")),
    Quantity("mesh_margin_voltage", "mesh margin (voltage, worst lane)", "min",
             readings=("sled.mesh_margin_voltage",), by=("chip", "port")),
)


def reading_of(name: str) -> str:
    """The driver reading a measurement came from when its step had no name: the engine stores
    `role.reading(arg=value, ...)` (step_record.label_of); a plain `role.reading` has no arguments."""
    base, paren, _ = name.partition("(")
    return base if paren and name.endswith(")") else name


@dataclass
class Number:
    value: float
    unit: str
    t: float | None = None  # run clock of the reading that set it (a peak's moment)


@dataclass
class KeyNumbers:
    """`values[key][coords]` where coords is the tuple of the quantity's `by` coordinates."""

    values: dict[str, dict[tuple[str, ...], Number]] = field(default_factory=dict)

    def get(self, key: str, *coords: str) -> Number | None:
        return self.values.get(key, {}).get(tuple(coords))

    def chips(self) -> list[str]:
        seen = {c[0] for per in self.values.values() for c in per}
        return sorted(seen, key=_order)

    def along(self, key: str, axis: int) -> list[str]:
        """The values a quantity's `axis`-th coordinate takes (frequencies for Vmin), in order."""
        return sorted({c[axis] for c in self.values.get(key, {})}, key=_order)

    def ports(self) -> list[tuple[str, str]]:
        keys = {c for q in QUANTITIES if q.by == ("chip", "port") for c in self.values.get(q.key, {})}
        return sorted(keys, key=lambda c: (_order(c[0]), _order(c[1])))

    def worst(self, key: str) -> tuple[tuple[str, ...], Number] | None:
        per = self.values.get(key, {})
        if not per:
            return None
        pick = _QUANTITY[key].pick
        choose = min if pick == "min" else max
        return choose(per.items(), key=lambda kv: kv[1].value)

    def __bool__(self) -> bool:
        return any(self.values.values())


_QUANTITY = {q.key: q for q in QUANTITIES}


def _order(s: str) -> tuple:
    # chips 0..15 and "1 GHz" < "1.4 GHz" < "10 GHz": by the leading number when there is one
    head = s.split()[0] if s.split() else s
    try:
        return (0, float(head), s)
    except ValueError:
        return (1, 0.0, s)


def _quantity_for(name: str) -> Quantity | None:
    reading = reading_of(name)
    for q in QUANTITIES:
        if name in q.names or reading in q.readings:
            return q
    return None


def _take(values: dict[tuple[str, ...], Number], key: tuple[str, ...], pick: str, new: Number) -> None:
    old = values.get(key)
    if (old is None or pick == "last" or (pick == "max" and new.value > old.value)
            or (pick == "min" and new.value < old.value)):
        values[key] = new


def from_rows(measurements: list[dict], peaks: dict[str, dict] | None = None) -> KeyNumbers:
    """Key numbers from stored measurement rows (in the order taken) and channel extremes."""
    out = KeyNumbers()
    for m in measurements:
        if m["value"] is None:
            continue
        q = _quantity_for(m["name"])
        coords = m["coords"] or {}
        if q is None or any(c not in coords for c in q.by):
            continue
        key = tuple(str(coords[c]) for c in q.by)
        _take(out.values.setdefault(q.key, {}), key, q.pick, Number(m["value"], m["unit"], m["t"]))
    for q in QUANTITIES:
        if q.channel is None or not peaks:
            continue
        for chip in {c[0] for c in out.values.get(q.key, {})} | _chips_of(q.channel, peaks):
            ext = peaks.get(q.channel.format(chip=chip))
            if ext is not None:
                value = ext["max"] if q.pick == "max" else ext["min"]
                unit = _unit_of(out, q.key) or ext.get("unit", "")
                _take(out.values.setdefault(q.key, {}), (chip,), q.pick, Number(value, unit, ext.get("max_t")))
    return out


def _chips_of(pattern: str, peaks: dict[str, Any]) -> set[str]:
    head, _, tail = pattern.partition("{chip}")
    return {n[len(head):len(n) - len(tail)] for n in peaks
            if n.startswith(head) and n.endswith(tail) and n[len(head):len(n) - len(tail)].isdigit()}


def _unit_of(numbers: KeyNumbers, key: str) -> str | None:
    return next((n.unit for n in numbers.values.get(key, {}).values()), None)


def channels_wanted(chips: int = 64) -> list[str]:
    return [q.channel.format(chip=c) for q in QUANTITIES if q.channel for c in range(chips)]


def load(reader: StoreReader, run_id: int) -> KeyNumbers:
    units = {c["name"]: c["unit"] for c in reader.channels(run_id)}
    peaks = reader.channel_extremes(run_id, [n for n in units if n in set(channels_wanted())])
    for name, ext in peaks.items():
        ext["unit"] = units.get(name, "")
    return from_rows(reader.measurements(run_id), peaks)
