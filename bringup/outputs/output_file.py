"""Writing an output file (an export, a JUnit report, a plot, a station file) whole or not at all.

Below export.py and junit.py, which both write files, so neither imports the other for it.

A path bringup writes may have been prepared by someone else (a shared lab machine, a CI
workspace): a symlink planted where the file goes would have the write land on whatever it
points at (someone's ~/.ssh/authorized_keys). So the new file is made beside the destination,
created exclusively (O_EXCL never follows a link), with the user's umask, and renamed over the
destination; a destination that is a symlink is refused outright, naming it. The rename itself
replaces a link rather than writing through one, so even a link planted between the check and
the rename leaves what it points at untouched.
"""

from __future__ import annotations

import os
from pathlib import Path


class ExportError(Exception):
    """The export could not be written; the message names the file and what to do."""


def _store_files(store: Path) -> set[Path]:
    base = store.resolve()
    return {base, Path(f"{base}-wal"), Path(f"{base}-shm"), Path(f"{base}-journal")}


def write_file(out: Path, content: str | bytes, store: Path) -> None:
    """Write `content` to `out` whole or not at all; never over the store's own files."""
    if not out.is_symlink() and out.resolve() in _store_files(store):
        raise ExportError(f"refusing to write the export over the results store {out}; "
                          f"choose another -o path")
    write_whole(out, content, "-o", "the results store is unchanged")


def write_whole(out: Path, content: str | bytes, option: str, unchanged: str) -> None:
    """Write `content` to `out` whole or not at all, never through a symlink; ExportError names `out`,
    the `option` that gave it, and what stayed `unchanged`."""
    out = Path(out)
    if out.is_symlink():
        raise ExportError(f"refusing to write {out}: it is a symbolic link (to {os.readlink(out)}), and writing "
                          f"would change the file it points at; remove the link or choose another {option} path "
                          f"({unchanged})")
    if out.is_dir():
        raise ExportError(f"cannot write {out}: it is a folder; give a file name with {option}")
    # Beside the destination (same file system, so the rename is atomic).
    tmp = out.with_name(f".{out.name}.{os.getpid()}-{os.urandom(3).hex()}.tmp")
    written = False
    try:
        binary = isinstance(content, bytes)
        with (open(tmp, "xb") if binary else open(tmp, "x", encoding="utf-8", newline="")) as f:
            written = True
            f.write(content)
        os.replace(tmp, out)
    except OSError as exc:
        if written:
            try:
                tmp.unlink()
            except OSError:
                pass
        reason = exc.strerror or str(exc)
        raise ExportError(f"cannot write {out}: {reason}; choose a writable {option} path ({unchanged})") from exc
