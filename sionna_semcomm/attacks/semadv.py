"""SemAdv (paper Sec. III-B): an input-agnostic, semantic-oriented, controllable perturbation generator.

The paper's formulas were lost in the text we have; this is how each one is read here:

* **Eq. 13/14 (semantic-oriented).** A mini-batch is split into the *target set* (true label in the
  attacked class(es)) and the *innocent set* (all others). With perturbations ``p_i = G(u_i)`` from fresh
  uniform seeds added at the receiver, the generator minimises

  ``w_t * CE(f(x_T + p), y~_T) + w_i * CE(f(x_I + p), y_I) + w_v * R_var``

  where ``y~`` replaces each target label by a random *wrong* class (uniform over the other classes,
  redrawn every step: "we replace the label ... as a random category"), so target images are pushed
  away from their class while innocent images keep theirs. Each CE is the mean over its set.
* **Controllable mode (Sec. III-B4).** ``y~`` is one chosen class ``c`` for every target example: the
  receiver is steered to decide ``c`` whenever the target semantics are sent.
* **Eq. 15 (imperceptibility, variation regulariser).** ``R_var = - mean_{i != j} ||p_i - p_j||^2 / (2 M P)``
  over the perturbations of the batch (M samples it may hit, P its power per sample, so the normalised
  distance is 1 for uncorrelated perturbations and 0 for identical ones): minimising it spreads the
  generated perturbations apart, so the attacker does not repeat one fixed waveform (a detector that
  learned one universal perturbation would catch it).
* **Eq. 16 (power normalisation).** Each generated perturbation is made zero-mean and scaled to the PSR
  budget at the nominal received power (the paper normalises "to a Gaussian distribution ... mean 0 and
  standard deviation" fixed by the budget when the power exceeds it; here the bound is met with
  equality so that the attack spends exactly its PSR, see :mod:`.psr`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .generator import GeneratorAttack
from .psr import NOMINAL_RECEIVED_POWER, psr_linear

__all__ = ["SemAdv", "variation_loss", "random_wrong_labels"]


def variation_loss(p: torch.Tensor, mask: torch.Tensor | None, power: float) -> torch.Tensor:
    """Eq. 15: minus the mean normalised squared distance between the batch's perturbations.

    :param p: complex [B, *shape] perturbations (B >= 2 for a non-zero value).
    :param mask: bool [*shape] samples the perturbation may hit (``None``: all).
    :param power: power per sample the perturbations were normalised to (``PSR * nominal``).
    :output: scalar in [-2, 0] (-1 for independent zero-mean perturbations).
    """
    b = p.shape[0]
    if b < 2:
        return p.real.sum() * 0
    v = p[..., mask] if mask is not None else p.reshape(b, -1)
    m = v.shape[-1]
    gram = (v @ v.conj().transpose(0, 1)).real  # [B, B]
    sq = gram.diagonal()
    dist = (sq.unsqueeze(0) + sq.unsqueeze(1) - 2 * gram) / (2 * m * power)
    off = ~torch.eye(b, dtype=torch.bool, device=p.device)
    return -dist[off].mean()


def random_wrong_labels(y: torch.Tensor, num_classes: int, rng: torch.Generator | None = None) -> torch.Tensor:
    """A uniformly random class different from ``y`` for every example (int64 [B])."""
    offset = torch.randint(1, num_classes, y.shape, generator=rng, device=y.device)
    return (y + offset) % num_classes


class SemAdv(GeneratorAttack):
    """SemAdv: input-agnostic semantic perturbations (see the module doc for the objective).

    Threat model: **budget** ``psr_db``, met at the nominal received power (unit transmit power, unit
    average channel gain), hence on average over frames (:mod:`.psr`); **domain** and **pilots** those of the
    link (time-domain receiver input by default; pilots hit unless ``perturb_pilots = false``);
    **knowledge**: white-box at training time (frozen system, link model, labelled training data), nothing
    at test time: the perturbation depends only on a uniform seed drawn from the attack's generator.

    :param target_class: the attacked class(es) (the target set), required.
    :param controllable_class: ``None`` (push the target set to random wrong classes) or the class to push it to.
    :param variation_weight: ``w_v``, weight of the variation regulariser (Eq. 15).
    :param target_weight, innocent_weight: ``w_t``, ``w_i``.
    Other parameters: :class:`~.generator.GeneratorAttack`.

    .. code-block:: python

        atk = SemAdv(system, link, psr_db=-6, target_class=2)
        p = atk(images, labels, 10.0, taps)       # [B, N]: only len(images) is used
    """

    name = "semadv"

    def __init__(self, system, link, psr_db, *, target_class=None, controllable_class=None, seed: int = 0,
                 generator_config=None, variation_weight: float = 0.1, target_weight: float = 1.0,
                 innocent_weight: float = 1.0):
        if target_class is None:
            raise ValueError("SemAdv needs target_class: the class(es) whose semantics it attacks")
        super().__init__(system, link, psr_db, target_class=target_class, controllable_class=controllable_class,
                         seed=seed, generator_config=generator_config)
        for key, value in (("variation_weight", variation_weight), ("target_weight", target_weight),
                           ("innocent_weight", innocent_weight)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ValueError(f"{key} must be a finite number >= 0, got {value!r}")
        self.variation_weight = float(variation_weight)
        self.target_weight, self.innocent_weight = float(target_weight), float(innocent_weight)

    def settings(self) -> dict:
        return {"variation_weight": self.variation_weight, "target_weight": self.target_weight,
                "innocent_weight": self.innocent_weight}

    def training_loss(self, out, x, y, p, rng=None):
        logits = out["logits"]
        targets = torch.tensor(self.target_classes, device=y.device)
        in_target = torch.isin(y, targets)
        if self.controllable_class is not None:
            wrong = torch.full_like(y, self.controllable_class)
        else:
            wrong = random_wrong_labels(y, self.num_classes, rng)
        zero = logits.sum() * 0
        ce_t = F.cross_entropy(logits[in_target], wrong[in_target]) if bool(in_target.any()) else zero
        ce_i = F.cross_entropy(logits[~in_target], y[~in_target]) if bool((~in_target).any()) else zero
        var = variation_loss(p, self.mask, psr_linear(self.psr_db) * NOMINAL_RECEIVED_POWER)
        loss = self.target_weight * ce_t + self.innocent_weight * ce_i + self.variation_weight * var
        return loss, {"ce_target": float(ce_t.detach()), "ce_innocent": float(ce_i.detach()), "variation": float(var.detach())}
