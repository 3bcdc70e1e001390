"""The one check of output paths, run by every command before any compute.

A results file, figure or checkpoint folder that cannot be written is reported at once, naming the path
and the reason, instead of a traceback after the first SNR point or after the whole sweep:

- :func:`check_output_file`: not a folder, not under a regular file, and its folder (or the nearest one
  that exists, the rest is created on writing) accepts new files: a file is created and removed there;
- :func:`check_figure_file`: the same, and an extension matplotlib can write (png, pdf, svg, ...);
- :func:`check_output_dir`: a folder that exists or can be created, and accepts new files.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["OutputError", "check_output_file", "check_figure_file", "check_output_dir", "checked_out_dir", "figure_formats"]


class OutputError(ValueError):
    """An output path that cannot be written; the message names it and says why."""


def figure_formats() -> list[str]:
    """File extensions matplotlib can write (``png``, ``pdf``, ``svg``, ...), sorted."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def _writable_folder(folder: Path, shown: str) -> None:
    """Raise :class:`OutputError` unless ``folder`` (which may not exist yet) can be created and written into."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise OutputError(f"{shown}: {existing} is a file, not a folder")
    try:  # the one reliable test: /proc, read-only mounts and permissions all show here
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=existing)
        os.close(fd)
        os.remove(probe)
    except OSError as e:
        raise OutputError(f"{shown}: cannot create files in {existing} ({e.strerror or e})") from None


def check_output_file(path: str | os.PathLike) -> Path:
    """Check that ``path`` can be written as a file (see the module doc); returns it as a :class:`Path`.

    :raises OutputError: ``path`` is a folder, lies under a regular file, or its folder refuses new files.
    """
    p = Path(path).expanduser()
    if str(path).endswith(os.sep) or p.is_dir():
        raise OutputError(f"{path} is a folder; give a file name")
    _writable_folder(p.parent, str(path))
    return p


def check_figure_file(path: str | os.PathLike) -> Path:
    """:func:`check_output_file` plus an extension matplotlib can write."""
    p = Path(path)
    formats = figure_formats()
    ext = p.suffix.lstrip(".").lower()
    if ext not in formats:
        what = f"extension .{ext}" if ext else "no extension"
        raise OutputError(f"{path}: {what}; matplotlib writes {', '.join(formats)}")
    return check_output_file(path)


def check_output_dir(path: str | os.PathLike) -> Path:
    """Check that ``path`` is a folder that exists or can be created, and accepts new files.

    :raises OutputError: ``path`` (or a folder above it) is a file, or refuses new files.
    """
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise OutputError(f"{path} is a file, not a folder")
    _writable_folder(p, str(path))
    return p


def checked_out_dir(out_dir: str | os.PathLike | None, default: str | os.PathLike) -> Path:
    """A command's ``--out-dir`` (or its default folder, when none is given) after :func:`check_output_dir`;
    a folder that cannot be written ends the command (``SystemExit``) with a message naming it."""
    try:
        return check_output_dir(out_dir if out_dir is not None else default)
    except OutputError as e:
        raise SystemExit(f"error: --out-dir: {e}") from None
