"""The one-command training recipe (``python -m sionna_semcomm.recipe``) on a tiny generated data set."""

import json

import pytest
import torch

from sionna_semcomm import recipe, train
from sionna_semcomm.semantic import load_system

TRAIN_TOML = ("[train]\nepochs = 1\nbatch_size = 16\n[train.codec]\nlr = 2e-3\n"
              "[train.classifier]\noptimizer = 'sgd'\nlr = 0.05\n")


@pytest.fixture
def base(tmp_path, make_cifar_dir, tiny_scenario):
    data = make_cifar_dir(tmp_path / "data")
    return ["--scenario", str(tiny_scenario(TRAIN_TOML)), "--data-dir", str(data), "--device", "cpu", "--no-progress",
            "--out-dir", str(tmp_path / "r")]


def test_plan_steps_fills_the_budget_with_steps_and_validations():
    speed = {"step_s": 0.5, "validation_s": 10.0, "eval_every": 100}   # 0.6 s per step, validations included
    assert recipe.plan_steps(60.0, speed, margin=1.0) == 100
    assert recipe.plan_steps(60.0, speed) == 90
    assert recipe.plan_steps(0.0, speed) == 1
    with pytest.raises(ValueError, match="positive time"):
        recipe.plan_steps(1.0, {"step_s": 0.0, "validation_s": 0.0, "eval_every": 1})


def test_recipe_runs_the_three_stages_and_records_each_command(tmp_path, base):
    rec = recipe.main(base + ["--steps", "codec=2", "classifier=3", "classifier_finetune=2"])
    out = tmp_path / "r"
    assert [rec["stages"][s]["steps"] for s in recipe.RECIPE_STAGES] == [2, 3, 2]
    assert all(rec["stages"][s]["finished"] for s in recipe.RECIPE_STAGES)
    assert rec["steps"] == 7 and rec["device"] == "cpu" and rec["training_data"]["train_source"] == "batches"
    assert json.loads((out / "recipe.json").read_text()) == rec
    ft = rec["stages"]["classifier_finetune"]["command"]
    assert "--stage classifier_finetune" in ft and "--max-steps 2" in ft and "codec/best.safetensors" in ft
    assert rec["command"].count(" && ") == 2 and rec["validation"]["codec_psnr"] == rec["stages"]["codec"]["validation"]["psnr"]
    codec, _ = load_system(out / "codec" / "best.safetensors")
    final, meta = load_system(out / "final" / "best.safetensors")
    assert meta["stage"] == "classifier_finetune"
    for k, v in codec.codec.state_dict().items():   # the fine-tuning stage keeps the codec stage's codec
        assert torch.equal(v, final.codec.state_dict()[k]), k
    before = (out / "final" / "best.safetensors").stat().st_mtime_ns
    again = recipe.main(base + ["--resume"])           # all finished: nothing is trained again
    assert (out / "final" / "best.safetensors").stat().st_mtime_ns == before and again["steps"] == 7
    with pytest.raises(SystemExit, match="--resume"):
        recipe.main(base + ["--steps", "codec=2"])      # a fresh start would mix with the earlier run


def test_an_interrupted_recipe_resumes_at_the_stage_it_stopped_in(tmp_path, base, monkeypatch):
    real = train.main
    calls = []

    def stop_in_classifier(argv):
        calls.append(argv[argv.index("--stage") + 1])
        if calls == ["codec", "classifier"]:
            raise SystemExit(130)   # as Ctrl-C ends a training
        return real(argv)

    monkeypatch.setattr(recipe.train, "main", stop_in_classifier)
    steps = ["--steps", "codec=2", "classifier=2", "classifier_finetune=1"]
    with pytest.raises(SystemExit):
        recipe.main(base + steps)
    rec = json.loads((tmp_path / "r" / "recipe.json").read_text())
    assert rec["stages"]["codec"]["finished"] and not rec["stages"]["classifier"]["finished"]
    rec = recipe.main(base + ["--resume"])
    assert calls == ["codec", "classifier", "classifier", "classifier_finetune"]   # the codec is not retrained
    assert [rec["stages"][s]["steps"] for s in recipe.RECIPE_STAGES] == [2, 2, 1]


def test_a_time_budget_plans_each_stage_from_its_measured_speed(tmp_path, base, monkeypatch):
    timed = []

    def fake_speed(self, steps=20, warmup=3):
        timed.append(self.cfg.stage)
        return {"step_s": 1.0, "validation_s": 0.0, "eval_every": 10}

    monkeypatch.setattr(train.Trainer, "measure_speed", fake_speed)
    rec = recipe.main(base + ["--time-budget", "10", "--shares", "2", "1", "1"])
    assert timed == list(recipe.RECIPE_STAGES)
    codec = rec["stages"]["codec"]
    assert codec["budget_s"] == pytest.approx(5.0, abs=0.5) and codec["max_steps"] == int(0.9 * codec["budget_s"])
    assert codec["planned_from"]["step_s"] == 1.0 and "--time-budget" in codec["command"]
    for s in recipe.RECIPE_STAGES:
        assert rec["stages"][s]["finished"] and rec["stages"][s]["steps"] == rec["stages"][s]["max_steps"] >= 1
    assert not (tmp_path / "r" / ".calibration").exists()


