"""Training an input-agnostic perturbation generator (SemAdv, PGM) against a frozen semantic system.

Every step: a mini-batch of training images, an SNR drawn uniformly from the training range (or a fixed
one), a fresh channel realization per image (the link's channel stream) and the link's noise; one fresh
seed per image, ``p = G(u)`` normalised to the PSR (Eq. 16); the attack's objective
(:meth:`~.generator.GeneratorAttack.training_loss`) is minimised with Adam over the generator's weights
only (the system is frozen: eval mode, no gradient to its weights).

Files in ``out_dir`` (all written atomically, as the system trainer does): ``last.safetensors`` and
``best.safetensors`` (generator weights + metadata to rebuild the attack, see
:func:`~.generator.save_generator`), ``resume.pt`` (optimizer, epoch, history, RNG states; loaded with
``weights_only=True``), ``history.json``. :meth:`GeneratorTrainer.resume` continues an interrupted run.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..atomic import atomic_write_json
from ..checkpoints import CheckpointError, load_resume_state, load_state_into, save_resume_state
from ..link.ofdm import OFDMLink
from ..metrics import misleading_rate
from ..runtime import make_generator
from .base import receive
from .generator import GeneratorAttack, save_generator
from .psr import perturbation_powers, summarize_psr

__all__ = ["AttackTrainConfig", "GeneratorTrainer", "generator_step"]


def generator_step(attack: GeneratorAttack, optimizer, link, x, y, snr_db, seed_gen, label_gen) -> tuple[torch.Tensor, dict]:
    """One optimizer step of ``attack``'s generator against ``attack.system`` (the caller puts the system in
    eval mode): fresh seeds, ``p = G(u)`` at the PSR, the link with its own channel and noise draws, the
    attack's objective. Gradients reach the system's weights too when they require them; the caller clears
    them. Returns ``(loss, parts)``."""
    with torch.no_grad():
        z = attack.system.codec.encode(x)
    p = attack.perturbation_from_seeds(attack.seeds(len(x), seed_gen))
    out = receive(attack.system, link, z, snr_db, perturbation=p)
    loss, parts = attack.training_loss(out, x, y, p, label_gen)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss, parts


@dataclass(frozen=True)
class AttackTrainConfig:
    """Generator training settings.

    :param snr_db: a fixed training SNR [dB]; ``None`` draws one per batch uniformly from
        ``[snr_min_db, snr_max_db]`` (the scenario's training range).
    :param val_snr_db: SNR of the validation pass after every epoch.
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 5e-4
    beta1: float = 0.5
    snr_min_db: float = 0.0
    snr_max_db: float = 20.0
    snr_db: float | None = None
    val_snr_db: float = 10.0

    def __post_init__(self):
        vals = [self.snr_min_db, self.snr_max_db, self.val_snr_db] + ([self.snr_db] if self.snr_db is not None else [])
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in vals):
            raise ValueError(f"SNRs must be finite numbers, got {vals}")
        if self.snr_min_db > self.snr_max_db:
            raise ValueError(f"need snr_min_db <= snr_max_db, got {self.snr_min_db} > {self.snr_max_db}")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs, batch_size and lr must be positive")


