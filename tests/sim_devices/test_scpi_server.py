"""The simulated instruments' TCP server: raw sockets on loopback, several clients, two faults."""

from __future__ import annotations

import socket

import pytest

from bringup.core.clock import SimClock
from bringup.sim_devices.instruments.scpi_server import InstrumentServer
from bringup.sim_devices.instruments.sim_chiller import SimLaudaIntegralXT
from bringup.sim_devices.instruments.sim_psu import SimE36312A


def connect(server: InstrumentServer) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", server.port), timeout=2.0)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def ask(s: socket.socket, data: bytes, term: bytes = b"\n") -> bytes:
    s.sendall(data)
    buf = b""
    while not buf.endswith(term):
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def test_a_free_port_is_picked_and_named_as_a_visa_socket_resource():
    with InstrumentServer(SimE36312A(SimClock())) as server:
        assert server.port > 0
        assert server.resource == f"TCPIP::127.0.0.1::{server.port}::SOCKET"


def test_several_clients_share_one_instrument_each_getting_its_own_replies():
    with InstrumentServer(SimE36312A(SimClock(), noise=False)) as server:
        a, b = connect(server), connect(server)
        ask(a, b"VOLT 1.5,(@2);*OPC?\n")
        assert ask(b, b"VOLT? (@2)\n") == b"+1.50000000E+00\n"  # b sees what a set
        assert ask(a, b"*IDN?\n").startswith(b"Keysight Technologies,E36312A")
        a.close(), b.close()


def test_every_line_ending_is_accepted_and_replies_use_the_instruments_own():
    with InstrumentServer(SimLaudaIntegralXT(SimClock())) as server:
        s = connect(server)
        for end in (b"\r", b"\r\n", b"\n\r", b"\n"):
            assert ask(s, b"TYPE" + end) == b"XT\r\n"
        s.close()


def test_several_messages_in_one_packet_are_answered_in_order():
    with InstrumentServer(SimE36312A(SimClock())) as server:
        s = connect(server)
        s.sendall(b"*OPC?\nSYST:ERR?\n*IDN?\n")
        buf = b""
        while buf.count(b"\n") < 3:
            buf += s.recv(4096)
        lines = buf.split(b"\n")
        assert lines[0] == b"1" and lines[1] == b'+0,"No error"' and lines[2].startswith(b"Keysight")
        s.close()


def test_unplug_drops_every_connection_and_refuses_new_ones():
    server = InstrumentServer(SimE36312A(SimClock()))
    server.start()
    s = connect(server)
    server.unplug()
    try:
        assert s.recv(100) == b""  # the peer closed...
    except ConnectionResetError:
        pass  # ...or reset, if unplugged before it had even accepted the connection
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1.0)
    server.stop()
    server.stop()  # twice is fine


def test_freeze_swallows_messages_until_thawed():
    with InstrumentServer(SimE36312A(SimClock())) as server:
        s = connect(server)
        s.settimeout(0.2)
        server.freeze()
        s.sendall(b"*IDN?\n")
        with pytest.raises(socket.timeout):
            s.recv(100)
        server.freeze(False)
        s.settimeout(2.0)
        assert ask(s, b"*OPC?\n") == b"1\n"
        s.close()
