"""MobileSC semantic encoder and decoder (paper Sections II-A, II-E, IV-B).

Paper: "Each image is firstly normalized within the range of [-1, 1]. Then, it is passed through a
series of down-scaling convolutional layers and SemBlocks. The structure of the semantic decoder is
almost symmetric (in the reverse order) to the encoder network, except that the final activation
function is set to the Sigmoid function". Figure 5 (the exact layers) did not survive extraction, so:

Encoder (``d = len(channels)`` down-scaling stages; "act" is LeakyReLU(0.1) by default)::

    x in [0,1] -> 2x-1 -> (replicate-pad to pad_to)
      -> [conv 3x3 stride 2 (C_{i-1} -> C_i) - BN - act] for i = 1..d      (down-scaling convs)
      -> num_blocks x SemBlock(C_d)                                       (at the lowest resolution)
      -> conv 3x3 (C_d -> c_lat), linear                                   (latent map [c_lat, h, w])
      -> flatten (C order) -> 2K reals -> K complex (adjacent pairs)

Decoder (mirror)::

    z_hat [B,K] -> 2K reals -> [c_lat, h, w]
      -> conv 3x3 (c_lat -> C_d) - BN - act
      -> num_blocks x SemBlock(C_d)
      -> [convT 4x4 stride 2 (C_i -> C_{i-1}) - BN - act] for i = d..2
      -> convT 4x4 stride 2 (C_1 -> image channels) -> centre crop -> sigmoid

All SemBlocks sit at the lowest resolution: the thin, low-resolution bottleneck is where the
paper puts the SemBlocks' parameters, and it keeps CPU training fast.

SemBlock settings of the defaults: expansion 4, split kernel 3 (3x1 then 1x3), squeeze-excitation
*without* reduction (``se_reduction=1``: the excitation is a full 256x256 map, the "no dimensionality
reduction" variant that ECA-Net (Wang et al., 2020) found to work better than the reduced one; it acts
on pooled vectors, so its ~131k parameters per block cost almost no compute), structure-aware gate on
the thin branch (``sa_reduction=4``, ``sa_position="thin"``).

Default configurations (:func:`default_mobilesc_config`), parameter counts pinned by the tests:

=============  ============  =====  ===============  ========  ==========  ==========
image shape    K (OFDM)      grid   channels         pad_to    encoder     decoder
=============  ============  =====  ===============  ========  ==========  ==========
(3, 32, 32)    384 (6x64)    8x8    (64, 64)         --        726,860     756,867
(1, 28, 28)    256 (4x64)    8x8    (64, 64)         (32, 32)  723,400     752,513
(3, 256, 256)  3072 (48x64)  16x16  (32, 64, 64, 64) --        788,408     860,739
=============  ============  =====  ===============  ========  ==========  ==========

The paper (Table III, CIFAR-10) reports 805,464 encoder / 804,955 decoder parameters: the CIFAR default
is 9.8% / 6.0% smaller. Speed (CIFAR default, batch 64, forward + backward + Adam step, torch 2.13,
1 CPU thread of this project's shared 2-core AMD EPYC VM): about 0.22 s; an epoch of 4,068 CIFAR
images takes ~25 s and reaches ~25 dB test PSNR over AWGN at 10 dB within 10 epochs.
MNIST: 28x28 is replicate-padded to 32x32 so that its latent grid (8x8) and K=256 (4 OFDM symbols of
64 subcarriers, 512 reals for 784 pixels) line up with the OFDM grid; the decoder crops back to 28x28.
ImageNet-10 (256x256): K=3072, 48 OFDM symbols, bandwidth ratio 2K/(3*256*256) = 1/32.
"""

from __future__ import annotations

from typing import Sequence

from torch import nn

from .codec import ImageEncoder, SemanticCodec, SymbolDecoder, latent_grid
from .semblock import SemBlock, make_activation
from .snr_gate import SNRGate

__all__ = [
    "MobileSCEncoder",
    "MobileSCDecoder",
    "build_mobilesc",
    "default_mobilesc_config",
    "default_num_symbols",
    "PAPER_PARAM_COUNTS",
]

#: Table III of the paper (CIFAR-10): parameters of each encoder / decoder.
PAPER_PARAM_COUNTS = {
    "mobilesc": {"encoder": 805_464, "decoder": 804_955},
    "mobilenetv2": {"encoder": 1_476_032, "decoder": 1_475_521},
    "deepjscc": {"encoder": 2_760_128, "decoder": 2_759_617},
}


