"""pyLauda, a driver other projects ship for LAUDA thermostats, run unchanged against the Integral XT twin.

pyLauda speaks only RS-232: its classes open `serial.Serial(port=path)`, which takes a device
path and no pyserial URL (`socket://` is not accepted). The twin answers on TCP, as the LRZ 926
Ethernet module does. So the test puts a serial-to-Ethernet converter between them, as a lab
would: a pseudo-terminal whose bytes are relayed, unchanged, to the twin's TCP socket. pyLauda
opens the pty's path as its docs say (`Variocool("/dev/ttyUSB0")`); every command it sends
and every reply it gets cross the real pty and the real socket.

LAUDA's protocol has no error queue: a refused command answers `ERR_<n>` on the wire, and
pyLauda never looks at the replies to its writes. The converter records every reply line, and
each test ends with none of them an `ERR_`.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import tty

import pytest

variocool = pytest.importorskip(
    "pyLauda.variocool",
    reason="pyLauda is not installed (pip install -e '.[twins]'): the third-party driver run is skipped")

from bringup.core.clock import SimClock  # noqa: E402
from bringup.sim_devices.instruments.scpi_server import InstrumentServer  # noqa: E402
from bringup.sim_devices.instruments.sim_chiller import SimLaudaIntegralXT  # noqa: E402


class SerialToEthernet:
    """A pty on one side, a TCP connection on the other, bytes relayed both ways; replies recorded."""

    def __init__(self, port: int) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # a serial line passes bytes as sent: no echo, no CR/LF translation
        self.path = os.ttyname(self.slave)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2.0)
        self.received = b""
        self._wake = os.pipe()
        self._thread = threading.Thread(target=self._relay, daemon=True)
        self._thread.start()

    def _relay(self) -> None:
        while True:
            ready, _, _ = select.select([self.master, self.sock, self._wake[0]], [], [])
            if self._wake[0] in ready:
                return
            if self.master in ready:
                self.sock.sendall(os.read(self.master, 4096))
            if self.sock in ready:
                data = self.sock.recv(4096)
                if not data:
                    return
                self.received += data
                os.write(self.master, data)

    def replies(self) -> list[str]:
        return [line for line in self.received.decode("ascii").split("\r\n") if line]

    def close(self) -> None:
        os.write(self._wake[1], b"x")
        self._thread.join(timeout=2.0)
        for fd in (self.master, self.slave, *self._wake):
            os.close(fd)
        self.sock.close()


@pytest.fixture
def unit():
    clock = SimClock()
    twin = SimLaudaIntegralXT(clock)
    with InstrumentServer(twin) as server:
        bridge = SerialToEthernet(server.port)
        lauda = variocool.Variocool(bridge.path)
        # pyLauda flushes its input before every query by reading until its 1 s timeout runs out;
        # a local line answers within microseconds, so a shorter wait only makes the test quicker
        lauda.device.timeout = 0.1
        yield lauda, twin, bridge, clock
        lauda.device.close()
        bridge.close()


def test_pylauda_sets_the_temperature_starts_and_reads_the_unit(unit):
    lauda, twin, bridge, clock = unit
    assert lauda.checkConnection() is True
    assert lauda.test() is True  # STATUS: 0, no fault
    lauda.temperature = 31.5
    assert lauda.temperature == 31.5  # IN_SP_00: the setpoint read back
    lauda.start()
    assert lauda.temperature == 31.5  # pyLauda does not wait for a write's OK; a query does
    assert twin.running
    clock.advance(600.0)  # ten time constants: the outflow has reached the setpoint
    assert float(lauda.t_ext) == pytest.approx(31.5, abs=0.01)  # IN_PV_01: the controlled temperature
    assert lauda.get_device_state().strip() == b"0000000"  # STAT: no error, alarm or warning
    lauda.stop()
    assert lauda.temperature == 31.5
    assert not twin.running
    assert [r for r in bridge.replies() if r.startswith("ERR")] == []


def test_pylauda_sets_control_parameters_the_external_preset_and_the_keyboard(unit):
    lauda, twin, bridge, clock = unit
    # pyLauda writes them as '{:3.2}': "5.0" and "8.0" (a Tn of 10 s or more would go out as "1e+01",
    # which the unit refuses with ERR_5, a syntax error in the value)
    lauda.set_control_parameters(5.0, 8.0)
    lauda.t_ext = 28.25  # OUT_PV_05: an external temperature preset through the interface
    lauda.lock_control_panel()
    assert lauda.temperature == 20.0  # a query after the writes: their replies have all arrived
    assert twin.control_parameters["00"] == 5.0 and twin.control_parameters["01"] == 8.0
    assert twin.external_preset_c == 28.25
    assert [r for r in bridge.replies() if r.startswith("ERR")] == []


def test_a_setpoint_outside_the_outflow_limits_is_refused_on_the_wire(unit):
    lauda, twin, bridge, clock = unit
    lauda.temperature = 95.0  # above TiH (90 degC): the unit keeps its setpoint and says ERR_6
    assert lauda.temperature == 20.0
    assert "ERR_6" in bridge.replies()


def test_pylaudas_module_version_query_is_answered_module_not_available(unit):
    lauda, twin, bridge, clock = unit
    lauda.clear_buffer()
    # VERSION_V names a module the Integral XT twin does not have; the unit says so rather than guess
    assert lauda.RS232moduleSN().startswith("ERR_8")
    assert [r for r in bridge.replies() if r.startswith("ERR")] == ["ERR_8"]
