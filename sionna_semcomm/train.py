"""``python -m sionna_semcomm.train``: train a semantic system end to end through the OFDM link.

Loss (paper Eq. 9): ``w_rec * reconstruction + w_cls * cross-entropy``; reconstruction is MSE by default,
``log_mse`` (``10 log10`` of the batch's MSE: minus its PSNR up to a constant, so that every batch's SNR weighs
alike instead of the noisiest batches' large errors dominating the gradient), ``log_mse_ssim`` (``log_mse`` plus
``10 log10(1 - SSIM)`` of the batch: both terms in dB, weighed alike) or the paper's binary cross-entropy between
the recovered and the original image. Adam (lr 5e-4, beta1 0.5), an SNR drawn uniformly per batch from the
scenario's training range, a fresh channel realization per example (the link's channel stream). A validation split is carved from the training data
(never the test set) and evaluated at ``val_snr_db`` after every epoch.

Files in ``--out-dir`` (all written atomically): ``last.safetensors`` and ``best.safetensors`` (weights +
model config + metrics), ``resume.pt`` (optimizer, epoch, history, RNG; read with
``weights_only=True``), ``history.json`` (the learning curve) and ``learning_curve.png``. ``--resume``
continues from ``resume.pt``; Ctrl-C keeps every finished epoch.

Several processes (PyTorch DDP): ``torchrun --nproc_per_node N [--nnodes M ...] -m sionna_semcomm.train ...``
(gloo on CPU, nccl on CUDA; see :mod:`sionna_semcomm.distributed`). ``--batch-size`` stays the *global* batch
and the learning rate is not scaled. Each global batch is cut into ``shards`` contiguous parts (sizes differing
by at most one image; default: one per process; ``--shards S``, a multiple of the process count); shard ``k``
has its own channel, noise, augmentation and dropout streams derived from ``(seed, k)`` (shard 0's are those of a one-process run), so a run depends on
the seed and the shard count but not on how many processes share the shards: ``--shards 2`` in one process
gives the same weights (within float rounding) as two processes. Only rank 0 validates and writes files;
``resume.pt`` holds the global state (step, epoch order and position, every shard's streams), so ``--resume``
works with another process count.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import distributed
from .atomic import atomic_write, atomic_write_json
from .checkpoints import CheckpointError, load_metadata, load_resume_state, load_state_into
from .link.ofdm import OFDMLink
from .metrics import psnr, ssim
from .outputs import checked_out_dir
from .runtime import AMP, interrupt_on_signals, make_generator, resolve_device, warn_if_bf16_is_slow
from .scenario import ScenarioError, load_scenario
from .semantic import ModelConfig, SemanticSystem

__all__ = ["TrainConfig", "Trainer", "model_config_for", "train_config_for", "setup_args", "main", "trainer_from_argv"]

RECONSTRUCTION = ("mse", "log_mse", "log_mse_ssim", "bce")


STAGES = ("joint", "codec", "decoder", "classifier", "classifier_finetune")
OPTIMIZERS = ("adam", "sgd")
SELECTIONS = ("auto", "loss", "psnr", "accuracy", "psnr+accuracy")


@dataclass(frozen=True)
class TrainConfig:
    """Scenario section ``[train]`` (every field also a key there; see the module doc for the stages).

    :param stage: ``joint`` (codec + classifier through the link, ``w_rec * rec + w_cls * CE``), ``codec``
        (codec only, reconstruction loss), ``decoder`` (the codec's decoder only, its encoder frozen: the
        transmitter stays as it is; reconstruction loss; without a ``[train.decoder]`` table it takes the
        ``[train.codec]`` settings), ``classifier`` (classifier only, on clean augmented images, no
        link: pretraining) or ``classifier_finetune`` (classifier only, on reconstructions of the frozen codec
        through the link, ``clean_fraction`` of every batch clean images).
    :param epochs, max_steps: the run's length: ``max_steps`` optimizer steps, or ``epochs`` passes over the
        training set when ``max_steps`` is ``None``. The schedule is planned over this length.
    :param optimizer: ``adam`` (``lr``, ``beta1``, ``weight_decay`` decoupled as AdamW) or ``sgd`` (Nesterov,
        ``momentum``, ``weight_decay``).
    :param lr_schedule, warmup_steps, min_lr_ratio, decay_fraction: see :func:`~sionna_semcomm.augment.lr_at`.
    :param augment, crop_padding: see :func:`~sionna_semcomm.augment.augment_batch`.
    :param label_smoothing: of the cross-entropy.
    :param eval_every: validate every this many steps (``None``: once per epoch) and at the end.
    :param checkpoint_every: write ``resume.pt`` every this many steps (``None``: at every validation).
    :param select: which validation figure chooses ``best.safetensors``: ``loss`` (lowest), ``psnr`` (at
        ``val_snr_db``), ``accuracy``, ``psnr+accuracy`` (PSNR [dB] + 10 x accuracy: one accuracy point is
        worth 0.1 dB) or ``auto`` (codec: psnr; classifier stages: accuracy; joint: psnr+accuracy).
    :param train_source: training images (:data:`~sionna_semcomm.data.sources.TRAIN_SOURCES`).
    :param amp: ``bf16`` autocast or ``none``. Fast on CUDA and on CPUs with AVX512-BF16/AMX (1.9x per width-32
        classifier step on a 2-core AMD EPYC with AVX512-BF16: README); elsewhere far slower
        (:func:`~sionna_semcomm.runtime.bf16_is_fast`).
    :param channels_last: convolution memory layout (faster on GPUs with tensor cores).
    """

    stage: str = "joint"
    epochs: int = 30
    max_steps: int | None = None
    batch_size: int = 64
    optimizer: str = "adam"
    lr: float = 5e-4
    beta1: float = 0.5
    momentum: float = 0.9
    weight_decay: float = 0.0
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    decay_fraction: float = 0.2
    augment: str = "none"
    crop_padding: int = 4
    label_smoothing: float = 0.0
    snr_min_db: float = 0.0
    snr_max_db: float = 20.0
    w_rec: float = 0.5
    w_cls: float = 0.5
    reconstruction: str = "mse"
    clean_fraction: float = 0.5
    val_fraction: float = 0.1
    val_snr_db: float = 10.0
    eval_every: int | None = None
    checkpoint_every: int | None = None
    select: str = "auto"
    train_source: str = "batches"
    amp: str = "none"
    channels_last: bool = False

    def __post_init__(self):
        from .augment import AUGMENTATIONS, LR_SCHEDULES
        from .data.sources import TRAIN_SOURCES

        choices = {"stage": STAGES, "optimizer": OPTIMIZERS, "select": SELECTIONS, "amp": AMP,
                   "reconstruction": RECONSTRUCTION, "augment": AUGMENTATIONS, "lr_schedule": LR_SCHEDULES,
                   "train_source": TRAIN_SOURCES}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if not (math.isfinite(self.snr_min_db) and math.isfinite(self.snr_max_db) and self.snr_min_db <= self.snr_max_db):
            raise ValueError(f"need finite snr_min_db <= snr_max_db, got {self.snr_min_db}, {self.snr_max_db}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs, batch_size and lr must be positive")
        for name in ("max_steps", "eval_every", "checkpoint_every"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or v < 1):
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name, lo, hi in (("clean_fraction", 0, 1), ("min_lr_ratio", 0, 1), ("decay_fraction", 0, 1),
                             ("label_smoothing", 0, 1), ("momentum", 0, 1), ("beta1", 0, 1)):
            v = getattr(self, name)
            if not lo <= v <= hi:
                raise ValueError(f"{name} must be in [{lo}, {hi}], got {v}")
        if self.warmup_steps < 0 or self.weight_decay < 0 or self.crop_padding < 0:
            raise ValueError("warmup_steps, weight_decay and crop_padding must be >= 0")

    @property
    def selection(self) -> str:
        """The validation figure that picks ``best`` (``auto`` resolved for the stage)."""
        if self.select != "auto":
            return self.select
        return {"codec": "psnr", "decoder": "psnr", "classifier": "accuracy",
                "classifier_finetune": "accuracy"}.get(self.stage, "psnr+accuracy")

    @property
    def trains(self) -> tuple[str, ...]:
        """The modules of the system (dotted names) whose weights this stage updates."""
        return {"joint": ("codec", "classifier"), "codec": ("codec",),
                "decoder": ("codec.decoder",)}.get(self.stage, ("classifier",))

    @property
    def reconstructs_only(self) -> bool:
        """The stage trains (part of) the codec on the reconstruction loss alone, without the classifier."""
        return self.stage in ("codec", "decoder")

    def is_trained(self, name: str) -> bool:
        """Whether the module or parameter ``name`` (dotted, from the system) is updated by this stage."""
        return any(name == part or name.startswith(part + ".") for part in self.trains)


def selection_score(val: dict, selection: str) -> float:
    """Higher is better: ``-loss``, ``psnr``, ``accuracy`` or ``psnr + 10 * accuracy``."""
    if selection == "loss":
        return -val["loss"]
    if selection == "psnr+accuracy":
        return val["psnr"] + 10.0 * val["accuracy"]
    return val[selection]


def model_config_for(scenario, **override) -> ModelConfig:
    """The scenario's ``[model]`` section (image shape from its data set) as a :class:`ModelConfig`."""
    kw = dict(scenario.extras.get("model", {}))
    shapes = {"cifar10": (3, 32, 32), "mnist": (1, 28, 28)}
    if scenario.images is not None:
        kw.setdefault("image_shape", shapes.get(scenario.images.dataset, (3, 256, 256)))
        kw.setdefault("num_symbols", scenario.images.num_symbols)
    kw.update({k: v for k, v in override.items() if v is not None})
    return ModelConfig(**kw)


