"""Instrument and board drivers, installed as `bringup.drivers`.

A station file names a driver by one of the short names below, or by the name a driver
installed from another distribution publishes in the `bringup.drivers` entry-point group. It
never names a module: a station travels between labs, and `driver: this:Zen` must not run any
module's import-time code during validation. The table is explicit on purpose: a reader sees
every driver this project ships in one place, and nothing is registered by import side effects.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
from dataclasses import dataclass

from bringup.drivers.base import Driver

ENTRY_POINT_GROUP = "bringup.drivers"

BUILTIN: dict[str, str] = {
    "fake.power_supply": "bringup.drivers.fake:FakePowerSupply",
    "fake.multimeter": "bringup.drivers.fake:FakeMultimeter",
    "fake.coolant": "bringup.drivers.fake:FakeCoolant",
    "fake.sled": "bringup.drivers.fake:FakeSled",
    "keysight.e36312a": "bringup.drivers.e36312a:KeysightE36312A",
    "keysight.34461a": "bringup.drivers.k34461a:Keysight34461A",
    "keysight.n5700": "bringup.drivers.n5700:KeysightN5700",
    "lauda.integral_xt": "bringup.drivers.chiller:LaudaIntegralXT",
    "sled.console": "bringup.drivers.sled_console:SledConsole",
}

_PUBLISH_HINT = (f"publish the driver in the '{ENTRY_POINT_GROUP}' entry-point group of its package "
                 "(docs/drivers.md, \"Publishing a driver\"), install it, and give that name here; "
                 "`bringup drivers` lists every name")


class UnknownDriver(LookupError):
    """A station's `driver:` names nothing installed; `hint` says what would."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


@dataclass(frozen=True)
class Installed:
    """A driver published by an installed distribution, not yet imported."""

    name: str
    target: str  # module:attribute, as the distribution declared it
    origin: str  # "mylab-drivers 1.2", where `pip show` would find it
    entry_point: importlib.metadata.EntryPoint


def installed() -> dict[str, Installed]:
    """Drivers other distributions publish, by name. Reading the metadata imports nothing.

    A published name equal to a built-in one is left out: the built-in table always wins, so
    installing a package cannot swap the driver behind `keysight.e36312a` on a bench."""
    found: dict[str, Installed] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN or ep.name in found:
            continue  # the first distribution on sys.path wins, as importlib.metadata itself orders them
        dist = ep.dist
        origin = f"{dist.name} {dist.version}" if dist is not None else "an unnamed distribution"
        found[ep.name] = Installed(ep.name, ep.value, origin, ep)
    return found


def known_names() -> list[str]:
    return list(BUILTIN) + sorted(installed())


def resolve(name: str) -> type[Driver]:
    """The driver class for a station file's `driver:` value: a built-in or an installed name."""
    if name in BUILTIN:
        module, _, attr = BUILTIN[name].partition(":")
        return _checked(name, getattr(importlib.import_module(module), attr))
    if ":" in name or "/" in name:
        raise UnknownDriver(f"driver {name!r} is an import path; a station names a driver, it does not "
                            "import modules", _PUBLISH_HINT)
    found = installed()
    if name not in found:
        close = difflib.get_close_matches(name, list(BUILTIN) + list(found), n=1)
        guess = f"did you mean {close[0]}? " if close else ""
        raise UnknownDriver(f"unknown driver {name!r}",
                            f"{guess}use one of {', '.join(list(BUILTIN) + sorted(found))}; a driver of "
                            f"your own: {_PUBLISH_HINT}")
    one = found[name]
    try:
        cls = one.entry_point.load()
    except Exception as exc:  # an installed package's own import failure: name it, never a traceback
        raise UnknownDriver(f"driver {name!r} (from {one.origin}, {one.target}) cannot be loaded: "
                            f"{type(exc).__name__}: {exc}",
                            f"reinstall {one.origin.split()[0]} or fix its entry point") from None
    return _checked(name, cls, one)


def origin(name: str) -> str:
    """Where a resolvable driver name comes from: "built in", or its distribution."""
    if name in BUILTIN:
        return "built in"
    one = installed().get(name)
    return f"from {one.origin}" if one else "unknown"


def _checked(name: str, cls: object, one: Installed | None = None) -> type[Driver]:
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        where = f" (from {one.origin}, {one.target})" if one else ""
        raise UnknownDriver(f"driver {name!r}{where} is not a bringup Driver",
                            "the entry point must name a class deriving from bringup.drivers.base.Driver")
    return cls
