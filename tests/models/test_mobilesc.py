"""MobileSC codec: shapes, dtypes, validation, gradients, pinned parameter counts, a tiny overfit."""

import pytest
import torch
import torch.nn.functional as F

from sionna_semcomm.models import SemanticCodec, build_mobilesc, count_parameters, normalize_power

SMALL = {"channels": (8, 8), "num_blocks": 1, "expansion": 2}
SMALL_256 = {"channels": (4, 4, 4, 4), "num_blocks": 1, "expansion": 2}

# (image shape, K, hparams): the three datasets, small widths to keep the tests fast
CASES = [((1, 28, 28), 256, SMALL), ((3, 32, 32), 384, SMALL), ((3, 256, 256), 3072, SMALL_256)]


@pytest.mark.parametrize("shape, k, hp", CASES)
def test_shapes_dtypes_and_range(shape, k, hp):
    torch.manual_seed(0)
    codec = build_mobilesc(shape, k, **hp)
    assert isinstance(codec, SemanticCodec)
    assert codec.num_symbols == k and codec.image_shape == shape
    x = torch.rand(2, *shape)
    out = codec(x)
    assert set(out) == {"x_hat", "z", "z_hat"}
    assert out["z"].shape == (2, k) and out["z"].dtype == torch.complex64
    assert out["x_hat"].shape == (2, *shape) and out["x_hat"].dtype == torch.float32
    assert out["x_hat"].min() >= 0 and out["x_hat"].max() <= 1
    assert torch.equal(out["z"], out["z_hat"])  # no channel_fn: identity


def test_channel_fn_is_applied_between_encoder_and_decoder():
    torch.manual_seed(0)
    codec = build_mobilesc((3, 32, 32), 384, **SMALL).eval()
    x = torch.rand(3, 3, 32, 32)
    out = codec(x, normalize_power)
    torch.testing.assert_close(out["z_hat"].abs().square().mean(-1), torch.ones(3), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out["x_hat"], codec.decode(normalize_power(codec.encode(x))))


def test_encoder_emits_unnormalised_power():
    torch.manual_seed(0)
    codec = build_mobilesc((3, 32, 32), 384, **SMALL)
    p = codec.encode(torch.rand(2, 3, 32, 32)).abs().square().mean(-1)
    assert not torch.allclose(p, torch.ones(2))


@pytest.mark.parametrize(
    "x, match",
    [(torch.rand(3, 32, 32), "shape"), (torch.rand(2, 1, 32, 32), "channels"), (torch.rand(2, 3, 28, 28), "size"),
     (torch.rand(2, 3, 32, 32) * 2, r"\[0, 1\]"), (torch.rand(2, 3, 32, 32) - 0.5, r"\[0, 1\]"),
     (torch.full((1, 3, 32, 32), float("nan")), "non-finite"), (torch.ones(1, 3, 32, 32, dtype=torch.uint8), "floating")],
)
def test_encoder_input_validation(x, match):
    codec = build_mobilesc((3, 32, 32), 384, **SMALL)
    with pytest.raises(ValueError, match=match):
        codec.encode(x)


@pytest.mark.parametrize(
    "z, match",
    [(torch.randn(2, 768), "complex"), (torch.randn(2, 100, dtype=torch.complex64), "shape"),
     (torch.randn(2, 384, 1, dtype=torch.complex64), "shape")],
)
def test_decoder_input_validation(z, match):
    codec = build_mobilesc((3, 32, 32), 384, **SMALL)
    with pytest.raises(ValueError, match=match):
        codec.decode(z)


def test_config_errors():
    with pytest.raises(ValueError, match="K a multiple of 32"):
        build_mobilesc((3, 32, 32), 100)
    with pytest.raises(ValueError, match="unknown MobileSC"):
        build_mobilesc((3, 32, 32), 384, width=3)


def test_complex128_symbols_are_accepted():
    codec = build_mobilesc((3, 32, 32), 384, **SMALL)
    assert codec.decode(torch.randn(2, 384, dtype=torch.complex128)).dtype == torch.float32


def test_gradients_reach_every_parameter_default_cifar():
    torch.manual_seed(0)
    codec = build_mobilesc((3, 32, 32), 384)
    out = codec(torch.rand(2, 3, 32, 32))
    (out["x_hat"].sum() + out["z"].real.sum()).backward()
    for name, p in codec.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


# Pinned so that a change of the default architecture is noticed (paper: 805,464 / 804,955 on CIFAR-10).
@pytest.mark.parametrize(
    "shape, enc, dec",
    [((3, 32, 32), 726_860, 756_867), ((1, 28, 28), 723_400, 752_513), ((3, 256, 256), 788_408, 860_739)],
)
def test_default_parameter_counts(shape, enc, dec):
    codec = build_mobilesc(shape)
    assert (count_parameters(codec.encoder), count_parameters(codec.decoder)) == (enc, dec)
    if shape == (3, 32, 32):  # within 25% of the paper's Table III
        assert abs(enc / 805_464 - 1) < 0.25 and abs(dec / 804_955 - 1) < 0.25


def test_default_latent_layout():
    assert build_mobilesc((3, 32, 32)).latent_shape == (12, 8, 8)
    assert build_mobilesc((1, 28, 28)).num_symbols == 256
    assert build_mobilesc((3, 256, 256)).num_symbols == 3072


def test_tiny_overfit_lowers_mse():
    torch.manual_seed(0)
    codec = build_mobilesc((3, 32, 32), 384, channels=(16, 16), num_blocks=2)
    # smooth random images (bilinear up-sampling of 4x4 noise) so there is structure to learn
    x = F.interpolate(torch.rand(8, 3, 4, 4), size=(32, 32), mode="bilinear", align_corners=False)
    opt = torch.optim.Adam(codec.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = F.mse_loss(codec(x)["x_hat"], x)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
