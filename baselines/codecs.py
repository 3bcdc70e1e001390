"""Reference learned codecs the paper compares MobileSC against (Table III).

Both follow the codec interface of :mod:`sionna_semcomm.models.codec` (images in [0, 1] -> K complex
symbols -> images in [0, 1]) with the same latent size K and the same latent grid as MobileSC, so the
link simulator, trainers and attacks can swap them.

* :func:`build_mobilenetv2` -- MobileNetV2-style codec (Sandler et al. 2018): inverted residual blocks
  (1x1 expansion, ReLU6, 3x3 depthwise, ReLU6, 1x1 *linear* bottleneck, identity shortcut when the shape
  is kept). The decoder mirrors the encoder; where the encoder halves the resolution the decoder
  doubles it with nearest-neighbour up-sampling after the mirrored stage.
* :func:`build_deepjscc` -- Deep-JSCC-style codec (Bourtsoulatze et al. 2019) as used by OFDM-guided
  JSCC (Yang et al. 2022, the paper's [29]): 5x5 convolutions with PReLU, two stride-2 layers then
  stride-1 layers, a linear latent layer; the decoder is the transposed-convolution mirror with a
  sigmoid output. GDN is left out (PReLU only). Widths default to 190 so that the parameter count is
  near the paper's (Bourtsoulatze used 16/32 channels; the paper's 2.76 M implies a much wider net).

Parameter counts of the defaults for CIFAR-10 (K = 384), pinned by the tests, beside Table III:

===============  =========================  =========================
codec            encoder (paper)            decoder (paper)
===============  =========================  =========================
mobilenetv2      1,355,084 (1,476,032)      1,518,195 (1,475,521)
deepjscc         2,780,282 (2,760,128)      2,780,273 (2,759,617)
===============  =========================  =========================

MobileNetV2 stages are the MobileNetV2 table truncated after the 160-wide stage (no 320 stage, no 1280
head), with the strides that take 32x32 to the 8x8 latent grid (16x16 for 256x256 images).

The core package never imports this module; the composition root (the CLI) calls
:func:`register_baseline_codecs` on a :class:`~sionna_semcomm.models.registry.CodecRegistry`.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from sionna_semcomm.models.codec import ImageEncoder, SemanticCodec, SymbolDecoder, latent_grid
from sionna_semcomm.models.mobilesc import PAPER_PARAM_COUNTS, default_num_symbols

__all__ = [
    "InvertedResidual",
    "MobileNetV2Encoder",
    "MobileNetV2Decoder",
    "DeepJSCCEncoder",
    "DeepJSCCDecoder",
    "build_mobilenetv2",
    "build_deepjscc",
    "default_mobilenetv2_config",
    "default_deepjscc_config",
    "register_baseline_codecs",
]

# (expansion t, output channels c, repeats n, stride s) per stage, as in the MobileNetV2 paper's table.
_MBV2_SMALL = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 1), (6, 64, 4, 1), (6, 96, 3, 1), (6, 160, 3, 1))
_MBV2_LARGE = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 1))


def _grid_padding(image_shape: Sequence[int]) -> tuple[int, int] | None:
    """MNIST (28x28) is padded to 32x32 like MobileSC, so all codecs share the 8x8 latent grid."""
    return (32, 32) if tuple(image_shape[1:]) == (28, 28) else None


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual: [1x1 expand - BN - ReLU6] - 3x3 depthwise (stride) - BN - ReLU6 -
    1x1 linear projection - BN, plus the input when stride is 1 and the width is kept.

    :input x: float [B, C_in, H, W].
    :output: float [B, C_out, H/stride, W/stride].
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int, expansion: int):
        super().__init__()
        hidden = in_channels * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [nn.Conv2d(in_channels, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6()]
        layers += [
            nn.Conv2d(hidden, hidden, 3, stride=stride, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.BatchNorm2d(out_channels),
        ]
        self.body = nn.Sequential(*layers)
        self.use_shortcut = stride == 1 and in_channels == out_channels

    def forward(self, x):
        y = self.body(x)
        return x + y if self.use_shortcut else y


def _num_down(stages) -> int:
    return 1 + sum(1 for (_, _, _, s) in stages if s == 2)  # the stem has stride 2


class MobileNetV2Encoder(ImageEncoder):
    """MobileNetV2-style encoder: stem conv3x3 stride 2 - BN - ReLU6 -> inverted residual stages ->
    conv3x3 to the latent map (linear).

    :param image_shape: ``(C, H, W)``.
    :param num_symbols: K.
    :param stages: ``(t, c, n, s)`` rows (expansion, width, repeats, stride of the first block).
    :param stem_channels: width of the stem.
    :param pad_to: ``(H, W)`` to pad to, or ``None``.

    :input x: float [B, C, H, W] in [0, 1].
    :output z: complex64 [B, K].
    """

    def __init__(self, image_shape: Sequence[int] = (3, 32, 32), num_symbols: int = 384,
                 stages: Sequence[Sequence[int]] = _MBV2_SMALL, stem_channels: int = 32,
                 pad_to: Sequence[int] | None = None):
        stages = tuple(tuple(int(v) for v in st) for st in stages)
        latent = latent_grid(image_shape, _num_down(stages), num_symbols, pad_to)
        super().__init__(image_shape, num_symbols, latent, pad_to)
        layers: list[nn.Module] = [nn.Conv2d(self.image_shape[0], stem_channels, 3, stride=2, padding=1, bias=False),
                                   nn.BatchNorm2d(stem_channels), nn.ReLU6()]
        c_in = stem_channels
        for t, c, n, s in stages:
            for i in range(n):
                layers.append(InvertedResidual(c_in, c, s if i == 0 else 1, t))
                c_in = c
        layers.append(nn.Conv2d(c_in, latent[0], 3, padding=1))
        self.body = nn.Sequential(*layers)


class MobileNetV2Decoder(SymbolDecoder):
    """Mirror of :class:`MobileNetV2Encoder`: conv3x3 from the latent map - BN - ReLU6 -> the stages in
    reverse (nearest up-sampling x2 in front of each stage the encoder entered with stride 2) ->
    up-sampling x2 -> conv3x3 to the image channels -> sigmoid.

    :input z_hat: complex [B, K].
    :output x_hat: float [B, C, H, W] in [0, 1].
    """

    def __init__(self, image_shape: Sequence[int] = (3, 32, 32), num_symbols: int = 384,
                 stages: Sequence[Sequence[int]] = _MBV2_SMALL, stem_channels: int = 32,
                 pad_to: Sequence[int] | None = None):
        stages = tuple(tuple(int(v) for v in st) for st in stages)
        latent = latent_grid(image_shape, _num_down(stages), num_symbols, pad_to)
        super().__init__(image_shape, num_symbols, latent)
        c_in = stages[-1][1]
        layers: list[nn.Module] = [nn.Conv2d(latent[0], c_in, 3, padding=1, bias=False), nn.BatchNorm2d(c_in), nn.ReLU6()]
        outs = [stem_channels] + [st[1] for st in stages[:-1]]  # width each reversed stage ends with
        for (t, _, n, s), c_out in zip(reversed(stages), reversed(outs)):
            for i in range(n):
                last = i == n - 1
                layers.append(InvertedResidual(c_in, c_out if last else c_in, 1, t))
                c_in = c_out if last else c_in
            if s == 2:
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
        layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(c_in, self.image_shape[0], 3, padding=1)]
        self.body = nn.Sequential(*layers)


class DeepJSCCEncoder(ImageEncoder):
    """Deep-JSCC-style encoder: 5x5 convolutions with PReLU, ``num_down`` stride-2 layers then
    ``num_plain`` stride-1 layers, then a linear 5x5 convolution to the latent map.

    :param channels: widths of the stride-2 layers (the stride-1 layers use ``channels[-1]``).
    :param num_plain: number of stride-1 PReLU layers (Bourtsoulatze et al.: 2).

    :input x: float [B, C, H, W] in [0, 1].
    :output z: complex64 [B, K].
    """

    def __init__(self, image_shape: Sequence[int] = (3, 32, 32), num_symbols: int = 384,
                 channels: Sequence[int] = (190, 190), num_plain: int = 2, pad_to: Sequence[int] | None = None):
        channels = tuple(int(c) for c in channels)
        latent = latent_grid(image_shape, len(channels), num_symbols, pad_to)
        super().__init__(image_shape, num_symbols, latent, pad_to)
        layers: list[nn.Module] = []
        c_in = self.image_shape[0]
        for c in channels:
            layers += [nn.Conv2d(c_in, c, 5, stride=2, padding=2), nn.PReLU(c)]
            c_in = c
        for _ in range(num_plain):
            layers += [nn.Conv2d(c_in, c_in, 5, padding=2), nn.PReLU(c_in)]
        layers.append(nn.Conv2d(c_in, latent[0], 5, padding=2))
        self.body = nn.Sequential(*layers)


class DeepJSCCDecoder(SymbolDecoder):
    """Mirror of :class:`DeepJSCCEncoder` with 5x5 transposed convolutions and PReLU; sigmoid output.

    :input z_hat: complex [B, K].
    :output x_hat: float [B, C, H, W] in [0, 1].
    """

    def __init__(self, image_shape: Sequence[int] = (3, 32, 32), num_symbols: int = 384,
                 channels: Sequence[int] = (190, 190), num_plain: int = 2, pad_to: Sequence[int] | None = None):
        channels = tuple(int(c) for c in channels)
        latent = latent_grid(image_shape, len(channels), num_symbols, pad_to)
        super().__init__(image_shape, num_symbols, latent)
        c_in = channels[-1]
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent[0], c_in, 5, padding=2), nn.PReLU(c_in)]
        for _ in range(num_plain):
            layers += [nn.ConvTranspose2d(c_in, c_in, 5, padding=2), nn.PReLU(c_in)]
        widths = list(channels[-2::-1]) + [self.image_shape[0]]
        for i, c_out in enumerate(widths):
            layers.append(nn.ConvTranspose2d(c_in, c_out, 5, stride=2, padding=2, output_padding=1))
            if i < len(widths) - 1:
                layers.append(nn.PReLU(c_out))
            c_in = c_out
        self.body = nn.Sequential(*layers)


def default_mobilenetv2_config(image_shape: Sequence[int]) -> dict:
    """Stages for an image shape: 8x8 latent grid for 32x32 / 28x28 (padded), 16x16 for 256x256."""
    large = max(int(s) for s in image_shape[1:]) >= 128
    return {"stages": _MBV2_LARGE if large else _MBV2_SMALL, "stem_channels": 32, "pad_to": _grid_padding(image_shape)}


def default_deepjscc_config(image_shape: Sequence[int]) -> dict:
    """Widths for an image shape: two stride-2 layers for 32x32 / 28x28 (padded), four for 256x256."""
    large = max(int(s) for s in image_shape[1:]) >= 128
    return {"channels": (64, 96, 190, 190) if large else (190, 190), "num_plain": 2,
            "pad_to": _grid_padding(image_shape)}


def _build(enc_cls, dec_cls, defaults, image_shape, num_symbols, hparams, name) -> SemanticCodec:
    cfg = defaults(image_shape)
    unknown = set(hparams) - set(cfg)
    if unknown:
        raise ValueError(f"unknown {name} hyper-parameters {sorted(unknown)}; known: {sorted(cfg)}")
    cfg.update(hparams)
    k = default_num_symbols(image_shape) if num_symbols is None else int(num_symbols)
    return SemanticCodec(enc_cls(image_shape, k, **cfg), dec_cls(image_shape, k, **cfg))


def build_mobilenetv2(image_shape: Sequence[int] = (3, 32, 32), num_symbols: int | None = None, **hparams) -> SemanticCodec:
    """MobileNetV2-style codec; ``hparams`` override :func:`default_mobilenetv2_config`."""
    return _build(MobileNetV2Encoder, MobileNetV2Decoder, default_mobilenetv2_config, image_shape, num_symbols,
                  hparams, "MobileNetV2")


def build_deepjscc(image_shape: Sequence[int] = (3, 32, 32), num_symbols: int | None = None, **hparams) -> SemanticCodec:
    """Deep-JSCC-style codec; ``hparams`` override :func:`default_deepjscc_config`."""
    return _build(DeepJSCCEncoder, DeepJSCCDecoder, default_deepjscc_config, image_shape, num_symbols,
                  hparams, "Deep-JSCC")


def register_baseline_codecs(registry) -> None:
    """Add ``"mobilenetv2"`` and ``"deepjscc"`` to a :class:`~sionna_semcomm.models.registry.CodecRegistry`."""
    registry.register("mobilenetv2", build_mobilenetv2, paper_params=PAPER_PARAM_COUNTS["mobilenetv2"])
    registry.register("deepjscc", build_deepjscc, paper_params=PAPER_PARAM_COUNTS["deepjscc"])
