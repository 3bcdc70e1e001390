"""Physical-layer attacks on semantic systems (torchattacks-style API), PSR utilities, SemAdv and a detector.

- :mod:`.base`: :class:`Attack` (the common base: constructed with the attacked system, the victim link and
  the PSR; called with images, labels, SNR and channel taps; returns a perturbation for the link's hook)
  and :class:`Identity` (no perturbation).
- :mod:`.psr`: where and how the PSR is measured, per-image and nominal scaling.
- :mod:`.generator`, :mod:`.semadv`, :mod:`.trainer`: input-agnostic generators (SemAdv here, PGM in
  ``baselines.attacks``), their training and checkpoints.
- :mod:`.detector`: a receiver-side detector (CP redundancy) and ROC AUC.
- :mod:`.registry`: name -> attack; ``baselines`` adds ``jamming``, ``fgm``, ``pgd``, ``pgm``.
"""

from .base import Attack, Identity, check_classes, receive
from .detector import cp_residuals, cp_statistic, detection_scores, gof_statistic, roc_auc
from .generator import GeneratorAttack, GeneratorConfig, PerturbationGenerator, load_generator_attack, save_generator
from .psr import (
    NOMINAL_RECEIVED_POWER,
    check_psr_db,
    masked_power,
    measured_psr_db,
    perturbation_powers,
    perturbation_shape,
    psr_mask,
    received_signal,
    scale_to_nominal,
    scale_to_psr,
    summarize_psr,
)
from .registry import ATTACKS, AttackInfo, build_attack, get_attack, list_attacks, register_attack
from .semadv import SemAdv, variation_loss
from .trainer import AttackTrainConfig, GeneratorTrainer

register_attack(Identity, "none", "no perturbation (the clean link)")
register_attack(SemAdv, "generator", "SemAdv: input-agnostic semantic-oriented (optionally controllable) generator (the paper's)")

__all__ = [
    "Attack", "Identity", "GeneratorAttack", "GeneratorConfig", "PerturbationGenerator", "SemAdv", "receive",
    "check_classes", "check_psr_db", "measured_psr_db", "masked_power", "perturbation_powers", "perturbation_shape",
    "psr_mask", "received_signal", "scale_to_psr", "scale_to_nominal", "summarize_psr", "NOMINAL_RECEIVED_POWER",
    "variation_loss", "AttackTrainConfig", "GeneratorTrainer", "save_generator", "load_generator_attack",
    "cp_residuals", "cp_statistic", "gof_statistic", "roc_auc", "detection_scores",
    "AttackInfo", "ATTACKS", "register_attack", "get_attack", "list_attacks", "build_attack",
]
