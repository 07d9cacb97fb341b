"""The simulated lab's station, built once from where the lab's instruments are.

The lab hands over its addresses (`LabAddresses` in sim_devices/lab.py: a resource string per
instrument, the console's pseudo-terminal, the sled's size); this module says which driver plays
each role and the station's guardrails. `bringup run` with no --station and the pytest plugin
take the typed Station; `bringup sim serve` writes the same data as a station file for other
programs. Nothing here imports the simulator: it reads the addresses it is given.
"""

from __future__ import annotations

from typing import Any

import yaml

from bringup.language.source import Document
from bringup.check.station import Station, station_from_document

EMBEDDED = "<embedded simulator>"


class _Inline(dict):
    """A mapping written on one line, as people write a guardrail rule or a role's options."""


class _StationDumper(yaml.SafeDumper):
    pass


_StationDumper.add_representer(
    _Inline, lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=True))


def station_data(addresses: Any, name: str, clock: str = "simulated") -> dict[str, Any]:
    """The station as plain data, as a station file would hold it (quantities as text with units)."""
    return {
        "station": name,
        "description": f"the simulated lab, a {addresses.chips}-chip sled with bench supply, multimeter and coolant unit",
        "clock": clock,
        "roles": {
            "psu": {"driver": "keysight.e36312a", "resource": addresses.psu,
                    "guardrails": [_Inline(channel=1, voltage=_Inline(max="13 V"),
                                           current_limit=_Inline(max=f"{addresses.supply_amps:g} A")),
                                   _Inline(voltage=_Inline(max="26 V"))]},
            "dmm": {"driver": "keysight.34461a", "resource": addresses.dmm},
            "cdu": {"driver": "lauda.integral_xt", "resource": addresses.cdu,
                    "guardrails": [_Inline(setpoint=_Inline(min="15 degC", max="45 degC"),
                                           flow=_Inline(max="20 L/min"))]},
            # a pseudo-terminal has no line latency (a USB-serial console wants the default 50 ms)
            "sled": {"driver": "sled.console", "resource": addresses.console, "options": _Inline(idle_gap="5 ms")},
        },
    }


def lab_station(addresses: Any, name: str = "sim-embedded", clock: str = "simulated") -> Station:
    """The typed Station of a lab at these addresses, checked by the same loader as any station file."""
    return station_from_document(Document(EMBEDDED, station_data(addresses, name, clock)))


def station_text(addresses: Any, name: str, clock: str = "real") -> str:
    """The station file `sim serve` prints and writes: the same data, through a YAML dumper."""
    return yaml.dump(station_data(addresses, name, clock), Dumper=_StationDumper, sort_keys=False,
                     default_flow_style=False, allow_unicode=True, width=120)

