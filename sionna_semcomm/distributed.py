"""The process group of a training started by ``torchrun`` (PyTorch DDP): the one place that knows about it.

``torchrun --nproc_per_node N [--nnodes M ...] -m sionna_semcomm.train ...`` sets ``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK`` and the rendezvous variables; :func:`init_from_env` then joins the group (gloo on CPU, nccl on
CUDA, one GPU per local rank). Without those variables nothing is initialised and every helper here is the
trivial one-process case (rank 0 of a world of 1), so the plain command runs exactly as before.

The trainers use only :func:`rank`, :func:`world_size`, :func:`is_main`, :func:`barrier`,
:func:`broadcast_object`, :func:`gather_objects` and :func:`all_reduce_sum`.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys

import torch
import torch.distributed as dist

__all__ = ["launched_by_torchrun", "init_from_env", "process_group", "cleanup", "is_distributed", "rank", "world_size", "is_main",
           "barrier", "broadcast_object", "gather_objects", "all_reduce_sum", "describe", "own_shards",
           "parallel_metadata", "load_on_main", "resumed_shards"]

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


def cleanup(wait: bool = False) -> None:
    """Leave the process group this module joined (no-op otherwise).

    ``wait``: first wait until every rank got here (the end of a run that went well: rank 0 writes last, and a
    rank that left early and exited while the others still used the group was seen to abort in gloo's
    teardown). The objects still holding the group (the trainers' DDP modules, in reference cycles) are freed
    before the group is destroyed, not at interpreter exit.
    """
    if _state and dist.is_initialized():
        if wait:
            dist.barrier()
        gc.collect()
        dist.destroy_process_group()
    _state.clear()


@contextlib.contextmanager
def process_group(device: str):
    """``with process_group(device) as device:`` the command's body in the torchrun process group, if any
    (:func:`init_from_env`); left with :func:`cleanup`, waiting for every rank when the body ended normally."""
    device = init_from_env(device)
    ok = False
    try:
        yield device
        ok = True
    finally:
        cleanup(wait=ok)


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


# ---------------------------------------------------------------------------------------------- shards of a batch
def own_shards(shards, batch_size: int, num_train: int) -> list[int]:
    """The shards of every global batch that this process trains (``rank, rank + world, ...``), after checking
    that ``shards`` is a positive multiple of the process count and leaves every batch (the epoch's last one
    too, ``num_train % batch_size`` images) at least one image per shard; ``ValueError`` naming the problem."""
    world = world_size()
    if not isinstance(shards, int) or shards < 1 or shards % world:
        raise ValueError(f"shards must be a positive multiple of the number of processes ({world}), got {shards!r}")
    last = num_train % batch_size
    if shards > batch_size or 0 < last < shards:
        raise ValueError(f"{shards} shards need at least {shards} images in every batch: batch size "
                         f"{batch_size}, last batch of an epoch {last or batch_size} images")
    return [k for k in range(shards) if k % world == rank()]


def parallel_metadata(shards: int, batch_size: int, gradient: str) -> dict | None:
    """``metadata["parallel"]`` of a run in shards or processes (``None`` for the plain run): process count,
    backend, shards, launcher, global and per-process batch, and how the gradient is formed (``gradient``)."""
    world = world_size()
    if shards == 1 and world == 1:
        return None
    return {"world_size": world, "backend": describe()["backend"], "shards": shards,
            "launcher": "torchrun" if launched_by_torchrun() else None, "global_batch_size": batch_size,
            "per_process_batch_size": batch_size / world,
            "lr_scaling": f"none: --batch-size is the global batch; the gradient is {gradient}"}


def load_on_main(load, error_types: tuple = (Exception,)):
    """``load()`` run by rank 0 and its result sent to every process (no shared file system needed); an error
    of ``error_types`` raised there is raised on every rank."""
    if not is_distributed():
        return load()
    value, error = None, None
    if is_main():
        try:
            value = load()
        except error_types as e:
            error = e
    value, error = broadcast_object((value, error))
    if error is not None:
        raise error
    return value


def resumed_shards(path, saved: int, requested: int | None) -> int:
    """The shard count a run resumed from ``path`` continues with: ``requested`` (``--shards``), else the
    ``saved`` one when the process count divides it, else one per process; rank 0 notes a change (the new
    shards' random streams start fresh: a valid run, not the bit-for-bit continuation)."""
    shards = requested or (saved if saved % world_size() == 0 else world_size())
    if shards != saved and is_main():
        print(f"note: {path} was written with {saved} shard(s) per batch; continuing with {shards}: the random "
              "streams of the new shards start fresh (a valid run, not the bit-for-bit continuation)", file=sys.stderr)
    return shards
