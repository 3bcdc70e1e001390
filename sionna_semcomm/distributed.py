"""The process group of a training started by ``torchrun`` (PyTorch DDP): the one place that knows about it.

``torchrun --nproc_per_node N [--nnodes M ...] -m sionna_semcomm.train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous variables; :func:`init_from_env` then joins the group (gloo on CPU, nccl on
CUDA, one GPU per local rank). Without those variables nothing is initialised and every helper here is the
trivial one-process case (rank 0 of a world of 1), so the plain command runs exactly as before.

The trainers use only :func:`rank`, :func:`world_size`, :func:`is_main`, :func:`barrier`,
:func:`broadcast_object`, :func:`gather_objects` and :func:`all_reduce_sum`.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist

__all__ = ["launched_by_torchrun", "init_from_env", "cleanup", "is_distributed", "rank", "world_size", "is_main",
           "barrier", "broadcast_object", "gather_objects", "all_reduce_sum", "describe"]

_state: dict = {}  # {"device": str} of the group this module initialised


def launched_by_torchrun() -> bool:
    """True when the torchrun/``torch.distributed`` environment variables are set (``WORLD_SIZE`` and ``RANK``)."""
    return "WORLD_SIZE" in os.environ and "RANK" in os.environ


def init_from_env(device: str) -> str:
    """Join the process group described by the environment (when launched by torchrun) and return the device
    this rank uses: ``device`` on CPU; ``cuda:<LOCAL_RANK>`` when ``device`` is a CUDA device.

    gloo on CPU, nccl on CUDA. A world of one process (``torchrun --nproc_per_node 1``) also initialises a
    group, which changes nothing but the code path. Without torchrun: ``device`` unchanged, no group.
    """
    if not launched_by_torchrun() or dist.is_initialized():
        return device
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    if device.startswith("cuda"):
        device = f"cuda:{local_rank}"
        torch.cuda.set_device(device)
        backend = "nccl"
    else:
        backend = "gloo"
    dist.init_process_group(backend=backend)
    _state["device"] = device
    return device


def cleanup() -> None:
    """Leave the process group this module joined (no-op otherwise)."""
    if _state and dist.is_initialized():
        dist.destroy_process_group()
    _state.clear()


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    """Rank 0: the process that writes files and prints."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def broadcast_object(obj, src: int = 0):
    """``obj`` of rank ``src`` on every rank (picklable objects; the argument of other ranks is ignored)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def gather_objects(obj) -> list | None:
    """The ``obj`` of every rank, in rank order, on rank 0; ``None`` on the other ranks."""
    if not is_distributed():
        return [obj]
    out = [None] * world_size() if is_main() else None
    dist.gather_object(obj, out, dst=0)
    return out


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over the ranks (in place, also returned)."""
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def describe() -> dict:
    """``{"world_size", "rank", "backend"}`` for logs and metadata."""
    return {"world_size": world_size(), "rank": rank(), "backend": dist.get_backend() if is_distributed() else None}
