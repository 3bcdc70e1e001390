"""In-memory image data set and the train/validation split.

Convention (see ``DESIGN.md``): images are float32 tensors in [0, 1] with shape ``[C, H, W]`` per item and
``[B, C, H, W]`` per batch; labels are int64. In memory, images are kept as uint8 ``[N, C, H, W]`` so that a
whole data set (e.g. CIFAR-10, 150 MB) fits and converts to float only batch by batch.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Dataset

from .errors import DatasetError

__all__ = ["ImageDataset", "train_val_split", "to_float_images", "as_index_tensor"]


def to_float_images(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (any shape) -> float32 in [0, 1] (divided by 255)."""
    if images.dtype != torch.uint8:
        raise DatasetError(f"expected uint8 images, got {images.dtype}")
    return images.to(torch.float32).div_(255.0)


def as_index_tensor(indices, n: int) -> torch.Tensor:
    """Indices (int, sequence, numpy array or tensor) -> 1-D int64 CPU tensor, checked against ``n`` items.

    Negative indices count from the end, as in Python.
    """
    idx = torch.as_tensor(indices)
    if idx.dtype == torch.bool:
        raise DatasetError("boolean masks are not accepted as indices; use mask.nonzero().flatten()")
    if idx.is_floating_point() or idx.is_complex():
        raise DatasetError(f"indices must be integers, got {idx.dtype}")
    idx = idx.to(device="cpu", dtype=torch.int64).reshape(-1)
    if idx.numel() and (idx.max() >= n or idx.min() < -n):
        raise IndexError(f"index out of range for a data set of {n} items")
    return torch.where(idx < 0, idx + n, idx)


class ImageDataset(Dataset):
    """A labelled image data set held in memory as uint8.

    :param images: uint8 tensor ``[N, C, H, W]`` (values 0..255).
    :param labels: integer tensor ``[N]`` (stored as int64), each in ``0 .. len(classes) - 1``.
    :param classes: class names, index = label.
    :param name: short description (e.g. ``"cifar10/train"``), used in messages only.

    ``dataset[i]`` returns ``(image, label)`` with ``image`` float32 ``[C, H, W]`` in [0, 1] and ``label`` a
    Python int, so it works with a ``DataLoader``; :meth:`batch` and :meth:`batches` give float batches
    directly, which is what training loops should use (no worker processes needed).

    Example::

        >>> ds = ImageDataset(torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.tensor([0, 1, 0, 1]), ["a", "b"])
        >>> x, y = ds.batch(torch.tensor([0, 3]))
        >>> x.shape, x.dtype, y.tolist()
        (torch.Size([2, 3, 8, 8]), torch.float32, [0, 1])
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, classes: Sequence[str], name: str = ""):
        images = torch.as_tensor(images)
        labels = torch.as_tensor(labels)
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise DatasetError(
                f"{name or 'ImageDataset'}: images must be uint8 [N, C, H, W], got {images.dtype} "
                f"{list(images.shape)}"
            )
        if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
            raise DatasetError(
                f"{name or 'ImageDataset'}: labels must be [N] with N = {images.shape[0]}, got {list(labels.shape)}"
            )
        if labels.is_floating_point() or labels.dtype == torch.bool:
            raise DatasetError(f"{name or 'ImageDataset'}: labels must be integers, got {labels.dtype}")
        classes = [str(c) for c in classes]
        if not classes:
            raise DatasetError(f"{name or 'ImageDataset'}: empty class list")
        labels = labels.to(torch.int64)
        if labels.numel() and (labels.min() < 0 or labels.max() >= len(classes)):
            raise DatasetError(
                f"{name or 'ImageDataset'}: labels must lie in 0..{len(classes) - 1}, "
                f"got {int(labels.min())}..{int(labels.max())}"
            )
        self.images = images.contiguous()
        self.labels = labels.contiguous()
        self.classes = classes
        self.name = name

    # --- sizes -------------------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def num_classes(self) -> int:
        """Number of classes (``len(self.classes)``)."""
        return len(self.classes)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(int(s) for s in self.images.shape[1:])  # type: ignore[return-value]

    def __repr__(self) -> str:
        return (
            f"ImageDataset(name={self.name!r}, n={len(self)}, image_shape={self.image_shape}, "
            f"classes={self.num_classes})"
        )

    # --- access ------------------------------------------------------------------------------------------
    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """``(image float32 [C, H, W] in [0, 1], label int)``."""
        return to_float_images(self.images[index]), int(self.labels[index])

    def batch(self, indices, device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images and labels at ``indices``.

        :param indices: int64 tensor / sequence of ``B`` indices.
        :param device: where to put the outputs (the uint8 data is moved first, then converted).
        :output images: float32 ``[B, C, H, W]`` in [0, 1].
        :output labels: int64 ``[B]``.
        """
        idx = as_index_tensor(indices, len(self)).to(self.images.device)
        images = self.images.index_select(0, idx)
        labels = self.labels.index_select(0, idx)
        if device is not None:
            images, labels = images.to(device), labels.to(device)
        return to_float_images(images), labels

    def batches(
        self,
        batch_size: int,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        device: str | torch.device | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Iterate over the data set in batches (one epoch) as ``(float images [B,C,H,W], labels [B])``.

        :param shuffle: draw a random order with ``torch.randperm(generator=generator)`` (CPU generator).
        :param drop_last: skip a final batch smaller than ``batch_size``.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n = len(self)
        order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
        stop = n - n % batch_size if drop_last else n
        for start in range(0, stop, batch_size):
            yield self.batch(order[start : start + batch_size], device=device)

    def subset(self, indices, name: str | None = None) -> "ImageDataset":
        """A new :class:`ImageDataset` holding copies of the items at ``indices`` (same classes)."""
        idx = as_index_tensor(indices, len(self))
        return ImageDataset(
            self.images.index_select(0, idx), self.labels.index_select(0, idx), self.classes,
            name=self.name if name is None else name,
        )


def train_val_split(n: int, val_fraction: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Split ``range(n)`` into disjoint training and validation indices, reproducibly.

    Apply it to the TRAINING files only; the test split stays untouched for final evaluation.

    :param n: number of training items.
    :param val_fraction: share of items held out for validation, in [0, 1). The validation size is
        ``round(n * val_fraction)``, at least 1 when ``val_fraction > 0`` and ``n >= 2``.
    :param seed: seed of a private CPU ``torch.Generator`` (the global RNG is not touched).
    :output train_idx: int64 ``[n - n_val]``, sorted ascending.
    :output val_idx: int64 ``[n_val]``, sorted ascending.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction!r}")
    n_val = int(round(n * float(val_fraction)))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    g = torch.Generator(device="cpu")
    g.manual_seed(int(seed))
    perm = torch.randperm(n, generator=g)
    val_idx = perm[:n_val].sort().values
    train_idx = perm[n_val:].sort().values
    return train_idx, val_idx
