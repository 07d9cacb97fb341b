"""The sled console protocol on the driver's side (docs/console.md): framing, and surviving noise.

A `ConsoleLink` sends one command at a time on a pyserial port and returns its `Reply` only once
the reply is proven whole: the status line carries our tag, the body length and a CRC-16 over
body and status, so a dropped, garbled or stale reply is detected and never parsed into a wrong
value. What it does when a reply does not verify:

- it resynchronises on the prompt, then asks the console `last <tag>`, up to `retries` times.
  The console either replays the command's own reply (it ran: that reply is the answer) or
  says the tag was not the last command run (it never arrived: sending it again is safe). A
  command the console refused as garbled (ERR 13, checksum) did not run either. So an action
  is never run twice, and a read that takes time (a 30 s PRBS run) is not run again;
- a read (idempotent) may also be sent again when the console cannot replay replies at all;
  an action whose outcome stays unknown is an error, never sent again blindly;
- every retry is reported to `on_retry`, and no reply after all attempts is an error, never a
  value: ConsoleGarbled (the console talks but nothing verifies), ConsoleSilent (no byte at all),
  or, when the port itself fails, ConsolePortError.

The link knows nothing of roles or steps: the driver turns these into DriverError, StepTimeout and
InstrumentUnreachable.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from typing import Any, Callable

PROMPT = b"sled> "
# OK|ERR <code> <text>, optional tag, then body length and CRC over body + everything before " #"
_STATUS = re.compile(rb"^(?P<status>OK|ERR (?P<code>\d+)(?: (?P<text>.*?))?)(?: @(?P<tag>\d+))?"
                     rb" #(?P<len>\d+):(?P<crc>[0-9A-F]{4})\r?$")
_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s"]*)')
E_CHECKSUM, E_NO_REPLY = 13, 21


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF), the console's check: `crc16(b"123456789") == 0x29B1`."""
    return binascii.crc_hqx(data, 0xFFFF)


def frame_command(tag: int, command: str) -> bytes:
    """`@<tag> <command> *<CRC-16 of '@<tag> <command>'>` and a line feed."""
    text = f"@{tag} {command}"
    return f"{text} *{crc16(text.encode('ascii')):04X}\n".encode("ascii")


class ConsoleError(Exception):
    """The link could not get a verified reply."""


class ConsolePortError(ConsoleError):
    """The serial port itself failed (unplugged adapter, closed pty, ...)."""


class ConsoleSilent(ConsoleError):
    """Not one byte came back in `silent_limit` attempts in a row: the console is not answering."""


class ConsoleGarbled(ConsoleError):
    """Bytes came back, but no reply verified in all attempts."""


class ActionUnconfirmed(ConsoleError):
    """An action's reply was lost and the console could not tell whether it ran."""


@dataclass(frozen=True)
class Reply:
    """One verified reply."""

    tag: int | None
    code: int            # 0 for OK
    text: str            # the ERR text
    body: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    def records(self) -> list[dict[str, str]]:
        """Every body line as {key: value} (quotes removed, escapes undone)."""
        out = []
        for line in self.body.splitlines():
            fields = {k: (_unquote(v) if v.startswith('"') else v) for k, v in _FIELD.findall(line)}
            if fields:
                out.append(fields)
        return out


def _unquote(v: str) -> str:
    return re.sub(r"\\(.)", r"\1", v[1:-1])


@dataclass
class _Outcome:
    kind: str                  # "reply" | "garbled" | "silent"
    reply: Reply | None = None
    why: str = ""


