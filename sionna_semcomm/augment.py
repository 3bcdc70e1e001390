"""Training-time data augmentation and learning-rate schedules, done in whole batches on the device.

:func:`augment_batch` applies the standard CIFAR augmentation (random crop after padding, horizontal flip)
to a batch at once with two ``gather`` calls: no per-image Python loop, no worker processes. The random
offsets and flips come from a CPU ``torch.Generator``, so a seed reproduces them on any device.

:func:`lr_at` gives the learning rate of an optimizer step for the schedules the trainers offer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["AUGMENTATIONS", "LR_SCHEDULES", "augment_batch", "lr_at"]

AUGMENTATIONS = ("none", "flip", "crop", "crop_flip")
LR_SCHEDULES = ("constant", "cosine", "wsd", "step")


def augment_batch(x: torch.Tensor, mode: str, generator: torch.Generator, padding: int = 4) -> torch.Tensor:
    """Random crop (``crop``, ``crop_flip``) and horizontal flip (``flip``, ``crop_flip``) of every image of a batch
    (``crop`` alone for images whose mirror image is another class, such as digits).

    The crop pads each side by ``padding`` pixels with a reflection of the image (no artificial black
    borders for the codec to reproduce) and cuts a window of the original size at an offset drawn
    uniformly per image. Labels are unchanged, shapes and dtype are kept.

    :param x: [B, C, H, W], any dtype (uint8 or float), any device.
    :param mode: one of :data:`AUGMENTATIONS`.
    :param generator: CPU generator for the offsets and flips (``B`` draws each, whatever the mode).
    :output: [B, C, H, W], same dtype and device.
    """
    if mode not in AUGMENTATIONS:
        raise ValueError(f"unknown augmentation {mode!r}; expected one of {', '.join(AUGMENTATIONS)}")
    if mode == "none" or x.shape[0] == 0:
        return x
    b, c, h, w = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, b), generator=generator)
    flips = torch.rand(b, generator=generator) < 0.5
    out = x
    if mode in ("crop", "crop_flip") and padding > 0:
        if padding >= min(h, w):
            raise ValueError(f"crop padding {padding} must be smaller than the image side {min(h, w)}")
        dtype = x.dtype
        xp = F.pad(x.float() if not x.is_floating_point() else x, (padding,) * 4, mode="reflect").to(dtype)
        oy, ox = offsets.to(x.device)
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None].expand(b, c, h, w + 2 * padding)
        out = xp.gather(2, rows)
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :].expand(b, c, h, w)
        out = out.gather(3, cols)
    if mode == "crop":
        return out
    return torch.where(flips.to(x.device)[:, None, None, None], out.flip(3), out)


def lr_at(step: int, total_steps: int, base_lr: float, schedule: str = "constant", warmup_steps: int = 0,
          min_lr_ratio: float = 0.0, decay_fraction: float = 0.2) -> float:
    """Learning rate of optimizer step ``step`` (0-based) of a run of ``total_steps``.

    * warm-up: linear from ``base_lr / warmup_steps`` to ``base_lr`` over the first ``warmup_steps``;
    * ``constant``: ``base_lr`` afterwards;
    * ``cosine``: half a cosine from ``base_lr`` down to ``min_lr_ratio * base_lr`` at the last step;
    * ``wsd`` (warm-up, stable, decay): ``base_lr`` until the last ``decay_fraction`` of the steps, then a
      cosine down to ``min_lr_ratio * base_lr``. A run can be extended (resumed with more steps) at no cost
      while it is still in the stable phase, which suits runs whose length is decided as they go;
    * ``step``: ``base_lr`` divided by 10 at 50 % and again at 75 % of the steps.
    """
    if schedule not in LR_SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; expected one of {', '.join(LR_SCHEDULES)}")
    if step < warmup_steps:
        return base_lr * (step + 1) / warmup_steps
    floor = base_lr * min_lr_ratio
    if schedule == "constant":
        return base_lr
    if schedule == "step":
        frac = step / max(total_steps, 1)
        return base_lr * (0.01 if frac >= 0.75 else 0.1 if frac >= 0.5 else 1.0)
    if schedule == "cosine":
        start, length = warmup_steps, max(total_steps - warmup_steps, 1)
    else:  # wsd
        length = max(int(round(total_steps * decay_fraction)), 1)
        start = max(total_steps - length, warmup_steps)
        length = max(total_steps - start, 1)
        if step < start:
            return base_lr
    t = min(max(step - start, 0) / length, 1.0)
    return floor + (base_lr - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