def train_config_for(scenario, **override) -> TrainConfig:
    """The scenario's ``[train]`` section, then its ``[train.<stage>]`` table for the chosen stage (``override``
    ``stage`` or ``[train] stage``), then the ``override`` values that are not ``None``."""
    section = dict(scenario.extras.get("train", {}))
    stages = {k: section.pop(k) for k in STAGES if isinstance(section.get(k), dict)}
    stage = override.get("stage") or section.get("stage", "joint")
    table = stages.get(stage, stages.get("codec", {}) if stage == "decoder" else {})
    kw = {**section, **table, "stage": stage}
    kw.update({k: v for k, v in override.items() if v is not None})
    return TrainConfig(**kw)


def system_loss(out: dict, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig) -> tuple[torch.Tensor, dict]:
    """``w_rec * rec + w_cls * CE`` and its parts (floats); reconstruction only where ``out`` has no logits."""
    if cfg.reconstruction in ("mse", "log_mse", "log_mse_ssim"):
        rec = F.mse_loss(out["x_hat"].float(), x)
        if cfg.reconstruction != "mse":  # one SNR per batch: each batch's relative error counts alike
            rec = 10.0 * torch.log10(rec.clamp_min(1e-10))
        if cfg.reconstruction == "log_mse_ssim":  # minus the batch's "SSIM in dB", -10 log10(1 - SSIM)
            dissimilarity = 1.0 - ssim(out["x_hat"].float(), x).mean()
            rec = rec + 10.0 * torch.log10(dissimilarity.clamp_min(1e-10)).to(rec.dtype)
    else:
        rec = F.binary_cross_entropy(out["x_hat"].float().clamp(1e-6, 1 - 1e-6), x)
    if "logits" not in out:
        return rec, {"rec": float(rec.detach())}
    ce = F.cross_entropy(out["logits"].float(), y, label_smoothing=cfg.label_smoothing)
    loss = cfg.w_rec * rec + cfg.w_cls * ce
    return loss, {"rec": float(rec.detach()), "ce": float(ce.detach())}


