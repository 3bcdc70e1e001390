"""ImageDataset and train_val_split."""

import pytest
import torch

from sionna_semcomm.data import DatasetError, ImageDataset, train_val_split


def _ds(n=10):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 4, 5), dtype=torch.uint8, generator=g)
    labels = torch.arange(n) % 3
    return ImageDataset(images, labels, ["a", "b", "c"], name="toy")


def test_item_and_batch():
    ds = _ds()
    x, y = ds[2]
    assert x.shape == (3, 4, 5) and x.dtype == torch.float32 and isinstance(y, int) and y == 2
    assert torch.equal(x, ds.images[2].float() / 255)
    xb, yb = ds.batch(torch.tensor([0, 9, -1]))
    assert xb.shape == (3, 3, 4, 5) and xb.dtype == torch.float32 and yb.dtype == torch.int64
    assert yb.tolist() == [0, 0, 0]
    assert 0.0 <= xb.min() and xb.max() <= 1.0
    assert torch.equal(xb[2], xb[1])
    assert len(ds) == 10 and ds.num_classes == 3 and ds.image_shape == (3, 4, 5)
    with pytest.raises(IndexError):
        ds.batch([10])


def test_batches_and_subset():
    ds = _ds(10)
    sizes = [x.shape[0] for x, _ in ds.batches(4)]
    assert sizes == [4, 4, 2]
    assert [x.shape[0] for x, _ in ds.batches(4, drop_last=True)] == [4, 4]
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    a = torch.cat([y for _, y in ds.batches(3, shuffle=True, generator=g1)])
    b = torch.cat([y for _, y in ds.batches(3, shuffle=True, generator=g2)])
    assert torch.equal(a, b) and sorted(a.tolist()) == sorted(ds.labels.tolist())
    sub = ds.subset([1, 4])
    assert isinstance(sub, ImageDataset) and len(sub) == 2 and sub.classes == ds.classes
    assert torch.equal(sub.images[1], ds.images[4])


def test_validation():
    with pytest.raises(DatasetError, match="uint8"):
        ImageDataset(torch.zeros(2, 1, 2, 2), torch.zeros(2, dtype=torch.int64), ["a"])
    with pytest.raises(DatasetError, match="labels"):
        ImageDataset(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.zeros(3, dtype=torch.int64), ["a"])
    with pytest.raises(DatasetError, match="0..0"):
        ImageDataset(torch.zeros(2, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1]), ["a"])


def test_train_val_split():
    tr, va = train_val_split(1000, 0.1, seed=3)
    assert tr.dtype == va.dtype == torch.int64
    assert len(va) == 100 and len(tr) == 900
    assert set(tr.tolist()).isdisjoint(va.tolist())
    assert sorted(tr.tolist() + va.tolist()) == list(range(1000))
    tr2, va2 = train_val_split(1000, 0.1, seed=3)
    assert torch.equal(tr, tr2) and torch.equal(va, va2)
    _, va3 = train_val_split(1000, 0.1, seed=4)
    assert not torch.equal(va, va3)
    tr0, va0 = train_val_split(7, 0.0, seed=0)
    assert len(va0) == 0 and tr0.tolist() == list(range(7))
    assert len(train_val_split(5, 0.01, 0)[1]) == 1
    with pytest.raises(ValueError):
        train_val_split(10, 1.0, 0)


def test_split_does_not_touch_global_rng():
    torch.manual_seed(0)
    a = torch.rand(1)
    torch.manual_seed(0)
    train_val_split(100, 0.2, seed=1)
    assert torch.equal(torch.rand(1), a)
