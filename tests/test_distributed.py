"""Training in several processes (PyTorch DDP, gloo on CPU): equal to one process with the same shards, resume
across process counts, one writer."""

import gc
import json
import shutil
import sys

import pytest
import torch
import torch.multiprocessing as mp

from sionna_semcomm.checkpoints import load_resume_state
from sionna_semcomm.link.channels import ChannelSpec
from sionna_semcomm.link.config import LinkConfig
from sionna_semcomm.semantic import ModelConfig, SemanticSystem
from sionna_semcomm.train import TrainConfig, Trainer

TINY = ModelConfig(image_shape=(3, 32, 32), num_symbols=64, classifier_width=4,
                   codec_hparams={"channels": (8, 8), "num_blocks": 1, "expansion": 2})
MAX_STEPS = 6


def _trainer(data_root, out, shards=None, classify_from="image"):
    from sionna_semcomm.data import load_dataset

    train = load_dataset("cifar10", "train", data_root, val_fraction=0.25)  # 36 images: 5 steps of 8 per epoch
    val = load_dataset("cifar10", "val", data_root, val_fraction=0.25)
    torch.manual_seed(0)
    cfg = TrainConfig(epochs=2, batch_size=8, lr=3e-3, snr_min_db=5, snr_max_db=15, augment="crop_flip",
                      lr_schedule="cosine", warmup_steps=2, eval_every=3, checkpoint_every=2)
    return Trainer(SemanticSystem(ModelConfig(**{**TINY.to_dict(), "classify_from": classify_from})),
                   LinkConfig(channel=ChannelSpec("rayleigh_multipath", num_taps=4), equalizer="lmmse"),
                   train, val, cfg, out, seed=0, shards=shards)


def _defense_trainer_refreshed(data_root, out, shards=None):
    """As :func:`_defense_trainer`, the generator used in a step refreshed by one step of its own after it."""
    return _defense_trainer(data_root, out, shards, generator_updates=1)


def _defense_trainer(data_root, out, shards=None, generator_updates=0):
    """SemMixed fine-tuning of the tiny system against untrained (seeded) SemAdv and PGM generators, kept fixed."""
    from baselines.attacks import PGM
    from sionna_semcomm.attacks import GeneratorConfig, SemAdv
    from sionna_semcomm.data import load_dataset
    from sionna_semcomm.defense import AdversarialTrainer, DefenseConfig

    gen = GeneratorConfig(seed_dim=8, hidden=16, num_blocks=1)

    def attacks(system, link):
        torch.manual_seed(1)
        return {"semadv": [SemAdv(system, link, -6.0, target_class=c, generator_config=gen, seed=c) for c in (0, 1)],
                "pgm": [PGM(system, link, -6.0, generator_config=gen, seed=7)]}

    train = load_dataset("cifar10", "train", data_root, val_fraction=0.25)
    val = load_dataset("cifar10", "val", data_root, val_fraction=0.25)
    torch.manual_seed(0)
    cfg = TrainConfig(batch_size=8, snr_min_db=5, snr_max_db=15, augment="crop_flip", eval_every=3, checkpoint_every=2)
    return AdversarialTrainer(SemanticSystem(TINY), LinkConfig(channel=ChannelSpec("rayleigh_multipath", num_taps=4),
                                                               equalizer="lmmse"),
                              train, val, cfg, DefenseConfig(variant="semmixed", epochs=2, lr=3e-3,
                                                             generator_updates=generator_updates), attacks, out,
                              seed=0, shards=shards)


def _three_steps(trainer):
    for _ in range(3):  # out of time after each step: 3 steps, resume.pt written (collectively) each time
        trainer.fit(max_steps=MAX_STEPS, show_progress=False, time_budget_s=0.0)


def _record_writes(tmp) -> list:
    """The files this process opens for writing, renames into place or creates as folders under ``tmp`` from now
    on (an audit hook), as a list that grows."""
    import os

    writes = []

    def audit(event, args):
        if event == "open" and str(args[0]).startswith(str(tmp)):
            mode, flags = args[1], args[2]
            if (mode is None and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)) or \
                    (isinstance(mode, str) and any(c in mode for c in "wax+")):
                writes.append(str(args[0]))
        elif event in ("os.rename", "os.replace") and str(args[1]).startswith(str(tmp)):
            writes.append(str(args[1]))
        elif event == "os.mkdir" and str(args[0]).startswith(str(tmp)):
            writes.append(str(args[0]))
    sys.addaudithook(audit)
    return writes


