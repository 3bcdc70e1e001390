"""Training through the link, checkpoints, resume, and the learned system on the link command."""


import dataclasses
import json
import math

import pytest
import torch

from sionna_semcomm.checkpoints import CheckpointError, load_resume_state, load_weights, save_weights
from sionna_semcomm.link.channels import ChannelSpec
from sionna_semcomm.link.cli import main as link_main
from sionna_semcomm.link.config import LinkConfig
from sionna_semcomm.link.ofdm import OFDMLink
from sionna_semcomm.semantic import ModelConfig, SemanticSystem, load_system
from sionna_semcomm.train import TrainConfig, Trainer, main as train_main

TINY = ModelConfig(image_shape=(3, 32, 32), num_symbols=64, classifier_width=4,
                   codec_hparams={"channels": (8, 8), "num_blocks": 1, "expansion": 2})


def _dataset(tmp_path, make_cifar_dir):
    from sionna_semcomm.data import load_dataset

    d = make_cifar_dir(tmp_path)
    return load_dataset("cifar10", "train", d, val_fraction=0.25), load_dataset("cifar10", "val", d, val_fraction=0.25)


def test_shapes_and_gradients_reach_every_parameter_through_the_link():
    torch.manual_seed(0)
    system = SemanticSystem(TINY)
    link = OFDMLink(64, LinkConfig(equalizer="lmmse"), seed=0)
    out = system(torch.rand(4, 3, 32, 32), link, 10.0)
    assert out["x_hat"].shape == (4, 3, 32, 32) and out["logits"].shape == (4, 10) and out["z_hat"].shape == (4, 64)
    (out["x_hat"].mean() + out["logits"].logsumexp(-1).mean()).backward()
    for name, p in system.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
    enc = [p for n, p in system.named_parameters() if n.startswith("codec.encoder")]
    assert any(p.grad.abs().sum() > 0 for p in enc)  # the encoder learns through the link


def test_symbol_classifier_variant():
    system = SemanticSystem(ModelConfig(**{**TINY.to_dict(), "classify_from": "symbols"}))
    out = system(torch.rand(2, 3, 32, 32), OFDMLink(64, LinkConfig(), seed=0), 5.0)
    assert out["logits"].shape == (2, 10)


def test_tiny_training_lowers_the_loss(tmp_path, make_cifar_dir):
    train, val = _dataset(tmp_path, make_cifar_dir)
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=6, batch_size=12, lr=3e-3, snr_min_db=10, snr_max_db=20)
    trainer = Trainer(SemanticSystem(TINY), LinkConfig(channel=ChannelSpec("awgn"), csi="perfect", equalizer="lmmse"),
                      train, val, cfg, tmp_path / "out", seed=0)
    history = trainer.fit(show_progress=False)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    for name in ("last.safetensors", "best.safetensors", "resume.pt", "history.json", "learning_curve.png"):
        assert (tmp_path / "out" / name).is_file()


def test_checkpoint_round_trip_and_mismatch(tmp_path):
    torch.manual_seed(0)
    system = SemanticSystem(TINY).eval()
    path = system.save(tmp_path / "w.safetensors", {"note": "x"})
    loaded, meta = load_system(path)
    assert meta["note"] == "x" and meta["model"] == TINY.to_dict()
    for (n1, a), (n2, b) in zip(system.state_dict().items(), loaded.state_dict().items()):
        assert n1 == n2 and torch.equal(a, b)
    # weights of another model under this config: a clear error naming the mismatch
    other = SemanticSystem(ModelConfig(**{**TINY.to_dict(), "num_symbols": 128}))
    save_weights(tmp_path / "bad.safetensors", other.state_dict(), {"model": TINY.to_dict()})
    with pytest.raises(CheckpointError, match="does not match the model: .*shape mismatch"):
        load_system(tmp_path / "bad.safetensors")
    with pytest.raises(CheckpointError, match="sha256"):
        load_weights(path, sha256="0" * 64)
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable safetensors"):
        load_weights(tmp_path / "junk.safetensors")


