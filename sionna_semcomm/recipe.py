"""``python -m sionna_semcomm.recipe``: the three-stage training recipe of the shipped weights in one command.

The stages (README "Training recipe"), each ``python -m sionna_semcomm.train --stage S`` with the scenario's
``[train.S]`` settings, in its own folder under ``--out-dir``:

1. ``codec`` -> ``OUT/codec``: the codec through the link, reconstruction loss only;
2. ``classifier`` -> ``OUT/classifier``: the image classifier on clean augmented images (no link);
3. ``classifier_finetune`` -> ``OUT/final``: the classifier on the frozen codec's reconstructions, started from
   the two ``best.safetensors`` above. ``OUT/final/best.safetensors`` is the trained system.

**Length.** Each stage runs ``--steps STAGE=N`` optimizer steps, else the scenario's ``max_steps`` for it. With
``--time-budget T`` the lengths are planned on this device instead, so that the whole recipe fits in ``T``:
before a stage, a throw-away copy of it is timed (:meth:`~sionna_semcomm.train.Trainer.measure_speed`:
``--calibration-steps`` steps after 3 warm-up steps, and one validation); the stage gets the share ``--shares``
gives it of the time then left (less the time to set the stage up again: data and model), and
``N = floor(margin x share / (t_step + t_validation / eval_every))`` steps, so that its learning-rate schedule
(warm-up, constant, decay) ends inside its share. If the plan was off, the stage stops at 1.25x its share
anyway (``train --time-budget``), keeping ``resume.pt``.

**Record.** ``OUT/recipe.json`` (written atomically after every stage) holds, per stage, the exact ``train``
command (rerunning it reproduces the stage), its planned length and what that was planned from, the steps
done, the wall time, the selected step and its validation figures; at the top level the chained command,
the device, the training data, the steps and wall time in all and the final validation: the fields of an
entry of the shipped-weights manifest.

``--resume`` keeps the planned lengths of ``recipe.json``, skips finished stages and continues a stage in
progress from its ``resume.pt``; stages not yet planned are planned on the time left. Ctrl-C stops like the
``train`` command (finished work kept).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from pathlib import Path

import torch

from . import train
from .atomic import atomic_write_json

__all__ = ["RECIPE_STAGES", "FOLDERS", "stage_argv", "plan_steps", "run_recipe", "main"]

RECIPE_STAGES = ("codec", "classifier", "classifier_finetune")
#: each stage's folder under ``--out-dir``
FOLDERS = {"codec": "codec", "classifier": "classifier", "classifier_finetune": "final"}
#: the default split of a time budget: the proportions of the shipped CPU run's wall times (codec 11.7 ks,
#: classifier ~9 ks, fine-tuning 1.3 ks), rounded
DEFAULT_SHARES = (0.55, 0.35, 0.10)
#: a stage's planned steps fill this fraction of its share (checkpoint writes and the final validation are
#: not in the timing)
MARGIN = 0.9
#: a stage stops at this multiple of its share even if its planned steps are not done
HARD_STOP = 1.25


def stage_argv(stage: str, args, out_dir: Path, max_steps: int | None, init: bool = True) -> list[str]:
    """The ``python -m sionna_semcomm.train`` arguments of ``stage`` (``init``: with the ``--init-*`` weights of
    the earlier stages, which the fine-tuning stage starts from)."""
    argv = ["--scenario", str(args.scenario), "--stage", stage, "--out-dir", str(out_dir / FOLDERS[stage])]
    if max_steps is not None:
        argv += ["--max-steps", str(max_steps)]
    if stage == "classifier_finetune" and init:
        argv += ["--init-codec", str(out_dir / FOLDERS["codec"] / "best.safetensors"),
                 "--init-classifier", str(out_dir / FOLDERS["classifier"] / "best.safetensors")]
    for flag, value in (("--data-dir", args.data_dir), ("--train-source", args.train_source),
                        ("--batch-size", args.batch_size), ("--amp", args.amp), ("--seed", args.seed),
                        ("--device", args.device), ("--threads", args.threads), ("--num-train", args.num_train),
                        ("--classifier-width", args.classifier_width)):
        if value is not None:
            argv += [flag, str(value)]
    if args.channels_last is not None:
        argv.append("--channels-last" if args.channels_last else "--no-channels-last")
    if stage != "classifier":  # the stages with the codec that is kept
        if args.codec_channels:
            argv += ["--codec-channels", *map(str, args.codec_channels)]
        if args.decoder_csi:
            argv.append("--decoder-csi")
        if args.interleave:
            argv.append("--interleave")
    return argv


def plan_steps(budget_s: float, speed: dict, margin: float = MARGIN) -> int:
    """Optimizer steps that fill ``margin`` of ``budget_s`` seconds at ``speed`` (``{"step_s", "validation_s",
    "eval_every"}``, :meth:`~sionna_semcomm.train.Trainer.measure_speed`); at least 1."""
    per_step = speed["step_s"] + speed["validation_s"] / speed["eval_every"]
    if not per_step > 0:
        raise ValueError(f"a step must take a positive time, got {speed}")
    return max(1, int(margin * budget_s / per_step))


def _measure(stage: str, args, out_dir: Path) -> dict:
    """Time a throw-away copy of ``stage`` (random weights: a step's cost does not depend on them)."""
    scratch = out_dir / ".calibration"
    try:
        t0 = time.perf_counter()
        trainer = train.trainer_from_argv(stage_argv(stage, args, scratch, None, init=False) + ["--max-steps", "1000000"])
        setup_s = time.perf_counter() - t0  # data (decoded, or from the uint8 cache) and model: the stage pays it again
        return {**trainer.measure_speed(args.calibration_steps), "setup_s": setup_s}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _stage_record(folder: Path) -> dict:
    """What a stage's ``history.json`` says: command, steps, wall time, selected step and its validation."""
    path = folder / "history.json"
    if not path.is_file():
        return {"steps": 0, "finished": False}
    h = json.loads(path.read_text())
    key = {"psnr": "val_psnr", "accuracy": "val_accuracy", "loss": "val_loss"}.get(h["selection"])
    rows = [e for e in h["history"] if key is None or key in e]
    sign = -1 if h["selection"] == "loss" else 1
    best = max(rows, key=lambda e: sign * e[key]) if rows and key else (rows[-1] if rows else {})
    return {"command": h["metadata"]["command"], "steps": h["step"], "total_steps": h["total_steps"],
            "finished": bool(h["finished"]),
            "wall_time_s": round(sum(e["seconds"] for e in h["history"]), 1), "selected_step": best.get("step"),
            "selection": h["selection"], "validation": {k[4:]: round(v, 4) for k, v in best.items() if k.startswith("val_")},
            "training_data": h["metadata"].get("training_data")}


def _summary(record: dict) -> None:
    stages = [record["stages"][s] for s in RECIPE_STAGES if s in record["stages"]]
    record["command"] = " && ".join(s["command"] for s in stages if "command" in s)
    record["steps"] = sum(s.get("steps", 0) for s in stages)
    record["wall_time_s"] = round(sum(s.get("wall_time_s", 0) for s in stages), 1)
    final = record["stages"].get("classifier_finetune", {})
    if final.get("validation"):
        codec = record["stages"].get("codec", {}).get("validation", {})
        record["validation"] = {**final["validation"], "codec_psnr": codec.get("psnr")}
    data = next((s["training_data"] for s in stages if s.get("training_data")), None)
    if data:
        record["training_data"] = data


def run_recipe(args) -> dict:
    """Run (or resume) the recipe for parsed ``args`` (see :func:`setup_args`); returns the ``recipe.json`` record."""
    out_dir = Path(args.out_dir)
    path = out_dir / "recipe.json"
    record = json.loads(path.read_text()) if args.resume and path.is_file() else {}
    if not record and not args.resume and any((out_dir / f / "resume.pt").exists() for f in FOLDERS.values()):
        raise SystemExit(f"error: {out_dir} holds an earlier recipe run: continue it with --resume or choose another "
                         "--out-dir")
    from .runtime import resolve_device

    record.setdefault("scenario", str(args.scenario))
    record.setdefault("time_budget_s", args.time_budget)
    record["device"] = resolve_device(args.device)
    if record["device"].startswith("cuda"):
        record["device_name"] = torch.cuda.get_device_name(record["device"])
    record.setdefault("stages", {})
    if args.time_budget is None:  # the whole plan up front, so that a --resume without --steps follows it
        for stage in RECIPE_STAGES:
            if "max_steps" not in record["stages"].setdefault(stage, {}):
                record["stages"][stage].update(max_steps=args.steps.get(stage),
                                               planned_from="--steps" if stage in args.steps else "scenario")
    started = time.time()
    shares = dict(zip(RECIPE_STAGES, args.shares))
    for i, stage in enumerate(RECIPE_STAGES):
        entry = record["stages"].setdefault(stage, {})
        done = _stage_record(out_dir / FOLDERS[stage])
        if done["finished"] and entry.get("max_steps") == done["steps"]:
            continue
        budget = None
        if "max_steps" not in entry:  # planned on the time this invocation has left after timing the stage
            speed = _measure(stage, args, out_dir)
            left = args.time_budget - (time.time() - started) - speed["setup_s"]
            budget = max(left, 0.0) * shares[stage] / sum(shares[s] for s in RECIPE_STAGES[i:])
            entry.update(max_steps=plan_steps(budget, speed), budget_s=round(budget, 1),
                         planned_from={k: round(v, 5) for k, v in speed.items()})
        elif args.time_budget is not None:
            budget = entry.get("budget_s")
        argv = stage_argv(stage, args, out_dir, entry["max_steps"])
        argv += ["--resume"] if (out_dir / FOLDERS[stage] / "resume.pt").exists() else []
        argv += ["--time-budget", f"{HARD_STOP * budget:.0f}"] if budget else []
        argv += ["--no-progress"] if args.no_progress else []
        atomic_write_json(path, record)
        print(f"recipe: stage {stage}: {entry['max_steps'] or 'the scenario default'} steps"
              + (f" planned for {budget:.0f} s" if budget else ""), file=sys.stderr)
        stage_started = time.time()
        try:
            train.main(argv)
        finally:
            entry.update(_stage_record(out_dir / FOLDERS[stage]))
            if entry.get("max_steps") is None:  # the scenario's length
                entry["max_steps"] = entry.get("total_steps")
            record["elapsed_s"] = round(record.get("elapsed_s", 0.0) + time.time() - stage_started, 1)
            _summary(record)
            atomic_write_json(path, record)
        if not entry["finished"]:
            print(f"recipe: stage {stage} stopped at step {entry['steps']} of {entry['max_steps']} (time budget): "
                  "continue with --resume", file=sys.stderr)
            return record
    print(json.dumps({"out_dir": str(out_dir), "system": str(out_dir / FOLDERS['classifier_finetune'] / 'best.safetensors'),
                      "steps": record["steps"], "wall_time_s": record["wall_time_s"],
                      "validation": record.get("validation")}))
    return record


def _steps_arg(text: str) -> tuple[str, int]:
    stage, _, n = text.partition("=")
    if stage not in RECIPE_STAGES or not n.isdigit() or int(n) < 1:
        raise argparse.ArgumentTypeError(f"expected STAGE=N with STAGE one of {', '.join(RECIPE_STAGES)} and N a "
                                         f"positive integer, got {text!r}")
    return stage, int(n)


def _shares_arg(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"a share must be a positive number, got {text!r}")
    return v


def setup_args() -> argparse.ArgumentParser:
    from .argtypes import ArgumentParser, duration_seconds, input_dir, output_dir, positive_int, seed
    from .runtime import add_threads_argument

    p = ArgumentParser(prog="python -m sionna_semcomm.recipe", description=__doc__.split("\n\n")[0].split(": ", 1)[1])
    p.add_argument("--scenario", default="rayleigh_cifar", help="scenario name or .toml path (default: %(default)s)")
    p.add_argument("--out-dir", type=output_dir, default="runs/recipe", help="folder of the three stages' folders and "
                   "recipe.json (default: %(default)s)")
    p.add_argument("--steps", type=_steps_arg, nargs="+", default=[], metavar="STAGE=N",
                   help="optimizer steps of a stage (default: the scenario's [train.STAGE] max_steps)")
    p.add_argument("--time-budget", type=duration_seconds, metavar="T",
                   help="plan the stages' lengths on this device so that the recipe fits in T (seconds, or e.g. 8m, "
                        "2h); replaces --steps")
    p.add_argument("--shares", type=_shares_arg, nargs=3, default=list(DEFAULT_SHARES), metavar=("CODEC", "CLS", "FT"),
                   help="split of --time-budget between the stages (default: %(default)s)")
    p.add_argument("--calibration-steps", type=positive_int, default=20,
                   help="steps timed per stage to plan --time-budget (default: %(default)s)")
    p.add_argument("--data-dir", type=input_dir, help="data set folder (else $SIONNA_SEMCOMM_DATA)")
    p.add_argument("--train-source", choices=["batches", "jpeg", "both"])
    p.add_argument("--batch-size", type=positive_int, help="every stage's batch (default: the scenario's)")
    p.add_argument("--amp", choices=train.AMP, help="bf16 autocast (GPUs)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--classifier-width", type=positive_int,
                   help="base width of the image classifier in every stage (default: the scenario's [model] "
                        "classifier_width, 16; the shipped classifier under-fits at 16: README)")
    p.add_argument("--codec-channels", type=positive_int, nargs="+", metavar="C",
                   help="widths of the codec's down-scaling stages in the codec and fine-tuning stages (train "
                        "--codec-channels; default: the scenario's, 64 64: README \"A wider codec\")")
    p.add_argument("--decoder-csi", action="store_true",
                   help="the decoder reads every symbol's channel state (train --decoder-csi) in the codec and "
                        "fine-tuning stages; measured +0.03-0.07 dB on a trained codec (README)")
    p.add_argument("--interleave", action="store_true",
                   help="the codec sends its symbols in a fixed pseudo-random order over the resource grid (train "
                        "--interleave) in the codec and fine-tuning stages (README \"Symbol interleaver\")")
    p.add_argument("--num-train", type=positive_int, help="use only the first N training images (quick runs)")
    p.add_argument("--seed", type=seed)
    p.add_argument("--device", default="auto")
    add_threads_argument(p)
    p.add_argument("--resume", action="store_true", help="continue the run in --out-dir (see the module doc)")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: list[str] | None = None) -> dict:
    args = setup_args().parse_args(argv)
    if args.time_budget is not None and args.steps:
        raise SystemExit("error: give --steps or --time-budget, not both")
    args.steps = dict(args.steps)
    return run_recipe(args)


if __name__ == "__main__":
    main()
