"""How much do the reproduction's generator attacks move from one training seed to the next?

Trains the same generator (``python -m sionna_semcomm.attack train``, the reproduction's command: ``--epochs``
at PSR ``--psr-db`` against the shipped system, or ``--checkpoint``) once per ``--seeds`` value and evaluates each on the whole test
subset with the reproduction's link command (SNR ``--snr-db``, link seed 0: the same images, channels and noise
for every generator). Only the generator's training seed changes, so the spread of the figures is what a row of
Fig. 6 can move when the generators are retrained: differences between attacks or systems smaller than it say
nothing. Finished generators and evaluations in ``--cache`` are reused (one folder per attack and seed).

Run from the repository root, e.g. ``python docs/diagnostics/generator_seed_spread.py --scenario rayleigh_mnist
--attacks pgm semadv --seeds 0 1 2 3 4 --epochs 3 --cache runs/spread`` (the README's MNIST figures; ~80 s per
generator with 1 thread beside one other job; CIFAR-10 as the reproduction trains them: ``--scenario
rayleigh_cifar --epochs 5 --max-steps 200``). Writes ``CACHE/spread.json`` and prints a table.
"""
import argparse
import statistics
import subprocess
import sys
from pathlib import Path

from sionna_semcomm.atomic import atomic_write_json
from sionna_semcomm.results import read_runs
from sionna_semcomm.runtime import AMP

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--scenario", default="rayleigh_mnist")
p.add_argument("--attacks", nargs="+", choices=("pgm", "semadv"), default=["pgm", "semadv"])
p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
p.add_argument("--epochs", type=int, default=3)
p.add_argument("--max-steps", type=int, help="optimizer-step cap of every generator (the CIFAR-10 reproduction: 200)")
p.add_argument("--psr-db", type=float, default=-6.0)
p.add_argument("--snr-db", type=float, default=10.0)
p.add_argument("--target-class", type=int, default=2, help="SemAdv's targeted class")
p.add_argument("--checkpoint", help="the attacked system: a weights file or a shipped variant (default: the shipped system)")
p.add_argument("--data-dir", default="../shared/data")
p.add_argument("--cache", type=Path, required=True)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--amp", choices=AMP, default="none", help="the generators' training precision (attack train --amp)")
args = p.parse_args()


def run(cmd: list[str]) -> None:
    print("$", " ".join(cmd), flush=True)
    subprocess.run([sys.executable, "-m", *cmd], check=True, stdout=subprocess.DEVNULL)


common = ["--scenario", args.scenario, "--psr-db", f"{args.psr_db:g}", "--data-dir", args.data_dir,
          "--threads", str(args.threads), "--no-progress", *(["--checkpoint", args.checkpoint] if args.checkpoint else [])]
figures = {}
for attack in args.attacks:
    target = ["--target-class", str(args.target_class)] if attack == "semadv" else []
    for seed in args.seeds:
        out = args.cache / f"{attack}-s{seed}"
        if not (out / "best.safetensors").is_file():
            cap = ["--max-steps", str(args.max_steps)] if args.max_steps else []
            amp = ["--amp", args.amp] if args.amp != "none" else []
            run(["sionna_semcomm.attack", "train", "--attack", attack, *target, "--epochs", str(args.epochs), *cap, *amp,
                 "--seed", str(seed), "--out-dir", str(out), *common])
        result = args.cache / f"eval-{attack}-s{seed}.json"
        if not result.is_file():
            run(["sionna_semcomm.link", "--systems", "mobilesc", "--snr-db", f"{args.snr_db:g}", "--attack", attack,
                 *target, "--attack-checkpoint", str(out / "best.safetensors"), "--seed", "0", "--out", str(result),
                 *common])
        res = [r for r in read_runs(result) if r.get("complete")][-1]["results"]
        row = {"accuracy": res["accuracy"][0], "psnr": res["psnr"][0]}
        if attack == "semadv":
            row["target_accuracy"] = res["per_class"]["accuracy"][0][args.target_class]
        figures.setdefault(attack, {})[seed] = row

summary = {}
print(f"\n{args.scenario}: {args.epochs}-epoch generators{f' (at most {args.max_steps} steps)' if args.max_steps else ''}"
      f"{' trained with bf16 autocast' if args.amp == 'bf16' else ''}, PSR {args.psr_db:g} dB, SNR {args.snr_db:g} dB, "
      f"training seeds {args.seeds}\n")
print("| attack | figure | per seed | mean | sd | min–max |\n|---|---|---|---|---|---|")
for attack, per_seed in figures.items():
    for key in next(iter(per_seed.values())):
        vals = [per_seed[s][key] for s in args.seeds]
        summary.setdefault(attack, {})[key] = {"per_seed": vals, "mean": statistics.mean(vals),
                                               "sd": statistics.stdev(vals) if len(vals) > 1 else 0.0}
        scale, unit = (1, " dB") if key == "psnr" else (100, " %")
        fmt = (lambda v: f"{v * scale:.2f}") if key == "psnr" else (lambda v: f"{v * scale:.1f}")
        print(f"| {attack} | {key} | {' / '.join(fmt(v) for v in vals)} | {fmt(statistics.mean(vals))}{unit} | "
              f"{fmt(summary[attack][key]['sd'])} | {fmt(min(vals))}–{fmt(max(vals))} |")
atomic_write_json(args.cache / "spread.json", {"config": {k: str(v) if isinstance(v, Path) else v
                                                          for k, v in vars(args).items()}, "summary": summary})
