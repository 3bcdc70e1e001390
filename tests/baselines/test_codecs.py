"""Reference codecs (MobileNetV2-style, Deep-JSCC-style): interface, shapes, gradients, counts."""

import pytest
import torch

from baselines.codecs import build_deepjscc, build_mobilenetv2, register_baseline_codecs
from sionna_semcomm.models import count_parameters, default_registry, table3

SMALL = {
    "mobilenetv2": {"stages": ((1, 8, 1, 1), (2, 8, 1, 2), (2, 8, 1, 1)), "stem_channels": 8},
    "deepjscc": {"channels": (8, 8), "num_plain": 1},
}
SMALL_256 = {
    "mobilenetv2": {"stages": ((1, 4, 1, 2), (2, 4, 1, 2), (2, 4, 1, 2)), "stem_channels": 4},
    "deepjscc": {"channels": (4, 4, 4, 4), "num_plain": 1},
}
BUILD = {"mobilenetv2": build_mobilenetv2, "deepjscc": build_deepjscc}


@pytest.mark.parametrize("name", ["mobilenetv2", "deepjscc"])
@pytest.mark.parametrize("shape, k", [((1, 28, 28), 256), ((3, 32, 32), 384), ((3, 256, 256), 3072)])
def test_shapes_dtypes_range(name, shape, k):
    torch.manual_seed(0)
    hp = SMALL_256[name] if shape[1] == 256 else SMALL[name]
    codec = BUILD[name](shape, k, **hp)
    out = codec(torch.rand(2, *shape))
    assert out["z"].shape == (2, k) and out["z"].dtype == torch.complex64
    assert out["x_hat"].shape == (2, *shape) and out["x_hat"].dtype == torch.float32
    assert 0 <= out["x_hat"].min() and out["x_hat"].max() <= 1


@pytest.mark.parametrize("name", ["mobilenetv2", "deepjscc"])
def test_validation(name):
    codec = BUILD[name]((3, 32, 32), 384, **SMALL[name])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        codec.encode(torch.rand(1, 3, 32, 32) * 3)
    with pytest.raises(ValueError, match="channels"):
        codec.encode(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="complex"):
        codec.decode(torch.randn(1, 768))
    with pytest.raises(ValueError, match="unknown"):
        BUILD[name]((3, 32, 32), 384, nonsense=1)


@pytest.mark.parametrize("name", ["mobilenetv2", "deepjscc"])
def test_gradients_reach_every_parameter_default(name):
    torch.manual_seed(0)
    codec = BUILD[name]((3, 32, 32), 384)
    codec(torch.rand(2, 3, 32, 32))["x_hat"].sum().backward()
    for pname, p in codec.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname


# Pinned defaults for CIFAR-10, K=384 (paper Table III: MobileNetV2 1,476,032 / 1,475,521,
# JSCC 2,760,128 / 2,759,617).
@pytest.mark.parametrize(
    "name, enc, dec, paper_enc, paper_dec",
    [("mobilenetv2", 1_355_084, 1_518_195, 1_476_032, 1_475_521),
     ("deepjscc", 2_780_282, 2_780_273, 2_760_128, 2_759_617)],
)
def test_default_parameter_counts(name, enc, dec, paper_enc, paper_dec):
    codec = BUILD[name]((3, 32, 32), 384)
    assert (count_parameters(codec.encoder), count_parameters(codec.decoder)) == (enc, dec)
    assert abs(enc / paper_enc - 1) < 0.1 and abs(dec / paper_dec - 1) < 0.1


def test_mobilenetv2_uses_inverted_residuals_with_relu6_and_linear_bottleneck():
    from baselines.codecs import InvertedResidual

    codec = build_mobilenetv2((3, 32, 32), 384)
    blocks = [m for m in codec.encoder.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == 16 and any(b.use_shortcut for b in blocks)
    last = blocks[-1].body
    assert isinstance(last[-1], torch.nn.BatchNorm2d) and isinstance(last[-2], torch.nn.Conv2d)  # linear
    assert any(isinstance(m, torch.nn.ReLU6) for m in last)


def test_registration_through_explicit_call():
    reg = default_registry()
    assert "deepjscc" not in reg
    register_baseline_codecs(reg)
    assert reg.names() == ["deepjscc", "mobilenetv2", "mobilesc"]
    codec = reg.create("mobilenetv2", (3, 32, 32), 384, **SMALL["mobilenetv2"])
    assert codec.num_symbols == 384
    rows = table3((3, 32, 32), 384, reg, names=["deepjscc"], batch_size=2, repeats=1, num_images=10)
    assert [r["paper_params"] for r in rows] == [2_760_128, 2_759_617]
