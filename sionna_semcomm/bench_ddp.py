"""``python -m sionna_semcomm.bench_ddp``: training throughput of 1 process vs N DDP processes (gloo, CPU).

The scenario's system (random weights, in-memory random uint8 images: the cost does not depend on them) is
trained for ``--steps`` optimizer steps of the joint stage at global batch ``--batch-size``, once in one process
with ``--shards N`` (the same training as N processes, see :mod:`sionna_semcomm.train`) and once in N processes
(``torch.multiprocessing`` spawn, a gloo group, one torch thread each unless ``--threads``). Reported per run: the
images per second of the timed steps (after ``--warmup`` untimed ones, wall clock of rank 0, no validation),
and the largest absolute difference between the final weights of the two runs.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

__all__ = ["bench_ddp", "main"]


def _train(world: int, rank: int, shards: int, scenario: str, batch_size: int, steps: int, warmup: int,
           threads: int, out: str) -> dict:
    from .bench_train import _system_and_data
    from .train import TrainConfig, Trainer

    torch.set_num_threads(threads)
    sc, system, data = _system_and_data(scenario, "cpu", n_images=max(batch_size * (steps + warmup), 2 * batch_size))
    val = data.subset(torch.arange(2 * shards))
    cfg = TrainConfig(batch_size=batch_size, max_steps=steps + warmup, eval_every=10**9)
    trainer = Trainer(system, sc.link, data, val, cfg, Path(out), seed=0, shards=shards)
    trainer._total_steps = steps + warmup
    for _ in range(warmup):
        trainer.train_step()
    started = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "images_per_s": steps * batch_size / seconds,
            "state": {k: v.clone() for k, v in trainer.system.state_dict().items()}}


def _worker(rank, world, init_file, kw, result_file):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        res = _train(world, rank, world, **kw)
        if rank == 0:
            torch.save(res, result_file)
    finally:
        dist.destroy_process_group()


def bench_ddp(procs: int = 2, scenario: str = "rayleigh_cifar", batch_size: int = 64, steps: int = 5, warmup: int = 1,
              threads: int = 1) -> dict:
    """See the module doc. :output: ``{"one_process": {...}, "ddp": {...}, "speedup", "max_abs_weight_diff"}``."""
    import torch.multiprocessing as mp

    kw = dict(scenario=scenario, batch_size=batch_size, steps=steps, warmup=warmup, threads=threads)
    with tempfile.TemporaryDirectory() as tmp:
        one = _train(1, 0, procs, out=f"{tmp}/one", **kw)
        mp.start_processes(_worker, args=(procs, f"{tmp}/pg", {**kw, "out": f"{tmp}/ddp"}, f"{tmp}/res.pt"),
                           nprocs=procs, join=True, start_method="spawn")
        ddp = torch.load(f"{tmp}/res.pt", weights_only=True)
    diff = max(float((one["state"][k].float() - ddp["state"][k].float()).abs().max()) for k in one["state"])
    strip = lambda r: {k: v for k, v in r.items() if k != "state"}  # noqa: E731
    return {"scenario": scenario, "global_batch_size": batch_size, "steps": steps, "warmup": warmup,
            "threads_per_process": threads, "one_process": {"shards": procs, **strip(one)},
            "ddp": {"processes": procs, "backend": "gloo", **strip(ddp)},
            "speedup": one["seconds"] / ddp["seconds"], "max_abs_weight_diff": diff}


def main(argv: list[str] | None = None) -> dict:
    from .argtypes import positive_int

    p = argparse.ArgumentParser(prog="python -m sionna_semcomm.bench_ddp", description=__doc__.split("\n\n")[0])
    p.add_argument("--procs", type=positive_int, default=2)
    p.add_argument("--scenario", default="rayleigh_cifar")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--steps", type=positive_int, default=5)
    p.add_argument("--warmup", type=positive_int, default=1)
    p.add_argument("--threads", type=positive_int, default=1, help="torch threads per process (default: 1)")
    args = p.parse_args(argv)
    res = bench_ddp(args.procs, args.scenario, args.batch_size, args.steps, args.warmup, args.threads)
    print(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
