"""The attack API (torchattacks style): one base class, one class per attack, a call that returns a perturbation.

::

    atk = PGD(system, link, psr_db=-6, steps=10)         # the attacked system + its threat model
    p = atk(images, labels, snr_db=10.0, taps=taps)       # [B, N] complex (time) or [B, S, F] (freq), or None
    out = system(images, link, 10.0, perturbation=p, taps=taps)   # the link's hook adds it: y = h*x + n + p

Every attack

* is constructed with the attacked :class:`~sionna_semcomm.semantic.SemanticSystem` (``None`` for attacks
  that need no model: identity, jamming), the victim's :class:`~sionna_semcomm.link.ofdm.OFDMLink` (whose
  config fixes the perturbation domain and whether pilots are hit) and its PSR budget;
* states its threat model in its docstring and in :attr:`Attack.threat_model` (budget, domain, pilots,
  what the attacker knows, how the PSR is met: per image or nominal, see :mod:`.psr`);
* returns a perturbation that is zero outside :func:`~.psr.psr_mask` and meets ``psr_db`` (exactly per
  image, or exactly at the nominal received power for input-agnostic attacks);
* draws its randomness from its own ``torch.Generator`` (:meth:`Attack.reseed`), so a seed reproduces it.

:class:`Identity` (no perturbation; returns ``None`` so the clean path is untouched) is always available.
"""

from __future__ import annotations

import numbers

import torch

from ..runtime import make_generator
from .psr import check_psr_db, perturbation_shape, psr_mask, received_signal

__all__ = ["Attack", "Identity", "receive", "check_classes"]


def check_classes(classes, num_classes: int | None, what: str = "target_class") -> tuple[int, ...] | None:
    """``None``, an int or a sequence of ints -> sorted tuple of distinct class indices (or ``None``).

    :raises ValueError: a non-integer, or a class outside ``[0, num_classes)`` (when ``num_classes`` is known).
    """
    if classes is None:
        return None
    if isinstance(classes, torch.Tensor):
        classes = classes.reshape(-1).tolist()
    items = [classes] if isinstance(classes, (numbers.Number, str)) else list(classes)
    if not items:
        raise ValueError(f"{what} must name at least one class")
    out = []
    for c in items:
        if isinstance(c, bool) or not isinstance(c, numbers.Integral):
            raise ValueError(f"{what} must be integer class indices, got {classes!r}")
        c = int(c)
        if c < 0 or (num_classes is not None and c >= num_classes):
            bound = f"[0, {num_classes})" if num_classes is not None else ">= 0"
            raise ValueError(f"unknown class {c} in {what}: classes are {bound}")
        out.append(c)
    return tuple(sorted(set(out)))


def receive(system, link, z: torch.Tensor, snr_db, perturbation=None, taps=None) -> dict:
    """The receiver half of ``system``'s forward pass for transmitted latent ``z`` [B, K].

    Equal to ``system(x, link, snr_db, ...)`` for ``z = system.codec.encode(x, snr_db)`` (checked in the tests),
    without re-encoding the images on every gradient step of an attack.
    """
    out = link(z, snr_db, perturbation=perturbation, taps=taps)
    # the nominal SNR (the receiver does not know the attack); the channel state as the receiver estimated it
    x_hat = system.codec.decode(out["x_hat"], snr_db, out.get("no_eff"))
    logits = system.classifier(system.classifier_input(x_hat, out["x_hat"]))
    return {"x_hat": x_hat, "logits": logits, "z": z, "z_hat": out["x_hat"], "link": out}