def _worker(rank, world, init_file, data_root, tmp, make="_trainer"):
    """One process of a gloo group: (a) 3 fresh steps in tmp/ddp; (b) the run written by one process in
    tmp/one3 resumed to the end; rank 1 records every file it opens for writing or renames under tmp."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    writes = _record_writes(tmp) if rank == 1 else []
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        make = globals()[make]
        ddp = make(data_root, tmp / "ddp")
        assert ddp.shards == world and ddp._own == [rank]
        _three_steps(ddp)
        resumed = make(data_root, tmp / "one3")
        resumed.resume()  # written by one process with --shards 2
        resumed.fit(max_steps=MAX_STEPS, show_progress=False)
        if rank == 1:
            (tmp / "rank1_writes.txt").write_text(json.dumps([w for w in writes if "rank1_writes" not in w]))
        del ddp, resumed  # (their DDP modules hold the group)
        dist.barrier()  # as distributed.cleanup: no rank leaves while rank 0 still writes
    finally:
        gc.collect()
        dist.destroy_process_group()


def _torchrun_equals_shards(tmp_path, module: str, base: list, main) -> dict:
    """``torchrun`` (2 gloo processes, global batch 16) of ``python -m module BASE`` into tmp/two, then ``main(BASE
    --shards 2)`` into tmp/one: one summary line, one ``parallel:`` line, the same final weights; returns the
    two-process run's ``last`` metadata."""
    import os
    import subprocess

    from sionna_semcomm.checkpoints import load_weights

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", module, *base, "--out-dir", str(tmp_path / "two")],
                          capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count('"out_dir"') == 1  # one summary line: rank 0's
    assert done.stderr.count("parallel: 2 process(es) (gloo), 2 shards per batch, global batch 16") == 1
    main(base + ["--out-dir", str(tmp_path / "one"), "--shards", "2"])
    a, meta = load_weights(tmp_path / "two" / "last.safetensors")
    b, _ = load_weights(tmp_path / "one" / "last.safetensors")
    _assert_same_weights(a, b)
    return meta


def _assert_same_weights(a: dict, b: dict, atol=1e-5):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), rtol=1e-4, atol=atol), (k, (a[k].float() - b[k].float()).abs().max())


def test_two_gloo_processes_train_like_one_process_with_two_shards(tmp_path, make_cifar_dir):
    data_root = make_cifar_dir(tmp_path / "data")
    # the reference: one process, two shards per batch, to step 3 (copied) and on to the end
    one = _trainer(data_root, tmp_path / "one", shards=2)
    _three_steps(one)
    shutil.copytree(tmp_path / "one", tmp_path / "one3")
    at3 = {k: v.clone() for k, v in one.system.state_dict().items()}
    one.fit(max_steps=MAX_STEPS, show_progress=False)
    final = one.system.state_dict()

    mp.start_processes(_worker, args=(2, str(tmp_path / "pg"), data_root, tmp_path), nprocs=2, join=True,
                       start_method="spawn")

    # (a) two processes from scratch == one process with 2 shards, after 3 steps (resume.pt of rank 0)
    ddp_state = load_resume_state(tmp_path / "ddp" / "resume.pt")
    assert ddp_state["step"] == 3 and ddp_state["shards"] == 2 and ddp_state["world_size"] == 2
    assert set(ddp_state["shard_rng"]) == {"1"}  # rank 1's streams, gathered by rank 0
    _assert_same_weights(ddp_state["model"], at3)
    # (b) a one-process run resumed by two processes ends where the one-process run ended
    from sionna_semcomm.checkpoints import load_weights

    two_end, meta = load_weights(tmp_path / "one3" / "last.safetensors")
    _assert_same_weights(two_end, final)
    assert meta["step"] == MAX_STEPS and meta["parallel"]["world_size"] == 2 and meta["parallel"]["global_batch_size"] == 8
    hist = json.loads((tmp_path / "one3" / "history.json").read_text())["history"]
    assert [h["step"] for h in hist] == [3, 6]
    assert [h["val_psnr"] for h in hist] == pytest.approx([h["val_psnr"] for h in one.history], abs=1e-3)
    assert [h["train_loss"] for h in hist] == pytest.approx([h["train_loss"] for h in one.history], rel=1e-4)
    # (c) rank 1 wrote nothing
    assert json.loads((tmp_path / "rank1_writes.txt").read_text()) == []
    # (d) the two-process run resumed by one process (shards 2 taken from resume.pt) ends at the same weights
    again = _trainer(data_root, tmp_path / "ddp")
    again.resume()
    assert again.shards == 2
    again.fit(max_steps=MAX_STEPS, show_progress=False)
    _assert_same_weights(again.system.state_dict(), final)


