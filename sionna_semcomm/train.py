"""``python -m sionna_semcomm.train``: train a semantic system end to end through the OFDM link.

Loss (paper Eq. 9): ``w_rec * reconstruction + w_cls * cross-entropy``; reconstruction is MSE by default
or the paper's binary cross-entropy between the recovered and the original image. Adam (lr 5e-4,
beta1 0.5), an SNR drawn uniformly per batch from the scenario's training range, a fresh channel
realization per example (the link's channel stream). A validation split is carved from the training data
(never the test set) and evaluated at ``val_snr_db`` after every epoch.

Files in ``--out-dir`` (all written atomically): ``last.safetensors`` and ``best.safetensors`` (weights +
model config + metrics), ``resume.pt`` (optimizer, epoch, history, RNG; read with
``weights_only=True``), ``history.json`` (the learning curve) and ``learning_curve.png``. ``--resume``
continues from ``resume.pt``; Ctrl-C keeps every finished epoch.
"""

from __future__ import annotations

import argparse
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

from .atomic import atomic_write, atomic_write_json
from .checkpoints import CheckpointError, load_resume_state, load_state_into
from .data import load_dataset
from .link.ofdm import OFDMLink
from .metrics import psnr
from .runtime import make_generator, resolve_device
from .scenario import ScenarioError, load_scenario
from .semantic import ModelConfig, SemanticSystem

__all__ = ["TrainConfig", "Trainer", "model_config_for", "train_config_for", "setup_args", "main"]

RECONSTRUCTION = ("mse", "bce")


