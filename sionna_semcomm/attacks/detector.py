"""Imperceptibility, measured: a receiver-side detector that does not know the attack.

**Cyclic-prefix redundancy.** The CP of every OFDM symbol is a copy of the symbol's last ``cp`` samples.
After a channel of L taps, CP sample ``c`` of a symbol only mixes samples of the same symbol when
``c >= L - 1`` (the first ``L - 1`` are corrupted by the previous symbol, ISI), so without noise

    ``y[t] = y[t + F]``  for ``t = s (F + cp) + c``,  ``L - 1 <= c < cp``.

Their difference ``r = y[t] - y[t + F]`` therefore holds only the noise and the perturbation:
``r = n[t] - n[t + F] + p[t] - p[t + F]``. With natural noise (white, Gaussian) it is CN(0, 2 N0):
``|r|^2 / E|r|^2`` is Exp(1), and the residuals are independent and identically distributed over the
frame. A perturbation that is not white Gaussian noise (structured in time, concentrated on some OFDM
symbols such as the pilot symbol, non-Gaussian amplitudes) changes that distribution.

**Statistic.** Per frame, the ``S (cp - L + 1)`` values ``u = |r|^2 / mean(|r|^2)`` are compared with Exp(1)
by a goodness-of-fit distance: Kolmogorov-Smirnov (``"ks"``, default) or Anderson-Darling (``"ad"``, more
weight on the tails). Normalising by the frame's own mean makes the test blind to the *power* of the
residual, on purpose: the comparison is with natural noise of the same total power (``N0 + P_p``), so only
the *shape* of the disturbance can give an attack away. Larger is more anomalous.

**ROC AUC.** Over images: the statistic under the attack (each frame with its perturbation) against the
statistic under natural noise of the same total power (same channel, noise variance ``N0 + P_p`` of that
frame, no perturbation); AUC = P(attacked statistic > natural statistic) (Mann-Whitney, ties count 1/2).
0.5: indistinguishable; 1: always detected. Gaussian jamming is white Gaussian noise, so its AUC is ~0.5
by construction (a check of the detector).

Frequency-domain perturbations are added after the receiver's FFT (they never exist in the time samples),
so this detector does not apply to them; :func:`cp_residuals` refuses them. The receiver is assumed to know
an upper bound L on the channel length (the scenario's); with ``cp < L`` no residual is ISI-free.
"""

from __future__ import annotations

import torch

from ..link.ofdm import snr_db_to_no
from .psr import masked_power

__all__ = ["cp_residuals", "gof_statistic", "roc_auc", "cp_statistic", "detection_scores", "STATISTICS"]

STATISTICS = ("ks", "ad")


def _residual_index(link) -> torch.Tensor:
    cfg = link.config
    f, cp, s, length = cfg.fft_size, cfg.cyclic_prefix_length, link.num_ofdm_symbols, cfg.channel.length
    if cp < length:
        raise ValueError(f"a cyclic prefix of {cp} samples has no ISI-free samples for a channel of {length} taps "
                         "(need cp >= L): the CP detector does not apply")
    c = torch.arange(length - 1, cp)
    starts = torch.arange(s) * (f + cp)
    return (starts.unsqueeze(1) + c.unsqueeze(0)).reshape(-1)


def cp_residuals(y_time: torch.Tensor, link) -> torch.Tensor:
    """CP-redundancy residuals ``y[t] - y[t + F]`` of every OFDM symbol, ``[B, S (cp - L + 1)]`` complex.

    :param y_time: received samples [B, >= N] (``out["y_time"]`` of the link).
    :raises ValueError: ``cp < L`` (no ISI-free CP sample) or a frequency-domain perturbation link.
    """
    if link.config.perturbation_domain != "time":
        raise ValueError("the CP detector looks at the received time samples; frequency-domain perturbations are "
                         "added after the FFT and are not in them")
    idx = _residual_index(link).to(y_time.device)
    return y_time[..., idx] - y_time[..., idx + link.config.fft_size]


