"""Crash-safe file writes shared by every tool: a file is replaced only once its new bytes are
durable (temp file, fsync, rename, fsync of the directory), so a crash leaves the old or the new
version, never a torn one."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["fsync_dir", "write_atomic"]


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (best effort where directories cannot be fsynced)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data) -> None:
    """Write ``data`` (bytes-like, or a list of bytes-like parts) to ``path`` via a temp file, fsync
    and rename; the temp file is removed if anything fails."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    parts = data if isinstance(data, list) else [data]
    try:
        with tmp.open("wb") as f:
            for part in parts:
                f.write(part if isinstance(part, (bytes, bytearray)) else memoryview(part).cast("B"))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)
