"""MNIST idx reader on tiny generated files."""

import gzip
import struct

import numpy as np
import pytest
import torch

from sionna_semcomm.data import DatasetError, DatasetNotFoundError, read_idx, read_mnist


def _idx(arr, count=None):
    dims = list(arr.shape)
    if count is not None:
        dims[0] = count
    return struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(f">{arr.ndim}I", *dims) + arr.tobytes()


def _make_mnist(folder, n=6, split="train", gz=True, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    prefix = "train" if split == "train" else "t10k"
    folder.mkdir(parents=True, exist_ok=True)
    for base, arr in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
        data = _idx(arr)
        if gz:
            (folder / (base + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / base).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("layout", ["MNIST/raw", "raw", "."])
@pytest.mark.parametrize("gz", [True, False])
def test_round_trip(tmp_path, layout, gz):
    images, labels = _make_mnist(tmp_path / layout, n=7, split="test", gz=gz)
    ds = read_mnist(tmp_path, "test")
    assert ds.images.shape == (7, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64 and ds.classes == [str(i) for i in range(10)]
    assert np.array_equal(ds.images[:, 0].numpy(), images)
    assert ds.labels.tolist() == labels.tolist()
    x, y = ds[3]
    assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    assert y == int(labels[3])


def test_header_count_is_used(tmp_path):
    # like the shared subset: a train file whose header gives the true (non-standard) count
    images, labels = _make_mnist(tmp_path / "MNIST" / "raw", n=13, split="train")
    ds = read_mnist(tmp_path, "train")
    assert len(ds) == 13


def test_truncated_payload(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    _make_mnist(raw, n=5)
    arr = np.zeros((5, 28, 28), np.uint8)
    (raw / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(arr, count=6)))
    with pytest.raises(DatasetError, match=r"train-images-idx3-ubyte\.gz is truncated"):
        read_mnist(tmp_path, "train")


def test_header_payload_mismatch_longer(tmp_path):
    p = tmp_path / "x-idx3-ubyte"
    p.write_bytes(_idx(np.zeros((5, 28, 28), np.uint8), count=4))
    with pytest.raises(DatasetError, match="header/payload mismatch"):
        read_idx(p)


def test_truncated_gzip_and_bad_magic(tmp_path):
    p = tmp_path / "a.gz"
    data = gzip.compress(_idx(np.arange(1000, dtype=np.uint8).reshape(10, 100)))
    p.write_bytes(data[:-20])
    with pytest.raises(DatasetError, match=r"a\.gz is truncated or corrupted"):
        read_idx(p)
    q = tmp_path / "b"
    q.write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 10)
    with pytest.raises(DatasetError, match="not an idx file"):
        read_idx(q)
    q.write_bytes(b"\x00\x00\x08\x03\x00")
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(q)


def test_other_idx_types(tmp_path):
    arr = np.arange(6, dtype=">i4").reshape(2, 3)
    p = tmp_path / "c"
    p.write_bytes(struct.pack(">HBB", 0, 0x0C, 2) + struct.pack(">2I", 2, 3) + arr.tobytes())
    out = read_idx(p)
    assert out.tolist() == [[0, 1, 2], [3, 4, 5]] and out.dtype.isnative


def test_count_mismatch_and_bad_labels(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    _make_mnist(raw, n=5)
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(np.zeros(4, np.uint8))))
    with pytest.raises(DatasetError, match="5 images but .* 4 labels"):
        read_mnist(tmp_path, "train")
    (raw / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(np.full(5, 11, np.uint8))))
    with pytest.raises(DatasetError, match=r"0\.\.9"):
        read_mnist(tmp_path, "train")


def test_missing_file(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    _make_mnist(raw, n=3)
    (raw / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFoundError, match="train-labels-idx1-ubyte.gz") as e:
        read_mnist(tmp_path, "train")
    assert str(raw) in str(e.value)
