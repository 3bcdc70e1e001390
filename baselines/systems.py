"""Everything ``baselines`` adds to the core's registries (called by the composition roots only)."""

from __future__ import annotations


def register(register_system) -> None:
    """Register the baseline systems through the core's ``register_system``."""
    from . import conventional

    conventional.register(register_system)


def register_attacks(register_attack) -> None:
    """Register the baseline attacks (jamming, fgm, pgd, pgm) through the core's ``register_attack``."""
    from . import attacks

    attacks.register(register_attack)
