"""Batched augmentation and learning-rate schedules."""

import math

import pytest
import torch

from sionna_semcomm.augment import augment_batch, lr_at


def _gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_augmentation_keeps_shapes_and_is_deterministic(dtype):
    x = (torch.rand(16, 3, 32, 32) * 255).to(dtype)
    a = augment_batch(x, "crop_flip", _gen(1))
    b = augment_batch(x, "crop_flip", _gen(1))
    assert a.shape == x.shape and a.dtype == dtype and torch.equal(a, b)
    assert not torch.equal(a, augment_batch(x, "crop_flip", _gen(2)))
    assert torch.equal(augment_batch(x, "none", _gen(1)), x)


def test_flip_and_crop_are_what_they_say():
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).reshape(2, 1, 8, 8)
    flipped = augment_batch(x, "flip", _gen(0))
    for i in range(2):  # every image is itself or its mirror image
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(-1))
    # crops of a large batch: each is a window of the reflect-padded image (maybe mirrored)
    xb = torch.rand(64, 3, 8, 8)
    out = augment_batch(xb, "crop_flip", _gen(0), padding=2)
    padded = torch.nn.functional.pad(xb, (2, 2, 2, 2), mode="reflect")
    for i in range(64):
        found = any(torch.equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8]) or
                    torch.equal(out[i], padded[i, :, dy:dy + 8, dx:dx + 8].flip(-1))
                    for dy in range(5) for dx in range(5))
        assert found, i
    assert not torch.equal(out, xb)
    crops = augment_batch(xb, "crop", _gen(0), padding=2)  # the same windows, never mirrored
    assert all(any(torch.equal(crops[i], padded[i, :, dy:dy + 8, dx:dx + 8]) for dy in range(5) for dx in range(5))
               for i in range(64))
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment_batch(xb, "rotate", _gen(0))


def test_schedules():
    base = 1e-3
    # warm-up: linear to base
    assert lr_at(0, 100, base, "cosine", warmup_steps=10) == pytest.approx(base / 10)
    assert lr_at(9, 100, base, "cosine", warmup_steps=10) == pytest.approx(base)
    # cosine: base after warm-up, half-way at the middle of the rest, floor at the end
    assert lr_at(10, 110, base, "cosine", warmup_steps=10) == pytest.approx(base)
    assert lr_at(60, 110, base, "cosine", warmup_steps=10) == pytest.approx(base / 2)
    assert lr_at(110, 110, base, "cosine", warmup_steps=10, min_lr_ratio=0.1) == pytest.approx(base * 0.1)
    # wsd: constant until the last 20 %, then a cosine down
    assert lr_at(79, 100, base, "wsd") == base and lr_at(80, 100, base, "wsd") == pytest.approx(base)
    assert lr_at(90, 100, base, "wsd") == pytest.approx(base / 2)
    # extending a run during its stable phase changes nothing already done
    assert all(lr_at(s, 100, base, "wsd") == lr_at(s, 1000, base, "wsd") for s in range(80))
    assert lr_at(49, 100, base, "step") == base and lr_at(50, 100, base, "step") == pytest.approx(base / 10)
    assert lr_at(75, 100, base, "step") == pytest.approx(base / 100)
    assert lr_at(5, 100, base) == base
    assert all(math.isfinite(lr_at(s, 1, base, "wsd", warmup_steps=3)) for s in range(5))
    with pytest.raises(ValueError, match="schedule"):
        lr_at(0, 10, base, "linear")
