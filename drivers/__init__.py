"""Instrument and board drivers, installed as `bringup.drivers`.

A station file names a driver by one of the short names below, or by its import path
(`package.module:Class`) for a driver that lives outside this project. The table is explicit
on purpose: a reader sees every driver this project ships in one place, and nothing is
registered at a distance by import side effects.
"""

from __future__ import annotations

import importlib

from bringup.drivers.base import Driver

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


class UnknownDriver(LookupError):
    pass


def resolve(name: str) -> type[Driver]:
    """The driver class for a station file's `driver:` value."""
    target = BUILTIN.get(name, name)
    if ":" not in target:
        raise UnknownDriver(f"unknown driver {name!r}; use one of {', '.join(sorted(BUILTIN))} "
                            "or an import path such as 'mypackage.drivers:MySupply'")
    module, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise UnknownDriver(f"driver {name!r} cannot be loaded ({exc})") from None
    if not (isinstance(cls, type) and issubclass(cls, Driver)):
        raise UnknownDriver(f"{target} is not a bringup Driver")
    return cls
