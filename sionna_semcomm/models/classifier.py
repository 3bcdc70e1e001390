"""Classifiers at the receiver: on reconstructed images, or directly on the received symbols.

Paper Sec. II-F: "Here we use ResNet-preact [57] to compute the probability for each class type";
Sec. IV-B: "The receiver optionally feeds latent representations to the classifier or to the semantic
decoder." :class:`PreActResNet` is the first, :class:`SymbolClassifier` the second.

Default sizes are chosen for CPU training (a few thousand CIFAR-10 images in minutes): base width 16
instead of 64, so the PreActResNet-18 layout has ~0.70 M parameters instead of ~11 M.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .codec import _as_param_dtype, check_images, check_symbols, complex_to_reals

__all__ = ["PreActBlock", "PreActResNet", "SymbolClassifier", "preact_resnet18"]


class PreActBlock(nn.Module):
    """Pre-activation basic block (He et al. 2016, "Identity mappings in deep residual networks"):
    ``BN-ReLU-conv3x3-BN-ReLU-conv3x3`` plus an identity shortcut, or a 1x1 convolution of the
    pre-activated input when the stride or the width changes.

    :input x: float [B, C_in, H, W].
    :output: float [B, C_out, ceil(H/stride), ceil(W/stride)].
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.shortcut = None
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(x))
        skip = x if self.shortcut is None else self.shortcut(out)
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + skip