def test_resume_state_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Evil()}, tmp_path / "resume.pt")
    with pytest.raises(CheckpointError, match="was refused: it is not a plain resume file"):
        load_resume_state(tmp_path / "resume.pt")


def test_train_cli_resumes_after_an_interrupt(tmp_path, monkeypatch, make_cifar_dir, tiny_scenario):
    data = make_cifar_dir(tmp_path / "data")
    scenario = tiny_scenario("[train]\nepochs = 2\nbatch_size = 16\n")
    out = tmp_path / "run"
    base = ["--scenario", str(scenario), "--data-dir", str(data), "--out-dir", str(out), "--no-progress", "--device", "cpu"]
    first = train_main(base + ["--epochs", "1"])
    assert len(first) == 1
    resumed = train_main(base + ["--resume"])
    assert [h["epoch"] for h in resumed] == [1, 2] and resumed[0] == first[0]
    # the link command evaluates the trained checkpoint on the same scenario
    res = link_main(["--scenario", str(scenario), "--systems", "mobilesc", "--checkpoint", str(out / "best.safetensors"),
                     "--data-dir", str(data), "--snr-db", "10", "--no-progress", "--device", "cpu"])[0]["results"]
    assert 0 <= res["accuracy"][0] <= 1 and res["psnr"][0] > 0 and len(res["per_class"]["accuracy"][0]) == 10
    assert res["ofdm_symbols_per_image"] == 2 and "accuracy_on_original_images" in res


def test_checkpoint_of_another_codec_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit):
        link_main(["--scenario", "rayleigh_cifar", "--systems", "mobilesc", "--checkpoint", str(tmp_path / "none.safetensors"),
                   "--snr-db", "10", "--no-progress"])
    assert "no such file" in capsys.readouterr().err


def _tiny_trainer(tmp_path, train, val, out, **cfg):
    torch.manual_seed(0)
    base = dict(epochs=2, batch_size=8, lr=3e-3, snr_min_db=5, snr_max_db=15, augment="crop_flip", lr_schedule="cosine",
                warmup_steps=2, eval_every=3, checkpoint_every=2)
    return Trainer(SemanticSystem(TINY), LinkConfig(channel=ChannelSpec("rayleigh_multipath", num_taps=4), equalizer="lmmse"),
                   train, val, TrainConfig(**{**base, **cfg}), tmp_path / out, seed=0)


def test_a_step_budget_stops_mid_epoch_and_resumes_to_the_same_weights(tmp_path, make_cifar_dir):
    train, val = _dataset(tmp_path, make_cifar_dir)  # 36 training images: 5 steps per epoch of 8
    full = _tiny_trainer(tmp_path, train, val, "full")
    full.fit(max_steps=8, show_progress=False)
    assert full.step == 8 and full.epoch == 1 and full._pos == 3  # stopped in the middle of epoch 2

    part = _tiny_trainer(tmp_path, train, val, "part")
    part.fit(max_steps=8, show_progress=False, time_budget_s=0.0)  # out of time after the first step
    assert part.step == 1
    for _ in range(3):  # a new process each time: resume from resume.pt (mid-epoch), one more step
        again = _tiny_trainer(tmp_path, train, val, "part")
        again.resume()
        again.fit(max_steps=8, show_progress=False, time_budget_s=0.0)
    again = _tiny_trainer(tmp_path, train, val, "part")
    again.resume()
    again.fit(max_steps=8, show_progress=False)
    assert again.step == 8
    for (name, a), b in zip(full.system.state_dict().items(), again.system.state_dict().values()):
        assert torch.equal(a, b), name
    assert [h["step"] for h in again.history] == [h["step"] for h in full.history] == [3, 6, 8]
    assert [h["val_psnr"] for h in again.history] == [h["val_psnr"] for h in full.history]


