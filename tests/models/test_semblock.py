import pytest
import torch

from sionna_semcomm.models.semblock import SemBlock, SqueezeExcitation, StructureAwareGate, make_activation


@pytest.mark.parametrize("sa_position", ["thin", "expanded"])
@pytest.mark.parametrize("hw", [(8, 8), (4, 6)])
def test_semblock_keeps_shape_and_is_differentiable(sa_position, hw):
    torch.manual_seed(0)
    block = SemBlock(16, expansion=3, kernel_size=5, sa_position=sa_position)
    x = torch.randn(2, 16, *hw, requires_grad=True)
    y = block(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    for name, p in block.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_semblock_split_kernel_is_k_by_1_then_1_by_k_depthwise():
    block = SemBlock(8, expansion=2, kernel_size=5)
    kx1, onexk = block.depthwise[0], block.depthwise[1]
    assert kx1.kernel_size == (5, 1) and onexk.kernel_size == (1, 5)
    assert kx1.groups == kx1.in_channels == 16 and onexk.groups == 16


def test_fused_expanded_gates_equal_sequential_application():
    torch.manual_seed(0)
    block = SemBlock(8, expansion=2, sa_position="expanded").eval()
    x = torch.randn(3, 8, 5, 7)
    y = block.depthwise(block.expand(x))
    y = block.structure(block.attention(y))
    torch.testing.assert_close(block(x), x + block.project(y), rtol=1e-5, atol=1e-5)


def test_thin_gate_applies_after_projection():
    torch.manual_seed(0)
    block = SemBlock(8, expansion=2, sa_position="thin").eval()
    x = torch.randn(3, 8, 5, 7)
    y = block.project(block.attention(block.depthwise(block.expand(x))))
    torch.testing.assert_close(block(x), x + block.structure(y), rtol=1e-5, atol=1e-5)


def test_attention_modules_and_disabling():
    x = torch.randn(2, 12, 4, 4)
    assert SqueezeExcitation(12)(x).shape == x.shape
    assert StructureAwareGate(12)(x).shape == x.shape
    plain = SemBlock(12, se_reduction=0, sa_reduction=0)
    assert plain.attention is None and plain.structure is None
    assert plain(x).shape == x.shape


def test_semblock_argument_errors():
    with pytest.raises(ValueError, match="odd"):
        SemBlock(8, kernel_size=4)
    with pytest.raises(ValueError, match="sa_position"):
        SemBlock(8, sa_position="middle")
    with pytest.raises(ValueError, match="unknown activation"):
        make_activation("gelu", 4)
