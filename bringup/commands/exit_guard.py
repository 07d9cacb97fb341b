"""`bringup run` exits with the code its run recorded, whatever signals arrive after the run ended.

The runner handles Ctrl-C and SIGTERM while it runs (abort, then acknowledge and ignore any
later one through the safe state: bringup/run/runner.py). Once it has recorded its end it gives
the signals back, and the command still has work left: the lab's ground truth, the JUnit file,
closing the embedded lab. A Ctrl-C there used to become click's "Aborted!" (exit 1, which reads
as FAIL), and a SIGTERM exit 143, while the store said 3. From the recorded end on, this guard
says so on stderr and ignores them; before a run has ended, a signal does what it did before.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Callable

Reporter = Callable[[str, dict[str, Any]], None]


class ExitGuard:
    """Around the run command: keeps the recorded exit code from the run's end to the exit."""

    def __init__(self, process_entry: bool = False) -> None:
        self.code: int | None = None  # the recorded exit code, once the run has ended
        # the command is the process's whole life (not a test's CliRunner): the process exits
        # right after, and its interpreter still runs code on the way out (click's, threads
        # joined, atexit), where a restored default handler would turn a Ctrl-C into exit -2
        self.process_entry = process_entry
        self._previous: dict[int, Any] = {}

    def reporting(self, reporter: Reporter) -> Reporter:
        """`reporter`, also noting the exit code the run records (its `end` report)."""
        def report(kind: str, data: dict[str, Any]) -> None:
            if kind == "end":
                self.code = data["exit_code"]
            reporter(kind, data)
        return report

    def _handler(self, signum: int, frame: Any) -> None:
        if self.code is None:  # no run has ended: the signal means what it meant before
            previous = self._previous[signum]
            if callable(previous):
                previous(signum, frame)
            elif previous != signal.SIG_IGN:
                signal.signal(signum, signal.SIG_DFL)
                os.kill(os.getpid(), signum)
            return
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        try:  # one unbuffered write: a handler may run in the middle of a print
            os.write(2, f"{name}: the run has ended (exit code {self.code}, as recorded); ignoring it\n".encode())
        except OSError:
            pass

    def __enter__(self) -> "ExitGuard":
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._previous[s] = signal.getsignal(s)
                signal.signal(s, self._handler)
        return self

    def __exit__(self, exc_type: type | None, *_: object) -> None:
        if self.process_entry and self.code is not None and exc_type is SystemExit:
            # ignored by the OS from here to the end: the interpreter's shutdown puts a Python
            # handler back to the default (death by the signal: -15) but leaves an ignored one
            for s in self._previous:
                signal.signal(s, signal.SIG_IGN)
            return
        for s, h in self._previous.items():
            signal.signal(s, h)
