"""The CPU thread policy: one default for every command, overrides, workers, the --threads option everywhere."""

import io
import subprocess

import pytest
import torch

from sionna_semcomm import runtime
from sionna_semcomm.runtime import THREADS_ENV, apply_threads, busy_cores, default_threads, thread_setting


@pytest.fixture
def no_overrides(monkeypatch):
    for env in (THREADS_ENV, "OMP_NUM_THREADS", "LOCAL_WORLD_SIZE"):
        monkeypatch.delenv(env, raising=False)
    yield monkeypatch
    torch.set_num_threads(1)


def _machine(monkeypatch, cores: int, busy: float | None):
    monkeypatch.setattr(runtime, "usable_cores", lambda: list(range(cores)))
    monkeypatch.setattr(runtime, "busy_cores", lambda cpus=None, window_s=0.1: busy)


def test_free_cores_shared_among_workers(no_overrides):
    _machine(no_overrides, 8, 0.0)
    assert default_threads()[0] == 8 and default_threads(workers=4)[0] == 2 and default_threads(workers=16)[0] == 1
    _machine(no_overrides, 8, 5.2)  # 5 cores kept busy by other processes: 3 left
    assert default_threads()[0] == 3 and default_threads(workers=4)[0] == 2
    _machine(no_overrides, 2, 1.0)  # the 2-core machine with one busy competitor: 1 thread, not 2
    n, reason = default_threads()
    assert n == 1 and "1.0 kept busy" in reason
    _machine(no_overrides, 2, 2.0)
    assert default_threads()[0] == 1  # never fewer than one
    _machine(no_overrides, 8, None)  # no /proc: the affinity share alone
    assert default_threads(workers=3) == (2, "8 usable cores / 3 worker(s)")
    no_overrides.setenv("LOCAL_WORLD_SIZE", "4")  # torchrun ranks on this node
    assert default_threads()[0] == 2


def test_environment_overrides_in_order(no_overrides):
    _machine(no_overrides, 8, 0.0)
    no_overrides.setenv("OMP_NUM_THREADS", "3")
    assert default_threads(workers=8) == (3, "$OMP_NUM_THREADS")
    no_overrides.setenv(THREADS_ENV, "5")
    assert default_threads() == (5, f"${THREADS_ENV}")
    for bad in ("0", "two", "-1"):
        no_overrides.setenv(THREADS_ENV, bad)
        with pytest.raises(ValueError, match=THREADS_ENV):
            default_threads()
    no_overrides.delenv(THREADS_ENV)
    with pytest.raises(ValueError, match="workers"):
        default_threads(workers=0)


def test_apply_sets_torch_and_records(no_overrides):
    assert apply_threads(2) == 2 and torch.get_num_threads() == 2
    assert thread_setting()["threads"] == 2 and thread_setting()["reason"] == "--threads"
    no_overrides.setenv(THREADS_ENV, "1")
    assert apply_threads() == 1 and torch.get_num_threads() == 1 and thread_setting()["reason"] == f"${THREADS_ENV}"
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="threads"):
            apply_threads(bad)


def test_busy_cores_sees_a_busy_process():
    if busy_cores() is None:
        pytest.skip("no /proc/stat here")
    proc = subprocess.Popen(["python", "-c", "while True: pass"])
    try:
        assert busy_cores(window_s=0.3) >= 0.5
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("module,argv", [
    ("sionna_semcomm.link.cli", []), ("sionna_semcomm.train", []), ("sionna_semcomm.defense", []),
    ("sionna_semcomm.attack", ["train", "--attack", "pgm", "--psr-db", "-6"]), ("sionna_semcomm.attack", ["detect"]),
    ("sionna_semcomm.reproduce.cli", ["all"]), ("sionna_semcomm.report", ["table3"]),
    ("sionna_semcomm.report", ["plot", "r.json", "--out", "x.png"]), ("sionna_semcomm.report", ["table4", "r.json"]),
    ("sionna_semcomm.bench", []),
])
def test_every_command_takes_threads(module, argv, tmp_path, monkeypatch):
    import importlib

    monkeypatch.chdir(tmp_path)  # input files are checked while parsing: give report the one it reads
    (tmp_path / "r.json").write_text('{"runs": []}')
    parser = importlib.import_module(module).setup_args()
    assert parser.parse_args(argv + ["--threads", "3"]).threads == 3
    assert parser.parse_args(argv).threads is None
    with pytest.raises(SystemExit):
        parser.parse_args(argv + ["--threads", "0"])


def test_link_command_records_its_threads(tmp_path):
    from sionna_semcomm.link.cli import main

    runs = main(["--scenario", "awgn_bits", "--systems", "uncoded-qpsk", "--snr-db", "4", "--num-bits", "2000",
                 "--no-progress", "--threads", "1", "--out", str(tmp_path / "r.json")])
    assert runs[0]["versions"]["threads"] == {"threads": 1, "reason": "--threads", "usable_cores": len(runtime.usable_cores())}


def test_reproduce_workers_get_their_share(tmp_path, monkeypatch):
    from sionna_semcomm.reproduce.pipeline import QUICK, Pipeline

    seen = []

    class FakeWorker:  # a worker process that answers every command at once
        def __init__(self, cmd, stdin, stdout, stderr, env, text):
            seen.append(env)
            self.returncode = None
            self.stdin = io.StringIO()
            self.stdout = io.StringIO('{"label": "x", "seconds": 0, "error": null, "interrupted": false}\n' * 2)

        def wait(self, timeout=None):
            self.returncode = 0
            return 0

        def poll(self):
            return self.returncode

    monkeypatch.setattr(subprocess, "Popen", FakeWorker)
    pl = Pipeline(tmp_path, QUICK, jobs=2, threads=3)
    pl._run_parallel([_Task("a"), _Task("b")])
    assert len(seen) == 2 and all(e[THREADS_ENV] == "3" and e["OMP_NUM_THREADS"] == "3" for e in seen)


class _Task:
    def __init__(self, label):
        self.module, self.label, self.argv = "link", label, ["--scenario", "awgn_bits"]
