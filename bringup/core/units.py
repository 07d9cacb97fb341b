"""Physical quantities as a bring-up lab writes them: `12 V`, `300 mA`, `1.5 L/min`, `30 degC`, `8 h`.

A small table of the units a lab uses rather than a general units library: every quantity in a
procedure is parsed once, at validation, into (value in SI, dimension); at run time the engine
deals only in floats already converted to the unit each driver declared. That keeps a
measurement's cost in microseconds and keeps our error messages in our own words.

Temperatures are absolute (`K`, `degC`, `degF` convert with offsets); a limit on a temperature
*difference* uses `K` and is compared as a plain number of kelvin by the action that takes it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Unit:
    symbol: str
    dimension: str
    scale: float  # SI value of 1 unit
    offset: float = 0.0  # SI value of 0 units (temperatures only)

    def to_si(self, value: float) -> float:
        return value * self.scale + self.offset

    def from_si(self, value: float) -> float:
        return (value - self.offset) / self.scale


_PREFIX = {"p": 1e-12, "n": 1e-9, "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9}


def _table() -> dict[str, Unit]:
    units: dict[str, Unit] = {}

    def add(symbols: str, dimension: str, scale: float, offset: float = 0.0, prefixes: str = "") -> None:
        for sym in symbols.split():
            units[sym] = Unit(sym, dimension, scale, offset)
            for p in prefixes:
                units[p + sym] = Unit(p + sym, dimension, scale * _PREFIX[p], offset)

    add("V", "voltage", 1.0, prefixes="numkµμ")
    add("A", "current", 1.0, prefixes="pnumkµμ")
    add("W", "power", 1.0, prefixes="umkMµ")
    add("Ohm ohm Ω", "resistance", 1.0, prefixes="umkMµ")
    add("F", "capacitance", 1.0, prefixes="pnumµ")
    add("J", "energy", 1.0, prefixes="mk")
    add("s", "time", 1.0, prefixes="pnumµ")
    add("sec", "time", 1.0)
    add("min", "time", 60.0)
    add("h hr", "time", 3600.0)
    add("d day", "time", 86400.0)
    add("Hz", "frequency", 1.0, prefixes="kMG")
    add("K", "temperature", 1.0)
    add("degC °C C", "temperature", 1.0, offset=273.15)
    add("degF °F", "temperature", 5.0 / 9.0, offset=273.15 - 32.0 * 5.0 / 9.0)
    add("L/min lpm LPM", "flow", 1.0)
    add("mL/min", "flow", 1e-3)
    add("L/h", "flow", 1.0 / 60.0)
    add("%", "ratio", 0.01)
    add("ppm", "ratio", 1e-6)
    add("dB", "decibel", 1.0)
    add("T/s", "transfer_rate", 1.0, prefixes="kMG")
    add("b/s bps bit/s", "bit_rate", 1.0, prefixes="kMG")
    add("bit bits b", "bits", 1.0)
    add("B byte bytes", "bytes", 1.0)
    for p, f in (("Ki", 2**10), ("Mi", 2**20), ("Gi", 2**30), ("Ti", 2**40), ("k", 1e3), ("M", 1e6), ("G", 1e9), ("T", 1e12)):
        units[p + "B"] = Unit(p + "B", "bytes", float(f))
    add("K/W", "thermal_resistance", 1.0)
    add("J/K", "heat_capacity", 1.0)
    add("/K", "per_kelvin", 1.0)
    add("UI", "unit_interval", 1.0)
    add("count", "count", 1.0)
    return units


UNITS: dict[str, Unit] = _table()
DIMENSIONLESS = Unit("", "number", 1.0)
UNITS[""] = DIMENSIONLESS


# -- dimension algebra -------------------------------------------------------------------------
# A computed value (psi = dT/dP, a loop gain) multiplies and divides quantities, so the checker
# needs to know that temperature/power is a thermal resistance and per_kelvin*temperature is a
# plain number. Each named dimension is a product of base dimensions; products without a name
# get a canonical spelling such as "A*s/K", so equal dimensions always compare equal as text.
_BASES: dict[str, dict[str, int]] = {
    "voltage": {"V": 1}, "current": {"A": 1}, "power": {"V": 1, "A": 1}, "resistance": {"V": 1, "A": -1},
    "capacitance": {"A": 1, "s": 1, "V": -1}, "energy": {"V": 1, "A": 1, "s": 1}, "time": {"s": 1},
    "frequency": {"s": -1}, "temperature": {"K": 1}, "flow": {"L": 1, "s": -1},
    "thermal_resistance": {"K": 1, "V": -1, "A": -1}, "heat_capacity": {"V": 1, "A": 1, "s": 1, "K": -1},
    "per_kelvin": {"K": -1}, "bits": {"bit": 1}, "bit_rate": {"bit": 1, "s": -1}, "bytes": {"byte": 1},
    "transfer_rate": {"T": 1, "s": -1}, "unit_interval": {"UI": 1}, "decibel": {"dB": 1}, "count": {"count": 1},
    "number": {}, "ratio": {},
}
_NAMED = {tuple(sorted(v.items())): k for k, v in _BASES.items() if k not in ("number", "ratio")}


def _vector(dimension: str) -> dict[str, int]:
    if dimension in _BASES:
        return _BASES[dimension]
    out: dict[str, int] = {}
    num, _, den = dimension.partition("/")
    for sign, part in ((1, num), (-1, den)):
        for factor in filter(None, part.split("*")):
            base, _, power = factor.partition("^")
            if base != "1":
                out[base] = out.get(base, 0) + sign * int(power or 1)
    return out


def _name(vector: dict[str, int]) -> str:
    vector = {k: v for k, v in vector.items() if v}
    if not vector:
        return "number"
    key = tuple(sorted(vector.items()))
    if key in _NAMED:
        return _NAMED[key]

    def side(items: list[tuple[str, int]]) -> str:
        return "*".join(b if p == 1 else f"{b}^{p}" for b, p in items)
    num = side([(b, p) for b, p in key if p > 0]) or "1"
    den = side([(b, -p) for b, p in key if p < 0])
    return f"{num}/{den}" if den else num


def multiply_dimensions(left: str, right: str, divide: bool = False) -> str:
    """The dimension of left*right (or left/right): `temperature`/`power` -> `thermal_resistance`."""
    out = dict(_vector(left))
    for base, power in _vector(right).items():
        out[base] = out.get(base, 0) + (-power if divide else power)
    return _name(out)


def si_unit(dimension: str) -> "Unit | None":
    """The plain unit of a dimension (scale 1, no offset): W for power, K/W for thermal resistance,
    K for temperature (so a difference reads right); None when the table has no unit for it."""
    if dimension in ("number", "ratio"):
        return DIMENSIONLESS
    found = [u for u in UNITS.values() if u.dimension == dimension and u.scale == 1.0 and u.offset == 0.0]
    return min(found, key=lambda u: (len(u.symbol), u.symbol)) if found else None


class UnitError(ValueError):
    """A quantity or unit that cannot be understood, with a hint of what would be."""


def unit(symbol: str) -> Unit:
    try:
        return UNITS[symbol.strip()]
    except KeyError:
        raise UnitError(f"unknown unit {symbol!r}; known units include V, mV, A, mA, W, Ohm, s, ms, min, h, "
                        f"Hz, GHz, degC, K, L/min, %, dB, GT/s, Gb/s, GiB") from None


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number with a unit, as written. `si` is the value in SI for comparisons and conversion."""

    value: float
    unit: Unit

    @property
    def dimension(self) -> str:
        return self.unit.dimension

    @property
    def si(self) -> float:
        return self.unit.to_si(self.value)

    def to(self, symbol: str | Unit) -> float:
        """This quantity's value in another unit of the same dimension."""
        target = symbol if isinstance(symbol, Unit) else unit(symbol)
        if target.dimension != self.unit.dimension and self.unit is not DIMENSIONLESS:
            raise UnitError(f"cannot express {self} in {target.symbol}: {self.dimension} is not {target.dimension}")
        return target.from_si(self.si)

    def __str__(self) -> str:
        return format_quantity(self.value, self.unit.symbol)