class GeneratorTrainer:
    """Trains ``attack.net`` against ``attack.system`` over ``attack.link`` (see the module doc).

    :param attack: a :class:`~.generator.GeneratorAttack` built on the training link.
    :param train_set, val_set: :class:`~sionna_semcomm.data.ImageDataset` splits (validation carved from
        the training files).
    :param metadata: stored in every checkpoint (scenario, system checkpoint, command, ...).
    """

    def __init__(self, attack: GeneratorAttack, train_set, val_set, cfg: AttackTrainConfig, out_dir, seed: int = 0,
                 device: str = "cpu", metadata: dict | None = None):
        if not isinstance(attack, GeneratorAttack):
            raise TypeError(f"only generator attacks are trained, got {type(attack).__name__}")
        self.attack, self.cfg, self.out_dir, self.seed, self.device = attack, cfg, Path(out_dir), seed, device
        self.system = attack.system.eval()
        self.system.requires_grad_(False)  # frozen: gradients flow to the generator only
        self.train_set, self.val_set = train_set, val_set
        self.link = attack.link
        self.link.reseed(seed)
        self.val_link = OFDMLink(self.system.num_symbols, self.link.config, seed=seed + 1, device=device,
                                 precision=self.link.precision)
        self.optimizer = torch.optim.Adam(attack.net.parameters(), lr=cfg.lr, betas=(cfg.beta1, 0.999))
        self.metadata = metadata or {}
        self.epoch, self.history, self.best = 0, [], math.inf
        self._snr_gen = make_generator(seed, "attack-train-snr")
        self._shuffle_gen = make_generator(seed, "attack-train-shuffle")
        self._seed_gen = make_generator(seed, "attack-train-seeds", device)
        self._label_gen = make_generator(seed, "attack-train-labels", device)

    # -------------------------------------------------------------- state
    def _identity(self) -> dict:
        a = self.attack
        return {"attack": a.name, "psr_db": a.psr_db, "target_class": list(a.target_classes or []),
                "controllable_class": a.controllable_class, "generator": a.net.config.to_dict(), "settings": a.settings()}

    def resume(self) -> None:
        """Continue from ``out_dir/resume.pt`` (same attack settings required)."""
        path = self.out_dir / "resume.pt"
        state = load_resume_state(path)
        if state.get("identity") != self._identity():
            raise CheckpointError(f"{path} was written for {state.get('identity')}, not {self._identity()}")
        load_state_into(self.attack.net, state["net"], str(path))
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.history, self.best = state["epoch"], state["history"], state["best"]
        for gen, key in ((self._snr_gen, "snr_rng"), (self._shuffle_gen, "shuffle_rng"), (self._seed_gen, "seed_rng"),
                         (self._label_gen, "label_rng"), (self.link.channel_model.generator, "channel_rng"),
                         (self.link._noise_generator, "noise_rng")):
            gen.set_state(state[key])

    def _save(self, val: dict) -> None:
        """After an epoch: ``last``, ``best``, ``history.json``, then ``resume.pt``, the commit point: the other files
        are never behind it (a kill before it leaves them one epoch ahead, and ``--resume`` repeats that epoch,
        bit-identically, and rewrites them)."""
        meta = {**self.metadata, "epoch": self.epoch, "val": val, "train_config": dataclasses.asdict(self.cfg)}
        save_generator(self.out_dir / "last.safetensors", self.attack, meta)
        if val["loss"] < self.best:
            self.best = val["loss"]
            save_generator(self.out_dir / "best.safetensors", self.attack, meta)
        atomic_write_json(self.out_dir / "history.json", {"metadata": self.metadata, "history": self.history})
        save_resume_state(self.out_dir / "resume.pt", {
            "identity": self._identity(), "net": self.attack.net.state_dict(), "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch, "history": self.history, "best": self.best,
            "snr_rng": self._snr_gen.get_state(), "shuffle_rng": self._shuffle_gen.get_state(),
            "seed_rng": self._seed_gen.get_state(), "label_rng": self._label_gen.get_state(),
            "channel_rng": self.link.channel_model.generator.get_state(), "noise_rng": self.link._noise_generator.get_state(),
        })

    # -------------------------------------------------------------- loops
    def _snr(self) -> float:
        if self.cfg.snr_db is not None:
            return float(self.cfg.snr_db)
        u = torch.rand((), generator=self._snr_gen).item()
        return self.cfg.snr_min_db + u * (self.cfg.snr_max_db - self.cfg.snr_min_db)

    def train_epoch(self, max_steps: int | None = None, progress=None) -> dict:
        self.attack.net.train()
        n = len(self.train_set)
        order = torch.randperm(n, generator=self._shuffle_gen)
        steps = math.ceil(n / self.cfg.batch_size)
        if max_steps is not None:
            steps = min(steps, max_steps)
        totals: dict[str, float] = {}
        count = 0
        for step in range(steps):
            idx = order[step * self.cfg.batch_size:(step + 1) * self.cfg.batch_size]
            x, y = self.train_set.batch(idx)
            x, y = x.to(self.device), y.to(self.device)
            loss, parts = generator_step(self.attack, self.optimizer, self.link, x, y, self._snr(), self._seed_gen,
                                         self._label_gen)
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                totals[k] = totals.get(k, 0.0) + v * len(idx)
            count += len(idx)
            if progress is not None:
                progress(len(idx), float(loss.detach()))
        return {k: v / max(count, 1) for k, v in totals.items()}

    @torch.no_grad()
    def validate(self, batch_size: int = 256) -> dict:
        """Objective and accuracies on the validation split at ``val_snr_db`` (same channels, noise and
        seeds every epoch)."""
        self.attack.net.eval()
        self.val_link.reseed(self.seed + 1)
        seed_gen = make_generator(self.seed, "attack-val-seeds", self.device)
        label_gen = make_generator(self.seed, "attack-val-labels", self.device)
        loss_sum, logits_all, labels_all, pp, ps = 0.0, [], [], [], []
        n = len(self.val_set)
        for start in range(0, n, batch_size):
            idx = torch.arange(start, min(start + batch_size, n))
            x, y = self.val_set.batch(idx)
            x, y = x.to(self.device), y.to(self.device)
            p = self.attack.perturbation_from_seeds(self.attack.seeds(len(idx), seed_gen))
            out = receive(self.system, self.val_link, self.system.codec.encode(x), self.cfg.val_snr_db, perturbation=p)
            loss, _ = self.attack.training_loss(out, x, y, p, label_gen)
            loss_sum += float(loss) * len(idx)
            logits_all.append(out["logits"].cpu())
            labels_all.append(y.cpu())
            a, b = perturbation_powers(self.val_link, out["link"])
            pp.append(a.cpu())
            ps.append(b.cpu())
        logits, labels = torch.cat(logits_all), torch.cat(labels_all)
        correct = (logits.argmax(-1) == labels).float()
        res = {"loss": loss_sum / n, "accuracy": float(correct.mean())}
        if self.attack.target_classes:
            in_t = torch.isin(labels, torch.tensor(self.attack.target_classes))
            res["target_accuracy"] = float(correct[in_t].mean()) if bool(in_t.any()) else None
            res["innocent_accuracy"] = float(correct[~in_t].mean()) if bool((~in_t).any()) else None
        if self.attack.controllable_class is not None:
            res["misleading_rate"] = misleading_rate(logits, labels, self.attack.controllable_class, self.attack.target_classes)
        res["measured_psr_db"] = summarize_psr(torch.cat(pp), torch.cat(ps))["measured_psr_db"]
        return res

    def fit(self, epochs: int | None = None, max_steps: int | None = None, show_progress: bool = True) -> list[dict]:
        """Train up to ``epochs`` (default the config's) total epochs; returns the history."""
        from ..train import fit_epochs

        return fit_epochs(self, epochs, max_steps, show_progress, desc=f"{self.attack.name} @ {self.attack.psr_db:g} dB")