def test_measure_speed_times_steps_and_a_validation(tmp_path, base):
    trainer = train.trainer_from_argv(recipe.stage_argv("codec", recipe.setup_args().parse_args(base), tmp_path / "c",
                                                        None, init=False))
    speed = trainer.measure_speed(steps=2, warmup=1)
    assert speed["step_s"] > 0 and speed["validation_s"] > 0 and speed["eval_every"] == trainer.steps_per_epoch
    assert trainer.step == 3 and not (tmp_path / "c" / "codec").exists()


@pytest.mark.parametrize("bad, message", [
    (["--steps", "codec=2", "--time-budget", "10"], "not both"),
    (["--steps", "codec=0"], "STAGE=N"),
    (["--steps", "decoder=3"], "STAGE=N"),
    (["--shares", "1", "0", "1"], "positive number"),
])
def test_bad_recipe_options_are_named(base, bad, message, capsys):
    with pytest.raises(SystemExit) as e:
        recipe.main(base + bad)
    assert message in str(e.value) + capsys.readouterr().err


def test_gpu_options_reach_every_stage_config(tmp_path, base):
    args = recipe.setup_args().parse_args(base + ["--amp", "bf16", "--channels-last", "--batch-size", "8"])
    argv = recipe.stage_argv("classifier", args, tmp_path, 5)
    assert argv[argv.index("--amp") + 1] == "bf16" and "--channels-last" in argv
    trainer = train.trainer_from_argv(argv)
    assert (trainer.cfg.amp, trainer.cfg.channels_last, trainer.cfg.batch_size, trainer.cfg.max_steps) == ("bf16", True, 8, 5)
    args = recipe.setup_args().parse_args(base + ["--no-channels-last"])
    assert "--no-channels-last" in recipe.stage_argv("codec", args, tmp_path, None)


def test_a_wider_classifier_reaches_every_stage(tmp_path, base):
    """``--classifier-width`` builds the classifier of every stage at that width (the tiny scenario's is 4), so
    stage 3 starts from stage 2's wider classifier (a width missing there would fail to load its weights)."""
    rec = recipe.main(base + ["--classifier-width", "8", "--steps", "codec=1", "classifier=1", "classifier_finetune=1"])
    for stage in recipe.RECIPE_STAGES:
        assert "--classifier-width 8" in rec["stages"][stage]["command"], stage
        system, meta = load_system(tmp_path / "r" / recipe.FOLDERS[stage] / "best.safetensors")
        assert system.config.classifier_width == 8, stage
    assert meta["init"]["classifier"]["path"].endswith("classifier/best.safetensors")


def test_decoder_csi_reaches_the_codec_and_fine_tuning_stages(tmp_path, base):
    """``--decoder-csi``: the codec stage trains the channel-state decoder and stage 3 keeps it; stage 2 has no
    codec of its own to keep."""
    rec = recipe.main(base + ["--decoder-csi", "--steps", "codec=1", "classifier=1", "classifier_finetune=1"])
    for stage in recipe.RECIPE_STAGES:
        assert ("--decoder-csi" in rec["stages"][stage]["command"]) == (stage != "classifier"), stage
    for stage in ("codec", "classifier_finetune"):
        assert load_system(tmp_path / "r" / recipe.FOLDERS[stage] / "best.safetensors")[0].codec.uses_csi, stage


def test_interleave_reaches_the_codec_and_fine_tuning_stages(tmp_path, base):
    """``--interleave``: the codec stage trains an interleaving codec and stage 3 keeps it."""
    rec = recipe.main(base + ["--interleave", "--steps", "codec=1", "classifier=1", "classifier_finetune=1"])
    for stage in recipe.RECIPE_STAGES:
        assert ("--interleave" in rec["stages"][stage]["command"]) == (stage != "classifier"), stage
    for stage in ("codec", "classifier_finetune"):
        assert load_system(tmp_path / "r" / recipe.FOLDERS[stage] / "best.safetensors")[0].codec.interleaved, stage


def test_codec_channels_reach_the_codec_and_fine_tuning_stages(tmp_path, base):
    """``--codec-channels``: the codec stage trains a codec of those widths (the tiny scenario's are 8 8) and
    stage 3 keeps it; stage 2 has no codec of its own to keep."""
    rec = recipe.main(base + ["--codec-channels", "12", "12", "--steps", "codec=1", "classifier=1",
                              "classifier_finetune=1"])
    for stage in recipe.RECIPE_STAGES:
        assert ("--codec-channels 12 12" in rec["stages"][stage]["command"]) == (stage != "classifier"), stage
    for stage in ("codec", "classifier_finetune"):
        system, meta = load_system(tmp_path / "r" / recipe.FOLDERS[stage] / "best.safetensors")
        assert list(meta["model"]["codec_hparams"]["channels"]) == [12, 12], stage
        assert system.codec.encoder.body[0].weight.shape[0] == 12, stage


def test_the_gpu_scripts_parse():
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for script in ("prepare.sh", "run_recipe.sh"):
        subprocess.run(["bash", "-n", str(root / "docs" / "gpu" / script)], check=True)