_NUMBER = r"[-+]?(?:\d+(?:_\d+)*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_QUANTITY_RE = re.compile(rf"^\s*(?P<num>{_NUMBER}|[-+]?inf|nan)\s*(?P<unit>[^\s\d+-][^\s]*(?:\s*/\s*\S+)?)?\s*$")


def parse_quantity(text: str | int | float) -> Quantity:
    """`"12 V"` -> Quantity(12, V); `3` -> dimensionless 3; raises UnitError with a hint."""
    if isinstance(text, bool):
        raise UnitError(f"expected a quantity such as '12 V', not {text!r}")
    if isinstance(text, (int, float)):
        return Quantity(float(text), DIMENSIONLESS)
    m = _QUANTITY_RE.match(str(text))
    if not m:
        raise UnitError(f"{text!r} is not a quantity: write a number and a unit, such as '12 V' or '300 mA'")
    value = float(m.group("num").replace("_", ""))
    sym = (m.group("unit") or "").replace(" ", "")
    return Quantity(value, unit(sym))


def format_quantity(value: float | None, symbol: str, digits: int = 6) -> str:
    """Format for people: `0.7275 V`, `1e-12`, `30 degC`."""
    if value is None:
        return "—"
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        text = str(value)
    else:
        text = f"{value:.{digits}g}"
    return f"{text} {symbol}" if symbol else text


