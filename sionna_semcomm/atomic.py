"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename.

A reader (or a run that is interrupted) never sees a half-written result or checkpoint. The temporary
file is ``.<name>.<pid>.<random>.tmp``; one left behind by a killed process (``kill -9``, power loss) is
removed by the next write of the same file, once no process with that pid is running. Files get the
ordinary mode ``0666 & ~umask`` (0644 under the usual umask), whatever the writer (``mkstemp``,
safetensors) created.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_json", "remove_stale_temps"]


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the result onto ``path``.

    ``write`` receives the path of a fresh temporary file next to ``path`` (so the rename stays on one
    file system). On any exception the temporary file is removed and ``path`` is left untouched.
    Stale temporary files of ``path`` (:func:`remove_stale_temps`) are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # after writing: mkstemp creates 0600, and some writers recreate the file
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


# what mkstemp puts between prefix and suffix: [<pid>.]<8 random characters>
_TEMP_MIDDLE = re.compile(r"(?:(?P<pid>\d+)\.)?[a-z0-9_]{8}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temporary files that writes of ``path`` left behind when their process died.

    A temporary file ``.<name>.<pid>.<random>.tmp`` is stale when no process ``pid`` runs (one of this
    process is in use); one without a pid (written before pids were part of the name) is always stale.
    Returns the removed paths.
    """
    path = Path(path)
    removed = []
    prefix = f".{path.name}."
    try:
        candidates = [p for p in path.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".tmp")]
    except OSError:
        return removed
    for tmp in candidates:
        match = _TEMP_MIDDLE.fullmatch(tmp.name[len(prefix):-len(".tmp")])
        if match is None:  # the temporary file of another name (e.g. of "r.json.bak" for "r.json")
            continue
        pid = match.group("pid")
        if pid is not None and (int(pid) == os.getpid() or _running(int(pid))):
            continue
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""

    def _write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            f.write(data)

    return atomic_write(path, _write)


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically (NaN/inf are rejected)."""
    text = json.dumps(obj, indent=2, allow_nan=False) + "\n"
    return atomic_write_bytes(path, text.encode())
