"""MNIST reader for the idx file format (gzipped or plain).

Files, as ``torchvision`` lays them out under ``<data_dir>/MNIST/raw/`` (``<data_dir>/raw/`` and the folder
itself are searched too; each file may be gzipped ``*.gz`` or plain)::

    train-images-idx3-ubyte(.gz)   train-labels-idx1-ubyte(.gz)
    t10k-images-idx3-ubyte(.gz)    t10k-labels-idx1-ubyte(.gz)

idx format: two zero bytes, a type code (0x08 = uint8), the number of dimensions ``D``, then ``D``
big-endian uint32 sizes, then the row-major payload. The payload length must match the sizes exactly
(a shorter one means a truncated file; the reader uses the header's count, whatever it is).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from .base import ImageDataset
from .errors import DatasetError, DatasetNotFoundError

__all__ = ["MNIST_CLASSES", "MNIST_FILES", "read_idx", "parse_idx", "find_mnist_file", "read_mnist"]

MNIST_CLASSES = [str(d) for d in range(10)]
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def parse_idx(data: bytes, source: str = "<idx>") -> np.ndarray:
    """Parse the bytes of an (uncompressed) idx file.

    :output: numpy array of the header's shape and type (uint8 for MNIST), read-only view of ``data``.
    :raises DatasetError: bad magic, unknown type code, or payload length != header's sizes (a shorter
        payload is reported as truncated).
    """
    if len(data) < 4:
        raise DatasetError(f"{source} is truncated or corrupted: {len(data)} bytes, no idx header")
    zero, code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise DatasetError(
            f"{source} is not an idx file (magic 0x{int.from_bytes(data[:4], 'big'):08x}; expected "
            "0x000008DD with DD the number of dimensions, e.g. 0x00000803 for images)"
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise DatasetError(f"{source} is truncated: idx header needs {header_len} bytes, file has {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = _IDX_DTYPES[code]
    expected = math.prod(dims) * dtype.itemsize  # Python ints: header sizes up to 2^32 - 1 each cannot overflow
    payload = len(data) - header_len
    if payload < expected:
        raise DatasetError(
            f"{source} is truncated: header says shape {list(dims)} ({expected} payload bytes) but only "
            f"{payload} bytes follow"
        )
    if payload > expected:
        raise DatasetError(
            f"{source}: header/payload mismatch: header says shape {list(dims)} ({expected} payload bytes) "
            f"but {payload} bytes follow"
        )
    return np.frombuffer(data, dtype=dtype, offset=header_len).reshape(dims)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an idx file, gzipped or not (detected from the gzip magic bytes, not the name).

    :output: numpy array (writable copy, native byte order) of the header's shape.
    :raises DatasetNotFoundError: missing file. :raises DatasetError: truncated/corrupted file.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"idx file {path} does not exist")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as exc:
            raise DatasetError(f"{path} is truncated or corrupted (gzip): {exc}") from exc
    arr = parse_idx(raw, source=str(path))
    return arr.astype(arr.dtype.newbyteorder("="), copy=True)


def find_mnist_file(root: str | Path, base: str) -> tuple[Path | None, list[Path]]:
    """Look for ``base`` (e.g. ``"t10k-images-idx3-ubyte"``) under ``root``.

    Tries ``root/MNIST/raw``, ``root/raw`` and ``root``, each with ``base.gz`` then ``base``.

    :output: ``(path or None, every path tried)``.
    """
    root = Path(root)
    tried = []
    for folder in (root / "MNIST" / "raw", root / "raw", root):
        for name in (base + ".gz", base):
            p = folder / name
            tried.append(p)
            if p.is_file():
                return p, tried
    return None, tried


def read_mnist(root: str | Path, split: str = "train") -> ImageDataset:
    """Read the MNIST ``split`` ("train" or "test") from ``root`` into an :class:`ImageDataset`.

    :param root: a folder holding ``MNIST/raw/``, ``raw/`` or the idx files themselves.
    :output: ImageDataset with ``images`` uint8 ``[N, 1, 28, 28]``, ``labels`` int64 ``[N]``, classes
        ``"0".."9"``. N is the idx header's count (60,000 / 10,000 for the official files).
    :raises DatasetNotFoundError: a file is missing (message lists the paths tried).
    :raises DatasetError: truncated/corrupted files, image and label counts differ, labels outside 0..9.
    """
    if split not in MNIST_FILES:
        raise DatasetError(f"MNIST split must be 'train' or 'test', got {split!r}")
    paths = []
    for base in MNIST_FILES[split]:
        path, tried = find_mnist_file(root, base)
        if path is None:
            raise DatasetNotFoundError(
                f"MNIST file {base + '.gz'!r} not found; looked for: " + ", ".join(str(p) for p in tried)
            )
        paths.append(path)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.dtype != np.uint8 or images.ndim != 3:
        raise DatasetError(f"{paths[0]}: expected uint8 images [N, H, W], got {images.dtype} {list(images.shape)}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DatasetError(f"{paths[1]}: expected uint8 labels [N], got {labels.dtype} {list(labels.shape)}")
    if labels.shape[0] != images.shape[0]:
        raise DatasetError(
            f"MNIST {split}: {paths[0].name} has {images.shape[0]} images but {paths[1].name} has "
            f"{labels.shape[0]} labels"
        )
    if labels.size and labels.max() > 9:
        raise DatasetError(f"{paths[1]}: labels must lie in 0..9, got max {labels.max()}")
    return ImageDataset(
        torch.from_numpy(images).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        MNIST_CLASSES,
        name=f"mnist/{split}",
    )
