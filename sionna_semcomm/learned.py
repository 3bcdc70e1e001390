"""Learned image systems on the link command: ``mobilesc`` (and reference codecs registered by ``baselines``).

Weights come from ``--checkpoint FILE`` or, when none is given, from the pretrained weights shipped in the
package for the scenario (``sionna_semcomm/assets/weights/manifest.json``: file name, sha256 checked
before loading, the exact training command and the metrics it reached).
"""

from __future__ import annotations

import dataclasses
import json
from importlib import resources
from pathlib import Path

import torch

from .attacks.psr import perturbation_powers
from .checkpoints import CheckpointError
from .evaluation import ImageRunner, load_eval_images
from .link.ofdm import OFDMLink
from .semantic import SemanticSystem, load_system

__all__ = ["shipped_weights_dir", "pretrained_manifest", "pretrained_checkpoint", "system_checkpoint", "LearnedImageSystem",
           "learned_runner"]


def shipped_weights_dir() -> Path:
    """The folder of the weights shipped in the package (``sionna_semcomm/assets/weights``, with ``manifest.json``)."""
    return Path(str(resources.files("sionna_semcomm") / "assets" / "weights"))


def pretrained_manifest() -> dict:
    """``{key: {"file", "sha256", "command", "metrics", ...}}`` of the shipped weights (key: scenario-codec)."""
    path = shipped_weights_dir() / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


#: ``--checkpoint`` values that name shipped variants instead of a file: the SemMixed-hardened system and the
#: system that classifies the received symbols (no reconstruction; the paper's Fig. 6 c/e setting). A
#: candidate for the default system ships as a variant first (``<scenario>-mobilesc-<name>`` in the manifest,
#: its name added here) and becomes the default with ``python -m sionna_semcomm.reproduce.ship --promote <name>``
#: once its robustness results are redone
SHIPPED_VARIANTS = ("semmixed", "symbols")


def pretrained_checkpoint(scenario: str, codec: str, variant: str | None = None) -> tuple[Path, str]:
    """Path and sha256 of the shipped weights for ``scenario`` and ``codec`` (``variant``: a shipped variant of
    :data:`SHIPPED_VARIANTS`, e.g. ``"semmixed"``, the adversarially fine-tuned system).

    :raises CheckpointError: none shipped (the message lists what is).
    """
    manifest = pretrained_manifest()
    key = f"{scenario}-{codec}" + (f"-{variant}" if variant else "")
    if key not in manifest:
        raise CheckpointError(f"no pretrained {codec} weights ship for scenario {scenario!r} (shipped: "
                              f"{', '.join(sorted(manifest)) or 'none'}); train one with python -m sionna_semcomm.train "
                              f"--scenario {scenario} and pass --checkpoint")
    entry = manifest[key]
    return shipped_weights_dir() / entry["file"], entry["sha256"]


def system_checkpoint(scenario: str, codec: str, checkpoint=None) -> tuple:
    """``(path, sha256 or None)`` of a ``--checkpoint`` value: a file as given (its digest unchecked: ``None``), or
    the shipped weights of ``scenario`` for ``None`` or a name in :data:`SHIPPED_VARIANTS`.

    :raises CheckpointError: a shipped name that does not ship for ``scenario``."""
    if checkpoint is None or checkpoint in SHIPPED_VARIANTS:
        return pretrained_checkpoint(scenario, codec, checkpoint)
    return checkpoint, None


def pretrained_attack_checkpoint(scenario: str, attack: str, target_class=None, controllable_class=None) -> Path:
    """The shipped generator for ``attack`` (``semadv``/``pgm``) on ``scenario``, sha256-checked.

    SemAdv generators are looked up by target class (and controllable class): ``<scenario>-semadv-t2``,
    ``<scenario>-semadv-t2-c5``; PGM by ``<scenario>-pgm``.
    :raises CheckpointError: none shipped for that setting (the message lists what is), or a bad digest.
    """
    from .checkpoints import sha256_file

    key = f"{scenario}-{attack}"
    if attack == "semadv":
        targets = [target_class] if isinstance(target_class, int) else list(target_class or [])
        key += "".join(f"-t{t}" for t in targets) + (f"-c{controllable_class}" if controllable_class is not None else "")
    manifest = pretrained_manifest()
    if key not in manifest:
        shipped = sorted(k for k in manifest if k.startswith(f"{scenario}-{attack}"))
        raise CheckpointError(f"no shipped {attack} generator {key!r} (shipped: {', '.join(shipped) or 'none'}); "
                              "train one with python -m sionna_semcomm.attack train and pass --attack-checkpoint")
    path = shipped_weights_dir() / manifest[key]["file"]
    digest = sha256_file(path)
    if digest != manifest[key]["sha256"]:
        raise CheckpointError(f"{path} has sha256 {digest}, expected {manifest[key]['sha256']}")
    return path


