"""Is the process that wrote a run still alive?

A run left in state "running" by a process that was killed (SIGKILL, power cut, OOM) must show
as interrupted, not as running forever. A pid alone is not enough: pids are reused, so on Linux
the writer also records its process start time and a live pid with another start time counts
as gone.
"""

from __future__ import annotations

import os
import socket


def host_name() -> str:
    return socket.gethostname()


def _stat(pid: int) -> list[bytes] | None:
    """Fields 3.. of /proc/PID/stat (Linux), or None where there is no /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may itself contain spaces and parentheses: split after the last ')'.
    return stat[stat.rfind(b")") + 2:].split()


def start_token(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), or None where unknown."""
    fields = _stat(pid)
    return fields[19].decode() if fields is not None and len(fields) > 19 else None


def writer_alive(host: str, pid: int, token: str | None) -> bool:
    """True if the writer (host, pid, start token) is still running as far as this host can tell.

    A writer on another host cannot be checked; the store lives on a local disk (SQLite WAL does
    not work over network file systems), so a run from another host is treated as gone.
    """
    if host != host_name():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    fields = _stat(pid)
    if fields is None or len(fields) < 20:
        return True  # no /proc: a live pid is all we can know
    if fields[0] in (b"Z", b"X"):
        return False  # killed, not yet reaped by its parent
    return token is None or fields[19].decode() == token
