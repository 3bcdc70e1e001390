"""Where the SNR points of a link sweep run: in this process (``local``, the default) or as Ray tasks (``ray``).

Every point of every system is a pure, seeded task (:class:`PointTask`), or, for bit systems, several: a
point's batches cut into contiguous shards, each batch drawing from its own streams (seed, batch), whose
counts add up to the point's (:meth:`~sionna_semcomm.systems.BitSystemRunner.merge_shards`). The runner restarts its random
streams from the run seed at each point (:mod:`sionna_semcomm.evaluation`, :meth:`BitLink.simulate
<sionna_semcomm.link.bits.BitLink.simulate>`), so a point computed in a Ray worker is the same dictionary
(counts ``bits``/``blocks``, rates, per-image sums as the runner reports them) as one computed in this process,
and the results merge into the same run documents and results store whichever executor ran them.

Ray is an optional extra (``pip install -e ".[ray]"``); it is imported only when the Ray executor is asked for.
Each task declares ``num_cpus`` (default 1) and ``num_gpus`` (default 1 on CUDA, else 0; fractions allowed);
Ray retries a task whose worker died (``max_retries``) and the finished points are kept meanwhile.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

__all__ = ["EXECUTORS", "PointTask", "evaluate_point", "RayExecutor", "require_ray", "RAY_INSTALL_HINT",
           "add_executor_arguments", "executor_from_args"]

EXECUTORS = ("local", "ray")
RAY_INSTALL_HINT = 'pip install -e ".[ray]"'


def require_ray():
    """The ``ray`` module, or ``SystemExit`` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise SystemExit(f"error: --executor ray needs Ray, which is not installed; install the extra with: "
                         f"{RAY_INSTALL_HINT}   (or: pip install ray)") from None
    return ray


@dataclass(frozen=True)
class PointTask:
    """One SNR point of one system: everything a worker needs to build the runner and evaluate the point.

    :param run_index: the run (system) it belongs to, in the command's order.
    :param scenario: the :class:`~sionna_semcomm.scenario.Scenario` (sent as an object: no file needed on workers).
    :param system: registered system name.
    :param options: :class:`~sionna_semcomm.systems.RunOptions` (seed, device, sizes, checkpoint, data dir).
    :param attack: the attack's settings (:func:`sionna_semcomm.link.cli.attack_spec`) or ``None``.
    :param threads: torch threads in the worker (``None``: the thread policy, i.e. Ray's ``OMP_NUM_THREADS``).
    :param batches: ``(start, stop)``: only these batches of a bit point (a shard of it); the task returns their
        counts (``{"batches": [...]}``), merged by the runner's ``merge_shards``.
    """

    run_index: int
    scenario: object
    system: str
    options: object
    snr_db: float
    attack: dict | None = None
    threads: int | None = None
    batches: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict)

    def runner_key(self) -> str:
        return repr((self.scenario, self.system, self.options, self.attack))


_RUNNERS: dict[str, object] = {}  # per worker process: runners are reused by the points of the same system


def evaluate_point(task: PointTask) -> dict:
    """Evaluate one point (in whatever process runs it); returns the runner's point dictionary."""
    from .link.cli import build_runner
    from .runtime import apply_threads

    apply_threads(task.threads)
    key = task.runner_key()
    runner = _RUNNERS.get(key)
    if runner is None:
        if len(_RUNNERS) >= 4:  # a worker keeps a few systems, not every one it ever ran
            _RUNNERS.pop(next(iter(_RUNNERS)))
        runner = _RUNNERS[key] = build_runner(task.scenario, task.system, task.options, task.attack)
    if task.batches is not None:
        return {"batches": runner.evaluate_batches(task.snr_db, *task.batches)}
    return runner.evaluate(task.snr_db)


