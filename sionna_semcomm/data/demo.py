"""Small demo data sets shipped with the package (``sionna_semcomm/assets/*_demo.npz``).

``cifar10``: 40 CIFAR-10 test images (the first 4 of each class in ``test_batch``), uint8 ``[40, 3, 32, 32]``.
``mnist``: 40 MNIST test images (the first 4 of each class in ``t10k``), uint8 ``[40, 1, 28, 28]``.
Both are ordered by class (4 of class 0, then 4 of class 1, ...). Regenerate them with
``python -m sionna_semcomm.data.make_demo --data-dir DIR``.

npz layout (read with ``allow_pickle=False``): ``images`` uint8 ``[N, C, H, W]``, ``labels`` int64 ``[N]``,
``classes`` unicode ``[K]``, ``source_index`` int64 ``[N]`` (row in the source test file), ``source`` unicode
scalar (where the images came from).
"""

from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..atomic import atomic_write
from .base import ImageDataset
from .errors import DatasetError

__all__ = ["DEMO_NAMES", "demo_dataset", "demo_path", "save_npz_dataset", "load_npz_dataset"]

DEMO_NAMES = ("cifar10", "mnist")


def save_npz_dataset(
    path: str | Path, dataset: ImageDataset, source_index=None, source: str = ""
) -> Path:
    """Write ``dataset`` (uint8 images, labels, classes) to a compressed ``.npz`` atomically."""
    n = len(dataset)
    src_idx = np.arange(n) if source_index is None else np.asarray(source_index, dtype=np.int64)
    if src_idx.shape != (n,):
        raise ValueError(f"source_index must have shape [{n}], got {list(src_idx.shape)}")
    arrays = {
        "images": dataset.images.numpy(),
        "labels": dataset.labels.numpy().astype(np.int64),
        "classes": np.asarray(dataset.classes, dtype=np.str_),
        "source_index": src_idx.astype(np.int64),
        "source": np.asarray(source, dtype=np.str_),
    }

    def write(tmp: str) -> None:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        with open(tmp, "wb") as f:
            f.write(buf.getvalue())

    return atomic_write(path, write)


def load_npz_dataset(path: str | Path, name: str | None = None) -> ImageDataset:
    """Read an npz written by :func:`save_npz_dataset` (``allow_pickle=False``) into an :class:`ImageDataset`."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"npz data set {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            images, labels, classes = z["images"], z["labels"], z["classes"]
    except (KeyError, ValueError, OSError) as exc:
        raise DatasetError(f"{path} is not a valid demo npz: {exc}") from exc
    return ImageDataset(
        torch.from_numpy(np.ascontiguousarray(images)),
        torch.from_numpy(labels.astype(np.int64)),
        [str(c) for c in classes],
        name=name or path.stem,
    )


def demo_path(name: str):
    """Traversable path of the shipped demo npz for ``name`` (``"cifar10"`` or ``"mnist"``)."""
    if name not in DEMO_NAMES:
        raise DatasetError(f"no demo data set {name!r}; expected one of {', '.join(DEMO_NAMES)}")
    return resources.files("sionna_semcomm").joinpath("assets", f"{name}_demo.npz")


def demo_dataset(name: str) -> ImageDataset:
    """The shipped demo :class:`ImageDataset` ``name``: 40 test images, 4 per class, 10 classes.

    :output: cifar10: uint8 ``[40, 3, 32, 32]``; mnist: uint8 ``[40, 1, 28, 28]``; items as usual
        ``(float32 [C, H, W] in [0, 1], int label)``.
    """
    with resources.as_file(demo_path(name)) as p:
        return load_npz_dataset(p, name=f"{name}/demo")
