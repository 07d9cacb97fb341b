"""Readings and actions declared as table rows publish exactly what a method would, and behave as one."""

from __future__ import annotations

import pytest

from bringup.core.clock import SimClock
from bringup.drivers.base import Driver, Param, action, reading
from bringup.drivers.table import commanded, measured
from bringup.core.units import UnitError

CHANNEL = Param(int, choices=(0, 1, 2), default=1, help="output, or 0 for both")


class Wire(Driver):
    """A driver whose transport is a list: what a row sends, and the replies it is given."""

    def __init__(self, replies=()):
        super().__init__(role="psu", clock=SimClock())
        self.sent: list[str] = []
        self.replies = list(replies)

    def table_value(self, row, command, args):
        self.sent.append(command)
        return float(self.replies.pop(0))

    def table_command(self, row, command, args):
        self.sent.append(command)


class AsRows(Wire):
    voltage = measured("MEAS:VOLT? (@{channel})", "V", channel=CHANNEL, holds=0.5,
                       help="""
                           Measured output voltage.
                           Second line.""")
    clear = commanded("OUTP:PROT:CLE {channel}", channel=CHANNEL, idempotent=True,
                      fmt={"channel": lambda ch: "(@1:2)" if ch == 0 else f"(@{ch})"},
                      help="Re-arm a tripped protection.")
    level = commanded("VOLT {volts:.4g},(@{channel})", volts=Param("V", low=0, help="setpoint"), channel=CHANNEL,
                      help="Program a voltage.")


class AsMethods(Wire):
    @reading("V", channel=CHANNEL, holds=0.5)
    def voltage(self, channel: int = 1) -> float:
        """Measured output voltage.
        Second line."""
        return 0.0

    @action(channel=CHANNEL, idempotent=True)
    def clear(self, channel: int = 1) -> None:
        """Re-arm a tripped protection."""

    @action(volts=Param("V", low=0, help="setpoint"), channel=CHANNEL)
    def level(self, volts: float, channel: int = 1) -> None:
        """Program a voltage."""


def test_a_row_publishes_the_same_spec_as_the_method_it_replaces():
    assert AsRows.spec() == AsMethods.spec()
    assert list(AsRows.spec()) == ["voltage", "clear", "level"]  # the order `bringup drivers` lists them in


def test_a_row_fills_its_template_from_the_converted_arguments_by_name_or_position():
    d = AsRows(replies=["5.25", "1.5"])
    assert d.call("voltage", {"channel": 2}) == 5.25
    assert d.voltage() == 1.5  # the declared default
    d.call("clear", {"channel": 0})
    d.level(3.3, 2)
    assert d.sent == ["MEAS:VOLT? (@2)", "MEAS:VOLT? (@1)", "OUTP:PROT:CLE (@1:2)", "VOLT 3.3,(@2)"]
    with pytest.raises(TypeError, match="missing \\['volts'\\]"):
        d.level(channel=1)


def test_a_mistake_in_a_row_fails_when_the_driver_is_defined_not_in_the_lab():
    with pytest.raises(TypeError, match="fmt names no parameter"):
        measured("MEAS? {ch}", "V", fmt={"channel": str}, help="x")
    with pytest.raises(UnitError):
        class BadUnit(Wire):
            v = measured("MEAS?", "Volts", help="x")
    with pytest.raises(TypeError, match="holds='t' must name a parameter declared in seconds"):
        class BadHolds(Wire):
            w = commanded("WAIT {t}", t=Param(float), holds="t", help="x")
