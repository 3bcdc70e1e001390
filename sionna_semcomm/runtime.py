"""The one place that decides devices and random streams.

Nothing else in the package calls ``.cuda()`` or seeds global generators: callers pass a device string
from :func:`resolve_device` and generators from :func:`make_generator`.
"""

from __future__ import annotations

import hashlib

import torch

__all__ = ["resolve_device", "make_generator"]


def optional_module(name: str):
    """Import ``name`` (a module of the optional ``baselines`` package) or return ``None`` when that package or
    module is not installed; any other missing import inside it is re-raised."""
    import importlib

    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as e:
        parts = name.split(".")
        if e.name not in {".".join(parts[:i]) for i in range(1, len(parts) + 1)}:
            raise
        return None


def resolve_device(name: str | None = "auto") -> str:
    """Return a torch device string for ``name``.

    :param name: ``"auto"`` / ``None`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
        ``"cuda:N"``.
    :raises ValueError: unknown name, or CUDA asked for on a machine without it.
    """
    if name is None or name == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available here; use 'cpu'")
        return "cuda:0" if name == "cuda" else name
    raise ValueError(f"unknown device {name!r}; expected 'auto', 'cpu', 'cuda' or 'cuda:N'")


def make_generator(seed: int, stream: str, device: str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` for one named random stream of a run.

    Each purpose (``"channel"``, ``"noise"``, ``"source"``, ...) gets its own stream derived from the run
    seed, so that e.g. two systems evaluated with the same seed see the same channel realizations even
    though they draw different numbers of noise samples.

    :param seed: run seed (any non-negative int).
    :param stream: name of the stream.
    :param device: device the generator lives on (must match the tensors it draws).
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    digest = hashlib.sha256(f"{seed}:{stream}".encode()).digest()
    g = torch.Generator(device=device)
    g.manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))
    return g
