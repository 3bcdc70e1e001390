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

Several processes (``torchrun --nproc_per_node N -m sionna_semcomm.attack train ...``, PyTorch DDP, gloo on CPU,
nccl on CUDA) or ``shards`` in one process, as :mod:`sionna_semcomm.train` does: every process draws the same
epoch order and SNR; each global batch is cut into ``shards`` contiguous parts, shard ``k`` trained by process
``k % world`` with its own channel, noise, seed and label streams derived from ``(seed, k)`` (shard 0's are
those of a one-process run). Each shard's objective (as the attack defines it on its images) is weighted by
its share of the batch and the gradients are summed over the shards (DDP all-reduce), so a run depends on the
seed and the shard count, not on the process count. Rank 0 alone validates and writes; ``resume.pt`` holds
every shard's streams, so ``--resume`` works with another process count.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import distributed
from ..atomic import atomic_write_json
from ..checkpoints import CheckpointError, load_resume_state, load_state_into, save_resume_state
from ..link.ofdm import OFDMLink
from ..metrics import misleading_rate
from ..runtime import AMP, make_generator
from .base import receive
from .generator import GeneratorAttack, save_generator
from .psr import perturbation_powers, summarize_psr

__all__ = ["AttackTrainConfig", "GeneratorTrainer", "generator_step", "receiver_autocast"]


def receiver_autocast(device, amp: str):
    """The context for the receiver half of a generator step under ``amp``: with ``bf16``, autocast of the
    system's decoder and classifier (its convolutions and matrix products) to bfloat16. The transmitted latent, the
    generator and its PSR normalisation stay float32 outside it, so the PSR is met as exactly as without it;
    the link's own arithmetic (complex, FFTs, elementwise) is not autocast."""
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=amp == "bf16")