def gof_statistic(r: torch.Tensor, kind: str = "ks") -> torch.Tensor:
    """Goodness-of-fit distance of ``|r|^2 / mean|r|^2`` (per row) from Exp(1): float64 [B].

    ``"ks"``: Kolmogorov-Smirnov ``sup |F_n - F|``; ``"ad"``: Anderson-Darling ``A^2``.
    """
    if kind not in STATISTICS:
        raise ValueError(f"statistic must be one of {', '.join(STATISTICS)}, got {kind!r}")
    e = r.abs().to(torch.float64).square()
    u = (e / e.mean(dim=-1, keepdim=True).clamp_min(1e-300)).sort(dim=-1).values
    n = u.shape[-1]
    cdf = -torch.expm1(-u)  # 1 - exp(-u), accurate for small u
    i = torch.arange(1, n + 1, dtype=torch.float64, device=u.device)
    if kind == "ks":
        return torch.maximum((i / n - cdf).amax(-1), (cdf - (i - 1) / n).amax(-1))
    cdf = cdf.clamp(1e-300, 1 - 1e-16)
    log_sf_rev = (-u).flip(-1)  # log(1 - F(u_{n+1-i})) = -u_{n+1-i}
    return -n - ((2 * i - 1) * (torch.log(cdf) + log_sf_rev)).mean(-1)


def cp_statistic(y_time: torch.Tensor, link, kind: str = "ks") -> torch.Tensor:
    """The detector's statistic per frame (:func:`cp_residuals` then :func:`gof_statistic`), float64 [B]."""
    return gof_statistic(cp_residuals(y_time, link), kind)


def roc_auc(positive, negative) -> float:
    """Area under the ROC curve of ``positive`` (attacked) vs ``negative`` (natural) scores, higher = attacked.

    Mann-Whitney: the fraction of (positive, negative) pairs ranked correctly, ties counting 1/2.
    """
    pos = torch.as_tensor(positive, dtype=torch.float64).reshape(-1)
    neg = torch.as_tensor(negative, dtype=torch.float64).reshape(-1)
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError("roc_auc needs at least one score of each class")
    both = torch.cat([pos, neg])
    order = both.argsort()
    ranks = torch.empty_like(both)
    ranks[order] = torch.arange(1, both.numel() + 1, dtype=torch.float64)
    # average ranks over ties
    uniq, inverse = torch.unique(both, return_inverse=True)
    sums = torch.zeros(uniq.numel(), dtype=torch.float64).index_add_(0, inverse, ranks)
    counts = torch.zeros(uniq.numel(), dtype=torch.float64).index_add_(0, inverse, torch.ones_like(ranks))
    ranks = (sums / counts)[inverse]
    n1, n0 = pos.numel(), neg.numel()
    return float((ranks[:n1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


@torch.no_grad()
def detection_scores(link, symbols: torch.Tensor, snr_db: float, perturbation, taps: torch.Tensor,
                     kind: str = "ks") -> dict:
    """Detector statistics of one batch under the attack and under natural noise of the same total power.

    :param link: the victim link (its noise stream is used for both passes: independent draws).
    :param symbols: complex [B, K] payload (e.g. ``system.codec.encode(images)``).
    :param snr_db: Es/N0 per channel use [dB] (float).
    :param perturbation: [B, N] time-domain perturbation (from any attack) or ``None``.
    :param taps: complex [B, L] channel of the batch (the same for both passes).
    :output: dict ``attacked`` [B], ``natural`` [B] (float64 statistics), ``perturbation_power`` [B] (mean
        ``|p|^2`` over all N samples, what the natural noise adds), ``signal_power`` [B].
    """
    b = symbols.shape[0]
    out = link(symbols, snr_db, perturbation=perturbation, taps=taps)
    attacked = cp_statistic(out["y_time"], link, kind)
    no = snr_db_to_no(snr_db, b, dtype=torch.float64, device=symbols.device)
    pp = torch.zeros(b, dtype=torch.float64, device=symbols.device)
    if out["perturbation"] is not None:
        pp = masked_power(out["perturbation"].reshape(b, -1)).to(torch.float64)
    snr_natural = -10.0 * torch.log10(no + pp)
    natural = cp_statistic(link(symbols, snr_natural.to(link.dtype), taps=taps)["y_time"], link, kind)
    return {"attacked": attacked, "natural": natural, "perturbation_power": pp,
            "signal_power": masked_power(out["rx_signal"]).to(torch.float64)}

