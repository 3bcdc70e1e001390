"""load_dataset (data-dir resolution, error messages, val carving), demo data sets, make_demo."""

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sionna_semcomm.data import (
    DATA_ENV_VAR,
    DatasetError,
    DatasetNotFoundError,
    ImageDataset,
    ImageFolderDataset,
    demo_dataset,
    load_dataset,
    load_npz_dataset,
    resolve_data_dir,
)
from sionna_semcomm.data import make_demo


def _make_cifar(root, n=20):
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name, seed in (("data_batch_1", 0), ("test_batch", 1)):
        rng = np.random.default_rng(seed)
        d = {b"batch_label": b"x", b"labels": [i % 10 for i in range(n)],
             b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"filenames": [b"f"] * n}
        (folder / name).write_bytes(pickle.dumps(d, protocol=4))


def _make_mnist_test(root, n=30):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    imgs = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labs = (np.arange(n) % 10).astype(np.uint8)
    for base, a in (("t10k-images-idx3-ubyte", imgs), ("t10k-labels-idx1-ubyte", labs)):
        hdr = struct.pack(">HBB", 0, 8, a.ndim) + struct.pack(f">{a.ndim}I", *a.shape)
        (raw / (base + ".gz")).write_bytes(gzip.compress(hdr + a.tobytes()))


def test_resolve_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    assert resolve_data_dir() == Path("~/.cache/sionna_semcomm/data").expanduser()
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"


def test_env_var_and_argument_precedence(tmp_path, monkeypatch):
    _make_cifar(tmp_path / "env")
    monkeypatch.setenv(DATA_ENV_VAR, str(tmp_path / "env"))
    assert len(load_dataset("cifar10", "train")) == 20
    with pytest.raises(DatasetNotFoundError):
        load_dataset("cifar10", "train", data_dir=tmp_path / "arg")


@pytest.mark.parametrize("name,missing", [("cifar10", "data_batch_1"), ("mnist", "train-images-idx3-ubyte.gz")])
def test_missing_message(tmp_path, monkeypatch, name, missing):
    monkeypatch.delenv(DATA_ENV_VAR, raising=False)
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset(name, "train", data_dir=tmp_path)
    msg = str(e.value)
    for part in (missing, str(tmp_path), "--data-dir", DATA_ENV_VAR, "download=True"):
        assert part in msg, (part, msg)


def test_val_carved_from_train(tmp_path):
    _make_cifar(tmp_path, n=20)
    full = load_dataset("cifar10", "train", data_dir=tmp_path)
    tr = load_dataset("cifar10", "train", data_dir=tmp_path, val_fraction=0.25, split_seed=1)
    va = load_dataset("cifar10", "val", data_dir=tmp_path, val_fraction=0.25, split_seed=1)
    assert len(tr) == 15 and len(va) == 5
    rows = {bytes(x.flatten().tolist()) for x in full.images}
    tr_rows = {bytes(x.flatten().tolist()) for x in tr.images}
    va_rows = {bytes(x.flatten().tolist()) for x in va.images}
    assert tr_rows.isdisjoint(va_rows) and tr_rows | va_rows == rows
    va2 = load_dataset("cifar10", "val", data_dir=tmp_path, val_fraction=0.25, split_seed=1)
    assert torch.equal(va.images, va2.images)
    with pytest.raises(DatasetError, match="val_fraction"):
        load_dataset("cifar10", "val", data_dir=tmp_path)
    with pytest.raises(DatasetError, match="val_fraction"):
        load_dataset("cifar10", "test", data_dir=tmp_path, val_fraction=0.1)
    with pytest.raises(DatasetError, match="unknown data set"):
        load_dataset("imagenet", "train", data_dir=tmp_path)


def test_imagefolder_via_load_dataset(tmp_path):
    for split in ("train", "val"):
        for cls in ("b", "a"):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (40, 20), (i * 50, 0, 0)).save(tmp_path / split / cls / f"{i}.png")
    ds = load_dataset("imagefolder", "val", data_dir=tmp_path, size=8)
    assert isinstance(ds, ImageFolderDataset) and ds.classes == ["a", "b"] and ds[0][0].shape == (3, 8, 8)
    tr = load_dataset("imagefolder", "train", data_dir=tmp_path, size=8, val_fraction=0.5, split_seed=0)
    assert len(tr) == 3 and tr.batch([0, 1, 2])[0].shape == (3, 3, 8, 8)
    with pytest.raises(DatasetNotFoundError, match="test"):
        load_dataset("imagefolder", "test", data_dir=tmp_path)


@pytest.mark.parametrize("name,shape", [("cifar10", (3, 32, 32)), ("mnist", (1, 28, 28))])
def test_demo_datasets(name, shape):
    ds = demo_dataset(name)
    assert isinstance(ds, ImageDataset)
    assert ds.images.shape == (40,) + shape and ds.images.dtype == torch.uint8
    assert ds.num_classes == 10 and len(ds.classes) == 10
    assert torch.equal(torch.bincount(ds.labels, minlength=10), torch.full((10,), 4))
    x, y = ds.batch(torch.arange(40))
    assert x.shape == (40,) + shape and 0 <= x.min() and x.max() <= 1 and x.std() > 0.05
    with pytest.raises(DatasetError):
        demo_dataset("svhn")


def test_make_demo_round_trip(tmp_path, capsys):
    _make_cifar(tmp_path / "data", n=20)
    _make_mnist_test(tmp_path / "data", n=30)
    out = tmp_path / "assets"
    assert make_demo.main(["--data-dir", str(tmp_path / "data"), "--out-dir", str(out), "--per-class", "2"]) == 0
    assert "cifar10_demo.npz" in capsys.readouterr().out
    test = load_dataset("cifar10", "test", data_dir=tmp_path / "data")
    demo = load_npz_dataset(out / "cifar10_demo.npz")
    assert len(demo) == 20 and demo.labels.tolist() == [c for c in range(10) for _ in range(2)]
    with np.load(out / "cifar10_demo.npz", allow_pickle=False) as z:
        src = torch.from_numpy(z["source_index"])
    assert torch.equal(demo.images, test.images[src]) and torch.equal(demo.labels, test.labels[src])
    mn = load_npz_dataset(out / "mnist_demo.npz")
    assert mn.images.shape == (20, 1, 28, 28) and mn.classes == [str(i) for i in range(10)]
