"""Codec registry: config names -> codec constructors, plus the paper's Table III (size and speed).

The core registers only MobileSC (:func:`default_registry`). Reference codecs live in ``baselines``,
which the core must not import; the composition root (the CLI) adds them::

    from sionna_semcomm.models.registry import default_registry
    from baselines.codecs import register_baseline_codecs

    registry = default_registry()
    register_baseline_codecs(registry)          # adds "mobilenetv2" and "deepjscc"
    codec = registry.create("deepjscc", (3, 32, 32), 384)

A constructor may also be given as an import path ``"package.module:function"``, resolved on first use.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from .codec import SemanticCodec
from .mobilesc import PAPER_PARAM_COUNTS, build_mobilesc, default_num_symbols

__all__ = ["CodecRegistry", "UnknownCodecError", "default_registry", "count_parameters", "table3"]

CodecConstructor = Callable[..., SemanticCodec]

# Names the paper compares; used to point at the right registration call in error messages.
_BASELINE_HINT = {"mobilenetv2", "deepjscc"}


class UnknownCodecError(ValueError, KeyError):
    """Raised for a codec name the registry does not know; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


@dataclass
class _Entry:
    constructor: CodecConstructor | str
    paper_params: dict = field(default_factory=dict)

    def resolve(self) -> CodecConstructor:
        if isinstance(self.constructor, str):
            module, _, attr = self.constructor.partition(":")
            if not attr:
                raise ValueError(f"constructor path {self.constructor!r} must look like 'package.module:function'")
            self.constructor = getattr(importlib.import_module(module), attr)
        return self.constructor


class CodecRegistry:
    """Maps names to codec constructors ``(image_shape, num_symbols, **hparams) -> SemanticCodec``.

    Example::

        >>> reg = default_registry()
        >>> reg.names()
        ['mobilesc']
        >>> reg.create("mobilesc", (3, 32, 32), 384).num_symbols
        384
    """

    def __init__(self):
        self._entries: dict[str, _Entry] = {}

    def register(self, name: str, constructor: CodecConstructor | str, *, paper_params: dict | None = None,
                 overwrite: bool = False) -> None:
        """Register ``constructor`` (a callable or a ``"module:function"`` path) under ``name``.

        :param paper_params: optional ``{"encoder": n, "decoder": n}`` from the paper's Table III.
        :raises ValueError: ``name`` already registered (unless ``overwrite``).
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"codec name must be a non-empty str, got {name!r}")
        if name in self._entries and not overwrite:
            raise ValueError(f"codec {name!r} is already registered")
        if not (callable(constructor) or isinstance(constructor, str)):
            raise ValueError(f"constructor for {name!r} must be callable or a 'module:function' path")
        self._entries[name] = _Entry(constructor, dict(paper_params or {}))

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def _entry(self, name: str) -> _Entry:
        try:
            return self._entries[name]
        except KeyError:
            hint = ""
            if name in _BASELINE_HINT:
                hint = " (reference codecs are added by baselines.codecs.register_baseline_codecs(registry))"
            raise UnknownCodecError(f"unknown codec {name!r}; known codecs: {', '.join(self.names()) or 'none'}{hint}") from None

    def get(self, name: str) -> CodecConstructor:
        """The constructor registered under ``name`` (``UnknownCodecError`` lists the known names)."""
        return self._entry(name).resolve()

    def paper_params(self, name: str) -> dict:
        """The paper's parameter counts for ``name`` (empty dict when not given)."""
        return dict(self._entry(name).paper_params)

    def create(self, name: str, image_shape: Sequence[int] = (3, 32, 32), num_symbols: int | None = None,
               **hparams) -> SemanticCodec:
        """Build codec ``name`` for ``image_shape`` with K = ``num_symbols`` (default per shape)."""
        return self.get(name)(tuple(image_shape), num_symbols, **hparams)


def default_registry() -> CodecRegistry:
    """A fresh registry holding the core codec ``"mobilesc"`` only."""
    reg = CodecRegistry()
    reg.register("mobilesc", build_mobilesc, paper_params=PAPER_PARAM_COUNTS["mobilesc"])
    return reg


def count_parameters(module: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters of ``module`` (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def _time_call(fn, arg, repeats: int, device: torch.device) -> float:
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    with torch.inference_mode():
        fn(arg)  # warm-up (allocations, kernel selection)
        sync()
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(arg)
            sync()
            best = min(best, time.perf_counter() - t0)
    return best


def table3(image_shape: Sequence[int] = (3, 32, 32), num_symbols: int | None = None,
           registry: CodecRegistry | None = None, *, names: Sequence[str] | None = None,
           batch_size: int = 100, repeats: int = 3, num_images: int = 10_000, device: str = "cpu",
           seed: int = 0) -> list[dict]:
    """The paper's Table III: parameters and inference time of each codec's encoder and decoder.

    Each codec is built with its default hyper-parameters, put in eval mode on ``device``, and its
    encoder (on a batch of ``batch_size`` random images) and decoder (on that batch's latent) are timed
    under ``torch.inference_mode``: one warm-up call, then the fastest of ``repeats`` calls (CUDA
    synchronised). The time per ``num_images`` images is that batch time scaled by
    ``num_images / batch_size``, i.e. it assumes throughput is linear in the number of batches.
    The input range check is off while timing.

    :param registry: codecs to compare (default: :func:`default_registry`, MobileSC only; the CLI passes
        one with the baselines registered).
    :param names: subset of the registry's names (default: all).
    :returns: one dict per codec and part: ``{"codec", "part" ("encoder"/"decoder"), "params",
        "paper_params" (None when unknown), "inference_seconds" (time for ``num_images`` images, 10,000 by default as in the paper),
        "num_images", "batch_size", "device", "image_shape", "num_symbols"}``.
    """
    registry = registry or default_registry()
    dev = torch.device(device)
    k = default_num_symbols(image_shape) if num_symbols is None else int(num_symbols)
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(batch_size, *image_shape, generator=gen).to(dev)
    rows = []
    for name in names or registry.names():
        codec = registry.create(name, image_shape, k).to(dev).eval()
        if hasattr(codec.encoder, "check_input"):
            codec.encoder.check_input = False
        with torch.inference_mode():
            z = codec.encode(x)
        paper = registry.paper_params(name)
        for part, fn, arg in (("encoder", codec.encode, x), ("decoder", codec.decode, z)):
            seconds = _time_call(fn, arg, repeats, dev)
            rows.append({
                "codec": name,
                "part": part,
                "params": count_parameters(getattr(codec, part)),
                "paper_params": paper.get(part),
                "inference_seconds": seconds * num_images / batch_size,
                "num_images": num_images,
                "batch_size": batch_size,
                "device": str(dev),
                "image_shape": list(image_shape),
                "num_symbols": k,
            })
    return rows
