"""The learned semantic system: codec (MobileSC or a reference codec) + classifier, run through a link.

``SemanticSystem(x, link, snr_db)`` encodes images to K complex symbols, sends them through any
:class:`~sionna_semcomm.link.ofdm.OFDMLink` (per-example power normalisation, OFDM, fading, LS, ...),
decodes the equalised symbols and classifies the reconstruction (or, with ``classify_from="symbols"``,
the received symbols directly: the paper's setting without reconstruction). The link is an argument,
not a sub-module: checkpoints hold only the learned weights, and attacks can hand in their own link
(fixed channel, perturbation).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .checkpoints import CheckpointError, load_state_into, load_weights, save_weights
from .models import SymbolClassifier, default_registry, preact_resnet18

__all__ = ["ModelConfig", "SemanticSystem", "load_system"]

CLASSIFY_FROM = ("image", "symbols")


@dataclass(frozen=True)
class ModelConfig:
    """What to build (scenario section ``[model]``, stored in every checkpoint).

    :param codec: registry name (``"mobilesc"``; ``"mobilenetv2"``, ``"deepjscc"`` from ``baselines``).
    :param image_shape: (C, H, W).
    :param num_classes: classifier outputs.
    :param num_symbols: K complex symbols per image (``None``: the codec's default for the shape).
    :param classify_from: ``"image"`` (pre-activation ResNet on the reconstruction) or ``"symbols"``.
    :param classifier_width: base width of the image classifier.
    :param codec_hparams: extra codec constructor arguments.
    """

    codec: str = "mobilesc"
    image_shape: tuple[int, int, int] = (3, 32, 32)
    num_classes: int = 10
    num_symbols: int | None = 384
    classify_from: str = "image"
    classifier_width: int = 16
    codec_hparams: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.classify_from not in CLASSIFY_FROM:
            raise ValueError(f"classify_from must be one of {', '.join(CLASSIFY_FROM)}, got {self.classify_from!r}")
        object.__setattr__(self, "image_shape", tuple(int(s) for s in self.image_shape))

    def to_dict(self) -> dict:
        """JSON-normal form (tuples as lists), as stored in checkpoints."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise CheckpointError(f"unknown model config keys {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


class SemanticSystem(nn.Module):
    """Codec + classifier (see the module doc).

    :input x: float [B, C, H, W] in [0, 1].
    :input link: an OFDMLink whose payload is ``self.num_symbols``.
    :input snr_db: Es/N0 per channel use [dB], float or [B].
    :input perturbation, taps: passed to the link (attack hook, fixed channel).
    :output: dict ``x_hat`` [B, C, H, W] in [0, 1], ``logits`` [B, classes], ``z`` [B, K] transmitted
        latent, ``z_hat`` [B, K] equalised received symbols, ``link`` the link's output dict.
    """

    def __init__(self, config: ModelConfig, registry=None):
        super().__init__()
        self.config = config
        registry = registry or default_registry()
        self.codec = registry.create(config.codec, config.image_shape, config.num_symbols, **config.codec_hparams)
        if config.classify_from == "image":
            self.classifier = preact_resnet18(config.image_shape[0], config.num_classes, config.classifier_width)
        else:
            self.classifier = SymbolClassifier(self.codec.num_symbols, config.num_classes,
                                               latent_shape=getattr(self.codec, "latent_shape", None))

    @property
    def num_symbols(self) -> int:
        return self.codec.num_symbols

    def reconstruct(self, x, link, snr_db, perturbation=None, taps=None) -> dict:
        """Codec and link only (no classifier): the :meth:`forward` dict without ``logits``."""
        z = self.codec.encode(x, snr_db)
        out = link(z, snr_db, perturbation=perturbation, taps=taps)
        z_hat = out["x_hat"]
        return {"x_hat": self.codec.decode(z_hat, snr_db, out.get("no_eff")), "z": z, "z_hat": z_hat, "link": out}

    def classifier_input(self, x_hat: torch.Tensor, z_hat: torch.Tensor) -> torch.Tensor:
        """What the classifier reads: the reconstruction ``x_hat`` [B, C, H, W], or for ``classify_from =
        "symbols"`` the received symbols ``z_hat`` [B, K] in the latent map's order (an interleaving codec's
        order undone)."""
        return x_hat if self.config.classify_from == "image" else self.codec.to_latent_order(z_hat)

    def forward(self, x, link, snr_db, perturbation=None, taps=None) -> dict:
        out = self.reconstruct(x, link, snr_db, perturbation, taps)
        out["logits"] = self.classifier(self.classifier_input(out["x_hat"], out["z_hat"]))
        return out

    def save(self, path: str | Path, metadata: dict | None = None) -> Path:
        """Weights + model config (+ ``metadata``) as safetensors, atomically."""
        meta = {"model": self.config.to_dict(), **(metadata or {})}
        return save_weights(path, self.state_dict(), meta)


def load_system(path: str | Path, sha256: str | None = None, registry=None, device: str = "cpu") -> tuple[SemanticSystem, dict]:
    """Build the system a checkpoint describes and load its weights: ``(system in eval mode, metadata)``.

    :raises CheckpointError: missing/corrupted file, sha256 mismatch, or weights that do not match.
    """
    state, meta = load_weights(path, sha256)
    if "model" not in meta:
        raise CheckpointError(f"{path} has no model config in its metadata: not a sionna-semcomm checkpoint")
    if not isinstance(meta["model"], dict):
        raise CheckpointError(f"{path}: its model config must be an object, got {meta['model']!r}")
    try:
        config = ModelConfig.from_dict(meta["model"])
        system = SemanticSystem(config, registry)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: its model config {meta['model']} is malformed ({e})") from None
    load_state_into(system, state, str(path))
    return system.to(device).eval(), meta
