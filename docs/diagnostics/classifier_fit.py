"""Does a system's classifier over-fit or under-fit?  Clean accuracy and loss on the images it trained on.

The classifier of a system checkpoint (default: the weights shipped for ``--scenario``) classifies the
*original* images (no link) of four sets, without augmentation and without label smoothing:

- ``train (exact)``: the pixel-exact training rows it trained on (the training source's split, as recorded);
- ``train (JPEG)``: ``--jpeg-images`` images drawn (seeded) from the JPEG part of the training source
  (``train_source = "both"``: the JPEG files that are not copies of the exact rows);
- ``val``: the validation rows carved from the training source (checkpoint selection saw these);
- ``test``: the pixel-exact test set.

A large train-test gap means over-fitting (more data, regularisation); train accuracy close to test accuracy
means the classifier under-fits (more capacity or steps). Run from the repository root, e.g. ``python
docs/diagnostics/classifier_fit.py --scenario rayleigh_cifar --data-dir ../shared/data``."""
import argparse

import torch
import torch.nn.functional as F

from sionna_semcomm.data.loading import load_dataset
from sionna_semcomm.data.sources import load_training_data
from sionna_semcomm.argtypes import file_or_name
from sionna_semcomm.learned import SHIPPED_VARIANTS, system_checkpoint
from sionna_semcomm.semantic import load_system

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--scenario", default="rayleigh_cifar")
p.add_argument("--checkpoint", type=file_or_name(SHIPPED_VARIANTS),
               help="a system checkpoint or a shipped variant's name (default: the shipped weights of --scenario)")
p.add_argument("--data-dir", default="../shared/data")
p.add_argument("--jpeg-images", type=int, default=5000)
p.add_argument("--threads", type=int, default=1)
args = p.parse_args()
torch.set_num_threads(args.threads)

path, sha = system_checkpoint(args.scenario, "mobilesc", args.checkpoint)
system, meta = load_system(path, sha)
system.eval()
recorded = meta.get("training_data") or {}
data = load_training_data(meta["dataset"], recorded.get("train_source", "batches"), args.data_dir,
                          recorded.get("val_fraction", 0.1), recorded.get("split_seed", 0))
n_exact = data.info["exact_train_images"]  # the pixel-exact rows lead data.train
generator = torch.Generator().manual_seed(0)
jpeg_rows = n_exact + torch.randperm(len(data.train) - n_exact, generator=generator)[:args.jpeg_images]
sets = {"train (exact)": (data.train, torch.arange(n_exact))}
if len(jpeg_rows):
    sets["train (JPEG)"] = (data.train, jpeg_rows)
sets["val"] = (data.val, torch.arange(len(data.val)))
test = load_dataset(meta["dataset"], "test", args.data_dir)
sets["test"] = (test, torch.arange(len(test)))

print(f"{path}: classifier on the original images ({data.info['train_source']} training source)")
print(f"{'set':<16}{'images':>8}{'accuracy':>10}{'CE loss':>10}")
with torch.no_grad():
    for name, (ds, rows) in sets.items():
        correct, loss = 0, 0.0
        for chunk in rows.split(256):
            x = torch.stack([ds[int(i)][0] for i in chunk])
            y = torch.tensor([int(ds[int(i)][1]) for i in chunk])
            logits = system.classifier(x)
            correct += int((logits.argmax(-1) == y).sum())
            loss += float(F.cross_entropy(logits, y, reduction="sum"))
        print(f"{name:<16}{len(rows):>8}{correct / len(rows):>10.4f}{loss / len(rows):>10.4f}")