def test_best_checkpoint_follows_the_selected_metric(tmp_path, make_cifar_dir, monkeypatch):
    from sionna_semcomm.checkpoints import load_weights

    train, val = _dataset(tmp_path, make_cifar_dir)
    picks = {}
    for select in ("loss", "psnr", "accuracy", "psnr+accuracy"):
        vals = iter([{"loss": 1.0, "psnr": 20.0, "accuracy": 0.5}, {"loss": 0.5, "psnr": 19.0, "accuracy": 0.7},
                     {"loss": 2.0, "psnr": 21.0, "accuracy": 0.1}])
        trainer = _tiny_trainer(tmp_path, train, val, select, select=select, eval_every=1, max_steps=3)
        monkeypatch.setattr(trainer, "validate", lambda: next(vals))
        monkeypatch.setattr(trainer, "_plot", lambda: None)  # not the subject here
        trainer.fit(show_progress=False)
        picks[select] = load_weights(tmp_path / select / "best.safetensors")[1]["step"]
    # psnr+accuracy: 25.0, 26.0, 22.0 -> step 2
    assert picks == {"loss": 2, "psnr": 3, "accuracy": 2, "psnr+accuracy": 2}
    assert TrainConfig(stage="codec").selection == "psnr" and TrainConfig(stage="classifier").selection == "accuracy"
    assert TrainConfig(stage="decoder").selection == "psnr"


def test_stages_train_only_their_part(tmp_path, make_cifar_dir):
    train, val = _dataset(tmp_path, make_cifar_dir)
    for stage, trained in (("codec", {"codec.encoder", "codec.decoder"}), ("decoder", {"codec.decoder"}),
                           ("classifier", {"classifier"}), ("classifier_finetune", {"classifier"})):
        trainer = _tiny_trainer(tmp_path, train, val, stage, stage=stage, max_steps=2, eval_every=2)
        before = {k: v.clone() for k, v in trainer.system.state_dict().items()}
        trainer.fit(show_progress=False)
        after = trainer.system.state_dict()
        # buffers too: a frozen part's BatchNorm running statistics must not move either
        changed = {".".join(k.split(".")[:2 if k.startswith("codec.") else 1])
                   for k in before if not torch.equal(before[k], after[k])}
        assert changed == trained, (stage, changed)
        h = trainer.history[-1]
        assert ("val_psnr" in h) == (stage != "classifier")
        assert ("val_accuracy" in h) == (stage not in ("codec", "decoder"))
        assert ("val_clean_accuracy" in h) == (stage == "classifier_finetune")


def test_bf16_finetune_feeds_the_classifier_the_float32_reconstructions(tmp_path, make_cifar_dir):
    """Under --amp bf16 stage 3 still trains on the reconstructions evaluation gives the classifier (float32)."""
    train, val = _dataset(tmp_path, make_cifar_dir)
    x, _ = train.batch(torch.arange(8))
    inputs = {}
    for amp in ("none", "bf16"):
        trainer = _tiny_trainer(tmp_path, train, val, amp, stage="classifier_finetune", amp=amp, clean_fraction=0.25)
        with trainer._autocast():
            inputs[amp] = trainer._classifier_inputs(x, 10.0)
    assert inputs["bf16"].dtype == torch.float32
    assert torch.equal(inputs["bf16"][:2], x[:2])  # the clean quarter
    assert torch.equal(inputs["bf16"], inputs["none"])  # same link seed: bit-identical reconstructions


