"""Command line of :mod:`sionna_semcomm.reproduce`.

::

    python -m sionna_semcomm.reproduce all --data-dir ../shared/data            # everything (hours on a CPU)
    python -m sionna_semcomm.reproduce fig8 --data-dir ../shared/data --device cuda
    python -m sionna_semcomm.reproduce all --quick --data-dir DIR --out-dir runs/quick   # CI-sized

Re-running reuses every finished step (same configuration and seed) and resumes unfinished ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

from ..argtypes import ArgumentParser, file_or_name, input_dir, output_dir, positive_int, seed, snr_db
from ..atomic import atomic_write, atomic_write_json
from ..executors import add_executor_arguments, executor_from_args
from ..outputs import checked_out_dir
from ..runtime import AMP, add_threads_argument, apply_threads, warn_if_bf16_is_slow
from .experiments import EXPERIMENTS
from .pipeline import DATASET_SCENARIOS, FULL, QUICK, Pipeline

__all__ = ["setup_args", "main"]

ORDER = ["table3", "table4", "fig6", "fig7", "fig8", "fig9"]


def setup_args() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m sionna_semcomm.reproduce",
                       description="Regenerate the paper's tables and figures, with a report beside the paper's numbers.")
    p.add_argument("experiments", nargs="+", choices=ORDER + ["all"], help="what to regenerate")
    p.add_argument("--data-dir", type=input_dir, help="folder with the CIFAR-10 / MNIST files (else $SIONNA_SEMCOMM_DATA)")
    p.add_argument("--datasets", nargs="*", choices=["cifar10", "mnist"], default=["cifar10", "mnist"],
                   help="data sets to run (default: both; ImageNet-10 joins when --imagenet-dir is given)")
    p.add_argument("--imagenet-dir", type=input_dir,
                   help="a 10-class ImageNet folder (DIR/train/<class>/*.JPEG, DIR/test/<class>/...): "
                   "adds ImageNet-10 to fig6 and fig8, its MobileSC trained here first (no weights ship for it)")
    p.add_argument("--system", nargs="+", type=_system_choice, default=[], metavar="DATASET=CKPT",
                   help="the undefended system of a data set, in place of its shipped weights: a checkpoint file or a "
                   "shipped variant (e.g. mnist=semmixed); its generators, defences and results are its own")
    p.add_argument("--quick", action="store_true", help="CI-sized: few images, 2 classes, 1 short epoch per training")
    p.add_argument("--out-dir", type=output_dir,
                   help="output folder (default: runs/reproduce, runs/reproduce-quick with --quick)")
    p.add_argument("--seed", type=seed, default=0)
    p.add_argument("--device", default="auto", help="cpu, cuda or auto (default: %(default)s)")
    p.add_argument("--num-images", type=positive_int, help="test images per evaluation (default: the whole test subset)")
    p.add_argument("--matrix-snr-db", type=snr_db, nargs="+", metavar="SNR",
                   help="more SNR points [dB] for the robustness matrix (beside the paper's 10 dB)")
    p.add_argument("--generator-epochs", type=positive_int, help="epochs of every generator (default: the scenario's [defense])")
    p.add_argument("--defense-epochs", type=positive_int,
                   help="fine-tuning epochs of every defence (default: the scenario's [defense])")
    p.add_argument("--generator-steps", type=positive_int, help="optimizer-step budget of every generator (default: no cap)")
    p.add_argument("--defense-steps", type=positive_int, help="optimizer-step budget of every defence (default: no cap)")
    p.add_argument("--amp", choices=AMP, default="none",
                   help="bf16: every training step (generators, defences) autocasts its networks to bfloat16 (GPUs, CPUs "
                   "with AVX512-BF16 or AMX); the steps are cached apart from float32 ones (default: %(default)s)")
    p.add_argument("--jobs", type=positive_int, default=1,
                   help="independent steps run side by side as subprocesses (default 1: one after the other, in process)")
    add_threads_argument(p)  # per worker with --jobs N (default: the usable cores shared among the N workers)
    add_executor_arguments(p, "step (training or evaluation)")
    p.add_argument("--no-progress", action="store_true")
    return p


def _system_choice(text: str) -> tuple[str, str]:
    """``DATASET=CKPT`` -> ``(scenario, CKPT)``; CKPT an existing file or a shipped variant's name."""
    from ..learned import SHIPPED_VARIANTS

    dataset, sep, ckpt = text.partition("=")
    if not sep or dataset not in DATASET_SCENARIOS or not ckpt:
        raise argparse.ArgumentTypeError(f"{text!r}: expected DATASET=CKPT with DATASET one of "
                                         f"{', '.join(DATASET_SCENARIOS)}")
    return DATASET_SCENARIOS[dataset], file_or_name(SHIPPED_VARIANTS)(ckpt)


