"""What does a decoder told the channel state (``train --decoder-csi``) get from it?  An intervention test.

A CSI-aware MobileSC decoder reads, beside the equalised symbols, every symbol's post-equaliser SINR
(``-log10(no_eff)``: which subcarriers sit in a fade, and how deep). A gain over the control (the same
fine-tuning without it) could come from knowing *which* symbols are unreliable, or only from knowing how good
the link is overall (what SNR gates give, which measured no gain). On ``--images`` test images, the same
channels and noise for every row, this prints the mean PSNR [dB] at each SNR of:

- ``control``: the control checkpoint (``--control``), no channel state;
- ``csi``: the CSI checkpoint given the true ``no_eff``;
- ``csi, image mean``: each image's ``no_eff`` replaced by its mean over the image's K symbols (keeps how good
  this image's channel is; removes which symbols are faded);
- ``csi, shuffled``: each image's ``no_eff`` values in a random order over its symbols (keeps their spread;
  puts the fades at the wrong symbols).

and, for each CSI row, ``± SE``: the standard error of its mean per-image difference from ``control`` (paired: the
same images, channels and noise). If the gain is the per-symbol state, ``image mean`` falls back to about the
control and ``shuffled`` below it.

Run from the repository root:
``python docs/diagnostics/csi_ablation.py --csi runs/csi/csi/best.safetensors --control runs/csi/ctl/best.safetensors
--data-dir ../shared/data`` (``--scenario rayleigh_mnist`` for MNIST).
"""
import argparse
import json

import torch

from sionna_semcomm.data.loading import load_dataset
from sionna_semcomm.link.ofdm import OFDMLink
from sionna_semcomm.metrics import psnr
from sionna_semcomm.scenario import load_scenario
from sionna_semcomm.semantic import load_system

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--csi", required=True, help="checkpoint trained with --decoder-csi")
p.add_argument("--control", required=True, help="the same fine-tuning without it")
p.add_argument("--scenario", default="rayleigh_cifar")
p.add_argument("--data-dir", default="../shared/data")
p.add_argument("--images", type=int, default=1017)
p.add_argument("--snr-db", type=float, nargs="+", default=[0.0, 5.0, 10.0, 20.0])
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--threads", type=int, default=1)
args = p.parse_args()
torch.set_num_threads(args.threads)
sc = load_scenario(args.scenario)
csi, _ = load_system(args.csi)
control, _ = load_system(args.control)
if not csi.codec.uses_csi or control.codec.uses_csi:
    raise SystemExit("error: --csi must be a checkpoint with decoder_csi, --control one without")
cfg = sc.link.for_learned_images()
ds = load_dataset(sc.images.dataset, "test", args.data_dir)
n = min(args.images, len(ds))
x_all = torch.stack([ds[i][0] for i in range(n)])
taps_all = OFDMLink(csi.num_symbols, cfg, seed=0).sample_taps((n,))
shuffle_gen = torch.Generator().manual_seed(0)


def variants(no_eff):
    mean = no_eff.mean(dim=1, keepdim=True).expand_as(no_eff)
    perm = torch.argsort(torch.rand(no_eff.shape, generator=shuffle_gen), dim=1)
    return {"csi": no_eff, "csi, image mean": mean, "csi, shuffled": torch.gather(no_eff, 1, perm)}


rows = {}
with torch.no_grad():
    for snr in args.snr_db:
        per_image: dict[str, list] = {}
        link = OFDMLink(csi.num_symbols, cfg, seed=1)
        for start in range(0, n, args.batch_size):
            x, taps = x_all[start:start + args.batch_size], taps_all[start:start + args.batch_size]
            seed = 1000 * int(snr * 10) + start
            link.reseed(seed)
            ref = control.reconstruct(x, link, snr, taps=taps)
            per_image.setdefault("control", []).append(psnr(ref["x_hat"], x))
            link.reseed(seed)  # the same channel and noise: the codecs' latents differ, the link's draws do not
            z = csi.codec.encode(x, snr)
            out = link(z, snr, taps=taps)
            for name, ne in variants(out["no_eff"]).items():
                x_hat = csi.codec.decode(out["x_hat"], snr, ne)
                per_image.setdefault(name, []).append(psnr(x_hat, x))
        vals = {k: torch.cat(v).double() for k, v in per_image.items()}
        rows[snr] = {k: round(float(v.mean()), 3) for k, v in vals.items()}
        rows[snr].update({f"{k} SE": round(float((v - vals["control"]).std() / n ** 0.5), 3)
                          for k, v in vals.items() if k != "control"})
        print(f"SNR {snr:g} dB: control {rows[snr]['control']:.3f}, " + ", ".join(
            f"{k} {rows[snr][k]:.3f} ({rows[snr][k] - rows[snr]['control']:+.3f} ± {rows[snr][k + ' SE']:.3f})"
            for k in vals if k != "control"), flush=True)
print(json.dumps({"images": n, "psnr_db": {f"{k:g}": v for k, v in rows.items()}}, indent=1))
