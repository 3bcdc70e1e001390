"""Perturbation-to-signal ratio (PSR): where it is measured, how it is measured, and how attacks meet it.

Definition (DESIGN.md, Sadeghi & Larsson 2019): ``PSR = P_p / P_s``, the received perturbation power over
the received signal power, both averaged over the **same** samples: the samples the perturbation is
allowed to hit (:func:`psr_mask`):

* time domain (``LinkConfig.perturbation_domain = "time"``, the default): the N complex samples of a frame
  at the receiver input (CP included); when ``perturb_pilots`` is False, only the samples of the non-pilot
  OFDM symbols;
* frequency domain (``"freq"``): the S x F resource elements after the FFT; without the pilot OFDM
  symbols' REs when ``perturb_pilots`` is False.

``P_s`` is the power of the *noiseless* received signal ``h * s`` (``out["rx_signal"]`` of the link, or its
FFT for the frequency domain, :func:`received_signal`), so the PSR depends neither on the noise nor on
the SNR, and one image in a deep fade has a small ``P_s``.

Two ways to meet a PSR:

* **per image** (:func:`scale_to_psr`): white-box per-input attacks (FGM, PGD) and jamming know (or
  measure) the received signal power of the frame they hit and scale to it: the PSR holds exactly on
  every image.
* **nominal** (:func:`scale_to_nominal`): input-agnostic generators (SemAdv, PGM) never see the signal;
  they scale to the *nominal* average received power, 1 per sample (unit transmit power per resource
  element, unit average channel gain; CP samples are copies, so the time-domain average is 1 too). Their
  PSR holds exactly when the received power is 1 and **on average over images** otherwise:
  ``E[P_p] / E[P_s] = PSR``. Results report the measured value (:func:`summarize_psr`).
"""

from __future__ import annotations

import math

import torch

from ..link.bounds import check_db

__all__ = ["check_psr_db", "psr_linear", "perturbation_shape", "psr_mask", "time_to_grid", "received_signal",
           "masked_power", "measured_psr_db", "scale_to_psr", "scale_to_nominal", "perturbation_powers",
           "summarize_psr", "NOMINAL_RECEIVED_POWER"]

#: Average received power per sample (and per RE) the input-agnostic attacks scale to: unit-energy REs
#: through a channel of unit average gain.
NOMINAL_RECEIVED_POWER = 1.0


