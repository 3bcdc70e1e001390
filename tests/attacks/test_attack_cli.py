"""End to end, tiny: train a system, train SemAdv on it, evaluate attacks on the link command, detect, plot."""

import json

import pytest

from sionna_semcomm.attack import main as attack_main
from sionna_semcomm.link.cli import main as link_main
from sionna_semcomm.train import main as train_main

SCENARIO = (
    "seed = 0\n[link]\nequalizer = 'lmmse'\n[channel]\nkind = 'awgn'\n"
    "[images]\ndataset = 'cifar10'\nnum_symbols = 64\nbatch_size = 8\nnum_images = 16\n"
    "[model]\nclassifier_width = 4\ncodec_hparams = {channels = [8, 8], num_blocks = 1, expansion = 2}\n"
    "[train]\nepochs = 1\nbatch_size = 8\nsnr_min_db = 5.0\nsnr_max_db = 15.0\n"
)
GEN = ["--seed-dim", "8", "--hidden", "16", "--num-blocks", "1"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, helpers):
    tmp = tmp_path_factory.mktemp("cli")
    data = helpers.cifar_dir(tmp / "data")
    scenario = tmp / "tiny.toml"
    scenario.write_text(SCENARIO)
    common = ["--scenario", str(scenario), "--data-dir", str(data), "--device", "cpu", "--no-progress"]
    with helpers.single_thread():
        train_main(common + ["--out-dir", str(tmp / "system"), "--max-steps", "1"])
    return {"tmp": tmp, "common": common, "ckpt": str(tmp / "system" / "best.safetensors"), "scenario": str(scenario),
            "data": str(data)}


def _link(setup, *extra, out=None):
    argv = ["--scenario", setup["scenario"], "--systems", "mobilesc", "--checkpoint", setup["ckpt"], "--data-dir",
            setup["data"], "--snr-db", "10", "--no-progress", "--device", "cpu", *extra]
    if out:
        argv += ["--out", str(out)]
    return link_main(argv)


def test_train_semadv_then_attack_on_the_link_command(setup, capsys):
    tmp, common = setup["tmp"], setup["common"]
    atk_dir = tmp / "semadv"
    def train(steps):
        return common + ["--checkpoint", setup["ckpt"], "--attack", "semadv", "--target-class", "2", "--controllable-class",
                         "5", "--psr-db", "-6", "--batch-size", "8", "--max-steps", str(steps), "--out-dir", str(atk_dir), *GEN]

    first = attack_main(["train", *train(2), "--epochs", "1"])
    # --max-steps is the whole run's budget: the resumed run gets two more steps for its second epoch
    resumed = attack_main(["train", *train(4), "--epochs", "2", "--resume"])
    assert [h["epoch"] for h in resumed] == [1, 2] and resumed[0] == first[0]
    meta_line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert meta_line["epochs"] == 2 and "val_misleading_rate" in meta_line

    ckpt = str(atk_dir / "last.safetensors")
    runs = _link(setup, "--attack", "semadv", "--attack-checkpoint", ckpt, out=tmp / "semadv.json")
    doc = runs[0]
    attack = doc["attack"]
    assert attack["name"] == "semadv" and attack["psr_db"] == -6 and attack["target_class"] == 2
    assert attack["controllable_class"] == 5 and attack["power_constraint"] == "nominal"
    assert abs(attack["measured_psr_db"] + 6) < 1.0  # nominal scaling; AWGN: received power ~1
    res = doc["results"]
    assert 0 <= res["misleading_rate"][0] <= 1 and "target_accuracy" in res and len(res["measured_psr_db"]) == 1
    for metric in ("accuracy", "psnr", "ssim"):
        assert len(res["per_class"][metric][0]) == 10
    assert doc["config"]["system"]["attack"]["checkpoint"]["path"] == ckpt

    pgd = _link(setup, "--attack", "pgd", "--psr-db", "-8", "--attack-steps", "2", "--target-class", "3",
                out=tmp / "pgd.json")[0]
    assert abs(pgd["attack"]["measured_psr_db"] + 8) < 1e-3 and pgd["attack"]["power_constraint"] == "per_image"
    assert pgd["results"]["misleading_rate"][0] is not None  # towards the single target class
    clean = _link(setup, "--attack", "none", out=tmp / "clean.json")[0]
    plain = _link(setup)[0]
    assert clean["attack"]["measured_psr_db"] is None
    for metric in ("accuracy", "psnr", "ssim"):  # the identity attack leaves the results bit-identical
        assert clean["results"][metric] == plain["results"][metric]
    for psr in ("-10", "-4"):
        _link(setup, "--attack", "semadv", "--attack-checkpoint", ckpt, "--psr-db", psr, out=tmp / f"semadv{psr}.json")

    fig = tmp / "fig6.png"
    attack_main(["plot", str(tmp / "clean.json"), str(tmp / "pgd.json"), str(tmp / "semadv.json"),
                 str(tmp / "semadv-10.json"), str(tmp / "semadv-4.json"), "--snr-db", "10", "--out", str(fig)])
    assert fig.stat().st_size > 1000

    det = attack_main(["detect", "--scenario", setup["scenario"], "--checkpoint", setup["ckpt"], "--data-dir", setup["data"],
                       "--attacks", "jamming", "pgd", "semadv", "--attack-checkpoint", f"semadv={ckpt}", "--psr-db", "-6",
                       "--num-images", "16", "--device", "cpu", "--no-progress", "--out", str(tmp / "det.json")])
    rows = {r["attack"]: r for r in det["results"]}
    assert set(rows) == {"jamming", "pgd", "semadv"} and all(0 <= r["auc"] <= 1 for r in rows.values())
    assert abs(rows["jamming"]["measured_psr_db"] + 6) < 1e-3
    assert json.loads((tmp / "det.json").read_text())["results"][0]["attack"] == "jamming"


