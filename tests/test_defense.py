"""Adversarial training: the mixing rule, identity fine-tuning, generators fixed vs refreshed, resume, CLI errors."""

import copy

import pytest
import torch

from baselines.attacks import PGM
from sionna_semcomm.attacks import GeneratorConfig, Identity, SemAdv
from sionna_semcomm.attacks.psr import masked_power, psr_linear
from sionna_semcomm.defense import AdversarialTrainer, DefenseConfig, MixingRule, main as defense_main
from sionna_semcomm.link.channels import ChannelSpec
from sionna_semcomm.link.config import LinkConfig
from sionna_semcomm.scenario import load_scenario
from sionna_semcomm.semantic import ModelConfig, SemanticSystem
from sionna_semcomm.train import TrainConfig, Trainer

TINY = ModelConfig(image_shape=(3, 32, 32), num_symbols=64, classifier_width=4,
                   codec_hparams={"channels": (8, 8), "num_blocks": 1, "expansion": 2})
LINK = LinkConfig(channel=ChannelSpec("awgn"), csi="perfect", equalizer="lmmse")
GEN = GeneratorConfig(seed_dim=8, hidden=16, num_blocks=1)


@pytest.fixture
def data(tmp_path, make_cifar_dir):
    from sionna_semcomm.data import load_dataset

    d = make_cifar_dir(tmp_path / "data")
    return load_dataset("cifar10", "train", d, val_fraction=0.25), load_dataset("cifar10", "val", d, val_fraction=0.25)


def _system(seed=0):
    torch.manual_seed(seed)
    return SemanticSystem(TINY)


def _cfg(**kw):
    return TrainConfig(**{"epochs": 1, "batch_size": 12, "lr": 1e-3, "snr_min_db": 10, "snr_max_db": 20, **kw})


# ------------------------------------------------------------------------------------------ mixing rule
def test_mixing_rule_proportions():
    semadv = [f"semadv-t{c}" for c in range(10)]
    rule = MixingRule({"semadv": semadv, "pgm": ["pgm"]}, clean_fraction=0.5, seed=3)
    n, b = 4000, 64
    family, member, row_hits = {"semadv": 0, "pgm": 0}, {}, torch.zeros(b)
    for _ in range(n):
        d = rule.draw(b)
        assert len(d.adversarial) == b // 2 and len(set(d.adversarial.tolist())) == b // 2  # exactly half, distinct rows
        family[d.family] += 1
        member[d.attack] = member.get(d.attack, 0) + 1
        row_hits[d.adversarial] += 1
    # a family per batch uniformly (binomial, 4 sigma), then a member uniformly
    assert abs(family["semadv"] / n - 0.5) < 4 * (0.25 / n) ** 0.5
    for c in semadv:
        p = 0.5 / 10
        assert abs(member[c] / n - p) < 4 * (p * (1 - p) / n) ** 0.5
    # every row is perturbed half of the time (no position bias)
    assert (row_hits / n - 0.5).abs().max() < 4 * (0.25 / n) ** 0.5 + 1e-9


def test_mixing_rule_edges():
    assert MixingRule({"pgm": ["a"]}, clean_fraction=4 / 7).num_clean(7) == 4
    assert len(MixingRule({"pgm": ["a"]}, clean_fraction=0.5).draw(7).adversarial) == 3  # round half up: 4 clean
    assert MixingRule({"pgm": ["a"]}, clean_fraction=1.0).draw(8).attack is None
    assert MixingRule({}, clean_fraction=0.5).draw(8).attack is None
    assert len(MixingRule({"pgm": ["a"]}, clean_fraction=0.0).draw(8).adversarial) == 8
    with pytest.raises(ValueError, match="no members"):
        MixingRule({"pgm": []})
    a, b = MixingRule({"x": list("abc")}, seed=1), MixingRule({"x": list("abc")}, seed=1)
    assert [a.draw(6).attack for _ in range(20)] == [b.draw(6).attack for _ in range(20)]  # seeded


def test_defense_config_validation():
    with pytest.raises(ValueError, match="unknown defence variant"):
        DefenseConfig(variant="at-everything")
    with pytest.raises(ValueError, match="clean_fraction"):
        DefenseConfig(clean_fraction=1.5)
    with pytest.raises(ValueError, match="psr_db"):
        DefenseConfig(psr_db=float("nan"))
    assert DefenseConfig(variant="semmixed").families == ("semadv", "pgm")
    sc = load_scenario("rayleigh_cifar")
    assert sc.extras["defense"]["clean_fraction"] == 0.5 and sc.extras["defense"]["generator_updates"] == 0


