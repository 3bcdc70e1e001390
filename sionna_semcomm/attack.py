"""``python -m sionna_semcomm.attack``: train perturbation generators, measure detectability, plot attacked runs.

Subcommands::

    python -m sionna_semcomm.attack list
    python -m sionna_semcomm.attack train --scenario rayleigh_cifar --attack semadv --target-class 2 --psr-db -6 \\
        [--controllable-class 5] [--checkpoint SYSTEM.safetensors] [--epochs N] [--out-dir DIR] [--resume]
    python -m sionna_semcomm.attack train --scenario rayleigh_cifar --attack pgm --psr-db -6
    python -m sionna_semcomm.attack detect --scenario rayleigh_cifar --attacks jamming pgd semadv \\
        --attack-checkpoint semadv=runs/attack/.../best.safetensors --psr-db -6 --snr-db 10 --out det.json
    python -m sionna_semcomm.attack plot r_clean.json r_pgd.json r_semadv.json --snr-db 10 --out fig6.png

``train`` fits a generator (SemAdv or PGM) against a frozen system checkpoint (default: the weights shipped
for the scenario) on the scenario's training split (validation carved from it), with the scenario's SNR
range (or a fixed ``--snr-db``); checkpoints, resume and history as the system trainer
(:mod:`sionna_semcomm.attacks.trainer`). The attacked link is the one the ``mobilesc`` system of the link
command uses. ``detect`` runs the receiver-side CP-redundancy detector
(:mod:`sionna_semcomm.attacks.detector`) on each attack against natural noise of the same total power and
reports the ROC AUC over images. ``plot`` draws per-class bars and misleading rate vs PSR from link-command
results files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from .argtypes import (ArgumentParser, class_index, figure_file, file_or_name, finite_float, input_dir, input_file,
                       known_name, output_dir, output_file, positive_int, psr_db, seed, snr_db)
from .runtime import AMP, add_threads_argument, apply_threads

__all__ = ["setup_args", "main", "attack_registry"]


def attack_registry():
    """Composition root: the core attacks plus those of ``baselines`` (when installed); returns the registry module."""
    from .attacks import register_attack, registry
    from .runtime import optional_module

    baseline_systems = optional_module("baselines.systems")
    if baseline_systems is not None:
        baseline_systems.register_attacks(register_attack)
    return registry






def attack_names() -> list[str]:
    """Names ``--attack`` accepts: the registered attacks (core and ``baselines``) and their aliases."""
    registry = attack_registry()
    return [info.name for info in registry.list_attacks()] + list(registry.ALIASES)


def setup_args() -> argparse.ArgumentParser:
    from .learned import SHIPPED_VARIANTS

    system_checkpoint = file_or_name(SHIPPED_VARIANTS)
    attack_name = known_name("attack", attack_names)
    p = ArgumentParser(prog="python -m sionna_semcomm.attack", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="list the attacks")

    t = sub.add_parser("train", help="train a perturbation generator (semadv, pgm) against a system checkpoint")
    t.add_argument("--scenario", default="rayleigh_cifar", help="scenario name or .toml path (default: %(default)s)")
    t.add_argument("--attack", required=True, type=attack_name, help="generator attack: semadv or pgm")
    t.add_argument("--psr-db", type=psr_db, required=True, help="PSR budget [dB]")
    t.add_argument("--target-class", type=class_index, nargs="+", help="attacked class(es) (semadv: required)")
    t.add_argument("--controllable-class", type=class_index,
                   help="semadv: push the target set to this class (controllable mode)")
    t.add_argument("--checkpoint", type=system_checkpoint,
                   help="system weights (default: the weights shipped for the scenario)")
    t.add_argument("--data-dir", type=input_dir, help="data set folder (else $SIONNA_SEMCOMM_DATA)")
    t.add_argument("--out-dir", type=output_dir, help="checkpoint folder (default: runs/attack/<scenario>-<attack>-...)")
    t.add_argument("--epochs", type=positive_int, help="epochs (default 10)")
    t.add_argument("--batch-size", type=positive_int, help="batch size (default: the scenario's [train] batch size)")
    t.add_argument("--max-steps", type=positive_int, help="at most this many optimizer steps in the whole run")
    t.add_argument("--train-source", choices=["batches", "jpeg", "both"],
                   help="CIFAR-10 training images (default: the scenario's [train] train_source)")
    t.add_argument("--num-train", type=positive_int, help="use only the first N training images (quick runs)")
    t.add_argument("--lr", type=finite_float("learning rate"), help="Adam learning rate (default 5e-4)")
    t.add_argument("--snr-db", type=snr_db, help="fixed training SNR [dB] (default: uniform over the scenario's training range)")
    t.add_argument("--amp", choices=AMP, default="none",
                   help="bf16: the receiver's networks autocast to bfloat16 in training steps, for devices with bf16 "
                        "units (GPUs, CPUs with AVX512-BF16 or AMX; elsewhere far slower): 1.5x the steps per CPU second "
                        "on an AVX512-BF16 CPU; the generator, its PSR and every validation stay float32 (default: "
                        "%(default)s, as every shipped generator)")
    t.add_argument("--shards", type=positive_int, metavar="S",
                   help="cut every (global) batch into S parts with their own random streams (default: one per "
                        "torchrun process; a multiple of their number): one process with --shards 2 trains like "
                        "torchrun --nproc_per_node 2")
    t.add_argument("--variation-weight", type=finite_float("variation weight"),
                   help="semadv: weight of the variation regulariser (default 0.1)")
    t.add_argument("--w-rec", type=finite_float("reconstruction weight"),
                   help="pgm: weight of the reconstruction error it also maximises (default 0)")
    t.add_argument("--seed-dim", type=positive_int, help="generator seed dimension (default 64)")
    t.add_argument("--hidden", type=positive_int, help="generator hidden width (default 256)")
    t.add_argument("--num-blocks", type=positive_int, help="generator Linear+LeakyReLU blocks (default 3)")
    t.add_argument("--seed", type=seed, help="run seed (default: the scenario's)")
    t.add_argument("--device", default="auto")
    add_threads_argument(t)
    t.add_argument("--resume", action="store_true",
                   help="continue from OUT_DIR/resume.pt (a fresh start, with a note, when there is none yet)")
    t.add_argument("--no-progress", action="store_true")

    d = sub.add_parser("detect", help="ROC AUC of a receiver-side detector (CP redundancy) per attack")
    d.add_argument("--scenario", default="rayleigh_cifar")
    d.add_argument("--checkpoint", type=system_checkpoint,
                   help="system weights (default: the weights shipped for the scenario)")
    d.add_argument("--attacks", nargs="+", type=attack_name, default=["jamming", "fgm", "pgd"],
                   help="attacks (default: %(default)s)")
    d.add_argument("--attack-checkpoint", nargs="+", default=[],
                   help="generator weights: NAME=FILE per generator attack (a bare FILE when only one is listed)")
    d.add_argument("--psr-db", type=psr_db, help="PSR [dB] (required unless every attack is a generator)")
    d.add_argument("--snr-db", type=snr_db, default=10.0, help="SNR [dB] (default: %(default)s)")
    d.add_argument("--target-class", type=class_index, nargs="+", help="attacked class(es) (recorded)")
    d.add_argument("--statistic", choices=["ks", "ad"], default="ks", help="goodness-of-fit statistic (default: %(default)s)")
    d.add_argument("--num-images", type=positive_int, help="test images (default: the scenario's)")
    d.add_argument("--batch-size", type=positive_int)
    d.add_argument("--data-dir", type=input_dir)
    d.add_argument("--seed", type=seed)
    d.add_argument("--device", default="auto")
    add_threads_argument(d)
    d.add_argument("--out", type=output_file, help="results JSON")
    d.add_argument("--no-progress", action="store_true")

    pl = sub.add_parser("plot", help="per-class bars and misleading rate vs PSR from link-command results files")
    pl.add_argument("results", nargs="+", type=input_file, help="results JSON files of python -m sionna_semcomm.link")
    pl.add_argument("--snr-db", type=snr_db, help="SNR point to draw (default: each run's first)")
    pl.add_argument("--systems", nargs="+", help="only these systems")
    pl.add_argument("--out", required=True, type=figure_file, help="figure file (png, pdf, svg, ...)")
    return p


# ------------------------------------------------------------------------------------------ shared pieces
def _load_scenario_system(scenario_name, checkpoint, device):
    from .checkpoints import CheckpointError, sha256_file
    from .learned import system_checkpoint
    from .scenario import ScenarioError, load_scenario
    from .semantic import load_system
    from .train import _registry as codec_registry
    from .train import model_config_for

    try:
        scenario = load_scenario(scenario_name)
        if scenario.images is None:
            raise ScenarioError(f"scenario {scenario.name!r} has no [images] section: no learned system to attack")
        checkpoint, sha = system_checkpoint(scenario.name, model_config_for(scenario).codec, checkpoint)
        system, meta = load_system(checkpoint, sha, codec_registry(), device)
    except (ScenarioError, CheckpointError) as e:
        raise SystemExit(f"error: {e}") from None
    link_cfg = scenario.link.for_learned_images()
    info = {"path": str(checkpoint), "sha256": sha or sha256_file(checkpoint), "epoch": meta.get("epoch"),
            "scenario": meta.get("scenario")}
    return scenario, system, link_cfg, info


def _resolve_device(name):
    from .runtime import resolve_device

    try:
        return resolve_device(name)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None


# ------------------------------------------------------------------------------------------ train
def _train(args, argv) -> list[dict]:
    """``attack train``: in this process, or as one rank of a torchrun process group (see
    :mod:`sionna_semcomm.attacks.trainer`)."""
    from . import distributed

    registry = attack_registry()
    try:
        info = registry.get_attack(args.attack)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    if info.kind != "generator":
        raise SystemExit(f"error: only generator attacks are trained (semadv, pgm); {info.name!r} is a {info.kind} attack")
    with distributed.process_group(_resolve_device(args.device)) as device:  # under torchrun: in the group
        return _train_in(args, argv, info, device)


def _train_in(args, argv, info, device) -> list[dict]:
    from .attacks import AttackTrainConfig, GeneratorConfig, GeneratorTrainer
    from .link.ofdm import OFDMLink
    from .runtime import warn_if_bf16_is_slow
    from .train import train_config_for

    scenario, system, link_cfg, system_info = _load_scenario_system(args.scenario, args.checkpoint, device)
    seed = scenario.seed if args.seed is None else args.seed
    try:
        tcfg = train_config_for(scenario)
        cfg = AttackTrainConfig(
            epochs=args.epochs or 10, batch_size=args.batch_size or tcfg.batch_size, lr=args.lr or 5e-4, beta1=tcfg.beta1,
            snr_min_db=tcfg.snr_min_db, snr_max_db=tcfg.snr_max_db, snr_db=args.snr_db, val_snr_db=tcfg.val_snr_db,
            amp=args.amp)
        gen_cfg = GeneratorConfig(**{k: v for k, v in (("seed_dim", args.seed_dim), ("hidden", args.hidden),
                                                         ("num_blocks", args.num_blocks)) if v is not None})
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    settings = {}
    if args.variation_weight is not None:
        if info.name != "semadv":
            raise SystemExit("error: --variation-weight applies to semadv only")
        settings["variation_weight"] = args.variation_weight
    if args.w_rec is not None:
        if info.name != "pgm":
            raise SystemExit("error: --w-rec applies to pgm only")
        settings["w_rec"] = args.w_rec
    warn_if_bf16_is_slow(cfg.amp, device)
    torch.manual_seed(seed)  # the generator's initial weights
    link = OFDMLink(system.num_symbols, link_cfg, seed=seed, device=device)
    try:
        attack = info.cls(system, link, args.psr_db, target_class=args.target_class,
                          controllable_class=args.controllable_class, seed=seed, generator_config=gen_cfg, **settings)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    parts = [scenario.name, info.name]
    if attack.target_classes:
        parts.append("t" + "-".join(map(str, attack.target_classes)))
    if attack.controllable_class is not None:
        parts.append(f"c{attack.controllable_class}")
    parts.append(f"psr{args.psr_db:g}")
    from .outputs import checked_out_dir
    from .train import load_command_data, run_training

    out_dir = checked_out_dir(args.out_dir, Path("runs/attack") / "_".join(parts))
    data, train_set, val_set = load_command_data(scenario.images.dataset, args.train_source or tcfg.train_source,
                                                 args.data_dir, tcfg.val_fraction, seed, args.num_train)
    if tuple(train_set.image_shape) != tuple(system.config.image_shape):
        raise SystemExit(f"error: the system expects images {system.config.image_shape}, the data set has {train_set.image_shape}")

    metadata = {"scenario": scenario.name, "seed": seed, "system_checkpoint": system_info,
                "command": "python -m sionna_semcomm.attack " + " ".join(argv if argv is not None else sys.argv[1:]),
                "dataset": scenario.images.dataset, "training_data": data.info, "train_images": len(train_set),
                "val_images": len(val_set), "link": link_cfg.to_dict()}
    try:
        trainer = GeneratorTrainer(attack, train_set, val_set, cfg, out_dir, seed, device, metadata, args.shards)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    history = run_training(trainer, out_dir, args.resume, args.max_steps, not args.no_progress)
    return history


# ------------------------------------------------------------------------------------------ detect
def _generator_checkpoints(items, generator_names) -> dict:
    out = {}
    for item in items:
        if "=" in item:
            name, path = item.split("=", 1)
            if name not in generator_names:
                raise SystemExit(f"error: --attack-checkpoint {item!r}: {name!r} is not one of the generator attacks "
                                 f"listed in --attacks ({', '.join(generator_names) or 'none'})")
        elif len(generator_names) == 1:
            name, path = generator_names[0], item
        else:
            raise SystemExit(f"error: --attack-checkpoint {item!r}: write NAME=FILE when several generator attacks are listed")
        if not Path(path).is_file():
            raise SystemExit(f"error: --attack-checkpoint {item!r}: no such file: {path}")
        out[name] = path
    return out


def _detect(args) -> dict:
    from .attacks import build_attack, detection_scores, roc_auc, summarize_psr
    from .evaluation import load_eval_images
    from .link.ofdm import OFDMLink
    from .results import versions

    registry = attack_registry()
    try:
        infos = [registry.get_attack(a) for a in args.attacks]
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    ckpts = _generator_checkpoints(args.attack_checkpoint, [i.name for i in infos if i.kind == "generator"])
    device = _resolve_device(args.device)
    scenario, system, link_cfg, system_info = _load_scenario_system(args.scenario, args.checkpoint, device)
    seed = scenario.seed if args.seed is None else args.seed
    try:
        dataset = load_eval_images(scenario.images.dataset, args.num_images or scenario.images.num_images, args.data_dir)
    except (ValueError, OSError) as e:
        raise SystemExit(f"error: {e}") from None
    batch = args.batch_size or scenario.images.batch_size
    link = OFDMLink(system.num_symbols, link_cfg, seed=seed, device=device)
    rows = []
    bar = tqdm(total=len(infos) * len(dataset), unit="img", disable=args.no_progress, file=sys.stderr)
    for info in infos:
        try:
            attack = build_attack(info.name, system, link, psr_db=args.psr_db, target_class=args.target_class,
                                  checkpoint=ckpts.get(info.name), seed=seed)
        except ValueError as e:
            bar.close()
            raise SystemExit(f"error: {info.name}: {e}") from None
        link.reseed(seed)
        taps_all = link.sample_taps((len(dataset),))
        stats = {"attacked": [], "natural": [], "perturbation_power": [], "signal_power": []}
        for start in range(0, len(dataset), batch):
            index = torch.arange(start, min(start + batch, len(dataset)))
            images, labels = dataset.batch(index, device=device)
            taps = taps_all[index.to(taps_all.device)]
            p = attack(images, labels, args.snr_db, taps)
            with torch.no_grad():
                z = system.codec.encode(images, args.snr_db)
            try:
                s = detection_scores(link, z, args.snr_db, p, taps, args.statistic)
            except ValueError as e:
                bar.close()
                raise SystemExit(f"error: {e}") from None
            for k in stats:
                stats[k].append(s[k].cpu())
            bar.update(len(index))
        cat = {k: torch.cat(v) for k, v in stats.items()}
        psr = summarize_psr(cat["perturbation_power"], cat["signal_power"])
        rows.append({"attack": attack.name, "psr_db": attack.psr_db, "measured_psr_db": psr["measured_psr_db"],
                     "auc": roc_auc(cat["attacked"], cat["natural"]),
                     "attacked_mean": float(cat["attacked"].mean()), "natural_mean": float(cat["natural"].mean()),
                     "num_images": len(dataset), "threat_model": attack.threat_model})
    bar.close()
    doc = {"name": "detect", "scenario": scenario.name, "seed": seed, "snr_db": args.snr_db, "statistic": args.statistic,
           "versions": versions(), "config": {"system_checkpoint": system_info, "link": link_cfg.to_dict(),
                                              "detector": "CP redundancy, |r|^2/mean vs Exp(1)"},
           "results": rows}
    print(f"{'attack':<10} {'PSR':>6} {'measured':>9} {'AUC':>6}")
    for r in rows:
        m = "-" if r["measured_psr_db"] is None else f"{r['measured_psr_db']:.2f}"
        psr_text = "-" if r["psr_db"] is None else f"{r['psr_db']:g}"
        print(f"{r['attack']:<10} {psr_text:>6} {m:>9} {r['auc']:>6.3f}")
    if args.out:
        from .atomic import atomic_write_json

        atomic_write_json(args.out, doc)
        print(f"results: {args.out}")
    return doc


# ------------------------------------------------------------------------------------------ plot
def _plot(args) -> Path:
    from .attacks.plots import plot_attack_runs
    from .results import read_runs

    runs = []
    try:
        for path in args.results:
            runs += read_runs(path)
    except (OSError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    if args.systems:
        runs = [r for r in runs if r["system"] in args.systems]
    try:
        path = plot_attack_runs(runs, args.out, args.snr_db)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    print(f"plot: {path}")
    return path


def main(argv: list[str] | None = None):
    args = setup_args().parse_args(argv)
    if args.command == "list":
        registry = attack_registry()
        for info in registry.list_attacks():
            print(f"  {info.name:<10} [{info.kind}] {info.description}")
        return registry.list_attacks()
    if args.command in ("train", "detect"):
        apply_threads(args.threads)
    if args.command == "train":
        return _train(args, argv)
    if args.command == "detect":
        return _detect(args)
    return _plot(args)


if __name__ == "__main__":
    main()
