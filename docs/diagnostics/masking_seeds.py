"""More SemAdv generator seeds per system, for the masking test (README "Robustness matrix"; masking_seeds_cifar10.md).

Trains, with the reproduction's own cached steps (:class:`sionna_semcomm.reproduce.pipeline.Pipeline`: the same
commands, cache folders and resume as ``python -m sionna_semcomm.reproduce``), the fine-tuning control of the
shipped system (``--defense-steps``) and SemAdv generators (``--generator-steps``, PSR -6 dB) for ``--classes`` and
every training seed of ``--seeds``, against the shipped system and the control (``--against shipped``: the shipped
system alone; ``--against semmixed``: the shipped SemMixed). ``docs/diagnostics/masking_transfer.py --cache
OUT_DIR`` then pairs them by seed and class.
Interrupted runs resume from the cache. Run from the repository root::

    python docs/diagnostics/masking_seeds.py --jobs 2 --threads 1            # 20 generators + the control
    python docs/diagnostics/masking_seeds.py --against semmixed --classes 2 --jobs 2 --threads 1
    python docs/diagnostics/masking_seeds.py --against shipped --classes 2 --generator-steps 2000   # longer generators
    python docs/diagnostics/masking_transfer.py --scenario rayleigh_cifar --cache runs/masking-seeds \\
        --attacks semadv --classes 0 1 2 3 4 --threads 2 --out docs/diagnostics/masking_seeds_cifar10.json
"""
import argparse
from dataclasses import replace

from sionna_semcomm.learned import pretrained_checkpoint
from sionna_semcomm.reproduce.pipeline import FULL, Pipeline, defense_config
from sionna_semcomm.scenario import load_scenario

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--scenario", default="rayleigh_cifar")
p.add_argument("--out-dir", default="runs/masking-seeds")
p.add_argument("--data-dir", default="../shared/data")
p.add_argument("--against", choices=("shipped-and-control", "shipped", "semmixed"), default="shipped-and-control")
p.add_argument("--classes", type=int, nargs="+", default=[0, 1, 2, 3, 4])
p.add_argument("--seeds", type=int, nargs="+", default=[0, 1], help="generator training seeds")
p.add_argument("--generator-steps", type=int, default=1000)
p.add_argument("--defense-steps", type=int, default=400)
p.add_argument("--device", default="cpu")
p.add_argument("--jobs", type=int, default=1)
p.add_argument("--threads", type=int, default=1)
args = p.parse_args()

preset = replace(FULL, generator_steps=args.generator_steps, defense_steps=args.defense_steps)
epochs = defense_config(load_scenario(args.scenario), preset, "finetune").generator_epochs


def pipeline(seed):
    return Pipeline(args.out_dir, preset, data_dir=args.data_dir, seed=seed, device=args.device, show_progress=False,
                    jobs=args.jobs, threads=args.threads)


def weights(variant=None):
    path, sha = pretrained_checkpoint(args.scenario, "mobilesc", variant)
    return {"path": str(path), "sha256": sha}


if args.against == "semmixed":
    systems = [weights("semmixed")]
elif args.against == "shipped":
    systems = [weights()]
else:
    shipped = weights()
    pl = pipeline(0)
    systems = [shipped, pl.run([pl.defense_task(args.scenario, shipped, "finetune", [], psr_db=preset.psr_db)])[0]]
for seed in args.seeds:
    pl = pipeline(seed)
    pl.run([pl.generator_task(args.scenario, s, "semadv", target_class=t, epochs=epochs, psr_db=preset.psr_db)
            for s in systems for t in args.classes])
