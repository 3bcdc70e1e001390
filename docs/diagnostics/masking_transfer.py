"""Is a shipped system's robustness real, or masked gradients?  Transfer test (Athalye et al., 2018).

Attacks crafted on one system are sent against another, on the same images, channels and noise (SNR 10 dB).
If attacks crafted on a fine-tuned copy hurt the shipped system more than the attacks crafted on the shipped
system itself, the shipped system's gradients mislead the attacker: its robustness is masked, not real.

- ``pgd``: per-input white-box PGD (``--pgd-steps``, ``--pgd-psr-db``; 10 steps, PSR -6 dB) crafted on each system,
  accuracy on ``--images`` images. Where PGD takes every system to ~0 %, a smaller budget (fewer steps, lower PSR)
  keeps the comparison from saturating.
- ``semadv``: the reproduction's SemAdv generators (``--cache``, one per target class, PSR -6 dB), trained
  against the shipped system and against each other system with a sha256 in the cache; the targeted class's
  accuracy over all its test images, mean over ``--classes``. Generators trained with several ``--seed`` values
  (the reproduction's cache folders, whose ``config.json`` names the system's sha256 and the training argv;
  ``docs/diagnostics/masking_seeds.py`` trains them) give one row per
  seed, their mean, and the gap between a system's own generators and each other system's, paired by seed and
  class, with its standard error: masking shows as own generators being the weakest set against their system.

Run from the repository root, e.g. ``python docs/diagnostics/masking_transfer.py --scenario rayleigh_cifar
--cache runs/reproduce-cpu --attacks semadv``. ``NAME=CHECKPOINT`` arguments, written before ``--attacks``, add
systems (an ablation, or earlier weights: ``git show REV:sionna_semcomm/assets/weights/F``). The README's MNIST
table ("Robustness matrix") is ``--scenario rayleigh_mnist --cache runs/reproduce-mnist --images 300
first=FIRST control=C finetune-ls=... --attacks pgd`` with FIRST the first MNIST recipe weights (commit ac10366)
and C their fine-tuning control (``runs/reproduce-mnist/cache/rayleigh_mnist/defenses/finetune-*``)."""
import argparse
import glob
import json
import os
from pathlib import Path

import torch

from sionna_semcomm.attack import attack_registry
from sionna_semcomm.atomic import atomic_write_json
from sionna_semcomm.attacks import build_attack
from sionna_semcomm.checkpoints import sha256_file
from sionna_semcomm.data.loading import load_dataset
from sionna_semcomm.learned import pretrained_checkpoint
from sionna_semcomm.reproduce.pipeline import max_steps_of
from sionna_semcomm.link.ofdm import OFDMLink
from sionna_semcomm.scenario import load_scenario
from sionna_semcomm.semantic import load_system

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--scenario", default="rayleigh_mnist")
p.add_argument("--cache", required=True, help="a reproduce --out-dir (its fine-tuning control and generators)")
p.add_argument("--data-dir", default="../shared/data")
p.add_argument("--images", type=int, default=300, help="test images for PGD")
p.add_argument("--classes", type=int, nargs="+", default=list(range(10)), help="SemAdv target classes")
p.add_argument("--pgd-steps", type=int, default=10, help="PGD steps (default 10)")
p.add_argument("--pgd-psr-db", type=float, default=-6.0, help="PGD PSR budget [dB] (default -6)")
p.add_argument("--attacks", nargs="+", choices=("pgd", "semadv"), default=["pgd"])
p.add_argument("--generator-steps", type=int, metavar="N",
               help="use the SemAdv generators trained --max-steps N (a cache that holds two step budgets' generators)")
p.add_argument("--threads", type=int, default=1)
p.add_argument("--out", type=Path, help="semadv: write the per-class, per-seed accuracies and the gaps to this JSON file")
p.add_argument("systems", nargs="*", metavar="NAME=CHECKPOINT")
args = p.parse_args()
torch.set_num_threads(args.threads)
attack_registry()  # registers jamming, FGM, PGD and the generators
sc = load_scenario(args.scenario)
cache = Path(args.cache) / "cache" / args.scenario
ds = load_dataset(sc.images.dataset, "test", args.data_dir)
x_all = torch.stack([ds[i][0] for i in range(len(ds))])
y_all = torch.tensor([int(ds[i][1]) for i in range(len(ds))])
shipped = pretrained_checkpoint(args.scenario, "mobilesc")
controls = [Path(d) / "best.safetensors" for d in glob.glob(str(cache / "defenses" / "finetune-????????????"))
            if json.loads((Path(d) / "config.json").read_text())["system"] == shipped[1]]
paths = {"shipped": shipped[0]}
if len(controls) == 1 and controls[0].is_file():
    paths["finetune"] = controls[0]
else:  # e.g. a cache made for earlier weights: name its control with NAME=CHECKPOINT
    print(f"note: {cache}/defenses holds no finished fine-tuning control of the shipped system")
paths.update({a.split("=", 1)[0]: Path(a.split("=", 1)[1]) for a in args.systems})
systems = {k: load_system(v)[0].eval() for k, v in paths.items()}
shas = {k: sha256_file(v) for k, v in paths.items()}
cfg = sc.link.for_learned_images()
link = OFDMLink(systems["shipped"].num_symbols, cfg, seed=0)


def taps_for(n):
    """Channel taps of the first ``n`` test images (seed 0, drawn as one batch of ``n``)."""
    return OFDMLink(systems["shipped"].num_symbols, cfg, seed=0).sample_taps((n,))


