"""Results files only grow: ``--resume`` merges, a kill never lowers the finished points, and a point
interrupted mid-way continues from its in-point checkpoint, bit-identical to an uninterrupted run."""

import json

import pytest

from sionna_semcomm import store as store_mod
from sionna_semcomm.link import cli
from sionna_semcomm.link.bits import BitLink

BITS = ["--scenario", "awgn_bits", "--num-bits", "2000", "--no-progress", "--device", "cpu"]


def _runs(path):
    return {r["system"]: r for r in json.loads(path.read_text())["runs"]}


def _finished(path):
    return sum(len(r["results"]["snr_db"]) for r in json.loads(path.read_text())["runs"])


class Killed(Exception):
    """Stands for kill -9: nothing runs after it (the command's handlers do not catch it)."""


def test_resume_merges_other_systems_and_snr_points(tmp_path):
    out = tmp_path / "r.json"
    cli.main(BITS + ["--systems", "uncoded-bpsk", "--snr-db", "1", "3", "--out", str(out)])
    cli.main(BITS + ["--systems", "uncoded-qpsk", "--snr-db", "5", "--out", str(out), "--resume"])
    cli.main(BITS + ["--systems", "uncoded-bpsk", "--snr-db", "7", "--out", str(out), "--resume"])
    runs = _runs(out)
    assert runs["uncoded-bpsk"]["results"]["snr_db"] == [1.0, 3.0, 7.0]
    assert len(runs["uncoded-bpsk"]["results"]["ber"]) == 3 and runs["uncoded-bpsk"]["complete"] is True
    assert runs["uncoded-qpsk"]["results"]["snr_db"] == [5.0]


def test_a_run_without_resume_recomputes_but_keeps_the_other_runs(tmp_path):
    out = tmp_path / "r.json"
    cli.main(BITS + ["--systems", "uncoded-bpsk", "--snr-db", "1", "--out", str(out)])
    cli.main(BITS + ["--systems", "uncoded-qpsk", "--snr-db", "1", "--out", str(out)])
    assert set(_runs(out)) == {"uncoded-bpsk", "uncoded-qpsk"}


def test_a_kill_during_the_replay_never_lowers_the_finished_points(tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    cli.main(BITS + ["--systems", "uncoded-bpsk", "uncoded-qpsk", "--snr-db", "1", "3", "--out", str(out)])
    before = _finished(out)
    seen = []
    real_write = store_mod.write_runs
    monkeypatch.setattr(store_mod, "write_runs", lambda path, runs: seen.append(sum(
        len(r["results"]["snr_db"]) for r in runs)) or real_write(path, runs))

    def killed(self, *a, **kw):
        raise Killed

    monkeypatch.setattr(BitLink, "simulate", killed)
    with pytest.raises(Killed):  # replays 1 and 3 dB of both systems, then dies on the first new point
        cli.main(BITS + ["--systems", "uncoded-bpsk", "uncoded-qpsk", "--snr-db", "1", "3", "5", "--out", str(out),
                         "--resume"])
    assert seen and min(seen) >= before
    assert _finished(out) == before


def _killed_then_resumed(monkeypatch, args, out, cls, method, after):
    """Run ``args`` into ``out`` until call ``after + 1`` of ``cls.method`` dies (a kill -9 mid-point), then run it
    again with ``--resume``; returns (the run stored by the killed command, the resumed results, the number of
    ``cls.method`` calls the resumed command made)."""
    monkeypatch.setattr(cli, "POINT_CHECKPOINT_SECONDS", 0.0)  # checkpoint after every batch
    real, calls = getattr(cls, method), []

    def dies(self, *a, **kw):
        if len(calls) == after:
            raise Killed
        calls.append(1)
        return real(self, *a, **kw)

    monkeypatch.setattr(cls, method, dies)
    with pytest.raises(Killed):
        cli.main(args + ["--out", str(out)])
    stored = next(iter(_runs(out).values()))
    calls.clear()
    monkeypatch.setattr(cls, method, lambda self, *a, **kw: calls.append(1) or real(self, *a, **kw))
    resumed = cli.main(args + ["--out", str(out), "--resume"])[0]["results"]
    assert "partial" not in next(iter(_runs(out).values()))  # the finished point replaced its checkpoint
    return stored, resumed, len(calls)


def test_an_interrupted_bit_point_continues_from_its_checkpoint_bit_for_bit(tmp_path, monkeypatch):
    args = BITS + ["--systems", "ldpc-qpsk", "--snr-db", "2", "--num-bits", "4000", "--batch-size", "1"]
    whole = cli.main(args)[0]["results"]
    stored, resumed, calls = _killed_then_resumed(monkeypatch, args, tmp_path / "r.json", BitLink, "forward", 3)
    assert stored["partial"]["snr_db"] == 2.0 and stored["partial"]["state"]["totals"]["blocks"] == 3
    frames = -(-4000 // 832)  # ldpc-qpsk on awgn_bits: k = 832 information bits per frame
    assert calls == frames - 3  # only the batches after the checkpoint
    assert resumed["ber"] == whole["ber"] and resumed["bler"] == whole["bler"]


def test_an_existing_out_that_is_not_a_results_file_is_refused_before_any_compute(tmp_path, monkeypatch):
    out = tmp_path / "notes.json"
    out.write_text('{"hello": 1}')
    monkeypatch.setattr(BitLink, "simulate", lambda *a, **kw: pytest.fail("computed before refusing --out"))
    with pytest.raises(SystemExit, match="notes.json: cannot merge into it.*'runs' list"):
        cli.main(BITS + ["--systems", "uncoded-bpsk", "--out", str(out)])
    assert json.loads(out.read_text()) == {"hello": 1}


def test_an_interrupted_image_point_under_attack_continues_bit_for_bit(tmp_path, monkeypatch):
    from sionna_semcomm.learned import LearnedImageSystem

    args = ["--scenario", "rayleigh_cifar", "--systems", "mobilesc", "--snr-db", "5", "--num-images", "12",
            "--batch-size", "4", "--attack", "jamming", "--psr-db", "-6", "--no-progress", "--device", "cpu"]
    whole = cli.main(args)[0]["results"]
    stored, resumed, calls = _killed_then_resumed(monkeypatch, args, tmp_path / "r.json", LearnedImageSystem,
                                                  "transmit", 2)
    assert stored["partial"]["state"]["done"] == 8 and calls == 1
    assert resumed == whole
