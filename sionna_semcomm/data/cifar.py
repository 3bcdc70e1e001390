"""CIFAR-10 "python version" reader (``cifar-10-batches-py``), with a restricted unpickler.

Folder layout (the official ``cifar-10-python.tar.gz``)::

    cifar-10-batches-py/
        data_batch_1 .. data_batch_5   training batches (whichever exist are read, in numeric order)
        test_batch                     test batch
        batches.meta                   class names (b"label_names")

Each batch is a pickled dict with ``b"data"`` (uint8 ``[N, 3072]``: 1024 red, 1024 green, 1024 blue
values, each a row-major 32x32 plane), ``b"labels"`` (N ints in 0..9), ``b"filenames"`` and
``b"batch_label"``. The files are read with :class:`RestrictedUnpickler`, which only reconstructs numpy
arrays; any other global (``os.system``, ``builtins.eval``, ...) is refused before it can run.
"""

from __future__ import annotations

import importlib
import io
import pickle
import re
from pathlib import Path

import numpy as np
import torch

from .base import ImageDataset
from .errors import DatasetError, DatasetNotFoundError, UnsafePickleError

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_FOLDER",
    "RestrictedUnpickler",
    "restricted_loads",
    "read_cifar_batch",
    "find_cifar10_dir",
    "cifar10_files",
    "read_cifar10",
]

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]

# (module, name) pairs a CIFAR batch pickle may reference. numpy 1.x writes numpy.core.multiarray, numpy 2.x
# numpy._core.multiarray; both are served from whichever the installed numpy has. ``_codecs.encode`` is how
# Python 3 pickles ``bytes`` at protocol <= 2 (a pure string conversion).
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


def _numpy_multiarray():
    try:
        return importlib.import_module("numpy._core.multiarray")
    except ImportError:  # numpy < 1.26
        return importlib.import_module("numpy.core.multiarray")


class RestrictedUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` that only resolves the globals needed to rebuild numpy arrays.

    :param file: binary file object.
    :param source: name used in error messages (normally the file path).

    Data are decoded with ``encoding="bytes"`` (the official files were written by Python 2), so dict keys
    come back as ``bytes``. Any other global raises :class:`UnsafePickleError` before it is called.
    """

    def __init__(self, file, source: str = "<pickle>"):
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise UnsafePickleError(
                f"{self.source}: refusing to load global {module}.{name} from a pickle; only numpy array "
                "reconstruction is allowed (is this really a CIFAR-10 batch file?)"
            )
        if module == "numpy":
            return getattr(np, name)
        if module == "_codecs":
            import _codecs

            return _codecs.encode
        return getattr(_numpy_multiarray(), name)

    def persistent_load(self, pid):
        raise UnsafePickleError(f"{self.source}: persistent ids are not allowed in a CIFAR-10 batch file")


def restricted_loads(data: bytes, source: str = "<pickle>"):
    """Unpickle ``data`` with :class:`RestrictedUnpickler`; truncation/corruption -> :class:`DatasetError`."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), source=source).load()
    except UnsafePickleError:
        raise
    except Exception as exc:  # EOFError, UnpicklingError, ValueError from numpy, ...
        raise DatasetError(f"{source} is truncated or corrupted: {type(exc).__name__}: {exc}") from exc


def _as_bytes_keys(obj, source: str) -> dict:
    if not isinstance(obj, dict):
        raise DatasetError(f"{source} is not a CIFAR-10 batch: expected a dict, got {type(obj).__name__}")
    return {(k.encode() if isinstance(k, str) else k): v for k, v in obj.items()}


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 batch file.

    :output images: uint8 numpy ``[N, 3, 32, 32]``.
    :output labels: int64 numpy ``[N]``, values in 0..9.
    :raises DatasetNotFoundError: the file does not exist.
    :raises UnsafePickleError: the pickle references anything but numpy array reconstruction.
    :raises DatasetError: truncated/corrupted file, wrong keys, dtype, shape or label values.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"CIFAR-10 batch file {path} does not exist")
    batch = _as_bytes_keys(restricted_loads(path.read_bytes(), source=str(path)), str(path))
    for key in (b"data", b"labels"):
        if key not in batch:
            raise DatasetError(f"{path} is not a CIFAR-10 batch: key {key!r} missing (keys: {sorted(batch)})")
    data = batch[b"data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        desc = f"{data.dtype} {list(data.shape)}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetError(f"{path}: b'data' must be a uint8 array [N, 3072], got {desc}")
    try:
        labels = np.asarray(batch[b"labels"])
    except Exception as exc:
        raise DatasetError(f"{path}: b'labels' is not a list of ints: {exc}") from exc
    if labels.ndim != 1 or not (np.issubdtype(labels.dtype, np.integer) or labels.size == 0):
        raise DatasetError(f"{path}: b'labels' must be a flat list of ints, got {labels.dtype} {list(labels.shape)}")
    if labels.shape[0] != data.shape[0]:
        raise DatasetError(f"{path}: {labels.shape[0]} labels for {data.shape[0]} images")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DatasetError(f"{path}: labels must lie in 0..9, got {labels.min()}..{labels.max()}")
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar_meta(path: str | Path) -> list[str]:
    """Class names from ``batches.meta`` (``b"label_names"``); the standard 10 names if the file is absent."""
    path = Path(path)
    if not path.is_file():
        return list(CIFAR10_CLASSES)
    meta = _as_bytes_keys(restricted_loads(path.read_bytes(), source=str(path)), str(path))
    names = meta.get(b"label_names")
    if not isinstance(names, (list, tuple)) or len(names) != 10:
        raise DatasetError(f"{path}: b'label_names' must be a list of 10 names, got {names!r:.200}")
    return [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]


def find_cifar10_dir(root: str | Path) -> Path:
    """``root/cifar-10-batches-py`` if that folder exists, else ``root`` itself (which may be that folder)."""
    root = Path(root)
    sub = root / CIFAR10_FOLDER
    return sub if sub.is_dir() else root


def cifar10_files(folder: str | Path, split: str) -> list[Path]:
    """Batch files of ``split`` in ``folder``: ``data_batch_<k>`` that exist (numeric order) or ``test_batch``.

    Missing files are not checked here; an empty training list means none exists.
    """
    folder = Path(folder)
    if split == "train":
        found = []
        if folder.is_dir():
            for p in folder.iterdir():
                m = re.fullmatch(r"data_batch_(\d+)", p.name)
                if m and p.is_file():
                    found.append((int(m.group(1)), p))
        return [p for _, p in sorted(found)]
    if split == "test":
        return [folder / "test_batch"]
    raise DatasetError(f"CIFAR-10 split must be 'train' or 'test', got {split!r}")


def read_cifar10(root: str | Path, split: str = "train") -> ImageDataset:
    """Read the CIFAR-10 ``split`` ("train" or "test") from ``root`` into an :class:`ImageDataset`.

    :param root: the ``cifar-10-batches-py`` folder or the folder containing it.
    :output: ImageDataset with ``images`` uint8 ``[N, 3, 32, 32]``, ``labels`` int64 ``[N]``, 10 classes.
        The full release gives N = 50,000 (train) / 10,000 (test); every ``data_batch_*`` present is read.
    :raises DatasetNotFoundError: no training batch / no ``test_batch`` (message names the file and folder).
    """
    folder = find_cifar10_dir(root)
    files = cifar10_files(folder, split)
    missing = "data_batch_1" if not files else next((p.name for p in files if not p.is_file()), None)
    if missing is not None:
        root = Path(root)
        where = str(folder) if folder != root else f"{root / CIFAR10_FOLDER} and {root}"
        raise DatasetNotFoundError(f"CIFAR-10 file {missing!r} not found; looked in {where}")
    parts = [read_cifar_batch(p) for p in files]
    images = np.concatenate([p[0] for p in parts]) if len(parts) > 1 else parts[0][0].copy()
    labels = np.concatenate([p[1] for p in parts])
    classes = read_cifar_meta(folder / "batches.meta")
    return ImageDataset(torch.from_numpy(images), torch.from_numpy(labels), classes, name=f"cifar10/{split}")
