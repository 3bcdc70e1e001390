"""The interface every learned image codec follows, and the helpers the codecs share.

Conventions (DESIGN.md):

* an **encoder** maps images ``x`` float [B, C, H, W] in [0, 1] to a complex latent ``z`` [B, K]
  (complex64 for float32 weights). Internally it normalises the image to [-1, 1] and emits 2K reals,
  paired into K complex symbols as *adjacent* pairs: ``z[:, k] = r[:, 2k] + 1j * r[:, 2k + 1]``
  (:func:`reals_to_complex`). The encoder does **not** normalise power; the transmitter scales each
  example to unit average power per complex symbol (:func:`normalize_power` does the same, for tests
  and for callers without a link).
* a **decoder** maps (equalised, received) complex symbols ``z_hat`` [B, K] to ``x_hat`` float
  [B, C, H, W] in [0, 1] (sigmoid output).
* :class:`SemanticCodec` wraps one encoder and one decoder and returns a CompressAI-style dict.

The latent of the convolutional codecs here is a small feature map ``[c_lat, h, w]`` with
``c_lat * h * w == 2K``, flattened in C order; :func:`latent_grid` checks that a requested K fits.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .snr_gate import snr_tensor

__all__ = [
    "check_images",
    "check_symbols",
    "reals_to_complex",
    "complex_to_reals",
    "normalize_power",
    "latent_grid",
    "ImageEncoder",
    "SymbolDecoder",
    "SemanticCodec",
]

# Images produced by resampling / colour transforms can overshoot [0, 1] by rounding error.
_RANGE_TOL = 1e-6


def check_images(x: torch.Tensor, image_shape: Sequence[int] | None = None, *, check_range: bool = True,
                 name: str = "x") -> None:
    """Raise ``ValueError`` unless ``x`` is a float [B, C, H, W] image batch (of ``image_shape`` when
    given) with values in [0, 1] (checked only when ``check_range``; a tolerance of 1e-6 is allowed)."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor in [0, 1], got dtype {x.dtype}")
    if x.dim() != 4:
        raise ValueError(f"{name} must have shape [batch, C, H, W], got {tuple(x.shape)}")
    if image_shape is not None:
        c, h, w = image_shape
        if x.shape[1] != c:
            raise ValueError(f"{name} has {x.shape[1]} channels, expected {c} (image shape {tuple(image_shape)})")
        if tuple(x.shape[2:]) != (h, w):
            raise ValueError(f"{name} has size {tuple(x.shape[2:])}, expected {(h, w)} (image shape {tuple(image_shape)})")
    if check_range and x.numel():
        lo, hi = torch.aminmax(x.detach())
        lo, hi = float(lo), float(hi)
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise ValueError(f"{name} contains non-finite values")
        if lo < -_RANGE_TOL or hi > 1 + _RANGE_TOL:
            raise ValueError(f"{name} values must lie in [0, 1], got min {lo:.4g}, max {hi:.4g}")


def check_symbols(z: torch.Tensor, num_symbols: int, name: str = "z_hat") -> None:
    """Raise ``ValueError`` unless ``z`` is a complex [B, num_symbols] tensor."""
    if not isinstance(z, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(z).__name__}")
    if not z.is_complex():
        raise ValueError(f"{name} must be complex [batch, {num_symbols}], got dtype {z.dtype}")
    if z.dim() != 2 or z.shape[1] != num_symbols:
        raise ValueError(f"{name} must have shape [batch, {num_symbols}], got {tuple(z.shape)}")


