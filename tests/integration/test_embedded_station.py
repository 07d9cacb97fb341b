"""The embedded lab is wired once: the lab says where its instruments are, and the station that
`bringup run`, the pytest plugin and `bringup sim serve` use is built from those addresses."""

from __future__ import annotations

import os

from bringup.commands.sim import embedded_lab, embedded_station
from bringup.commands.sim_station import lab_station, station_text
from bringup.sim_devices.lab import LabAddresses
from bringup.check.station import load_station


def _shape(station):
    return {role: (b.driver_name, b.resource, b.options, b.guardrails) for role, b in station.roles.items()}


def test_the_started_lab_gives_a_station_at_the_addresses_it_serves():
    with embedded_lab(seed=3) as lab:
        before = lab.station
        assert before.roles["psu"].resource == "TCPIP::127.0.0.1::0::SOCKET"  # nothing listens yet
        lab.start()
        station = lab.station
        for role in ("psu", "dmm", "cdu"):
            resource = station.roles[role].resource
            assert resource.startswith("TCPIP::127.0.0.1::") and resource != before.roles[role].resource
        assert os.path.exists(station.roles["sled"].resource)  # the console's pseudo-terminal
        assert station.clock == "simulated" and station.name == "sim-embedded"
        assert station.roles["sled"].options.idle_gap == 0.005
        [rule] = [g for g in station.roles["psu"].guardrails if g.param == "current_limit"]
        assert rule.high == 400.0  # the 4-chip sled's supply rating
        assert lab.meta() == {"simulator": {"seed": 3, "faults": []}}


def test_the_served_station_file_is_the_same_station_as_the_embedded_one(tmp_path):
    addresses = LabAddresses("TCPIP::127.0.0.1::5025::SOCKET", "TCPIP::127.0.0.1::5026::SOCKET",
                             "TCPIP::127.0.0.1::5027::SOCKET", "/dev/pts/9", chips=2, supply_amps=200.0)
    text = station_text(addresses, "sim-served", clock="real")
    path = tmp_path / "served.yaml"
    path.write_text(text)
    served = load_station(path)
    assert served.clock == "real" and served.name == "sim-served"
    assert _shape(served) == _shape(lab_station(addresses))
    assert "{max: 200 A}" in text and "options: {idle_gap: 5 ms}" in text


def test_validation_without_a_lab_uses_the_default_sleds_station():
    station = embedded_station()
    assert set(station.roles) == {"psu", "dmm", "cdu", "sled"}
    assert [g.high for g in station.roles["psu"].guardrails if g.param == "current_limit"] == [400.0]
