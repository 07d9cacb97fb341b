"""A YAML sled description overrides any default; mistakes are named by their key path."""

from pathlib import Path

import pytest

from bringup.core.clock import SimClock
from bringup.sim_devices import config_docs
from bringup.sim_devices.world.config import SledConfig
from bringup.sim_devices.sled.sled import Sled


def test_yaml_overrides_defaults(tmp_path):
    path = tmp_path / "sled.yaml"
    path.write_text(
        "n_chips: 8\ncooling: liquid\nplumbing: series\n"
        "thermal: {r_lid_sink: 0.02}\nlimits: {trip_c: 100}\n"
        "rails: {VDD_CORE: {vout: 0.8, r_loadline: 0.0001}}\n"
        "pcie: {lanes: 8}\n")
    s = Sled.from_yaml(path, SimClock(), seed=1)
    cfg = s.config
    assert cfg.n_chips == 8 and cfg.plumbing == "series"
    assert cfg.thermal.r_lid_sink == 0.02 and cfg.thermal.c_die == 1.2     # others kept
    assert cfg.limits.trip_c == 100
    assert cfg.rails[0].vout == 0.8 and cfg.rails[1].name == "VDD_SRAM"
    assert s.pcie_status(0)["capable_width"] == 8
    assert s.rails(0)["VDD_CORE"]["vset"] == 0.8


def test_air_cooling_brings_its_own_defaults():
    cfg = SledConfig(cooling="air")
    assert cfg.thermal.c_sink == 800.0 and cfg.cooling_loop.fluid_cp == 1006.0


@pytest.mark.parametrize("text, where", [
    ("n_chips: 17\n", "n_chips"),
    ("thermal: {r_lid_snk: 0.02}\n", "thermal.r_lid_snk"),
    ("cooling: water\n", "cooling"),
])
def test_invalid_descriptions_name_the_key(tmp_path, text, where):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError) as err:
        SledConfig.from_yaml(path)
    assert where in str(err.value) and str(path) in str(err.value)


def test_unknown_rail_override_is_rejected(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("rails: {VDD_GPU: {vout: 1.0}}\n")
    with pytest.raises(ValueError, match="VDD_GPU"):
        SledConfig.from_yaml(path)


def test_the_simulator_page_documents_every_knob_and_fault_as_the_models_define_them():
    page = (Path(__file__).resolve().parents[2] / "docs" / "simulator.md").read_text()
    # regenerate with: python -m bringup.sim_devices.config_docs --write docs/simulator.md
    assert config_docs.replace_block(config_docs.replace_block(page, "config"), "faults") == page
    assert "| `fan_min_rpm` | `1500.0` |" in page


def test_a_partial_thermal_or_cooling_loop_on_an_air_sled_keeps_the_air_defaults():
    cfg = SledConfig.from_dict({"cooling": "air", "thermal": {"r_sink_fluid": 0.05},
                                "cooling_loop": {"fan_duty": 0.5}})
    assert cfg.thermal.r_sink_fluid == 0.05 and cfg.thermal.c_sink == 800.0
    assert cfg.cooling_loop.fan_duty == 0.5 and cfg.cooling_loop.fluid_cp == 1006.0
    liquid = SledConfig.from_dict({"thermal": {"r_sink_fluid": 0.02}})
    assert liquid.thermal.c_sink == 115.0 and liquid.cooling_loop.fluid_cp == 4180.0


def test_the_shipped_liquid_sled_is_the_default_sled_written_out():
    sleds = Path(__file__).resolve().parents[2] / "sleds"
    assert SledConfig.from_yaml(sleds / "liquid.yaml") == SledConfig()
    assert SledConfig.from_yaml(sleds / "air.yaml").cooling == "air"
