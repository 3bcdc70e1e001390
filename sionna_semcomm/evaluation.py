"""Evaluating image systems over a scenario's link: one harness for learned and conventional systems.

Every image system sees the same test images and, for the same seed, the same channel realization per
image: before each SNR point the harness restarts the system's link streams from the run seed and draws
the taps of all N images at once from the channel stream (``link.sample_taps((N,))``), so the taps of
image i do not depend on the batch size or on what the system draws otherwise.

An image system implements::

    link: OFDMLink                      # any of its links built from the scenario's LinkConfig
    prepare(images [N,C,H,W], labels [N]) -> None   # SNR-independent work, once (e.g. JPEG2000 encoding)
    transmit(index [B], images [B,C,H,W], labels [B], snr_db, taps [B,L]) -> dict with
        "x_hat" [B,C,H,W] in [0,1] (optional "logits" [B,classes]; optional counters
        "bit_errors", "bits", "block_errors", "blocks", "decode_failures")
    accounting() -> dict                # ofdm_symbols_per_image, channel_uses_per_image, ...
    config() -> dict
"""

from __future__ import annotations

import sys

import torch

from .data import DatasetNotFoundError, demo_dataset, load_dataset
from .metrics import per_class_mean, psnr, ssim

__all__ = ["load_eval_images", "ImageRunner"]


def load_eval_images(dataset: str, num_images: int, data_dir=None, allow_demo: bool = True):
    """The first ``num_images`` test images of ``dataset`` (an :class:`~sionna_semcomm.data.ImageDataset`).

    Without a data directory and without the files in the default places, the package's shipped demo
    images are used (40 per data set) when ``allow_demo``, with a note on stderr.
    """
    try:
        ds = load_dataset(dataset, "test", data_dir)
    except DatasetNotFoundError:
        if data_dir is not None or not allow_demo:
            raise
        ds = demo_dataset(dataset)
        print(f"note: {dataset} test files not found; using the {len(ds)} demo images shipped with the package "
              "(pass --data-dir or set SIONNA_SEMCOMM_DATA for the real test set)", file=sys.stderr)
    n = min(num_images, len(ds))
    return ds.subset(torch.arange(n)) if n < len(ds) else ds


class ImageRunner:
    """Runs an image system over SNR points (see the module doc); used by the link CLI's registry."""

    unit = "image"

    def __init__(self, system, dataset, batch_size: int, seed: int):
        self.system = system
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self._prepared = False

    def config(self) -> dict:
        return {**self.system.config(), "dataset": getattr(self.dataset, "name", ""), "num_images": len(self.dataset),
                "batch_size": self.batch_size}

    def accounting(self) -> dict:
        self._prepare()
        return self.system.accounting()

    def work_per_point(self) -> int:
        return len(self.dataset)

    def _prepare(self):
        if not self._prepared:
            images, labels = self.dataset.batch(torch.arange(len(self.dataset)))
            self.system.prepare(images, labels)
            self._prepared = True

    @torch.no_grad()
    def evaluate(self, snr_db: float, progress=None) -> dict:
        self._prepare()
        n, link = len(self.dataset), self.system.link
        link.reseed(self.seed)
        taps = link.sample_taps((n,))
        num_classes = len(self.dataset.classes)
        per_image = {"psnr": [], "ssim": [], "correct": []}
        counters: dict[str, int] = {}
        labels_all = []
        for start in range(0, n, self.batch_size):
            index = torch.arange(start, min(start + self.batch_size, n))
            images, labels = self.dataset.batch(index)
            images, labels = images.to(link.device), labels.to(link.device)
            out = self.system.transmit(index, images, labels, snr_db, taps[index])
            x_hat = out["x_hat"].clamp(0, 1)
            per_image["psnr"].append(psnr(x_hat, images).cpu())
            per_image["ssim"].append(ssim(x_hat, images).cpu())
            if "logits" in out:
                per_image["correct"].append((out["logits"].argmax(-1) == labels).float().cpu())
            for key in ("bit_errors", "bits", "block_errors", "blocks", "decode_failures"):
                if key in out:
                    counters[key] = counters.get(key, 0) + int(out[key])
            labels_all.append(labels.cpu())
            if progress is not None:
                progress(len(index))
        labels_all = torch.cat(labels_all)
        result: dict = {}
        per_class: dict = {}
        for metric, key in (("psnr", "psnr"), ("ssim", "ssim"), ("accuracy", "correct")):
            if per_image[key]:
                values = torch.cat(per_image[key])
                result[metric] = float(values.mean())
                per_class[metric] = per_class_mean(values, labels_all, num_classes)
        if counters.get("bits"):
            result["ber"] = counters["bit_errors"] / counters["bits"]
        if counters.get("blocks"):
            result["bler"] = counters["block_errors"] / counters["blocks"]
        if "decode_failures" in counters:
            result["decode_failure_rate"] = counters["decode_failures"] / n
        result["per_class"] = per_class
        return result
