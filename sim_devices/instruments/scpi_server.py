"""A simulated instrument on a raw TCP socket, as bench instruments serve SCPI on port 5025.

    with InstrumentServer(SimE36312A(clock)) as server:
        print(server.resource)          # TCPIP::127.0.0.1::40123::SOCKET

Lines end with LF (CR, CRLF and LFCR are accepted too); each line is one program message, and
its reply, if it has one, goes back with the instrument's terminator. Several clients may
connect at once; they share the instrument, one message at a time.

`twins()` names the simulated instrument that stands in for each bench driver.

Two faults a test or the lab's fault injector can put on the wire:
`unplug()` closes the listener and every connection, as a powered-off instrument or a pulled
cable does; `freeze()` keeps connections open but reads and drops every message, as a hung
instrument does.
"""

from __future__ import annotations

import socket
import threading
from typing import Any, Protocol


def twins() -> dict[str, type]:
    """The simulated twin of every bench instrument driver, by the driver's short name: what a
    test or a lab serves in the real instrument's place (each takes the lab's clock first)."""
    from bringup.sim_devices.instruments.sim_chiller import SimLaudaIntegralXT
    from bringup.sim_devices.instruments.sim_dmm import SimK34461A
    from bringup.sim_devices.instruments.sim_n5700 import SimN5700
    from bringup.sim_devices.instruments.sim_psu import SimE36312A

    return {"keysight.e36312a": SimE36312A, "keysight.34461a": SimK34461A, "keysight.n5700": SimN5700,
            "lauda.integral_xt": SimLaudaIntegralXT}


class Instrument(Protocol):
    reply_termination: str

    def handle(self, line: str) -> str | None: ...


class InstrumentServer:
    """Serves one instrument on 127.0.0.1 (port 0 picks a free port). `start()` returns the port."""

    def __init__(self, instrument: Instrument, host: str = "127.0.0.1", port: int = 0,
                 name: str | None = None) -> None:
        self.instrument = instrument
        self.host = host
        self.port = port
        self.name = name or type(instrument).__name__
        self.lines = 0  # program messages handled, for tests and the lab's statistics
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._guard = threading.Lock()
        self._frozen = threading.Event()
        self._stopping = False
        # an instrument that brings its own lock takes it in handle() and shares it with the lab's
        # physics; one without is serialised here, since several clients may talk at once
        self._lock = None if getattr(instrument, "lock", None) is not None else threading.Lock()

    @property
    def resource(self) -> str:
        """The VISA resource string a driver opens."""
        return f"TCPIP::{self.host}::{self.port}::SOCKET"

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> int:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self.port))
        listener.listen(8)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stopping = False
        self._spawn(self._accept, f"{self.name}-accept")
        return self.port

    def stop(self) -> None:
        """Close everything and wait for the server's threads to end. Safe to call twice."""
        self.unplug()
        for t in list(self._threads):
            if t is not threading.current_thread():
                t.join(timeout=2.0)
        self._threads.clear()

    def unplug(self) -> None:
        """The instrument vanishes: listener and connections closed, without waiting for threads."""
        self._stopping = True
        with self._guard:
            socks = ([self._listener] if self._listener else []) + list(self._clients)
            self._listener = None
            self._clients.clear()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept() or recv()
            except OSError:
                pass
            s.close()

    def freeze(self, frozen: bool = True) -> None:
        """Stop (or resume) answering: messages are read and dropped, connections stay open."""
        if frozen:
            self._frozen.set()
        else:
            self._frozen.clear()

    def __enter__(self) -> "InstrumentServer":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- serving --------------------------------------------------------------------------------------
    def _spawn(self, target: Any, name: str, *args: Any) -> None:
        t = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads = [x for x in self._threads if x.is_alive()]
        self._threads.append(t)
        t.start()

    def _accept(self) -> None:
        listener = self._listener
        while listener is not None and not self._stopping:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._guard:
                if self._stopping:
                    conn.close()
                    return
                self._clients.add(conn)
            self._spawn(self._serve, f"{self.name}-client", conn)

    def _serve(self, conn: socket.socket) -> None:
        term = self.instrument.reply_termination.encode()
        handle = self.instrument.handle
        frozen = self._frozen.is_set
        lock = self._lock
        buf = b""
        try:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                if b"\n" not in buf and b"\r" not in buf:
                    if len(buf) > 1 << 20:  # a client that never ends its line cannot eat the memory
                        buf = b""
                    continue
                if b"\r" in buf:
                    buf = buf.replace(b"\r\n", b"\n").replace(b"\n\r", b"\n").replace(b"\r", b"\n")
                *lines, buf = buf.split(b"\n")
                out = []
                for raw in lines:
                    if not raw or frozen() or raw.isspace():
                        continue
                    self.lines += 1  # a statistic: an increment lost between two clients does not matter
                    if lock is None:
                        reply = handle(raw.decode("ascii", errors="replace"))
                    else:
                        with lock:
                            reply = handle(raw.decode("ascii", errors="replace"))
                    if reply is not None:
                        out.append(reply.encode("ascii", errors="replace") + term)
                if out:
                    conn.sendall(out[0] if len(out) == 1 else b"".join(out))
        except OSError:
            return
        finally:
            with self._guard:
                self._clients.discard(conn)
            try:
                conn.close()
            except OSError:
                pass
