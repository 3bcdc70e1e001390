"""Fixtures shared by every test folder.

Every test, and every command a test runs, uses one torch thread (the commands' thread policy reads
``$SIONNA_SEMCOMM_THREADS``): on a shared, loaded machine more threads than free cores run several times
slower, and one thread keeps the timings of the suite and its floating-point results the same everywhere.
"""

import os
import pickle

import numpy as np
import pytest
import torch

import sionna_semcomm.link  # noqa: F401 - imports Sionna without torch._dynamo before any test module does
from sionna_semcomm.runtime import THREADS_ENV

os.environ[THREADS_ENV] = "1"
torch.set_num_threads(1)


def cifar_dir(tmp_path, n=48):
    """A tiny CIFAR-10 folder in the official format (class-coloured images): smooth images whose colours depend on the class."""
    root = tmp_path / "cifar-10-batches-py"
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    labels = np.arange(n) % 10
    yy, xx = np.mgrid[0:32, 0:32] / 31.0
    imgs = []
    for lab in labels:
        base = np.stack([yy * (lab % 3) / 2, xx * (lab % 5) / 4, (yy + xx) / 2]) * 200 + rng.normal(0, 10, (3, 32, 32))
        imgs.append(np.clip(base, 0, 255).astype(np.uint8).reshape(-1))
    data = {b"data": np.stack(imgs), b"labels": labels.tolist(), b"filenames": [b"x"] * n, b"batch_label": b"b"}
    for name in ("data_batch_1", "test_batch"):
        with open(root / name, "wb") as f:
            pickle.dump(data, f, protocol=4)
    with open(root / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f, protocol=4)
    return tmp_path



@pytest.fixture(scope="session")
def make_cifar_dir():
    """``make_cifar_dir(tmp_path, n=48)`` writes a tiny CIFAR-10 folder in the official format and returns ``tmp_path``."""
    return cifar_dir


TINY_SCENARIO = (
    "seed = 0\n[link]\nequalizer = 'lmmse'\n[channel]\nkind = 'awgn'\n"
    "[images]\ndataset = 'cifar10'\nnum_symbols = 64\nbatch_size = 16\nnum_images = 16\n"
    "[model]\nclassifier_width = 4\ncodec_hparams = {channels = [8, 8], num_blocks = 1, expansion = 2}\n"
)


@pytest.fixture
def tiny_scenario(tmp_path):
    """``tiny_scenario(train_toml)`` writes ``tmp_path/tiny.toml``: a tiny CIFAR-10-shaped system over AWGN (64
    symbols, width-4 classifier, an 8-channel codec) plus the given ``[train]`` tables; returns its path."""

    def write(train_toml: str):
        path = tmp_path / "tiny.toml"
        path.write_text(TINY_SCENARIO + train_toml)
        return path

    return write


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster (2 CPUs, no dashboard) for the whole test session; skips without Ray installed."""
    ray = pytest.importorskip("ray")
    from pathlib import Path

    if not ray.is_initialized():
        root = str(Path(__file__).resolve().parents[1])  # the workers import this checkout, as the tests do
        os.environ.setdefault("RAY_worker_niceness", "0")  # as the executor does: no workers starved by nice +15
        import signal

        saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": root, "SIONNA_SEMCOMM_THREADS": "1"}})
        for sig, handler in saved.items():  # ray.init installs its own SIGTERM handler: not for the other tests
            signal.signal(sig, handler)
    yield ray
    ray.shutdown()