class PreActResNet(nn.Module):
    """Pre-activation ResNet image classifier.

    Layout: stem conv3x3 -> 4 stages of :class:`PreActBlock` (widths ``w, 2w, 4w, 8w``, strides
    1, 2, 2, 2) -> BN-ReLU -> adaptive average pool -> linear. For small images (min side < 128: MNIST,
    CIFAR-10) the stem has stride 1, as in the CIFAR ResNets; for large images (ImageNet 256x256) the stem
    is a stride-2 conv followed by a 3x3 stride-2 max-pool, as in the ImageNet ResNets.

    :param in_channels: image channels (1 for MNIST, 3 for colour).
    :param num_classes: number of classes.
    :param width: base width ``w`` (16 by default; the original PreActResNet-18 uses 64).
    :param blocks: blocks per stage (``(2, 2, 2, 2)``: PreActResNet-18).
    :param large_input: force the ImageNet-style stem (``True``) or the CIFAR-style one (``False``);
        ``None`` decides per call from the input size.

    :input x: float [B, in_channels, H, W] in [0, 1] (``ValueError`` otherwise; set ``check_input``
        False to skip the range check); scaled to [-1, 1] inside, like the codecs.
    :output logits: float [B, num_classes].

    Example::

        >>> net = PreActResNet(3, 10)
        >>> net(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 10])
    """

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 16,
                 blocks: Sequence[int] = (2, 2, 2, 2), large_input: bool | None = None):
        super().__init__()
        if width < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError(f"in_channels, num_classes and width must be >= 1, got {in_channels}, {num_classes}, {width}")
        blocks = tuple(int(b) for b in blocks)
        if not blocks or min(blocks) < 1:
            raise ValueError(f"blocks must be a non-empty sequence of positive ints, got {blocks}")
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.large_input = large_input
        self.check_input = True
        self.stem_small = nn.Conv2d(in_channels, width, 3, padding=1, bias=False)
        # Same weights, used with stride 2 + max-pool for large images (see class docstring).
        layers: list[nn.Module] = []
        c_in = width
        for i, n in enumerate(blocks):
            c_out = width * 2 ** i
            for j in range(n):
                layers.append(PreActBlock(c_in, c_out, stride=2 if (i > 0 and j == 0) else 1))
                c_in = c_out
        self.layers = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(c_in)
        self.fc = nn.Linear(c_in, num_classes)

    def _stem(self, x: torch.Tensor) -> torch.Tensor:
        large = self.large_input if self.large_input is not None else min(x.shape[-2:]) >= 128
        if not large:
            return self.stem_small(x)
        x = F.conv2d(x, self.stem_small.weight, stride=2, padding=1)
        return F.max_pool2d(x, 3, stride=2, padding=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, C, H, W] in [0, 1] -> pooled features [B, 8w]."""
        check_images(x, check_range=self.check_input)
        if x.shape[1] != self.in_channels:
            raise ValueError(f"x has {x.shape[1]} channels, expected {self.in_channels}")
        out = self.layers(self._stem(_as_param_dtype(self, x) * 2.0 - 1.0))
        return F.adaptive_avg_pool2d(F.relu(self.bn(out)), 1).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


def preact_resnet18(in_channels: int = 3, num_classes: int = 10, width: int = 16) -> PreActResNet:
    """PreActResNet-18 layout (blocks 2-2-2-2) with base width ``width``."""
    return PreActResNet(in_channels, num_classes, width, (2, 2, 2, 2))


class SymbolClassifier(nn.Module):
    """Classifier on the received, equalised complex symbols ``z_hat`` (no image reconstruction).

    Two heads, chosen by ``latent_shape``:

    * ``latent_shape=None`` (default): an MLP on the 2K reals (adjacent real/imag pairs, as the codecs
      emit them): ``[Linear - BN - ReLU - Dropout] x depth -> Linear``. Works for any codec.
    * ``latent_shape=(c, h, w)`` with ``c*h*w == 2K`` (a convolutional codec's latent map, e.g.
      ``codec.latent_shape``): the reals are reshaped back into that map and classified by a small
      pre-activation ResNet (conv3x3 stem, ``depth`` :class:`PreActBlock` s at width ``hidden // 4``,
      a stride-2 block when the map is at least 8x8, global pooling, linear). This keeps the spatial
      layout the encoder gave the symbols.

    The symbols are not power-normalised here: the receiver hands over equalised symbols at the
    transmitter's unit-power scale, and the scale of a perturbation is information the classifier may use.

    :param num_symbols: K.
    :param num_classes: number of classes.
    :param hidden: MLP width (the conv head uses ``hidden // 4`` channels).
    :param depth: number of hidden layers (MLP) or residual blocks (conv head).
    :param dropout: dropout probability of the MLP head.
    :param latent_shape: see above.

    :input z_hat: complex [B, K].
    :output logits: float [B, num_classes].

    Example::

        >>> clf = SymbolClassifier(384, 10)
        >>> clf(torch.randn(4, 384, dtype=torch.complex64)).shape
        torch.Size([4, 10])
    """

    def __init__(self, num_symbols: int, num_classes: int = 10, hidden: int = 512, depth: int = 2,
                 dropout: float = 0.1, latent_shape: Sequence[int] | None = None):
        super().__init__()
        if num_symbols < 1 or num_classes < 1 or hidden < 4 or depth < 1:
            raise ValueError(f"need num_symbols, num_classes, depth >= 1 and hidden >= 4, got "
                             f"{num_symbols}, {num_classes}, {depth}, {hidden}")
        self.num_symbols = int(num_symbols)
        self.num_classes = int(num_classes)
        self.latent_shape = None if latent_shape is None else tuple(int(s) for s in latent_shape)
        if self.latent_shape is None:
            layers: list[nn.Module] = []
            d_in = 2 * self.num_symbols
            for _ in range(depth):
                layers += [nn.Linear(d_in, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout)]
                d_in = hidden
            layers.append(nn.Linear(d_in, num_classes))
            self.head = nn.Sequential(*layers)
        else:
            c, h, w = self.latent_shape
            if c * h * w != 2 * self.num_symbols:
                raise ValueError(f"latent_shape {self.latent_shape} holds {c * h * w} reals, "
                                 f"expected 2K = {2 * self.num_symbols}")
            width = hidden // 4
            layers = [nn.Conv2d(c, width, 3, padding=1, bias=False)]
            for i in range(depth):
                stride = 2 if (i == depth - 1 and min(h, w) >= 8) else 1
                layers.append(PreActBlock(width, width, stride))
            layers += [nn.BatchNorm2d(width), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes)]
            self.head = nn.Sequential(*layers)

    def forward(self, z_hat: torch.Tensor) -> torch.Tensor:
        check_symbols(z_hat, self.num_symbols)
        r = _as_param_dtype(self, complex_to_reals(z_hat))
        if self.latent_shape is not None:
            r = r.reshape(r.shape[0], *self.latent_shape)
        return self.head(r)
