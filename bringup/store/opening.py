"""Opening a results store for writing: the folder, WAL mode, the schema migrated to the latest,
and a file that is not ours refused with a clear message. Several processes may create the same
store at once (a fleet's first runs), so a busy or locked answer is tried again.
"""

from __future__ import annotations

import errno
import os
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


def _create(path: Path) -> None:
    """Refuse a symlink planted where the store or its journal files go, and create a new store file
    with the user's umask (SQLite's own default is 0644 whatever the umask says).

    The store's folder may be a link (a results folder on another disk is the user's choice); the
    files in it are bringup's, and a link there would have SQLite write a run into whatever it points
    at. O_EXCL | O_NOFOLLOW make the creation itself refuse a link planted after the check."""
    for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        if p.is_symlink():
            raise StoreError(f"refusing to open results store {path}: {p} is a symbolic link (to "
                             f"{os.readlink(p)}), and SQLite would write through it; remove the link or point "
                             f"--store or BRINGUP_STORE at another path")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666))
    except FileExistsError:
        pass  # an existing store (or one another process is creating this instant): SQLite opens it
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise StoreError(f"refusing to open results store {path}: it is a symbolic link; remove the link "
                             f"or point --store or BRINGUP_STORE at another path") from exc
        raise StoreError(f"cannot create results store {path}: {exc.strerror}; point --store or "
                         f"BRINGUP_STORE at a writable location") from exc


def open_for_writing(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) a store in WAL mode at the latest schema."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the folder for results store {path}: {exc.strerror}; point "
                         f"--store or BRINGUP_STORE at a writable location") from exc
    _create(path)
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
