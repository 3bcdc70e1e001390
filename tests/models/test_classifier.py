import pytest
import torch

from sionna_semcomm.models import PreActResNet, SymbolClassifier, count_parameters, preact_resnet18


@pytest.mark.parametrize("shape, width", [((1, 28, 28), 8), ((3, 32, 32), 8), ((3, 256, 256), 4)])
def test_preact_resnet_shapes(shape, width):
    torch.manual_seed(0)
    net = PreActResNet(shape[0], 10, width=width, blocks=(1, 1, 1, 1))
    logits = net(torch.rand(2, *shape))
    assert logits.shape == (2, 10) and logits.dtype == torch.float32 and torch.isfinite(logits).all()


def test_preact_resnet_default_size_and_gradients():
    torch.manual_seed(0)
    net = preact_resnet18(3, 10)
    assert count_parameters(net) == 701_018
    net(torch.rand(2, 3, 32, 32)).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_preact_block_ordering_is_bn_relu_conv():
    net = PreActResNet(3, 10, width=4, blocks=(1, 1))
    block = net.layers[1]  # the down-sampling block has a 1x1 projection shortcut
    assert block.shortcut is not None and block.shortcut.stride == (2, 2)
    names = [n for n, _ in block.named_children()]
    assert names[:4] == ["bn1", "conv1", "bn2", "conv2"]


def test_preact_resnet_validation():
    net = PreActResNet(3, 10, width=4, blocks=(1,))
    with pytest.raises(ValueError, match="channels"):
        net(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        net(torch.rand(2, 3, 32, 32) + 1)
    with pytest.raises(ValueError, match="shape"):
        net(torch.rand(3, 32, 32))


@pytest.mark.parametrize("latent_shape", [None, (12, 8, 8)])
def test_symbol_classifier_shapes_and_gradients(latent_shape):
    torch.manual_seed(0)
    clf = SymbolClassifier(384, 10, hidden=64, latent_shape=latent_shape)
    z = torch.randn(4, 384, dtype=torch.complex64, requires_grad=True)
    logits = clf(z)
    assert logits.shape == (4, 10) and logits.dtype == torch.float32
    logits.sum().backward()
    assert z.grad is not None and torch.isfinite(z.grad).all()
    for name, p in clf.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_symbol_classifier_validation():
    with pytest.raises(ValueError, match="latent_shape"):
        SymbolClassifier(384, latent_shape=(12, 4, 4))
    clf = SymbolClassifier(384, hidden=16)
    with pytest.raises(ValueError, match="complex"):
        clf(torch.randn(2, 768))
    with pytest.raises(ValueError, match="shape"):
        clf(torch.randn(2, 256, dtype=torch.complex64))