def check_psr_db(psr_db) -> float:
    """``psr_db`` as a finite float within ``±DB_LIMIT`` (:mod:`~sionna_semcomm.link.bounds`), or a
    :class:`ValueError` that says what was wrong."""
    if isinstance(psr_db, (bool, str, bytes)) or psr_db is None:
        raise ValueError(f"psr_db must be a finite number (dB), got {psr_db!r}")
    try:
        value = float(psr_db)
    except (TypeError, ValueError):
        raise ValueError(f"psr_db must be a finite number (dB), got {psr_db!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"psr_db must be finite, got {psr_db!r}")
    check_db("psr_db", value)
    return value


def psr_linear(psr_db) -> float:
    """``10^(psr_db / 10)`` after :func:`check_psr_db`."""
    return 10.0 ** (check_psr_db(psr_db) / 10.0)


def perturbation_shape(link) -> tuple[int, ...]:
    """Shape of one frame's perturbation for ``link``'s hook: ``(N,)`` (time) or ``(S, F)`` (freq)."""
    if link.config.perturbation_domain == "time":
        return (link.num_time_samples,)
    return (link.num_ofdm_symbols, link.config.fft_size)


def psr_mask(link) -> torch.Tensor:
    """Bool mask of :func:`perturbation_shape`: the samples / REs the perturbation may hit (and the PSR is
    measured over): everything, or everything but the pilot OFDM symbols when ``perturb_pilots`` is False."""
    shape = perturbation_shape(link)
    if link.config.perturbation_domain == "time":
        pilots = link.pilot_sample_mask
    else:
        pilots = link.pilot_symbol_mask.unsqueeze(-1).expand(*shape)
    if link.config.perturb_pilots:
        return torch.ones(shape, dtype=torch.bool, device=pilots.device)
    return ~pilots


def time_to_grid(link, samples: torch.Tensor) -> torch.Tensor:
    """Receiver FFT of time samples ``[B, >= N]`` -> ``[B, S, F]``: CP removal, unitary FFT, DC in the middle
    (Sionna's ``OFDMDemodulator`` convention; samples beyond N are ignored, as the receiver does)."""
    s, f, cp = link.num_ofdm_symbols, link.config.fft_size, link.config.cyclic_prefix_length
    frames = samples[..., : link.num_time_samples].reshape(*samples.shape[:-1], s, f + cp)[..., cp:]
    return torch.fft.fftshift(torch.fft.fft(frames, dim=-1, norm="ortho"), dim=-1)


def received_signal(link, rx_signal: torch.Tensor) -> torch.Tensor:
    """The noiseless received signal in the perturbation domain: ``rx_signal`` [B, N] itself (time) or its
    resource grid [B, S, F] (freq)."""
    if link.config.perturbation_domain == "time":
        return rx_signal
    return time_to_grid(link, rx_signal)


def _flat(t: torch.Tensor, mask: torch.Tensor | None, tail: int) -> torch.Tensor:
    """``t`` [B, *shape] -> [B, M] values on the mask (all values without one)."""
    if mask is None:
        return t.reshape(*t.shape[: t.dim() - tail], -1) if tail else t
    return t[..., mask.to(t.device)]


def masked_power(t: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean ``|t|^2`` per frame over the mask: ``[B]`` for ``t`` [B, *mask.shape] (float)."""
    tail = mask.dim() if mask is not None else t.dim() - 1
    return _flat(t, mask, tail).abs().square().mean(dim=-1)


def measured_psr_db(p: torch.Tensor, rx_signal: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Per-frame PSR [dB], ``10 log10(P_p / P_s)`` with both powers averaged over ``mask``.

    :param p: perturbation [B, *shape] (time [B, N] or freq [B, S, F]; one shared [*shape] is broadcast).
    :param rx_signal: noiseless received signal in the same domain and shape (see :func:`received_signal`).
    :param mask: bool [*shape] (:func:`psr_mask`); ``None``: every sample.
    :output: float [B]; ``-inf`` where ``p`` is zero.
    """
    p = p.expand_as(rx_signal)
    return 10.0 * torch.log10(masked_power(p, mask) / masked_power(rx_signal, mask))


def _apply_mask(p: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return p if mask is None else p * mask.to(device=p.device, dtype=p.real.dtype)


def scale_to_psr(p: torch.Tensor, rx_signal: torch.Tensor, psr_db, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Scale each frame's perturbation to the PSR *of that frame*: exact per image.

    ``p`` is zeroed outside ``mask`` and multiplied by ``sqrt(PSR * P_s / P_p)`` (powers over the mask).

    :param p: perturbation direction [B, *shape] (any non-zero power on the mask).
    :param rx_signal: noiseless received signal [B, *shape] in the same domain.
    :raises ValueError: a frame whose perturbation is zero on the mask (it cannot be scaled).
    """
    p = _apply_mask(p, mask)
    pp, ps = masked_power(p, mask), masked_power(rx_signal, mask)
    if bool((pp <= 0).any()):
        raise ValueError("cannot scale a perturbation that is zero on every sample it may hit")
    scale = torch.sqrt(psr_linear(psr_db) * ps / pp)
    return p * scale.reshape(-1, *([1] * (p.dim() - 1))).to(p.real.dtype)


def scale_to_nominal(p: torch.Tensor, psr_db, mask: torch.Tensor | None = None,
                     nominal_power: float = NOMINAL_RECEIVED_POWER, center: bool = False) -> torch.Tensor:
    """Scale each perturbation to ``PSR * nominal_power`` (mean ``|p|^2`` over the mask): input-agnostic attacks.

    :param center: first remove each perturbation's mean over the mask (zero-mean, the paper's Eq. 16
        normalisation: "mean 0" and a fixed standard deviation).
    :output: same shape; zero outside ``mask``; mean power over the mask exactly ``PSR * nominal_power``.
    """
    p = _apply_mask(p, mask)
    tail = mask.dim() if mask is not None else p.dim() - 1
    if center:
        vals = _flat(p, mask, tail)
        mean = vals.mean(dim=-1)
        p = _apply_mask(p - mean.reshape(-1, *([1] * tail)), mask)
    pp = masked_power(p, mask)
    scale = torch.sqrt(psr_linear(psr_db) * nominal_power / pp.clamp_min(torch.finfo(pp.dtype).tiny))
    return p * scale.reshape(-1, *([1] * tail)).to(p.real.dtype)


def perturbation_powers(link, link_out: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Measured ``(P_p, P_s)`` per frame ([B] each, float64) of one link call, over :func:`psr_mask`.

    ``P_p`` is the power of the perturbation *as applied* (``link_out["perturbation"]``, zeros without one),
    ``P_s`` the power of the noiseless received signal in the same domain: the receiver-side truth,
    independent of how the attack computed its scale.
    """
    mask = psr_mask(link)
    rx = received_signal(link, link_out["rx_signal"].reshape(-1, link.num_time_samples))
    ps = masked_power(rx, mask).to(torch.float64)
    p = link_out.get("perturbation")
    if p is None:
        return torch.zeros_like(ps), ps
    return masked_power(p.reshape(rx.shape), mask).to(torch.float64), ps


def summarize_psr(p_power, s_power) -> dict:
    """Summary of measured PSRs over frames (JSON-able floats; ``None`` when there is no perturbation).

    ``measured_psr_db``: ``10 log10(sum P_p / sum P_s)``, the PSR of all received samples together (what
    a nominally scaled attack meets on average); ``per_image_mean_db`` / ``min`` / ``max``: statistics of
    the per-frame PSRs in dB (equal to the target for per-image attacks).
    """
    pp = torch.as_tensor(p_power, dtype=torch.float64).reshape(-1)
    ps = torch.as_tensor(s_power, dtype=torch.float64).reshape(-1)
    if pp.numel() == 0 or not bool((pp > 0).any()):
        return {"measured_psr_db": None, "per_image_mean_db": None, "per_image_min_db": None, "per_image_max_db": None}
    hit = pp > 0
    per = 10 * torch.log10(pp[hit] / ps[hit])
    return {"measured_psr_db": float(10 * torch.log10(pp.sum() / ps.sum())), "per_image_mean_db": float(per.mean()),
            "per_image_min_db": float(per.min()), "per_image_max_db": float(per.max())}
