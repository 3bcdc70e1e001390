"""Closed-form bit error rates, to check the simulator against theory.

All functions take ``snr_db`` = Es/N0 per complex channel use [dB] (the link's convention) and return a
float64 numpy array of the same shape.

Rayleigh results are per resource element with ``h ~ CN(0, 1)``; they hold for the flat and for the
multipath channel (each subcarrier's response is CN(0, 1) when the PDP sums to 1 and CP >= L - 1).
With LS estimation from one pilot of the same SNR, ``h_hat = h + e``, ``e ~ CN(0, N0)``. The decision
statistic ``Re(h_hat^* y)`` compares two jointly Gaussian variables with correlation coefficient
``mu``; for BPSK the BER is ``(1 - mu) / 2``, for Gray QPSK ``(1 - mu / sqrt(2 - mu^2)) / 2`` (Proakis,
Digital Communications, Sec. 14.4), with ``mu = sqrt(g / (1 + g))`` for perfect CSI and
``mu = g / (1 + g)`` for LS (g = Es/N0): LS costs 3 dB at high SNR.

The ergodic capacity per resource element is ``E log2(1 + G Y)``, ``Y ~ Exp(1)``, which is
``log2(e) exp(1/G) E1(1/G)`` (E1 the exponential integral), with ``G = g`` for perfect CSI. With the LS
estimate, Medard's lower bound (the LMMSE-scaled estimate ``h_hat / (1 + N0)``, its error counted as noise)
is the same expression at ``G = g^2 / (1 + 2 g)``: again 3 dB at high SNR. An estimate whose error variance is
``r N0`` (the DFT-denoised LS estimate: ``r = (cp + 1) / F``) gives ``mu = 1 / sqrt((1 + r N0) (1 + N0))`` and
``G = g^2 / ((1 + r) g + r)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erfc, exp1

__all__ = ["ber_awgn", "ber_rayleigh", "capacity_rayleigh", "THEORY_MODULATIONS"]

THEORY_MODULATIONS = ("bpsk", "qpsk", "16qam", "64qam")


def _q(x):
    return 0.5 * erfc(np.asarray(x, dtype=np.float64) / np.sqrt(2.0))


def _lin(snr_db):
    snr_db = np.asarray(snr_db, dtype=np.float64)
    if not np.all(np.isfinite(snr_db)):
        raise ValueError(f"snr_db must be finite, got {snr_db}")
    return 10.0 ** (snr_db / 10.0)


def ber_awgn(modulation: str, snr_db):
    """BER of Gray-mapped ``modulation`` over AWGN at Es/N0 ``snr_db``.

    Exact for BPSK (``Q(sqrt(2 Es/N0))``) and QPSK (``Q(sqrt(Es/N0))``); for square 16/64-QAM the
    standard Gray approximation ``(4/log2 M)(1 - 1/sqrt M) Q(sqrt(3 Es/N0 / (M - 1)))`` (tight above a
    BER of about 1e-2).
    """
    g = _lin(snr_db)
    if modulation == "bpsk":
        return _q(np.sqrt(2 * g))
    if modulation == "qpsk":
        return _q(np.sqrt(g))
    if modulation in ("16qam", "64qam"):
        m = 16 if modulation == "16qam" else 64
        return 4 / np.log2(m) * (1 - 1 / np.sqrt(m)) * _q(np.sqrt(3 * g / (m - 1)))
    raise ValueError(f"no closed form for {modulation!r}; allowed: {', '.join(THEORY_MODULATIONS)}")


def _error_ratio(csi: str, dft_fraction: float | None) -> float:
    """The channel estimate's error variance in units of N0: 0 (perfect), 1 (LS), ``dft_fraction`` (LS DFT-denoised)."""
    if csi == "perfect":
        return 0.0
    if csi == "ls":
        return 1.0
    if csi == "ls_dft":
        if dft_fraction is None or not 0 < dft_fraction <= 1:
            raise ValueError(f"csi 'ls_dft' needs dft_fraction in (0, 1], got {dft_fraction!r}")
        return float(dft_fraction)
    raise ValueError(f"csi must be 'perfect', 'ls' or 'ls_dft', got {csi!r}")


def ber_rayleigh(modulation: str, snr_db, csi: str = "perfect", dft_fraction: float | None = None):
    """BER of coherent BPSK/QPSK over Rayleigh fading (average gain 1) at average Es/N0 ``snr_db``.

    :param csi: ``"perfect"``, ``"ls"`` (one pilot at the same SNR, see the module doc) or ``"ls_dft"`` (that
        estimate DFT-denoised: error variance ``dft_fraction * N0``, ``dft_fraction = (cp + 1) / F``).
        In general ``mu = 1 / sqrt((1 + s2) (1 + N0))`` for an estimate ``h + e`` with ``e ~ CN(0, s2)``.
    """
    g = _lin(snr_db)
    r = _error_ratio(csi, dft_fraction)
    mu = 1 / np.sqrt((1 + r / g) * (1 + 1 / g))
    if modulation == "bpsk":
        return 0.5 * (1 - mu)
    if modulation == "qpsk":
        return 0.5 * (1 - mu / np.sqrt(2 - mu**2))
    raise ValueError(f"no closed form for {modulation!r} over Rayleigh; allowed: bpsk, qpsk")


def capacity_rayleigh(snr_db, csi: str = "perfect", dft_fraction: float | None = None):
    """Ergodic capacity [bit per complex channel use] over Rayleigh fading (average gain 1) at average Es/N0
    ``snr_db``, with ``csi="perfect"`` or, with ``"ls"`` (one pilot at the same SNR) and ``"ls_dft"`` (that
    estimate DFT-denoised, error variance ``dft_fraction * N0``), Medard's lower bound (module doc): an estimate
    with error variance ``r N0`` gives ``G = g^2 / ((1 + r) g + r)``."""
    g = _lin(snr_db)
    r = _error_ratio(csi, dft_fraction)
    eff = g * g / ((1 + r) * g + r)
    return np.log2(np.e) * np.exp(1 / eff) * exp1(1 / eff)