def default_num_symbols(image_shape: Sequence[int]) -> int:
    """Default K for an image shape: 384 for 32x32 (CIFAR-10: 6 OFDM symbols x 64 subcarriers),
    256 for 28x28 (MNIST: 4 x 64), 3072 for 256x256 (48 x 64); otherwise 2K = C*H*W / 8 rounded to
    a multiple of 64."""
    c, h, w = (int(s) for s in image_shape)
    if (h, w) == (32, 32):
        return 384
    if (h, w) == (28, 28):
        return 256
    if (h, w) == (256, 256):
        return 3072
    return max(64, (c * h * w // 16) // 64 * 64)


def default_mobilesc_config(image_shape: Sequence[int]) -> dict:
    """Default hyper-parameters of :func:`build_mobilesc` for an image shape (see module docstring)."""
    c, h, w = (int(s) for s in image_shape)
    cfg = {"channels": (64, 64), "num_blocks": 4, "expansion": 4, "kernel_size": 3,
           "se_reduction": 1, "sa_reduction": 4, "sa_position": "thin", "stem_kernel": 3, "act": "leaky_relu", "pad_to": None,
           "snr_adaptive": False, "snr_adaptive_encoder": False, "decoder_csi": False,
           "interleave": False}
    if (h, w) == (28, 28):
        cfg["pad_to"] = (32, 32)
    elif max(h, w) >= 128:
        cfg["channels"] = (32, 64, 64, 64)
    return cfg


def _check_channels(channels: Sequence[int]) -> tuple[int, ...]:
    channels = tuple(int(c) for c in channels)
    if not channels or min(channels) < 1:
        raise ValueError(f"channels must be a non-empty sequence of positive widths, got {channels}")
    return channels


class MobileSCEncoder(ImageEncoder):
    """MobileSC semantic encoder: down-scaling convs + SemBlocks -> K complex symbols.

    :param image_shape: ``(C, H, W)`` of the input images.
    :param num_symbols: K, complex symbols per image (2K must be a multiple of the latent grid size).
    :param channels: widths of the stride-2 down-scaling convolutions (one per stage); the SemBlocks
        run at ``channels[-1]``.
    :param num_blocks: number of SemBlocks (paper: 4).
    :param expansion, kernel_size, se_reduction, sa_reduction: passed to :class:`SemBlock`.
    :param stem_kernel: kernel of the down-scaling convolutions (odd).
    :param pad_to: ``(H, W)`` to replicate-pad the input to before the convolutions, or ``None``.
    :param snr_adaptive_encoder: tell the transmitter the link's SNR (fed back by the receiver):
        :class:`~.snr_gate.SNRGate` after the last down-scaling stage and after every SemBlock, ADJSCC's
        encoder side; identity at initialisation. Default ``False``.
    :param interleave: send the latent symbols in the fixed order of :func:`~.codec.symbol_interleaver` instead
        of the map's C order (spreads each latent position over the band; no parameters). Default ``False``.

    :input x: float [B, C, H, W] in [0, 1]; ``ValueError`` on a wrong shape or values outside [0, 1].
    :input snr_db: Es/N0 [dB], number or [B]: required when ``snr_adaptive_encoder``, ignored otherwise.
    :output z: complex64 [B, K] (not power-normalised).
    """

    def __init__(self, image_shape: Sequence[int] = (3, 32, 32), num_symbols: int = 384,
                 channels: Sequence[int] = (64, 64), num_blocks: int = 4, expansion: int = 4,
                 kernel_size: int = 3, se_reduction: int = 1, sa_reduction: int = 4,
                 sa_position: str = "thin", stem_kernel: int = 3, act: str = "leaky_relu", pad_to: Sequence[int] | None = None,
                 snr_adaptive: bool = False, snr_adaptive_encoder: bool = False, decoder_csi: bool = False,
                 interleave: bool = False):
        channels = _check_channels(channels)
        latent = latent_grid(image_shape, len(channels), num_symbols, pad_to)
        super().__init__(image_shape, num_symbols, latent, pad_to, interleave)
        del snr_adaptive, decoder_csi  # the decoder's options
        layers: list[nn.Module] = []
        c_in = self.image_shape[0]
        for c_out in channels:
            layers += [nn.Conv2d(c_in, c_out, stem_kernel, stride=2, padding=stem_kernel // 2, bias=False),
                       nn.BatchNorm2d(c_out), make_activation(act, c_out)]
            c_in = c_out
        layers += [SemBlock(c_in, expansion, kernel_size, se_reduction, sa_reduction, act, sa_position) for _ in range(num_blocks)]
        if snr_adaptive_encoder:  # after the last down-scaling stage's activation and after every SemBlock
            self.snr_gates.update({str(i): SNRGate(c_in, act=act) for i in range(3 * len(channels) - 1, len(layers))})
        layers.append(nn.Conv2d(c_in, latent[0], 3, padding=1))
        self.body = nn.Sequential(*layers)


class MobileSCDecoder(SymbolDecoder):
    """MobileSC semantic decoder, the mirror of :class:`MobileSCEncoder` (same parameters).

    :param snr_adaptive: give the decoder the receiver's SNR (:class:`~.snr_gate.SNRGate` after the input
        convolution and after every SemBlock, ADJSCC-style; identity at initialisation). Default ``False``.
    :param decoder_csi: give the decoder the channel state of every symbol: :func:`~.codec.csi_feature`
        (the per-symbol post-equaliser SINR, laid out like the received latent map) through a 3x3
        convolution added to the input convolution's output (before its BatchNorm); zero at initialisation,
        so it can be added to a trained decoder without changing its output. Default ``False``.
    :param interleave: the encoder's option: the received symbols are put back into the latent map's order
        before the decoder reads them (and their channel state with them).

    :input z_hat: complex [B, K] (equalised received symbols); ``ValueError`` on a wrong shape/dtype.
    :input snr_db: Es/N0 [dB], number or [B]: required when ``snr_adaptive``, ignored otherwise.
    :input no_eff: float [B, K], the link's effective noise variance per symbol: required when ``decoder_csi``.
    :output x_hat: float [B, C, H, W] in [0, 1] (sigmoid).
    """

    def __init__(self, image_shape: Sequence[int] = (3, 32, 32), num_symbols: int = 384,
                 channels: Sequence[int] = (64, 64), num_blocks: int = 4, expansion: int = 4,
                 kernel_size: int = 3, se_reduction: int = 1, sa_reduction: int = 4,
                 sa_position: str = "thin", stem_kernel: int = 3, act: str = "leaky_relu", pad_to: Sequence[int] | None = None,
                 snr_adaptive: bool = False, snr_adaptive_encoder: bool = False, decoder_csi: bool = False,
                 interleave: bool = False):
        channels = _check_channels(channels)
        latent = latent_grid(image_shape, len(channels), num_symbols, pad_to)
        super().__init__(image_shape, num_symbols, latent, interleave)
        del snr_adaptive_encoder  # the encoder's option
        del stem_kernel  # the up-scaling layers are 4x4 transposed convs (no checkerboard overlap gaps)
        c = channels[-1]
        layers: list[nn.Module] = [nn.Conv2d(latent[0], c, 3, padding=1, bias=False), nn.BatchNorm2d(c), make_activation(act, c)]
        if decoder_csi:  # added to layers[0]'s output: as if the input conv also read the CSI map
            self.csi_input = nn.Conv2d(latent[0], c, 3, padding=1, bias=False)
            nn.init.zeros_(self.csi_input.weight)
        layers += [SemBlock(c, expansion, kernel_size, se_reduction, sa_reduction, act, sa_position) for _ in range(num_blocks)]
        if snr_adaptive:  # after the input conv's activation (layer 2) and after every SemBlock
            self.snr_gates.update({str(i): SNRGate(c, act=act) for i in range(2, len(layers))})
        widths = list(channels[::-1]) + [self.image_shape[0]]
        for i, (c_in, c_out) in enumerate(zip(widths[:-1], widths[1:])):
            last = i == len(widths) - 2
            layers.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1, bias=last))
            if not last:
                layers += [nn.BatchNorm2d(c_out), make_activation(act, c_out)]
        self.body = nn.Sequential(*layers)


def build_mobilesc(image_shape: Sequence[int] = (3, 32, 32), num_symbols: int | None = None,
                   **hparams) -> SemanticCodec:
    """MobileSC codec for ``image_shape`` with K = ``num_symbols`` (default :func:`default_num_symbols`);
    ``hparams`` override :func:`default_mobilesc_config`."""
    unknown = set(hparams) - set(default_mobilesc_config(image_shape))
    if unknown:
        raise ValueError(f"unknown MobileSC hyper-parameters {sorted(unknown)}")
    cfg = {**default_mobilesc_config(image_shape), **hparams}
    k = default_num_symbols(image_shape) if num_symbols is None else int(num_symbols)
    return SemanticCodec(MobileSCEncoder(image_shape, k, **cfg), MobileSCDecoder(image_shape, k, **cfg))
