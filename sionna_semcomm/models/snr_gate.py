"""SNR side information for the decoder: a channel gate conditioned on the receiver's SNR.

ADJSCC (Xu et al., "Wireless image transmission using deep source channel coding with attention
modules", 2021) inserts attention-feature (AF) modules after the convolutional layers of a Deep-JSCC
encoder and decoder: the channel-wise mean of the features and the SNR go through a small MLP whose
sigmoid output rescales every channel, so one model adapts to the SNR it is told. Here only the
*decoder* is told (the receiver knows its own noise level; the transmitter would need a feedback link,
and the attacks here change what the receiver sees, not what the transmitter sends). Under an attack
the decoder is given the link's nominal SNR: it does not know about the perturbation.

:class:`SNRGate` is initialised to the identity (``2 * sigmoid(0) = 1``), so it can be added to a
trained decoder without changing its output (``train --init-codec`` loads such a decoder's other
weights and starts the gates there).
"""

from __future__ import annotations

import torch
from torch import nn

from .semblock import make_activation

__all__ = ["SNRGate", "snr_tensor", "SNR_SCALE_DB"]

#: The SNR enters the gate as ``snr_db / SNR_SCALE_DB`` (0..2 for the 0..20 dB training range).
SNR_SCALE_DB = 10.0


def snr_tensor(snr_db, batch_size: int, device, dtype=torch.float32) -> torch.Tensor:
    """``snr_db`` (a number, or one value per example) as a float [B] tensor; ``ValueError`` when missing,
    non-finite or of the wrong length."""
    if snr_db is None:
        raise ValueError("this decoder is SNR-adaptive (snr_adaptive=True): pass snr_db, the receiver's Es/N0 in dB")
    snr = torch.as_tensor(snr_db, dtype=dtype, device=device).reshape(-1)
    if snr.numel() not in (1, batch_size):
        raise ValueError(f"snr_db must have 1 or {batch_size} values (one per example), got {snr.numel()}")
    if not torch.isfinite(snr).all():
        raise ValueError(f"snr_db must be finite, got {snr_db!r}")
    return snr.expand(batch_size)


class SNRGate(nn.Module):
    """``x * 2 sigmoid(W2 act(W1 [mean_HW(x), snr_db / 10]))``: channel attention that knows the SNR.

    :param channels: C.
    :param hidden: width of the MLP (default ``max(8, C // 4)``).
    :param act: activation name (:func:`~.semblock.make_activation`).

    :input x: float [B, C, H, W].
    :input snr_db: float [B] (Es/N0 per channel use in dB, as the link's).
    :output: float [B, C, H, W]; equal to ``x`` at initialisation.
    """

    def __init__(self, channels: int, hidden: int | None = None, act: str = "leaky_relu"):
        super().__init__()
        hidden = max(8, channels // 4) if hidden is None else int(hidden)
        self.reduce = nn.Linear(channels + 1, hidden)
        self.act = make_activation(act, hidden)
        self.expand = nn.Linear(hidden, channels)
        nn.init.zeros_(self.expand.weight)
        nn.init.zeros_(self.expand.bias)

    def gate(self, pooled: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        """[B, C] channel means and [B] SNR in dB -> [B, C] gate in (0, 2)."""
        s = (snr_db.to(pooled.dtype) / SNR_SCALE_DB)[:, None]
        return 2.0 * torch.sigmoid(self.expand(self.act(self.reduce(torch.cat([pooled, s], dim=1)))))

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x.mean(dim=(2, 3)), snr_db)[:, :, None, None]
