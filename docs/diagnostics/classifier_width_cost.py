"""What a wider image classifier costs: parameters and seconds per SGD step of PreActResNet-18 by width.

One training step (forward, cross-entropy, backward, Nesterov SGD) of the classifier alone on a random
batch of CIFAR-10-shaped images; the median of ``--repeats`` timed steps after ``--warmup`` untimed ones.
Width 16 is the shipped classifier's; 64 is the standard PreActResNet-18 (11.2 M parameters). Run from the
repository root, e.g. ``python docs/diagnostics/classifier_width_cost.py --threads 1`` (on an idle machine:
the README reports the command, the thread count and the load with the figures)."""
import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from sionna_semcomm.models.classifier import preact_resnet18

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument("--widths", type=int, nargs="+", default=[16, 32, 64])
p.add_argument("--batch-size", type=int, default=128)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--repeats", type=int, default=5)
p.add_argument("--threads", type=int, default=1)
args = p.parse_args()
torch.set_num_threads(args.threads)
torch.manual_seed(0)
x, y = torch.rand(args.batch_size, 3, 32, 32), torch.randint(0, 10, (args.batch_size,))
print(f"batch {args.batch_size}, {args.threads} thread(s), median of {args.repeats} steps")
for width in args.widths:
    model = preact_resnet18(3, 10, width)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    times = []
    for i in range(args.warmup + args.repeats):
        start = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
    params = sum(t.numel() for t in model.parameters())
    print(f"width {width:>3}: {params / 1e6:6.2f} M parameters, {statistics.median(times):6.2f} s per step")
