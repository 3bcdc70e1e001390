"""The one place that decides devices, CPU threads and random streams.

Nothing else in the package calls ``.cuda()``, ``torch.set_num_threads`` or seeds global generators: callers
pass a device string from :func:`resolve_device`, apply the thread policy with :func:`apply_threads` and take
generators from :func:`make_generator`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import time

import torch

__all__ = ["resolve_device", "make_generator", "default_threads", "apply_threads", "thread_setting",
           "add_threads_argument", "usable_cores", "busy_cores", "bf16_is_fast", "warn_if_bf16_is_slow", "AMP",
           "THREADS_ENV"]

THREADS_ENV = "SIONNA_SEMCOMM_THREADS"  # a thread count every command takes as its default (workers, tests)
_applied: dict = {}  # what apply_threads decided last (torch's thread count is process-wide state anyway)


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


#: mixed-precision settings of the trainers (``--amp``): float32 throughout, or bfloat16 autocast
AMP = ("none", "bf16")


def bf16_is_fast(device: str = "cpu") -> bool:
    """Whether ``device`` has bfloat16 arithmetic units, so that ``torch.autocast(dtype=torch.bfloat16)`` speeds
    convolutions up: CUDA GPUs that support bf16, and CPUs with AVX512-BF16 or AMX (e.g. AMD Zen 4, Intel Sapphire
    Rapids). Elsewhere autocast emulates bf16 and is far slower than float32.
    """
    if torch.device(device).type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # torch.cpu's capability probes (torch >= 2.3)
    return any(getattr(torch.cpu, name, lambda: False)() for name in probes)


def warn_if_bf16_is_slow(amp: str, device: str) -> None:
    """Print a warning on stderr when ``amp`` is ``bf16`` on a ``device`` without bf16 units
    (:func:`bf16_is_fast`), where autocast emulates it and runs slower than float32."""
    if amp == "bf16" and not bf16_is_fast(device):
        print(f"warning: --amp bf16 on {device}, which has no bf16 units (AVX512-BF16/AMX or a bf16 GPU): autocast "
              "emulates bf16 there and is slower than float32", file=sys.stderr)


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


# ---------------------------------------------------------------------------------------------- CPU threads
def usable_cores() -> list[int]:
    """The CPUs this process may run on (``os.sched_getaffinity``; all CPUs where that does not exist)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _cpu_jiffies(cpus: list[int]) -> tuple[int, int] | None:
    """``(busy, total)`` clock ticks of ``cpus`` since boot from ``/proc/stat``; ``None`` where it is not readable."""
    try:
        with open("/proc/stat") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    wanted = {f"cpu{c}" for c in cpus}
    busy = total = 0
    for line in lines:
        fields = line.split()
        if fields and fields[0] in wanted:
            ticks = [int(v) for v in fields[1:9]]  # user nice system idle iowait irq softirq steal
            total += sum(ticks)
            busy += sum(ticks) - ticks[3] - ticks[4]
    return (busy, total) if total else None


def _own_ticks() -> int | None:
    """CPU clock ticks (user + system) used so far by this process, all its threads."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


def busy_cores(cpus: list[int] | None = None, window_s: float = 0.1) -> float | None:
    """How many of ``cpus`` (default: :func:`usable_cores`) other processes keep busy, measured over
    ``window_s`` seconds (this process's own CPU time is left out); ``None`` where ``/proc`` is not available."""
    cpus = usable_cores() if cpus is None else cpus
    first, own0 = _cpu_jiffies(cpus), _own_ticks()
    if first is None or own0 is None:
        return None
    time.sleep(window_s)
    second, own1 = _cpu_jiffies(cpus), _own_ticks()
    if second is None or own1 is None or second[1] <= first[1]:
        return None
    busy = (second[0] - first[0]) - (own1 - own0)
    return max(0.0, len(cpus) * busy / (second[1] - first[1]))


def default_threads(workers: int = 1) -> tuple[int, str]:
    """The thread count a command uses when it is not given one, and why: ``(threads, reason)``.

    In order: ``$SIONNA_SEMCOMM_THREADS`` (set by ``reproduce --jobs`` for its workers, and by the tests);
    ``$OMP_NUM_THREADS`` (what Ray gives a task, or the user's choice); otherwise the cores this process may use
    (:func:`usable_cores`) divided among ``workers`` processes of the same job (``reproduce --jobs N``;
    ``$LOCAL_WORLD_SIZE`` under ``torchrun``), and never more than the cores no other process keeps busy
    right now (:func:`busy_cores`): on a core shared with a busy process, torch's OpenMP threads wait for
    each other at every operation, and 2 threads run at 0.45-0.56x the speed of 1 (measured on a 2-core
    machine, ``python -m sionna_semcomm.bench --loaded``). At least 1.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    for env in (THREADS_ENV, "OMP_NUM_THREADS"):
        value = os.environ.get(env, "").strip()
        if value:
            try:
                n = int(value)
            except ValueError:
                raise ValueError(f"${env} must be a positive integer, got {value!r}") from None
            if n < 1:
                raise ValueError(f"${env} must be a positive integer, got {value!r}")
            return n, f"${env}"
    local = os.environ.get("LOCAL_WORLD_SIZE", "").strip()
    if local.isdigit() and int(local) > 1:
        workers = max(workers, int(local))
    cpus = usable_cores()
    share = max(1, len(cpus) // workers)
    busy = busy_cores(cpus)
    if busy is None:
        return share, f"{len(cpus)} usable cores / {workers} worker(s)"
    free = max(1, len(cpus) - round(busy))
    return min(share, free), f"{len(cpus)} usable cores / {workers} worker(s), {busy:.1f} kept busy by other processes"


def apply_threads(threads: int | None = None, workers: int = 1) -> int:
    """Set torch's CPU thread count: ``threads`` when given, else :func:`default_threads`; returns it.

    The decision is recorded for the results (:func:`thread_setting`).

    :raises ValueError: ``threads`` below 1, or a malformed environment variable.
    """
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be a positive int, got {threads!r}")
        reason = "--threads"
    else:
        threads, reason = default_threads(workers)
    torch.set_num_threads(threads)
    _applied.clear()
    _applied.update({"threads": threads, "reason": reason, "usable_cores": len(usable_cores())})
    return threads


def thread_setting() -> dict:
    """``{"threads", "reason", "usable_cores"}`` of the last :func:`apply_threads`, or torch's current count."""
    return dict(_applied) if _applied else {"threads": torch.get_num_threads(), "reason": "torch default",
                                            "usable_cores": len(usable_cores())}


def add_threads_argument(parser) -> None:
    """The ``--threads`` option every command shares (:func:`apply_threads` applies it)."""
    from .argtypes import positive_int

    parser.add_argument("--threads", type=positive_int,
                        help="torch CPU threads (default: the usable cores not kept busy by other processes, shared "
                             f"among the workers of the job; ${THREADS_ENV} or $OMP_NUM_THREADS override)")


@contextlib.contextmanager
def interrupt_on_signals():
    """Ctrl-C and ``kill`` (SIGTERM) stop a training (or a reproduction) the same way: as a ``KeyboardInterrupt``
    that the trainers answer by saving their resume state (and ``reproduce`` by stopping its workers). (A command
    started in the background of a non-interactive shell inherits an ignored SIGINT; it is restored here so that
    ``kill -INT`` works too.)"""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    saved = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
