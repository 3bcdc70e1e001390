"""Baseline physical-layer attacks the paper compares SemAdv with: jamming, FGM, PGD and PGM.

All follow :class:`sionna_semcomm.attacks.Attack` (construct with the attacked system, the victim link and
the PSR; call with images, labels, SNR and the batch's channel taps; get a perturbation for the link's
hook) and meet their PSR as :mod:`sionna_semcomm.attacks.psr` defines it:

=========  =====================  ======================================  =====================================
attack     PSR met                knows                                    what it optimises
=========  =====================  ======================================  =====================================
jamming    exactly, per image     nothing of the model                     nothing (white Gaussian noise)
fgm        exactly, per image     white-box, per input                     one L2 gradient step (Sadeghi & Larsson)
pgd        exactly, per image     white-box, per input                     k projected L2 gradient steps
pgm        nominal (on average)   training: white-box; test: nothing       universal, input-agnostic generator
=========  =====================  ======================================  =====================================

White-box gradient attacks work on a fixed channel realization: the taps of the current batch (the ones
the victim link will apply, passed as ``taps=``). The attacker knows the system's weights, the channel
realization, the transmitted signal (so the received signal power it scales to) and the noise variance,
but not the noise realization: its gradient passes go through its own copy of the link (same
configuration, its own noise stream), so the perturbation is optimised in expectation over the noise,
and the victim's noise stream is never touched (the evaluated pass sees the same noise with and without
an attack).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sionna_semcomm.attacks.base import Attack, receive
from sionna_semcomm.attacks.generator import GeneratorAttack
from sionna_semcomm.attacks.psr import masked_power, psr_linear, scale_to_psr
from sionna_semcomm.link.ofdm import OFDMLink
from sionna_semcomm.runtime import make_generator

__all__ = ["Jamming", "FGM", "PGD", "PGM", "register"]


def _complex_normal(shape, rng, device, dtype) -> torch.Tensor:
    g = torch.randn(*shape, 2, generator=rng, device=device, dtype=dtype)
    return torch.complex(g[..., 0], g[..., 1]) * (0.5 ** 0.5)


class Jamming(Attack):
    """Gaussian jamming: white CN(0, P) noise at the PSR.

    Threat model: **budget** ``psr_db``, met exactly on every frame (the jammer's power is set from the
    frame's received signal power, as a jammer that measures the victim's signal strength would);
    **domain / pilots**: the link's; **knowledge**: none of the model, the images or the channel
    realization beyond the received power. Its samples come from its own generator (reproducible).

    Needs no learned system: :meth:`from_received` jams any link from its received signal (conventional
    links included).
    """

    name = "jamming"
    needs_system = False
    link_level = True
    knowledge = "none of the model or the data; the received signal power of each frame (to set its own power)"

    def forward(self, x, y, snr_db, taps):
        if self.system is None:
            raise ValueError("jamming without a semantic system works on received signals: call from_received(rx)")
        _, rx = self.clean_received(x, taps)
        return self.from_received(rx)

    def from_received(self, rx: torch.Tensor) -> torch.Tensor:
        """Jamming for noiseless received signals ``rx`` [B, *shape] (perturbation domain)."""
        w = _complex_normal(rx.shape, self.rng, rx.device, self.link.dtype)
        return scale_to_psr(w, rx, self.psr_db, self.mask)


class _GradientAttack(Attack):
    """Shared parts of the white-box per-input attacks (FGM, PGD).

    Loss (maximised): cross-entropy of the classifier w.r.t. the true labels, plus ``w_rec`` times the
    reconstruction MSE per image; with ``controllable_class`` (targeted variant) minus the cross-entropy
    towards that class instead of the first term.
    """

    knowledge = ("white-box, per input: the system's weights and gradients, the frame's channel realization (taps), "
                 "the transmitted signal (hence its received power) and the noise variance; not the noise realization")

    def __init__(self, system, link, psr_db, *, target_class=None, controllable_class=None, seed: int = 0,
                 w_rec: float = 0.0):
        self.attack_link = OFDMLink(link.num_symbols, link.config, seed=0, device=link.device, precision=link.precision)
        super().__init__(system, link, psr_db, target_class=target_class, controllable_class=controllable_class, seed=seed)
        if not (isinstance(w_rec, (int, float)) and 0 <= w_rec < float("inf")):
            raise ValueError(f"w_rec must be a finite number >= 0, got {w_rec!r}")
        self.w_rec = float(w_rec)

    def reseed(self, seed: int) -> None:
        super().reseed(seed)
        # the attacker's own noise stream (never the victim's), derived from its seed
        self.attack_link.reseed(make_generator(seed, f"attack-{self.name}-link").initial_seed())

    def settings(self) -> dict:
        return {"w_rec": self.w_rec}

    def loss(self, out: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example loss the attack maximises, float [B]."""
        logits = out["logits"]
        if self.controllable_class is not None:
            loss = -F.cross_entropy(logits, torch.full_like(y, self.controllable_class), reduction="none")
        else:
            loss = F.cross_entropy(logits, y, reduction="none")
        if self.w_rec:
            loss = loss + self.w_rec * (out["x_hat"] - x).square().flatten(1).mean(-1)
        return loss

    def _loss_and_grad(self, z, x, y, snr_db, delta, taps):
        with torch.enable_grad():
            delta = delta.detach().requires_grad_(True)
            out = receive(self.system, self.attack_link, z, snr_db, perturbation=delta, taps=taps)
            loss = self.loss(out, x, y)
            (grad,) = torch.autograd.grad(loss.sum(), delta)
        return loss.detach(), grad * self.mask.to(grad.real.dtype)

    def _prepare(self, x, y, snr_db, taps):
        if y is None or snr_db is None or taps is None:
            raise ValueError(f"{self.name} is a white-box per-input attack: it needs labels, snr_db and taps")
        z, rx = self.clean_received(x, taps)
        return z, rx, y.to(z.device), taps