class LearnedImageSystem:
    """A :class:`SemanticSystem` as an image system of :class:`~sionna_semcomm.evaluation.ImageRunner`.

    Under an attack (:meth:`set_attack`, any :class:`~sionna_semcomm.attacks.Attack` built against
    :attr:`semantic_system` and :attr:`link`), every batch gets ``p = attack(images, labels, snr_db, taps)``
    on its channel realization, added by the link's hook; the attack draws from its own random streams, so
    the link's channel and noise are those of the clean run.
    """

    def __init__(self, system: SemanticSystem, link_cfg, seed: int, device: str, checkpoint: dict):
        self.system = system.to(device).eval()
        self.link_cfg = link_cfg.for_learned_images()
        self.link = OFDMLink(system.num_symbols, self.link_cfg, seed=seed, device=device)
        self.device = device
        self.checkpoint = checkpoint
        self.clean_accuracy = None
        self.attack = None

    @property
    def semantic_system(self) -> SemanticSystem:
        """The attacked model (what white-box attacks differentiate through)."""
        return self.system

    def set_attack(self, attack) -> None:
        """Apply ``attack`` (or ``None``: clean) to every following :meth:`transmit`."""
        self.attack = attack

    def config(self) -> dict:
        return {"model": self.system.config.to_dict(), "checkpoint": self.checkpoint, "link": self.link_cfg.to_dict()}

    @torch.no_grad()
    def prepare(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        if labels is not None and self.system.config.classify_from == "image":
            correct = 0
            for start in range(0, len(images), 256):
                x = images[start:start + 256].to(self.device)
                correct += int((self.system.classifier(x).argmax(-1) == labels[start:start + 256].to(self.device)).sum())
            self.clean_accuracy = correct / len(images)

    def accounting(self) -> dict:
        out = {"ofdm_symbols_per_image": self.link.num_ofdm_symbols, "channel_uses_per_image": self.link.num_time_samples}
        if self.clean_accuracy is not None:
            out["accuracy_on_original_images"] = self.clean_accuracy
        return out

    @torch.no_grad()
    def transmit(self, index, images, labels, snr_db, taps) -> dict:
        if self.attack is None:
            out = self.system(images, self.link, snr_db, taps=taps)
            return {"x_hat": out["x_hat"], "logits": out["logits"]}
        p = self.attack(images, labels, snr_db, taps)
        out = self.system(images, self.link, snr_db, perturbation=p, taps=taps)
        pp, ps = perturbation_powers(self.link, out["link"])
        return {"x_hat": out["x_hat"], "logits": out["logits"], "perturbation_power": pp, "signal_power": ps}


def learned_runner(codec: str, registry_factory=None):
    """A link-CLI builder for a learned system using ``codec`` (see :mod:`sionna_semcomm.systems`)."""

    def build(scenario, options):
        if scenario.images is None:
            raise ValueError(f"scenario {scenario.name!r} has no [images] section: image systems cannot run on it")
        try:
            ckpt, sha = system_checkpoint(scenario.name, codec, options.extra.get("checkpoint"))
        except CheckpointError as e:
            raise ValueError(str(e)) from None
        registry = registry_factory() if registry_factory else None
        try:
            system, meta = load_system(ckpt, sha, registry, options.device)
        except CheckpointError as e:
            raise ValueError(str(e)) from None
        if system.config.codec != codec:
            raise ValueError(f"{ckpt} holds a {system.config.codec!r} codec, not {codec!r}")
        link_cfg = dataclasses.replace(scenario.link, csi=options.csi or scenario.link.csi)
        dataset = load_eval_images(scenario.images.dataset, options.num_images or scenario.images.num_images,
                                   options.extra.get("data_dir"))
        if tuple(dataset.image_shape) != tuple(system.config.image_shape):
            raise ValueError(f"{ckpt} expects images {system.config.image_shape}, the data set has {dataset.image_shape}")
        info = {"path": str(ckpt), "sha256": sha, "epoch": meta.get("epoch"), "scenario": meta.get("scenario")}
        learned = LearnedImageSystem(system, link_cfg, options.seed, options.device, info)
        return ImageRunner(learned, dataset, options.batch_size or scenario.images.batch_size, options.seed)

    return build