@dataclass
class ConsoleLink:
    """One console on one open pyserial port (anything with write/read/in_waiting/timeout/reset_input_buffer)."""

    port: Any
    retries: int = 3                       # extra attempts after the first
    silent_limit: int = 3                  # attempts in a row without a byte before the console counts as gone
    on_retry: Callable[[str, int, str], None] = lambda command, attempt, why: None
    prompt: bytes = PROMPT
    idle_gap: float = 0.05                 # a line quiet this long after some bytes has finished talking
    tag: int = 0
    dirty: bool = True                     # resynchronise before the next command
    silent_run: int = 0

    # -- the one entry point -----------------------------------------------------------------------
    def transact(self, command: str, wait: Callable[[], float], idempotent: bool = True) -> Reply:
        """Send `command`, return its verified reply (OK or ERR). `wait()` gives each attempt's wall time."""
        pending: int | None = None  # tag of a command sent whose reply we lost
        garbled_seen = False
        why = ""
        for attempt in range(1, self.retries + 2):
            if attempt > 1:
                self.on_retry(command, attempt, why)
            seconds = wait()
            if self.dirty and not self._resync(seconds):
                why = f"no prompt on resynchronisation within {seconds:.3g} s of wall time"
                self._silent(command, why)
                continue
            tag = self._next_tag()
            if pending is None:
                outcome = self._exchange(frame_command(tag, command), {tag}, seconds)
            else:
                # ask for the lost reply rather than run the command again: an action must not run
                # twice, and a read that took time (a 30 s PRBS run) need not
                outcome = self._exchange(frame_command(tag, f"last {pending}"), {pending, tag}, seconds)
                if outcome.kind == "reply":
                    r = outcome.reply
                    if r.tag == pending:
                        return r  # it ran; this is its own reply, replayed
                    if r.tag is None and r.code == E_CHECKSUM:
                        why = "the console received 'last' garbled"
                        continue
                    if r.code == E_NO_REPLY:
                        pending, why = None, f"@{r.text.split()[0].lstrip('@') or '?'} never reached the console"
                        continue
                    if not idempotent:
                        raise ActionUnconfirmed(f"{command!r}: its reply was lost and the console cannot replay "
                                                f"it (ERR {r.code} {r.text}); not sent again")
                    pending, why = None, f"the console cannot replay replies (ERR {r.code}); asking again"
                    continue
            if outcome.kind == "reply":
                r = outcome.reply
                if r.tag is None and r.code == E_CHECKSUM:
                    why = "the console received the command garbled and did not run it"
                    continue
                return r
            garbled_seen |= outcome.kind == "garbled"
            why = outcome.why
            if outcome.kind == "silent":
                self._silent(command, why)
            if pending is None:
                pending = tag
        if not idempotent and pending is not None:
            raise ActionUnconfirmed(f"{command!r}: no verified reply in {self.retries + 1} attempts ({why}); "
                                    "it may or may not have run, and is not sent again blindly")
        if garbled_seen:
            raise ConsoleGarbled(f"no verified reply to {command!r} in {self.retries + 1} attempts ({why})")
        raise ConsoleSilent(f"no reply to {command!r} in {self.retries + 1} attempts")

    def _silent(self, command: str, why: str) -> None:
        self.silent_run += 1
        if self.silent_run >= self.silent_limit:
            raise ConsoleSilent(f"not one byte back in {self.silent_run} attempts in a row "
                                f"(last: {command!r}: {why})")

    def _next_tag(self) -> int:
        self.tag = self.tag % 999_999 + 1
        return self.tag

    # -- the wire ------------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        try:
            self.port.write(data)
        except Exception as exc:  # SerialException, SerialTimeoutException, OSError: the port is gone
            raise ConsolePortError(f"cannot write to the console: {exc}") from None

    def _read_some(self, left: float) -> bytes:
        """Whatever arrives within `left` seconds (at least one byte), or b"" when the time is up."""
        port = self.port
        try:
            # re-arm the port's timeout only when it is clearly too long: each change is a tcsetattr
            if port.timeout is None or port.timeout > left * 1.1 or port.timeout < left * 0.5:
                port.timeout = max(left, 0.001)
            data = port.read(1)
            if data:
                waiting = port.in_waiting
                if waiting:
                    data += port.read(waiting)
            return data
        except Exception as exc:
            raise ConsolePortError(f"cannot read from the console: {exc}") from None

    def _resync(self, seconds: float) -> bool:
        """Drop whatever is buffered, send an empty line, and wait for the prompt (or, if the prompt
        itself comes garbled, for the line to go quiet). False if not one byte came back."""
        try:
            self.port.reset_input_buffer()
        except Exception as exc:
            raise ConsolePortError(f"cannot flush the console's input: {exc}") from None
        self._write(b"\n")
        buf = b""
        for left in _countdown(seconds):
            chunk = self._read_some(min(left, self.idle_gap) if buf else left)
            if not chunk:
                break
            buf += chunk
            if buf.endswith(self.prompt):
                break
        if not buf:
            return False
        self.dirty = False  # at the prompt, or quiet: what is still in flight carries a stale tag
        self.silent_run = 0
        return True

    def _exchange(self, data: bytes, accept: set[int], seconds: float) -> _Outcome:
        """Send one framed command; read until a verified status line with one of `accept` tags."""
        self._write(data)
        buf = bytearray()
        scanned = 0          # bytes of `buf` split into lines so far
        accounted = 0        # bytes of `buf` known to be stale replies (verified, with another tag)
        why = ""
        for left in _countdown(seconds):
            chunk = self._read_some(left)
            if not chunk:
                break
            self.silent_run = 0
            buf += chunk
            while (end := buf.find(b"\n", scanned)) >= 0:
                start, scanned = scanned, end + 1
                m = _STATUS.match(bytes(buf[start:end]))
                if m is None:
                    continue
                reply, bad = _verify(m, buf, start)
                if reply is None:
                    why = bad
                    if m.group("tag") and int(m.group("tag")) in accept:
                        self.dirty = True  # our own status line, damaged: no need to wait for more
                        return _Outcome("garbled", why=bad)
                elif reply.tag in accept or (reply.tag is None and reply.code == E_CHECKSUM):
                    self.dirty = not bytes(buf[scanned:]).startswith(self.prompt)
                    return _Outcome("reply", reply)
                else:
                    accounted = scanned + (len(self.prompt) if bytes(buf[scanned:]).startswith(self.prompt) else 0)
            # the console is back at its prompt, and what came before it is not a stale reply:
            # our reply went by damaged (its status line, or the line end before the prompt, lost)
            if buf.endswith(self.prompt) and len(buf) - len(self.prompt) > accounted:
                self.dirty = True
                return _Outcome("garbled", why=why or "a reply without a valid status line")
        self.dirty = True
        if buf:
            return _Outcome("garbled", why=why or f"no verified reply within {seconds:.3g} s of wall time")
        return _Outcome("silent", why=f"no reply within {seconds:.3g} s of wall time")


def _verify(m: re.Match, buf: bytearray, line_start: int) -> tuple[Reply | None, str]:
    """The reply a status line closes, if its length and CRC hold."""
    length = int(m.group("len"))
    if length > line_start:
        return None, "a reply shorter than its stated length (bytes dropped)"
    body = bytes(buf[line_start - length:line_start])
    if crc16(body + m.group("status") + (b" @" + m.group("tag") if m.group("tag") else b"")) != int(m.group("crc"), 16):
        return None, "a reply whose CRC does not match (bytes garbled or dropped)"
    try:
        text = body.decode("ascii")
        err = (m.group("text") or b"").decode("ascii")
    except UnicodeDecodeError:
        return None, "a reply with bytes that are not ASCII"
    tag = int(m.group("tag")) if m.group("tag") else None
    return Reply(tag=tag, code=int(m.group("code") or 0), text=err, body=text), ""


def _countdown(seconds: float):
    """Yield the seconds left until `seconds` from now have passed (pyserial's own monotonic timer)."""
    from serial.serialutil import Timeout

    timer = Timeout(seconds)
    while True:
        left = timer.time_left()
        if left <= 0:
            return
        yield left
