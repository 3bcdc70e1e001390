"""SemBlock: the lightweight building block of the MobileSC semantic encoder and decoder.

The paper (Sections I-C, II-A, II-H) describes the block only in words; its Figure 2 did not survive
extraction. This module writes down how each sentence is interpreted:

* "our SemBlock splits the k x k convolution kernel to k x 1 and 1 x k" -- the depthwise k x k
  convolution of a MobileNetV2 inverted residual is replaced by a depthwise k x 1 convolution followed
  directly (no normalisation or activation in between) by a depthwise 1 x k convolution: 2k instead of
  k^2 weights per channel, same receptive field.
* "and then adds an additional attention layer" -- a squeeze-and-excitation channel attention
  (global average pool -> 1x1 reduce -> act -> 1x1 expand -> sigmoid gate) on the expanded features.
* "and an SANET structure [60] to improve the model's capability in capturing the meaningful
  semantics" -- SANet (Fan & Ling, 2017) models the self-structure of an object by sweeping recurrent
  units over the feature map along the spatial directions. We keep the idea (every position sees the
  context of its whole row and its whole column) and drop the recurrence, which is slow and hard to
  parallelise: the expanded features are average-pooled along the width (one value per row) and along
  the height (one value per column), the two strips go through one shared 1x1 reduce conv + BN + act, then
  a 1x1 conv each back to the expanded width and a sigmoid; the product of the row gate and the column
  gate re-weights every position (:class:`StructureAwareGate`).
* "adapts DWConvolution block in MobileNet V2 and relies on SemBlock for non-linear transformation and
  lightweight depthwise convolution. The proposed structure simplifies inverted residual structure and
  uses shortcut connections between thin bottleneck layers" -- the block keeps the inverted-residual
  skeleton (1x1 expand -> depthwise -> 1x1 linear projection, identity shortcut between the thin
  ends) but simplifies it: a smaller default expansion (4 instead of MobileNetV2's 6), the split
  depthwise kernel above, and no stride (SemBlocks never change the resolution or the width, so the
  shortcut is always an identity; down/up-scaling is left to plain convolutions in the encoder/decoder).

Order inside the block::

    x ──► 1x1 expand (C -> tC) ─ BN ─ act
        ─► depthwise k x 1 ─► depthwise 1 x k ─ BN ─ act
        ─► squeeze-excitation gate ─► structure-aware row/column gate
        ─► 1x1 linear projection (tC -> C) ─ BN ──► (+ x) ──► out

Activations are LeakyReLU(0.1) by default (PReLU is selectable but its CPU backward is ~20x slower); the projection is linear (MobileNetV2's linear bottleneck).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["SemBlock", "SqueezeExcitation", "StructureAwareGate", "make_activation"]

_ACTIVATIONS = ("leaky_relu", "relu6", "relu", "prelu")


def make_activation(name: str, channels: int) -> nn.Module:
    """``"leaky_relu"`` (slope 0.1), ``"relu6"``, ``"relu"`` or ``"prelu"`` (per channel).

    PReLU's backward pass is ~20x slower than LeakyReLU's on CPU (measured with torch 2.13), so the
    MobileSC default is LeakyReLU (the rectifier family the paper cites [61])."""
    if name == "leaky_relu":
        return nn.LeakyReLU(0.1)
    if name == "relu6":
        return nn.ReLU6()
    if name == "relu":
        return nn.ReLU()
    if name == "prelu":
        return nn.PReLU(channels)
    raise ValueError(f"unknown activation {name!r}; expected one of {_ACTIVATIONS}")


def _reduced(channels: int, reduction: int, minimum: int = 8) -> int:
    if reduction < 1:
        raise ValueError(f"reduction must be >= 1, got {reduction}")
    return max(minimum, channels // reduction)


class SqueezeExcitation(nn.Module):
    """Channel attention (squeeze-and-excitation): ``gate = sigmoid(W2 act(W1 avgpool(x)))``.

    The two 1x1 convolutions act on a pooled vector, so they are written as ``nn.Linear`` layers.

    :param channels: number of channels C.
    :param reduction: hidden width is ``max(8, C // reduction)``.
    :param act: activation name (:func:`make_activation`).

    :input x: float [B, C, H, W].
    :output: float [B, C, H, W], ``x * gate`` (:meth:`gate` maps the pooled [B, C] to the [B, C] gate).
    """

    def __init__(self, channels: int, reduction: int = 4, act: str = "leaky_relu"):
        super().__init__()
        hidden = _reduced(channels, reduction)
        self.reduce = nn.Linear(channels, hidden)
        self.act = make_activation(act, hidden)
        self.expand = nn.Linear(hidden, channels)

    def gate(self, pooled: torch.Tensor) -> torch.Tensor:
        """[B, C] global average -> [B, C] gate in (0, 1)."""
        return torch.sigmoid(self.expand(self.act(self.reduce(pooled))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x.mean(dim=(2, 3)))[:, :, None, None]


class StructureAwareGate(nn.Module):
    """Structure-aware (SANet-style) spatial gate from row and column context.

    Interpretation of the paper's "SANET structure" (see the module docstring): SANet's directional
    recurrent sweeps are replaced by pooling along each spatial axis, so every position is gated by a
    summary of its full row and its full column::

        rows = mean_W(x) [B,H,C],  cols = mean_H(x) [B,W,C]
        r, c = split(act(BN(W_reduce cat(rows, cols))))       (shared reduction, C -> C/r)
        out  = x * sigmoid(W_h r)[row] * sigmoid(W_w c)[column]

    (the per-position 1x1 convolutions of the strips are written as ``nn.Linear`` layers).

    :param channels: number of channels C.
    :param reduction: hidden width is ``max(8, C // reduction)``.
    :param act: activation name (:func:`make_activation`).

    :input x: float [B, C, H, W].
    :output: float [B, C, H, W] (:meth:`gates` maps the strips [B,H,C], [B,W,C] to the gates).
    """

    def __init__(self, channels: int, reduction: int = 8, act: str = "leaky_relu"):
        super().__init__()
        hidden = _reduced(channels, reduction)
        self.reduce = nn.Linear(channels, hidden, bias=False)
        self.bn = nn.BatchNorm1d(hidden)
        self.act = make_activation(act, hidden)
        self.to_h = nn.Linear(hidden, channels)
        self.to_w = nn.Linear(hidden, channels)

    def gates(self, rows: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """rows [B,H,C] (mean over W), cols [B,W,C] (mean over H) -> gates [B,H,C], [B,W,C] in (0, 1)."""
        b, h, _ = rows.shape
        y = self.reduce(torch.cat([rows, cols], dim=1))  # [B, H+W, hidden]
        y = self.act(self.bn(y.flatten(0, 1))).view(b, -1, y.shape[-1])
        return torch.sigmoid(self.to_h(y[:, :h])), torch.sigmoid(self.to_w(y[:, h:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate_h, gate_w = self.gates(x.mean(dim=3).transpose(1, 2), x.mean(dim=2).transpose(1, 2))
        return x * gate_h.transpose(1, 2)[..., None] * gate_w.transpose(1, 2)[:, :, None, :]


class SemBlock(nn.Module):
    """SemBlock (paper Sec. II-H): split depthwise kernel + channel attention + structure-aware gate,
    inside a simplified inverted residual with an identity shortcut between thin bottlenecks.

    See the module docstring for how each sentence of the paper is interpreted.

    ``sa_position`` places the structure-aware gate: ``"thin"`` (default) gates the projected, thin
    residual branch just before the shortcut addition; ``"expanded"`` gates the expanded features right
    after the channel attention (the channel gate is constant over space, so the strips of the gated
    tensor are the gated strips and the full-size tensor is multiplied once by the combined gate). The
    default is ``"thin"`` because full-size element-wise products dominate the CPU time of this block
    (on the 2-core CPU of this project the expanded position costs ~35% more per training step).

    :param channels: width C of the thin bottleneck (input and output).
    :param expansion: expansion factor t; the inner width is ``t * C``.
    :param kernel_size: k of the split depthwise ``k x 1`` / ``1 x k`` kernels (odd).
    :param se_reduction: reduction of the squeeze-excitation hidden layer (``0`` disables it).
    :param sa_reduction: reduction of the structure-aware gate hidden layer (``0`` disables it).
    :param act: activation name (:func:`make_activation`).
    :param sa_position: ``"thin"`` or ``"expanded"`` (see above).

    :input x: float [B, C, H, W].
    :output: float [B, C, H, W].

    Example::

        >>> block = SemBlock(32)
        >>> block(torch.rand(2, 32, 8, 8)).shape
        torch.Size([2, 32, 8, 8])
    """

    def __init__(
        self,
        channels: int,
        expansion: int = 4,
        kernel_size: int = 3,
        se_reduction: int = 4,
        sa_reduction: int = 4,
        act: str = "leaky_relu",
        sa_position: str = "thin",
    ):
        super().__init__()
        if channels < 1 or expansion < 1:
            raise ValueError(f"channels and expansion must be >= 1, got {channels}, {expansion}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be a positive odd int, got {kernel_size}")
        if sa_position not in ("thin", "expanded"):
            raise ValueError(f"sa_position must be 'thin' or 'expanded', got {sa_position!r}")
        hidden = channels * expansion
        pad = kernel_size // 2
        self.sa_position = sa_position
        self.expand = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), make_activation(act, hidden)
        )
        self.depthwise = nn.Sequential(
            nn.Conv2d(hidden, hidden, (kernel_size, 1), padding=(pad, 0), groups=hidden, bias=False),
            nn.Conv2d(hidden, hidden, (1, kernel_size), padding=(0, pad), groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            make_activation(act, hidden),
        )
        self.attention = SqueezeExcitation(hidden, se_reduction, act) if se_reduction else None
        sa_width = channels if sa_position == "thin" else hidden
        self.structure = StructureAwareGate(sa_width, sa_reduction, act) if sa_reduction else None
        self.project = nn.Sequential(nn.Conv2d(hidden, channels, 1, bias=False), nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.depthwise(self.expand(x))
        if self.structure is not None and self.sa_position == "expanded":
            rows, cols = _strips(y)
            if self.attention is not None:
                gate = self.attention.gate(rows.mean(dim=1))[:, None, :]  # [B, 1, C]
                rows, cols = rows * gate, cols * gate
            gate_h, gate_w = self.structure.gates(rows, cols)
            if self.attention is not None:
                gate_h = gate_h * gate
            y = y * gate_h.transpose(1, 2)[..., None] * gate_w.transpose(1, 2)[:, :, None, :]
        elif self.attention is not None:
            y = y * self.attention.gate(y.sum(dim=(2, 3)) * (1.0 / (y.shape[2] * y.shape[3])))[:, :, None, None]
        y = self.project(y)
        if self.structure is not None and self.sa_position == "thin":
            gate_h, gate_w = self.structure.gates(*_strips(y))
            y = y * gate_h.transpose(1, 2)[..., None] * gate_w.transpose(1, 2)[:, :, None, :]
        return x + y


def _strips(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """[B, C, H, W] -> row means [B, H, C] and column means [B, W, C].

    Sum-then-scale: the backward of a sum is a broadcast view, that of a mean a full-size division."""
    rows = (y.sum(dim=3) * (1.0 / y.shape[3])).transpose(1, 2)
    cols = (y.sum(dim=2) * (1.0 / y.shape[2])).transpose(1, 2)
    return rows, cols
