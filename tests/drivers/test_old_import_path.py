"""A driver written outside this project against `bringup.driver` (the path before the engine
was folded into layers) still loads and publishes its specs."""

from __future__ import annotations

from bringup.drivers.base import Driver as BaseDriver


def test_a_driver_written_against_the_old_path_still_works():
    from bringup.driver import Driver, Param, action, reading

    assert Driver is BaseDriver

    class Heater(Driver):
        kind = "heater"

        @action(power=Param("W", low=0, high=100, help="heater power"))
        def set_power(self, power: float) -> None:
            self.power = power

        @reading("W")
        def power_now(self) -> float:
            return self.power

    specs = Heater.spec()
    assert specs["set_power"].params["power"].unit == "W" and specs["power_now"].unit == "W"
