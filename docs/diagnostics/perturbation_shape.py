"""Why is one generator's perturbation detectable and another's not?  Shape measures and interventions.

The CP detector (:mod:`sionna_semcomm.attacks.detector`) compares the per-frame distribution of the CP
residuals ``r_t = y[t] - y[t + F] = n[t] - n[t + F] + dp_t`` (``dp_t = p[t] - p[t + F]``) with that of
natural noise of the same total power; only the *shape* of ``|r|^2`` across a frame's 63 ISI-free positions
can give an attack away. For each attack this prints, over ``--images`` test images at SNR 10 dB, PSR -6 dB:

- ``AUC``: the detector's ROC AUC (as ``python -m sionna_semcomm.attack detect``);
- ``pilot %``: the share of the perturbation's power on the pilot OFDM symbol (1/7 = 14.3 % if spread evenly);
- ``sym max/min``: the ratio of the strongest to the weakest OFDM symbol's perturbation power (mean over frames);
- ``CP corr``: ``mean |dp|^2 / (2 mean |p|^2)``: 1 for white noise, 0 for a perturbation that repeats its
  own cyclic prefix (it then leaves no trace in the residuals);
- ``dp/noise``: ``mean |dp|^2 / (2 N0)``, how strong the perturbation is in the residuals next to the noise;
- ``kurt``: ``mean_t |dp_t|^4 / (mean_t |dp_t|^2)^2`` within a frame, mean over frames: 2 for complex
  Gaussian values, 1 for a constant modulus, more for a few strong positions.

and the AUC after two interventions on the same perturbations (same channels, noise and power):
``flat``: every OFDM symbol rescaled to the frame's mean perturbation power (removes the uneven power
across symbols, keeps the shape within each); ``shuffled``: the frame's samples in a random order (keeps the
amplitudes, removes all structure in time, the CP relation included). A measure that the AUC follows through
the interventions is a cause; one it does not follow is not. ``acc``: the system's accuracy on these images
under each version of the perturbations (what the intervention costs the attacker).

Run from the repository root: ``python docs/diagnostics/perturbation_shape.py --data-dir ../shared/data``
(the shipped ``rayleigh_cifar`` system and generators; ``--scenario rayleigh_mnist`` for MNIST)."""
import argparse

import torch

from sionna_semcomm.attack import attack_registry
from sionna_semcomm.attacks import build_attack, detection_scores, roc_auc
from sionna_semcomm.attacks.detector import cp_residuals
from sionna_semcomm.data.loading import load_dataset
from sionna_semcomm.learned import pretrained_attack_checkpoint, pretrained_checkpoint
from sionna_semcomm.link.ofdm import OFDMLink
from sionna_semcomm.scenario import load_scenario
from sionna_semcomm.semantic import load_system

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--scenario", default="rayleigh_cifar")
p.add_argument("--data-dir", default="../shared/data")
p.add_argument("--images", type=int, default=300)
p.add_argument("--threads", type=int, default=1)
args = p.parse_args()
torch.set_num_threads(args.threads)
attack_registry()
sc = load_scenario(args.scenario)
system = load_system(*pretrained_checkpoint(args.scenario, "mobilesc"))[0].eval()
cfg = sc.link.for_learned_images()
link = OFDMLink(system.num_symbols, cfg, seed=0)
ds = load_dataset(sc.images.dataset, "test", args.data_dir)
n = min(args.images, len(ds))
x = torch.stack([ds[i][0] for i in range(n)])
y = torch.tensor([int(ds[i][1]) for i in range(n)])
taps = OFDMLink(system.num_symbols, cfg, seed=0).sample_taps((n,))
snr_db = 10.0
with torch.no_grad():
    z = system.codec.encode(x, snr_db)
sym_len, num_sym = cfg.fft_size + cfg.cyclic_prefix_length, link.num_ofdm_symbols
pilot_syms = sorted(set(int(s) for s in cfg.pilot_symbol_indices))
no = 10 ** (-snr_db / 10)

attacks = {"jamming": None, "pgm": pretrained_attack_checkpoint(args.scenario, "pgm"),
           "semadv t2": pretrained_attack_checkpoint(args.scenario, "semadv", 2),
           "semadv t2->5": pretrained_attack_checkpoint(args.scenario, "semadv", 2, 5)}


def auc(pert):
    link.reseed(0)
    s = detection_scores(link, z, snr_db, pert, taps)
    return roc_auc(s["attacked"], s["natural"])


def accuracy(pert):
    link.reseed(0)
    with torch.no_grad():
        return float((system(x, link, snr_db, perturbation=pert, taps=taps)["logits"].argmax(-1) == y).float().mean())


def flat(pert):
    """Every OFDM symbol rescaled to the frame's mean power."""
    seg = pert.reshape(n, num_sym, sym_len)
    pw = seg.abs().square().mean(-1, keepdim=True)
    return (seg * torch.sqrt(pw.mean(1, keepdim=True) / pw.clamp_min(1e-30))).reshape(n, -1)


def shuffled(pert):
    g = torch.Generator().manual_seed(0)
    order = torch.stack([torch.randperm(pert.shape[-1], generator=g) for _ in range(n)])
    return torch.gather(pert, 1, order)


print(f"{args.scenario}, {n} test images, SNR {snr_db:g} dB, PSR -6 dB")
print(f"{'attack':<14}{'AUC':>6}{'pilot %':>9}{'sym max/min':>13}{'CP corr':>9}{'dp/noise':>10}{'kurt':>7}"
      f"{'AUC flat':>10}{'AUC shuffled':>14}{'acc':>7}{'acc flat':>10}{'acc shuffled':>14}")
for name, ckpt in attacks.items():
    attack = build_attack(name.split()[0], system, OFDMLink(system.num_symbols, cfg, seed=0), psr_db=-6.0,
                          checkpoint=ckpt, seed=0)
    with torch.no_grad():
        pert = attack(x, y, snr_db, taps)
    sym_pw = pert.reshape(n, num_sym, sym_len).abs().square().mean(-1)  # [n, S]
    dp = cp_residuals(pert, link)  # the perturbation's part of the detector's residuals
    e = dp.abs().square()
    row = {"pilot": 100 * float((sym_pw[:, pilot_syms].sum(1) / sym_pw.sum(1)).mean()),
           "maxmin": float((sym_pw.amax(1) / sym_pw.amin(1)).mean()),
           "cp": float(e.mean() / (2 * pert.abs().square().mean())),
           "dpn": float(e.mean() / (2 * no)),
           "kurt": float((e.square().mean(1) / e.mean(1).square()).mean())}
    print(f"{name:<14}{auc(pert):6.2f}{row['pilot']:9.1f}{row['maxmin']:13.2f}{row['cp']:9.2f}{row['dpn']:10.2f}"
          f"{row['kurt']:7.2f}{auc(flat(pert)):10.2f}{auc(shuffled(pert)):14.2f}"
          f"{accuracy(pert):7.3f}{accuracy(flat(pert)):10.3f}{accuracy(shuffled(pert)):14.3f}")
