"""SemAdv: input-agnostic, trained to hit only its target class; generator checkpoints and resume; PGD vs jamming."""

import json

import pytest
import torch

from sionna_semcomm.attacks import (
    AttackTrainConfig,
    GeneratorConfig,
    GeneratorTrainer,
    SemAdv,
    build_attack,
    load_generator_attack,
    variation_loss,
)
from sionna_semcomm.checkpoints import CheckpointError
from sionna_semcomm.data.base import ImageDataset
from sionna_semcomm.link.config import LinkConfig
from sionna_semcomm.link.ofdm import OFDMLink

SMALL_GEN = GeneratorConfig(seed_dim=8, hidden=32, num_blocks=1)


def _dataset(helpers, n, seed):
    x, y = helpers.colour_data(n, seed)
    return ImageDataset((x * 255).round().to(torch.uint8), y, [f"c{i}" for i in range(helpers.NUM_CLASSES)])


def _per_class_accuracy(system, link, x, y, attack, snr=10.0, num_classes=4):
    link.reseed(5)
    if attack is not None:
        attack.reseed(11)
    taps = link.sample_taps((len(x),))
    p = attack(x, y, snr, taps) if attack is not None else None
    with torch.no_grad():
        out = system(x, link, snr, perturbation=p, taps=taps)
    correct = (out["logits"].argmax(-1) == y).float()
    return torch.stack([correct[y == c].mean() for c in range(num_classes)])


def test_output_depends_only_on_the_seed(tiny_system):
    link = OFDMLink(64, LinkConfig(), seed=0)
    atk = SemAdv(tiny_system, link, -6, target_class=2, generator_config=SMALL_GEN, seed=4)
    x1, x2 = torch.rand(3, 3, 32, 32), torch.zeros(3, 3, 32, 32)
    atk.reseed(7)
    p1 = atk(x1, torch.tensor([0, 1, 2]), 10.0, link.sample_taps((3,)))
    atk.reseed(7)
    p2 = atk(x2, None, -5.0, None)  # other images, labels, SNR and channel: same perturbations
    assert torch.equal(p1, p2)
    p3 = atk(x1, None)  # the stream moves on: new seeds, new perturbations
    assert not torch.allclose(p1, p3)
    assert not torch.allclose(p1[0], p1[1])  # one seed per frame


def test_variation_loss():
    p = torch.randn(4, 100, dtype=torch.complex64)
    p = p / p.abs().square().mean(-1, keepdim=True).sqrt()
    assert -1.3 < float(variation_loss(p, None, 1.0)) < -0.7  # independent: about -1
    same = p[:1].expand(4, 100)
    assert abs(float(variation_loss(same, None, 1.0))) < 1e-6
    assert float(variation_loss(p[:1], None, 1.0)) == 0.0