def reals_to_complex(r: torch.Tensor) -> torch.Tensor:
    """[B, 2K] real -> [B, K] complex, pairing adjacent entries as (real, imag)."""
    if r.shape[-1] % 2:
        raise ValueError(f"need an even number of reals, got {r.shape[-1]}")
    r = r.reshape(*r.shape[:-1], r.shape[-1] // 2, 2)
    if r.dtype not in (torch.float32, torch.float64):
        r = r.float()
    return torch.view_as_complex(r.contiguous())


def complex_to_reals(z: torch.Tensor) -> torch.Tensor:
    """[B, K] complex -> [B, 2K] real; the inverse of :func:`reals_to_complex`."""
    return torch.view_as_real(z).reshape(*z.shape[:-1], 2 * z.shape[-1])


def normalize_power(z: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each example (last axis) to unit average power per complex symbol: mean(|z|^2) = 1.

    :input z: complex [..., K].
    :output: complex [..., K].
    """
    p = z.real.square().add(z.imag.square()).mean(dim=-1, keepdim=True)
    return z * torch.rsqrt(p + eps)


def latent_grid(image_shape: Sequence[int], num_downsamples: int, num_symbols: int,
                pad_to: Sequence[int] | None = None) -> tuple[int, int, int]:
    """Latent map ``(c_lat, h, w)`` of a codec that down-scales by ``2**num_downsamples``.

    The (optionally padded) image side must be divisible by ``2**num_downsamples`` and ``2K`` by
    ``h * w``; otherwise ``ValueError`` lists the valid choices.
    """
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise ValueError(f"image_shape must be (C, H, W) with positive entries, got {tuple(image_shape)}")
    if num_symbols < 1:
        raise ValueError(f"num_symbols must be >= 1, got {num_symbols}")
    _, h, w = image_shape
    ph, pw = (h, w) if pad_to is None else tuple(pad_to)
    if ph < h or pw < w:
        raise ValueError(f"pad_to {tuple(pad_to)} is smaller than the image size {(h, w)}")
    f = 2 ** num_downsamples
    if ph % f or pw % f:
        raise ValueError(
            f"padded image size {(ph, pw)} is not divisible by the down-scaling factor {f}; "
            f"set pad_to to a multiple of {f} or change the number of down-scaling stages")
    gh, gw = ph // f, pw // f
    if (2 * num_symbols) % (gh * gw):
        step = gh * gw // math.gcd(2, gh * gw)
        raise ValueError(
            f"num_symbols={num_symbols} does not fit the {gh}x{gw} latent grid: 2K must be a multiple "
            f"of {gh * gw}, i.e. K a multiple of {step}")
    return 2 * num_symbols // (gh * gw), gh, gw


#: Seed of the fixed symbol interleaver (:func:`symbol_interleaver`): part of the architecture, like the
#: interleaver of a standard, so every codec built with ``interleave=True`` for the same K uses the same order.
INTERLEAVER_SEED = 20261207


def symbol_interleaver(num_symbols: int) -> torch.Tensor:
    """The fixed pseudo-random order in which an interleaving codec sends its K latent symbols.

    Without it the latent map is sent in C order, so a latent channel of the CIFAR-10 MobileSC (32 complex
    symbols) fills half of one OFDM symbol's 64 subcarriers and, on a block-fading channel, every spatial
    position of the map sees the gains of only two subcarriers (one for the even, one for the odd channels):
    a fade of those two blanks the position in every channel. Sent in this order, the symbols of one position
    are spread over the band. Transmitted symbol ``k`` is latent symbol ``order[k]``. Measured on CIFAR-10: no
    gain (README "A symbol interleaver does not help").

    :output: int64 [K], a permutation of ``0..K-1`` (seed :data:`INTERLEAVER_SEED`).
    """
    g = torch.Generator().manual_seed(INTERLEAVER_SEED)
    return torch.randperm(int(num_symbols), generator=g)


def _as_param_dtype(module: nn.Module, t: torch.Tensor) -> torch.Tensor:
    """Cast ``t`` to the dtype of ``module``'s parameters (e.g. complex128 symbols into a float32 net)."""
    p = next(module.parameters(), None)
    return t if p is None or t.dtype == p.dtype else t.to(p.dtype)


def run_body(body: nn.Module, gates: nn.ModuleDict, x: torch.Tensor, snr_db=None,
             add_after_first: torch.Tensor | None = None) -> torch.Tensor:
    """``body(x)``; with SNR gates (``{str(i): SNRGate}``, non-empty), ``gates[str(i)]`` is applied after
    ``body[i]`` (an ``nn.Sequential``) and ``snr_db`` (number or [B], dB) is required.
    ``add_after_first`` (the shape of ``body[0]``'s output) is added to ``body[0]``'s output: the decoders'
    channel-state input (:func:`csi_feature`)."""
    if not len(gates) and add_after_first is None:
        return body(x)
    snr = snr_tensor(snr_db, x.shape[0], x.device) if len(gates) else None
    for i, layer in enumerate(body):
        x = layer(x)
        if i == 0 and add_after_first is not None:
            x = x + add_after_first
        if str(i) in gates:
            x = gates[str(i)](x, snr)
    return x


#: The per-symbol channel state enters a CSI-aware decoder as ``-log10(no_eff)`` (the symbol's post-equaliser
#: SINR in bels) clipped to this range: -20..40 dB.
CSI_FEATURE_RANGE = (-2.0, 4.0)


def csi_feature(no_eff: torch.Tensor, latent_shape: Sequence[int]) -> torch.Tensor:
    """The receiver's per-symbol reliability as a latent-shaped map: ``-log10(no_eff)`` clipped to
    :data:`CSI_FEATURE_RANGE`, each complex symbol's value given to both of its reals (the adjacent pair of
    :func:`reals_to_complex`), so that it lines up with the received latent map.

    :input no_eff: float [B, K], the effective noise variance of every equalised symbol (the link's
        ``no_eff``: ``s / (|h_hat|^2 + s)`` for LMMSE, ``s / |h_hat|^2`` for ZF, ``s`` = noise + estimation error).
    :output: float [B, c_lat, h, w].
    """
    if not isinstance(no_eff, torch.Tensor) or no_eff.is_complex() or no_eff.dim() != 2:
        raise ValueError(f"no_eff must be a real tensor [batch, K], got {getattr(no_eff, 'shape', type(no_eff))}")
    lo, hi = CSI_FEATURE_RANGE
    f = -torch.log10(no_eff.clamp_min(10.0 ** -hi))
    return f.clamp(lo, hi).repeat_interleave(2, dim=1).reshape(no_eff.shape[0], *latent_shape)


class ImageEncoder(nn.Module):
    """Base of the convolutional encoders: validation, [-1, 1] scaling, padding, complex pairing.

    Subclasses set ``self.body`` to a module mapping [B, C, Hp, Wp] in [-1, 1] (Hp, Wp = ``pad_to``)
    to the latent map [B, c_lat, h, w]. An encoder told the SNR (the transmitter knows the link's SNR through
    a feedback link) also fills ``self.snr_gates`` (``{str(i): SNRGate}``: the gate after ``body[i]``).

    :input x: float [B, C, H, W] in [0, 1].
    :input snr_db: Es/N0 per channel use [dB], a number or [B]; used only (and then required) when the
        encoder has SNR gates.
    :output z: complex [B, K] (complex64 for float32 weights), not power-normalised.
    """

    def __init__(self, image_shape: Sequence[int], num_symbols: int, latent_shape: Sequence[int],
                 pad_to: Sequence[int] | None = None, interleave: bool = False):
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        self.num_symbols = int(num_symbols)
        self.latent_shape = tuple(int(s) for s in latent_shape)
        self.pad_to = None if pad_to is None else tuple(int(s) for s in pad_to)
        # not in the state dict: the order follows from K, so weights load into either layout
        self.register_buffer("symbol_order", symbol_interleaver(num_symbols) if interleave else None, persistent=False)
        self.check_input = True  # set False to skip the [0, 1] range check (one device sync per call)
        self.channels_last = True  # run the convolutions in NHWC (about 1.4x faster on CPU; same values)
        self.snr_gates = nn.ModuleDict()

    @property
    def snr_adaptive(self) -> bool:
        """Whether the encoder uses the SNR (has SNR gates)."""
        return len(self.snr_gates) > 0

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad_to is None or tuple(x.shape[-2:]) == self.pad_to:
            return x
        dh, dw = self.pad_to[0] - x.shape[-2], self.pad_to[1] - x.shape[-1]
        return F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), mode="replicate")

    def forward(self, x: torch.Tensor, snr_db=None) -> torch.Tensor:
        check_images(x, self.image_shape, check_range=self.check_input)
        x = self._pad(_as_param_dtype(self, x) * 2.0 - 1.0)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        z = reals_to_complex(run_body(self.body, self.snr_gates, x, snr_db).flatten(1))
        return z if self.symbol_order is None else z[:, self.symbol_order]