class RayExecutor:
    """Runs :class:`PointTask` s as Ray tasks.

    :param address: a running cluster (``ray start --head`` / ``auto`` / ``ray://host:10001``); ``None``: join
        the cluster this process already initialised, else start a local one with ``num_cpus`` CPUs.
    :param num_cpus: CPUs of a local cluster started here (``None``: all of this machine's).
    :param task_cpus, task_gpus: what each task declares (``task_gpus`` may be a fraction, e.g. 0.25: four
        points share a GPU).
    :param max_retries: times Ray reruns a task whose worker died.
    :param evaluate: what a task runs (default :func:`evaluate_point`; a wrapper of it, e.g. in tests).
    """

    def __init__(self, address: str | None = None, num_cpus: int | None = None, task_cpus: float = 1,
                 task_gpus: float = 0, max_retries: int = 3, evaluate=None):
        ray = require_ray()
        self._ray = ray
        self._started = False
        self._signals: dict = {}  # the handlers ray.init replaces, put back by shutdown
        if not ray.is_initialized():
            kw = {"include_dashboard": False, "log_to_driver": False}
            if address is None:
                # a local cluster: its workers import this package from where the driver does
                root = str(Path(__file__).resolve().parents[1])
                path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
                kw.update(num_cpus=num_cpus, runtime_env={"env_vars": {"PYTHONPATH": path}})
                # Ray starts its workers 15 nice levels below the command (RAY_worker_niceness): on a machine
                # shared with other work they then get almost no CPU. The points are this command's work.
                os.environ.setdefault("RAY_worker_niceness", "0")
            import signal
            import threading

            if threading.current_thread() is threading.main_thread():
                self._signals = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
            ray.init(address=address, **kw)
            self._started = True
        self._remote = ray.remote(num_cpus=task_cpus, num_gpus=task_gpus,
                                  max_retries=max_retries)(evaluate or evaluate_point)

    def run(self, tasks: Iterable[PointTask]) -> Iterator[tuple[PointTask, dict]]:
        """Submit every task, then yield ``(task, point)`` as they finish (any order)."""
        pending = {self._remote.remote(t): t for t in tasks}
        while pending:
            done, _ = self._ray.wait(list(pending), num_returns=1)
            for ref in done:
                task = pending.pop(ref)
                try:
                    point = self._ray.get(ref)
                except self._ray.exceptions.RayTaskError as e:
                    cause = getattr(e, "cause", None)
                    if isinstance(cause, (ValueError, OSError)):
                        for other in pending:
                            self._ray.cancel(other)
                        raise cause from None
                    raise
                yield task, point

    def shutdown(self) -> None:
        """Stop the local cluster this executor started (a joined one is left running)."""
        import signal

        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        self._started = False
        for sig, handler in self._signals.items():
            signal.signal(sig, handler)
        self._signals = {}


def add_executor_arguments(parser, what: str) -> object:
    """``--executor local|ray``, ``--address``, ``--workers``, ``--task-gpus`` of a command (``what``: what one
    task is, for the help); returns the argument group (commands add their own options to it)."""
    x = parser.add_argument_group("executors (where the work runs)")
    x.add_argument("--executor", choices=list(EXECUTORS), default="local",
                   help=f"local: in this machine's processes (default); ray: every {what} a Ray task (optional "
                        f"extra: {RAY_INSTALL_HINT})")
    x.add_argument("--address", help="ray: the cluster to join (e.g. auto, or ray://HEAD:10001); default: a local "
                                     "cluster started for this command")
    from .argtypes import positive_int

    x.add_argument("--workers", type=positive_int, metavar="N",
                   help="ray, local cluster: its CPUs, i.e. tasks run at once (default: this machine's cores)")
    x.add_argument("--task-gpus", type=float, metavar="G",
                   help="ray: GPUs each task declares (fractions share a GPU; default 1 on CUDA, 0 on CPU)")
    return x


def executor_from_args(args, device: str, ray_only: tuple[str, ...] = (), evaluate=None, task_cpus: float = 1):
    """The :class:`RayExecutor` the options ask for, or ``None`` for the local executor; ``SystemExit`` naming the
    problem for Ray options given without ``--executor ray`` (``ray_only``: the command's own such options)."""
    options = {"--address": args.address, "--workers": args.workers, "--task-gpus": args.task_gpus,
               **{flag: getattr(args, flag.lstrip("-").replace("-", "_")) for flag in ray_only}}
    if args.executor == "local":
        given = [flag for flag, value in options.items() if value is not None]
        if given:
            raise SystemExit(f"error: {', '.join(given)} apply to --executor ray")
        return None
    if args.task_gpus is not None and not args.task_gpus >= 0:
        raise SystemExit(f"error: --task-gpus must be >= 0, got {args.task_gpus}")
    gpus = args.task_gpus if args.task_gpus is not None else (1 if str(device).startswith("cuda") else 0)
    return RayExecutor(args.address, args.workers, task_cpus=task_cpus, task_gpus=gpus, evaluate=evaluate)
