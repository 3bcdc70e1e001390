"""Checkpoints that never execute code: weights as safetensors, resume state via ``torch.load(weights_only=True)``.

- :func:`save_weights` / :func:`load_weights`: a flat ``{name: tensor}`` safetensors file with a JSON
  metadata entry (model config, training command, metrics), written atomically.
- :func:`load_state_into`: strict loading with an error that names missing, unexpected and mis-shaped
  tensors, so a checkpoint that does not match the model fails clearly.
- :func:`save_resume_state` / :func:`load_resume_state`: optimizer state, epoch, history and RNG state for
  ``--resume``; loaded with ``weights_only=True`` (tensors, numbers, strings, lists and dicts only).
- :func:`sha256_file`: embedded weights are checked against a recorded digest before loading.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from .atomic import atomic_write

__all__ = ["CheckpointError", "save_weights", "load_weights", "load_metadata", "load_state_into",
           "save_resume_state", "load_resume_state", "sha256_file"]


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupted, tampered with, or does not match the model."""


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_weights(path: str | Path, state: dict[str, torch.Tensor], metadata: dict) -> Path:
    """Write ``state`` (flat name -> tensor) and ``metadata`` (JSON-able) to a safetensors file atomically."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    meta = {"sionna_semcomm": json.dumps(metadata, sort_keys=True)}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))


def load_weights(path: str | Path, sha256: str | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """Read a safetensors checkpoint: ``(state, metadata)``.

    :param sha256: expected digest; a mismatch raises :class:`CheckpointError` before anything is parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if sha256 is not None:
        digest = sha256_file(path)
        if digest != sha256:
            raise CheckpointError(f"checkpoint {path} has sha256 {digest}, expected {sha256}: corrupted or replaced")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file: {e}") from None
    return state, load_metadata(path)


def load_metadata(path: str | Path) -> dict:
    """The ``sionna_semcomm`` metadata (model config, training command, metrics) of a safetensors checkpoint,
    read without its tensors."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            raw = (f.metadata() or {}).get("sionna_semcomm", "{}")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"checkpoint {path} is not a readable safetensors file: {e}") from None
    try:
        meta = json.loads(raw)
    except json.JSONDecodeError as e:
        raise CheckpointError(f"checkpoint {path}: its 'sionna_semcomm' metadata is not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {path}: its 'sionna_semcomm' metadata must be a JSON object, got "
                              f"{type(meta).__name__}")
    return meta


def load_state_into(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint") -> None:
    """``module.load_state_dict(state, strict=True)`` with an error that lists every mismatch."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
              for k in sorted(set(own) & set(state)) if own[k].shape != state[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)} tensors (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)} tensors (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} shape mismatches (e.g. {'; '.join(shapes[:3])})")
        raise CheckpointError(f"{source} does not match the model: " + "; ".join(parts))
    module.load_state_dict(state, strict=True)


def save_resume_state(path: str | Path, state: dict) -> Path:
    """Write a training-resume dictionary (tensors, numbers, strings, lists, dicts) atomically."""
    return atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_resume_state(path: str | Path) -> dict:
    """Read a resume dictionary with ``torch.load(weights_only=True)``: no code is executed.

    :raises CheckpointError: the file does not exist; it holds more than plain data (objects that would run
        code on loading, which ``weights_only`` refuses) or is no torch file; it is truncated or corrupted; or
        it is not a dictionary. Each message names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"resume state {path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on pickle protocols
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:  # torch's own message advises weights_only=False: not for a file we refuse
        raise CheckpointError(f"resume state {path} was refused: it is not a plain resume file (it holds objects "
                              "other than tensors, numbers, strings, lists and dicts, which could run code, or it is no "
                              "torch file at all); nothing in it was executed") from None
    except Exception as e:  # noqa: BLE001 - zip/stream errors of a damaged file
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"resume state {path} is truncated or corrupted ({reason})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"resume state {path} holds a {type(state).__name__}, not a resume dictionary")
    return state
