"""Import Sionna without the import-time cost this package never uses: ``torch._dynamo``.

``import sionna.phy`` (which any ``from sionna.phy.X import Y`` runs) imports every Sionna sub-package.
``sionna.phy.mimo.utils`` decorates a list-detector helper with ``torch.compile`` and
``sionna.phy.ofdm.channel_estimation`` a method of its LMMSE estimator with ``torch.compiler.disable``; each
decorator alone imports ``torch._dynamo`` (and sympy): about 1.5 s of every command's start-up on an idle core,
for code this package never runs.

:func:`import_sionna` imports ``sionna.phy`` with both decorators replaced, during that import only, by ones
that apply the real decorator on the first call (torch.compile compiles on the first call anyway, so such a
function behaves the same if it is ever used; only tracing it into a torch.compile'd caller before its first
plain call would differ, which nothing here does). :mod:`sionna_semcomm.link` calls it first, so every module
of the package that uses Sionna gets it. (Sionna also imports ``matplotlib.pyplot``, which it needs at import
time for type annotations; this package's own plotting imports matplotlib only where a plot is drawn.)
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import sys

__all__ = ["import_sionna"]


def _on_first_call(real_decorator):
    """A stand-in for a decorator (``torch.compile``, ``torch.compiler.disable``) that applies the real one, and
    so imports dynamo, on the decorated function's first call. Used bare or with keyword arguments."""

    def decorator(fn=None, **kwargs):
        if fn is None:  # used as @decorator(...)
            return lambda f: decorator(f, **kwargs)
        applied = None

        @functools.wraps(fn)
        def call(*args, **kw):
            nonlocal applied
            if applied is None:
                applied = real_decorator(fn, **kwargs)
            return applied(*args, **kw)

        return call

    return decorator


@contextlib.contextmanager
def _deferred_dynamo():
    """``torch.compile`` and ``torch.compiler.disable`` without importing ``torch._dynamo`` until first used."""
    import torch
    import torch.compiler

    real_compile, real_disable = torch.compile, torch.compiler.disable
    torch.compile, torch.compiler.disable = _on_first_call(real_compile), _on_first_call(real_disable)
    try:
        yield
    finally:
        torch.compile, torch.compiler.disable = real_compile, real_disable


def import_sionna():
    """Import and return ``sionna.phy`` (see the module doc); a no-op when it is already imported."""
    if "sionna.phy" in sys.modules:
        return sys.modules["sionna.phy"]
    with _deferred_dynamo():
        return importlib.import_module("sionna.phy")