def test_train_cli_stages_chain_through_init(tmp_path, make_cifar_dir, tiny_scenario):
    data = make_cifar_dir(tmp_path / "data")
    scenario = tiny_scenario("[train]\nepochs = 1\nbatch_size = 16\n[train.codec]\nlr = 2e-3\n"
                             "[train.classifier]\noptimizer = 'sgd'\nlr = 0.05\n")
    base = ["--scenario", str(scenario), "--data-dir", str(data), "--no-progress", "--device", "cpu", "--max-steps", "2"]
    train_main(base + ["--stage", "codec", "--out-dir", str(tmp_path / "c")])
    train_main(base + ["--stage", "classifier", "--out-dir", str(tmp_path / "k")])
    train_main(base + ["--stage", "classifier_finetune", "--out-dir", str(tmp_path / "f"),
                       "--init-codec", str(tmp_path / "c" / "best.safetensors"),
                       "--init-classifier", str(tmp_path / "k" / "best.safetensors")])
    codec, codec_meta = load_system(tmp_path / "c" / "best.safetensors")
    final, meta = load_system(tmp_path / "f" / "best.safetensors")
    for k, v in codec.codec.state_dict().items():
        assert torch.equal(v, final.codec.state_dict()[k]), k
    assert meta["stage"] == "classifier_finetune" and meta["train_config"]["lr"] == 5e-4  # no [train.classifier_finetune]
    assert codec_meta["train_config"]["lr"] == 2e-3 and codec_meta["stage"] == "codec"
    assert meta["init"]["codec"]["sha256"] and meta["training_data"]["train_source"] == "batches"
    assert load_system(tmp_path / "k" / "best.safetensors")[1]["train_config"]["optimizer"] == "sgd"
    # stage decoder: the transmitter stays the codec stage's; no [train.decoder] table -> [train.codec]'s settings
    train_main(base + ["--stage", "decoder", "--out-dir", str(tmp_path / "d"), "--snr-db-range", "20", "20",
                       "--reconstruction", "log_mse", "--init-codec", str(tmp_path / "c" / "best.safetensors")])
    dec, dec_meta = load_system(tmp_path / "d" / "last.safetensors")
    assert dec_meta["stage"] == "decoder" and dec_meta["train_config"]["lr"] == 2e-3
    assert dec_meta["train_config"]["reconstruction"] == "log_mse"
    assert all(torch.equal(v, dec.codec.encoder.state_dict()[k]) for k, v in codec.codec.encoder.state_dict().items())
    assert not all(torch.equal(v, dec.codec.decoder.state_dict()[k]) for k, v in codec.codec.decoder.state_dict().items())
    with pytest.raises(SystemExit, match="holds no codec weights|does not match"):
        bad = tmp_path / "bad.safetensors"
        save_weights(bad, {"x": torch.zeros(1)}, {"model": TINY.to_dict()})
        train_main(base + ["--stage", "classifier_finetune", "--out-dir", str(tmp_path / "g"), "--init-codec", str(bad)])


def test_sigterm_stops_a_training_like_ctrl_c(tmp_path, make_cifar_dir, monkeypatch):
    import os
    import signal

    from sionna_semcomm.train import interrupt_on_signals, run_training

    with pytest.raises(KeyboardInterrupt):
        with interrupt_on_signals():
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # restored afterwards
    # a kill during fit: resume.pt of the finished steps, exit code 130
    train, val = _dataset(tmp_path, make_cifar_dir)
    trainer = _tiny_trainer(tmp_path, train, val, "killed", max_steps=6)
    real_step = trainer.train_step

    def step_then_kill():
        loss = real_step()
        if trainer.step == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return loss

    monkeypatch.setattr(trainer, "train_step", step_then_kill)
    with pytest.raises(SystemExit) as exc:
        run_training(trainer, tmp_path / "killed", False, None, False)
    assert exc.value.code == 130
    assert load_resume_state(tmp_path / "killed" / "resume.pt")["step"] == 2


def test_mnist_recipe_stages_never_flip_digits():
    """rayleigh_mnist's [train.<stage>] tables resolve per stage; digits are shifted, never mirrored."""
    from sionna_semcomm.scenario import load_scenario
    from sionna_semcomm.train import train_config_for

    sc = load_scenario("rayleigh_mnist")
    codec = train_config_for(sc, stage="codec")
    clf = train_config_for(sc, stage="classifier")
    fin = train_config_for(sc, stage="classifier_finetune")
    assert (codec.max_steps, codec.select, codec.lr) == (4000, "psnr", 5e-4)
    assert (clf.optimizer, clf.lr, clf.select) == ("sgd", 0.1, "accuracy")
    assert fin.clean_fraction == 0.5 and fin.max_steps == 500
    for cfg in (codec, clf, fin):
        assert cfg.augment == "crop" and cfg.crop_padding == 2
    assert train_config_for(sc, stage="joint").augment == "none"  # the old joint run's settings are unchanged


