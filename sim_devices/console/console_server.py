"""The sled's management console on a pseudo-terminal: what a driver opens with pyserial.

    with ConsoleServer(sled) as console:
        print(console.path)             # /dev/pts/7: the station's `resource` for the sled

The server owns the master side of a pty and keeps the slave side open (so a client may come
and go without the line hanging up); a thread reads command lines from the master and writes
framed replies (docs/console.md):

    <body lines>\\r\\n ...
    OK[ @tag] #<body length>:<CRC-16>\\r\\n        or   ERR <code> <text>[ @tag] #<len>:<crc>\\r\\n
    sled>

A command may start with `@<tag> ` (echoed in the status line, so a reply is never taken for
another's) and end with ` *<CRC-16>` of the text before it (a garbled command is refused with
ERR 13, never run). `last <tag>` sends the reply to tagged command <tag> again, if it was the
last one run: how a driver learns whether an action whose reply it lost ran at all.

Noise: while the sled's `console_noise` fault is active (`sled.console_impairment()`), every line
the server sends may lose one byte (`drop_rate`), have one byte garbled (`garble_rate`), or stall
for `stall_s` of clock time before it goes out (`stall_rate`); the rates are per line. A stall
is a stall on the wire, so it lasts wall time: `stall_s / speed` on a clock running at a speed,
`stall_s * jump_stall_scale` on a jumping simulated clock (where clock time costs no wall time;
the default 0.1 makes the catalogue's 2 s stall 0.2 s, under the driver's default 1 s timeout:
raise it past the timeout to see stalls time out), `stall_s` on a real clock. A stalled console
reads no input, as a hung BMC does.

The console prints no greeting: a client sends an empty line and gets the prompt (any greeting
would race with the client's opening of the port, which flushes what came before).
"""

from __future__ import annotations

import binascii
import os
import random
import select
import threading
import tty
from typing import Any

from bringup.core.clock import RealClock

from bringup.sim_devices.console.bmc_format import E_CHECKSUM, E_NO_REPLY, E_USAGE, Answer
from bringup.sim_devices.console.bmc_shell import BmcShell