class FGM(_GradientAttack):
    """Fast gradient method (Sadeghi & Larsson 2019, single-step L2).

    ``p = eps * g / ||g||`` with ``g`` the gradient of the loss w.r.t. the perturbation at ``p = 0`` and
    ``eps`` the frame's PSR radius ``sqrt(PSR * P_s * M)``.

    Threat model: **budget** ``psr_db``, met exactly on every frame; **domain / pilots**: the link's;
    **knowledge**: white-box, per input (see the module doc). Frames whose gradient vanishes get a random
    direction (from the attack's generator).
    """

    name = "fgm"

    def forward(self, x, y, snr_db, taps):
        z, rx, y, taps = self._prepare(x, y, snr_db, taps)
        _, g = self._loss_and_grad(z, x, y, snr_db, torch.zeros_like(rx), taps)
        dead = masked_power(g, self.mask) <= 0
        if bool(dead.any()):
            g = torch.where(dead.reshape(-1, *([1] * len(self.shape))),
                            _complex_normal(g.shape, self.rng, g.device, self.link.dtype), g)
        return scale_to_psr(g, rx, self.psr_db, self.mask).detach()


class PGD(_GradientAttack):
    """Projected gradient descent (ascent on the loss), L2, per frame, with a random start.

    Start: a random Gaussian direction at the PSR radius. Each of ``steps`` iterations moves
    ``step_size * eps`` along the normalised gradient and projects back onto the frame's PSR constraint
    ``||p||^2 = PSR * P_s * M`` (the boundary of the PSR ball: the attack must meet its PSR exactly, and
    spending the full budget is where the maximum lies in practice). The iterate with the largest loss
    (random start included) is returned, so PGD is never weaker than its own random start, a scaled
    Gaussian, on the attacker's own noise draws.

    Threat model: **budget** ``psr_db``, met exactly on every frame; **domain / pilots**: the link's;
    **knowledge**: white-box, per input (see the module doc): the strongest reference.

    :param steps: gradient iterations (default 10).
    :param step_size: step as a fraction of the PSR radius (default ``2.5 / steps``).
    :param w_rec: weight of the reconstruction MSE in the loss.
    """

    name = "pgd"

    def __init__(self, system, link, psr_db, *, steps: int = 10, step_size: float | None = None, **kw):
        super().__init__(system, link, psr_db, **kw)
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps must be a positive int, got {steps!r}")
        self.steps = steps
        self.step_size = 2.5 / steps if step_size is None else float(step_size)
        if not 0 < self.step_size < float("inf"):
            raise ValueError(f"step_size must be positive, got {step_size!r}")

    def settings(self) -> dict:
        return {**super().settings(), "steps": self.steps, "step_size": self.step_size}

    def forward(self, x, y, snr_db, taps):
        z, rx, y, taps = self._prepare(x, y, snr_db, taps)
        tail = [1] * len(self.shape)
        m = int(self.mask.sum())
        eps = torch.sqrt(psr_linear(self.psr_db) * masked_power(rx, self.mask) * m).reshape(-1, *tail)
        delta = scale_to_psr(_complex_normal(rx.shape, self.rng, rx.device, self.link.dtype), rx, self.psr_db, self.mask)
        best, best_loss = delta.clone(), torch.full((rx.shape[0],), -float("inf"), device=rx.device)
        for step in range(self.steps + 1):
            loss, g = self._loss_and_grad(z, x, y, snr_db, delta, taps)
            better = loss > best_loss
            best = torch.where(better.reshape(-1, *tail), delta, best)
            best_loss = torch.maximum(loss, best_loss)
            if step == self.steps:
                break
            gnorm = g.abs().square().flatten(1).sum(-1).sqrt().reshape(-1, *tail)
            delta = delta + self.step_size * eps * g / gnorm.clamp_min(torch.finfo(gnorm.dtype).tiny)
            delta = scale_to_psr(delta, rx, self.psr_db, self.mask)
        return best.detach()