def test_snr_adaptive_decoder_trains_from_a_plain_codec(tmp_path, make_cifar_dir, tiny_scenario):
    from sionna_semcomm.attacks.base import receive

    data = make_cifar_dir(tmp_path / "data")
    scenario = tiny_scenario("[train]\nepochs = 1\nbatch_size = 16\n")
    base = ["--scenario", str(scenario), "--data-dir", str(data), "--no-progress", "--device", "cpu",
            "--max-steps", "2", "--stage", "codec"]
    train_main(base + ["--out-dir", str(tmp_path / "plain")])
    train_main(base + ["--out-dir", str(tmp_path / "snr"), "--snr-adaptive", "--snr-adaptive-encoder",
                       "--snr-db-range", "3", "3", "--val-snr-db", "3", "--eval-every", "1",
                       "--init-codec", str(tmp_path / "plain" / "best.safetensors")])
    plain, _ = load_system(tmp_path / "plain" / "best.safetensors")
    system, meta = load_system(tmp_path / "snr" / "best.safetensors")
    assert system.codec.snr_adaptive and meta["model"]["codec_hparams"]["snr_adaptive"] is True
    assert system.codec.encoder_snr_adaptive and meta["model"]["codec_hparams"]["snr_adaptive_encoder"] is True
    assert meta["init"]["codec"]["new_snr_gates"] == len(system.codec.decoder.snr_gates) + len(system.codec.encoder.snr_gates)
    assert meta["train_config"]["snr_min_db"] == meta["train_config"]["snr_max_db"] == meta["train_config"]["val_snr_db"] == 3.0
    history = json.loads((tmp_path / "snr" / "history.json").read_text())["history"]
    assert meta["train_config"]["eval_every"] == 1 and [h["step"] for h in history] == [1, 2]
    gates = [k for k in system.state_dict() if ".snr_gates." in k]
    assert gates and any(system.state_dict()[k].abs().sum() > 0 for k in gates if k.endswith("expand.weight"))
    link = OFDMLink(64, LinkConfig(equalizer="lmmse"), seed=0)
    x = torch.rand(3, 3, 32, 32)
    taps = link.sample_taps((3,))
    with torch.no_grad():
        link.reseed(0)
        full = system(x, link, 4.0, taps=taps)
        link.reseed(0)
        rx = receive(system, link, system.codec.encode(x, 4.0), 4.0, taps=taps)  # the attacks' receiver: the same SNR
        link.reseed(0)
        other = receive(system, link, system.codec.encode(x, 4.0), 14.0, taps=taps)
        fed_back = system.codec.encode(x, 14.0)  # the transmitter adapts too
    torch.testing.assert_close(full["x_hat"], rx["x_hat"])
    assert full["x_hat"].shape == (3, 3, 32, 32) and not torch.allclose(rx["x_hat"], other["x_hat"])
    assert not torch.allclose(fed_back, full["z"])
    with pytest.raises(ValueError, match="pass snr_db"):
        system.codec.encode(x)
    with pytest.raises(SystemExit, match="snr_adaptive|unknown MobileSC"):
        train_main(base + ["--out-dir", str(tmp_path / "bad"), "--snr-adaptive", "--codec", "deepjscc"])
    with pytest.raises(SystemExit, match="snr_min_db <= snr_max_db"):
        train_main(base + ["--out-dir", str(tmp_path / "bad"), "--snr-db-range", "5", "2"])
    with pytest.raises(SystemExit):
        train_main(base + ["--out-dir", str(tmp_path / "bad"), "--val-snr-db", "nan"])
    assert not plain.codec.snr_adaptive