def test_one_process_shards_accumulate_to_the_batch_gradient(tmp_path, make_cifar_dir):
    """Two shards in one process: a valid training (the batch mean gradient), not the one-shard run's streams;
    BatchNorm statistics move; the symbol classifier (dropout) trains too; bad shard counts are refused."""
    data_root = make_cifar_dir(tmp_path / "data")
    for classify_from in ("image", "symbols"):
        t = _trainer(data_root, tmp_path / classify_from, shards=2, classify_from=classify_from)
        before = {k: v.clone() for k, v in t.system.state_dict().items()}
        t.fit(max_steps=2, show_progress=False)
        after = t.system.state_dict()
        assert all(torch.isfinite(v.float()).all() for v in after.values())
        changed = [k for k in before if not torch.equal(before[k], after[k])]
        assert any("running_mean" in k for k in changed) and any(k.startswith("codec") for k in changed)
        assert any(k.endswith("num_batches_tracked") and int(after[k]) == 2 for k in after)  # one per step
    with pytest.raises(ValueError, match="shards need at least 9 images"):
        _trainer(data_root, tmp_path / "x", shards=9)


def test_resume_with_another_shard_count_continues_with_a_note(tmp_path, make_cifar_dir, capsys):
    data_root = make_cifar_dir(tmp_path / "data")
    t = _trainer(data_root, tmp_path / "r")
    t.fit(max_steps=MAX_STEPS, show_progress=False, time_budget_s=0.0)
    assert "shards" not in load_resume_state(tmp_path / "r" / "resume.pt")  # the one-process file as before
    again = _trainer(data_root, tmp_path / "r", shards=2)
    again.resume()
    assert "continuing with 2" in capsys.readouterr().err and again.step == 1
    again.fit(max_steps=MAX_STEPS, show_progress=False)
    assert again.step == MAX_STEPS and load_resume_state(tmp_path / "r" / "resume.pt")["shards"] == 2


def test_torchrun_cli_two_processes_one_summary_and_the_parallel_metadata(tmp_path, make_cifar_dir, tiny_scenario):
    """The command itself under torchrun (2 gloo processes), then resumed by the plain command."""
    import os
    import subprocess

    from sionna_semcomm.checkpoints import load_weights
    from sionna_semcomm.train import main as train_main

    data = make_cifar_dir(tmp_path / "data")
    scenario = tiny_scenario("[train]\nepochs = 1\nbatch_size = 16\neval_every = 2\n")
    base = ["--scenario", str(scenario), "--data-dir", str(data), "--no-progress", "--device", "cpu", "--max-steps", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "sionna_semcomm.train", *base, "--out-dir", str(tmp_path / "two"), "--time-budget", "0.001"],
                          capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count('"out_dir"') == 1  # one summary line: rank 0's
    assert done.stderr.count("parallel: 2 process(es) (gloo), 2 shards per batch, global batch 16 (8 per process)") == 1
    assert load_resume_state(tmp_path / "two" / "resume.pt")["step"] == 1
    # the plain command resumes it (shards 2 from resume.pt) and ends where a one-process --shards 2 run ends
    train_main(base + ["--out-dir", str(tmp_path / "two"), "--resume"])
    train_main(base + ["--out-dir", str(tmp_path / "one"), "--shards", "2"])
    a, meta = load_weights(tmp_path / "two" / "last.safetensors")
    b, _ = load_weights(tmp_path / "one" / "last.safetensors")
    _assert_same_weights(a, b)
    assert meta["parallel"]["shards"] == 2 and meta["step"] == 3


