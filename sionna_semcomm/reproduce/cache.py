"""Results cache of the reproduction: every expensive step is a file whose name carries the hash of its inputs.

A step's *key* is the SHA-256 of its configuration as canonical JSON (sorted keys): the command line or
settings, the seed, and the SHA-256 of every checkpoint it reads (so a retrained system invalidates what
was computed from it). Checkpoint paths, ``--device`` and progress flags are not part of it: a step
computed on a GPU is reused on a CPU (the same seed draws other channels on CPU and CUDA, so a recomputed
step would differ by sampling noise only). Its output lives at ``<root>/<kind>/<label>-<key[:12]>`` (a results JSON of the
link command, or a training folder). A finished output is reused as it is; an unfinished one is resumed
(the link command's ``--resume`` keeps finished SNR points, the trainers their finished epochs). Nothing
is ever overwritten in place: the link command and the trainers write atomically.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

__all__ = ["config_key", "Cache"]


def config_key(config: dict) -> str:
    """SHA-256 hex digest of ``config`` as canonical JSON (``sort_keys``, no whitespace)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class Cache:
    """Paths of cached steps under ``root`` (see the module doc); counts hits and misses."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.hits = 0
        self.misses = 0

    def path(self, kind: str, label: str, config: dict, suffix: str = "") -> Path:
        """Where the step ``label`` of ``kind`` with ``config`` lives; its ``config.json`` records the inputs."""
        key = config_key(config)
        return self.root / kind / f"{label}-{key[:12]}{suffix}"

    def record(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