def test_codec_channels_build_a_wider_codec_that_init_codec_keeps(tmp_path, make_cifar_dir, tiny_scenario):
    """--codec-channels sets MobileSC's widths (the checkpoint records them); --init-codec from that checkpoint
    keeps them without the flag, and an explicit other width fails naming the mis-shaped tensors."""
    data = make_cifar_dir(tmp_path / "data")
    scenario = tiny_scenario("[train]\nepochs = 1\nbatch_size = 16\n")
    base = ["--scenario", str(scenario), "--data-dir", str(data), "--no-progress", "--device", "cpu", "--max-steps", "1"]
    train_main(base + ["--stage", "codec", "--codec-channels", "12", "12", "--out-dir", str(tmp_path / "w")])
    wide, meta = load_system(tmp_path / "w" / "best.safetensors")
    assert list(meta["model"]["codec_hparams"]["channels"]) == [12, 12]
    assert meta["model"]["codec_hparams"]["num_blocks"] == 1  # the scenario's other options stay
    assert wide.codec.encoder.body[0].weight.shape[0] == 12 and wide.codec.decoder.body[0].weight.shape[0] == 12
    train_main(base + ["--stage", "decoder", "--out-dir", str(tmp_path / "d"),
                       "--init-codec", str(tmp_path / "w" / "best.safetensors")])
    dec, _ = load_system(tmp_path / "d" / "last.safetensors")
    for k, v in wide.codec.encoder.state_dict().items():
        assert torch.equal(v, dec.codec.encoder.state_dict()[k]), k
    with pytest.raises(SystemExit, match="shape"):
        train_main(base + ["--stage", "codec", "--codec-channels", "8", "8", "--out-dir", str(tmp_path / "x"),
                           "--init-codec", str(tmp_path / "w" / "best.safetensors")])
    with pytest.raises(SystemExit):
        train_main(base + ["--stage", "codec", "--codec-channels", "0", "--out-dir", str(tmp_path / "y")])


def test_interleave_continues_a_plain_codec_in_the_new_order_and_init_codec_keeps_it(tmp_path, make_cifar_dir,
                                                                                     tiny_scenario):
    """--interleave from a plain codec loads its weights unchanged (the order is not a parameter) and the
    checkpoint records the option; --init-codec from it keeps the order, --no-interleave drops it."""
    data = make_cifar_dir(tmp_path / "data")
    scenario = tiny_scenario("[train]\nepochs = 1\nbatch_size = 16\n")
    base = ["--scenario", str(scenario), "--data-dir", str(data), "--no-progress", "--device", "cpu", "--max-steps", "1"]
    train_main(base + ["--stage", "codec", "--out-dir", str(tmp_path / "plain")])
    train_main(base + ["--stage", "decoder", "--interleave", "--out-dir", str(tmp_path / "il"),
                       "--init-codec", str(tmp_path / "plain" / "best.safetensors")])
    plain, _ = load_system(tmp_path / "plain" / "best.safetensors")
    inter, meta = load_system(tmp_path / "il" / "last.safetensors")
    assert meta["model"]["codec_hparams"]["interleave"] is True and inter.codec.interleaved and not plain.codec.interleaved
    for k, v in plain.codec.encoder.state_dict().items():  # the encoder was frozen: same weights, new order
        assert torch.equal(v, inter.codec.encoder.state_dict()[k]), k
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(inter.codec.to_latent_order(inter.codec.eval().encode(x)), plain.codec.eval().encode(x))
    for extra, expected in (([], True), (["--no-interleave"], False)):
        out = tmp_path / f"next{len(extra)}"
        train_main(base + ["--stage", "codec", "--out-dir", str(out), "--init-codec",
                           str(tmp_path / "il" / "last.safetensors"), *extra])
        assert load_system(out / "last.safetensors")[0].codec.interleaved is expected


def test_val_snr_db_sets_the_validation_that_selects_the_checkpoint(tmp_path, make_cifar_dir, tiny_scenario):
    """``--val-snr-db`` moves the validation (same weights, images and channels) to that SNR: the figures change
    with it and are the same again at the scenario's own ``val_snr_db``."""
    from sionna_semcomm.train import trainer_from_argv

    data = make_cifar_dir(tmp_path / "data")
    scenario = tiny_scenario("[train]\nepochs = 1\nbatch_size = 16\nval_snr_db = 10.0\n")
    base = ["--scenario", str(scenario), "--data-dir", str(data), "--no-progress", "--device", "cpu",
            "--stage", "codec", "--out-dir", str(tmp_path / "o")]
    default = trainer_from_argv(base)
    at_zero = trainer_from_argv(base + ["--val-snr-db", "0"])
    at_ten = trainer_from_argv(base + ["--val-snr-db", "10"])
    assert (default.cfg.val_snr_db, at_zero.cfg.val_snr_db) == (10.0, 0.0)
    ref = default.validate()
    assert at_ten.validate()["psnr"] == ref["psnr"]
    assert at_zero.validate()["psnr"] != ref["psnr"]