class SymbolDecoder(nn.Module):
    """Base of the convolutional decoders: validation, latent-map reshape, crop, sigmoid.

    Subclasses set ``self.body`` (an ``nn.Sequential``) mapping the latent map [B, c_lat, h, w] to
    pre-sigmoid images [B, C, Hp, Wp]; the output is centre-cropped to the image size. A decoder with SNR
    side information also fills ``self.snr_gates`` (``{str(i): SNRGate}``: the gate applied after
    ``body[i]``); it then needs ``snr_db``. A decoder told the channel state of every symbol sets
    ``self.csi_input`` (a module mapping :func:`csi_feature`'s map to ``body[0]``'s output, added there); it
    then needs ``no_eff``.

    :input z_hat: complex [B, K].
    :input snr_db: the receiver's Es/N0 per channel use [dB], a number or [B]; used only (and then
        required) when the decoder has SNR gates.
    :input no_eff: float [B, K], the link's effective noise variance per equalised symbol; used only (and
        then required) when the decoder has ``csi_input``.
    :output x_hat: float [B, C, H, W] in [0, 1].
    """

    def __init__(self, image_shape: Sequence[int], num_symbols: int, latent_shape: Sequence[int],
                 interleave: bool = False):
        super().__init__()
        self.image_shape = tuple(int(s) for s in image_shape)
        self.num_symbols = int(num_symbols)
        self.latent_shape = tuple(int(s) for s in latent_shape)
        self.channels_last = True  # run the convolutions in NHWC (about 1.4x faster on CPU; same values)
        self.snr_gates = nn.ModuleDict()
        self.csi_input: nn.Module | None = None
        order = symbol_interleaver(num_symbols) if interleave else None
        self.register_buffer("symbol_inverse", None if order is None else torch.argsort(order), persistent=False)

    def to_latent_order(self, t: torch.Tensor) -> torch.Tensor:
        """``t`` [B, K] (received symbols or their ``no_eff``) in the latent map's order: undoes the encoder's
        :func:`symbol_interleaver` (identity for a codec without it)."""
        return t if self.symbol_inverse is None else t[:, self.symbol_inverse]

    @property
    def snr_adaptive(self) -> bool:
        """Whether the decoder uses the SNR (has SNR gates)."""
        return len(self.snr_gates) > 0

    @property
    def uses_csi(self) -> bool:
        """Whether the decoder uses the per-symbol channel state (``no_eff``)."""
        return self.csi_input is not None

    def forward(self, z_hat: torch.Tensor, snr_db=None, no_eff: torch.Tensor | None = None) -> torch.Tensor:
        check_symbols(z_hat, self.num_symbols)
        z_hat = self.to_latent_order(z_hat)
        r = _as_param_dtype(self, complex_to_reals(z_hat)).reshape(z_hat.shape[0], *self.latent_shape)
        extra = None
        if self.csi_input is not None:
            if no_eff is None:
                raise ValueError("this decoder uses the channel state (decoder_csi=True): pass no_eff, the link's "
                                 "effective noise variance per symbol [batch, K]")
            if tuple(no_eff.shape) != tuple(z_hat.shape):
                raise ValueError(f"no_eff must have the shape of z_hat {tuple(z_hat.shape)}, got {tuple(no_eff.shape)}")
            # not detached: a white-box attack on the pilot reaches the decoder through the estimate's no_eff too
            feat = _as_param_dtype(self, csi_feature(self.to_latent_order(no_eff), self.latent_shape))
            if self.channels_last:
                feat = feat.contiguous(memory_format=torch.channels_last)
            extra = self.csi_input(feat)
        if self.channels_last:
            r = r.contiguous(memory_format=torch.channels_last)
        y = run_body(self.body, self.snr_gates, r, snr_db, extra)
        _, h, w = self.image_shape
        dh, dw = y.shape[-2] - h, y.shape[-1] - w
        if dh or dw:
            y = y[..., dh // 2: dh // 2 + h, dw // 2: dw // 2 + w]
        return torch.sigmoid(y).contiguous()


class SemanticCodec(nn.Module):
    """An encoder/decoder pair with one interface for the link simulator, trainers and attacks.

    :param encoder: module ``x [B,C,H,W] in [0,1] -> z complex [B,K]`` with ``image_shape`` and
        ``num_symbols`` attributes.
    :param decoder: module ``z_hat complex [B,K] -> x_hat [B,C,H,W] in [0,1]``.

    :input x: float [B, C, H, W] in [0, 1].
    :input channel_fn: callable ``z -> z_hat`` (transmitter, channel and receiver; power normalisation
        happens there) or ``z -> dict`` with ``x_hat`` (= ``z_hat``) and ``no_eff`` (a link's output, which a
        decoder using the channel state needs), or ``None`` for an ideal channel (identity, ``no_eff`` = 0).
    :input snr_db: the link's Es/N0 [dB] (number or [B]) for a codec with SNR side information (decoder:
        the receiver's estimate; encoder: fed back to the transmitter).
    :output: dict ``{"x_hat": [B,C,H,W], "z": complex [B,K], "z_hat": complex [B,K]}``.

    Example::

        >>> from sionna_semcomm.models import build_mobilesc
        >>> codec = build_mobilesc((3, 32, 32), 384)
        >>> out = codec(torch.rand(2, 3, 32, 32))
        >>> out["z"].shape, out["x_hat"].shape
        (torch.Size([2, 384]), torch.Size([2, 3, 32, 32]))
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module):
        super().__init__()
        if tuple(encoder.image_shape) != tuple(decoder.image_shape):
            raise ValueError(f"encoder image_shape {encoder.image_shape} != decoder {decoder.image_shape}")
        if encoder.num_symbols != decoder.num_symbols:
            raise ValueError(f"encoder num_symbols {encoder.num_symbols} != decoder {decoder.num_symbols}")
        self.encoder = encoder
        self.decoder = decoder

    @property
    def num_symbols(self) -> int:
        """K, complex symbols per image."""
        return self.encoder.num_symbols

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.encoder.image_shape)

    @property
    def latent_shape(self) -> tuple[int, ...] | None:
        """Shape ``(c_lat, h, w)`` of the real latent map behind the 2K reals, when the codec has one."""
        return getattr(self.encoder, "latent_shape", None)

    def encode(self, x: torch.Tensor, snr_db=None) -> torch.Tensor:
        """Latent symbols [B, K] of images ``x`` [B, C, H, W]; ``snr_db`` (the link's Es/N0 in dB, fed back
        to the transmitter) is needed by, and only used by, an encoder with SNR side information."""
        return self.encoder(x, snr_db) if self.encoder_snr_adaptive else self.encoder(x)

    def decode(self, z_hat: torch.Tensor, snr_db=None, no_eff: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruction [B, C, H, W] of received symbols ``z_hat`` [B, K]; ``snr_db`` (the receiver's
        Es/N0 in dB) is needed by, and only used by, a decoder with SNR side information, ``no_eff`` (float
        [B, K], the link's effective noise variance per symbol) by a decoder that uses the channel state."""
        kw = {"no_eff": no_eff} if self.uses_csi else {}
        return self.decoder(z_hat, snr_db, **kw) if self.snr_adaptive else self.decoder(z_hat, **kw)

    def to_latent_order(self, z_hat: torch.Tensor) -> torch.Tensor:
        """Received symbols [B, K] in the order of the latent map (what a classifier on the symbols reads):
        undoes the codec's symbol interleaver, if it has one."""
        f = getattr(self.decoder, "to_latent_order", None)
        return z_hat if f is None else f(z_hat)

    @property
    def interleaved(self) -> bool:
        """Whether the codec sends its symbols in :func:`symbol_interleaver` order."""
        return getattr(self.decoder, "symbol_inverse", None) is not None

    @property
    def uses_csi(self) -> bool:
        """Whether :meth:`decode` uses the per-symbol channel state ``no_eff``."""
        return bool(getattr(self.decoder, "uses_csi", False))

    @property
    def snr_adaptive(self) -> bool:
        """Whether :meth:`decode` uses the SNR."""
        return bool(getattr(self.decoder, "snr_adaptive", False))

    @property
    def encoder_snr_adaptive(self) -> bool:
        """Whether :meth:`encode` uses the SNR (the transmitter is told it)."""
        return bool(getattr(self.encoder, "snr_adaptive", False))

    def forward(self, x: torch.Tensor, channel_fn: Callable[[torch.Tensor], torch.Tensor] | None = None,
                snr_db=None) -> dict:
        z = self.encode(x, snr_db)
        no_eff = None
        if channel_fn is None:  # ideal channel: every symbol noiseless
            z_hat = z
            if self.uses_csi:
                no_eff = torch.zeros(z.shape, dtype=z.real.dtype, device=z.device)
        else:
            z_hat = channel_fn(z)
            if isinstance(z_hat, dict):  # a link's output dict
                z_hat, no_eff = z_hat["x_hat"], z_hat.get("no_eff")
        return {"x_hat": self.decode(z_hat, snr_db, no_eff), "z": z, "z_hat": z_hat}