def accuracy(system, x, y, taps, p):
    link.reseed(0)  # the same noise for every cell
    with torch.no_grad():
        return float((system(x, link, 10.0, perturbation=p, taps=taps)["logits"].argmax(-1) == y).float().mean())


def table(title, rows):
    widths = [max(12, len(k) + 2) for k in systems]
    print(f"\n{title}\n" + "attack crafted on ↓, sent against →".ljust(40)
          + "".join(f"{k:>{w}s}" for k, w in zip(systems, widths)))
    for name, cells in rows.items():
        print(f"{name:40s}" + "".join(f"{100 * c:{w}.1f}" for c, w in zip(cells, widths)))


if "pgd" in args.attacks:
    n = args.images
    x, y, taps = x_all[:n], y_all[:n], taps_for(n)
    rows = {"none": [accuracy(s, x, y, taps, None) for s in systems.values()]}
    for name, system in systems.items():
        attack = build_attack("pgd", system, OFDMLink(system.num_symbols, cfg, seed=0), psr_db=args.pgd_psr_db, steps=args.pgd_steps)
        pert = torch.cat([attack(x[i:i + 100], y[i:i + 100], 10.0, taps[i:i + 100]) for i in range(0, n, 100)])
        rows[f"PGD on {name}"] = [accuracy(s, x, y, taps, pert) for s in systems.values()]
    table(f"PGD ({args.pgd_steps} steps), PSR {args.pgd_psr_db:g} dB, SNR 10 dB: accuracy [%] on {n} test images", rows)


def paired_gap(own, other):
    """Mean and standard error of ``own - other`` over matched (seed, class) cells (accuracy fractions).

    :param own, other: ``{seed: [accuracy per class]}``, the same classes; seeds present in both are paired.
    :return: ``(mean, standard error, number of pairs)``; the standard error is ``nan`` for one pair."""
    d = torch.tensor([a - b for s in sorted(set(own) & set(other)) for a, b in zip(own[s], other[s])], dtype=torch.float64)
    return float(d.mean()), float(d.std() / len(d) ** 0.5) if len(d) > 1 else float("nan"), len(d)


if "semadv" in args.attacks:
    found = {}  # (system sha, training seed) -> {class: generator}
    for d in sorted(glob.glob(str(cache / "generators" / "semadv-t?-????????????"))):
        config = json.loads((Path(d) / "config.json").read_text())
        argv = config.get("argv", [])
        if args.generator_steps is not None and max_steps_of(argv) != args.generator_steps:
            continue
        seed = int(argv[argv.index("--seed") + 1]) if "--seed" in argv else 0
        t, key = int(Path(d).name[8]), (config["system"], seed)
        if t in found.setdefault(key, {}):
            raise SystemExit(f"{cache}/generators: two SemAdv generators for class {t}, seed {seed}, against one system "
                             f"({found[key][t].parent.name}, {Path(d).name}); pick one step budget with --generator-steps")
        found[key][t] = Path(d) / "best.safetensors"
    rows, per_class, taps_all = {}, {}, taps_for(len(ds))
    for gname, sha in shas.items():
        for seed in sorted(s for (h, s) in found if h == sha):
            gens = found[(sha, seed)]
            if not all(t in gens for t in args.classes):
                continue
            cells = {k: [] for k in systems}
            for t in args.classes:
                idx = y_all == t
                x, y, taps = x_all[idx], y_all[idx], taps_all[idx]
                for k, s in systems.items():
                    attack = build_attack("semadv", s, OFDMLink(s.num_symbols, cfg, seed=0), checkpoint=gens[t], seed=0)
                    cells[k].append(accuracy(s, x, y, taps, attack(x, y, 10.0, taps)))
            per_class.setdefault(gname, {})[seed] = cells
            rows[f"SemAdv trained against {gname}, seed {seed}"] = [sum(c) / len(c) for c in cells.values()]
        if len(per_class.get(gname, {})) > 1:
            means = torch.tensor([[sum(c[k]) / len(c[k]) for k in systems] for c in per_class[gname].values()])
            rows[f"  {gname}: mean of {len(means)} seeds"] = means.mean(0).tolist()
    table(f"SemAdv, PSR -6 dB, SNR 10 dB: the targeted class's accuracy [%], mean over classes {args.classes}", rows)
    # Masking shows as a system's own generators being the weakest set against it: own minus other > 0.
    gaps = []
    for k in systems:
        for g in per_class:
            if g != k and k in per_class:
                own = {s: c[k] for s, c in per_class[k].items()}
                other = {s: c[k] for s, c in per_class[g].items()}
                mean, se, n = paired_gap(own, other)
                if n:
                    gaps.append({"against": k, "own_minus": g, "points": 100 * mean, "se_points": 100 * se, "pairs": n})
                    print(f"against {k}: its own generators leave {100 * mean:+.1f} ± {100 * se:.1f} points (standard error, "
                          f"{n} seed-class pairs) more of the targeted class than {g}'s")
    if args.out:
        atomic_write_json(args.out, {"scenario": args.scenario, "classes": args.classes, "psr_db": -6.0, "snr_db": 10.0,
                                     "systems": {k: os.path.relpath(v) for k, v in paths.items()}, "sha256": shas,
                                     "targeted_accuracy": {g: {str(s): c for s, c in d.items()} for g, d in per_class.items()},
                                     "own_minus_other": gaps})