def test_csi_decoder_starts_as_its_checkpoint_and_learns_to_use_the_channel_state(tmp_path, make_cifar_dir, tiny_scenario):
    """--decoder-csi from a plain codec: the same reconstructions at step 0 (the CSI input starts at zero),
    then a decoder whose output depends on the per-symbol ``no_eff`` the link reports (and the attacks'
    receiver passes on)."""
    from sionna_semcomm.attacks.base import receive
    from sionna_semcomm.models.codec import CSI_FEATURE_RANGE, csi_feature

    data = make_cifar_dir(tmp_path / "data")
    scenario = tiny_scenario("[train]\nepochs = 1\nbatch_size = 16\n")
    base = ["--scenario", str(scenario), "--data-dir", str(data), "--no-progress", "--device", "cpu", "--stage", "codec"]
    train_main(base + ["--max-steps", "2", "--out-dir", str(tmp_path / "plain")])
    plain, _ = load_system(tmp_path / "plain" / "best.safetensors")
    train_main(base + ["--max-steps", "2", "--lr", "1e-2", "--out-dir", str(tmp_path / "csi"), "--decoder-csi",
                       "--init-codec", str(tmp_path / "plain" / "best.safetensors")])
    system, meta = load_system(tmp_path / "csi" / "last.safetensors")
    assert system.codec.uses_csi and meta["model"]["codec_hparams"]["decoder_csi"] is True and not plain.codec.uses_csi
    assert meta["init"]["codec"]["new_csi_input"] is True
    assert system.codec.decoder.csi_input.weight.abs().sum() > 0  # it trained
    # --init-codec from it keeps the channel-state input without the flag (the reproduction's symbol classifier)
    train_main(base + ["--max-steps", "1", "--out-dir", str(tmp_path / "sym"), "--stage", "classifier_finetune",
                       "--classify-from", "symbols", "--init-codec", str(tmp_path / "csi" / "last.safetensors")])
    assert load_system(tmp_path / "sym" / "last.safetensors")[0].codec.uses_csi
    with pytest.raises(SystemExit, match="unexpected 1 tensors.*csi_input"):
        train_main(base + ["--max-steps", "1", "--out-dir", str(tmp_path / "no"), "--no-decoder-csi",
                           "--init-codec", str(tmp_path / "csi" / "last.safetensors")])

    fresh = SemanticSystem(dataclasses.replace(plain.config, codec_hparams={**plain.config.codec_hparams, "decoder_csi": True}))
    fresh.load_state_dict({**plain.state_dict(), "codec.decoder.csi_input.weight": fresh.codec.decoder.csi_input.weight})
    fresh.eval()
    link = OFDMLink(64, LinkConfig(equalizer="lmmse"), seed=0)
    x = torch.rand(3, 3, 32, 32)
    taps = link.sample_taps((3,))
    with torch.no_grad():
        outs = []
        for m in (plain, fresh, system):
            link.reseed(0)
            outs.append(m(x, link, 4.0, taps=taps))
        link.reseed(0)
        rx = receive(system, link, system.codec.encode(x), 4.0, taps=taps)
        z_hat, no_eff = outs[2]["z_hat"], outs[2]["link"]["no_eff"]
        other = system.codec.decode(z_hat, no_eff=no_eff * 10)
    torch.testing.assert_close(outs[0]["x_hat"], outs[1]["x_hat"])  # zero-initialised: the checkpoint's output
    torch.testing.assert_close(outs[2]["x_hat"], rx["x_hat"])  # the attacks' receiver passes the channel state on
    assert not torch.allclose(other, outs[2]["x_hat"])  # the trained decoder reads it
    ne = no_eff.clone().requires_grad_(True)  # attacks get the gradient through the channel state too
    system.codec.decode(z_hat, no_eff=ne).sum().backward()
    assert ne.grad is not None and float(ne.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="pass no_eff"):
        system.codec.decode(z_hat)
    with pytest.raises(ValueError, match="shape of z_hat"):
        system.codec.decode(z_hat, no_eff=no_eff[:, :10])

    feat = csi_feature(torch.tensor([[1e-1, 1e-9, 1e3]]), (1, 1, 6))  # SINR 10 dB, clipped at 40 dB, at -20 dB
    assert feat.flatten().tolist() == pytest.approx([1, 1, CSI_FEATURE_RANGE[1], CSI_FEATURE_RANGE[1], -2, -2])