# ------------------------------------------------------------------------------------------ identity
def test_identity_attack_fine_tuning_equals_clean_training(data, tmp_path):
    """With the identity attack the adversarial trainer is exactly the clean trainer (same channels, noise, steps)."""
    train, val = data
    sys_a, sys_b = _system(), _system()
    clean = Trainer(sys_a, LINK, train, val, _cfg(lr=1e-4), tmp_path / "clean", seed=0)
    adv = AdversarialTrainer(sys_b, LINK, train, val, _cfg(), DefenseConfig(variant="at-pgm", epochs=1, lr=1e-4),
                             lambda s, link: {"pgm": [Identity(s, link)]}, tmp_path / "adv", seed=0)
    clean.fit(show_progress=False)
    adv.fit(show_progress=False)
    for (name, a), b in zip(sys_a.state_dict().items(), sys_b.state_dict().values()):
        assert torch.equal(a, b), name
    h_clean, h_adv = clean.history[-1], adv.history[-1]
    assert h_adv["val_pgm_accuracy"] == h_adv["val_accuracy"] == h_clean["val_accuracy"]
    assert h_adv["val_psnr"] == h_clean["val_psnr"]
    assert adv.draw_counts == {"pgm": len(range(0, len(train), 12))}


def test_identity_fine_tuning_keeps_a_trained_systems_clean_metrics(data, tmp_path):
    train, val = data
    system = _system()
    Trainer(system, LINK, train, val, _cfg(epochs=4, lr=3e-3), tmp_path / "pre", seed=0).fit(show_progress=False)
    adv = AdversarialTrainer(system, LINK, train, val, _cfg(), DefenseConfig(variant="at-semadv", epochs=1, lr=1e-5),
                             lambda s, link: {"semadv": [Identity(s, link)]}, tmp_path / "ft", seed=0)
    before = adv.validate()
    adv.fit(show_progress=False)
    after = adv.history[-1]
    assert abs(after["val_psnr"] - before["psnr"]) < 0.2
    assert abs(after["val_accuracy"] - before["accuracy"]) <= 1 / len(val) + 1e-9


# ------------------------------------------------------------------------------------------ real attacks
def _factory(psr_db=-6.0):
    def build(system, link):
        torch.manual_seed(1)
        return {"semadv": [SemAdv(system, link, psr_db, target_class=c, generator_config=GEN, seed=c) for c in (0, 1)],
                "pgm": [PGM(system, link, psr_db, generator_config=GEN, seed=7)]}
    return build


def test_perturbation_is_zero_on_clean_rows_and_meets_the_psr(data, tmp_path):
    train, val = data
    trainer = AdversarialTrainer(_system(), LINK, train, val, _cfg(), DefenseConfig(variant="semmixed", epochs=1),
                                 _factory(-6.0), tmp_path / "o", seed=0)
    x, y = train.batch(torch.arange(12))
    rows = torch.tensor([1, 4, 5, 8, 10, 11])
    taps = trainer.link.sample_taps((12,))
    attack = trainer.mixing.families["pgm"][0]
    p = trainer._perturbation(attack, x, y, 10.0, taps, rows)
    clean = torch.ones(12, dtype=torch.bool)
    clean[rows] = False
    assert p.shape == (12, *attack.shape) and torch.all(p[clean] == 0) and torch.all(p[rows].abs().sum(-1) > 0)
    # input-agnostic generators meet the PSR at the nominal received power: per frame, power = PSR * 1
    power = masked_power(p[rows], attack.mask)
    torch.testing.assert_close(power, torch.full_like(power, psr_linear(-6.0)), rtol=1e-4, atol=0)
    assert trainer.system.training  # the attack's eval-mode pass did not leave the system in eval mode


@pytest.mark.parametrize("updates", [0, 1])
def test_generators_fixed_or_refreshed(data, tmp_path, updates):
    train, val = data
    trainer = AdversarialTrainer(_system(), LINK, train, val, _cfg(), DefenseConfig(variant="semmixed", epochs=1,
                                 generator_updates=updates), _factory(), tmp_path / "o", seed=0)
    before = [copy.deepcopy(a.net.state_dict()) for a in trainer.attacks]
    system_before = copy.deepcopy(trainer.system.state_dict())
    trainer.fit(max_steps=3, show_progress=False)
    changed = [any(not torch.equal(v, a.net.state_dict()[k]) for k, v in b.items()) for a, b in zip(trainer.attacks, before)]
    if updates == 0:
        assert not any(changed)
    else:
        assert any(changed)  # the generators used in the 3 steps moved
        assert (tmp_path / "o" / "generators").is_dir()
    assert any(not torch.equal(v, trainer.system.state_dict()[k]) for k, v in system_before.items())
    h = trainer.history[-1]
    for key in ("val_loss", "val_clean_loss", "val_semadv_accuracy", "val_pgm_accuracy", "val_pgm_psnr"):
        assert key in h


