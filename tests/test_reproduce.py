"""The robustness matrix's bookkeeping, the reproduction cache, and ``reproduce --quick`` end to end."""

import json

import pytest
import torch

from sionna_semcomm.reproduce import config_key
from sionna_semcomm.reproduce.cli import main as reproduce_main
from sionna_semcomm.robustness import matrix_markdown, rows_from_runs, semadv_per_class, summary, worst_case


def _run(attack, acc, per_class, psr=-6.0, target=None, snr=10.0, psnr=20.0):
    res = {"snr_db": [snr], "accuracy": [acc], "psnr": [psnr], "ssim": [0.5],
           "per_class": {"accuracy": [per_class], "psnr": [[psnr] * len(per_class)], "ssim": [[0.5] * len(per_class)]}}
    doc = {"results": res}
    if attack != "none":
        doc["attack"] = {"name": attack, "psr_db": psr, "target_class": target, "controllable_class": None}
        res["innocent_accuracy"] = [acc]
    return [doc]


def test_worst_case_and_per_class_views():
    rows = rows_from_runs(_run("none", 0.9, [0.9, 0.9, 0.9]), "d", "none")
    rows += rows_from_runs(_run("jamming", 0.8, [0.7, 0.9, 0.8]), "d", "white-box")
    rows += rows_from_runs(_run("pgm", 0.5, [0.6, 0.3, 0.6], psnr=15.0), "d", "adaptive")
    rows += rows_from_runs(_run("semadv", 0.85, [0.2, 0.9, 0.9], target=0), "d", "adaptive")
    rows += rows_from_runs(_run("semadv", 0.80, [0.9, 0.6, 0.9], target=1), "d", "adaptive")
    rows += rows_from_runs(_run("semadv", 0.70, [0.1, 0.9, 0.9], target=0), "d", "transfer")
    rows += rows_from_runs(_run("pgm", 0.1, [0.1, 0.1, 0.1], psr=-2.0), "d", "adaptive")  # another PSR: not mixed in
    w = worst_case(rows, "d", 10.0, -6.0)
    assert w["num_attacks"] == 5
    assert w["accuracy"] == 0.5 and w["accuracy_attack"] == "pgm (adaptive)"
    assert w["per_class"] == [0.1, 0.3, 0.6]  # class 0's worst is the transferred SemAdv: worst case spans sources
    assert w["per_class_attack"][0] == "semadv-t0 (transfer)" and w["psnr"] == 15.0
    assert semadv_per_class(rows, "d", 10.0, -6.0) == {0: 0.2, 1: 0.6}
    assert semadv_per_class(rows, "d", 10.0, -6.0, "transfer") == {0: 0.1}
    s = summary(rows, ["d"], 10.0, -6.0)["d"]
    assert s["clean_accuracy"] == 0.9 and s["semadv_adaptive"]["target_accuracy"] == pytest.approx(0.4)
    assert s["semadv_adaptive"]["target_std"] == pytest.approx(((0.2 - 0.4) ** 2 + (0.6 - 0.4) ** 2) ** 0.5)
    table = matrix_markdown(rows, ["d"], 10.0, [-6.0])
    assert "| d | 90.0 | 80.0 | - | 50.0 | - | 40.0 ± 28.3 |" in table and "50.0 (pgm (adaptive))" in table
    assert worst_case(rows, "d", 10.0, -6.0, exclude=("pgm",))["accuracy"] == 0.7  # the transferred SemAdv
    assert worst_case(rows, "d", 10.0, -4.0) is None


