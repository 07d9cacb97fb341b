"""Our 34461A driver's byte transcripts (tests/drivers/test_k34461a_transcript.py), replayed
against the simulated 34461A: the twin must give the replies the transcripts expect of the real
meter, so the two never drift apart.

Each transcript test is run once with a recording Transcript to learn its exchanges; those are
then sent, byte for byte, to the twin on a raw socket. A measurement's reply depends on the signal,
so before each query the twin's input is set to the value the transcript answers (an overload: a
signal beyond every range); every other reply must be the same text.
"""

from __future__ import annotations

import inspect
import socket

import pytest
import test_k34461a_transcript as transcripts
from visa_transcript import Transcript

from bringup.core.clock import SimClock
from bringup.sim_devices.instruments.scpi_server import InstrumentServer
from bringup.sim_devices.instruments.sim_dmm import OVERLOAD, SimK34461A

CASES = [name for name, fn in vars(transcripts).items()
         if name.startswith("test_") and inspect.isfunction(fn) and not inspect.signature(fn).parameters]


def exchanges(name: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes | None]]:
    """The (sent, reply) pairs the transcript test `name` goes through."""
    seen: list[Transcript] = []

    class Recording(Transcript):
        def __init__(self, *a, **kw) -> None:
            super().__init__(*a, **kw)
            seen.append(self)

    with monkeypatch.context() as m:
        m.setattr(transcripts, "Transcript", Recording)
        getattr(transcripts, name)()
    assert seen, f"{name} builds no transcript"
    return [pair for t in seen for pair in t.pairs[: t.position]]


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


class Signal:
    """What the meter's input terminals see: set by the replay before each query."""

    value = 0.0

    def __call__(self) -> float:
        return self.value


def test_there_are_transcripts_to_replay():
    assert len(CASES) >= 5


@pytest.mark.parametrize("name", CASES)
def test_the_twin_answers_each_transcript_as_the_real_meter_does(name, monkeypatch):
    pairs = exchanges(name, monkeypatch)
    signal = Signal()
    meter = SimK34461A(SimClock(), sources={"VOLT": signal, "CURR": signal, "RES": signal}, noise=False)
    with InstrumentServer(meter) as server, socket.create_connection(("127.0.0.1", server.port), timeout=2) as s:
        inbox = s.makefile("rb")
        for sent, reply in pairs:
            assert isinstance(reply, (bytes, type(None))), f"{name}: a fault transcript is not replayable"
            expected = reply.decode().rstrip("\n") if reply is not None else None
            value = number(expected) if expected is not None else None
            if value is not None:
                signal.value = 1e12 if abs(value) >= OVERLOAD else value
            s.sendall(sent)
            if expected is None:
                continue
            got = inbox.readline().decode().rstrip("\n")
            if value is None:
                assert got == expected, f"{name}: {sent!r}"
            else:
                assert number(got) == pytest.approx(value, rel=1e-9), f"{name}: {sent!r} -> {got!r}"
        s.sendall(b"SYST:ERR?\n")
        assert inbox.readline() == b'+0,"No error"\n', f"{name}: the twin refused a command the driver sends"