class PGM(GeneratorAttack):
    """PGM (Bahramali et al., CCS 2021): a generator of universal, input-agnostic perturbations.

    Trained (with :class:`~sionna_semcomm.attacks.trainer.GeneratorTrainer`) to *maximise* the
    classification loss of every class, ``CE(f(x + G(u)), y)`` plus ``w_rec`` times the reconstruction
    MSE: content-oriented (all images, all classes), unlike SemAdv's semantic objective. Same MLP and power
    normalisation as SemAdv.

    Threat model: **budget** ``psr_db``, met at the nominal received power, hence on average over frames;
    **domain / pilots**: the link's; **knowledge**: white-box at training time, nothing at test time (the
    perturbation depends only on a uniform seed).
    """

    name = "pgm"

    def __init__(self, system, link, psr_db, *, w_rec: float = 0.0, **kw):
        super().__init__(system, link, psr_db, **kw)
        if not (isinstance(w_rec, (int, float)) and 0 <= w_rec < float("inf")):
            raise ValueError(f"w_rec must be a finite number >= 0, got {w_rec!r}")
        self.w_rec = float(w_rec)

    @property
    def mode(self) -> str:
        return "universal"

    def settings(self) -> dict:
        return {"w_rec": self.w_rec}

    def training_loss(self, out, x, y, p, rng=None):
        ce = F.cross_entropy(out["logits"], y)
        rec = F.mse_loss(out["x_hat"], x)
        loss = -(ce + self.w_rec * rec)
        return loss, {"ce": float(ce.detach()), "rec": float(rec.detach())}


def register(register_attack) -> None:
    """Register the baseline attacks through the core's ``register_attack``."""
    register_attack(Jamming, "noise", "Gaussian jamming at the PSR (per image)")
    register_attack(FGM, "gradient", "fast gradient method, single L2 step (Sadeghi & Larsson 2019), white-box per input")
    register_attack(PGD, "gradient", "projected gradient descent, L2, random start, white-box per input")
    register_attack(PGM, "generator", "universal input-agnostic perturbation generator (Bahramali et al. 2021)")