def test_resume_continues_exactly(data, tmp_path):
    train, val = data
    cfg = DefenseConfig(variant="semmixed", epochs=2, generator_updates=1)
    straight = AdversarialTrainer(_system(), LINK, train, val, _cfg(), cfg, _factory(), tmp_path / "a", seed=0)
    straight.fit(show_progress=False)
    first = AdversarialTrainer(_system(), LINK, train, val, _cfg(), cfg, _factory(), tmp_path / "b", seed=0)
    first.fit(epochs=1, show_progress=False)
    resumed = AdversarialTrainer(_system(), LINK, train, val, _cfg(), cfg, _factory(), tmp_path / "b", seed=0)
    resumed.resume()
    resumed.fit(show_progress=False)
    for (name, a), b in zip(straight.system.state_dict().items(), resumed.system.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)
    for a, b in zip(straight.attacks, resumed.attacks):
        for k, v in a.net.state_dict().items():
            torch.testing.assert_close(v, b.net.state_dict()[k], rtol=0, atol=1e-6)
    assert straight.draw_counts == resumed.draw_counts
    other = AdversarialTrainer(_system(), LINK, train, val, _cfg(), DefenseConfig(variant="semmixed", epochs=2),
                               _factory(), tmp_path / "b", seed=0)
    from sionna_semcomm.checkpoints import CheckpointError

    with pytest.raises(CheckpointError, match="another defence"):
        other.resume()


def test_missing_family_and_cli_errors(data, tmp_path, make_cifar_dir):
    train, val = data
    with pytest.raises(ValueError, match="but no pgm attack was given"):
        AdversarialTrainer(_system(), LINK, train, val, _cfg(), DefenseConfig(variant="semmixed"),
                           lambda s, link: {"semadv": [Identity(s, link)]}, tmp_path / "o")
    d = make_cifar_dir(tmp_path / "cli")
    with pytest.raises(SystemExit, match="no semadv or pgm attack was given"):
        defense_main(["--scenario", "rayleigh_cifar", "--data-dir", str(d), "--device", "cpu", "--no-progress",
                      "--train-source", "batches", "--out-dir", str(tmp_path / "x")])


def test_bf16_defense_autocasts_the_system_and_keeps_the_perturbations_single_precision(data, tmp_path):
    """``amp = "bf16"``: the system's classifier runs in bfloat16 in the training steps, the refreshed generators'
    steps too; the perturbations are computed outside autocast (complex64, the PSR met as in float32) and every
    weight stays float32 and moves."""
    train, val = data
    trainer = AdversarialTrainer(_system(), LINK, train, val, _cfg(amp="bf16"),
                                 DefenseConfig(variant="semmixed", epochs=1, generator_updates=1), _factory(),
                                 tmp_path / "o", seed=0)
    x, y = train.batch(torch.arange(12))
    rows = torch.tensor([0, 3, 7])
    attack = trainer.mixing.families["pgm"][0]
    generated = []
    hook = attack.net.net.register_forward_hook(lambda m, i, o: generated.append(o.dtype))  # the real-valued layers
    try:
        with trainer._autocast():  # where the training step calls it
            p = trainer._perturbation(attack, x, y, 10.0, trainer.link.sample_taps((12,)), rows)
    finally:
        hook.remove()
    assert generated == [torch.float32] and p.dtype == torch.complex64
    power = masked_power(p[rows], attack.mask)
    torch.testing.assert_close(power, torch.full_like(power, psr_linear(-6.0)), rtol=1e-5, atol=0)
    dtypes = []
    hook = trainer.system.classifier.register_forward_hook(lambda m, i, o: dtypes.append(o.dtype))
    before = [copy.deepcopy(a.net.state_dict()) for a in trainer.attacks]
    system_before = copy.deepcopy(trainer.system.state_dict())
    try:
        for _ in range(3):
            trainer.train_step()
    finally:
        hook.remove()
    assert dtypes and all(d == torch.bfloat16 for d in dtypes)  # system passes and the generators' receiver passes
    assert all(v.dtype == torch.float32 for v in trainer.system.state_dict().values() if v.is_floating_point())
    assert any(not torch.equal(v, trainer.system.state_dict()[k]) for k, v in system_before.items())
    assert any(any(not torch.equal(v, a.net.state_dict()[k]) for k, v in b.items()) for a, b in zip(trainer.attacks, before))
    assert all(torch.isfinite(v).all() for v in trainer.system.state_dict().values() if v.is_floating_point())
