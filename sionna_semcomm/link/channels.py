"""Block-fading channel models: AWGN, flat Rayleigh, multipath Rayleigh with an exponential PDP.

All three are Sionna :class:`~sionna.phy.channel.ChannelModel` s returning a channel impulse response
``(a, tau)`` in Sionna's layout, so they plug into Sionna's ``cir_to_time_channel`` /
``ApplyTimeChannel`` (time domain, real ISI when the cyclic prefix is too short) and
``cir_to_ofdm_channel`` (the true per-subcarrier response used for perfect CSI).

Path ``l`` sits exactly on sample ``l`` (delay ``l / bandwidth``), so the discrete-time channel has
taps ``h_0 .. h_{L-1}`` with ``E|h_l|^2 = p_l``, ``p_l ∝ exp(-l / decay)`` and ``sum_l p_l = 1``:
the average channel gain is 1, so the SNR of the link is the average received SNR.

Randomness comes from a ``torch.Generator`` held by the model (set by the link from its seed), so one
seed reproduces the same realizations on the same device; Sionna's global RNG is not used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from sionna.phy.channel import ChannelModel

from .bounds import COMPLEX_BYTES, check_limit

__all__ = ["CHANNEL_KINDS", "ChannelSpec", "BlockFadingChannel", "exponential_pdp"]

CHANNEL_KINDS = ("awgn", "rayleigh_flat", "rayleigh_multipath")


@dataclass(frozen=True)
class ChannelSpec:
    """What channel a link uses.

    :param kind: ``"awgn"`` (h = 1), ``"rayleigh_flat"`` (one CN(0,1) tap per example) or
        ``"rayleigh_multipath"`` (``num_taps`` independent CN(0, p_l) taps per example).
    :param num_taps: number of taps L of the multipath channel (ignored otherwise).
    :param decay: exponential PDP decay constant in samples, ``p_l ∝ exp(-l / decay)``.
    """

    kind: str = "rayleigh_multipath"
    num_taps: int = 8
    decay: float = 4.0

    def __post_init__(self):
        if self.kind not in CHANNEL_KINDS:
            raise ValueError(f"unknown channel kind {self.kind!r}; allowed: {', '.join(CHANNEL_KINDS)}")
        if not isinstance(self.num_taps, int) or self.num_taps < 1:
            raise ValueError(f"num_taps must be a positive int, got {self.num_taps!r}")
        # the link turns taps into subcarrier responses through a [taps, taps] identity CIR
        check_limit("num_taps", self.num_taps, COMPLEX_BYTES * self.num_taps**2, "[channel] ")
        if not (isinstance(self.decay, (int, float)) and math.isfinite(self.decay) and self.decay > 0):
            raise ValueError(f"decay must be a positive finite number, got {self.decay!r}")

    @property
    def length(self) -> int:
        """Number of discrete-time taps of this channel."""
        return self.num_taps if self.kind == "rayleigh_multipath" else 1


def exponential_pdp(num_taps: int, decay: float) -> torch.Tensor:
    """Tap powers ``p_l = exp(-l/decay) / sum_m exp(-m/decay)``, float64 ``[num_taps]`` summing to 1."""
    p = torch.exp(-torch.arange(num_taps, dtype=torch.float64) / decay)
    return p / p.sum()


class BlockFadingChannel(ChannelModel):
    """Block-fading SISO channel with one realization per example (constant over the frame).

    :param spec: :class:`ChannelSpec`.
    :param generator: ``torch.Generator`` on ``device`` drawing the fades (``None``: torch's default).

    :input batch_size: int, number of examples.
    :input num_time_steps: int, must be 1 (block fading).
    :input sampling_frequency: float [Hz], the OFDM bandwidth; path ``l`` is delayed ``l / fs``.
    :output a: [batch_size, 1, 1, 1, 1, L, 1], complex path coefficients.
    :output tau: [batch_size, 1, 1, L], float path delays [s].

    .. code-block:: python

        ch = BlockFadingChannel(ChannelSpec("rayleigh_multipath", num_taps=8, decay=4.0))
        a, tau = ch(batch_size=16, num_time_steps=1, sampling_frequency=960e3)
        assert a.shape == (16, 1, 1, 1, 1, 8, 1)
    """

    def __init__(self, spec: ChannelSpec, generator: torch.Generator | None = None, precision=None, device=None):
        super().__init__(precision=precision, device=device)
        self.spec = spec
        self.generator = generator
        if spec.kind == "rayleigh_multipath":
            pdp = exponential_pdp(spec.num_taps, spec.decay)
        else:
            pdp = torch.ones(1, dtype=torch.float64)
        self.register_buffer("_pdp", pdp.to(device=self.device, dtype=self.dtype))

    @property
    def pdp(self) -> torch.Tensor:
        """Average tap powers ``[L]`` (sum 1)."""
        return self._pdp

    def sample_taps(self, batch_size: int) -> torch.Tensor:
        """Draw per-example discrete taps, complex ``[batch_size, L]``, ``E|h_l|^2 = p_l``."""
        num = self._pdp.numel()
        if self.spec.kind == "awgn":
            return torch.ones(batch_size, 1, dtype=self.cdtype, device=self.device)
        g = torch.randn(batch_size, num, 2, dtype=self.dtype, device=self.device, generator=self.generator)
        h = torch.complex(g[..., 0], g[..., 1]) * math.sqrt(0.5)
        return h * self._pdp.sqrt().to(h.real.dtype)

    def cir(self, taps: torch.Tensor, sampling_frequency: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Sionna CIR ``(a, tau)`` for given taps ``[B, L]`` (see the class doc for shapes)."""
        b, num = taps.shape
        a = taps.reshape(b, 1, 1, 1, 1, num, 1)
        tau = torch.arange(num, dtype=self.dtype, device=taps.device) / sampling_frequency
        return a, tau.reshape(1, 1, 1, num).expand(b, 1, 1, num)

    def __call__(self, batch_size: int, num_time_steps: int, sampling_frequency: float):
        if num_time_steps != 1:
            raise ValueError("BlockFadingChannel is constant over a frame: num_time_steps must be 1")
        return self.cir(self.sample_taps(batch_size), sampling_frequency)