def test_trainers_without_a_process_group_refuse_several_torchrun_processes(monkeypatch, tmp_path):
    from sionna_semcomm.train import run_training

    class Dummy:
        pass

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(SystemExit, match="Dummy trains in one process only"):
        run_training(Dummy(), tmp_path, False, None, False)


@pytest.mark.parametrize("make", ["_defense_trainer", "_defense_trainer_refreshed"])
def test_defense_two_gloo_processes_train_like_one_process_with_two_shards(tmp_path, make_cifar_dir, make):
    """The adversarial (SemMixed) trainer in 2 gloo processes == 1 process with --shards 2: one mixing draw per
    global batch, every shard's attack streams its own; with refreshed generators every process refreshes them
    alike; resume across process counts; rank 1 writes nothing."""
    data_root = make_cifar_dir(tmp_path / "data")
    make_trainer = globals()[make]
    one = make_trainer(data_root, tmp_path / "one", shards=2)
    gens0 = [{k: v.clone() for k, v in a.net.state_dict().items()} for a in one.attacks]
    _three_steps(one)
    shutil.copytree(tmp_path / "one", tmp_path / "one3")
    at3 = {k: v.clone() for k, v in one.system.state_dict().items()}
    one.fit(max_steps=MAX_STEPS, show_progress=False)
    final = one.system.state_dict()
    assert sum(one.draw_counts.values()) == MAX_STEPS  # one draw per global batch, an attack every time

    refreshed = [not all(torch.equal(v, g[k]) for k, v in a.net.state_dict().items()) for a, g in zip(one.attacks, gens0)]
    assert any(refreshed) == (make == "_defense_trainer_refreshed")
    mp.start_processes(_worker, args=(2, str(tmp_path / "pg"), data_root, tmp_path, make), nprocs=2,
                       join=True, start_method="spawn")

    ddp_state = load_resume_state(tmp_path / "ddp" / "resume.pt")
    assert ddp_state["step"] == 3 and ddp_state["shards"] == 2 and ddp_state["world_size"] == 2
    assert len(ddp_state["shard_rng"]["1"]["attack_rngs"]) == 3  # rank 1's attack streams, gathered by rank 0
    _assert_same_weights(ddp_state["model"], at3)
    from sionna_semcomm.checkpoints import load_weights

    two_end, meta = load_weights(tmp_path / "one3" / "last.safetensors")
    _assert_same_weights(two_end, final)
    assert meta["step"] == MAX_STEPS and meta["parallel"]["world_size"] == 2 and "defense" in meta
    hist = json.loads((tmp_path / "one3" / "history.json").read_text())["history"]
    assert [h["val_pgm_accuracy"] for h in hist] == pytest.approx([h["val_pgm_accuracy"] for h in one.history])
    assert [h["train_loss"] for h in hist] == pytest.approx([h["train_loss"] for h in one.history], rel=1e-4)
    assert json.loads((tmp_path / "rank1_writes.txt").read_text()) == []
    again = make_trainer(data_root, tmp_path / "ddp")  # 2 processes -> 1 (shards 2 from resume.pt)
    again.resume()
    assert again.shards == 2
    again.fit(max_steps=MAX_STEPS, show_progress=False)
    _assert_same_weights(again.system.state_dict(), final)
    assert again.draw_counts == one.draw_counts
    for a, b in zip(again.attacks, one.attacks):
        _assert_same_weights(a.net.state_dict(), b.net.state_dict())