def main(argv: list[str] | None = None) -> dict:
    args = setup_args().parse_args(argv)
    datasets, data_dirs = list(args.datasets), {}
    if args.imagenet_dir:
        if not Path(args.imagenet_dir, "train").is_dir() or not Path(args.imagenet_dir, "test").is_dir():
            raise SystemExit(f"error: --imagenet-dir {args.imagenet_dir} needs train/<class>/ and test/<class>/ sub-folders")
        datasets.append("imagenet10")
        data_dirs[DATASET_SCENARIOS["imagenet10"]] = args.imagenet_dir
    names = ORDER if "all" in args.experiments else [n for n in ORDER if n in args.experiments]
    preset = QUICK if args.quick else FULL
    if args.num_images is not None:
        preset = dataclasses.replace(preset, num_images=args.num_images)
    if args.matrix_snr_db:
        preset = dataclasses.replace(preset, extra_snr_db=tuple(v for v in args.matrix_snr_db if v != preset.snr_db))
    for key in ("generator_epochs", "defense_epochs", "generator_steps", "defense_steps", "amp"):
        if getattr(args, key) is not None:
            preset = dataclasses.replace(preset, **{key: getattr(args, key)})
    out = checked_out_dir(args.out_dir, "runs/reproduce-quick" if args.quick else "runs/reproduce")
    if args.executor == "ray" and args.jobs > 1:
        raise SystemExit("error: --jobs N is the local executor's process pool; with --executor ray the cluster's "
                         "CPUs (--workers N on a local one) say how many steps run at once")
    threads = apply_threads(args.threads, workers=max(1, args.jobs))
    from ..runtime import resolve_device
    from .worker import run_command

    try:
        device = resolve_device(args.device)  # where the steps run decides the GPUs a Ray task declares
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    warn_if_bf16_is_slow(preset.amp, device)
    executor = executor_from_args(args, device, evaluate=run_command, task_cpus=args.threads or 1)
    pl = Pipeline(out, preset, args.data_dir, args.seed, args.device, not args.no_progress, args.jobs, data_dirs,
                  threads=threads if executor is None else (args.threads or 1), executor=executor,
                  systems=dict(args.system))
    from ..runtime import interrupt_on_signals

    results = {}
    try:
        with interrupt_on_signals():  # kill (SIGTERM) stops like Ctrl-C: the workers save their state first
            for name in names:
                started = time.time()
                pl.note(f"{name} ...")
                res = EXPERIMENTS[name](pl, datasets)
                res["seconds"] = time.time() - started
                atomic_write(out / f"{name}.md", lambda tmp, md=res["markdown"]: Path(tmp).write_text(md + "\n"))
                atomic_write_json(out / f"{name}.json", {"preset": dataclasses.asdict(preset), "seed": args.seed,
                                                         "data": res["data"], "figures": [str(f) for f in res["figures"]]})
                results[name] = res
                pl.note(f"{name} done in {res['seconds']:.0f} s")
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished steps are kept in {out}; run the same command again to continue", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        if executor is not None:
            executor.shutdown()
    report = _report(out, preset, args, pl.base_systems)
    print(json.dumps({"out_dir": str(out), "report": str(report), "cache_hits": pl.cache.hits,
                      "cache_misses": pl.cache.misses, "experiments": names}))
    return results


def _report(out: Path, preset, args, base_systems: dict | None = None) -> Path:
    """``REPORT.md``: every finished experiment's section, in the paper's order, after the run's sizes and the
    undefended system of each data set (``base_systems``: scenario -> ``{"path", "sha256"}``)."""
    sizes = (f"test images: {preset.num_images or 'all'}; generator epochs: {preset.generator_epochs or 'the scenario [defense] value'}"
             + (f" (at most {preset.generator_steps} steps)" if preset.generator_steps else "")
             + f"; defence epochs: {preset.defense_epochs or 'the scenario [defense] value'}"
             + (f" (at most {preset.defense_steps} steps)" if preset.defense_steps else "") + f"; SNR {preset.snr_db:g} dB"
             + (f" (+ {', '.join(f'{v:g}' for v in preset.extra_snr_db)} dB in the matrix)" if preset.extra_snr_db else "")
             + f"; PSR {preset.psr_db:g} dB (matrix: {', '.join(f'{v:g}' for v in preset.psr_grid)} dB)"
             + ("" if preset.amp == "none" else f"; every training with {preset.amp} autocast"))
    systems = "; ".join(f"{scenario}: `{Path(s['path']).name}` (sha256 {s['sha256'][:8]}...)"
                        for scenario, s in sorted((base_systems or {}).items()))
    sections = [f"# Reproduction report ({preset.name} preset, seed {args.seed})", "", sizes, "",
                *([f"Undefended systems: {systems}", ""] if systems else []),
                "Our numbers beside the paper's; each claim is checked with the threshold stated in "
                "`sionna_semcomm/reproduce/experiments.py`. Regenerate with `python -m sionna_semcomm.reproduce all"
                f"{' --quick' if preset.name == 'quick' else ''} --data-dir DIR`.", ""]
    for name in ORDER:
        md = out / f"{name}.md"
        if md.exists():
            sections += [md.read_text(), ""]
    for fig in sorted(out.glob("*.png")):
        sections.append(f"![{fig.stem}]({fig.name})")
    path = out / "REPORT.md"
    atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(sections) + "\n"))
    return path
