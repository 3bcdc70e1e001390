"""Registry of attacks: name -> class, so the CLIs can build any attack by name.

The core registers ``identity`` and ``semadv``; ``baselines`` registers ``jamming``, ``fgm``, ``pgd`` and
``pgm`` through :func:`register_attack`, called by the composition roots (the link and attack CLIs), never
imported by the core.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AttackInfo", "register_attack", "get_attack", "list_attacks", "build_attack", "ATTACKS", "ALIASES", "KINDS"]

KINDS = ("none", "noise", "gradient", "generator")
ALIASES = {"none": "identity", "clean": "identity"}


@dataclass(frozen=True)
class AttackInfo:
    """A registered attack: ``kind`` is ``none``, ``noise``, ``gradient`` (per input, white-box) or
    ``generator`` (input-agnostic, needs a trained checkpoint)."""

    name: str
    cls: type
    kind: str
    description: str


ATTACKS: dict[str, AttackInfo] = {}


def register_attack(cls, kind: str, description: str, replace: bool = False) -> None:
    """Add ``cls`` under ``cls.name``; registering the same class again is a no-op."""
    if kind not in KINDS:
        raise ValueError(f"attack kind must be one of {', '.join(KINDS)}, got {kind!r}")
    old = ATTACKS.get(cls.name)
    if old is not None and old.cls is not cls and not replace:
        raise ValueError(f"attack {cls.name!r} is already registered ({old.cls.__module__}.{old.cls.__qualname__})")
    ATTACKS[cls.name] = AttackInfo(cls.name, cls, kind, description)


def get_attack(name: str) -> AttackInfo:
    """Look an attack up (``none`` is an alias of ``identity``), with an error listing the known ones."""
    key = ALIASES.get(name, name)
    if key not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; known attacks: {', '.join(sorted(ATTACKS))} (and 'none')")
    return ATTACKS[key]


def list_attacks() -> list[AttackInfo]:
    return [ATTACKS[k] for k in sorted(ATTACKS)]


def build_attack(name: str, system, link, *, psr_db=None, target_class=None, controllable_class=None,
                 checkpoint=None, seed: int = 0, **settings):
    """Build the attack ``name`` against ``system`` on ``link``.

    Generator attacks (``semadv``, ``pgm``) are loaded from ``checkpoint`` (their trained weights); the
    target / controllable class then come from the checkpoint (a different one given here is an error;
    a checkpoint trained without a target class, PGM, takes one for reporting only), and ``psr_db``
    defaults to the PSR they were trained at.

    :raises ValueError: unknown attack, missing checkpoint or PSR, a class that does not exist, an attack
        that needs a learned system on a link without one.
    """
    info = get_attack(name)
    if info.kind == "generator":
        if checkpoint is None:
            raise ValueError(f"attack {info.name!r} is a trained generator: pass its weights (--attack-checkpoint; train "
                             f"them with python -m sionna_semcomm.attack train --attack {info.name} ...)")
        if system is None:
            raise ValueError(f"attack {info.name!r} was trained against a learned semantic system; it does not apply "
                             "to links without one (use 'jamming')")
        from .generator import load_generator_attack

        attack = load_generator_attack(checkpoint, system, link, psr_db=psr_db, seed=seed)
        if attack.name != info.name:
            raise ValueError(f"{checkpoint} holds a {attack.name!r} generator, not {info.name!r}")
        from .base import check_classes

        if target_class is not None and attack.target_classes is None:
            # trained without one (PGM): the class is only recorded, for the per-set accuracies
            attack.target_classes = check_classes(target_class, attack.num_classes, "target_class")
        for given, have, what in ((target_class, attack.target_classes, "target class"),
                                  (controllable_class, attack.controllable_class, "controllable class")):
            if given is not None:
                g = check_classes(given, attack.num_classes, what)
                h = check_classes(have, attack.num_classes, what) if have is not None else None
                if g != h:
                    raise ValueError(f"{checkpoint} was trained with {what} {have}, not {given}")
        return attack
    if checkpoint is not None:
        raise ValueError(f"attack {info.name!r} has no trained weights; --attack-checkpoint applies to generator attacks only")
    if info.kind != "none" and psr_db is None:
        raise ValueError(f"attack {info.name!r} needs a PSR budget (--psr-db)")
    return info.cls(system, link, psr_db, target_class=target_class, controllable_class=controllable_class,
                    seed=seed, **settings)
