"""Regenerate the shipped demo images: ``python -m sionna_semcomm.data.make_demo --data-dir DIR``.

Takes the first ``--per-class`` (default 4) test images of each class from the CIFAR-10 and MNIST test files
under ``DIR`` and writes ``<out-dir>/{cifar10,mnist}_demo.npz`` (default: the package's ``assets`` folder).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from .demo import DEMO_NAMES, save_npz_dataset
from .loading import load_dataset

__all__ = ["select_per_class", "make_demo", "setup_args", "main"]


def select_per_class(labels: torch.Tensor, per_class: int, num_classes: int) -> torch.Tensor:
    """Indices of the first ``per_class`` items of each class, grouped by class (int64 ``[K * per_class]``).

    :raises ValueError: a class has fewer than ``per_class`` items.
    """
    lab = torch.as_tensor(labels).cpu()
    out = []
    for c in range(num_classes):
        idx = (lab == c).nonzero().flatten()[:per_class]
        if idx.numel() < per_class:
            raise ValueError(f"class {c} has only {idx.numel()} items, {per_class} requested")
        out.append(idx)
    return torch.cat(out).to(torch.int64)


def make_demo(name: str, data_dir: str | Path, out_dir: str | Path, per_class: int = 4) -> Path:
    """Write ``out_dir/<name>_demo.npz`` from the test split of ``name`` under ``data_dir``."""
    ds = load_dataset(name, "test", data_dir=data_dir)
    idx = select_per_class(ds.labels, per_class, ds.num_classes)
    source = {"cifar10": "CIFAR-10 cifar-10-batches-py/test_batch", "mnist": "MNIST t10k-images-idx3-ubyte"}[name]
    return save_npz_dataset(
        Path(out_dir) / f"{name}_demo.npz", ds.subset(idx), source_index=np.asarray(idx), source=source
    )


def setup_args() -> argparse.ArgumentParser:
    from ..argtypes import ArgumentParser, input_dir, output_dir, positive_int

    p = ArgumentParser(prog="python -m sionna_semcomm.data.make_demo", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=None, type=input_dir,
                   help="data directory (default: $SIONNA_SEMCOMM_DATA or ~/.cache/...)")
    p.add_argument("--out-dir", default=str(Path(__file__).resolve().parents[1] / "assets"), type=output_dir)
    p.add_argument("--per-class", type=positive_int, default=4)
    p.add_argument("--datasets", nargs="+", default=list(DEMO_NAMES), choices=list(DEMO_NAMES))
    return p


def main(argv: list[str] | None = None) -> int:
    args = setup_args().parse_args(argv)
    for name in args.datasets:
        path = make_demo(name, args.data_dir, args.out_dir, args.per_class)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