def test_clear_errors(setup, capsys):
    with pytest.raises(SystemExit, match="--attack-checkpoint"):
        _link(setup, "--attack", "semadv")
    with pytest.raises(SystemExit) as e:  # argparse: unknown name
        _link(setup, "--attack", "bogus", "--psr-db", "-6")
    assert e.value.code == 2 and "unknown attack 'bogus'" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="unknown class 12"):
        _link(setup, "--attack", "pgd", "--psr-db", "-6", "--target-class", "12")
    with pytest.raises(SystemExit, match="needs a PSR"):
        _link(setup, "--attack", "jamming")
    with pytest.raises(SystemExit, match="--psr-db applies to an attack: give --attack"):
        _link(setup, "--psr-db", "-6")
    with pytest.raises(SystemExit) as e:  # argparse: non-finite PSR
        _link(setup, "--attack", "jamming", "--psr-db", "nan")
    assert e.value.code == 2 and "PSR must be finite" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="image systems"):
        link_main(["--scenario", "awgn_bits", "--systems", "uncoded-qpsk", "--attack", "jamming", "--psr-db", "-6",
                   "--no-progress"])
    with pytest.raises(SystemExit, match="only generator attacks"):
        attack_main(["train", *setup["common"], "--checkpoint", setup["ckpt"], "--attack", "pgd", "--psr-db", "-6"])
    with pytest.raises(SystemExit, match="needs target_class"):
        attack_main(["train", *setup["common"], "--checkpoint", setup["ckpt"], "--attack", "semadv", "--psr-db", "-6"])
    with pytest.raises(SystemExit, match="unknown class 10"):
        attack_main(["train", *setup["common"], "--checkpoint", setup["ckpt"], "--attack", "semadv", "--psr-db", "-6",
                     "--target-class", "10"])
    with pytest.raises(SystemExit) as e:  # argparse: unknown precision
        attack_main(["train", *setup["common"], "--checkpoint", setup["ckpt"], "--attack", "pgm", "--psr-db", "-6",
                     "--amp", "fp16"])
    assert e.value.code == 2 and "argument --amp: invalid choice: 'fp16'" in capsys.readouterr().err


def test_train_a_generator_with_bf16_autocast(setup):
    """``attack train --amp bf16`` trains and records the setting in the command its checkpoints keep."""
    out = setup["tmp"] / "pgm-bf16"
    history = attack_main(["train", *setup["common"], "--checkpoint", setup["ckpt"], "--attack", "pgm", "--psr-db", "-6",
                           "--batch-size", "8", "--max-steps", "1", "--epochs", "1", "--amp", "bf16", "--out-dir", str(out),
                           *GEN])
    assert len(history) == 1 and history[0]["val_measured_psr_db"] == pytest.approx(-6.0, abs=1.0)
    meta = json.loads((out / "history.json").read_text())["metadata"]
    assert "--amp bf16" in meta["command"]


def test_jamming_on_a_conventional_link(setup):
    runs = link_main(["--scenario", setup["scenario"], "--systems", "jpeg2000-ldpc-qpsk", "--data-dir", setup["data"],
                      "--snr-db", "10", "--num-images", "2", "--no-progress", "--device", "cpu", "--attack", "jamming",
                      "--psr-db", "-3"])
    assert abs(runs[0]["attack"]["measured_psr_db"] + 3) < 1e-3 and runs[0]["conventional"]
    with pytest.raises(SystemExit, match="needs a learned"):
        link_main(["--scenario", setup["scenario"], "--systems", "jpeg2000-ldpc-qpsk", "--data-dir", setup["data"],
                   "--snr-db", "10", "--num-images", "2", "--no-progress", "--attack", "pgd", "--psr-db", "-3"])
