"""``load_dataset``: one entry point for CIFAR-10, MNIST and image folders, with data-directory resolution.

Data directory, first match wins:

1. the ``data_dir`` argument (the CLIs pass ``--data-dir``);
2. the environment variable ``SIONNA_SEMCOMM_DATA``;
3. ``~/.cache/sionna_semcomm/data``.
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import ImageDataset, train_val_split
from .cifar import CIFAR10_FOLDER, read_cifar10
from .errors import DatasetError, DatasetNotFoundError
from .folder import ImageFolderDataset
from .mnist import read_mnist

__all__ = ["DATA_ENV_VAR", "DEFAULT_DATA_DIR", "DATASET_NAMES", "resolve_data_dir", "load_dataset"]

DATA_ENV_VAR = "SIONNA_SEMCOMM_DATA"
DEFAULT_DATA_DIR = Path("~/.cache/sionna_semcomm/data")
DATASET_NAMES = ("cifar10", "mnist", "imagefolder")


def _resolve(data_dir: str | os.PathLike | None) -> tuple[Path, str]:
    if data_dir is not None:
        return Path(data_dir).expanduser(), "the data_dir argument / --data-dir"
    env = os.environ.get(DATA_ENV_VAR)
    if env:
        return Path(env).expanduser(), f"the {DATA_ENV_VAR} environment variable"
    return DEFAULT_DATA_DIR.expanduser(), "the default location"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data directory: ``data_dir`` if given, else ``$SIONNA_SEMCOMM_DATA``, else ``~/.cache/sionna_semcomm/data``.

    The folder is not created or checked.
    """
    return _resolve(data_dir)[0]


def _how_to_fix(name: str, root: Path, source: str, can_download: bool) -> str:
    layout = {
        "cifar10": f"{CIFAR10_FOLDER}/data_batch_1..5, test_batch, batches.meta",
        "mnist": "MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz",
        "imagefolder": "<split>/<class_name>/<images>",
    }[name]
    fix = (
        f"Data directory {root} (from {source}). To fix: pass --data-dir DIR (data_dir=DIR) or set "
        f"{DATA_ENV_VAR}=DIR, where DIR holds {layout}"
    )
    return fix + (", or call load_dataset(..., download=True) / pass --download." if can_download else ".")


def _download(name: str, root: Path, split: str, **kw) -> None:
    from .download import download_cifar10, download_mnist

    if name == "cifar10":
        download_cifar10(root, **kw)
    else:
        download_mnist(root, splits=(split,), **kw)


def _load_full(name: str, split: str, root: Path, source: str, download: bool, **kw):
    if name in ("cifar10", "mnist"):
        read = read_cifar10 if name == "cifar10" else read_mnist
        try:
            return read(root, split)
        except DatasetNotFoundError as exc:
            if not download:
                raise DatasetNotFoundError(f"{exc}. {_how_to_fix(name, root, source, True)}") from None
        _download(name, root, split, **kw)
        return read(root, split)
    # imagefolder
    if download:
        raise DatasetError("image folders cannot be downloaded; put the images under DIR/<split>/<class>/")
    folder = root / split if split is not None else root
    if not folder.is_dir():
        raise DatasetNotFoundError(f"image folder {folder} not found. {_how_to_fix(name, root, source, False)}")
    return ImageFolderDataset(folder, **kw)


def load_dataset(
    name: str,
    split: str = "train",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    *,
    val_fraction: float = 0.0,
    split_seed: int = 0,
    **kw,
) -> ImageDataset | ImageFolderDataset:
    """Load a data set split.

    :param name: ``"cifar10"``, ``"mnist"`` or ``"imagefolder"``.
    :param split: ``"train"``, ``"test"`` or ``"val"``. ``"val"`` needs ``val_fraction > 0`` and is carved
        from the TRAINING files with :func:`train_val_split`; ``"train"`` with ``val_fraction > 0`` is the
        rest (call both with the same ``val_fraction`` and ``split_seed`` to get disjoint sets). For
        ``imagefolder``, any other split name is a sub-folder of the data directory (``DIR/<split>/<class>/``);
        ``"val"`` without ``val_fraction`` reads ``DIR/val``; with ``val_fraction > 0`` it is carved from
        ``DIR/train`` instead.
    :param data_dir: data directory (see :func:`resolve_data_dir`). For ``cifar10`` it may be the
        ``cifar-10-batches-py`` folder itself or its parent; for ``mnist`` a folder with ``MNIST/raw/``,
        ``raw/`` or the idx files.
    :param download: fetch missing CIFAR-10/MNIST files from the official sources (checksummed).
    :param kw: for ``imagefolder``: :class:`ImageFolderDataset` options (``size``, ``resize``, ...); for
        downloads: ``fetch``, ``progress`` (see :mod:`sionna_semcomm.data.download`).
    :output: :class:`ImageDataset` (cifar10: uint8 ``[N, 3, 32, 32]``, mnist: ``[N, 1, 28, 28]``) or a lazy
        :class:`ImageFolderDataset`; items are ``(float32 [C, H, W] in [0, 1], int label)``.
    :raises DatasetNotFoundError: a file is missing; the message names it, where it looked, and how to fix it.
    """
    if name not in DATASET_NAMES:
        raise DatasetError(f"unknown data set {name!r}; expected one of {', '.join(DATASET_NAMES)}")
    if split == "val" and not val_fraction > 0 and name != "imagefolder":
        raise DatasetError("split 'val' is carved from the training files: pass val_fraction > 0 (e.g. 0.1)")
    if val_fraction and split not in ("train", "val"):
        raise DatasetError(f"val_fraction applies to the 'train'/'val' splits only, not {split!r}")
    if name != "imagefolder" and split not in ("train", "test", "val"):
        raise DatasetError(f"{name} split must be 'train', 'val' or 'test', got {split!r}")
    root, source = _resolve(data_dir)
    file_split = "train" if split == "val" else split
    ds = _load_full(name, file_split, root, source, download, **kw)
    if val_fraction and val_fraction > 0:
        train_idx, val_idx = train_val_split(len(ds), val_fraction, split_seed)
        idx = val_idx if split == "val" else train_idx
        ds = ds.subset(idx, name=f"{name}/{split} (val_fraction={val_fraction}, seed={split_seed})")
    return ds