def test_defense_torchrun_cli_two_processes_equal_one_process_with_two_shards(tmp_path, make_cifar_dir, tiny_scenario):
    """python -m sionna_semcomm.defense under torchrun (2 gloo processes) == the plain command with --shards 2."""
    import dataclasses

    from baselines.attacks import PGM
    from sionna_semcomm.attacks import GeneratorConfig, SemAdv
    from sionna_semcomm.attacks.generator import save_generator
    from sionna_semcomm.defense import main as defense_main
    from sionna_semcomm.link.ofdm import OFDMLink
    from sionna_semcomm.scenario import load_scenario
    from sionna_semcomm.train import model_config_for

    data = make_cifar_dir(tmp_path / "data")
    scenario = tiny_scenario("[train]\nbatch_size = 16\neval_every = 2\n")
    sc = load_scenario(str(scenario))
    torch.manual_seed(0)
    system = SemanticSystem(model_config_for(sc))
    system.save(tmp_path / "system.safetensors", {"scenario": sc.name})
    link = OFDMLink(system.num_symbols, dataclasses.replace(sc.link, normalize="per_example", num_data_ofdm_symbols=None))
    gen = GeneratorConfig(seed_dim=8, hidden=16, num_blocks=1)
    save_generator(tmp_path / "semadv.safetensors", SemAdv(system, link, -6.0, target_class=1, generator_config=gen))
    save_generator(tmp_path / "pgm.safetensors", PGM(system, link, -6.0, generator_config=gen))
    base = ["--scenario", str(scenario), "--data-dir", str(data), "--no-progress", "--device", "cpu", "--max-steps", "3",
            "--checkpoint", str(tmp_path / "system.safetensors"), "--variant", "semmixed",
            "--generator", str(tmp_path / "semadv.safetensors"), str(tmp_path / "pgm.safetensors")]
    meta = _torchrun_equals_shards(tmp_path, "sionna_semcomm.defense", base, defense_main)
    assert meta["parallel"]["shards"] == 2 and meta["parallel"]["world_size"] == 2 and meta["step"] == 3


def _generator_trainer(data_root, out, shards=None):
    """A SemAdv generator (controllable: also the label streams matter) against the tiny, untrained system."""
    from sionna_semcomm.attacks import AttackTrainConfig, GeneratorConfig, GeneratorTrainer, SemAdv
    from sionna_semcomm.data import load_dataset
    from sionna_semcomm.link.ofdm import OFDMLink

    train = load_dataset("cifar10", "train", data_root, val_fraction=0.25)  # 36 images: 5 steps of 8 per epoch
    val = load_dataset("cifar10", "val", data_root, val_fraction=0.25)
    torch.manual_seed(0)
    system = SemanticSystem(TINY).eval()
    link = OFDMLink(system.num_symbols, LinkConfig(channel=ChannelSpec("rayleigh_multipath", num_taps=4),
                                                   equalizer="lmmse"), seed=0)
    atk = SemAdv(system, link, -6.0, target_class=[1, 2], generator_config=GeneratorConfig(seed_dim=8, hidden=16, num_blocks=1))
    cfg = AttackTrainConfig(epochs=2, batch_size=8, lr=1e-2, snr_min_db=5, snr_max_db=15)
    return GeneratorTrainer(atk, train, val, cfg, out, seed=0, shards=shards)


def _generator_worker(rank, world, init_file, data_root, tmp):
    """One process of a gloo group: (a) one epoch from scratch in tmp/ddp; (b) the one-process run of tmp/one1
    resumed to the end; rank 1 records the files it writes under tmp."""
    import torch.distributed as dist

    torch.set_num_threads(1)
    writes = _record_writes(tmp) if rank == 1 else []
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        ddp = _generator_trainer(data_root, tmp / "ddp")
        assert ddp.shards == world and ddp._own == [rank]
        ddp.fit(epochs=1, show_progress=False)
        resumed = _generator_trainer(data_root, tmp / "one1")
        resumed.resume()  # written by one process with 2 shards
        resumed.fit(show_progress=False)
        if rank == 1:
            (tmp / "rank1_writes.txt").write_text(json.dumps([w for w in writes if "rank1_writes" not in w]))
        del ddp, resumed
        dist.barrier()
    finally:
        gc.collect()
        dist.destroy_process_group()


