"""A pyvisa-like resource manager that replays a transcript of VISA I/O: no instrument, no mock framework.

A transcript is a list of (sent, reply) pairs. `sent` is the exact bytes the driver must write,
terminator included. `reply` is the bytes the instrument answers (terminator included), None for
a command with no answer, TIMEOUT for an answer that never comes, or an exception instance that
the write itself raises (a refused connection, a broken pipe).
"""

from __future__ import annotations

from typing import Any

from pyvisa import constants
from pyvisa.errors import VisaIOError

TIMEOUT = object()


class TranscriptMismatch(BaseException):
    """BaseException on purpose: the driver turns every Exception into a DriverError, which would
    hide a transcript mismatch behind an error the test might be expecting."""


class Transcript:
    """Stands in for pyvisa.ResourceManager; hand it to the driver as `resource_manager=`
    (a test seam, never a station option)."""

    def __init__(self, pairs: list[tuple[bytes, Any]], low_level: bool = True) -> None:
        self.pairs = list(pairs)
        self.low_level = low_level  # offer PyVISA's viRead/viWrite calls, as real sessions do
        self.position = 0
        self.opened: list[tuple[str, dict[str, Any]]] = []
        self.resources: list[FakeResource] = []

    def open_resource(self, resource: str, **kwargs: Any) -> "FakeResource":
        self.opened.append((resource, kwargs))
        res = FakeResource(self, resource) if self.low_level else HighLevelOnly(self, resource)
        self.resources.append(res)
        return res

    def next(self, sent: bytes) -> Any:
        if self.position >= len(self.pairs):
            raise TranscriptMismatch(f"unexpected write {sent!r}: the transcript is over")
        expected, reply = self.pairs[self.position]
        if sent != expected:
            raise TranscriptMismatch(f"step {self.position}: expected {expected!r}, driver sent {sent!r}")
        self.position += 1
        return reply

    @property
    def done(self) -> bool:
        return self.position == len(self.pairs)

    def sent(self) -> list[bytes]:
        return [s for s, _ in self.pairs[: self.position]]


class FakeResource:
    """The subset of pyvisa's MessageBasedResource that drivers use."""

    def __init__(self, transcript: Transcript, name: str) -> None:
        self.transcript = transcript
        self.resource_name = name
        self.read_termination = "\n"
        self.write_termination = "\n"
        self.timeouts: list[float | None] = []
        self.flushes = 0
        self.closed = False
        self._pending: Any = None
        self._expecting = False

    @property
    def timeout(self) -> float | None:
        return self.timeouts[-1] if self.timeouts else None

    @timeout.setter
    def timeout(self, ms: float | None) -> None:
        self.timeouts.append(ms)

    def write_raw(self, data: bytes) -> int:
        reply = self.transcript.next(bytes(data))
        if isinstance(reply, BaseException):
            raise reply
        self._pending, self._expecting = reply, reply is not None
        return len(data)

    def read_raw(self) -> bytes:
        if not self._expecting:
            raise TranscriptMismatch("the driver reads, but the transcript has no reply here")
        reply, self._pending, self._expecting = self._pending, None, False
        if reply is TIMEOUT:
            raise VisaIOError(constants.StatusCode.error_timeout)
        if not reply.endswith(self.read_termination.encode("ascii")):
            raise VisaIOError(constants.StatusCode.error_timeout)  # a real session waits for the terminator
        return reply

    def write(self, message: str) -> int:
        return self.write_raw((message + self.write_termination).encode("ascii"))

    def read(self) -> str:
        return self.read_raw().decode("ascii")[: -len(self.read_termination)]

    def query(self, message: str) -> str:
        self.write(message)
        return self.read()

    def flush(self, mask: Any) -> None:
        self.flushes += 1

    def close(self) -> None:
        self.closed = True

    # PyVISA's low-level API: resource.visalib.read/write(resource.session, ...)
    session = 1

    @property
    def visalib(self) -> "_VisaLib":
        return _VisaLib(self)


class _VisaLib:
    def __init__(self, res: FakeResource) -> None:
        self.res = res

    def write(self, session: int, data: bytes) -> tuple[int, Any]:
        return self.res.write_raw(data), constants.StatusCode.success

    def read(self, session: int, count: int) -> tuple[bytes, Any]:
        return self.res.read_raw(), constants.StatusCode.success_termination_character_read


class HighLevelOnly(FakeResource):
    """A resource from a wrapper that offers only the message-based methods."""

    visalib = None  # type: ignore[assignment]


# -- the same transcript, sent to the simulated twin ------------------------------------------------

def replay_on_twin(twin: Any, pairs: list[tuple[bytes, Any]], read_termination: str = "\n") -> list[str]:
    """Send a transcript's commands, byte for byte, to a simulated instrument over a real PyVISA
    session and return how the twin's replies differ from the transcript's (empty: they agree).

    So a transcript cannot drift from the twin: what a driver test says the instrument answers is
    what the simulated lab answers. A reading (`MEAS...`, LAUDA's `IN_PV_...`) depends on the
    physics behind the output, so there only the shape must agree: as many numbers, each a number.
    """
    import pyvisa

    from bringup.sim_devices.instruments.scpi_server import InstrumentServer

    differences = []
    with InstrumentServer(twin) as server:
        res = pyvisa.ResourceManager("@py").open_resource(
            server.resource, read_termination=read_termination, write_termination="", timeout=2000)
        try:
            for sent, reply in pairs:
                res.write_raw(sent)
                if reply is None:
                    continue
                got = res.read_raw()
                if got != reply and not (_is_reading(sent) and _numbers(got) == _numbers(reply) is not None):
                    differences.append(f"{sent!r}: transcript {reply!r}, twin {got!r}")
        finally:
            res.close()
    return differences


def _is_reading(sent: bytes) -> bool:
    return sent.upper().startswith((b"MEAS", b"IN_PV"))


def _numbers(reply: bytes) -> int | None:
    """How many numbers a reply holds, or None if any field is not one."""
    fields = reply.strip().replace(b";", b",").split(b",")
    try:
        [float(f) for f in fields]
    except ValueError:
        return None
    return len(fields)