def test_tiny_semadv_training_lowers_only_the_target_class(tmp_path, trained_system, helpers):
    system = trained_system
    train, val = _dataset(helpers, 128, 0), _dataset(helpers, 32, 1)
    x, y = helpers.colour_data(64, 2)
    eval_link = OFDMLink(64, helpers.AWGN, seed=3)
    clean = _per_class_accuracy(system, eval_link, x, y, None)
    assert clean.min() == 1.0  # the tiny system is good on this data

    torch.manual_seed(1)
    link = OFDMLink(64, helpers.AWGN, seed=0)
    atk = SemAdv(system, link, -6.0, target_class=1, generator_config=SMALL_GEN, seed=0)
    untrained = _per_class_accuracy(system, eval_link, x, y, atk)
    cfg = AttackTrainConfig(epochs=15, batch_size=32, lr=1e-2, snr_db=10.0, val_snr_db=10.0)
    trainer = GeneratorTrainer(atk, train, val, cfg, tmp_path / "semadv", seed=0,
                               metadata={"system_checkpoint": {"path": "in-memory"}})
    history = trainer.fit(show_progress=False)
    trained = _per_class_accuracy(system, eval_link, x, y, atk)
    assert untrained[1] >= 0.9 and trained[1] <= untrained[1] - 0.4  # the target class is hit ...
    assert trained[[0, 2, 3]].min() >= 0.9  # ... the innocent classes are not
    assert history[-1]["val_target_accuracy"] < history[0]["val_target_accuracy"]
    assert abs(history[-1]["val_measured_psr_db"] + 6.0) < 1.0  # AWGN: received power ~1

    # checkpoint: weights + metadata rebuild the same attack
    for name in ("last.safetensors", "best.safetensors", "resume.pt", "history.json"):
        assert (tmp_path / "semadv" / name).is_file()
    loaded = load_generator_attack(tmp_path / "semadv" / "last.safetensors", system, eval_link, seed=11)
    assert loaded.target_classes == (1,) and loaded.trained_psr_db == -6.0 and loaded.mode == "semantic"
    assert loaded.checkpoint["system_checkpoint"] == {"path": "in-memory"}
    atk.reseed(11)
    assert torch.equal(loaded(x[:4], None), atk(x[:4], None))
    assert json.loads((tmp_path / "semadv" / "history.json").read_text())["history"][-1]["epoch"] == 15
    # the generator scales to any PSR at evaluation; the record keeps the trained one
    louder = load_generator_attack(tmp_path / "semadv" / "last.safetensors", system, eval_link, psr_db=-2)
    assert louder.describe()["psr_db"] == -2 and louder.describe()["trained_psr_db"] == -6.0
    # a checkpoint for another frame size or domain is refused
    other = OFDMLink(128, helpers.AWGN, seed=0)
    with pytest.raises(CheckpointError, match="shape"):
        load_generator_attack(tmp_path / "semadv" / "last.safetensors", system, other)


def test_generator_training_resumes_exactly(tmp_path, tiny_system, helpers):
    train, val = _dataset(helpers, 16, 0), _dataset(helpers, 8, 1)
    cfg = AttackTrainConfig(epochs=2, batch_size=8, lr=1e-3, snr_min_db=5.0, snr_max_db=15.0)

    def trainer(out):
        torch.manual_seed(0)
        link = OFDMLink(64, LinkConfig(equalizer="lmmse"), seed=0)
        atk = SemAdv(tiny_system, link, -6, target_class=0, controllable_class=3, generator_config=SMALL_GEN)
        return GeneratorTrainer(atk, train, val, cfg, tmp_path / out, seed=0)

    full = trainer("a")
    full.fit(show_progress=False)
    first = trainer("b")
    first.fit(epochs=1, show_progress=False)
    resumed = trainer("b")
    resumed.resume()
    resumed.fit(show_progress=False)
    for a, b in zip(full.attack.net.state_dict().values(), resumed.attack.net.state_dict().values()):
        assert torch.equal(a, b)
    assert [h["train_loss"] for h in full.history] == [h["train_loss"] for h in resumed.history]
    assert "val_misleading_rate" in full.history[-1]
    other = trainer("c")
    other.attack.psr_db = -2.0
    other.out_dir = tmp_path / "b"
    with pytest.raises(CheckpointError, match="written for"):
        other.resume()


def test_pgd_is_never_weaker_than_jamming(trained_system, helpers):
    x, y = helpers.colour_data(32, 2)
    link = OFDMLink(64, helpers.AWGN, seed=3)
    for psr in (-14.0, -10.0):
        jam = _per_class_accuracy(trained_system, link, x, y, build_attack("jamming", trained_system, link, psr_db=psr))
        fgm = _per_class_accuracy(trained_system, link, x, y, build_attack("fgm", trained_system, link, psr_db=psr))
        pgd = _per_class_accuracy(trained_system, link, x, y, build_attack("pgd", trained_system, link, psr_db=psr, steps=5))
        assert pgd.mean() <= jam.mean() and pgd.mean() <= fgm.mean() + 1e-9, (psr, jam, fgm, pgd)
    assert pgd.mean() < jam.mean() - 0.3  # and much stronger at -10 dB


