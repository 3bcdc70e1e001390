"""Image-folder data set: class order, RGB conversion, resizing/cropping, errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from sionna_semcomm.data import DatasetError, DatasetNotFoundError, ImageDataset, ImageFolderDataset


def _make_folder(root):
    specs = {"n02_dog": [((40, 30), "RGB", ".png"), ((50, 50), "L", ".jpg")],
             "n01_cat": [((20, 60), "RGBA", ".PNG")],
             "n03_emu": [((64, 48), "P", ".bmp"), ((33, 33), "RGB", ".jpeg")]}
    rng = np.random.default_rng(0)
    for cls, items in specs.items():
        (root / cls).mkdir(parents=True)
        for i, (size, mode, ext) in enumerate(items):
            arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
            Image.fromarray(arr).convert(mode).save(root / cls / f"img{i}{ext}")
    (root / "n01_cat" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    return root


def test_classes_and_sizes(tmp_path):
    root = _make_folder(tmp_path / "train")
    ds = ImageFolderDataset(root, size=16)
    assert ds.classes == ["n01_cat", "n02_dog", "n03_emu"]
    assert len(ds) == 5 and ds.labels.tolist() == [0, 1, 1, 2, 2] and ds.labels.dtype == torch.int64
    for i in range(len(ds)):
        x, y = ds[i]
        assert x.shape == (3, 16, 16) and x.dtype == torch.float32 and 0 <= x.min() and x.max() <= 1
    xb, yb = ds.batch([4, 0])
    assert xb.shape == (2, 3, 16, 16) and yb.tolist() == [2, 0]
    mem = ds.to_memory()
    assert isinstance(mem, ImageDataset) and mem.images.shape == (5, 3, 16, 16) and mem.classes == ds.classes
    sub = ds.subset([1, 2])
    assert len(sub) == 2 and sub.labels.tolist() == [1, 1] and sub[0][0].shape == (3, 16, 16)
    assert ImageFolderDataset(root, size=8, resize=12)[0][0].shape == (3, 8, 8)


def test_default_size_and_center_crop(tmp_path):
    (tmp_path / "a").mkdir()
    arr = np.zeros((300, 400, 3), np.uint8)
    arr[:, 200:] = 255  # right half white
    Image.fromarray(arr).save(tmp_path / "a" / "x.png")
    ds = ImageFolderDataset(tmp_path)
    x, _ = ds[0]
    assert x.shape == (3, 256, 256)
    # resized to 341x256, crop keeps the middle: left part black, right part white
    assert x[:, :, :100].max() == 0 and x[:, :, -100:].min() == 1
    native = ImageFolderDataset(tmp_path, size=None)
    assert native[0][0].shape == (3, 300, 400)


def test_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        ImageFolderDataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no class sub-folders"):
        ImageFolderDataset(tmp_path / "empty")
    (tmp_path / "empty" / "cls").mkdir()
    with pytest.raises(DatasetError, match="has no images"):
        ImageFolderDataset(tmp_path / "empty")
    (tmp_path / "empty" / "cls" / "bad.jpg").write_bytes(b"garbage")
    ds = ImageFolderDataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match=r"bad\.jpg is not a readable image"):
        ds[0]
    with pytest.raises(ValueError):
        ImageFolderDataset(tmp_path / "empty", size=32, resize=16)
