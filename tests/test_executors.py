"""The Ray executor of the link sweeps: the same numbers as the local one, resume through the store, and a clear
message without Ray. One local Ray cluster for the whole session (``ray_cluster`` in conftest)."""

import json
import sys

import pytest

from sionna_semcomm.link.cli import main

BITS = ["--scenario", "awgn_bits", "--systems", "uncoded-qpsk", "ldpc-qpsk", "--snr-db", "0", "2", "4",
        "--num-bits", "3000", "--seed", "5", "--no-progress", "--device", "cpu"]


def _runs(path):
    return json.loads(path.read_text())["runs"]


def _strip(runs):
    return [{k: v for k, v in r.items() if k not in ("versions",)} for r in runs]


def test_without_ray_the_ray_executor_says_how_to_install_it(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(SystemExit, match=r'pip install -e "\.\[ray\]"'):
        main(BITS + ["--executor", "ray"])
    with pytest.raises(SystemExit, match="apply to --executor ray"):
        main(BITS + ["--workers", "2"])


def test_ray_sweep_equals_the_local_sweep_and_resumes_from_the_store(tmp_path, ray_cluster, monkeypatch):
    local = main(BITS + ["--out", str(tmp_path / "local.json")])
    remote = main(BITS + ["--executor", "ray", "--out", str(tmp_path / "ray.json")])
    assert _strip(remote) == _strip(local)
    assert _strip(_runs(tmp_path / "ray.json")) == _strip(_runs(tmp_path / "local.json"))
    assert all(r["complete"] for r in remote)
    # a store holding the 0 dB points (written by the local executor): Ray computes only the others
    main(BITS[:6] + ["0"] + BITS[9:] + ["--out", str(tmp_path / "mixed.json")])
    from sionna_semcomm import executors

    submitted = []
    real = executors.RayExecutor.run
    monkeypatch.setattr(executors.RayExecutor, "run", lambda self, tasks: real(self, submitted.extend(tasks) or submitted))
    resumed = main(BITS + ["--executor", "ray", "--out", str(tmp_path / "mixed.json"), "--resume"])
    assert sorted((t.system, t.snr_db) for t in submitted) == sorted(
        (s, snr) for s in ("uncoded-qpsk", "ldpc-qpsk") for snr in (2.0, 4.0))
    assert _strip(resumed) == _strip(local)


def test_ray_image_sweep_under_attack_equals_the_local_one(tmp_path, make_cifar_dir, ray_cluster):
    data = make_cifar_dir(tmp_path / "data", n=16)
    args = ["--scenario", "rayleigh_cifar", "--systems", "mobilesc", "--data-dir", str(data), "--num-images", "8",
            "--batch-size", "4", "--snr-db", "5", "15", "--attack", "jamming", "--psr-db", "-10", "--no-progress",
            "--device", "cpu"]
    local = main(args)
    remote = main(args + ["--executor", "ray"])
    assert _strip(remote) == _strip(local)
    assert remote[0]["attack"]["name"] == "jamming" and len(remote[0]["results"]["per_class"]["accuracy"]) == 2


def test_the_ray_executor_gives_back_the_signal_handlers(ray_cluster, monkeypatch):
    import signal

    from sionna_semcomm.executors import RayExecutor

    before = signal.getsignal(signal.SIGTERM)
    ex = RayExecutor()  # joins the session's cluster: nothing replaced, nothing to stop
    ex.shutdown()
    assert signal.getsignal(signal.SIGTERM) == before and ray_cluster.is_initialized()


def test_a_point_split_into_shards_on_ray_equals_the_whole_point_with_early_stop(tmp_path, ray_cluster):
    args = ["--scenario", "rayleigh_bits", "--systems", "uncoded-qpsk", "ldpc-qpsk", "--snr-db", "0", "30",
            "--num-bits", "60000", "--batch-size", "2", "--target-block-errors", "6", "--seed", "2", "--no-progress",
            "--device", "cpu"]
    local = main(args)
    assert local[1]["results"]["stopped_early"] == [True, False]  # LDPC: 0 dB stops early, 30 dB runs its budget
    remote = main(args + ["--executor", "ray", "--point-shards", "3", "--out", str(tmp_path / "r.json")])
    assert _strip(remote) == _strip(local)
    assert _strip(_runs(tmp_path / "r.json")) == _strip(local)


def test_a_task_whose_worker_dies_is_retried_and_the_sweep_completes(tmp_path, ray_cluster, monkeypatch):
    """The worker of the 4 dB point of ldpc-qpsk dies (os._exit) the first time: Ray reruns the task, the other
    points are kept, and the results equal the local sweep's."""
    from sionna_semcomm.executors import RayExecutor, evaluate_point

    marker = tmp_path / "died-once"

    def dies_once(task):
        import os

        if task.system == "ldpc-qpsk" and task.snr_db == 4.0 and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)  # the worker process dies, as under kill -9 or an out-of-memory kill
        return evaluate_point(task)

    local = main(BITS)
    real = RayExecutor.__init__

    def init(self, *a, **kw):
        real(self, *a, **{**kw, "evaluate": dies_once})

    monkeypatch.setattr(RayExecutor, "__init__", init)
    remote = main(BITS + ["--executor", "ray", "--out", str(tmp_path / "r.json")])
    assert marker.exists()  # it did die once
    assert _strip(remote) == _strip(local) and all(r["complete"] for r in _runs(tmp_path / "r.json"))


def test_reproduce_on_ray_equals_the_local_reproduction_and_shares_its_cache(tmp_path, make_cifar_dir, ray_cluster,
                                                                              monkeypatch):
    """``reproduce fig6 --quick`` (generators, the symbol system, link runs): every step a Ray task, the same
    numbers as in this process; then the local executor finds every step cached."""
    from sionna_semcomm.reproduce.cli import main as reproduce_main

    data = make_cifar_dir(tmp_path / "data", n=40)
    base = ["fig6", "--quick", "--datasets", "cifar10", "--data-dir", str(data), "--device", "cpu", "--no-progress",
            "--num-images", "20", "--threads", "1"]
    reproduce_main(base + ["--out-dir", str(tmp_path / "local")])
    reproduce_main(base + ["--out-dir", str(tmp_path / "ray"), "--executor", "ray"])
    data_of = lambda d: json.loads((tmp_path / d / "fig6.json").read_text())["data"]  # noqa: E731
    local, remote = data_of("local"), data_of("ray")
    assert json.dumps(remote, sort_keys=True).replace("/ray/", "/local/") == json.dumps(local, sort_keys=True)
    assert len(list((tmp_path / "ray" / "logs").glob("*.log"))) >= 3  # one log per step run on Ray

    import sionna_semcomm.attack
    import sionna_semcomm.link.cli

    def forbidden(*a, **k):
        raise AssertionError("recomputed a step that Ray finished")

    monkeypatch.setattr(sionna_semcomm.attack, "main", forbidden)
    monkeypatch.setattr(sionna_semcomm.link.cli, "main", forbidden)
    reproduce_main(base + ["--out-dir", str(tmp_path / "ray")])
    with pytest.raises(SystemExit, match="--jobs N is the local executor"):
        reproduce_main(base + ["--out-dir", str(tmp_path / "x"), "--executor", "ray", "--jobs", "2"])
