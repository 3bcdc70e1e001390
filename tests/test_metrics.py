"""Tests for sionna_semcomm.metrics."""

import doctest
import json
import math

import pytest
import torch

from sionna_semcomm import metrics
from sionna_semcomm.metrics import (
    PSNR_MAX_DB,
    accuracy,
    confusion_matrix,
    misleading_rate,
    per_class_mean,
    psnr,
    ssim,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _structured(c, h, w):
    """Smooth gradients, a bright square and a sinusoid: an image with real structure in [0, 1]."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    base = 0.4 * xx + 0.3 * yy + 0.15 * torch.sin(12 * xx) * torch.cos(9 * yy)
    base[h // 4 : h // 2, w // 3 : 2 * w // 3] += 0.3
    img = torch.stack([base * (0.7 + 0.15 * k) for k in range(c)])
    return img.clamp(0, 1)


def test_docstring_examples_run():
    assert doctest.testmod(metrics).failed == 0


# ---------------------------------------------------------------- PSNR


def test_psnr_known_value_and_shape():
    x = torch.zeros(3, 1, 4, 4)
    x_hat = x.clone()
    x_hat[0] += 0.1  # MSE 0.01 -> 20 dB
    x_hat[1, 0, 0, 0] = 1.0  # MSE 1/16 -> 12.04 dB
    out = psnr(x_hat, x)
    assert out.shape == (3,) and out.dtype == torch.float64
    assert out[0].item() == pytest.approx(20.0, abs=1e-5)  # 0.1 is inexact in float32
    assert out[1].item() == pytest.approx(10 * math.log10(16), abs=1e-9)
    assert out[2].item() == PSNR_MAX_DB  # identical image: capped, not inf


def test_psnr_data_range_255_matches_unit_range():
    g = _gen(1)
    x = torch.rand(2, 3, 8, 8, generator=g)
    y = torch.rand(2, 3, 8, 8, generator=g)
    assert torch.allclose(psnr(y, x), psnr(255 * y, 255 * x, data_range=255.0))


def test_psnr_is_json_safe():
    x = torch.rand(2, 3, 8, 8, generator=_gen(2))
    json.dumps(psnr(x, x).tolist(), allow_nan=False)


# ---------------------------------------------------------------- SSIM


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 48, 64)])
@pytest.mark.parametrize("kind", ["random", "structured"])
def test_ssim_matches_skimage(shape, kind):
    skm = pytest.importorskip("skimage.metrics")
    g = _gen(3)
    if kind == "random":
        x = torch.rand(shape, generator=g)
    else:
        x = _structured(*shape)
    # Three distortion levels: noise, blur-like averaging and a contrast change.
    noisy = (x + 0.08 * torch.randn(shape, generator=g)).clamp(0, 1)
    smooth = (0.5 * x + 0.25 * x.roll(1, -1) + 0.25 * x.roll(1, -2)).clamp(0, 1)
    contrast = 0.6 * x + 0.2
    x_hat = torch.stack([noisy, smooth, contrast])
    ref = torch.stack([x, x, x])
    ours = ssim(x_hat, ref)
    assert ours.shape == (3,)
    for i in range(3):
        expected = skm.structural_similarity(
            x_hat[i].double().numpy(),
            ref[i].double().numpy(),
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
            data_range=1.0,
            channel_axis=0,
        )
        # Both average the SSIM map over the same valid (H-10)x(W-10) positions; the window of
        # pytorch_msssim is built in float32, hence agreement to ~1e-7 rather than 1e-15.
        assert ours[i].item() == pytest.approx(expected, abs=1e-5)


def test_ssim_identity_range_and_grad():
    x = torch.rand(2, 3, 32, 32, generator=_gen(4))
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    y = torch.rand(2, 3, 32, 32, generator=_gen(5), requires_grad=True)
    s = ssim(y, x)
    assert ((s > -1) & (s < 1)).all()
    s.sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()


def test_ssim_rejects_images_smaller_than_window():
    x = torch.rand(1, 1, 10, 32)
    with pytest.raises(ValueError, match="smaller than"):
        ssim(x, x)


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("fn", [psnr, ssim])
def test_image_validation(fn):
    x = torch.rand(2, 3, 16, 16, generator=_gen(6))
    with pytest.raises(ValueError, match="shape mismatch"):
        fn(x[:1], x)
    with pytest.raises(ValueError, match=r"\[B, C, H, W\]"):
        fn(x[0], x[0])
    with pytest.raises(ValueError, match=r"x_hat has values in \[0\.\d+, 1\.9\d+\], outside"):
        fn(x * 2, x)
    with pytest.raises(ValueError, match=r"^x has values in \[-0\.4\d+, 0\.\d+\], outside"):
        fn(x, x - 0.5)
    bad = x.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="x_hat contains NaN"):
        fn(bad, x)
    with pytest.raises(ValueError, match="^x contains NaN"):
        fn(x, bad)
    # Small round-off beyond [0, 1] is tolerated.
    fn((x + 1e-5).clamp(max=1 + 1e-5), x)


# ---------------------------------------------------------------- classification


def test_accuracy_logits_and_predictions():
    logits = torch.tensor([[2.0, 0.1, 0.0], [0.0, 0.2, 3.0], [1.0, 5.0, 0.0], [0.3, 0.2, 0.1]])
    labels = torch.tensor([0, 2, 0, 1])
    assert accuracy(logits, labels) == 0.5
    assert accuracy(torch.tensor([0, 2, 1, 0]), labels) == 0.5
    assert isinstance(accuracy(logits, labels), float)
    with pytest.raises(ValueError, match="mismatch"):
        accuracy(logits, labels[:3])
    with pytest.raises(ValueError, match="empty"):
        accuracy(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long))


def test_per_class_mean_with_missing_class():
    values = torch.tensor([1.0, 3.0, 10.0, 0.5])
    labels = torch.tensor([0, 0, 2, 3])
    out = per_class_mean(values, labels, num_classes=5)
    assert out == [2.0, None, 10.0, 0.5, None]
    json.dumps(out, allow_nan=False)
    # bool "correct" masks give per-class accuracy
    assert per_class_mean(torch.tensor([True, False, True]), torch.tensor([1, 1, 0]), 2) == [1.0, 0.5]
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        per_class_mean(values, labels, num_classes=3)
    with pytest.raises(ValueError, match="mismatch"):
        per_class_mean(values[:3], labels, num_classes=5)


def test_misleading_rate():
    labels = torch.tensor([0, 1, 1, 2, 3, 3])
    pred = torch.tensor([3, 3, 1, 3, 3, 0])
    # eligible: true class != 3 -> indices 0..3; predicted 3 at 0, 1, 3 -> 3/4
    assert misleading_rate(pred, labels, target_class=3) == 0.75
    assert misleading_rate(pred, labels, target_class=3, source_classes=[1]) == 0.5
    # target class listed as a source is still excluded
    assert misleading_rate(pred, labels, target_class=3, source_classes=[2, 3]) == 1.0
    assert misleading_rate(pred, labels, target_class=3, source_classes=[5]) is None
    logits = torch.nn.functional.one_hot(pred, 4).float()
    assert misleading_rate(logits, labels, target_class=3) == 0.75


def test_confusion_matrix():
    labels = torch.tensor([0, 0, 1, 2, 2, 2])
    pred = torch.tensor([0, 1, 1, 2, 0, 2])
    cm = confusion_matrix(pred, labels, 3)
    assert cm.dtype == torch.int64
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]
    assert int(cm.sum()) == 6
    assert cm.diagonal().sum().item() / 6 == accuracy(pred, labels)
    with pytest.raises(ValueError, match="predictions"):
        confusion_matrix(torch.tensor([0, 3]), torch.tensor([0, 1]), 3)