def generator_step(attack: GeneratorAttack, optimizer, link, x, y, snr_db, seed_gen, label_gen,
                   amp: str = "none") -> tuple[torch.Tensor, dict]:
    """One optimizer step of ``attack``'s generator against ``attack.system`` (the caller puts the system in
    eval mode): fresh seeds, ``p = G(u)`` at the PSR, the link with its own channel and noise draws, the
    attack's objective (the receiver under :func:`receiver_autocast` with ``amp``). Gradients reach the system's
    weights too when they require them; the caller clears them. Returns ``(loss, parts)``."""
    with torch.no_grad():
        z = attack.system.codec.encode(x, snr_db)
    p = attack.perturbation_from_seeds(attack.seeds(len(x), seed_gen))
    with receiver_autocast(x.device, amp):
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
    :param amp: ``bf16``: the receiver's networks autocast to bfloat16 during training steps
        (:func:`receiver_autocast`; 1.5x the steps per CPU second on a CPU with AVX512-BF16); validation and
        every evaluation stay float32. ``none``: float32 throughout (the default, and every shipped generator).
    """

    epochs: int = 10
    batch_size: int = 64
    lr: float = 5e-4
    beta1: float = 0.5
    snr_min_db: float = 0.0
    snr_max_db: float = 20.0
    snr_db: float | None = None
    val_snr_db: float = 10.0
    amp: str = "none"

    def __post_init__(self):
        if self.amp not in AMP:
            raise ValueError(f"amp must be one of {', '.join(AMP)}, got {self.amp!r}")
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
    :param shards: parts each global batch is cut into (see the module doc); ``None``: one per process of the
        process group (1 without torchrun), or at ``resume`` the count the run was written with when the process
        count divides it.
    """

    def __init__(self, attack: GeneratorAttack, train_set, val_set, cfg: AttackTrainConfig, out_dir, seed: int = 0,
                 device: str = "cpu", metadata: dict | None = None, shards: int | None = None):
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
        self._rank, self._world = distributed.rank(), distributed.world_size()
        self._shards_requested = shards
        self._step_module = None  # the objective as a module (DDP-wrapped in a process group), built at the first step
        self._set_shards(shards or self._world)

    # -------------------------------------------------------------- shards and processes
    def _set_shards(self, shards: int) -> None:
        """Cut every global batch into ``shards`` parts; this process trains shards ``rank, rank + world, ...``."""
        self._own = distributed.own_shards(shards, self.cfg.batch_size, len(self.train_set))
        self.shards = shards
        self._shard_streams = {k: self._new_shard_streams(k) for k in self._own if k > 0}
        self.metadata["parallel"] = distributed.parallel_metadata(shards, self.cfg.batch_size, "the shards' weighted sum")
        if self.metadata["parallel"] is None:
            del self.metadata["parallel"]

    def _new_shard_streams(self, k: int) -> dict:
        """Shard ``k``'s (> 0) own link (channel and noise streams), seed and label streams, from ``(seed, k)``."""
        link_seed = make_generator(self.seed, f"attack-train-shard{k}").initial_seed()
        return {"link": OFDMLink(self.system.num_symbols, self.link.config, seed=link_seed, device=self.device,
                                 precision=self.link.precision),
                "seed": make_generator(self.seed, f"attack-train-seeds-shard{k}", self.device),
                "label": make_generator(self.seed, f"attack-train-labels-shard{k}", self.device)}

    def _streams_of(self, k: int) -> tuple:
        """``(link, seed_gen, label_gen)`` of shard ``k`` (shard 0: the trainer's own)."""
        if k == 0:
            return self.link, self._seed_gen, self._label_gen
        st = self._shard_streams[k]
        return st["link"], st["seed"], st["label"]

    def _shard_states(self) -> dict:
        """The stream states of this process's shards > 0 (``{"k": {...}}``)."""
        return {str(k): {"channel": st["link"].channel_model.generator.get_state(),
                         "noise": st["link"]._noise_generator.get_state(), "seed": st["seed"].get_state(),
                         "label": st["label"].get_state()} for k, st in self._shard_streams.items()}

    # -------------------------------------------------------------- state
    def _identity(self) -> dict:
        a = self.attack
        return {"attack": a.name, "psr_db": a.psr_db, "target_class": list(a.target_classes or []),
                "controllable_class": a.controllable_class, "generator": a.net.config.to_dict(), "settings": a.settings()}

    def resume(self) -> None:
        """Continue from ``out_dir/resume.pt`` (same attack settings required)."""
        path = self.out_dir / "resume.pt"
        state = distributed.load_on_main(lambda: load_resume_state(path), (CheckpointError,))
        shards = distributed.resumed_shards(path, state.get("shards", 1), self._shards_requested)
        if shards != self.shards:
            self._set_shards(shards)
        if state.get("identity") != self._identity():
            raise CheckpointError(f"{path} was written for {state.get('identity')}, not {self._identity()}")
        load_state_into(self.attack.net, state["net"], str(path))
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.history, self.best = state["epoch"], state["history"], state["best"]
        for gen, key in ((self._snr_gen, "snr_rng"), (self._shuffle_gen, "shuffle_rng"), (self._seed_gen, "seed_rng"),
                         (self._label_gen, "label_rng"), (self.link.channel_model.generator, "channel_rng"),
                         (self.link._noise_generator, "noise_rng")):
            gen.set_state(state[key])
        for key, saved in state.get("shard_rng", {}).items():
            st = self._shard_streams.get(int(key))
            if st is not None:
                st["link"].channel_model.generator.set_state(saved["channel"])
                st["link"]._noise_generator.set_state(saved["noise"])
                st["seed"].set_state(saved["seed"])
                st["label"].set_state(saved["label"])

    def _save(self, val: dict) -> None:
        """After an epoch: ``last``, ``best``, ``history.json``, then ``resume.pt``, the commit point: the other files
        are never behind it (a kill before it leaves them one epoch ahead, and ``--resume`` repeats that epoch,
        bit-identically, and rewrites them). In a process group every rank calls it (the shards' streams are
        gathered) and rank 0 alone writes."""
        meta = {**self.metadata, "epoch": self.epoch, "val": val, "train_config": dataclasses.asdict(self.cfg)}
        improved = val["loss"] < self.best
        if improved:
            self.best = val["loss"]
        gathered = distributed.gather_objects(self._shard_states())
        if not distributed.is_main():
            return
        save_generator(self.out_dir / "last.safetensors", self.attack, meta)
        if improved:
            save_generator(self.out_dir / "best.safetensors", self.attack, meta)
        shard_rng = {k: v for part in gathered for k, v in part.items()}
        extra = {"shards": self.shards, "world_size": self._world, "shard_rng": shard_rng} if self.shards > 1 else {}
        atomic_write_json(self.out_dir / "history.json", {"metadata": self.metadata, "history": self.history})
        save_resume_state(self.out_dir / "resume.pt", {
            "identity": self._identity(), "net": self.attack.net.state_dict(), "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch, "history": self.history, "best": self.best,
            "snr_rng": self._snr_gen.get_state(), "shuffle_rng": self._shuffle_gen.get_state(),
            "seed_rng": self._seed_gen.get_state(), "label_rng": self._label_gen.get_state(),
            "channel_rng": self.link.channel_model.generator.get_state(), "noise_rng": self.link._noise_generator.get_state(),
            **extra,
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
            if self.shards == 1 and self._world == 1:
                x, y = self.train_set.batch(idx)
                x, y = x.to(self.device), y.to(self.device)
                loss, parts = generator_step(self.attack, self.optimizer, self.link, x, y, self._snr(), self._seed_gen,
                                             self._label_gen, self.cfg.amp)
                sums = {k: v * len(idx) for k, v in {"loss": float(loss.detach()), **parts}.items()}
            else:
                sums = self._sharded_step(idx)
            for k, v in sums.items():
                totals[k] = totals.get(k, 0.0) + v
            count += len(idx)
            if progress is not None:
                progress(len(idx), sums["loss"] / len(idx))
        return {k: v / max(count, 1) for k, v in totals.items()}

    def _objective(self):
        if self._step_module is None:
            module = _GeneratorObjective(self)
            if self._world > 1:
                from torch.nn.parallel import DistributedDataParallel

                dev = torch.device(self.device)
                module = DistributedDataParallel(module, device_ids=[dev.index] if dev.type == "cuda" else None)
            self._step_module = module
        return self._step_module

    def _sharded_step(self, idx: torch.Tensor) -> dict:
        """One optimizer step on the global batch ``idx``, cut into ``self.shards`` parts (see the module doc);
        returns the batch's sums (objective and its parts, each the shards' values times their image counts)."""
        parts = torch.tensor_split(idx, self.shards)
        snr = self._snr()
        model = self._objective()
        names, sums = None, None
        self.optimizer.zero_grad(set_to_none=True)
        for j, k in enumerate(self._own):
            self._current = self._streams_of(k)
            x, y = self.train_set.batch(parts[k])
            x, y = x.to(self.device), y.to(self.device)
            last = j == len(self._own) - 1
            with contextlib.nullcontext() if last or self._world == 1 else model.no_sync():
                loss, terms = model(x, y, snr)
                (loss * (len(parts[k]) * self._world / len(idx))).backward()
            values = {"loss": float(loss.detach()), **terms}
            names = names or list(values)
            shard = torch.tensor([values[n] * len(parts[k]) for n in names], dtype=torch.float64)
            sums = shard if sums is None else sums + shard
        self.optimizer.step()
        sums = distributed.all_reduce_sum(sums.to(self.device)).cpu()  # nccl reduces device tensors only
        return dict(zip(names, sums.tolist()))

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
            out = receive(self.system, self.val_link, self.system.codec.encode(x, self.cfg.val_snr_db), self.cfg.val_snr_db,
                          perturbation=p)
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

    def validate_on_main(self) -> dict:
        """:meth:`validate` on rank 0 only, its figures sent to the other processes (which wait meanwhile)."""
        if self._world == 1:
            return self.validate()
        return distributed.broadcast_object(self.validate() if distributed.is_main() else None)

    def fit(self, epochs: int | None = None, max_steps: int | None = None, show_progress: bool = True) -> list[dict]:
        """Train up to ``epochs`` (default the config's) total epochs; returns the history."""
        from ..train import fit_epochs

        return fit_epochs(self, epochs, max_steps, show_progress, desc=f"{self.attack.name} @ {self.attack.psr_db:g} dB")


class _GeneratorObjective(torch.nn.Module):
    """The generator's training objective on one shard as a module (what DDP wraps: ``net`` is its only
    submodule, so only the generator's weights are synchronised; the frozen system stays outside)."""

    def __init__(self, trainer: GeneratorTrainer):
        super().__init__()
        self.net = trainer.attack.net
        self._trainer = [trainer]  # not a submodule

    def forward(self, x: torch.Tensor, y: torch.Tensor, snr_db: float):
        t = self._trainer[0]
        link, seed_gen, label_gen = t._current
        attack = t.attack
        with torch.no_grad():
            z = attack.system.codec.encode(x, snr_db)
        p = attack.perturbation_from_seeds(attack.seeds(len(x), seed_gen))
        with receiver_autocast(x.device, t.cfg.amp):
            out = receive(attack.system, link, z, snr_db, perturbation=p)
            return attack.training_loss(out, x, y, p, label_gen)
