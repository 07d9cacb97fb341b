"""Writing an output file (an export, a JUnit report, a plot) whole or not at all.

Below export.py and junit.py, which both write files, so neither imports the other for it.
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
    if out.resolve() in _store_files(store):
        raise ExportError(f"refusing to write the export over the results store {out}; "
                          f"choose another -o path")
    if out.is_dir():
        raise ExportError(f"cannot write {out}: it is a folder; give a file name with -o")
    # Beside the destination (same file system, so the rename is atomic); opened with "x" so the
    # file gets the user's usual permissions and never clobbers anything.
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
        raise ExportError(f"cannot write {out}: {reason}; choose a writable -o path "
                          f"(the results store is unchanged)") from exc
