"""Image-folder data set (e.g. a 10-class ImageNet subset): ``root/<class_name>/*.{jpg,png,...}``.

Classes are the sub-folder names sorted by name (label = position in that order). Images are read lazily
with Pillow, converted to RGB, resized so the shorter side is ``resize`` (default: ``size``) and
center-cropped to ``size x size``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from .base import ImageDataset, as_index_tensor, to_float_images
from .errors import DatasetError, DatasetNotFoundError

__all__ = ["IMG_EXTENSIONS", "ImageFolderDataset", "load_image"]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".gif", ".tif", ".tiff", ".webp")


def load_image(path: str | Path, size: int | None = 256, resize: int | None = None) -> torch.Tensor:
    """Load one image file as uint8 RGB ``[3, H, W]``.

    :param size: side of the square center crop in pixels; ``None`` keeps the native size (no resizing).
    :param resize: shorter side (pixels) after bilinear resizing, before the crop; default ``size``.
    :raises DatasetError: the file cannot be decoded (message names it).
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            if size is not None:
                short = int(resize if resize is not None else size)
                if short < size:
                    raise ValueError(f"resize ({short}) must be >= size ({size})")
                w, h = im.size
                scale = short / min(w, h)
                new_w, new_h = max(short, round(w * scale)), max(short, round(h * scale))
                if (new_w, new_h) != (w, h):
                    im = im.resize((new_w, new_h), Image.Resampling.BILINEAR)
                left, top = (new_w - size) // 2, (new_h - size) // 2
                im = im.crop((left, top, left + size, top + size))
            arr = np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DatasetError(f"{path} is not a readable image: {exc}") from exc
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


class ImageFolderDataset(Dataset):
    """Lazily loaded labelled images from ``root/<class_name>/<image files>``.

    :param root: folder with one sub-folder per class (hidden entries are ignored).
    :param size: output side in pixels (square center crop, default 256); ``None``: native size.
    :param resize: shorter side after resizing, before the crop (default ``size``; e.g. 292 with size 256).
    :param extensions: accepted file suffixes (case-insensitive).
    :param classes: explicit class list (sub-folder names, label order); default: all sub-folders sorted.

    ``dataset[i]`` gives ``(float32 [3, size, size] in [0, 1], int label)``; :meth:`batch` gives
    ``(float32 [B, 3, size, size], int64 [B])``; :meth:`to_memory` loads everything into an
    :class:`ImageDataset` (uint8, ``3 * size**2`` bytes per image).

    :raises DatasetNotFoundError: ``root`` (or a listed class folder) does not exist.
    :raises DatasetError: no class folders, or a class folder without images.
    """

    def __init__(
        self,
        root: str | Path,
        size: int | None = 256,
        resize: int | None = None,
        extensions: Iterable[str] = IMG_EXTENSIONS,
        classes: Sequence[str] | None = None,
        *,
        _samples: list[tuple[Path, int]] | None = None,
    ):
        if size is not None and (not isinstance(size, int) or size < 1):
            raise ValueError(f"size must be a positive int or None, got {size!r}")
        if size is not None and resize is not None and resize < size:
            raise ValueError(f"resize ({resize}) must be >= size ({size})")
        self.root = Path(root)
        self.size = size
        self.resize = resize
        self.extensions = tuple(e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
        if _samples is not None:  # used by subset()
            self.classes = list(classes or [])
            self.samples = list(_samples)
        else:
            self.classes, self.samples = self._scan(classes)
        self.labels = torch.tensor([lbl for _, lbl in self.samples], dtype=torch.int64)
        self.name = f"imagefolder:{self.root}"

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(3, size, size)``; with ``size=None`` (native sizes) the shape of the first image."""
        if self.size is not None:
            return (3, self.size, self.size)
        return tuple(self[0][0].shape)

    def _scan(self, classes: Sequence[str] | None) -> tuple[list[str], list[tuple[Path, int]]]:
        if not self.root.is_dir():
            raise DatasetNotFoundError(f"image folder {self.root} does not exist")
        if classes is None:
            classes = sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        classes = list(classes)
        if not classes:
            raise DatasetError(
                f"image folder {self.root} has no class sub-folders; expected {self.root}/<class_name>/<images>"
            )
        samples: list[tuple[Path, int]] = []
        for label, cls in enumerate(classes):
            folder = self.root / cls
            if not folder.is_dir():
                raise DatasetNotFoundError(f"class folder {folder} does not exist")
            files = sorted(
                p for p in folder.iterdir()
                if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in self.extensions
            )
            if not files:
                raise DatasetError(
                    f"class folder {folder} has no images with suffixes {', '.join(self.extensions)}"
                )
            samples.extend((p, label) for p in files)
        return classes, samples

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        return f"ImageFolderDataset(root={str(self.root)!r}, n={len(self)}, size={self.size}, classes={self.num_classes})"

    def load_uint8(self, index: int) -> torch.Tensor:
        """uint8 ``[3, size, size]`` image ``index``."""
        path, _ = self.samples[index]
        return load_image(path, self.size, self.resize)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """``(image float32 [3, size, size] in [0, 1], label int)``."""
        return to_float_images(self.load_uint8(index)), self.samples[index][1]

    def batch(self, indices, device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Load images at ``indices`` -> ``(float32 [B, 3, size, size] in [0, 1], int64 labels [B])``.

        With ``size=None`` all requested images must share one native size.
        """
        idx = as_index_tensor(indices, len(self))
        imgs = [self.load_uint8(int(i)) for i in idx]
        if not imgs:
            side = self.size or 0
            images = torch.zeros(0, 3, side, side, dtype=torch.uint8)
        else:
            try:
                images = torch.stack(imgs)
            except RuntimeError as exc:
                raise DatasetError(f"images of different sizes cannot form a batch (set size=...): {exc}") from exc
        labels = self.labels.index_select(0, idx)
        if device is not None:
            images, labels = images.to(device), labels.to(device)
        return to_float_images(images), labels

    def subset(self, indices, name: str | None = None) -> "ImageFolderDataset":
        """A lazily loaded subset (same classes, same sizing)."""
        idx = as_index_tensor(indices, len(self))
        sub = ImageFolderDataset(
            self.root, self.size, self.resize, self.extensions, self.classes,
            _samples=[self.samples[int(i)] for i in idx],
        )
        if name is not None:
            sub.name = name
        return sub

    def to_memory(self, progress: bool = False) -> ImageDataset:
        """Load every image into an :class:`ImageDataset` (uint8 ``[N, 3, size, size]``)."""
        from tqdm.auto import tqdm

        imgs = [self.load_uint8(i) for i in tqdm(range(len(self)), desc="loading images", disable=not progress)]
        if not imgs:
            raise DatasetError(f"{self.name}: no images to load")
        return ImageDataset(torch.stack(imgs), self.labels.clone(), self.classes, name=self.name)
