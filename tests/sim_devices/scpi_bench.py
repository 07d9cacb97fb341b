"""Helpers for integration tests: a simulated instrument on loopback and a real driver on a real
pyvisa-py TCPIP SOCKET session to it."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

from bringup.core.clock import SimClock
from bringup.drivers.base import Guardrail
from bringup.sim_devices.instruments.scpi_server import InstrumentServer


@contextlib.contextmanager
def served(instrument: Any, driver_cls: type, role: str = "inst", guardrails: tuple[Guardrail, ...] = (),
           clock: SimClock | None = None, **options: Any) -> Iterator[tuple[Any, InstrumentServer]]:
    """Serve `instrument`, open `driver_cls` on it through pyvisa-py; close both afterwards."""
    with InstrumentServer(instrument) as server:
        driver = driver_cls(role=role, resource=server.resource, options={"timeout": 2.0, **options},
                            guardrails=guardrails, clock=clock or instrument.clock)
        driver.open()
        try:
            yield driver, server
        finally:
            driver.close()


def raw_session(server: InstrumentServer, termination: str = "\n") -> Any:
    """A plain pyvisa-py session, as a third-party driver written for the real instrument opens one."""
    import pyvisa

    res = pyvisa.ResourceManager("@py").open_resource(server.resource)
    res.read_termination = res.write_termination = termination
    res.timeout = 2000
    return res