class Attack:
    """Base class of all attacks (see the module doc).

    :param system: the attacked :class:`~sionna_semcomm.semantic.SemanticSystem` (kept in eval mode), or
        ``None`` for attacks with ``needs_system = False``.
    :param link: the victim's :class:`~sionna_semcomm.link.ofdm.OFDMLink` (domain, pilots, frame size).
    :param psr_db: PSR budget [dB], finite (see :mod:`.psr`).
    :param target_class: attacked class(es): the "target set" of SemAdv; for other attacks only recorded
        and used to report per-set accuracies.
    :param controllable_class: class the attack pushes its targets towards (controllable / targeted
        mode), or ``None``.
    :param seed: seed of the attack's own random stream.

    :input x: float [B, C, H, W] images in [0, 1] (input-agnostic attacks use only ``B``).
    :input y: int64 [B] labels (``None`` where the attack does not use them).
    :input snr_db: Es/N0 per channel use [dB] of the link (float or [B]).
    :input taps: complex [B, L] channel taps of this batch (the realization the victim link will apply).
    :output: complex perturbation [B, *shape] (``shape`` = :func:`~.psr.perturbation_shape`), zero
        outside :func:`~.psr.psr_mask`, or ``None`` (no perturbation).
    """

    #: registry name
    name = "attack"
    #: what the attacker is assumed to know (threat model, recorded in results)
    knowledge = ""
    #: "per_image" (exact PSR on every frame) or "nominal" (exact at unit received power, on average otherwise)
    power_constraint = "per_image"
    #: True when the attack never looks at the images or the signal (only at the batch size)
    input_agnostic = False
    #: False for attacks that work from the received signal alone (identity, jamming): usable on any link
    needs_system = True
    #: False for the identity attack
    needs_psr = True

    def __init__(self, system, link, psr_db=None, *, target_class=None, controllable_class=None, seed: int = 0):
        if system is None and self.needs_system:
            raise ValueError(f"attack {self.name!r} needs a learned semantic system (it differentiates through it or was "
                             "trained against it); links without one support only 'identity' and 'jamming'")
        self.system = system
        self.link = link
        self.psr_db = check_psr_db(psr_db) if self.needs_psr or psr_db is not None else None
        self.num_classes = system.config.num_classes if system is not None else None
        self.target_classes = check_classes(target_class, self.num_classes, "target_class")
        ctrl = check_classes(controllable_class, self.num_classes, "controllable_class")
        if ctrl is not None and len(ctrl) != 1:
            raise ValueError(f"controllable_class must be one class, got {controllable_class!r}")
        self.controllable_class = ctrl[0] if ctrl else None
        if self.controllable_class is not None and self.target_classes and self.controllable_class in self.target_classes:
            raise ValueError(f"controllable_class {self.controllable_class} is also a target class: the target set "
                             "would be pushed to its own label")
        self.shape = perturbation_shape(link)
        self.mask = psr_mask(link)
        self.reseed(seed)

    # ------------------------------------------------------------------ randomness
    def reseed(self, seed: int) -> None:
        """Restart the attack's random stream (perturbation draws, random starts, seeds) from ``seed``."""
        self.seed = seed
        self.rng = make_generator(seed, f"attack-{self.name}", self.link.device)

    # ------------------------------------------------------------------ description
    @property
    def target_class(self):
        """The attacked class (an int when there is one, a list for several, else ``None``)."""
        if self.target_classes is None:
            return None
        return self.target_classes[0] if len(self.target_classes) == 1 else list(self.target_classes)

    @property
    def threat_model(self) -> dict:
        """PSR budget, domain, pilots, knowledge and how the PSR is met (recorded with every result)."""
        return {"psr_db": self.psr_db, "domain": self.link.config.perturbation_domain,
                "perturb_pilots": self.link.config.perturb_pilots, "knowledge": self.knowledge,
                "power_constraint": self.power_constraint, "input_agnostic": self.input_agnostic}

    def describe(self) -> dict:
        """JSON-able description: name, PSR, classes, threat model, attack settings."""
        return {"name": self.name, "psr_db": self.psr_db, "target_class": self.target_class,
                "controllable_class": self.controllable_class, **self.threat_model, "settings": self.settings()}

    def settings(self) -> dict:
        """Attack-specific hyper-parameters (JSON-able)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(psr_db={self.psr_db}, target_class={self.target_class}, {self.settings()})"

    # ------------------------------------------------------------------ helpers for subclasses
    @torch.no_grad()
    def clean_received(self, x: torch.Tensor, taps: torch.Tensor, snr_db=None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(z, rx)``: the transmitted latent [B, K] and the noiseless received signal in the perturbation
        domain ([B, N] or [B, S, F]) on channel ``taps``; draws no random numbers. ``snr_db``: the nominal
        SNR, for a transmitter told it."""
        if taps is None:
            raise ValueError(f"attack {self.name!r} needs the channel taps of the batch (taps=)")
        z = self.system.codec.encode(x, snr_db)
        return z, self.received_from_symbols(z, taps)

    def received_from_symbols(self, z: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
        """Noiseless received signal (perturbation domain) of payload symbols ``z`` [B, K] on ``taps`` [B, L]."""
        tx = self.link.transmit(z.reshape(-1, z.shape[-1]))
        rx = self.link.channel_output(tx["x_time"], taps.reshape(-1, taps.shape[-1]).to(self.link.cdtype))
        return received_signal(self.link, rx[:, : self.link.num_time_samples])

    def _check_batch(self, x, y=None):
        if not isinstance(x, torch.Tensor) or x.dim() < 1:
            raise ValueError(f"{self.name}: x must be a batch tensor [B, ...], got {type(x).__name__}")
        if y is not None and len(y) != len(x):
            raise ValueError(f"{self.name}: {len(y)} labels for {len(x)} images")

    # ------------------------------------------------------------------ the call
    def __call__(self, x: torch.Tensor, y: torch.Tensor | None = None, snr_db=None, taps: torch.Tensor | None = None):
        self._check_batch(x, y)
        if self.system is not None:
            self.system.eval()
        p = self.forward(x, y, snr_db, taps)
        if p is not None and not bool(torch.isfinite(p).all()):
            raise ValueError(f"attack {self.name!r} produced NaN or infinite perturbations at SNR {snr_db} dB, PSR "
                             f"{self.psr_db} dB: its computation overflows float32 at these extremes; use a less "
                             "extreme SNR or PSR")
        return p

    def forward(self, x, y, snr_db, taps):
        """Compute the perturbation (override in subclasses)."""
        raise NotImplementedError(f"{type(self).__name__} does not implement forward()")


class Identity(Attack):
    """No attack: returns ``None``, so the link adds nothing and the clean path stays bit-identical.

    Threat model: none (PSR = -inf dB; ``psr_db`` is ignored).
    """

    name = "identity"
    knowledge = "none (no perturbation)"
    needs_system = False
    needs_psr = False
    input_agnostic = True

    def __init__(self, system, link, psr_db=None, **kw):
        super().__init__(system, link, None, **kw)

    def forward(self, x, y, snr_db, taps):
        return None

    def from_received(self, rx):
        """Link-level use (any system): no perturbation."""
        return None
