"""Data set readers: CIFAR-10 (python pickles, restricted unpickler), MNIST (idx), image folders, demo sets.

Convention: items are ``(float32 image [C, H, W] in [0, 1], int label)``; batches from ``dataset.batch(idx)``
are ``(float32 [B, C, H, W], int64 [B])``. In-memory sets (:class:`ImageDataset`) keep uint8 ``.images``
``[N, C, H, W]``, int64 ``.labels`` and ``.classes``.

Entry points: :func:`load_dataset` (``"cifar10"``, ``"mnist"``, ``"imagefolder"``; data directory from
``data_dir`` / ``$SIONNA_SEMCOMM_DATA`` / ``~/.cache/sionna_semcomm/data``), :func:`demo_dataset` (40 shipped
test images per data set), :func:`train_val_split`. Importing this package reads no files and opens no
network connection.
"""

from .base import ImageDataset, train_val_split
from .cifar import CIFAR10_CLASSES, RestrictedUnpickler, read_cifar10, read_cifar_batch
from .demo import demo_dataset, load_npz_dataset, save_npz_dataset
from .download import download_cifar10, download_file, download_mnist, safe_extract_tar
from .errors import (
    ChecksumError,
    DatasetError,
    DatasetNotFoundError,
    UnsafeArchiveError,
    UnsafePickleError,
)
from .folder import ImageFolderDataset
from .loading import DATA_ENV_VAR, load_dataset, resolve_data_dir
from .mnist import MNIST_CLASSES, read_idx, read_mnist

__all__ = [
    "ImageDataset",
    "ImageFolderDataset",
    "train_val_split",
    "load_dataset",
    "resolve_data_dir",
    "DATA_ENV_VAR",
    "demo_dataset",
    "load_npz_dataset",
    "save_npz_dataset",
    "read_cifar10",
    "read_cifar_batch",
    "RestrictedUnpickler",
    "CIFAR10_CLASSES",
    "read_mnist",
    "read_idx",
    "MNIST_CLASSES",
    "download_cifar10",
    "download_mnist",
    "download_file",
    "safe_extract_tar",
    "DatasetError",
    "DatasetNotFoundError",
    "UnsafePickleError",
    "ChecksumError",
    "UnsafeArchiveError",
]
