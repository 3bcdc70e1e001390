"""Training sources: which images a model is trained and validated on.

CIFAR-10 can be trained from

* ``"batches"``: the official python batches (``data_batch_*``; pixel-exact);
* ``"jpeg"``: the CIFAR-10 training set as an image folder, ``<data_dir>/cifar-10-jpeg/train/<class>/*.jpg``
  (the shared data's 48,983 images, JPEG quality 75; class = folder name, folder names sorted = the
  official class order, checked against ``batches.meta`` where it exists);
* ``"both"``: every pixel-exact batch row plus the JPEG files that are *not* copies of those rows (the copy
  of each row is found by its nearest JPEG image of the same class; a row whose best match is not clearly a
  JPEG version of it keeps the JPEG set unchanged). Where the data directory has no JPEG folder (the official
  download, whose 50,000 rows are all pixel-exact) this is ``"batches"``, with a note; ``info`` records it.

Validation is always carved from the training source (never the test set). With ``"both"`` it is carved
from the pixel-exact rows only, so validation PSNR is measured against exact pixels and no JPEG copy of a
validation image is trained on. With ``"jpeg"`` validation images are JPEG images (fine for choosing a
checkpoint; PSNR/SSIM *results* are only ever reported on the pixel-exact test batch).

MNIST and image-folder data sets have one source, ``"batches"`` (their official training files / folder).

Decoding 49k small JPEG files takes ~45 s on one core, so :func:`load_image_folder_uint8` keeps a uint8
cache (``.npz`` under ``$SIONNA_SEMCOMM_CACHE`` or ``~/.cache/sionna_semcomm``) keyed by the folder's file
names, sizes and modification times: an edited folder is read again.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .base import ImageDataset, train_val_split
from .errors import DatasetError, DatasetNotFoundError
from .folder import ImageFolderDataset

__all__ = ["TRAIN_SOURCES", "CIFAR10_JPEG_FOLDER", "TrainingData", "load_image_folder_uint8", "find_jpeg_copies",
           "load_training_data"]

TRAIN_SOURCES = ("batches", "jpeg", "both")
CIFAR10_JPEG_FOLDER = Path("cifar-10-jpeg") / "train"
CACHE_ENV_VAR = "SIONNA_SEMCOMM_CACHE"
# A JPEG (quality 75) copy of a CIFAR-10 image is 23-36 dB from the original; unrelated images ~10-15 dB.
_COPY_MIN_PSNR_DB = 20.0


@dataclass
class TrainingData:
    """The training and validation sets of a run and what they are made of (recorded in checkpoints)."""

    train: ImageDataset
    val: ImageDataset
    info: dict = field(default_factory=dict)


def _cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV_VAR) or "~/.cache/sionna_semcomm").expanduser()


def load_image_folder_uint8(root: str | Path, classes: list[str] | None = None, cache: bool = True,
                            progress: bool = False) -> ImageDataset:
    """All images of ``root/<class>/*`` at their native size as one uint8 :class:`ImageDataset`.

    :param classes: class folder names in label order (default: sorted folder names).
    :param cache: read/write the uint8 cache described in the module doc.
    :raises DatasetNotFoundError: ``root`` does not exist. :raises DatasetError: images of different sizes.
    """
    folder = ImageFolderDataset(root, size=None, classes=classes)
    key = hashlib.sha256()
    for path, label in folder.samples:
        st = path.stat()
        key.update(f"{path.relative_to(folder.root)}|{label}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    key.update(repr(folder.classes).encode())
    cache_file = _cache_dir() / f"imagefolder-{key.hexdigest()[:24]}.npz"
    if cache and cache_file.is_file():
        try:
            with np.load(cache_file, allow_pickle=False) as z:
                images, labels = z["images"], z["labels"]
            if len(images) == len(folder):
                return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), folder.classes, name=str(root))
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below
    try:
        ds = folder.to_memory(progress=progress)
    except DatasetError as e:
        raise DatasetError(f"{root}: {e}") from None
    if cache:
        from ..atomic import atomic_write

        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            def write(tmp):
                with open(tmp, "wb") as f:
                    np.savez(f, images=ds.images.numpy(), labels=ds.labels.numpy())

            atomic_write(cache_file, write)
        except OSError:
            pass  # a read-only home is no reason to fail
    return ds


def find_jpeg_copies(exact: ImageDataset, jpeg: ImageDataset) -> torch.Tensor:
    """For every image of ``exact``, the index in ``jpeg`` of its JPEG copy, or -1 where there is none.

    The copy is the nearest JPEG image of the same class (squared pixel distance), accepted when its PSNR
    against the exact image is at least 20 dB (a quality-75 copy is 23-36 dB away; other images ~10-15 dB).

    :output: int64 ``[len(exact)]``.
    """
    out = torch.full((len(exact),), -1, dtype=torch.int64)
    for c in range(exact.num_classes):
        ei = (exact.labels == c).nonzero().flatten()
        ji = (jpeg.labels == c).nonzero().flatten()
        if not len(ei) or not len(ji):
            continue
        e = exact.images[ei].flatten(1).float()
        j = jpeg.images[ji].flatten(1).float()
        d = (e.square().sum(1, keepdim=True) + j.square().sum(1)[None] - 2.0 * e @ j.T).clamp_min(0)
        best, arg = d.min(dim=1)
        mse = best / e.shape[1]
        psnr = 10 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-9))
        ok = psnr >= _COPY_MIN_PSNR_DB
        out[ei[ok]] = ji[arg[ok]]
    return out


def _concat(parts: list[ImageDataset], classes, name: str) -> ImageDataset:
    return ImageDataset(torch.cat([p.images for p in parts]), torch.cat([p.labels for p in parts]), classes, name=name)


def _cifar10_jpeg(root: Path, classes: list[str]) -> ImageDataset:
    folder = root / CIFAR10_JPEG_FOLDER
    if not folder.is_dir():
        raise DatasetNotFoundError(
            f"CIFAR-10 JPEG training folder {folder} not found (expected {CIFAR10_JPEG_FOLDER}/<class>/*.jpg under the "
            "data directory); use --train-source batches for the python batches only")
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if found != sorted(classes):
        raise DatasetError(f"{folder}: class folders {found} do not match the CIFAR-10 classes {classes}")
    ds = load_image_folder_uint8(folder, classes=list(classes))
    if ds.image_shape != (3, 32, 32):
        raise DatasetError(f"{folder}: images must be 32x32 RGB, got {ds.image_shape}")
    return ds


def load_training_data(dataset: str, source: str = "batches", data_dir=None, val_fraction: float = 0.1,
                       split_seed: int = 0) -> TrainingData:
    """Training and validation sets of ``dataset`` from ``source`` (see the module doc).

    :param dataset: ``"cifar10"``, ``"mnist"`` or ``"imagefolder"``.
    :param source: one of :data:`TRAIN_SOURCES` (``"jpeg"``/``"both"``: CIFAR-10 only).
    :param val_fraction: share of the (pixel-exact, for ``"both"``) training images held out for validation.
    :output: :class:`TrainingData` with ``info`` = ``{"train_source", "train_images", "val_images",
        "exact_train_images", ...}``; the first ``exact_train_images`` rows of ``train`` are pixel-exact (all of
        them for ``"batches"``, none for ``"jpeg"``, the exact rows ahead of the JPEG images for ``"both"``).
    """
    from .loading import load_dataset, resolve_data_dir

    if source not in TRAIN_SOURCES:
        raise DatasetError(f"unknown training source {source!r}; expected one of {', '.join(TRAIN_SOURCES)}")
    if source != "batches" and dataset != "cifar10":
        raise DatasetError(f"training source {source!r} exists for cifar10 only, not {dataset!r}; use 'batches'")
    if source == "batches":
        train = load_dataset(dataset, "train", data_dir, val_fraction=val_fraction, split_seed=split_seed)
        val = load_dataset(dataset, "val", data_dir, val_fraction=val_fraction, split_seed=split_seed)
        info = {"train_source": "batches", "exact_train_images": len(train),
                "description": f"{dataset} official training files (pixel-exact)"}
    else:
        root = resolve_data_dir(data_dir)
        if source == "jpeg":
            from .cifar import find_cifar10_dir, read_cifar_meta

            classes = read_cifar_meta(find_cifar10_dir(root) / "batches.meta")
            jpeg = _cifar10_jpeg(root, classes)
            tr, va = train_val_split(len(jpeg), val_fraction, split_seed)
            train, val = jpeg.subset(tr, name="cifar10-jpeg/train"), jpeg.subset(va, name="cifar10-jpeg/val")
            info = {"train_source": "jpeg", "jpeg_images": len(jpeg), "exact_train_images": 0,
                    "description": f"{CIFAR10_JPEG_FOLDER} (JPEG quality 75); validation carved from it"}
        else:
            exact = load_dataset("cifar10", "train", data_dir)
            if not (root / CIFAR10_JPEG_FOLDER).is_dir():  # e.g. the official download: all 50,000 rows pixel-exact
                import sys

                print(f"note: no {CIFAR10_JPEG_FOLDER} under {root}: training on the {len(exact)} python-batch images only",
                      file=sys.stderr)
                return load_training_data(dataset, "batches", data_dir, val_fraction, split_seed)
            jpeg = _cifar10_jpeg(root, exact.classes)
            copies = find_jpeg_copies(exact, jpeg)
            keep = torch.ones(len(jpeg), dtype=torch.bool)
            keep[copies[copies >= 0]] = False
            tr, va = train_val_split(len(exact), val_fraction, split_seed)
            train = _concat([exact.subset(tr), jpeg.subset(keep.nonzero().flatten())], exact.classes,
                            "cifar10 exact rows + JPEG folder")
            val = exact.subset(va, name="cifar10/val (pixel-exact rows)")
            info = {"train_source": "both", "exact_images": len(exact), "jpeg_images": len(jpeg),
                    "jpeg_copies_removed": int((~keep).sum()), "exact_train_images": len(tr),
                    "description": (f"{len(exact)} pixel-exact data_batch rows + the {int(keep.sum())} images of "
                                    f"{CIFAR10_JPEG_FOLDER} that are not copies of them; validation carved from the "
                                    "pixel-exact rows")}
    info.update({"train_images": len(train), "val_images": len(val), "val_fraction": val_fraction,
                 "split_seed": split_seed})
    return TrainingData(train, val, info)