_TOLERANCE_RE = re.compile(r"^(?P<nominal>.+?)\s*(?:±|\+/-|\+-)\s*(?P<tol>.+)$")


_NAME_REF = re.compile(r"^\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}$")


def expect_reference(text: str) -> str | None:
    """The parameter an expectation's nominal names (`"{vdd_core} ± 3%"` -> "vdd_core"), if any."""
    m = _TOLERANCE_RE.match(str(text).strip())
    r = _NAME_REF.match(m.group("nominal").strip()) if m else None
    return r.group(1) if r else None


def parse_expect(text: str, nominal_value: "Quantity | None" = None) -> tuple[Quantity, Quantity, Quantity]:
    """`"0.75 V ± 3%"` or `"0.75 V +/- 20 mV"` -> (nominal, low, high) in the nominal's unit.

    A nominal written as a parameter (`"{vdd_core} ± 3%"`) takes `nominal_value`.
    """
    m = _TOLERANCE_RE.match(str(text).strip())
    if not m:
        raise UnitError(f"{text!r} is not an expectation: write a nominal and a tolerance, such as '0.75 V ± 3%' "
                        "(or '+/-' for ±)")
    if _NAME_REF.match(m.group("nominal").strip()):
        if nominal_value is None:  # syntax check only: the tolerance must still make sense
            parse_quantity(m.group("tol"))
            return Quantity(0.0, DIMENSIONLESS), Quantity(0.0, DIMENSIONLESS), Quantity(0.0, DIMENSIONLESS)
        nominal = nominal_value
    else:
        nominal = parse_quantity(m.group("nominal"))
    tol = parse_quantity(m.group("tol"))
    if tol.value < 0:
        raise UnitError(f"tolerance in {text!r} must not be negative")
    if tol.dimension == "ratio":
        delta = abs(nominal.value) * tol.si
    elif tol.dimension == nominal.dimension:
        # a tolerance is a difference: convert by scale only (± 2 K around 30 degC is ± 2 degC)
        delta = tol.value * tol.unit.scale / nominal.unit.scale
    else:
        raise UnitError(f"tolerance {tol} in {text!r} is a {tol.dimension}, but the nominal is a {nominal.dimension}: "
                        f"give it in % or in {nominal.unit.symbol}")
    return nominal, Quantity(nominal.value - delta, nominal.unit), Quantity(nominal.value + delta, nominal.unit)