class Trainer:
    """Trains a :class:`SemanticSystem` over an :class:`OFDMLink`, in optimizer steps (see the module doc).

    :param system: the system; its parts that ``cfg.stage`` does not train are frozen.
    :param link_config: the link the system is trained through.
    :param train_set, val_set: :class:`~sionna_semcomm.data.ImageDataset` (uint8 in memory; moved to
        ``device`` once, so batches never cross the host/device boundary).
    :param cfg: :class:`TrainConfig`.
    :param out_dir: checkpoint folder.
    :param seed: run seed (channels, noise, SNRs, order, augmentation: one stream each).
    :param shards: parts each global batch is cut into (see the module doc and :meth:`_train_step_sharded`);
        ``None``: one per process of the process group (1 without torchrun), or at ``resume`` the count the
        run was written with when the process count divides it.
    """

    def __init__(self, system: SemanticSystem, link_config, train_set, val_set, cfg: TrainConfig, out_dir: Path,
                 seed: int = 0, device: str = "cpu", metadata: dict | None = None, shards: int | None = None):
        self.system = system.to(device)
        if cfg.channels_last:
            self.system = self.system.to(memory_format=torch.channels_last)
        self.cfg, self.out_dir, self.seed, self.device = cfg, Path(out_dir), seed, device
        warn_if_bf16_is_slow(cfg.amp, device)
        self.train_set, self.val_set = _on_device(train_set, device), _on_device(val_set, device)
        self.link = OFDMLink(system.num_symbols, link_config, seed=seed, device=device)
        self.val_link = OFDMLink(system.num_symbols, link_config, seed=seed + 1, device=device)
        if cfg.stage == "classifier" and system.config.classify_from != "image":
            raise ValueError("stage 'classifier' pretrains an image classifier on clean images; a symbol classifier "
                             "(classify_from = 'symbols') is trained with stage 'classifier_finetune' or 'joint'")
        params = [p for part in cfg.trains for p in self.system.get_submodule(part).parameters()]
        for name, p in self.system.named_parameters():
            p.requires_grad_(cfg.is_trained(name))
        if cfg.optimizer == "adam":
            self.optimizer = torch.optim.AdamW(params, lr=cfg.lr, betas=(cfg.beta1, 0.999), weight_decay=cfg.weight_decay)
        else:
            self.optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0,
                                             weight_decay=cfg.weight_decay)
        self.metadata = metadata or {}
        self.epoch = 0          # completed passes over the training set
        self.step = 0           # completed optimizer steps
        self.history: list[dict] = []
        self.best = -math.inf   # best selection score so far (higher is better)
        self._order: torch.Tensor | None = None  # this epoch's permutation
        self._pos = 0           # batches of it already used
        self._running = {"loss": 0.0, "images": 0}
        self._snr_gen = make_generator(seed, "train-snr")
        self._shuffle_gen = make_generator(seed, "train-shuffle")
        self._aug_gen = make_generator(seed, "train-augment")
        self._total_steps: int | None = None
        self._link_config = link_config
        self._rank, self._world = distributed.rank(), distributed.world_size()
        self._shards_requested = shards
        self._step_module = None  # the loss as a module (DDP-wrapped in a process group), built at the first step
        self._set_shards(shards or self._world)

    # -------------------------------------------------------------- shards and processes
    def _set_shards(self, shards: int) -> None:
        """Cut every global batch into ``shards`` parts; this process trains shards ``rank, rank + world, ...``."""
        own = distributed.own_shards(shards, self.cfg.batch_size, len(self.train_set))
        refusal = self._shards_refused() if shards > 1 else None
        if refusal:
            raise ValueError(refusal)
        self.shards, self._own = shards, own
        self._shard_streams = {k: self._new_shard_streams(k) for k in self._own if k > 0}
        self.metadata["parallel"] = distributed.parallel_metadata(shards, self.cfg.batch_size, "its mean over all shards")
        if self.metadata["parallel"] is None:
            del self.metadata["parallel"]

    def _shards_refused(self) -> str | None:
        """Why this trainer cannot train in shards (``None``: it can). A subclass with its own
        :meth:`_after_step` (not called by the sharded step) says whether it can."""
        if type(self)._after_step is not Trainer._after_step and \
                type(self)._after_sharded_step is Trainer._after_sharded_step:
            return f"{type(self).__name__} does not train in shards (several processes or --shards > 1) yet"
        return None

    def _new_shard_streams(self, k: int) -> dict:
        """Shard ``k``'s (> 0) own link (channel and noise streams), augmentation stream and CPU dropout stream,
        all derived from ``(seed, k)``. Shard 0 uses the trainer's own ones (those of a one-process run)."""
        link_seed = make_generator(self.seed, f"train-shard{k}").initial_seed()
        return {"link": OFDMLink(self.system.num_symbols, self._link_config, seed=link_seed, device=self.device),
                "aug": make_generator(self.seed, f"train-augment-shard{k}"),
                "torch": make_generator(self.seed, f"train-torch-shard{k}").get_state()}

    @contextlib.contextmanager
    def _streams_of(self, k: int):
        """Within: ``self.link``, ``self._aug_gen`` and torch's CPU generator are shard ``k``'s."""
        if k == 0:
            yield
            return
        st = self._shard_streams[k]
        saved = self.link, self._aug_gen, torch.get_rng_state()
        self.link, self._aug_gen = st["link"], st["aug"]
        torch.set_rng_state(st["torch"])
        try:
            yield
        finally:
            st["torch"] = torch.get_rng_state()
            self.link, self._aug_gen = saved[:2]
            torch.set_rng_state(saved[2])

    def _shard_states(self) -> dict:
        """The stream states of this process's shards > 0 (``{"k": {...}}``)."""
        return {str(k): {"channel": st["link"].channel_model.generator.get_state(),
                         "noise": st["link"]._noise_generator.get_state(), "aug": st["aug"].get_state(),
                         "torch": st["torch"].clone()} for k, st in self._shard_streams.items()}

    @property
    def steps_per_epoch(self) -> int:
        return max(math.ceil(len(self.train_set) / self.cfg.batch_size), 1)

    def total_steps(self, epochs: int | None = None, max_steps: int | None = None) -> int:
        """The run's length in optimizer steps: ``max_steps``, else ``epochs`` (default the config's) passes."""
        max_steps = max_steps if max_steps is not None else (self.cfg.max_steps if epochs is None else None)
        return max_steps if max_steps is not None else (epochs or self.cfg.epochs) * self.steps_per_epoch

    # -------------------------------------------------------------- state
    def resume(self) -> None:
        """Continue from ``out_dir/resume.pt`` (mid-epoch too: the epoch's order and position are restored)."""
        state = distributed.load_on_main(lambda: load_resume_state(self.out_dir / "resume.pt"), (CheckpointError,))
        shards = distributed.resumed_shards(self.out_dir / "resume.pt", state.get("shards", 1), self._shards_requested)
        if shards != self.shards:
            self._set_shards(shards)
        if state.get("model_config") != self.system.config.to_dict():
            raise CheckpointError(f"{self.out_dir / 'resume.pt'} was written for model {state.get('model_config')}, "
                                  f"not {self.system.config.to_dict()}")
        if state.get("stage", "joint") != self.cfg.stage:
            raise CheckpointError(f"{self.out_dir / 'resume.pt'} was written by a {state.get('stage')!r} run, not "
                                  f"{self.cfg.stage!r}")
        load_state_into(self.system, state["model"], str(self.out_dir / "resume.pt"))
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.history = state["epoch"], state["history"]
        self.step = state.get("step", self.epoch * self.steps_per_epoch)
        self.best = state.get("best_score", -state["best"] if "best" in state else -math.inf)
        self._order, self._pos = state.get("order"), state.get("pos", 0)
        self._running = dict(state.get("running", self._running))
        self._snr_gen.set_state(state["snr_rng"])
        self._shuffle_gen.set_state(state["shuffle_rng"])
        if "aug_rng" in state:
            self._aug_gen.set_state(state["aug_rng"])
        if "torch_rng" in state:
            torch.set_rng_state(state["torch_rng"])
        self.link.channel_model.generator.set_state(state["channel_rng"])
        self.link._noise_generator.set_state(state["noise_rng"])
        for key, saved in state.get("shard_rng", {}).items():
            st = self._shard_streams.get(int(key))
            if st is not None:
                self._load_shard_state(st, saved)
        self._load_extra_state(state.get("extra", {}))

    def _load_shard_state(self, st: dict, saved: dict) -> None:
        """Restore one shard's streams ``st`` from what :meth:`_shard_states` saved (``saved``)."""
        st["link"].channel_model.generator.set_state(saved["channel"])
        st["link"]._noise_generator.set_state(saved["noise"])
        st["aug"].set_state(saved["aug"])
        st["torch"] = saved["torch"]

    def _weights_meta(self, val: dict | None) -> dict:
        return {**self.metadata, "epoch": self.epoch, "step": self.step, "images_seen": self.step * self.cfg.batch_size,
                "val": val, "train_config": dataclasses.asdict(self.cfg)}

    def _save_resume(self) -> None:
        """Write ``resume.pt`` (rank 0; in a process group every rank must call it: the shards' streams are gathered)."""
        from .checkpoints import save_resume_state

        gathered = distributed.gather_objects(self._shard_states())
        if not distributed.is_main():
            return
        shard_rng = {k: v for part in gathered for k, v in part.items()}
        extra = {"shards": self.shards, "world_size": self._world, "shard_rng": shard_rng} if self.shards > 1 else {}
        save_resume_state(self.out_dir / "resume.pt", {
            "model": self.system.state_dict(), "optimizer": self.optimizer.state_dict(), "stage": self.cfg.stage,
            "model_config": self.system.config.to_dict(), "epoch": self.epoch, "step": self.step,
            "history": self.history, "best_score": self.best, "order": self._order, "pos": self._pos,
            "running": dict(self._running),
            "snr_rng": self._snr_gen.get_state(), "shuffle_rng": self._shuffle_gen.get_state(),
            "aug_rng": self._aug_gen.get_state(), "torch_rng": torch.get_rng_state(),
            "channel_rng": self.link.channel_model.generator.get_state(), "noise_rng": self.link._noise_generator.get_state(),
            "extra": self._extra_state(), **extra,
        })

    def _save(self, val: dict) -> None:
        """After a validation: ``last``, ``best`` (when the selection score improved), history, plot, then ``resume.pt``."""
        meta = self._weights_meta(val)
        score = selection_score(val, self.cfg.selection)
        improved = score > self.best
        if improved:
            self.best = score
        if not distributed.is_main():  # every rank keeps the same state; rank 0 alone writes
            self._save_resume()
            return
        self.system.save(self.out_dir / "last.safetensors", meta)
        if improved:
            self.system.save(self.out_dir / "best.safetensors", {**meta, "selection": self.cfg.selection})
        atomic_write_json(self.out_dir / "history.json", {"metadata": self.metadata, "selection": self.cfg.selection,
                                                          "total_steps": self._total_steps, "step": self.step,
                                                          "finished": self._total_steps is not None and self.step >= self._total_steps,
                                                          "history": self.history})
        self._plot()
        self._save_resume()  # last: a kill before it resumes from the previous state, never behind the files above

    def _plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps = [h.get("step", h["epoch"]) for h in self.history]
        keys = [k for k in ("psnr", "accuracy", "clean_accuracy") if any(f"val_{k}" in h for h in self.history)]
        fig, axes = plt.subplots(1, 1 + len(keys), figsize=(4.3 * (1 + len(keys)), 3.5), squeeze=False)
        axes = axes[0]
        axes[0].plot(steps, [h["train_loss"] for h in self.history], label="train (running mean)")
        axes[0].plot(steps, [h["val_loss"] for h in self.history], label="validation")
        axes[0].set_ylabel("loss")
        axes[0].legend()
        labels = {"psnr": f"validation PSNR [dB] @ {self.cfg.val_snr_db:g} dB",
                  "accuracy": "validation accuracy" + ("" if self.cfg.stage == "classifier" else f" @ {self.cfg.val_snr_db:g} dB"),
                  "clean_accuracy": "validation accuracy, original images"}
        for ax, k in zip(axes[1:], keys):
            ax.plot(steps, [h.get(f"val_{k}") for h in self.history])
            ax.set_ylabel(labels[k])
        for ax in axes:
            ax.set_xlabel("optimizer step")
            ax.grid(alpha=0.3)
        fig.suptitle(f"{self.metadata.get('scenario', '')} {self.cfg.stage}: batch {self.cfg.batch_size}, "
                     f"{self.metadata.get('train_images', len(self.train_set))} training images", fontsize=9)
        fig.tight_layout()
        atomic_write(self.out_dir / "learning_curve.png", lambda tmp: fig.savefig(tmp, format="png", dpi=100))
        plt.close(fig)

    def _extra_state(self) -> dict:
        """More resume state of subclasses (tensors, numbers, dicts only)."""
        return {}

    def _load_extra_state(self, state: dict) -> None:
        """Restore what :meth:`_extra_state` saved."""

    # -------------------------------------------------------------- one step
    def _autocast(self):
        return torch.autocast(device_type=torch.device(self.device).type, dtype=torch.bfloat16,
                              enabled=self.cfg.amp == "bf16")

    def _forward(self, x: torch.Tensor, y: torch.Tensor, snr_db: float) -> dict:
        """One training forward pass of a batch through the link (subclasses perturb it)."""
        if self.cfg.reconstructs_only:
            return self.system.reconstruct(x, self.link, snr_db)
        return self.system(x, self.link, snr_db)

    def _classifier_inputs(self, x: torch.Tensor, snr_db: float) -> torch.Tensor:
        """``classifier_finetune``: the first ``clean_fraction`` of the (shuffled) batch clean, the rest the frozen
        codec's reconstructions through the link; for a symbol classifier the received symbols of every image.
        The frozen codec runs in float32 even under ``amp``: the classifier learns the inputs evaluation gives it."""
        self.system.codec.eval()
        full_precision = torch.autocast(device_type=torch.device(self.device).type, enabled=False)
        if self.system.config.classify_from == "symbols":  # a symbol classifier sees received symbols only
            with torch.no_grad(), full_precision:
                return self.system.codec.to_latent_order(self.system.reconstruct(x, self.link, snr_db)["z_hat"])
        n_clean = int(round(self.cfg.clean_fraction * len(x)))
        if n_clean == len(x):
            return x
        with torch.no_grad(), full_precision:
            rec = self.system.reconstruct(x[n_clean:], self.link, snr_db)
        return torch.cat([x[:n_clean], rec["x_hat"].clamp(0, 1).to(x.dtype)])

    def _loss(self, x: torch.Tensor, y: torch.Tensor, snr_db: float) -> tuple[torch.Tensor, dict]:
        if self.cfg.stage in ("classifier", "classifier_finetune"):
            inputs = x if self.cfg.stage == "classifier" else self._classifier_inputs(x, snr_db)
            ce = F.cross_entropy(self.system.classifier(inputs).float(), y, label_smoothing=self.cfg.label_smoothing)
            return ce, {"ce": float(ce.detach())}
        return system_loss(self._forward(x, y, snr_db), x, y, self.cfg)

    def _set_train_mode(self) -> None:
        self.system.train()
        for part in ("codec.encoder", "codec.decoder", "classifier"):
            if not self.cfg.is_trained(part):
                self.system.get_submodule(part).eval()  # frozen parts keep their BatchNorm statistics

    def _after_step(self, x: torch.Tensor, y: torch.Tensor, snr_db: float) -> None:
        """Called after every optimizer step (subclasses update their attackers)."""

    def _after_sharded_step(self, idx: torch.Tensor, snr_db: float) -> None:
        """Called by the sharded step on every process after the optimizer step (``idx``: the global batch's
        indices): subclasses that update more than the system do it here, the same on every process."""

    def _before_shards(self, parts: tuple[torch.Tensor, ...]) -> None:
        """Called by the sharded step on every process, after the global draws (order, SNR) and before the shards
        (``parts``: every shard's batch indices): subclasses make their per-batch draws for the whole batch here."""

    def _next_indices(self) -> torch.Tensor:
        if self._order is None:
            self._order, self._pos = torch.randperm(len(self.train_set), generator=self._shuffle_gen), 0
        b = self.cfg.batch_size
        idx = self._order[self._pos * b:(self._pos + 1) * b]
        self._pos += 1
        return idx

    def train_step(self) -> float:
        """One optimizer step on the next (global) batch; returns its loss (the mean over the whole batch)."""
        if self.shards == 1 and self._world == 1:
            return self._train_step_single()
        return self._train_step_sharded()

    def _start_step(self) -> float:
        """Set this step's learning rate (the schedule at ``self.step``) and draw its SNR [dB], uniform in
        ``[snr_min_db, snr_max_db]`` from the run's SNR stream (one per global batch)."""
        from .augment import lr_at

        lr = lr_at(self.step, self._total_steps or self.total_steps(), self.cfg.lr, self.cfg.lr_schedule,
                   self.cfg.warmup_steps, self.cfg.min_lr_ratio, self.cfg.decay_fraction)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        u = torch.rand((), generator=self._snr_gen).item()
        return self.cfg.snr_min_db + u * (self.cfg.snr_max_db - self.cfg.snr_min_db)

    def _train_step_single(self) -> float:
        """The one-process, one-shard step."""
        self._set_train_mode()
        idx = self._next_indices()
        x, y = self.train_set.batch(idx)
        from .augment import augment_batch

        x = augment_batch(x, self.cfg.augment, self._aug_gen, self.cfg.crop_padding)
        if self.cfg.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        snr = self._start_step()
        with self._autocast():
            loss, _ = self._loss(x, y, snr)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self._after_step(x, y, snr)
        self.step += 1
        if self._pos >= self.steps_per_epoch:
            self.epoch, self._order, self._pos = self.epoch + 1, None, 0
        value = float(loss.detach())
        self._running["loss"] += value * len(idx)
        self._running["images"] += len(idx)
        return value

    def _loss_module(self):
        if self._step_module is None:
            module = _ShardLoss(self)
            if self._world > 1:
                import inspect
                import warnings

                from torch.nn.parallel import DistributedDataParallel

                dev = torch.device(self.device)
                # buffers are not broadcast at each forward: _train_step_sharded averages their updates instead
                no_buffer_sync = ({"forward_sync_buffers": False}
                                  if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
                                  else {"broadcast_buffers": False})
                module = DistributedDataParallel(module, device_ids=[dev.index] if dev.type == "cuda" else None,
                                                 **no_buffer_sync)
                # weights of shape [.., 1, .., k] get gradients with other (equivalent) strides than DDP's bucket
                # views: only a note on speed, repeated at every step
                warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            self._step_module = module
        return self._step_module

    def _train_step_sharded(self) -> float:
        """One optimizer step on the next global batch, cut into ``self.shards`` contiguous parts.

        Design (equal results for any process count): every process draws the same epoch permutation and SNR
        (the global streams) and takes the same global batch of it; shard ``k`` (``torch.tensor_split``) is
        trained by process ``k % world`` with shard ``k``'s own channel/noise/augmentation/dropout streams. Each
        shard's loss is weighted by its share of the batch (``n_k / B``, times ``world`` because DDP averages the
        processes' gradients), so the gradient is the batch mean whatever the split; a process with several
        shards accumulates them (``no_sync`` until the last). Every shard's forward starts from the step's
        BatchNorm running statistics, and afterwards they become that plus the mean of the shards' updates
        (summed over processes): the same in one process with ``--shards S`` as in ``S`` processes.
        """
        from .augment import augment_batch

        self._set_train_mode()
        idx = self._next_indices()
        parts = torch.tensor_split(idx, self.shards)
        snr = self._start_step()
        self._before_shards(parts)
        model = self._loss_module()
        buffers = [b for b in self.system.buffers()]
        start = [b.detach().clone() for b in buffers]
        delta = [torch.zeros_like(b) for b in buffers]
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)  # nccl reduces device tensors only
        self.optimizer.zero_grad(set_to_none=True)
        for j, k in enumerate(self._own):
            with torch.no_grad():
                for b, s in zip(buffers, start):
                    b.copy_(s)
            with self._streams_of(k):
                x, y = self.train_set.batch(parts[k])
                x = augment_batch(x, self.cfg.augment, self._aug_gen, self.cfg.crop_padding)
                if self.cfg.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                last = j == len(self._own) - 1
                sync = contextlib.nullcontext() if last or self._world == 1 else model.no_sync()
                with sync:
                    with self._autocast():
                        loss = model(x, y, snr)
                    (loss * (len(parts[k]) * self._world / len(idx))).backward()
            with torch.no_grad():
                for d, b, s in zip(delta, buffers, start):
                    d += b - s
            loss_sum += float(loss.detach()) * len(parts[k])
        if buffers:
            with torch.no_grad():
                for d in delta:
                    distributed.all_reduce_sum(d)
                for b, s, d in zip(buffers, start, delta):
                    b.copy_(s + (d / self.shards if b.is_floating_point() else d // self.shards))
        distributed.all_reduce_sum(loss_sum)
        self.optimizer.step()
        self._after_sharded_step(idx, snr)
        self.step += 1
        if self._pos >= self.steps_per_epoch:
            self.epoch, self._order, self._pos = self.epoch + 1, None, 0
        self._running["loss"] += float(loss_sum)
        self._running["images"] += len(idx)
        return float(loss_sum) / len(idx)

    # -------------------------------------------------------------- validation
    def _validate_on_main(self) -> dict:
        """:meth:`validate` on rank 0 only, its figures sent to the other processes (which wait meanwhile)."""
        if self._world == 1:
            return self.validate()
        return distributed.broadcast_object(self.validate() if distributed.is_main() else None)

    @torch.no_grad()
    def validate(self) -> dict:
        """Validation figures at ``val_snr_db`` on the same channels every time: ``loss``, ``psnr``, ``ssim`` and
        ``accuracy`` (what applies to the stage; ``classifier``: clean accuracy only; ``classifier_finetune``:
        also ``clean_accuracy``)."""
        self.system.eval()
        self.val_link.reseed(self.seed + 1)
        stage = self.cfg.stage
        image_classifier = self.system.config.classify_from == "image"
        totals, count = {"loss": 0.0, "psnr": 0.0, "ssim": 0.0, "correct": 0.0, "clean_correct": 0.0}, 0
        for start in range(0, len(self.val_set), 256):
            idx = torch.arange(start, min(start + 256, len(self.val_set)))
            x, y = self.val_set.batch(idx)
            with self._autocast():
                if stage == "classifier":
                    logits = self.system.classifier(x).float()
                    loss = F.cross_entropy(logits, y)
                    out = {"logits": logits}
                else:
                    out = (self.system.reconstruct if self.cfg.reconstructs_only else self.system)(
                        x, self.val_link, self.cfg.val_snr_db)
                    loss, _ = system_loss(out, x, y, self.cfg)
                    if stage == "classifier_finetune":
                        loss = F.cross_entropy(out["logits"].float(), y)
                        if image_classifier:
                            totals["clean_correct"] += float((self.system.classifier(x).argmax(-1) == y).sum())
            totals["loss"] += float(loss) * len(idx)
            if "x_hat" in out:
                x_hat = out["x_hat"].float().clamp(0, 1)
                totals["psnr"] += float(psnr(x_hat, x).sum())
                totals["ssim"] += float(ssim(x_hat, x).sum())
            if "logits" in out:
                totals["correct"] += float((out["logits"].argmax(-1) == y).sum())
            count += len(idx)
        res = {"loss": totals["loss"] / count}
        if stage != "classifier":
            res["psnr"] = totals["psnr"] / count
            res["ssim"] = totals["ssim"] / count
        if not self.cfg.reconstructs_only:
            res["accuracy"] = totals["correct"] / count
        if stage == "classifier_finetune" and image_classifier:
            res["clean_accuracy"] = totals["clean_correct"] / count
        return res

    def measure_speed(self, steps: int = 20, warmup: int = 3) -> dict:
        """Time ``steps`` optimizer steps (after ``warmup`` untimed ones) and one validation, for planning a run's
        length. It trains: use a throw-away trainer (e.g. :func:`trainer_from_argv`), not the one of the run.

        :output: ``{"step_s", "validation_s"}`` (wall seconds per step, per validation) and ``"eval_every"`` (steps
            between validations).
        """
        if steps < 1 or warmup < 0:
            raise ValueError(f"need steps >= 1 and warmup >= 0, got {steps}, {warmup}")
        self._total_steps = self.total_steps()

        def sync():
            if torch.device(self.device).type == "cuda":
                torch.cuda.synchronize(self.device)

        for _ in range(warmup):
            self.train_step()
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            self.train_step()
        sync()
        t1 = time.perf_counter()
        self._validate_on_main()
        sync()
        return {"step_s": (t1 - t0) / steps, "validation_s": time.perf_counter() - t1,
                "eval_every": self.cfg.eval_every or self.steps_per_epoch}

    # -------------------------------------------------------------- the loop
    def fit(self, epochs: int | None = None, max_steps: int | None = None, show_progress: bool = True,
            time_budget_s: float | None = None) -> list[dict]:
        """Train until the run's length (:meth:`total_steps`) or ``time_budget_s`` seconds of this call.

        Validates every ``eval_every`` steps (default: every epoch) and at the end, each time writing
        ``last``/``best``/``resume.pt``/``history.json``/the plot; ``resume.pt`` also every ``checkpoint_every``
        steps and when interrupted (Ctrl-C) or out of time, so at most the step in progress is lost.
        """
        total = self._total_steps = self.total_steps(epochs, max_steps)
        eval_every = self.cfg.eval_every or self.steps_per_epoch
        ckpt_every = self.cfg.checkpoint_every or eval_every
        main = distributed.is_main()
        if main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        if main and "parallel" in self.metadata:
            p = self.metadata["parallel"]
            print(f"parallel: {p['world_size']} process(es) ({p['backend'] or 'no process group'}), {p['shards']} shards "
                  f"per batch, global batch {p['global_batch_size']} ({p['per_process_batch_size']:g} per process), "
                  "learning rate not scaled", file=sys.stderr)
        started, since = time.time(), time.time()
        bar = tqdm(total=total, initial=min(self.step, total), unit="step", disable=not (show_progress and main),
                   file=sys.stderr)
        try:
            while self.step < total:
                loss = self.train_step()
                bar.update(1)
                bar.set_postfix_str(f"epoch {self.epoch + self._pos / self.steps_per_epoch:.2f} loss {loss:.4f}")
                if self.step % eval_every == 0 or self.step == total:
                    val = self._validate_on_main()
                    train_loss = self._running["loss"] / max(self._running["images"], 1)
                    self._running = {"loss": 0.0, "images": 0}
                    epoch = self.epoch + self._pos / self.steps_per_epoch
                    self.history.append({"epoch": int(epoch) if epoch == int(epoch) else round(epoch, 3), "step": self.step,
                                         "lr": self.optimizer.param_groups[0]["lr"], "train_loss": train_loss,
                                         **{f"val_{k}": v for k, v in val.items()}, "seconds": time.time() - since})
                    since = time.time()
                    self._save(val)
                elif self.step % ckpt_every == 0:
                    self._save_resume()
                out_of_time = time_budget_s is not None and time.time() - started >= time_budget_s and self.step < total
                if time_budget_s is not None and self._world > 1:
                    out_of_time = distributed.broadcast_object(out_of_time)  # rank 0's clock decides for all
                if out_of_time:
                    self._save_resume()
                    if main:
                        print(f"\ntime budget of {time_budget_s:g} s reached at step {self.step}/{total}: "
                              f"continue with --resume", file=sys.stderr)
                    break
        except KeyboardInterrupt:
            if self._world == 1:
                self._save_resume()
            elif main:  # the other processes may be gone: no collective gathering of their streams now
                print(f"\ninterrupted in a process group: {self.out_dir / 'resume.pt'} is the last one written "
                      "(every checkpoint_every steps)", file=sys.stderr)
            raise
        finally:
            bar.close()
        return self.history


class _ShardLoss(torch.nn.Module):
    """The training loss of a trainer as a module (what DDP wraps: its forward runs DDP's gradient hooks)."""

    def __init__(self, trainer: Trainer):
        super().__init__()
        self.system = trainer.system
        self._loss_of = trainer._loss

    def forward(self, x: torch.Tensor, y: torch.Tensor, snr_db: float) -> torch.Tensor:
        return self._loss_of(x, y, snr_db)[0]


def _on_device(dataset, device: str):
    """An in-memory data set with its uint8 images on ``device`` (lazy image folders are left as they are)."""
    from .data import ImageDataset

    if isinstance(dataset, ImageDataset) and dataset.images.device != torch.device(device):
        moved = ImageDataset.__new__(ImageDataset)
        moved.__dict__.update(dataset.__dict__)
        moved.images, moved.labels = dataset.images.to(device), dataset.labels.to(device)
        return moved
    return dataset


def fit_epochs(trainer, epochs: int | None, max_steps: int | None, show_progress: bool, desc: str | None = None) -> list[dict]:
    """The epoch loop of the attack-generator trainer.

    ``trainer`` has ``cfg`` (``epochs``, ``batch_size``), ``train_set``, ``out_dir``, ``epoch``, ``history``,
    ``metadata``, ``train_epoch(max_steps, progress) -> dict``, ``validate_on_main() -> dict`` and ``_save(val)``
    (in a process group every rank runs the loop; rank 0 alone shows progress). Each finished
    epoch appends ``{"epoch", "steps", "train_<k>", "val_<k>", "seconds"}`` to the history and is saved before the
    next one starts, so an interrupt loses at most the epoch in progress. ``max_steps`` caps the optimizer steps
    of the whole run (the last epoch is cut short where the budget ends), ``epochs`` the passes.
    """
    epochs = epochs or trainer.cfg.epochs
    if distributed.is_main():
        trainer.out_dir.mkdir(parents=True, exist_ok=True)
    n = len(trainer.train_set)
    spe = max(math.ceil(n / trainer.cfg.batch_size), 1)

    def steps_done():
        return sum(h.get("steps", spe) for h in trainer.history)

    def budget_left():
        return math.inf if max_steps is None else max_steps - steps_done()

    total = (epochs - trainer.epoch) * spe if max_steps is None else min((epochs - trainer.epoch) * spe, max(budget_left(), 0))
    main = distributed.is_main()
    if main and "parallel" in getattr(trainer, "metadata", {}):
        p = trainer.metadata["parallel"]
        print(f"parallel: {p['world_size']} process(es) ({p['backend'] or 'no process group'}), {p['shards']} shards "
              f"per batch, global batch {p['global_batch_size']} ({p['per_process_batch_size']:g} per process), "
              "learning rate not scaled", file=sys.stderr)
    bar = tqdm(total=total * trainer.cfg.batch_size, unit="img", disable=not (show_progress and main), file=sys.stderr,
               desc=desc)
    try:
        while trainer.epoch < epochs and budget_left() > 0:
            started = time.time()
            steps = int(min(spe, budget_left()))

            def progress(count, loss):
                bar.update(count)
                bar.set_postfix_str(f"epoch {trainer.epoch + 1}/{epochs} loss {loss:.4f}")

            train = trainer.train_epoch(steps, progress)
            val = trainer.validate_on_main()
            trainer.epoch += 1
            trainer.history.append({"epoch": trainer.epoch, "steps": steps, **{f"train_{k}": v for k, v in train.items()},
                                    **{f"val_{k}": v for k, v in val.items()}, "seconds": time.time() - started})
            trainer._save(val)
    finally:
        bar.close()
    return trainer.history


def setup_args() -> argparse.ArgumentParser:
    from .argtypes import ArgumentParser, duration_seconds, finite_float, input_file, known_name, positive_int

    p = ArgumentParser(prog="python -m sionna_semcomm.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="rayleigh_cifar", help="scenario name or .toml path (default: %(default)s)")
    p.add_argument("--stage", choices=STAGES, help="what to train (default: the scenario's [train] stage, joint); "
                   "the scenario's [train.<stage>] table overrides [train] for it")
    p.add_argument("--codec", type=known_name("codec", lambda: _registry().names()),
                   help="codec name (default: the scenario's [model] codec, mobilesc)")
    p.add_argument("--classify-from", choices=["image", "symbols"])
    p.add_argument("--classifier-width", type=positive_int, help="base width of the image classifier")
    p.add_argument("--codec-channels", type=positive_int, nargs="+", metavar="C",
                   help="the codec's channels option, [model] codec_hparams channels (MobileSC: the widths of its "
                        "down-scaling stages, the SemBlocks running at the last; default: the scenario's, 64 64 for "
                        "32x32 images; Deep-JSCC-style too). With --init-codec the checkpoint's widths are kept unless "
                        "this is given")
    p.add_argument("--snr-adaptive", action=argparse.BooleanOptionalAction, default=None,
                   help="give the decoder the receiver's SNR (ADJSCC-style SNR gates; MobileSC only); default: the "
                        "scenario's [model] codec_hparams snr_adaptive, off. With --init-codec from a decoder without "
                        "gates, the gates start as the identity")
    p.add_argument("--snr-adaptive-encoder", action=argparse.BooleanOptionalAction, default=None,
                   help="tell the encoder the link's SNR too (fed back to the transmitter; ADJSCC's encoder-side SNR "
                        "gates; MobileSC only); default: the scenario's [model] codec_hparams snr_adaptive_encoder, off")
    p.add_argument("--decoder-csi", action=argparse.BooleanOptionalAction, default=None,
                   help="give the decoder the channel state of every symbol (its post-equaliser SINR from the LS "
                        "estimate; MobileSC only); default: the scenario's [model] codec_hparams decoder_csi, off. With "
                        "--init-codec from a decoder without it, its input starts at zero (the same reconstructions)")
    p.add_argument("--interleave", action=argparse.BooleanOptionalAction, default=None,
                   help="send the latent symbols in a fixed pseudo-random order over the resource grid (the symbols of "
                        "one latent position spread over the band; MobileSC only); default: the scenario's [model] "
                        "codec_hparams interleave, off; with --init-codec: the checkpoint's. No weights change, so "
                        "--init-codec from a codec without it continues that codec in the new order. Measured: no gain (README)")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--lr", type=finite_float("learning rate"))
    p.add_argument("--reconstruction", choices=RECONSTRUCTION,
                   help="reconstruction loss: mse, log_mse (10 log10 of the batch MSE: every training SNR weighs "
                        "alike), log_mse_ssim (log_mse + 10 log10(1 - SSIM) of the batch) or bce (the paper's); "
                        "default: the scenario's [train] / [train.<stage>] reconstruction (mse; log_mse in the codec "
                        "stage of rayleigh_cifar and rayleigh_mnist)")
    p.add_argument("--snr-db-range", type=finite_float("SNR"), nargs=2, metavar=("LO", "HI"),
                   help="training SNRs drawn uniformly in [LO, HI] dB, one per batch (default: the scenario's [train] "
                        "snr_min_db, snr_max_db: 0 20); LO = HI trains at one SNR")
    p.add_argument("--val-snr-db", type=finite_float("validation SNR"), metavar="SNR",
                   help="SNR [dB] of the validation that picks best.safetensors (default: the scenario's [train] "
                        "val_snr_db, 10); e.g. a model trained at one SNR, validated there")
    p.add_argument("--eval-every", type=positive_int, metavar="N",
                   help="validate every N optimizer steps and at the end (default: the scenario's [train] / "
                        "[train.<stage>] eval_every, else once per epoch)")
    p.add_argument("--init-codec", metavar="CKPT", type=input_file, help="start the codec from this system checkpoint's codec")
    p.add_argument("--init-classifier", metavar="CKPT", type=input_file,
                   help="start the classifier from this system checkpoint's classifier")
    p.add_argument("--time-budget", type=duration_seconds, metavar="T",
                   help="stop cleanly after T (seconds, or e.g. 90m, 2h) and keep resume.pt; the schedule still "
                        "follows --max-steps/--epochs")
    p.add_argument("--amp", choices=AMP, help="bf16: autocast the networks to bfloat16 (GPUs, and CPUs with AVX512-BF16 or "
                   "AMX such as AMD Zen 4 / Intel Sapphire Rapids; elsewhere far slower); default: the scenario's "
                   "[train] amp, none")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="convolutions in the channels_last memory layout (faster on GPUs with tensor cores); default: "
                        "the scenario's [train] channels_last")
    p.add_argument("--shards", type=positive_int, metavar="S",
                   help="cut every (global) batch into S parts with their own random streams (default: one per "
                        "torchrun process; a multiple of their number): one process with --shards 2 trains like "
                        "torchrun --nproc_per_node 2")
    add_run_args(p, "runs/train/<scenario>-<codec>[-<stage>]")
    return p


def add_run_args(p: argparse.ArgumentParser, default_out: str) -> None:
    """The options every training command shares (data, output, quick-run caps, seed, device, threads, resume)."""
    from .argtypes import input_dir, output_dir, positive_int, seed
    from .runtime import add_threads_argument

    p.add_argument("--data-dir", type=input_dir, help="data set folder (else $SIONNA_SEMCOMM_DATA)")
    p.add_argument("--train-source", choices=["batches", "jpeg", "both"],
                   help="CIFAR-10 training images: the python batches, the JPEG folder, or both (default: the scenario's "
                        "[train] train_source)")
    p.add_argument("--out-dir", type=output_dir, help=f"checkpoint folder (default: {default_out})")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--max-steps", type=positive_int, help="length of the run in optimizer steps (instead of epochs)")
    p.add_argument("--num-train", type=positive_int, help="use only the first N training images (quick runs)")
    p.add_argument("--seed", type=seed)
    p.add_argument("--device", default="auto")
    add_threads_argument(p)
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT_DIR/resume.pt (a fresh start, with a note, when there is none yet)")
    p.add_argument("--no-progress", action="store_true")


def _registry():
    """Composition root: the core codecs plus the reference codecs of ``baselines`` (when present)."""
    from .models import default_registry

    from .runtime import optional_module

    reg = default_registry()
    codecs = optional_module("baselines.codecs")
    if codecs is not None:
        codecs.register_baseline_codecs(reg)
    return reg


def load_command_data(dataset: str, source: str, data_dir, val_fraction: float, seed: int, num_train: int | None = None):
    """The training data of a training command (``train``, ``attack train``, ``defense``): ``(data, train_set,
    val_set)`` from :func:`~sionna_semcomm.data.sources.load_training_data`, the training set cut to its first
    ``num_train`` images when given; a data problem ends the command with ``error: ...``."""
    from .data.errors import DatasetError
    from .data.sources import load_training_data

    try:
        data = load_training_data(dataset, source, data_dir, val_fraction, seed)
    except (DatasetError, ValueError, OSError) as e:
        raise SystemExit(f"error: {e}") from None
    train_set = data.train
    if num_train:
        train_set = train_set.subset(torch.arange(min(num_train, len(train_set))))
    return data, train_set, data.val


#: The codec options that add inputs (SNR gates, the channel state) to a MobileSC: ``train`` flags of the same names.
CODEC_SIDE_INFORMATION = ("snr_adaptive", "snr_adaptive_encoder", "decoder_csi")


def init_part(system: SemanticSystem, part: str, path: str | Path) -> dict:
    """Load the ``part`` (``"codec"`` or ``"classifier"``) weights of the system checkpoint ``path`` into
    ``system``; returns ``{"path", "sha256", "step"}`` for the metadata.

    :raises CheckpointError: unreadable file, or a ``part`` that does not match this system's.
    """
    from .checkpoints import load_weights, sha256_file

    state, meta = load_weights(path)
    prefix = part + "."
    sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if not sub:
        raise CheckpointError(f"{path} holds no {part} weights")
    module = getattr(system, part)
    new_inputs = {k: v for k, v in module.state_dict().items()
                  if k.startswith(("encoder.snr_gates.", "decoder.snr_gates.", "decoder.csi_input.")) and k not in sub}
    # SNR gates it lacks start as the identity, a channel-state input as zero: the checkpoint's reconstructions
    load_state_into(module, {**sub, **new_inputs}, f"{path} ({part})")
    info = {"path": str(path), "sha256": sha256_file(path), "step": meta.get("step"), "epoch": meta.get("epoch"),
            "stage": meta.get("train_config", {}).get("stage")}
    gates = {tuple(k.split(".")[:3]) for k in new_inputs if ".snr_gates." in k}
    if gates:
        info["new_snr_gates"] = len(gates)
    if any(k.startswith("decoder.csi_input.") for k in new_inputs):
        info["new_csi_input"] = True
    return info


def _configs(args) -> tuple:
    """``(scenario, model config, train config, device)`` of parsed command-line ``args``; a bad value ends the
    command with ``error: ...``."""
    try:
        scenario = load_scenario(args.scenario)
        if scenario.images is None:
            raise ScenarioError(f"scenario {scenario.name!r} has no [images] section: nothing to train on")
        mcfg = model_config_for(scenario, codec=args.codec, classify_from=args.classify_from,
                                classifier_width=args.classifier_width)
        if args.init_codec:
            mcfg = _codec_options_of(args.init_codec, mcfg)
        if args.codec_channels:
            mcfg = dataclasses.replace(mcfg, codec_hparams={**mcfg.codec_hparams, "channels": tuple(args.codec_channels)})
        for key in CODEC_SIDE_INFORMATION + ("interleave",):
            if getattr(args, key) is not None:
                mcfg = dataclasses.replace(mcfg, codec_hparams={**mcfg.codec_hparams, key: getattr(args, key)})
        lo, hi = args.snr_db_range or (None, None)
        tcfg = train_config_for(scenario, stage=args.stage, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                snr_min_db=lo, snr_max_db=hi, val_snr_db=args.val_snr_db, eval_every=args.eval_every,
                                reconstruction=args.reconstruction,
                                train_source=args.train_source, max_steps=args.max_steps, amp=args.amp,
                                channels_last=args.channels_last)
        device = resolve_device(args.device)
    except (ScenarioError, CheckpointError, ValueError, TypeError) as e:
        raise SystemExit(f"error: {e}") from None
    return scenario, mcfg, tcfg, device


def _codec_options_of(path, mcfg: ModelConfig) -> ModelConfig:
    """``mcfg`` with the codec architecture of checkpoint ``path`` (same codec only): its constructor options
    (``channels``, ``num_blocks``, ...), and the :data:`CODEC_SIDE_INFORMATION` options it has switched on.
    ``--init-codec`` from, e.g., a wider or CSI-aware codec keeps its widths and channel-state input without
    ``--codec-channels`` / ``--decoder-csi`` (the reproduction's symbol classifier of such a system needs this); an
    explicit flag still decides."""
    model = load_metadata(path).get("model") or {}
    hparams = model.get("codec_hparams") or {}
    if model.get("codec") != mcfg.codec or not isinstance(hparams, dict):
        return mcfg
    shape = {k: v for k, v in hparams.items() if k not in CODEC_SIDE_INFORMATION}
    on = {k: True for k in CODEC_SIDE_INFORMATION if hparams.get(k) is True}
    return dataclasses.replace(mcfg, codec_hparams={**mcfg.codec_hparams, **shape, **on})


def main(argv: list[str] | None = None) -> list[dict]:
    args = setup_args().parse_args(argv)
    scenario, mcfg, tcfg, device = _configs(args)
    with distributed.process_group(device) as device:  # under torchrun: in the process group (else unchanged)
        trainer, out_dir = build_trainer(args, argv, scenario, mcfg, tcfg, device)
        return run_training(trainer, out_dir, args.resume, args.max_steps, not args.no_progress, args.time_budget)


def trainer_from_argv(argv: list[str]) -> Trainer:
    """The :class:`Trainer` that ``python -m sionna_semcomm.train ARGV`` would run (one process; nothing is
    trained or written): what :mod:`sionna_semcomm.recipe` times to plan a run's length."""
    args = setup_args().parse_args(argv)
    scenario, mcfg, tcfg, device = _configs(args)
    return build_trainer(args, argv, scenario, mcfg, tcfg, device)[0]


def build_trainer(args, argv, scenario, mcfg, tcfg, device) -> tuple[Trainer, Path]:
    """The :class:`Trainer` of a training command and its output folder (data loaded, weights initialised,
    ``--init-*`` weights loaded)."""
    from .runtime import apply_threads

    seed = scenario.seed if args.seed is None else args.seed
    suffix = "" if tcfg.stage == "joint" else f"-{tcfg.stage}"
    out_dir = checked_out_dir(args.out_dir, f"runs/train/{scenario.name}-{mcfg.codec}{suffix}")
    if mcfg.codec not in _registry():
        raise SystemExit(f"error: [model] codec {mcfg.codec!r} of scenario {scenario.name!r} is unknown; known codecs: "
                         f"{', '.join(_registry().names())}")
    data, train_set, _ = load_command_data(scenario.images.dataset, tcfg.train_source, args.data_dir, tcfg.val_fraction,
                                           seed, args.num_train)
    apply_threads(args.threads)
    torch.manual_seed(seed)  # weight initialisation and dropout: the one global seed of this program
    try:
        system = SemanticSystem(mcfg, _registry())
    except ValueError as e:  # e.g. hyper-parameters the chosen codec does not have
        raise SystemExit(f"error: {e}") from None
    inits = {}
    try:
        for part, path in (("codec", args.init_codec), ("classifier", args.init_classifier)):
            if path:
                inits[part] = init_part(system, part, path)
    except CheckpointError as e:
        raise SystemExit(f"error: {e}") from None
    metadata = {"scenario": scenario.name, "seed": seed, "stage": tcfg.stage,
                "command": "python -m sionna_semcomm.train " + " ".join(argv if argv is not None else sys.argv[1:]),
                "dataset": scenario.images.dataset, "training_data": data.info,
                "train_images": len(train_set), "val_images": len(data.val), "init": inits, "device": device,
                "threads": torch.get_num_threads()}
    try:
        trainer = Trainer(system, scenario.link, train_set, data.val, tcfg, out_dir, seed, device, metadata, args.shards)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    return trainer, out_dir


def run_training(trainer, out_dir, resume: bool, max_steps: int | None, show_progress: bool,
                 time_budget_s: float | None = None) -> list[dict]:
    """The command-line side of a trainer (this one or the attack generators'): ``--resume``, fit,
    Ctrl-C keeping finished work, and a one-line JSON summary of the last validation (rank 0 prints)."""
    import os

    if distributed.launched_by_torchrun() and int(os.environ.get("WORLD_SIZE", "1")) > 1 \
            and not distributed.is_distributed():
        raise SystemExit(f"error: {type(trainer).__name__} trains in one process only: this process was started by "
                         "torchrun but joined no process group (call sionna_semcomm.distributed.init_from_env first, "
                         "as the train, defense and attack commands do), or start it without torchrun")
    main = distributed.is_main()
    exists = distributed.broadcast_object((Path(out_dir) / "resume.pt").exists())  # rank 0's file system decides
    if resume and not exists:
        if main:
                print(f"note: --resume: {Path(out_dir) / 'resume.pt'} does not exist yet (no checkpoint was written before "
                  "the run stopped); starting fresh", file=sys.stderr)
    elif resume:
        try:
            trainer.resume()
        except CheckpointError as e:
            raise SystemExit(f"error: cannot resume: {e}") from None
    kw = {"time_budget_s": time_budget_s} if time_budget_s is not None else {}
    try:
        with interrupt_on_signals():
            history = trainer.fit(max_steps=max_steps, show_progress=show_progress, **kw)
    except KeyboardInterrupt:
        where = f"step {trainer.step}" if hasattr(trainer, "step") else f"epoch {trainer.epoch}"
        if main:
            print(f"\ninterrupted at {where}: checkpoints in {out_dir}; continue with --resume", file=sys.stderr)
        raise SystemExit(130) from None
    last = history[-1] if history else {}
    summary = {"out_dir": str(out_dir), "epochs": trainer.epoch, **{k: v for k, v in last.items() if k.startswith("val_")}}
    if hasattr(trainer, "step"):
        summary["step"] = trainer.step
    if main:
        print(json.dumps(summary))
    return history


if __name__ == "__main__":
    main()
