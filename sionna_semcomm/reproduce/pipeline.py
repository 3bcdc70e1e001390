"""The steps of the reproduction, each cached (:mod:`.cache`) and each one of the toolkit's own commands.

* :meth:`Pipeline.generator_task` trains a SemAdv / PGM generator against a system checkpoint
  (``python -m sionna_semcomm.attack train``);
* :meth:`Pipeline.defense_task` fine-tunes the scenario's system with AT-PGM, AT-SemAdv or SemMixed
  (``python -m sionna_semcomm.defense``) from the undefended generators;
* :meth:`Pipeline.link_task` evaluates systems and attacks over the scenario's link
  (``python -m sionna_semcomm.link``), so every number of the report comes from the same simulator as the
  command line's.

:meth:`Pipeline.run` runs the tasks that are not cached: in this process one after the other
(``jobs = 1``), or ``jobs`` at a time in worker subprocesses that take them from one queue (independent steps
such as the ten SemAdv generators of one system, or the evaluations of the matrix, side by side on one GPU),
each worker with its log in ``<out>/logs``.

Training steps are finished when their ``history.json`` holds the requested epochs; unfinished ones resume
from ``resume.pt``. Link runs are finished when every run of the results file is ``complete``; unfinished
ones are resumed point by point. In-process commands write their output to ``<out>/reproduce.log``.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..atomic import atomic_write, atomic_write_json
from ..checkpoints import sha256_file
from .cache import Cache

__all__ = ["Preset", "FULL", "QUICK", "Pipeline", "DATASET_SCENARIOS", "defense_config"]

#: data set -> scenario of its experiments (imagenet10: an image folder given with ``--imagenet-dir``)
DATASET_SCENARIOS = {"cifar10": "rayleigh_cifar", "mnist": "rayleigh_mnist", "imagenet10": "rayleigh_imagenet10"}


@dataclass(frozen=True)
class Preset:
    """Sizes of a reproduction (``FULL``: the paper's settings on the data at hand; ``QUICK``: CI-sized).

    :param num_images: test images per evaluation (``None``: the scenario's, the whole test subset).
    :param snr_db: SNR [dB] of the per-class results (Fig. 6-8; the paper's 10 dB).
    :param extra_snr_db: more SNR points [dB] of the robustness matrix (Fig. 7/8 tables).
    :param psr_db: PSR [dB] the generators and defences are trained at (the paper's -6 dB).
    :param psr_grid: PSRs [dB] of the robustness matrix.
    :param classes: SemAdv target classes (one generator per class and per defence).
    :param target_class: Fig. 6's attacked class (2: bird / digit 2); ``controllable_class`` its
        controllable variant's destination (5: dog / digit 5), swept over ``misleading_psr``.
    :param sweep_snr_db: SNR points of Fig. 9.
    :param generator_epochs, defense_epochs: ``None`` for the scenario's ``[defense]`` values.
    :param generator_steps, defense_steps: optimizer-step budgets of every generator / defence training
        (``None``: no cap beyond the epochs); with the 48,576-image CIFAR-10 training source an epoch is long.
    :param base_epochs: epochs of a base system trained here (none ships: ImageNet-10); ``None``: ``[train]``.
    :param max_steps, num_train: optimizer-step cap of every training and training-set cap (quick runs only).
    :param table3_images: images the Table III timing is scaled to.
    :param amp: ``bf16``: every training of the run (generators, defences, a system trained here) autocasts its
        networks to bfloat16 (``--amp bf16``; 1.5x the generator steps per CPU second on a CPU with AVX512-BF16); part
        of those steps' cache keys, so a bf16 run never reuses float32 steps. ``none``: float32.
    """

    name: str
    num_images: int | None = None
    snr_db: float = 10.0
    extra_snr_db: tuple[float, ...] = ()
    psr_db: float = -6.0
    psr_grid: tuple[float, ...] = (-10.0, -6.0, -2.0)
    classes: tuple[int, ...] = tuple(range(10))
    target_class: int = 2
    controllable_class: int = 5
    misleading_psr: tuple[float, ...] = (-10.0, -8.0, -6.0, -4.0, -2.0)
    sweep_snr_db: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0)
    pgd_steps: int = 10
    generator_epochs: int | None = None
    defense_epochs: int | None = None
    generator_steps: int | None = None
    defense_steps: int | None = None
    base_epochs: int | None = None
    max_steps: int | None = None
    num_train: int | None = None
    batch_size: int | None = None
    table3_images: int = 10_000
    amp: str = "none"
    extra: dict = field(default_factory=dict)


FULL = Preset("full")
QUICK = Preset("quick", num_images=48, psr_grid=(-6.0,), classes=(2, 5), misleading_psr=(-6.0,),
               sweep_snr_db=(0.0, 10.0), pgd_steps=2, generator_epochs=1, defense_epochs=1, base_epochs=1, max_steps=2,
               num_train=32, batch_size=8, table3_images=100)


def defense_config(scenario, preset: Preset, variant: str):
    """The scenario's ``[defense]`` settings for ``variant`` with the preset's epochs and PSR."""
    from ..defense import defense_config_for

    return defense_config_for(scenario, variant=variant, epochs=preset.defense_epochs, psr_db=preset.psr_db,
                              generator_epochs=preset.generator_epochs)


class Pipeline:
    """Runs cached steps into ``out_dir`` (see the module doc)."""

    def __init__(self, out_dir: str | Path, preset: Preset, data_dir: str | None = None, seed: int = 0,
                 device: str = "auto", show_progress: bool = True, jobs: int = 1, data_dirs: dict | None = None,
                 threads: int | None = None, executor=None, systems: dict | None = None):
        self.out_dir = Path(out_dir)
        self.systems = dict(systems or {})  # scenario -> its undefended system: a file or a shipped variant name
        self.base_systems: dict = {}  # scenario -> {"path", "sha256"} of the undefended system used (for the report)
        self.data_dirs = dict(data_dirs or {})  # scenario -> data folder, where it is not data_dir
        self.jobs = max(1, int(jobs))
        self.threads = threads  # torch threads of each worker (None: the thread policy's share of the cores)
        self.executor = executor  # a RayExecutor: every command a Ray task (None: in process or the jobs pool)
        self.preset, self.data_dir, self.seed, self.device = preset, data_dir, seed, device
        self.show_progress = show_progress
        self.cache = Cache(self.out_dir / "cache")
        self.out_dir.mkdir(parents=True, exist_ok=True)

    # ------------------------------------------------------------------ helpers
    def _common(self, scenario: str) -> list[str]:
        args = ["--seed", str(self.seed), "--device", self.device]
        data_dir = self.data_dirs.get(scenario, self.data_dir)
        if data_dir:
            args += ["--data-dir", str(data_dir)]
        if not self.show_progress:
            args.append("--no-progress")
        return args

    @contextlib.contextmanager
    def _log(self):
        """Send the commands' stdout to ``reproduce.log`` (progress bars stay on stderr)."""
        with open(self.out_dir / "reproduce.log", "a") as log, contextlib.redirect_stdout(log):
            yield

    def note(self, text: str) -> None:
        print(f"[reproduce] {text}", file=sys.stderr, flush=True)

    def base_system(self, scenario: str) -> dict:
        """The undefended system of ``scenario`` (path and sha256): the one chosen for it (``systems``: a
        checkpoint file, or a shipped variant such as ``semmixed``), else the shipped weights, or, where none ship
        (ImageNet-10), trained here with ``python -m sionna_semcomm.train`` (cached like every step). Every
        generator, defence and result is keyed by its sha256, so another system never reuses them.

        :raises SystemExit: a chosen variant that does not ship for ``scenario``.
        """
        if scenario not in self.base_systems:
            self.base_systems[scenario] = self._find_base_system(scenario)
        return self.base_systems[scenario]

    def _find_base_system(self, scenario: str) -> dict:
        from ..checkpoints import CheckpointError
        from ..learned import SHIPPED_VARIANTS, pretrained_checkpoint
        from ..scenario import load_scenario
        from ..train import train_config_for

        chosen = self.systems.get(scenario)
        if chosen is not None and chosen not in SHIPPED_VARIANTS:
            return {"path": str(chosen), "sha256": sha256_file(chosen)}
        try:
            path, sha = pretrained_checkpoint(scenario, "mobilesc", chosen)
            return {"path": str(path), "sha256": sha}
        except CheckpointError as e:
            if chosen is not None:
                raise SystemExit(f"error: --system {chosen}: {e}") from None
        epochs = self.preset.base_epochs or train_config_for(load_scenario(scenario)).epochs
        args = ["--scenario", scenario, "--epochs", str(epochs), *self._common(scenario), *self._caps()]
        config = {"argv": _without(args, ["--no-progress", "--device"])}
        return self.run([self._train_task("train", f"{scenario}/systems", "mobilesc", config, epochs, args)])[0]

    def symbol_system(self, scenario: str, base: dict, steps: int = 2000) -> dict:
        """The system that classifies the received symbols (the paper's Fig. 6 c/e setting): the shipped one
        (``--checkpoint symbols``) when its codec is the base system's (tensor for tensor), else trained here from the
        base system's codec (``train --stage classifier_finetune --classify-from symbols``), cached."""
        from ..checkpoints import CheckpointError
        from ..learned import pretrained_checkpoint

        try:
            path, sha = pretrained_checkpoint(scenario, "mobilesc", "symbols")
        except CheckpointError:
            path = sha = None
        if path is not None and shares_codec((path, sha), (base["path"], base["sha256"])):
            return {"path": str(path), "sha256": sha}
        args = ["--scenario", scenario, "--stage", "classifier_finetune", "--classify-from", "symbols",
                "--init-codec", base["path"], "--max-steps", str(self.preset.max_steps or steps),
                *self._common(scenario), *self._caps()]
        config = {"argv": _without(args, ["--init-codec", "--no-progress", "--device"]), "codec": base["sha256"]}
        task = self._train_task("train", f"{scenario}/systems", "mobilesc-symbols", config, 10**9, args,
                                max_steps_of(args))
        return self.run([task])[0]

    # ------------------------------------------------------------------ running commands
    def run(self, tasks: list[Task]) -> list:
        """Run the commands of the tasks that are not cached (one by one in this process, or ``jobs`` at a time
        as subprocesses), then return every task's result in order."""
        todo = [t for t in tasks if t.argv is not None]
        for t in tasks:
            self.cache.record(t.argv is None)
        if todo:
            for t in todo:
                if t.prepare is not None:
                    t.prepare()
            if self.executor is not None:
                self._run_on_executor(todo)
            elif self.jobs <= 1 or len(todo) == 1:
                for k, t in enumerate(todo, 1):
                    self.note(f"{t.module}: {t.label} ({k}/{len(todo)})")
                    with self._log():
                        _MAINS[t.module]()(t.argv)
            else:
                self._run_parallel(todo)
        return [t.finish() for t in tasks]

    def _worker_command(self) -> list[str]:
        """The command line of a ``--jobs N`` worker, less its log file (:mod:`.worker`)."""
        return [sys.executable, "-m", "sionna_semcomm.reproduce.worker"]

    def _run_parallel(self, todo: list[Task]) -> None:
        """``jobs`` worker subprocesses (:mod:`.worker`; one interpreter start each, not one per command), each
        taking the next queued command as soon as it has finished one, so that a long command holds back none of
        the others; a note when each command starts and ends, with the counts. Every command runs even where
        another failed (the failures are raised together at the end); once one is interrupted (Ctrl-C, SIGTERM:
        it keeps its finished work) no further one starts, and ``KeyboardInterrupt`` is raised."""
        import os
        import signal
        import subprocess
        import threading
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        from ..runtime import THREADS_ENV, default_threads

        threads = self.threads or default_threads(workers=self.jobs)[0]
        env = {**os.environ, THREADS_ENV: str(threads), "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        logs = self.out_dir / "logs"
        logs.mkdir(exist_ok=True)
        n = min(self.jobs, len(todo))
        stamp = f"{os.getpid()}-{id(todo)}"
        queue, lock = deque(todo), threading.Lock()
        count = {"started": 0, "ended": 0, "interrupted": False}
        procs: list = []
        failed: list[tuple[Task, Path, str]] = []

        def take() -> tuple[Task, int] | None:
            with lock:
                if count["interrupted"] or not queue:
                    return None
                count["started"] += 1
                return queue.popleft(), count["started"]

        def ask(proc, t: Task) -> dict | None:
            """Hand ``t`` to the worker and wait for its answer (``None``: the worker ended without one)."""
            try:
                proc.stdin.write(json.dumps({"module": t.module, "label": t.label, "argv": _quiet(t.argv)}) + "\n")
                proc.stdin.flush()
            except OSError:  # the worker is gone
                return None
            line = proc.stdout.readline()
            return json.loads(line) if line else None

        def one(i):
            log = logs / f"worker-{stamp}-{i}.log"
            with open(log, "a") as err:  # what the worker prints before it sends its output to the log itself
                proc = subprocess.Popen([*self._worker_command(), str(log)], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=err, env=env, text=True)
            procs.append(proc)
            try:
                while (item := take()) is not None:
                    t, k = item
                    self.note(f"{t.module}: {t.label} started ({k}/{len(todo)}; log {log})")
                    result = ask(proc, t)
                    if result is None:
                        rc = proc.wait()
                        result = {"seconds": 0.0, "error": f"its worker ended (exit {rc}) without an answer",
                                  "interrupted": rc in (130, -signal.SIGINT, -signal.SIGTERM)}
                    with lock:
                        count["ended"] += 1
                        count["interrupted"] |= bool(result["interrupted"])
                        if result["error"] is not None and not result["interrupted"]:  # with the log's end:
                            failed.append((t, log, log.read_text(errors="replace")[-2000:]))  # its output
                        ended = count["ended"]
                    state = "interrupted" if result["interrupted"] else "failed" if result["error"] else "done"
                    self.note(f"{t.module}: {t.label} {state} in {result['seconds']:.0f} s ({ended}/{len(todo)} ended)")
                    if proc.poll() is not None:
                        break
            finally:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
                proc.wait()

        with ThreadPoolExecutor(n) as pool:
            with stop_subprocesses_on_interrupt(procs):
                for future in [pool.submit(one, i) for i in range(n)]:
                    future.result()
        if count["interrupted"]:
            raise KeyboardInterrupt
        if failed or queue:
            raise RuntimeError("reproduction steps failed: " + "; ".join(
                f"{t.label} (log {log}):\n{tail}" for t, log, tail in failed)
                + (f"; {len(queue)} not started (every worker ended)" if queue else ""))

    def _run_on_executor(self, todo: list[Task]) -> None:
        """Every command a task of ``self.executor`` (Ray: :func:`.worker.run_command` in a worker, declaring its
        CPUs/GPUs), its output in ``<out>/logs/<label>.log``; all run, then failures are reported together. The
        commands write into the cache like local ones, so the cache and resume work whichever executor ran a step
        (on a multi-node cluster ``out_dir`` and the data must be on a file system every node sees, at the same
        path)."""
        import os

        logs = (self.out_dir / "logs").resolve()
        logs.mkdir(exist_ok=True)
        specs = [{"module": t.module, "label": t.label, "cwd": os.getcwd(), "threads": self.threads or 1,
                  "argv": _quiet(t.argv),
                  "log": str(logs / (t.label.replace("/", "__") + ".log"))} for t in todo]
        failed = []
        for spec, result in self.executor.run(specs):
            self.note(f"{spec['module']} {spec['label']}: {'failed' if result['error'] else 'done'} in "
                      f"{result['seconds']:.0f} s")
            if result["error"]:
                failed.append(spec)
        if failed:
            raise RuntimeError("reproduction steps failed on the executor: " + "; ".join(
                f"{s['label']} (log {s['log']}):\n{Path(s['log']).read_text()[-2000:]}" for s in failed))

    # ------------------------------------------------------------------ training steps
    def _train_task(self, module: str, kind: str, label: str, config: dict, epochs: int, argv: list[str],
                    max_steps: int | None = None) -> Task:
        """A training command into its cached folder unless finished (its epochs or its ``max_steps`` done); its
        result is ``best.safetensors``
        (the epoch with the lowest validation loss) with its sha256, kept beside it so finished results stay
        valid (and reusable) where the weights were not copied along."""
        out = self.cache.path(kind, label, config)
        best, sidecar = out / "best.safetensors", out / "best.sha256"
        finished = False
        if (out / "history.json").exists():
            doc = json.loads((out / "history.json").read_text())
            hist = doc["history"]
            steps = hist[-1].get("step") or sum(h.get("steps", 0) for h in hist) if hist else 0
            finished = bool(doc.get("finished")) or len(hist) >= epochs or (max_steps is not None and steps >= max_steps)
        hit = finished and (best.exists() or sidecar.exists())

        def prepare():
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_json(out / "config.json", config)
            sidecar.unlink(missing_ok=True)

        def finish():
            if not sidecar.exists():
                atomic_write(sidecar, lambda tmp: Path(tmp).write_text(sha256_file(best) + "\n"))
            return {"path": str(best), "sha256": sidecar.read_text().strip()}

        resume = ["--resume"] if (out / "resume.pt").exists() else []
        cmd = None if hit else [*argv, "--out-dir", str(out), *resume]
        return Task(module, f"{kind}/{label}", cmd, finish, prepare)

    def generator_task(self, scenario: str, system: dict, attack: str, *, target_class: int | None = None,
                       controllable_class: int | None = None, epochs: int, psr_db: float) -> Task:
        """Train (or reuse) a generator attack against ``system`` (``{"path", "sha256"}``)."""
        args = ["train", "--scenario", scenario, "--attack", attack, "--psr-db", f"{psr_db:g}", "--epochs", str(epochs),
                "--checkpoint", system["path"], *self._common(scenario)]
        if target_class is not None:
            args += ["--target-class", str(target_class)]
        if controllable_class is not None:
            args += ["--controllable-class", str(controllable_class)]
        args += self._caps(self.preset.generator_steps)
        label = attack + (f"-t{target_class}" if target_class is not None else "") + (
            f"-c{controllable_class}" if controllable_class is not None else "")
        config = {"argv": _without(args, ["--checkpoint", "--no-progress", "--device"]), "system": system["sha256"]}
        return self._train_task("attack", f"{scenario}/generators", label, config, epochs, args, max_steps_of(args))

    def defense_task(self, scenario: str, system: dict, variant: str, generators: list[dict], *, psr_db: float) -> Task:
        """Fine-tune (or reuse) ``variant`` of the scenario's system from ``generators``."""
        from ..scenario import load_scenario

        cfg = defense_config(load_scenario(scenario), self.preset, variant)
        args = ["--scenario", scenario, "--variant", variant, "--checkpoint", system["path"], "--epochs", str(cfg.epochs),
                "--psr-db", f"{psr_db:g}", *self._common(scenario), *self._caps(self.preset.defense_steps)]
        if generators:
            args += ["--generator", *[g["path"] for g in generators]]
        config = {"argv": _without(args, ["--checkpoint", "--generator", "--no-progress", "--device"]),
                  "system": system["sha256"], "generators": [g["sha256"] for g in generators],
                  "defense": asdict(cfg)}
        return self._train_task("defense", f"{scenario}/defenses", variant, config, cfg.epochs, args, max_steps_of(args))

    def _caps(self, max_steps: int | None = None) -> list[str]:
        """The options of every training step: ``--max-steps`` (the smaller of the preset's cap and ``max_steps``),
        ``--num-train``, ``--batch-size`` and ``--amp`` (only where not ``none``: float32 steps keep their cache keys)."""
        p, out = self.preset, []
        steps = min((v for v in (p.max_steps, max_steps) if v is not None), default=None)
        for flag, value in (("--max-steps", steps), ("--num-train", p.num_train), ("--batch-size", p.batch_size),
                            ("--amp", None if p.amp == "none" else p.amp)):
            if value is not None:
                out += [flag, str(value)]
        return out

    # ------------------------------------------------------------------ evaluation
    def link_task(self, scenario: str, label: str, args: list[str], checkpoints: list[dict]) -> Task:
        """``python -m sionna_semcomm.link --scenario S ARGS`` into a cached results file; its result is the runs."""
        from ..results import read_runs

        full = ["--scenario", scenario, *args, *self._common(scenario)]
        if self.preset.num_images is not None and "--num-images" not in args:
            full += ["--num-images", str(self.preset.num_images)]
        config = {"argv": _without(full, ["--checkpoint", "--attack-checkpoint", "--no-progress", "--device"]),
                  "checkpoints": [c["sha256"] for c in checkpoints]}
        path = self.cache.path(f"{scenario}/results", label, config, ".json")
        hit = False
        if path.exists():
            runs = read_runs(path)
            hit = bool(runs) and all(r.get("complete") for r in runs)
        cmd = None if hit else [*full, "--out", str(path), "--resume"]
        # the file only grows: a run interrupted under an older configuration may stay beside the finished one
        return Task("link", f"{scenario}/{label}", cmd, lambda: [r for r in read_runs(path) if r.get("complete")],
                    lambda: path.parent.mkdir(parents=True, exist_ok=True))

    def link_run(self, scenario: str, label: str, args: list[str], checkpoints: list[dict]) -> list[dict]:
        return self.run([self.link_task(scenario, label, args, checkpoints)])[0]


@dataclass
class Task:
    """A command of the toolkit (``module``: link, attack, defense or train) and how to read its result.

    ``argv`` is ``None`` when the result is cached; ``prepare`` runs before the command, ``finish`` after it
    (or at once on a cache hit) and returns the result.
    """

    module: str
    label: str
    argv: list[str] | None
    finish: object
    prepare: object = None


def max_steps_of(argv: list[str]) -> int | None:
    """The ``--max-steps`` value of a training step's command line (None: no cap)."""
    return int(argv[argv.index("--max-steps") + 1]) if "--max-steps" in argv else None


def _main_of(module: str):
    def get():
        import importlib

        mod = importlib.import_module({"link": "sionna_semcomm.link.cli"}.get(module, f"sionna_semcomm.{module}"))
        return mod.main
    return get


_MAINS = {m: _main_of(m) for m in ("link", "attack", "defense", "train")}


def _quiet(argv: list[str]) -> list[str]:
    """A command's ``argv`` without progress bars (commands run by workers write to log files)."""
    return argv + ([] if "--no-progress" in argv else ["--no-progress"])


def shares_codec(a: tuple[str | Path, str | None], b: tuple[str | Path, str | None]) -> bool:
    """Whether two system checkpoints ``(path, sha256)`` hold the same codec, tensor for tensor (the rule by which
    the reproduction reuses the shipped symbol classifier); ``False`` where either is not a readable checkpoint."""
    from ..checkpoints import CheckpointError, load_weights

    try:
        return _same_codec(load_weights(*a)[0], load_weights(*b)[0])
    except CheckpointError:
        return False


def _same_codec(a: dict, b: dict) -> bool:
    """Whether two system state dicts hold the same codec tensors (keys ``codec.*``)."""
    import torch

    ka = sorted(k for k in a if k.startswith("codec."))
    return ka == sorted(k for k in b if k.startswith("codec.")) and bool(ka) and all(torch.equal(a[k], b[k]) for k in ka)


def _without(argv: list[str], flags: list[str]) -> list[str]:
    """``argv`` without ``flags`` and their values (paths that are keyed by content elsewhere, or settings that
    do not change the numbers)."""
    out, skip = [], False
    for a in argv:
        if a in flags:
            skip = a not in ("--no-progress",)
            continue
        if skip and not a.startswith("--"):
            continue
        skip = False
        out.append(a)
    return out


@contextlib.contextmanager
def stop_subprocesses_on_interrupt(procs: list, grace_s: float = 3, timeout_s: float = 600):
    """On ``KeyboardInterrupt`` (Ctrl-C, or SIGTERM under :func:`~sionna_semcomm.runtime.interrupt_on_signals`),
    send SIGTERM to every process of ``procs`` (``subprocess.Popen``, appended as they start) still running after
    ``grace_s`` seconds and wait for them (at most ``timeout_s`` each), so that workers save their resume state
    before this process exits: a ``kill`` of the main process alone stops the whole reproduction."""
    import subprocess

    try:
        yield
    except KeyboardInterrupt:
        running = [p for p in list(procs) if p.poll() is None]
        for p in running:  # a terminal's Ctrl-C reached them too: a few seconds to stop on their own first
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(grace_s)
        for p in running:
            if p.poll() is None:
                p.terminate()
        for p in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout_s)
        raise
