"""After a kill: no stale temporary files pile up, files get ordinary modes, and ``--resume`` with nothing to
resume from starts fresh."""

import os
import stat

import torch

from sionna_semcomm.atomic import atomic_write_json, remove_stale_temps
from sionna_semcomm.checkpoints import save_weights


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_next_write_removes_the_temp_files_of_dead_writers_only(tmp_path):
    dead = tmp_path / ".r.json.999999999.abcd1234.tmp"   # no such pid
    legacy = tmp_path / ".r.json.k2j4h5g6.tmp"           # written before pids were in the name
    alive = tmp_path / f".r.json.{os.getppid()}.abcd1234.tmp"  # a running process is still writing it
    other = tmp_path / ".r.json.bak.999999999.abcd1234.tmp"     # the temp file of "r.json.bak"
    for p in (dead, legacy, alive, other):
        p.write_text("partial")
    atomic_write_json(tmp_path / "r.json", {"runs": []})
    assert not dead.exists() and not legacy.exists() and alive.exists() and other.exists()
    assert remove_stale_temps(tmp_path / "r.json.bak") == [other]


def test_files_are_written_with_the_ordinary_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write_json(tmp_path / "r.json", {})
        save_weights(tmp_path / "w.safetensors", {"w": torch.zeros(2)}, {})
    finally:
        os.umask(old)
    assert _mode(tmp_path / "r.json") == _mode(tmp_path / "w.safetensors") == 0o644


def test_resume_without_a_resume_file_starts_fresh_with_a_note(tmp_path, make_cifar_dir, capsys):
    from sionna_semcomm.train import main

    data = make_cifar_dir(tmp_path / "data")
    scenario = tmp_path / "tiny.toml"
    scenario.write_text("[channel]\nkind = 'awgn'\n[images]\ndataset = 'cifar10'\nnum_symbols = 64\n"
                        "[model]\nclassifier_width = 4\ncodec_hparams = {channels = [8, 8], num_blocks = 1, expansion = 2}\n"
                        "[train]\nbatch_size = 8\n")
    out = tmp_path / "run"
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        main(["--scenario", str(scenario), "--data-dir", str(data), "--out-dir", str(out), "--max-steps", "1",
              "--device", "cpu", "--no-progress", "--resume"])
    finally:
        torch.set_num_threads(old)
    err = capsys.readouterr().err
    assert f"{out / 'resume.pt'} does not exist yet" in err and "starting fresh" in err
    assert (out / "resume.pt").is_file() and (out / "best.safetensors").is_file()