def test_generator_two_gloo_processes_train_like_one_process_with_two_shards(tmp_path, make_cifar_dir):
    """The SemAdv/PGM generator trainer in 2 gloo processes == 1 process with 2 shards; resume across process
    counts (both ways); rank 1 writes nothing; 2 shards differ from 1 (their own streams) but train."""
    from sionna_semcomm.checkpoints import load_weights

    data_root = make_cifar_dir(tmp_path / "data")
    one = _generator_trainer(data_root, tmp_path / "one", shards=2)
    one.fit(epochs=1, show_progress=False)
    shutil.copytree(tmp_path / "one", tmp_path / "one1")
    at1 = {k: v.clone() for k, v in one.attack.net.state_dict().items()}
    one.fit(show_progress=False)
    final = one.attack.net.state_dict()
    single = _generator_trainer(data_root, tmp_path / "single")
    single.fit(show_progress=False)
    assert not torch.equal(single.attack.net.state_dict()["net.0.weight"], final["net.0.weight"])
    assert "parallel" not in json.loads((tmp_path / "single" / "history.json").read_text())["metadata"]

    mp.start_processes(_generator_worker, args=(2, str(tmp_path / "pg"), data_root, tmp_path), nprocs=2, join=True,
                       start_method="spawn")

    ddp_state = load_resume_state(tmp_path / "ddp" / "resume.pt")
    assert ddp_state["epoch"] == 1 and ddp_state["shards"] == 2 and ddp_state["world_size"] == 2
    assert set(ddp_state["shard_rng"]) == {"1"}  # rank 1's streams, gathered by rank 0
    _assert_same_weights(ddp_state["net"], at1)
    two_end, meta = load_weights(tmp_path / "one1" / "last.safetensors")
    _assert_same_weights(two_end, final)
    assert meta["epoch"] == 2 and meta["parallel"]["world_size"] == 2 and meta["parallel"]["global_batch_size"] == 8
    hist = json.loads((tmp_path / "one1" / "history.json").read_text())["history"]
    assert [h["val_loss"] for h in hist] == pytest.approx([h["val_loss"] for h in one.history], rel=1e-4)
    assert [h["train_loss"] for h in hist] == pytest.approx([h["train_loss"] for h in one.history], rel=1e-4)
    assert json.loads((tmp_path / "rank1_writes.txt").read_text()) == []
    again = _generator_trainer(data_root, tmp_path / "ddp")  # 2 processes -> 1 (shards 2 from resume.pt)
    again.resume()
    assert again.shards == 2
    again.fit(show_progress=False)
    _assert_same_weights(again.attack.net.state_dict(), final)
    with pytest.raises(ValueError, match="shards need at least 5 images"):
        _generator_trainer(data_root, tmp_path / "x", shards=5)  # the epoch's last batch has 4


def test_attack_train_torchrun_cli_two_processes_equal_one_process_with_two_shards(tmp_path, make_cifar_dir, tiny_scenario):
    """python -m sionna_semcomm.attack train under torchrun (2 gloo processes) == the plain command with --shards 2."""
    from sionna_semcomm.attack import main as attack_main
    from sionna_semcomm.scenario import load_scenario
    from sionna_semcomm.train import model_config_for

    data = make_cifar_dir(tmp_path / "data")
    scenario = tiny_scenario("[train]\nbatch_size = 16\n")
    sc = load_scenario(str(scenario))
    torch.manual_seed(0)
    SemanticSystem(model_config_for(sc)).save(tmp_path / "system.safetensors", {"scenario": sc.name})
    base = ["train", "--scenario", str(scenario), "--data-dir", str(data), "--no-progress", "--device", "cpu",
            "--checkpoint", str(tmp_path / "system.safetensors"), "--attack", "pgm", "--psr-db", "-6", "--epochs", "1",
            "--max-steps", "2", "--seed-dim", "8", "--hidden", "16", "--num-blocks", "1"]
    meta = _torchrun_equals_shards(tmp_path, "sionna_semcomm.attack", base, attack_main)
    assert meta["parallel"]["shards"] == 2 and meta["attack"] == "pgm"
    with pytest.raises(SystemExit, match="17 shards need at least 17 images"):
        attack_main(base + ["--out-dir", str(tmp_path / "bad"), "--shards", "17"])