PROMPT = b"sled> "
MAX_LINE = 1024


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF): `crc16(b"123456789") == 0x29B1`."""
    return binascii.crc_hqx(data, 0xFFFF)


def frame(answer: Answer, tag: int | None) -> bytes:
    """Body lines and the status line of one reply (the prompt is not part of it)."""
    body = "".join(line + "\r\n" for line in answer.lines).encode("ascii", errors="replace")
    status = "OK" if answer.code == 0 else f"ERR {answer.code} {answer.text}"
    if tag is not None:
        status += f" @{tag}"
    text = status.encode("ascii", errors="replace")
    return body + text + b" #%d:%04X\r\n" % (len(body), crc16(body + text))


class ConsoleServer:
    """Serves one sled's console on a new pseudo-terminal. `start()` returns the device path."""

    def __init__(self, sled: Any, *, lock: Any = None, jump_stall_scale: float = 0.1, **identity: Any) -> None:
        self.sled = sled
        self.clock = sled.clock
        self.shell = BmcShell(sled, lock=lock, **identity)
        self.jump_stall_scale = float(jump_stall_scale)
        self.path: str | None = None
        self.commands = 0               # command lines answered, for tests and the lab's statistics
        self.impaired_lines = 0         # lines the noise fault dropped, garbled or stalled
        self._master: int | None = None
        self._slave: int | None = None
        self._wake: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wall = RealClock()        # stalls are wall time on the wire; interrupt() ends them at stop
        self._last: tuple[int, bytes] | None = None
        self._rng: random.Random | None = None
        self._rng_seed: Any = None
        self._line = bytearray()
        self._after_cr = False
        self._close_guard = threading.Lock()

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> str:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing, no CR/LF translation: bytes go through as sent
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self._wake = os.pipe()
        self.path = os.ttyname(slave)
        self._stopping.clear()
        self._wall.clear()
        self._thread = threading.Thread(target=self._serve, name=f"console {self.path}", daemon=True)
        self._thread.start()
        return self.path

    def stop(self) -> None:
        """Stop serving and close the pty (a client then reads an error: the console is gone). Safe twice."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stopping.set()
        self._wall.interrupt()
        try:
            os.write(self._wake[1], b"x")
        except (OSError, TypeError):
            pass
        thread.join(timeout=2.0)
        if not thread.is_alive():  # else the thread closes them itself when its long command ends
            self._close()

    def _close(self) -> None:
        with self._close_guard:
            fds, self._master, self._slave, self._wake = (self._master, self._slave, *(self._wake or ())), None, None, None
        for fd in fds:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def __enter__(self) -> "ConsoleServer":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- serving ----------------------------------------------------------------------------------
    def _serve(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    ready, _, _ = select.select([self._master, self._wake[0]], [], [])
                    if self._wake[0] in ready:
                        return
                    data = os.read(self._master, 4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except (OSError, TypeError, ValueError):  # closed under us
                    return
                for line in self._lines(data):
                    self._send(self._reply(line) + PROMPT)
                    if self._stopping.is_set():
                        return
        finally:
            if self._stopping.is_set():
                self._close()

    def _lines(self, data: bytes) -> list[bytes]:
        """Complete lines in `data`; CR, LF and CRLF all end a line (CRLF is one end, not two)."""
        if not self._after_cr and data.endswith(b"\n") and b"\r" not in data:
            # what a driver sends: whole LF-ended lines, split at C speed (the loop below, byte
            # by byte, gives the same lines, each cut to MAX_LINE + 1 bytes)
            parts = data.split(b"\n")[:-1]
            parts[0] = bytes(self._line) + parts[0]
            self._line.clear()
            return [part[:MAX_LINE + 1] for part in parts]
        out = []
        for byte in data:
            if byte in (10, 13):
                if byte == 10 and self._after_cr:
                    self._after_cr = False
                    continue
                self._after_cr = byte == 13
                out.append(bytes(self._line))
                self._line.clear()
            else:
                self._after_cr = False
                if len(self._line) <= MAX_LINE:
                    self._line.append(byte)
        return out

    def _reply(self, raw: bytes) -> bytes:
        """The framed reply to one command line (empty for an empty line: just the prompt)."""
        if len(raw) > MAX_LINE:
            return frame(Answer(code=E_USAGE, text=f"line longer than {MAX_LINE} characters"), None)
        line = raw.decode("ascii", errors="replace").strip()
        if not line:
            return b""
        if len(line) > 6 and line[-6:-4] == " *":
            text, check = line[:-6], line[-4:]
            if f"{crc16(text.encode('ascii', errors='replace')):04X}" != check.upper():
                # the tag itself may be what was garbled: answer untagged, run nothing
                return frame(Answer(code=E_CHECKSUM, text="command checksum mismatch: not run"), None)
            line = text.rstrip()
        tag = None
        if line.startswith("@"):
            head, _, rest = line.partition(" ")
            if head[1:].isdigit():
                tag, line = int(head[1:]), rest.strip()
        self.commands += 1
        words = line.split()
        if words and words[0].lower() == "last":
            return self._replay(words[1:], tag)
        answer = self.shell.execute(line)
        if answer.wait_s > 0:
            self.clock.sleep(answer.wait_s)  # outside the lab's lock: the rest of the lab runs on
        out = frame(answer, tag)
        if tag is not None:
            self._last = (tag, out)
        return out

    def _replay(self, args: list[str], tag: int | None) -> bytes:
        want = args[0].lstrip("@") if args else ""
        if not want.isdigit():
            return frame(Answer(code=E_USAGE, text="usage: last <tag>"), tag)
        if self._last is not None and self._last[0] == int(want):
            return self._last[1]
        last = f"@{self._last[0]}" if self._last else "none"
        return frame(Answer(code=E_NO_REPLY, text=f"@{want} was not the last command run (last: {last})"), tag)

    # -- the wire, and what noise does to it -------------------------------------------------------
    def _send(self, data: bytes) -> None:
        with self.shell.lock:  # reading the fault advances the sled: the lab's other servers share it
            noise = self.sled.console_impairment()
        if noise:
            data = self._impair(data, noise)
            if data is None:
                return
        self._write(data)

    def _impair(self, data: bytes, noise: dict[str, Any]) -> bytes | None:
        if self._rng is None or self._rng_seed != noise.get("seed"):
            self._rng_seed = noise.get("seed")
            self._rng = random.Random(self._rng_seed)
        rng = self._rng
        out = bytearray()
        for line in data.splitlines(keepends=True):
            line = bytearray(line)
            hit = False
            if rng.random() < float(noise.get("stall_rate", 0.0)):
                hit = True
                self._write(bytes(out))
                out.clear()
                if not self._stall(self._stall_wall_s(float(noise.get("stall_s", 0.0)))):
                    return None
            if line and rng.random() < float(noise.get("drop_rate", 0.0)):
                hit = True
                del line[rng.randrange(len(line))]
            if line and rng.random() < float(noise.get("garble_rate", 0.0)):
                hit = True
                i = rng.randrange(len(line))
                line[i] ^= rng.randrange(1, 256)
            self.impaired_lines += hit
            out += line
        return bytes(out)

    def _stall(self, seconds: float) -> bool:
        """Wait `seconds` of wall time (inf: until stop). False when stop() cut it short."""
        while seconds > 0 and not self._stopping.is_set():
            step = min(seconds, 60.0)  # an infinite wait is many finite ones: Event.wait takes no inf
            if not self._wall.sleep(step):
                return False
            seconds -= step
        return not self._stopping.is_set()

    def _stall_wall_s(self, stall_s: float) -> float:
        """A stall is wall time on the line; where clock time moves only by sleeps (any --speed of
        `bringup run`) it stands still meanwhile, and the stall is scaled down to keep runs short."""
        if not getattr(self.clock, "free_running", True):
            return stall_s * self.jump_stall_scale
        speed = getattr(self.clock, "speed", None) if getattr(self.clock, "simulated", False) else None
        return stall_s / speed if speed else stall_s

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._stopping.is_set():
            try:
                n = os.write(self._master, view)
                view = view[n:]
            except (BlockingIOError, InterruptedError):
                # the client is not reading: wait until it does, or until stop() wakes us
                select.select([self._wake[0]], [self._master], [])
            except (OSError, TypeError):
                return


def main(argv: list[str] | None = None) -> None:
    """`python -m bringup.sim_devices.console.console_server`: a simulated sled's console to type at by hand."""
    import argparse

    from bringup.core.clock import SimClock

    from bringup.sim_devices.sled.sled import Sled

    parser = argparse.ArgumentParser(description="Serve a simulated sled's console on a pseudo-terminal.")
    parser.add_argument("--sled", help="sled description (YAML); default: the built-in sled")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--speed", type=float, default=1.0, help="simulated seconds per wall second")
    parser.add_argument("--vin", type=float, default=12.0, help="volts on the sled's input (0: unpowered)")
    args = parser.parse_args(argv)
    clock = SimClock(speed=args.speed, free_running=True)  # a person types at it: time runs by itself
    sled = Sled.from_yaml(args.sled, clock, args.seed) if args.sled else Sled(None, clock, args.seed)
    sled.set_input(args.vin)
    with ConsoleServer(sled) as server:
        print(server.path, flush=True)
        print(f"try: python -m serial.tools.miniterm --echo {server.path} 115200   (Ctrl-C here to stop)",
              flush=True)
        try:
            threading.Event().wait()  # until Ctrl-C
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