@dataclass(frozen=True)
class TrainConfig:
    """Scenario section ``[train]``."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-4
    beta1: float = 0.5
    snr_min_db: float = 0.0
    snr_max_db: float = 20.0
    w_rec: float = 0.5
    w_cls: float = 0.5
    reconstruction: str = "mse"
    val_fraction: float = 0.1
    val_snr_db: float = 10.0

    def __post_init__(self):
        if self.reconstruction not in RECONSTRUCTION:
            raise ValueError(f"reconstruction must be one of {', '.join(RECONSTRUCTION)}, got {self.reconstruction!r}")
        if not (math.isfinite(self.snr_min_db) and math.isfinite(self.snr_max_db) and self.snr_min_db <= self.snr_max_db):
            raise ValueError(f"need finite snr_min_db <= snr_max_db, got {self.snr_min_db}, {self.snr_max_db}")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise ValueError("epochs, batch_size and lr must be positive")


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
    kw = dict(scenario.extras.get("train", {}))
    kw.update({k: v for k, v in override.items() if v is not None})
    return TrainConfig(**kw)


def system_loss(out: dict, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig) -> tuple[torch.Tensor, dict]:
    """``w_rec * rec + w_cls * CE`` and its parts (floats)."""
    if cfg.reconstruction == "mse":
        rec = F.mse_loss(out["x_hat"], x)
    else:
        rec = F.binary_cross_entropy(out["x_hat"].clamp(1e-6, 1 - 1e-6), x)
    ce = F.cross_entropy(out["logits"], y)
    loss = cfg.w_rec * rec + cfg.w_cls * ce
    return loss, {"rec": float(rec.detach()), "ce": float(ce.detach())}


class Trainer:
    """Trains a :class:`SemanticSystem` over an :class:`OFDMLink` (see the module doc)."""

    def __init__(self, system: SemanticSystem, link_config, train_set, val_set, cfg: TrainConfig, out_dir: Path,
                 seed: int = 0, device: str = "cpu", metadata: dict | None = None):
        self.system = system.to(device)
        self.cfg, self.out_dir, self.seed, self.device = cfg, Path(out_dir), seed, device
        self.train_set, self.val_set = train_set, val_set
        self.link = OFDMLink(system.num_symbols, link_config, seed=seed, device=device)
        self.val_link = OFDMLink(system.num_symbols, link_config, seed=seed + 1, device=device)
        self.optimizer = torch.optim.Adam(self.system.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        self.metadata = metadata or {}
        self.epoch = 0
        self.history: list[dict] = []
        self.best = math.inf
        self._snr_gen = make_generator(seed, "train-snr")
        self._shuffle_gen = make_generator(seed, "train-shuffle")

    # -------------------------------------------------------------- state
    def resume(self) -> None:
        """Continue from ``out_dir/resume.pt``."""
        state = load_resume_state(self.out_dir / "resume.pt")
        if state.get("model_config") != self.system.config.to_dict():
            raise CheckpointError(f"{self.out_dir / 'resume.pt'} was written for model {state.get('model_config')}, "
                                  f"not {self.system.config.to_dict()}")
        load_state_into(self.system, state["model"], str(self.out_dir / "resume.pt"))
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.history, self.best = state["epoch"], state["history"], state["best"]
        self._snr_gen.set_state(state["snr_rng"])
        self._shuffle_gen.set_state(state["shuffle_rng"])
        self.link.channel_model.generator.set_state(state["channel_rng"])
        self.link._noise_generator.set_state(state["noise_rng"])
        self._load_extra_state(state.get("extra", {}))

    def _save(self, val: dict) -> None:
        meta = {**self.metadata, "epoch": self.epoch, "val": val, "train_config": dataclasses.asdict(self.cfg)}
        self.system.save(self.out_dir / "last.safetensors", meta)
        if val["loss"] < self.best:
            self.best = val["loss"]
            self.system.save(self.out_dir / "best.safetensors", meta)
        from .checkpoints import save_resume_state

        save_resume_state(self.out_dir / "resume.pt", {
            "model": self.system.state_dict(), "optimizer": self.optimizer.state_dict(),
            "model_config": self.system.config.to_dict(), "epoch": self.epoch, "history": self.history,
            "best": self.best, "snr_rng": self._snr_gen.get_state(), "shuffle_rng": self._shuffle_gen.get_state(),
            "channel_rng": self.link.channel_model.generator.get_state(), "noise_rng": self.link._noise_generator.get_state(),
            "extra": self._extra_state(),
        })
        atomic_write_json(self.out_dir / "history.json", {"metadata": self.metadata, "history": self.history})
        self._plot()

    def _plot(self) -> None:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        ep = [h["epoch"] for h in self.history]
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
        axes[0].plot(ep, [h["train_loss"] for h in self.history], label="train")
        axes[0].plot(ep, [h["val_loss"] for h in self.history], label="validation")
        axes[0].set_ylabel("loss")
        axes[1].plot(ep, [h["val_psnr"] for h in self.history])
        axes[1].set_ylabel(f"validation PSNR [dB] @ {self.cfg.val_snr_db:g} dB")
        axes[2].plot(ep, [h["val_accuracy"] for h in self.history])
        axes[2].set_ylabel(f"validation accuracy @ {self.cfg.val_snr_db:g} dB")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.grid(alpha=0.3)
        axes[0].legend()
        fig.tight_layout()
        atomic_write(self.out_dir / "learning_curve.png", lambda tmp: fig.savefig(tmp, format="png", dpi=100))
        plt.close(fig)

    def _extra_state(self) -> dict:
        """More resume state of subclasses (tensors, numbers, dicts only)."""
        return {}

    def _load_extra_state(self, state: dict) -> None:
        """Restore what :meth:`_extra_state` saved."""

    # -------------------------------------------------------------- loops
    def _forward(self, x: torch.Tensor, y: torch.Tensor, snr_db: float) -> dict:
        """One training forward pass of a batch (subclasses perturb it)."""
        return self.system(x, self.link, snr_db)

    def _after_step(self, x: torch.Tensor, y: torch.Tensor, snr_db: float) -> None:
        """Called after every optimizer step (subclasses update their attackers)."""

    def train_epoch(self, max_steps: int | None = None, progress=None) -> dict:
        self.system.train()
        n = len(self.train_set)
        order = torch.randperm(n, generator=self._shuffle_gen)
        totals, count = {"loss": 0.0, "rec": 0.0, "ce": 0.0}, 0
        steps = math.ceil(n / self.cfg.batch_size)
        if max_steps is not None:
            steps = min(steps, max_steps)
        for step in range(steps):
            idx = order[step * self.cfg.batch_size:(step + 1) * self.cfg.batch_size]
            x, y = self.train_set.batch(idx)
            x, y = x.to(self.device), y.to(self.device)
            u = torch.rand((), generator=self._snr_gen).item()
            snr = self.cfg.snr_min_db + u * (self.cfg.snr_max_db - self.cfg.snr_min_db)
            out = self._forward(x, y, snr)
            loss, parts = system_loss(out, x, y, self.cfg)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self._after_step(x, y, snr)
            totals["loss"] += float(loss.detach()) * len(idx)
            totals["rec"] += parts["rec"] * len(idx)
            totals["ce"] += parts["ce"] * len(idx)
            count += len(idx)
            if progress is not None:
                progress(len(idx), float(loss.detach()))
        return {k: v / max(count, 1) for k, v in totals.items()}

    @torch.no_grad()
    def validate(self) -> dict:
        self.system.eval()
        self.val_link.reseed(self.seed + 1)  # the same validation channels every epoch
        totals, count = {"loss": 0.0, "psnr": 0.0, "correct": 0.0}, 0
        for start in range(0, len(self.val_set), 256):
            idx = torch.arange(start, min(start + 256, len(self.val_set)))
            x, y = self.val_set.batch(idx)
            x, y = x.to(self.device), y.to(self.device)
            out = self.system(x, self.val_link, self.cfg.val_snr_db)
            loss, _ = system_loss(out, x, y, self.cfg)
            totals["loss"] += float(loss) * len(idx)
            totals["psnr"] += float(psnr(out["x_hat"].clamp(0, 1), x).sum())
            totals["correct"] += float((out["logits"].argmax(-1) == y).sum())
            count += len(idx)
        return {"loss": totals["loss"] / count, "psnr": totals["psnr"] / count, "accuracy": totals["correct"] / count}

    def fit(self, epochs: int | None = None, max_steps: int | None = None, show_progress: bool = True) -> list[dict]:
        """Train up to ``epochs`` (default the config's) total epochs; returns the history."""
        return fit_epochs(self, epochs, max_steps, show_progress)


def fit_epochs(trainer, epochs: int | None, max_steps: int | None, show_progress: bool, desc: str | None = None) -> list[dict]:
    """The epoch loop every trainer here shares (system and attack generators).

    ``trainer`` has ``cfg`` (``epochs``, ``batch_size``), ``train_set``, ``out_dir``, ``epoch``, ``history``,
    ``train_epoch(max_steps, progress) -> dict``, ``validate() -> dict`` and ``_save(val)``. Each finished
    epoch appends ``{"epoch", "train_<k>", "val_<k>", "seconds"}`` to the history and is saved before the
    next one starts, so an interrupt loses at most the epoch in progress.
    """
    epochs = epochs or trainer.cfg.epochs
    trainer.out_dir.mkdir(parents=True, exist_ok=True)
    n = len(trainer.train_set)
    per_epoch = n if max_steps is None else min(n, max_steps * trainer.cfg.batch_size)
    bar = tqdm(total=(epochs - trainer.epoch) * per_epoch, unit="img", disable=not show_progress, file=sys.stderr, desc=desc)
    try:
        while trainer.epoch < epochs:
            started = time.time()

            def progress(count, loss):
                bar.update(count)
                bar.set_postfix_str(f"epoch {trainer.epoch + 1}/{epochs} loss {loss:.4f}")

            train = trainer.train_epoch(max_steps, progress)
            val = trainer.validate()
            trainer.epoch += 1
            trainer.history.append({"epoch": trainer.epoch, **{f"train_{k}": v for k, v in train.items()},
                                    **{f"val_{k}": v for k, v in val.items()}, "seconds": time.time() - started})
            trainer._save(val)
    finally:
        bar.close()
    return trainer.history


def setup_args() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sionna_semcomm.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="rayleigh_cifar", help="scenario name or .toml path (default: %(default)s)")
    p.add_argument("--codec", help="codec name (default: the scenario's [model] codec, mobilesc)")
    p.add_argument("--classify-from", choices=["image", "symbols"])
    p.add_argument("--epochs", type=int)
    add_run_args(p, "runs/train/<scenario>-<codec>")
    return p


