"""Does the CPU thread policy (:func:`~sionna_semcomm.runtime.default_threads`) pick a good thread count?

Times what the commands spend their time on, at 1 thread, at one thread per usable core (torch's own
default) and at the policy's choice, with wall clocks (threads only pay off in elapsed time), optionally
while a competitor process (one busy loop, started and stopped here) keeps one core busy:

- ``train``: one Adam step of MobileSC (K = 384, CIFAR-10 size) through the link, batch 64 (``train``,
  ``defense``, ``attack train``);
- ``evaluate``: MobileSC + link forward without gradients, batch 256 (``link`` on image systems);
- ``link``: the OFDM link alone, forward, batch 256;
- ``ldpc``: the layered LDPC decoder, k = 2400, batch 64, BPSK-AWGN at Eb/N0 2 dB (conventional links);
- ``pgd``: PGD, 10 steps, batch 16 (``link --attack pgd``, the robustness matrix).

The policy's target: with the competitor, no workload slower than at 1 thread; without it, none slower than
torch's default.
"""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
from typing import Callable

import torch

__all__ = ["WORKLOADS", "competitor", "thread_workloads", "bench_threads"]

WORKLOADS = ("train", "evaluate", "link", "ldpc", "pgd")


@contextlib.contextmanager
def competitor(busy: bool = True):
    """A process that keeps one core busy (a Python busy loop) while the block runs; stopped on exit."""
    if not busy:
        yield None
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start and reach the scheduler's view of the machine
        yield proc
    finally:
        proc.kill()
        proc.wait()


def thread_workloads(device: str = "cpu", tiny: bool = False) -> dict[str, tuple[Callable[[], object], int]]:
    """``{name: (one call, items per call)}`` for :data:`WORKLOADS` (``tiny``: small models and batches, for tests)."""
    from .attacks import build_attack
    from .attack import attack_registry
    from .bench import ldpc_codewords
    from .link.config import LinkConfig
    from .link.ldpc import build_ldpc_decoder
    from .link.ofdm import OFDMLink
    from .semantic import ModelConfig, SemanticSystem
    from .train import TrainConfig, system_loss

    if tiny:
        cfg = ModelConfig(num_symbols=64, classifier_width=4, codec_hparams={"channels": (8, 8), "num_blocks": 1, "expansion": 2})
        batch, eval_batch, pgd_batch, k = 4, 8, 2, 400
    else:
        cfg, batch, eval_batch, pgd_batch, k = ModelConfig(), 64, 256, 16, 2400
    torch.manual_seed(0)
    system = SemanticSystem(cfg).to(device)
    link = OFDMLink(system.num_symbols, LinkConfig(equalizer="lmmse"), seed=0, device=device)
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(eval_batch, *cfg.image_shape, generator=g, device=device)
    y = torch.randint(0, cfg.num_classes, (eval_batch,), generator=g, device=device)
    optimizer = torch.optim.Adam(system.parameters(), lr=1e-4)
    train_cfg = TrainConfig()

    def train():
        system.train()
        optimizer.zero_grad(set_to_none=True)
        loss, _ = system_loss(system(x[:batch], link, 10.0), x[:batch], y[:batch], train_cfg)
        loss.backward()
        optimizer.step()

    def evaluate():
        system.eval()
        with torch.no_grad():
            system(x, link, 10.0)

    symbols = torch.randn(eval_batch, system.num_symbols, dtype=link.cdtype, generator=g, device=device)

    def link_forward():
        with torch.no_grad():
            link(symbols, 10.0)

    enc, _, llr = ldpc_codewords(k, 2 * k, batch, 2.0, device)
    decoder = build_ldpc_decoder("fast", enc)
    attack_registry()
    pgd = build_attack("pgd", system.eval(), link, psr_db=-6.0, steps=10)
    taps = link.sample_taps((pgd_batch,))
    return {"train": (train, batch), "evaluate": (evaluate, eval_batch), "link": (link_forward, eval_batch),
            "ldpc": (lambda: decoder.decode(llr), batch * k),
            "pgd": (lambda: pgd(x[:pgd_batch], y[:pgd_batch], 10.0, taps), pgd_batch)}


def _median_seconds(fn: Callable[[], object], threads: int, repeats: int, warmup: int) -> float:
    torch.set_num_threads(threads)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_threads(loaded: bool, repeats: int = 5, warmup: int = 1, device: str = "cpu", tiny: bool = False,
                  workloads=WORKLOADS) -> dict:
    """Wall-clock throughput of each workload at 1 thread, at one per usable core and at the policy's choice.

    :param loaded: run a :func:`competitor` meanwhile (the policy decides while it runs).
    :output: ``{"loaded", "competitor", "usable_cores", "policy_threads", "policy_reason", "rows"}``; a row is
        ``{"workload", "items_per_call", "seconds": {"1": s, "<cores>": s, "policy": s}, "items_per_s": {...},
        "policy_vs_1_thread", "policy_vs_all_cores"}`` (throughput ratios: > 1 means the policy is faster).
    """
    from .runtime import default_threads, usable_cores

    if device.startswith("cuda"):
        raise ValueError("the thread benchmark measures CPU threads: use device 'cpu'")
    before = torch.get_num_threads()
    cores = len(usable_cores())
    fns = {name: fn for name, fn in thread_workloads(device, tiny).items() if name in workloads}
    rows = []
    with competitor(loaded):
        policy, reason = default_threads()
        try:
            for name, (fn, items) in fns.items():
                counts = {"1": 1, str(cores): cores, "policy": policy}
                measured: dict[int, float] = {}
                seconds = {}
                for label, n in counts.items():
                    if n not in measured:
                        measured[n] = _median_seconds(fn, n, repeats, warmup)
                    seconds[label] = measured[n]
                rows.append({"workload": name, "items_per_call": items, "seconds": seconds,
                             "items_per_s": {label: items / s for label, s in seconds.items()},
                             "policy_vs_1_thread": seconds["1"] / seconds["policy"],
                             "policy_vs_all_cores": seconds[str(cores)] / seconds["policy"]})
        finally:
            torch.set_num_threads(before)
    return {"loaded": loaded, "competitor": "one busy-loop process" if loaded else None, "usable_cores": cores,
            "policy_threads": policy, "policy_reason": reason, "clock": "wall", "repeats": repeats, "rows": rows}


def format_threads(doc: dict) -> str:
    """Plain-text table of :func:`bench_threads`' result."""
    cores = str(doc["usable_cores"])
    lines = [f"thread policy, {'with one busy competitor process' if doc['loaded'] else 'no competitor started'}: "
             f"{doc['policy_threads']} thread(s) ({doc['policy_reason']}); wall clock, median of {doc['repeats']}",
             f"{'workload':<10} {'items/s 1 thr':>14} {'items/s ' + cores + ' thr':>14} {'items/s policy':>15} "
             f"{'policy/1':>9} {'policy/' + cores:>9}"]
    for r in doc["rows"]:
        ips = r["items_per_s"]
        lines.append(f"{r['workload']:<10} {ips['1']:>14.4g} {ips[cores]:>14.4g} {ips['policy']:>15.4g} "
                     f"{r['policy_vs_1_thread']:>9.2f} {r['policy_vs_all_cores']:>9.2f}")
    return "\n".join(lines)