def test_config_key_is_canonical():
    assert config_key({"a": 1, "b": [1, 2]}) == config_key({"b": [1, 2], "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory, make_cifar_dir):
    """``reproduce all --quick`` once on a tiny generated CIFAR-10 folder (shared by the tests below)."""
    root = tmp_path_factory.mktemp("repro")
    data = make_cifar_dir(root / "data", n=40)
    out = root / "out"
    argv = ["all", "--quick", "--datasets", "cifar10", "--data-dir", str(data), "--out-dir", str(out), "--device", "cpu",
            "--no-progress", "--num-images", "20", "--matrix-snr-db", "5"]
    results = reproduce_main(argv)
    return argv, out, results


def test_reproduce_quick_end_to_end(quick_run):
    argv, out, results = quick_run
    assert set(results) == {"table3", "table4", "fig6", "fig7", "fig8", "fig9"}
    report = (out / "REPORT.md").read_text()
    for title in ("Table III", "Table IV", "Fig. 6", "Fig. 8", "Fig. 9"):
        assert title in report
    assert "skipped (MNIST not selected)" in report  # fig7 is MNIST's
    for name in ("fig6_cifar10.png", "fig8_cifar10_psr-6.png", "fig9_cifar10.png"):
        assert (out / name).stat().st_size > 1000
    fig8 = json.loads((out / "fig8.json").read_text())
    summ = fig8["data"]["cifar10"]["summary"]
    assert set(summ) == {"none", "finetune", "at-pgm", "at-semadv", "semmixed"}
    for d, e in summ.items():
        assert 0 <= e["clean_accuracy"] <= 1 and e["worst"]["num_attacks"] >= 4
        assert set(e["semadv_adaptive"]["per_class"]) <= {"2", "5", 2, 5}
    # every hardened system is a new checkpoint, and the adaptive attacks differ from the transferred ones
    shas = {v["sha256"] for v in fig8["data"]["cifar10"]["systems"].values()}
    assert len(shas) == 5
    rows = fig8["data"]["cifar10"]["rows"]
    assert {r["source"] for r in rows} == {"none", "white-box", "adaptive", "transfer"}
    for r in rows:
        if r["attack"] != "none":
            assert r["measured_psr_db"] == pytest.approx(-6.0, abs=1.0)
    assert {r["snr_db"] for r in rows} == {10.0, 5.0}  # the matrix at the extra SNR too
    assert "**SNR 5 dB, PSR -6 dB**" in (out / "fig8.md").read_text()
    t4 = json.loads((out / "table4.json").read_text())["data"]
    assert t4["mobilesc"]["ofdm_symbols"] == 7 and t4["jpeg2000-ldpc-bpsk"]["ofdm_symbols"] > t4["jpeg2000-ldpc-64qam"]["ofdm_symbols"]


def test_reproduce_cache_returns_the_same_numbers_without_recompute(quick_run, monkeypatch):
    argv, out, _ = quick_run
    before = {n: json.loads((out / f"{n}.json").read_text())["data"] for n in ("table4", "fig6", "fig8", "fig9")}

    def forbidden(*a, **k):
        raise AssertionError("recomputed a cached step")

    import sionna_semcomm.attack
    import sionna_semcomm.defense
    import sionna_semcomm.link.cli
    import sionna_semcomm.models

    for mod, name in ((sionna_semcomm.link.cli, "main"), (sionna_semcomm.attack, "main"),
                      (sionna_semcomm.defense, "main"), (sionna_semcomm.models, "table3")):
        monkeypatch.setattr(mod, name, forbidden)
    reproduce_main(argv)
    after = {n: json.loads((out / f"{n}.json").read_text())["data"] for n in before}
    assert after == before


def test_reproduce_resumes_an_interrupted_link_run(quick_run, monkeypatch):
    """A results file with an unfinished run is resumed (finished points kept), not trusted as a cache hit."""
    argv, out, _ = quick_run
    path = next((out / "cache" / "rayleigh_cifar" / "results").glob("none-sweep-clean-*.json"))
    doc = json.loads(path.read_text())
    doc["runs"][0]["complete"] = False
    path.write_text(json.dumps(doc))
    calls = []
    import sionna_semcomm.link.cli

    real = sionna_semcomm.link.cli.main

    def spy(a):
        calls.append(a)
        return real(a)

    monkeypatch.setattr(sionna_semcomm.link.cli, "main", spy)
    reproduce_main(["fig9", *argv[1:]])
    assert len(calls) == 1 and "--resume" in calls[0]
    assert json.loads(path.read_text())["runs"][0]["complete"] is True


def test_reproduce_errors(tmp_path, capsys):
    with pytest.raises(SystemExit):
        reproduce_main(["fig10"])
    with pytest.raises(SystemExit):
        reproduce_main(["fig8", "--matrix-snr-db", "nan"])
    assert "--matrix-snr-db: SNR must be finite" in capsys.readouterr().err


def test_reproduce_imagenet10_trains_its_base_system_first(tmp_path):
    """ImageNet-10 has no shipped weights: the pipeline trains MobileSC on the folder, then attacks it."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256] / 255.0
    for split, n in (("train", 2), ("test", 1)):
        for c in range(10):
            folder = tmp_path / "imagenet" / split / f"n{c:08d}"
            folder.mkdir(parents=True)
            for k in range(n):
                img = np.stack([yy * (c % 3) / 2, xx * (c % 5) / 4, (yy + xx) / 2], -1) * 200 + rng.normal(0, 8, (256, 256, 3))
                Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(folder / f"{k}.png")
    out = tmp_path / "out"
    reproduce_main(["fig6", "--quick", "--datasets", "--imagenet-dir", str(tmp_path / "imagenet"), "--out-dir", str(out),
                    "--device", "cpu", "--no-progress", "--num-images", "10"])
    systems = out / "cache" / "rayleigh_imagenet10" / "systems"
    trained = sorted(p.parent.name.rsplit("-", 1)[0] for p in systems.glob("*/best.safetensors"))
    assert trained == ["mobilesc", "mobilesc-symbols"]  # the base system, then its symbol classifier (Fig. 6 c/e)
    data = json.loads((out / "fig6.json").read_text())["data"]
    assert list(data) == ["imagenet10"]
    rows = {r["attack"]: r for r in data["imagenet10"]["rows"]}
    assert {"none", "jamming", "pgd", "pgm", "semadv"} <= set(rows)
    assert rows["none"]["per_class"]["psnr"][0] is not None and len(rows["none"]["per_class"]["accuracy"]) == 10
    with pytest.raises(SystemExit, match="needs train/<class>/ and test/<class>/"):
        reproduce_main(["fig6", "--imagenet-dir", str(tmp_path)])


def test_shipped_symbol_system_is_reused_only_on_the_same_codec():
    """The reproduction reuses the shipped symbol classifier only when its codec tensors are the base system's."""
    from sionna_semcomm.reproduce.pipeline import _same_codec

    base = {"codec.w": torch.ones(3), "classifier.w": torch.zeros(2)}
    assert _same_codec({"codec.w": torch.ones(3), "classifier.x": torch.ones(5)}, base)
    assert not _same_codec({"codec.w": torch.ones(3) * 2, "classifier.x": torch.ones(5)}, base)
    assert not _same_codec({"codec.v": torch.ones(3)}, base)
    assert not _same_codec({}, {})


def test_reproduce_runs_on_a_chosen_undefended_system(tmp_path):
    """``--system mnist=semmixed`` (or a file) replaces the shipped weights as the base of every step, and the
    report names the system it ran on."""
    import argparse

    from sionna_semcomm.checkpoints import sha256_file
    from sionna_semcomm.learned import pretrained_checkpoint
    from sionna_semcomm.reproduce import QUICK, Pipeline
    from sionna_semcomm.reproduce.cli import _report, setup_args

    args = setup_args().parse_args(["fig6", "--system", "mnist=semmixed", "cifar10=" + __file__])
    assert args.system == [("rayleigh_mnist", "semmixed"), ("rayleigh_cifar", __file__)]
    pl = Pipeline(tmp_path / "out", QUICK, systems=dict(args.system), show_progress=False)
    path, sha = pretrained_checkpoint("rayleigh_mnist", "mobilesc", "semmixed")
    assert pl.base_system("rayleigh_mnist") == {"path": str(path), "sha256": sha}
    assert pl.base_system("rayleigh_cifar") == {"path": __file__, "sha256": sha256_file(__file__)}
    with pytest.raises(SystemExit, match="--system semmixed: no pretrained mobilesc weights ship for scenario 'rayleigh_imagenet10'"):
        Pipeline(tmp_path / "out", QUICK, systems={"rayleigh_imagenet10": "semmixed"}).base_system("rayleigh_imagenet10")
    default = Pipeline(tmp_path / "out", QUICK).base_system("rayleigh_mnist")
    assert default["sha256"] == pretrained_checkpoint("rayleigh_mnist", "mobilesc")[1] != sha
    report = _report(tmp_path / "out", QUICK, argparse.Namespace(seed=0), pl.base_systems).read_text()
    assert (f"Undefended systems: rayleigh_cifar: `test_reproduce.py` (sha256 {sha256_file(__file__)[:8]}...); "
            f"rayleigh_mnist: `{path.name}` (sha256 {sha[:8]}...)") in report


def test_reproduce_amp_reaches_every_training_step_and_keeps_float32_cache_keys(tmp_path, capsys):
    """``--amp bf16`` puts ``--amp bf16`` into the generator and defence commands (each command's parser takes it)
    and so into their cache keys; without it the commands, hence the keys of earlier float32 runs, are unchanged."""
    import argparse
    import dataclasses

    from sionna_semcomm.attack import setup_args as attack_args
    from sionna_semcomm.defense import setup_args as defense_args
    from sionna_semcomm.reproduce import QUICK, Pipeline
    from sionna_semcomm.reproduce.cli import _report, setup_args

    assert setup_args().parse_args(["fig8"]).amp == "none"
    with pytest.raises(SystemExit):
        setup_args().parse_args(["fig8", "--amp", "fp16"])
    assert "argument --amp: invalid choice: 'fp16'" in capsys.readouterr().err
    system = {"path": __file__, "sha256": "0" * 64}
    tasks = {}
    for amp in ("none", "bf16"):
        pl = Pipeline(tmp_path / "out", dataclasses.replace(QUICK, amp=amp), show_progress=False)
        generator = pl.generator_task("rayleigh_cifar", system, "semadv", target_class=2, epochs=1, psr_db=-6)
        defense = pl.defense_task("rayleigh_cifar", system, "semmixed", [system, system], psr_db=-6)
        tasks[amp] = (generator, defense)
        for t, parser in ((generator, attack_args()), (defense, defense_args())):
            parsed = parser.parse_args(t.argv)
            assert getattr(parsed, "amp") == (None if amp == "none" and t is defense else amp)
            assert ("--amp" in t.argv) is (amp == "bf16")
    for f32, bf16 in zip(*tasks.values()):
        out_f32, out_bf16 = f32.argv[f32.argv.index("--out-dir") + 1], bf16.argv[bf16.argv.index("--out-dir") + 1]
        assert out_f32 != out_bf16  # a bf16 run never reuses (or overwrites) a float32 step
        assert [a for a in bf16.argv if a not in ("--amp", "bf16", out_bf16)] == [a for a in f32.argv if a != out_f32]
    report = _report(tmp_path / "out", dataclasses.replace(QUICK, amp="bf16"), argparse.Namespace(seed=0)).read_text()
    assert "every training with bf16 autocast" in report
    assert "autocast" not in _report(tmp_path / "out", QUICK, argparse.Namespace(seed=0)).read_text()


def test_a_reproduction_worker_stops_taking_commands_after_an_interrupted_one(monkeypatch, capsys):
    """A failed command is answered and the next one runs; after an interrupted one (exit 130: Ctrl-C / SIGTERM)
    the worker reads no further command and exits 130."""
    import io

    from sionna_semcomm.reproduce import pipeline, worker

    ran = []

    def fake(code):
        def main(argv):
            ran.append(argv[0])
            raise SystemExit(code)
        return lambda: main

    monkeypatch.setitem(pipeline._MAINS, "fail", fake(1))
    monkeypatch.setitem(pipeline._MAINS, "stop", fake(130))
    monkeypatch.setitem(pipeline._MAINS, "ok", fake(0))
    commands = io.StringIO("".join(json.dumps({"module": m, "label": m, "argv": [m]}) + "\n"
                                   for m in ("fail", "ok", "stop", "ok")))
    answers = io.StringIO()
    assert worker.serve(commands, answers) == 130
    assert ran == ["fail", "ok", "stop"]  # the last command was not taken
    got = [json.loads(line) for line in answers.getvalue().splitlines()]
    assert [(a["label"], a["error"], a["interrupted"]) for a in got] == [
        ("fail", "exit 1", False), ("ok", None, False), ("stop", "exit 130", True)]
    assert "interrupted: stop; this worker takes no further command" in capsys.readouterr().out


def test_a_reproduction_worker_answers_on_its_pipe_and_logs_everything_else(tmp_path):
    """The real worker process: one JSON answer a command on stdout, the commands' own output (here the link
    command's help and its usage error) in its log file."""
    import subprocess
    import sys

    log = tmp_path / "w.log"
    commands = "".join(json.dumps({"module": "link", "label": label, "argv": argv}) + "\n"
                       for label, argv in (("help", ["--help"]), ("bad", ["--no-such-option"])))
    done = subprocess.run([sys.executable, "-m", "sionna_semcomm.reproduce.worker", str(log)], input=commands,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    answers = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(a["label"], a["error"]) for a in answers] == [("help", None), ("bad", "exit 2")]
    text = log.read_text()
    assert "--scenario" in text and "unrecognized arguments: --no-such-option" in text and done.stderr == ""


#: a stand-in for the worker (the same protocol): "ok" answers at once, "fail" fails, "stop" is interrupted (and the
#: worker exits 130), "wait F" answers once the file F exists, "touch F" creates it
_FAKE_WORKER = """
import json, os, sys, time
for line in sys.stdin:
    task = json.loads(line)
    what, *arg = task["argv"][0].split()
    if what == "wait":
        t0 = time.time()
        while not os.path.exists(arg[0]) and time.time() - t0 < 60:
            time.sleep(0.02)
    if what == "touch":
        open(arg[0], "w").close()
    with open(sys.argv[1], "a") as log:
        log.write("output of " + task["label"] + "\\n")
    print(json.dumps({"label": task["label"], "seconds": 0.5, "error": {"fail": "exit 1", "stop": "exit 130"}.get(what),
                      "interrupted": what == "stop"}), flush=True)
    if what == "stop":
        sys.exit(130)
"""


class _Step:
    def __init__(self, what):
        self.module, self.label, self.argv = "link", what.split()[0], [what]


def _fake_pipeline(tmp_path, monkeypatch, jobs=2):
    import sys

    from sionna_semcomm.reproduce import QUICK, Pipeline

    pl = Pipeline(tmp_path / "out", QUICK, jobs=jobs, threads=1, show_progress=False)
    monkeypatch.setattr(pl, "_worker_command", lambda: [sys.executable, "-c", _FAKE_WORKER])
    return pl


def test_reproduce_workers_take_the_next_command_when_they_are_free(tmp_path, monkeypatch, capsys):
    """``--jobs 2``: a worker busy with a long command holds back none of the others. Here the first command waits
    for a file that only the last one creates: with the commands dealt out in advance (worker 0: the first and the
    third) it would wait for ever; taken from one queue, the other worker runs the rest and frees it."""
    gate = tmp_path / "gate"
    pl = _fake_pipeline(tmp_path, monkeypatch)
    pl._run_parallel([_Step(f"wait {gate}"), _Step("ok"), _Step(f"touch {gate}"), _Step("ok")])
    err = capsys.readouterr().err
    assert err.count(" started (") == 4 and "(4/4 ended)" in err and "failed" not in err
    assert err.index("touch started") < err.index("wait done")


def test_reproduce_workers_report_failures_together_and_stop_after_an_interruption(tmp_path, monkeypatch, capsys):
    """A failed command does not stop the others; the failures are raised together with their output. An
    interrupted command (Ctrl-C / SIGTERM) ends the run as an interruption: finished work is kept, no new step
    starts."""
    pl = _fake_pipeline(tmp_path, monkeypatch)
    with pytest.raises(RuntimeError, match=r"steps failed: fail \(log .*worker-.*\.log\):\n(.|\n)*output of fail"):
        pl._run_parallel([_Step("fail"), _Step("ok"), _Step("ok")])
    err = capsys.readouterr().err
    assert "fail failed" in err and err.count("ok done") == 2
    with pytest.raises(KeyboardInterrupt):
        _fake_pipeline(tmp_path, monkeypatch)._run_parallel([_Step("stop"), _Step("ok")])
    assert "stop interrupted" in capsys.readouterr().err


def test_killing_the_reproduction_stops_its_worker_processes():
    """``kill PID`` of the main process (SIGTERM, a ``KeyboardInterrupt`` under ``interrupt_on_signals``, as
    ``reproduce`` runs) or Ctrl-C: the ``--jobs N`` workers still running get SIGTERM and are waited for, so none
    goes on after the main process."""
    import os
    import signal
    import subprocess
    import sys
    import threading

    from sionna_semcomm.reproduce.pipeline import stop_subprocesses_on_interrupt
    from sionna_semcomm.runtime import interrupt_on_signals

    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(2)]
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM))
    try:
        with pytest.raises(KeyboardInterrupt), interrupt_on_signals():
            with stop_subprocesses_on_interrupt([*procs, done], grace_s=0.1, timeout_s=20):
                timer.start()
                for p in procs:
                    p.wait()
    finally:
        timer.cancel()
        for p in procs:
            p.kill()
    assert [p.returncode for p in procs] == [-signal.SIGTERM] * 2 and done.returncode == 0
