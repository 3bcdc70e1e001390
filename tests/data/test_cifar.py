"""CIFAR-10 python-batch reader with a restricted unpickler, on tiny generated files."""

import os
import pickle

import numpy as np
import pytest
import torch

from sionna_semcomm.data import (
    CIFAR10_CLASSES,
    DatasetError,
    DatasetNotFoundError,
    UnsafePickleError,
    read_cifar10,
    read_cifar_batch,
)


def _write_batch(path, n, seed, protocol=4, labels=None, data=None, str_keys=False):
    rng = np.random.default_rng(seed)
    if data is None:
        data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    if labels is None:
        labels = [int(v) for v in rng.integers(0, 10, size=n)]
    d = {b"batch_label": b"test batch", b"labels": labels, b"data": data,
         b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
    if str_keys:
        d = {k.decode(): v for k, v in d.items()}
    path.write_bytes(pickle.dumps(d, protocol=protocol))
    return data, labels


def _make_cifar(root, sizes=(3, 4), n_test=5):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    train = [_write_batch(folder / f"data_batch_{i + 1}", n, seed=i) for i, n in enumerate(sizes)]
    test = _write_batch(folder / "test_batch", n_test, seed=99)
    meta = {b"num_cases_per_batch": 10000, b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_vis": 3072}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=2))
    return folder, train, test


def test_round_trip(tmp_path):
    folder, train, test = _make_cifar(tmp_path)
    ds = read_cifar10(tmp_path, "train")
    assert ds.images.shape == (7, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64 and ds.classes == CIFAR10_CLASSES
    exp = np.concatenate([d for d, _ in train]).reshape(-1, 3, 32, 32)
    assert np.array_equal(ds.images.numpy(), exp)
    assert ds.labels.tolist() == train[0][1] + train[1][1]
    # channel planes: first 1024 bytes are red, row-major
    assert ds.images[0, 0, 0, 1] == train[0][0][0, 1] and ds.images[0, 2, 1, 0] == train[0][0][0, 2048 + 32]
    x, y = ds[0]
    assert x.dtype == torch.float32 and x.shape == (3, 32, 32) and 0 <= x.min() and x.max() <= 1
    te = read_cifar10(folder, "test")  # the batches folder itself works too
    assert len(te) == 5 and te.labels.tolist() == test[1]


def test_reads_all_batches_in_numeric_order(tmp_path):
    sizes = (1, 2, 1, 1, 2, 1, 1, 1, 1, 3)  # data_batch_1..10: "10" must come after "9"
    _, train, _ = _make_cifar(tmp_path, sizes=sizes)
    ds = read_cifar10(tmp_path, "train")
    assert len(ds) == sum(sizes)
    assert ds.labels.tolist() == sum((lab for _, lab in train), [])


def test_protocol2_and_str_keys(tmp_path):
    p = tmp_path / "b"
    data, labels = _write_batch(p, 3, seed=1, protocol=2, str_keys=True)
    x, y = read_cifar_batch(p)
    assert np.array_equal(x.reshape(3, -1), data) and y.tolist() == labels


def test_truncated_file(tmp_path):
    folder, _, _ = _make_cifar(tmp_path)
    p = folder / "data_batch_2"
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DatasetError, match=r"data_batch_2 is truncated or corrupted"):
        read_cifar10(tmp_path, "train")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_refused(tmp_path):
    marker = tmp_path / "pwned"
    p = tmp_path / "data_batch_1"
    p.write_bytes(pickle.dumps({b"data": _Evil(marker), b"labels": [0]}, protocol=4))
    with pytest.raises(UnsafePickleError, match=r"(posix|os|nt)\.system"):
        read_cifar_batch(p)
    assert not marker.exists()
    p.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [eval]}, protocol=4))
    with pytest.raises(UnsafePickleError, match="builtins.eval"):
        read_cifar_batch(p)


def test_bad_contents(tmp_path):
    p = tmp_path / "b"
    _write_batch(p, 2, seed=0, data=np.zeros((2, 3072), np.float32))
    with pytest.raises(DatasetError, match=r"uint8 array \[N, 3072\]"):
        read_cifar_batch(p)
    _write_batch(p, 2, seed=0, data=np.zeros((2, 100), np.uint8))
    with pytest.raises(DatasetError, match="3072"):
        read_cifar_batch(p)
    _write_batch(p, 2, seed=0, labels=[0, 1, 2])
    with pytest.raises(DatasetError, match="3 labels for 2 images"):
        read_cifar_batch(p)
    _write_batch(p, 2, seed=0, labels=[0, 10])
    with pytest.raises(DatasetError, match=r"0\.\.9"):
        read_cifar_batch(p)
    p.write_bytes(pickle.dumps({b"labels": [0]}, protocol=4))
    with pytest.raises(DatasetError, match="data"):
        read_cifar_batch(p)
    p.write_bytes(pickle.dumps([1, 2], protocol=4))
    with pytest.raises(DatasetError, match="expected a dict"):
        read_cifar_batch(p)


def test_missing_files(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="data_batch_1"):
        read_cifar10(tmp_path, "train")
    folder, _, _ = _make_cifar(tmp_path)
    (folder / "test_batch").unlink()
    with pytest.raises(DatasetNotFoundError, match="test_batch.*cifar-10-batches-py"):
        read_cifar10(tmp_path, "test")
    (folder / "batches.meta").unlink()  # class names fall back to the standard ones
    assert read_cifar10(tmp_path, "train").classes == CIFAR10_CLASSES


def _py2_batch(data: np.ndarray, labels) -> bytes:
    """A protocol-2 pickle laid out as Python 2 + numpy 1.x wrote the official files (py2 str, numpy.core)."""
    import struct

    def s(b):  # py2 str -> BINSTRING
        return b"T" + struct.pack("<I", len(b)) + b

    n = data.shape[0]
    return (
        b"\x80\x02}(" + s(b"data")
        + b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + s(b"b") + b"\x87R"
        + b"(K\x01" + b"J" + struct.pack("<i", n) + b"M\x00\x0c\x86cnumpy\ndtype\n" + s(b"u1") + b"K\x00K\x01\x87R"
        + b"(K\x03" + s(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89" + s(data.tobytes()) + b"tb"
        + s(b"labels") + b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
        + s(b"batch_label") + s(b"training batch 1 of 5") + b"u."
    )


def test_python2_style_official_pickle(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, size=(3, 3072), dtype=np.uint8)
    p = tmp_path / "data_batch_1"
    p.write_bytes(_py2_batch(data, [4, 0, 9]))
    x, y = read_cifar_batch(p)
    assert np.array_equal(x.reshape(3, -1), data) and y.tolist() == [4, 0, 9]
