"""Is the shipped MNIST system's PGD resistance real, or masked gradients?  Transfer test (Athalye et al., 2018):
PGD perturbations crafted on one system are sent against another, on the same images, channels and noise
(PSR -6 dB, SNR 10 dB, 10 steps). If perturbations crafted on the fine-tuned copy hurt the shipped system more
than PGD on the shipped system itself does, the white-box attack on the shipped system is not finding what is
there: its gradients mislead PGD.

Run from the repository root: ``python docs/diagnostics/mnist_pgd_transfer.py [N_IMAGES] [NAME=CHECKPOINT ...]``
(the "finetune" system, the clean fine-tuning control, comes from the reproduction cache of
``runs/reproduce-mnist``; NAME=CHECKPOINT adds more systems, e.g. an ablation). The README's table is of the first
MNIST weights (label smoothing 0.1), since replaced: ``git show ac10366:sionna_semcomm/assets/weights/rayleigh_mnist-
mobilesc.safetensors > /tmp/first.safetensors`` and add ``first=/tmp/first.safetensors``."""
import glob
import sys

import torch

from sionna_semcomm.attack import attack_registry
from sionna_semcomm.attacks import build_attack
from sionna_semcomm.data.loading import load_dataset
from sionna_semcomm.learned import pretrained_checkpoint
from sionna_semcomm.link.ofdm import OFDMLink
from sionna_semcomm.scenario import load_scenario
from sionna_semcomm.semantic import load_system

torch.set_num_threads(1)
attack_registry()  # registers jamming, FGM, PGD and the generators
args = sys.argv[1:]
n = int(args.pop(0)) if args and "=" not in args[0] else 300
sc = load_scenario("rayleigh_mnist")
ds = load_dataset("mnist", "test", "../shared/data")
x = torch.stack([ds[i][0] for i in range(n)])
y = torch.tensor([int(ds[i][1]) for i in range(n)])
paths = {"shipped": pretrained_checkpoint("rayleigh_mnist", "mobilesc"),
         "finetune": (glob.glob("runs/reproduce-mnist/cache/rayleigh_mnist/defenses/finetune-*/best.safetensors")[0], None)}
paths.update({a.split("=", 1)[0]: (a.split("=", 1)[1], None) for a in args})
systems = {k: load_system(p, sha)[0].eval() for k, (p, sha) in paths.items()}
cfg = sc.link.for_learned_images()
link = OFDMLink(systems["shipped"].num_symbols, cfg, seed=0)
taps = link.sample_taps((n,))


def accuracy(system, p):
    link.reseed(0)  # the same noise for every row
    with torch.no_grad():
        return float((system(x, link, 10.0, perturbation=p, taps=taps)["logits"].argmax(-1) == y).float().mean())


perturbations = {"none": None}
for name, system in systems.items():
    attack_link = OFDMLink(system.num_symbols, cfg, seed=0)
    attack = build_attack("pgd", system, attack_link, psr_db=-6.0, steps=10)
    perturbations[f"PGD on {name}"[:18]] = torch.cat([attack(x[i:i + 100], y[i:i + 100], 10.0, taps[i:i + 100])
                                                for i in range(0, n, 100)])
print(f"accuracy on {n} MNIST test images, SNR 10 dB, PSR -6 dB (rows: perturbation, columns: system attacked)")
print("perturbation      " + "".join(f"{k:>12s}" for k in systems))
for pname, p in perturbations.items():
    print(f"{pname:18s}" + "".join(f"{accuracy(s, p):12.3f}" for s in systems.values()))
