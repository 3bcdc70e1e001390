"""Everything ``baselines`` adds to the link CLI's registry (called by the composition root only)."""

from __future__ import annotations


def register(register_system) -> None:
    """Register the baseline systems through the core's ``register_system``."""
    from . import conventional

    conventional.register(register_system)
