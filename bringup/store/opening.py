"""Opening a results store for writing: the folder, WAL mode, the schema migrated to the latest,
and a file that is not ours refused with a clear message. Several processes may create the same
store at once (a fleet's first runs), so a busy or locked answer is tried again.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from bringup.store.errors import NotAStore, StoreError
from bringup.store.schema import check_ours, migrate

_OPEN_ATTEMPTS = 40


def _busy(exc: BaseException | None) -> bool:
    while exc is not None:
        code = getattr(exc, "sqlite_errorcode", 0) or 0
        if isinstance(exc, sqlite3.OperationalError) and code & 0xFF in (sqlite3.SQLITE_BUSY,
                                                                          sqlite3.SQLITE_LOCKED):
            return True
        exc = exc.__cause__
    return False


def _prepare(conn: sqlite3.Connection, path: Path) -> None:
    check_ours(conn, path)  # before WAL: a foreign file must fail with a clear message
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise StoreError(f"{path}: the file system does not support SQLite WAL mode ({mode}); "
                         f"put the results store on a local disk")
    conn.execute("PRAGMA synchronous = NORMAL")
    # An overnight soak's WAL is truncated back to this size after each checkpoint.
    conn.execute("PRAGMA journal_size_limit = 67108864")
    migrate(conn, path)


def open_for_writing(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) a store in WAL mode at the latest schema."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder for results store {path}: {exc.strerror}; point "
                         f"--store or BRINGUP_STORE at a writable location") from exc
    pause = threading.Event()
    attempt = 0
    while True:
        attempt += 1
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open results store {path}: {exc}; point --store or "
                             f"BRINGUP_STORE at a writable location") from exc
        try:
            _prepare(conn, path)
            return conn
        except BaseException as exc:
            conn.close()
            # Switching a fresh file to WAL needs it to itself: when several processes create the
            # same store at once SQLite answers "locked" at once instead of waiting. Try again.
            if _busy(exc) and attempt < _OPEN_ATTEMPTS:
                pause.wait(0.01 * attempt)
                continue
            if isinstance(exc, sqlite3.OperationalError):  # cannot open, read-only, disk I/O
                raise StoreError(f"cannot write results store {path}: {exc}; point --store or "
                                 f"BRINGUP_STORE at a writable location") from exc
            if isinstance(exc, sqlite3.DatabaseError):
                raise NotAStore(f"{path} cannot be used as a results store ({exc})") from exc
            raise
