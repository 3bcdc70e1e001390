"""Input-agnostic perturbation generators (SemAdv, PGM): the MLP, the attack base class and their checkpoints.

A generator maps a uniform random seed ``u ~ U(0, 1)^d`` to one frame's perturbation (paper Fig. 4: an MLP of
blocks "linear layer + LeakyReLU"), normalised to the PSR budget at the nominal received power (Eq. 16,
:func:`~.psr.scale_to_nominal` with ``center=True``: zero mean and a fixed power over the samples it may
hit). At test time it sees neither the images nor the signal: the perturbation of a frame depends only on
its seed, and the seeds come from the attack's own ``torch.Generator``.

Checkpoints are safetensors files (generator weights) whose metadata holds everything to rebuild the attack:
attack name, PSR it was trained at, target / controllable class, mode, generator architecture,
perturbation domain and shape, loss settings, and the system checkpoint it was trained against.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..checkpoints import CheckpointError, load_state_into, load_weights, save_weights, sha256_file
from .base import Attack
from .psr import scale_to_nominal

__all__ = ["GeneratorConfig", "PerturbationGenerator", "GeneratorAttack", "save_generator", "load_generator_attack"]


@dataclass(frozen=True)
class GeneratorConfig:
    """Architecture of the MLP generator.

    :param seed_dim: dimension of the uniform seed.
    :param hidden: width of the hidden layers.
    :param num_blocks: number of "Linear + LeakyReLU" blocks before the output layer.
    :param negative_slope: LeakyReLU slope.
    """

    seed_dim: int = 64
    hidden: int = 256
    num_blocks: int = 3
    negative_slope: float = 0.2

    def __post_init__(self):
        for name in ("seed_dim", "hidden", "num_blocks"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"generator {name} must be a positive int, got {v!r}")
        if not (math.isfinite(self.negative_slope) and self.negative_slope >= 0):
            raise ValueError(f"negative_slope must be >= 0, got {self.negative_slope!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class PerturbationGenerator(nn.Module):
    """MLP: ``num_blocks`` x (Linear + LeakyReLU), then Linear to 2 x (frame size) reals paired into complex.

    :input u: float [B, seed_dim] seeds.
    :output: complex64 [B, *shape] raw perturbations (not yet normalised).
    """

    def __init__(self, shape: tuple[int, ...], config: GeneratorConfig | None = None):
        super().__init__()
        self.config = config = config or GeneratorConfig()
        self.shape = tuple(int(s) for s in shape)
        layers, width = [], config.seed_dim
        for _ in range(config.num_blocks):
            layers += [nn.Linear(width, config.hidden), nn.LeakyReLU(config.negative_slope)]
            width = config.hidden
        layers.append(nn.Linear(width, 2 * math.prod(self.shape)))
        self.net = nn.Sequential(*layers)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        r = self.net(u).reshape(u.shape[0], -1, 2)
        return torch.view_as_complex(r.contiguous()).reshape(u.shape[0], *self.shape)


class GeneratorAttack(Attack):
    """Base of the input-agnostic generator attacks (see the module doc).

    Threat model: the attacker trained its generator against the frozen system (white-box at training
    time) but at test time knows nothing of the images, the signal or the channel; it transmits
    ``G(u)``, scaled to the PSR at the nominal received power (1 per sample), so the PSR holds on
    average over frames, not per frame.

    :param generator_config: :class:`GeneratorConfig` (or a dict of it).
    Other parameters: see :class:`~.base.Attack`.
    """

    power_constraint = "nominal"
    input_agnostic = True
    knowledge = ("training: white-box (the frozen system's weights and gradients, the link model, labelled training "
                 "data); test time: nothing (no images, no signal, no channel): the output depends only on the seed")

    def __init__(self, system, link, psr_db, *, target_class=None, controllable_class=None, seed: int = 0,
                 generator_config: GeneratorConfig | dict | None = None):
        super().__init__(system, link, psr_db, target_class=target_class, controllable_class=controllable_class, seed=seed)
        if isinstance(generator_config, dict):
            generator_config = GeneratorConfig(**generator_config)
        self.net = PerturbationGenerator(self.shape, generator_config).to(link.device)
        self.trained_psr_db: float | None = None
        self.checkpoint: dict | None = None

    @property
    def mode(self) -> str:
        return "controllable" if self.controllable_class is not None else "semantic"

    def seeds(self, batch_size: int, rng: torch.Generator | None = None) -> torch.Tensor:
        """``batch_size`` uniform seeds [B, seed_dim] from ``rng`` (default: the attack's own stream)."""
        return torch.rand(batch_size, self.net.config.seed_dim, generator=rng or self.rng, device=self.link.device)

    def perturbation_from_seeds(self, u: torch.Tensor) -> torch.Tensor:
        """Normalised perturbations [B, *shape] (Eq. 16) for seeds ``u``; differentiable w.r.t. the weights."""
        raw = self.net(u.to(self.link.device)).to(self.link.cdtype)
        return scale_to_nominal(raw, self.psr_db, self.mask, center=True)

    def generate(self, batch_size: int, rng: torch.Generator | None = None) -> torch.Tensor:
        """``batch_size`` perturbations from fresh seeds, no gradient."""
        with torch.no_grad():
            return self.perturbation_from_seeds(self.seeds(batch_size, rng))

    def forward(self, x, y, snr_db, taps):
        # input-agnostic: only the batch size of x is used
        return self.generate(x.shape[0])

    def describe(self) -> dict:
        d = super().describe()
        d.update({"mode": self.mode, "trained_psr_db": self.trained_psr_db, "checkpoint": self.checkpoint,
                  "generator": self.net.config.to_dict()})
        return d

    def training_loss(self, out: dict, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor,
                      rng: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        """The generator's training objective (minimised) and its parts (floats); see subclasses."""
        raise NotImplementedError


def save_generator(path: str | Path, attack: GeneratorAttack, metadata: dict | None = None) -> Path:
    """Write ``attack``'s generator weights + everything to rebuild it, atomically (safetensors)."""
    meta = {"attack": attack.name, "psr_db": attack.psr_db,
            "target_class": list(attack.target_classes) if attack.target_classes else None,
            "controllable_class": attack.controllable_class, "mode": attack.mode,
            "generator": attack.net.config.to_dict(), "perturbation_shape": list(attack.shape),
            "domain": attack.link.config.perturbation_domain, "perturb_pilots": attack.link.config.perturb_pilots,
            "settings": attack.settings(), **(metadata or {})}
    return save_weights(path, attack.net.state_dict(), json.loads(json.dumps(meta)))


def load_generator_attack(path: str | Path, system, link, psr_db=None, seed: int = 0, sha256: str | None = None):
    """Rebuild a generator attack from its checkpoint, against ``system`` on ``link``.

    :param psr_db: PSR to scale to (default: the one it was trained at); the normalisation makes any PSR
        valid, the generator was only optimised at its training PSR.
    :raises CheckpointError: not a generator checkpoint, an attack that is not registered, or a perturbation
        shape / domain that does not fit ``link``.
    """
    from .registry import ATTACKS

    state, meta = load_weights(path, sha256)
    for key in ("attack", "generator", "perturbation_shape", "psr_db"):
        if key not in meta:
            raise CheckpointError(f"{path} is not an attack-generator checkpoint (no {key!r} in its metadata)")
    if meta["attack"] not in ATTACKS:
        raise CheckpointError(f"{path} holds a {meta['attack']!r} generator, which is not registered "
                              f"(known: {', '.join(sorted(ATTACKS))})")
    cls = ATTACKS[meta["attack"]].cls
    if meta.get("domain", "time") != link.config.perturbation_domain:
        raise CheckpointError(f"{path} generates {meta.get('domain')}-domain perturbations, the link adds them in the "
                              f"{link.config.perturbation_domain} domain")
    try:
        attack = cls(system, link, meta["psr_db"] if psr_db is None else psr_db, target_class=meta.get("target_class"),
                     controllable_class=meta.get("controllable_class"), seed=seed,
                     generator_config=GeneratorConfig(**meta["generator"]), **meta.get("settings", {}))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its generator metadata is malformed or does not fit this system ({e})") from None
    if list(attack.shape) != list(meta["perturbation_shape"]):
        raise CheckpointError(f"{path} generates perturbations of shape {meta['perturbation_shape']}, the link needs "
                              f"{list(attack.shape)} (another frame size)")
    load_state_into(attack.net, state, str(path))
    attack.net.eval()
    attack.trained_psr_db = float(meta["psr_db"])
    attack.checkpoint = {"path": str(path), "sha256": sha256_file(path), "epoch": meta.get("epoch"),
                         "system_checkpoint": meta.get("system_checkpoint"), "mode": meta.get("mode")}
    if link.config.perturb_pilots != meta.get("perturb_pilots", link.config.perturb_pilots):
        # allowed (the mask is re-applied), but the generator was optimised for the other setting
        attack.checkpoint["note"] = (f"trained with perturb_pilots={meta.get('perturb_pilots')}, evaluated with "
                                     f"{link.config.perturb_pilots}")
    return attack