def test_log_mse_weighs_every_batch_by_its_relative_error():
    """``log_mse`` is 10 log10 of the batch MSE (minus the batch PSNR): its gradient is the MSE's divided by the
    MSE, so a noisy batch (large errors) does not outweigh a clean one, unlike plain MSE."""
    from sionna_semcomm.train import system_loss

    torch.manual_seed(0)
    x = torch.rand(4, 3, 8, 8)
    grads = {}
    for name, noise in (("clean", 0.01), ("noisy", 0.1)):
        x_hat = (x + noise * torch.randn_like(x)).requires_grad_(True)
        for rec in ("mse", "log_mse"):
            loss, parts = system_loss({"x_hat": x_hat}, x, None, TrainConfig(reconstruction=rec))
            (g,) = torch.autograd.grad(loss, x_hat)
            grads[name, rec] = float(g.norm())
            mse = float(((x_hat.detach() - x) ** 2).mean())
            expected = 10 * torch.log10(torch.tensor(mse)) if rec == "log_mse" else mse
            assert loss.item() == pytest.approx(float(expected), rel=1e-5) and parts["rec"] == pytest.approx(loss.item())
    assert grads["noisy", "mse"] / grads["clean", "mse"] == pytest.approx(10, rel=0.1)  # error scale
    assert grads["noisy", "log_mse"] / grads["clean", "log_mse"] == pytest.approx(0.1, rel=0.1)  # relative
    with pytest.raises(ValueError, match="reconstruction"):
        TrainConfig(reconstruction="l1")


def test_log_mse_ssim_adds_the_batch_ssim_in_db():
    """``log_mse_ssim`` is ``log_mse`` + ``10 log10(1 - mean SSIM)``, both in dB; its gradient also pulls the
    structure: of two reconstructions with the same MSE, the one with the lower SSIM has the higher loss."""
    from sionna_semcomm.metrics import ssim
    from sionna_semcomm.train import system_loss

    torch.manual_seed(0)
    x = torch.rand(4, 3, 16, 16) * 0.6 + 0.2
    noise = torch.randn_like(x) * 0.05
    smooth = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)
    blurred = x + (smooth - x) * (noise.norm() / (smooth - x).norm())  # same MSE as the noisy one
    losses = {}
    for name, x_hat in (("noisy", x + noise), ("blurred", blurred)):
        x_hat = x_hat.clamp(0, 1).requires_grad_(True)
        loss, parts = system_loss({"x_hat": x_hat}, x, None, TrainConfig(reconstruction="log_mse_ssim"))
        log_mse, _ = system_loss({"x_hat": x_hat}, x, None, TrainConfig(reconstruction="log_mse"))
        expected = float(log_mse.detach()) + 10 * math.log10(1 - float(ssim(x_hat.detach(), x).mean()))
        assert loss.item() == pytest.approx(expected, rel=1e-5) and parts["rec"] == pytest.approx(loss.item())
        (g,) = torch.autograd.grad(loss, x_hat)
        assert bool(torch.isfinite(g).all()) and float(g.norm()) > 0
        losses[name] = (float(log_mse.detach()), loss.item())
    assert losses["noisy"][0] == pytest.approx(losses["blurred"][0], abs=0.05)  # same MSE ...
    assert losses["blurred"][1] > losses["noisy"][1] + 1.0  # ... the blur's lower SSIM (0.94 vs 0.96) costs ~1.6 dB
