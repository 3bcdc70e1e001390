"""Adversarial training (paper Sec. III-C/D, Algorithm 2): one trainer for AT-PGM, AT-SemAdv and SemMixed.

A pretrained :class:`~sionna_semcomm.semantic.SemanticSystem` is fine-tuned through the same OFDM link it was
trained on, with the same loss (:func:`~sionna_semcomm.train.system_loss`), while a :class:`MixingRule`
perturbs part of every mini-batch:

* ``clean_fraction`` of the rows (a random subset, rounded to the nearest row) are sent clean: the zero
  perturbation of Algorithm 2 step 3, which keeps clean accuracy calibrated;
* the other rows are sent with one attack, drawn per mini-batch: first an attack *family* uniformly
  (``semadv`` or ``pgm`` for SemMixed), then a member of it uniformly (the SemAdv generator of a random target
  class: "the targeting semantics are randomly selected in different mini-batch").

Variants (:data:`VARIANTS`): ``at-pgm`` (family ``pgm``), ``at-semadv`` (``semadv``, one generator per
class), ``semmixed`` (both) and ``finetune`` (no attack: clean fine-tuning with the same schedule, the
control). The attacks are any :class:`~sionna_semcomm.attacks.Attack` (PGD works too, at its cost); their
perturbations are detached: the system learns against them, it does not differentiate through them.

**Generators fixed or refreshed** (``generator_updates``): Algorithm 2 pre-trains the SemAdv and PGM
generators against the undefended system and keeps them fixed (``generator_updates = 0``, the default).
With ``k > 0`` the generator used in a step gets ``k`` Adam steps of its own objective against the *current*
system right after it (alternating min-max), so the attacks follow the defence as it moves.

Under ``amp = "bf16"`` (``--amp``, the scenario's ``[train] amp``) the system's passes, the validation under attack
and the refreshed generators' receiver passes autocast to bfloat16; the attacks' perturbations (and their PSR) and
every weight stay float32.

Files and resume: those of :class:`~sionna_semcomm.train.Trainer` (``best/last.safetensors``,
``resume.pt`` with the mixing rule's and the attacks' random streams and, when refreshed, the generators'
weights and optimizers; ``history.json``; ``learning_curve.png``). Validation reports clean loss, PSNR and
accuracy and, per family, the accuracy and PSNR under attack (averaged over its members, fixed seeds);
the checkpoint kept as ``best`` minimises ``(1 - clean_fraction) * adversarial + clean_fraction * clean``
validation loss, so a defence is not selected on clean data alone.

Several processes (``torchrun --nproc_per_node N -m sionna_semcomm.defense ...``) or ``--shards S``: the shards of
:class:`~sionna_semcomm.train.Trainer`; the mixing rule draws once per global batch (same on every process),
each shard perturbs its rows of it with the attacks' streams of that shard (derived from ``(seed, k)``), so
``--shards 2`` in one process equals two processes. Refreshed generators (``generator_updates > 0``) are
updated after each global step on the whole (un-augmented) global batch with global streams (their own link,
seeds and labels), by every process identically: no communication, the same generators everywhere.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from . import distributed
from .attacks.generator import GeneratorAttack, save_generator
from .attacks.trainer import generator_step
from .checkpoints import CheckpointError, load_state_into
from .link.ofdm import OFDMLink
from .metrics import psnr
from .runtime import make_generator
from .train import Trainer, system_loss

__all__ = ["VARIANTS", "DefenseConfig", "MixingRule", "MixDraw", "AdversarialTrainer"]

#: variant -> attack families it trains against (in this order)
VARIANTS: dict[str, tuple[str, ...]] = {
    "finetune": (),
    "at-pgm": ("pgm",),
    "at-semadv": ("semadv",),
    "semmixed": ("semadv", "pgm"),
}


@dataclass(frozen=True)
class DefenseConfig:
    """Scenario section ``[defense]``.

    :param variant: a key of :data:`VARIANTS`.
    :param epochs: fine-tuning epochs.
    :param lr: fine-tuning learning rate (Adam, the scenario's ``beta1``).
    :param clean_fraction: share of every mini-batch sent without perturbation (Algorithm 2: 1/2).
    :param psr_db: PSR [dB] of the training attacks (and of the attacks re-trained against the defence).
    :param generator_updates: 0 keeps the generators fixed; ``k`` refreshes the one used by ``k`` steps.
    :param generator_lr: learning rate of those refresh steps.
    :param generator_epochs: epochs of every generator trained for a defence (before it and against it).
    """

    variant: str = "semmixed"
    epochs: int = 10
    lr: float = 1e-4
    clean_fraction: float = 0.5
    psr_db: float = -6.0
    generator_updates: int = 0
    generator_lr: float = 5e-4
    generator_epochs: int = 5

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown defence variant {self.variant!r}; known: {', '.join(VARIANTS)}")
        if not 0.0 <= self.clean_fraction <= 1.0:
            raise ValueError(f"clean_fraction must be in [0, 1], got {self.clean_fraction}")
        if not math.isfinite(self.psr_db):
            raise ValueError(f"psr_db must be finite, got {self.psr_db}")
        for name in ("epochs", "generator_epochs"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.generator_updates < 0:
            raise ValueError(f"generator_updates must be >= 0, got {self.generator_updates}")
        if not (self.lr > 0 and self.generator_lr > 0):
            raise ValueError("lr and generator_lr must be positive")

    @property
    def families(self) -> tuple[str, ...]:
        return VARIANTS[self.variant]


@dataclass
class MixDraw:
    """One mini-batch's draw: ``attack`` (``None``: all clean), its ``family`` and the perturbed rows."""

    attack: object | None
    family: str | None
    adversarial: torch.Tensor  # int64 [n_adv] row indices


class MixingRule:
    """Which rows of a mini-batch are perturbed, and by which attack (see the module doc).

    :param families: ``{family: [attacks]}``; empty (or ``clean_fraction = 1``) means clean training.
    :param clean_fraction: share of clean rows per batch (``round(clean_fraction * B)`` rows).
    :param seed: seed of the rule's own random stream.
    """

    def __init__(self, families: dict[str, list], clean_fraction: float = 0.5, seed: int = 0):
        for name, members in families.items():
            if not members:
                raise ValueError(f"attack family {name!r} has no members")
        self.families = {k: list(v) for k, v in families.items()}
        self.names = list(self.families)
        self.clean_fraction = float(clean_fraction)
        self.rng = make_generator(seed, "mixing-rule")

    def num_clean(self, batch_size: int) -> int:
        return int(math.floor(self.clean_fraction * batch_size + 0.5))

    def draw(self, batch_size: int) -> MixDraw:
        n_adv = batch_size - self.num_clean(batch_size)
        if not self.names or n_adv == 0:
            return MixDraw(None, None, torch.zeros(0, dtype=torch.long))
        family = self.names[int(torch.randint(len(self.names), (), generator=self.rng))]
        members = self.families[family]
        attack = members[int(torch.randint(len(members), (), generator=self.rng))]
        rows = torch.randperm(batch_size, generator=self.rng)[:n_adv].sort().values
        return MixDraw(attack, family, rows)


class AdversarialTrainer(Trainer):
    """Fine-tunes ``system`` against the attacks ``attack_factory`` builds (see the module doc).

    :param system: the pretrained system (its weights are the starting point).
    :param link_config, train_set, val_set, cfg, out_dir, seed, device, metadata: as :class:`Trainer`
        (``cfg.lr`` is replaced by ``defense.lr``, ``cfg.epochs`` by ``defense.epochs``).
    :param defense: :class:`DefenseConfig`.
    :param attack_factory: ``(system, link) -> {family: [Attack]}`` building the training attacks against
        this very system object on the trainer's link; must cover ``defense.families``.
    """

    def __init__(self, system, link_config, train_set, val_set, cfg, defense: DefenseConfig, attack_factory,
                 out_dir: Path, seed: int = 0, device: str = "cpu", metadata: dict | None = None,
                 shards: int | None = None):
        # fine-tuning of the whole system with a constant rate, selected on the mixed validation loss (module doc)
        cfg = dataclasses.replace(cfg, lr=defense.lr, epochs=defense.epochs, stage="joint", select="loss", max_steps=None,
                                  lr_schedule="constant", warmup_steps=0)
        self.defense, self.attacks = defense, []  # read by _shards_refused / _new_shard_streams in Trainer.__init__
        self._shard_draws: dict | None = None     # sharded step: {shard: MixDraw with the shard's own rows}
        self._shard = 0                           # the shard whose streams are in use
        super().__init__(system, link_config, train_set, val_set, cfg, out_dir, seed, device,
                         {**(metadata or {}), "defense": dataclasses.asdict(defense)}, shards)
        families = attack_factory(self.system, self.link) if defense.families else {}
        missing = [f for f in defense.families if f not in families]
        if missing:
            raise ValueError(f"defence {defense.variant!r} trains against {', '.join(defense.families)}, but no "
                             f"{' or '.join(missing)} attack was given (command line: --generator FILE for each; train "
                             "them with python -m sionna_semcomm.attack train)")
        self.mixing = MixingRule({f: families[f] for f in defense.families}, defense.clean_fraction, seed)
        self.attacks = [a for f in self.mixing.names for a in self.mixing.families[f]]
        self._generator_optimizers = {}
        if defense.generator_updates:
            self._generator_optimizers = {
                id(a): torch.optim.Adam(a.net.parameters(), lr=defense.generator_lr, betas=(cfg.beta1, 0.999))
                for a in self.attacks if isinstance(a, GeneratorAttack)}
        self._gen_seed_gen = make_generator(seed, "defense-generator-seeds", device)
        self._gen_label_gen = make_generator(seed, "defense-generator-labels", device)
        # sharded steps: the refresh's own link (global streams; shard 0's link belongs to one process only)
        self._refresh_link = OFDMLink(self.system.num_symbols, link_config, device=device,
                                      seed=make_generator(seed, "defense-generator-link").initial_seed())
        self._last: MixDraw | None = None
        self.draw_counts: dict[str, int] = {}
        self._set_shards(self.shards)  # again, now that the attacks exist: every shard > 0 gets its attack streams

    # -------------------------------------------------------------- state
    def _identity(self) -> dict:
        return {"defense": dataclasses.asdict(self.defense),
                "attacks": [a.describe() | {"checkpoint": None} for a in self.attacks]}

    def _extra_state(self) -> dict:
        state = {"identity": repr(self._identity()), "mixing_rng": self.mixing.rng.get_state(),
                 "attack_rngs": [a.rng.get_state() for a in self.attacks], "draw_counts": dict(self.draw_counts),
                 "gen_seed_rng": self._gen_seed_gen.get_state(), "gen_label_rng": self._gen_label_gen.get_state()}
        if self._generator_optimizers:
            state["generators"] = [a.net.state_dict() for a in self.attacks]
            state["generator_optimizers"] = [self._generator_optimizers[id(a)].state_dict() for a in self.attacks]
            state["refresh_channel_rng"] = self._refresh_link.channel_model.generator.get_state()
            state["refresh_noise_rng"] = self._refresh_link._noise_generator.get_state()
        return state

    def _load_extra_state(self, state: dict) -> None:
        path = self.out_dir / "resume.pt"
        if state.get("identity") != repr(self._identity()):
            raise CheckpointError(f"{path} was written for another defence or other attacks: {state.get('identity')}")
        self.mixing.rng.set_state(state["mixing_rng"])
        for a, s in zip(self.attacks, state["attack_rngs"]):
            a.rng.set_state(s)
        self.draw_counts = dict(state["draw_counts"])
        self._gen_seed_gen.set_state(state["gen_seed_rng"])
        self._gen_label_gen.set_state(state["gen_label_rng"])
        if self._generator_optimizers:
            for a, w, o in zip(self.attacks, state["generators"], state["generator_optimizers"]):
                load_state_into(a.net, w, str(path))
                self._generator_optimizers[id(a)].load_state_dict(o)
            if "refresh_channel_rng" in state:
                self._refresh_link.channel_model.generator.set_state(state["refresh_channel_rng"])
                self._refresh_link._noise_generator.set_state(state["refresh_noise_rng"])

    def _save(self, val: dict) -> None:
        super()._save(val)
        if self._generator_optimizers and distributed.is_main():  # the refreshed attackers, for re-use and inspection
            for a in self.attacks:
                save_generator(self.out_dir / "generators" / f"{_attack_label(a)}.safetensors", a,
                               {"refreshed_with": self.defense.variant, "epoch": self.epoch})

    # -------------------------------------------------------------- shards
    def _new_shard_streams(self, k: int) -> dict:
        """Trainer's shard streams plus one stream per training attack, derived from ``(seed, k)`` (shard 0 uses
        the attacks' own streams, those of a one-process run)."""
        st = super()._new_shard_streams(k)
        st["attack_rngs"] = [make_generator(self.seed, f"defense-attack{i}-{a.name}-shard{k}", self.device)
                             for i, a in enumerate(self.attacks)]
        return st

    def _shard_states(self) -> dict:
        states = super()._shard_states()
        for k, st in self._shard_streams.items():
            states[str(k)]["attack_rngs"] = [g.get_state() for g in st["attack_rngs"]]
        return states

    def _load_shard_state(self, st: dict, saved: dict) -> None:
        super()._load_shard_state(st, saved)
        for g, state in zip(st["attack_rngs"], saved.get("attack_rngs", [])):
            g.set_state(state)

    @contextlib.contextmanager
    def _streams_of(self, k: int):
        """Trainer's (link, augmentation, dropout) plus the attacks' random streams of shard ``k``."""
        self._shard = k
        with super()._streams_of(k):
            if k == 0:
                yield
                return
            saved = [a.rng for a in self.attacks]
            for a, g in zip(self.attacks, self._shard_streams[k]["attack_rngs"]):
                a.rng = g
            try:
                yield
            finally:
                for a, g in zip(self.attacks, saved):
                    a.rng = g

    def _before_shards(self, parts) -> None:
        """One draw of the mixing rule for the whole global batch (the same on every process: the rule's stream
        is global); each shard gets the attack and the perturbed rows that fall into it."""
        draw = self._last = self.mixing.draw(sum(len(p) for p in parts))
        if draw.attack is not None:
            self.draw_counts[draw.family] = self.draw_counts.get(draw.family, 0) + 1
        self._shard_draws, start = {}, 0
        for k, part in enumerate(parts):
            rows = draw.adversarial[(draw.adversarial >= start) & (draw.adversarial < start + len(part))] - start
            self._shard_draws[k] = MixDraw(draw.attack, draw.family, rows) if len(rows) else MixDraw(None, None, rows)
            start += len(part)

    # -------------------------------------------------------------- training
    def _perturbation(self, attack, x, y, snr_db, taps, rows) -> torch.Tensor | None:
        """Full-batch perturbation: the attack's on ``rows``, zero elsewhere (the clean rows); ``None`` when
        the attack adds nothing (identity)."""
        with torch.autocast(device_type=x.device.type, enabled=False):  # under amp too: the PSR is met in float32
            p_rows = attack(x[rows], y[rows], snr_db, taps[rows])
        self.system.train()  # attacks put the system in eval mode for their own passes
        if p_rows is None:
            return None
        p = torch.zeros((len(x), *attack.shape), dtype=self.link.cdtype, device=x.device)
        p[rows] = p_rows.detach().to(p.dtype)
        return p

    def _forward(self, x, y, snr_db):
        if self.shards > 1 or self._world > 1:  # sharded step: drawn for the whole batch in _before_shards
            draw = self._shard_draws[self._shard]
        else:
            draw = self._last = self.mixing.draw(len(x))
            if draw.attack is not None:
                self.draw_counts[draw.family] = self.draw_counts.get(draw.family, 0) + 1
        if draw.attack is None:
            return self.system(x, self.link, snr_db)
        taps = self.link.sample_taps((len(x),))
        rows = draw.adversarial.to(x.device)
        p = self._perturbation(draw.attack, x, y, snr_db, taps, rows)
        return self.system(x, self.link, snr_db, perturbation=p, taps=taps)

    def _after_step(self, x, y, snr_db, link=None) -> None:
        """Refresh the generator used in this step (``generator_updates`` Adam steps against the current system)."""
        attack = self._last.attack if self._last is not None else None
        if attack is None or id(attack) not in self._generator_optimizers:
            return
        self.system.eval()
        for _ in range(self.defense.generator_updates):
            generator_step(attack, self._generator_optimizers[id(attack)], link or self.link, x, y, snr_db,
                           self._gen_seed_gen, self._gen_label_gen, self.cfg.amp)
        self.system.zero_grad(set_to_none=True)
        self.system.train()

    def _after_sharded_step(self, idx, snr_db) -> None:
        """Sharded steps: the refresh on the whole global batch (un-augmented) over the refresh link, the same on
        every process (see the module doc)."""
        if self._generator_optimizers:
            x, y = self.train_set.batch(idx)
            self._after_step(x, y, snr_db, self._refresh_link)

    # -------------------------------------------------------------- validation
    def validate(self) -> dict:
        clean = super().validate()
        out = {"clean_loss": clean["loss"], "psnr": clean["psnr"], "accuracy": clean["accuracy"]}
        adv_losses = []
        for family in self.mixing.names:
            stats = [self._validate_under(a) for a in self.mixing.families[family]]
            for key in ("loss", "psnr", "accuracy"):
                out[f"{family}_{key}"] = sum(s[key] for s in stats) / len(stats)
            adv_losses.append(out[f"{family}_loss"])
        w = 1.0 - self.defense.clean_fraction if adv_losses else 0.0
        out["loss"] = (1 - w) * clean["loss"] + w * (sum(adv_losses) / len(adv_losses) if adv_losses else 0.0)
        return out

    def _validate_under(self, attack) -> dict:
        """Loss, PSNR and accuracy on the validation split with every image attacked (fixed channels,
        noise and attack seeds every epoch; the attack's training stream is left where it was)."""
        self.system.eval()
        self.val_link.reseed(self.seed + 1)
        saved = attack.rng
        attack.rng = make_generator(self.seed + 1, f"defense-val-{attack.name}", self.device)
        try:
            totals, count = {"loss": 0.0, "psnr": 0.0, "correct": 0.0}, 0
            for start in range(0, len(self.val_set), 256):
                idx = torch.arange(start, min(start + 256, len(self.val_set)))
                x, y = self.val_set.batch(idx)
                x, y = x.to(self.device), y.to(self.device)
                taps = self.val_link.sample_taps((len(idx),))
                p = attack(x, y, self.cfg.val_snr_db, taps)  # the attack's link has the validation link's config
                with torch.no_grad(), self._autocast():  # as the clean validation: the two losses are mixed
                    out = self.system(x, self.val_link, self.cfg.val_snr_db, perturbation=None if p is None else p.detach(), taps=taps)
                    loss, _ = system_loss(out, x, y, self.cfg)
                totals["loss"] += float(loss) * len(idx)
                totals["psnr"] += float(psnr(out["x_hat"].clamp(0, 1), x).sum())
                totals["correct"] += float((out["logits"].argmax(-1) == y).sum())
                count += len(idx)
        finally:
            attack.rng = saved
        return {"loss": totals["loss"] / count, "psnr": totals["psnr"] / count, "accuracy": totals["correct"] / count}


def _attack_label(attack) -> str:
    parts = [attack.name]
    if attack.target_classes:
        parts.append("t" + "-".join(map(str, attack.target_classes)))
    if attack.controllable_class is not None:
        parts.append(f"c{attack.controllable_class}")
    return "-".join(parts)


# ------------------------------------------------------------------------------------------ command line
def setup_args():
    from .argtypes import ArgumentParser, file_or_name, finite_float, fraction, input_file, nonnegative_int, positive_int, psr_db
    from .learned import SHIPPED_VARIANTS
    from .runtime import AMP
    from .train import add_run_args

    p = ArgumentParser(prog="python -m sionna_semcomm.defense",
                       description="Adversarial fine-tuning of a semantic system: at-pgm, at-semadv, semmixed.")
    p.add_argument("--scenario", default="rayleigh_cifar", help="scenario name or .toml path (default: %(default)s)")
    p.add_argument("--variant", choices=list(VARIANTS), help="defence (default: the scenario's [defense] variant, semmixed)")
    p.add_argument("--checkpoint", type=file_or_name(SHIPPED_VARIANTS),
                   help="system to harden (default: the weights shipped for the scenario)")
    p.add_argument("--generator", nargs="+", default=[], metavar="FILE", type=input_file,
                   help="trained generator checkpoints (python -m sionna_semcomm.attack train); each one's attack name "
                        "(semadv, pgm) is its family; SemMixed needs both")
    p.add_argument("--epochs", type=positive_int)
    p.add_argument("--lr", type=finite_float("learning rate"))
    p.add_argument("--clean-fraction", type=fraction)
    p.add_argument("--generator-updates", type=nonnegative_int, help="0: generators fixed (default); k: k refresh steps per use")
    p.add_argument("--psr-db", type=psr_db, help="PSR of the training attacks (default: the scenario's)")
    p.add_argument("--amp", choices=AMP, help="bf16: autocast the system (and the refreshed generators' receiver "
                   "passes) to bfloat16; the attacks' perturbations and their PSR stay float32 (default: the "
                   "scenario's [train] amp, none)")
    p.add_argument("--shards", type=positive_int, metavar="S",
                   help="cut every (global) batch into S parts with their own random streams (default: one per "
                        "torchrun process; a multiple of their number): one process with --shards 2 trains like "
                        "torchrun --nproc_per_node 2 (fixed generators only)")
    add_run_args(p, "runs/defense/<scenario>-<variant>")
    return p


def defense_config_for(scenario, **override) -> DefenseConfig:
    """The scenario's ``[defense]`` section (+ overrides that are not ``None``)."""
    kw = dict(scenario.extras.get("defense", {}))
    kw.update({k: v for k, v in override.items() if v is not None})
    return DefenseConfig(**kw)


def main(argv: list[str] | None = None) -> list[dict]:
    from .attack import _resolve_device

    args = setup_args().parse_args(argv)
    with distributed.process_group(_resolve_device(args.device)) as device:  # under torchrun: in the group
        return _main(args, argv, device)


def _main(args, argv, device) -> list[dict]:
    import sys

    from .attack import _load_scenario_system, attack_registry
    from .attacks import load_generator_attack
    from .outputs import checked_out_dir
    from .runtime import apply_threads
    from .train import load_command_data, run_training, train_config_for

    scenario, system, link_cfg, system_info = _load_scenario_system(args.scenario, args.checkpoint, device)
    try:
        defense = defense_config_for(scenario, variant=args.variant, epochs=args.epochs, lr=args.lr,
                                     clean_fraction=args.clean_fraction, generator_updates=args.generator_updates,
                                     psr_db=args.psr_db)
        tcfg = train_config_for(scenario, batch_size=args.batch_size, amp=args.amp)
    except (ValueError, TypeError) as e:
        raise SystemExit(f"error: {e}") from None
    attack_registry()  # the composition root: baseline attacks (pgm) registered
    seed = scenario.seed if args.seed is None else args.seed
    out_dir = checked_out_dir(args.out_dir, f"runs/defense/{scenario.name}-{defense.variant}")

    def factory(sys_, link):
        families: dict[str, list] = {}
        for path in args.generator:
            attack = load_generator_attack(path, sys_, link, psr_db=defense.psr_db, seed=seed)
            families.setdefault(attack.name, []).append(attack)
        return families

    data, train_set, val_set = load_command_data(scenario.images.dataset, args.train_source or tcfg.train_source,
                                                 args.data_dir, tcfg.val_fraction, seed, args.num_train)
    apply_threads(args.threads)
    torch.manual_seed(seed)
    metadata = {"scenario": scenario.name, "seed": seed, "base_checkpoint": system_info, "dataset": scenario.images.dataset,
                "command": "python -m sionna_semcomm.defense " + " ".join(argv if argv is not None else sys.argv[1:]),
                "generators": [str(g) for g in args.generator], "training_data": data.info, "train_images": len(train_set),
                "val_images": len(val_set)}
    system.train()
    try:
        trainer = AdversarialTrainer(system, link_cfg, train_set, val_set, tcfg, defense, factory, out_dir, seed, device,
                                     metadata, args.shards)
    except (ValueError, CheckpointError, OSError) as e:
        raise SystemExit(f"error: {e}") from None
    return run_training(trainer, out_dir, args.resume, args.max_steps, not args.no_progress)


if __name__ == "__main__":
    main()