def test_generators_train_against_a_system_told_the_snr(tmp_path, helpers):
    """A codec with SNR gates on both sides: the generator trainer and ``receive`` give its encoder and decoder
    the link's nominal SNR, so the attacker's receiver is the system's own forward pass."""
    import dataclasses

    from sionna_semcomm.attacks.base import receive
    from sionna_semcomm.semantic import SemanticSystem

    hp = {**helpers.TINY.codec_hparams, "snr_adaptive": True, "snr_adaptive_encoder": True}
    torch.manual_seed(0)
    system = SemanticSystem(dataclasses.replace(helpers.TINY, codec_hparams=hp)).eval()
    for gate in [*system.codec.encoder.snr_gates.values(), *system.codec.decoder.snr_gates.values()]:
        torch.nn.init.normal_(gate.expand.weight, std=0.5)  # gates that have learned an SNR dependence
    link = OFDMLink(64, LinkConfig(equalizer="lmmse"), seed=0)
    x, _ = helpers.colour_data(4, 3)
    taps = link.sample_taps((4,))
    with torch.no_grad():
        link.reseed(1)
        full = system(x, link, 5.0, taps=taps)
        link.reseed(1)
        rx = receive(system, link, system.codec.encode(x, 5.0), 5.0, taps=taps)
    torch.testing.assert_close(full["logits"], rx["logits"])
    cfg = AttackTrainConfig(epochs=1, batch_size=8, lr=1e-3, snr_min_db=5.0, snr_max_db=15.0)
    atk = SemAdv(system, link, -6, target_class=0, generator_config=SMALL_GEN)
    trainer = GeneratorTrainer(atk, _dataset(helpers, 16, 0), _dataset(helpers, 8, 1), cfg, tmp_path / "g", seed=0)
    trainer.fit(show_progress=False)
    assert torch.isfinite(torch.tensor(trainer.history[-1]["train_loss"]))


def test_bf16_generator_steps_autocast_the_receiver_only(tiny_system, helpers, monkeypatch):
    """``amp = "bf16"``: the system's classifier runs in bfloat16 inside the step, while the generator, its weights
    and its perturbation stay float32, scaled exactly to the PSR; the step trains (finite loss, weights move)."""
    from sionna_semcomm.attacks import masked_power, psr_mask
    from sionna_semcomm.attacks.trainer import generator_step
    from sionna_semcomm.runtime import make_generator

    x, y = helpers.colour_data(8, 0)
    link = OFDMLink(64, LinkConfig(equalizer="lmmse"), seed=0)
    torch.manual_seed(0)
    atk = SemAdv(tiny_system, link, -6, target_class=0, generator_config=SMALL_GEN)
    opt = torch.optim.Adam(atk.net.parameters(), lr=1e-3)
    perturbations, logits = [], []
    make = atk.perturbation_from_seeds
    monkeypatch.setattr(atk, "perturbation_from_seeds", lambda u: perturbations.append(make(u)) or perturbations[-1])
    hook = tiny_system.classifier.register_forward_hook(lambda m, i, o: logits.append(o.dtype))
    try:
        for amp in ("none", "bf16"):
            before = [w.detach().clone() for w in atk.net.parameters()]
            loss, _ = generator_step(atk, opt, link, x, y, 10.0, make_generator(0, "s"), make_generator(0, "l"), amp)
            assert torch.isfinite(loss) and any(not torch.equal(a, b) for a, b in zip(before, atk.net.parameters()))
    finally:
        hook.remove()
    assert logits == [torch.float32, torch.bfloat16]
    assert all(w.dtype == torch.float32 for w in atk.net.parameters())
    for p in perturbations:
        assert p.dtype == torch.complex64  # single precision, as without amp
        torch.testing.assert_close(masked_power(p, psr_mask(link)), torch.full((8,), 10 ** -0.6), rtol=1e-5, atol=0)
    with pytest.raises(ValueError, match="amp must be one of none, bf16, got 'fp16'"):
        AttackTrainConfig(amp="fp16")