def add_run_args(p: argparse.ArgumentParser, default_out: str) -> None:
    """The options every training command shares (data, output, quick-run caps, seed, device, resume)."""
    p.add_argument("--data-dir", help="data set folder (else $SIONNA_SEMCOMM_DATA)")
    p.add_argument("--out-dir", help=f"checkpoint folder (default: {default_out})")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--max-steps", type=int, help="at most this many batches per epoch (quick runs)")
    p.add_argument("--num-train", type=int, help="use only the first N training images (quick runs)")
    p.add_argument("--seed", type=int)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--resume", action="store_true", help="continue from OUT_DIR/resume.pt")
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


def main(argv: list[str] | None = None) -> list[dict]:
    args = setup_args().parse_args(argv)
    try:
        scenario = load_scenario(args.scenario)
        if scenario.images is None:
            raise ScenarioError(f"scenario {scenario.name!r} has no [images] section: nothing to train on")
        mcfg = model_config_for(scenario, codec=args.codec, classify_from=args.classify_from)
        tcfg = train_config_for(scenario, epochs=args.epochs, batch_size=args.batch_size)
        device = resolve_device(args.device)
    except (ScenarioError, ValueError) as e:
        raise SystemExit(f"error: {e}") from None
    seed = scenario.seed if args.seed is None else args.seed
    out_dir = Path(args.out_dir or f"runs/train/{scenario.name}-{mcfg.codec}")
    try:
        train_set = load_dataset(scenario.images.dataset, "train", args.data_dir, val_fraction=tcfg.val_fraction, split_seed=seed)
        val_set = load_dataset(scenario.images.dataset, "val", args.data_dir, val_fraction=tcfg.val_fraction, split_seed=seed)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    if args.num_train:
        train_set = train_set.subset(torch.arange(min(args.num_train, len(train_set))))
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(seed)  # weight initialisation and dropout: the one global seed of this program
    system = SemanticSystem(mcfg, _registry())
    metadata = {"scenario": scenario.name, "seed": seed, "command": "python -m sionna_semcomm.train " + " ".join(argv or sys.argv[1:]),
                "train_images": len(train_set), "val_images": len(val_set), "dataset": scenario.images.dataset}
    trainer = Trainer(system, scenario.link, train_set, val_set, tcfg, out_dir, seed, device, metadata)
    return run_training(trainer, out_dir, args.resume, args.max_steps, not args.no_progress)


def run_training(trainer, out_dir, resume: bool, max_steps: int | None, show_progress: bool) -> list[dict]:
    """The command-line side of a trainer (this one or the attack generators'): ``--resume``, fit,
    Ctrl-C keeping finished epochs, and a one-line JSON summary of the last validation."""
    if resume:
        try:
            trainer.resume()
        except (CheckpointError, FileNotFoundError) as e:
            raise SystemExit(f"error: cannot resume: {e}") from None
    try:
        history = trainer.fit(max_steps=max_steps, show_progress=show_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted after epoch {trainer.epoch}: checkpoints in {out_dir}; continue with --resume", file=sys.stderr)
        raise SystemExit(130) from None
    last = history[-1] if history else {}
    print(json.dumps({"out_dir": str(out_dir), "epochs": trainer.epoch, **{k: v for k, v in last.items() if k.startswith("val_")}}))
    return history


if __name__ == "__main__":
    main()
