"""Write a file so that a reader sees the old content or the new, never half of it: the bytes go to a
temporary file beside the target, then one rename puts it in place (atomic on a local disk and on NFS).
A kill or a full disk mid-write leaves the previous good file untouched."""
from __future__ import annotations

import os
from pathlib import Path


def temp_name(target: str) -> str:
    """A hidden sibling of `target`, unique per process, with the target's extension (matplotlib reads it)."""
    folder, _, name = str(target).rpartition("/")
    return f"{folder}/.{name}.{os.getpid()}.tmp{Path(name).suffix}"


def is_temp_name(name: str) -> bool:
    """A file temp_name made (left half-written by a kill): never a result to list or copy."""
    return name.startswith(".") and ".tmp" in name


def write_atomic(path: str | Path, data: bytes) -> None:
    path = Path(path)
    temp = Path(temp_name(str(path)))
    try:
        with open(temp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
