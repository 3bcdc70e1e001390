"""Training sources: the CIFAR-10 JPEG folder, alone and mixed with the pixel-exact batches."""

import numpy as np
import pytest
import torch
from PIL import Image

from sionna_semcomm.data import load_dataset
from sionna_semcomm.data.errors import DatasetError, DatasetNotFoundError
from sionna_semcomm.data.sources import find_jpeg_copies, load_image_folder_uint8, load_training_data


def _jpeg_folder(root, exact, extra_per_class=2, quality=90):
    """``root/cifar-10-jpeg/train/<class>/NNNN.jpg``: JPEG copies of every exact row (in reverse order, so the
    file order says nothing about the match) plus ``extra_per_class`` other images per class."""
    rng = np.random.default_rng(1)
    folder = root / "cifar-10-jpeg" / "train"
    counts = {}
    items = [(exact.images[i].permute(1, 2, 0).numpy(), int(exact.labels[i])) for i in reversed(range(len(exact)))]
    for c in range(10):
        for _ in range(extra_per_class):
            items.append((rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), c))
    for arr, label in items:
        cls = folder / exact.classes[label]
        cls.mkdir(parents=True, exist_ok=True)
        n = counts[label] = counts.get(label, -1) + 1
        Image.fromarray(arr).save(cls / f"{n:04d}.jpg", quality=quality)
    return folder


@pytest.fixture()
def data_dir(tmp_path, make_cifar_dir, monkeypatch):
    monkeypatch.setenv("SIONNA_SEMCOMM_CACHE", str(tmp_path / "cache"))
    root = make_cifar_dir(tmp_path / "data", n=40)
    _jpeg_folder(root, load_dataset("cifar10", "train", root))
    return root


def test_jpeg_folder_reads_classes_in_official_order_with_labels(data_dir):
    exact = load_dataset("cifar10", "train", data_dir)
    ds = load_image_folder_uint8(data_dir / "cifar-10-jpeg" / "train", classes=exact.classes)
    assert ds.images.dtype == torch.uint8 and ds.image_shape == (3, 32, 32) and len(ds) == 40 + 20
    assert ds.classes == [f"c{i}" for i in range(10)]
    assert torch.bincount(ds.labels, minlength=10).tolist() == [6] * 10
    # JPEG decoding: each copy is close to its exact row (quality 90) but not equal
    copies = find_jpeg_copies(exact, ds)
    assert (copies >= 0).all() and len(set(copies.tolist())) == len(exact)
    assert (ds.labels[copies] == exact.labels).all()
    err = (ds.images[copies].float() - exact.images.float()).abs().mean()
    assert 0 < err < 8
    # the uint8 cache returns the same images
    again = load_image_folder_uint8(data_dir / "cifar-10-jpeg" / "train", classes=exact.classes)
    assert torch.equal(again.images, ds.images) and torch.equal(again.labels, ds.labels)


def test_both_replaces_jpeg_copies_by_exact_rows_and_validates_on_exact_rows(data_dir):
    d = load_training_data("cifar10", "both", data_dir, val_fraction=0.25, split_seed=0)
    exact = load_dataset("cifar10", "train", data_dir)
    assert d.info["jpeg_copies_removed"] == 40 and d.info["train_source"] == "both"
    assert len(d.val) == 10 and len(d.train) == 30 + 20 and d.info["train_images"] == 50
    # the first exact_train_images rows of the training set are the pixel-exact rows (the rest JPEG images)
    assert d.info["exact_train_images"] == 30
    exact_rows = {bytes(e.numpy()) for e in exact.images}
    assert all(bytes(t.numpy()) in exact_rows for t in d.train.images[:30])
    assert not any(bytes(t.numpy()) in exact_rows for t in d.train.images[30:])
    # validation images are exact rows, and neither they nor their JPEG copies are in the training set
    val_rows = {bytes(v.numpy()) for v in d.val.images}
    assert val_rows <= {bytes(e.numpy()) for e in exact.images}
    assert not val_rows & {bytes(t.numpy()) for t in d.train.images}
    jpeg = load_image_folder_uint8(data_dir / "cifar-10-jpeg" / "train", classes=exact.classes)
    val_copies = {bytes(jpeg.images[i].numpy()) for i in find_jpeg_copies(d.val, jpeg).tolist()}
    assert len(val_copies) == 10 and not val_copies & {bytes(t.numpy()) for t in d.train.images}


def test_jpeg_source_alone_and_batches_source(data_dir):
    d = load_training_data("cifar10", "jpeg", data_dir, val_fraction=0.2, split_seed=3)
    assert len(d.train) + len(d.val) == 60 and d.info["jpeg_images"] == 60 and d.info["exact_train_images"] == 0
    b = load_training_data("cifar10", "batches", data_dir, val_fraction=0.2, split_seed=3)
    assert len(b.train) + len(b.val) == 40 and b.info["train_source"] == "batches"
    assert b.info["exact_train_images"] == len(b.train)


def test_bad_sources_name_the_problem(tmp_path, make_cifar_dir, monkeypatch):
    monkeypatch.setenv("SIONNA_SEMCOMM_CACHE", str(tmp_path / "cache"))
    root = make_cifar_dir(tmp_path / "d")
    with pytest.raises(DatasetNotFoundError, match="cifar-10-jpeg"):
        load_training_data("cifar10", "jpeg", root)
    # "both" without a JPEG folder (the official download): the batches alone, recorded as such
    assert load_training_data("cifar10", "both", root).info["train_source"] == "batches"
    with pytest.raises(DatasetError, match="unknown training source"):
        load_training_data("cifar10", "web", root)
    with pytest.raises(DatasetError, match="cifar10 only"):
        load_training_data("mnist", "both", root)
    (root / "cifar-10-jpeg" / "train" / "zebra").mkdir(parents=True)
    with pytest.raises(DatasetError, match="do not match the CIFAR-10 classes"):
        load_training_data("cifar10", "jpeg", root)
