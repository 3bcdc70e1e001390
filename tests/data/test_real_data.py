"""Reads the shared real-data subsets (skipped when ../shared/data is not beside the repository)."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from sionna_semcomm.data import demo_dataset, load_dataset


def _shared_data() -> Path:
    env = os.environ.get("SIONNA_SEMCOMM_SHARED_DATA")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[2]
    return (repo.parent / "shared" / "data").resolve()


DATA = _shared_data()
pytestmark = pytest.mark.skipif(
    not (DATA / "cifar-10-batches-py").is_dir() or not (DATA / "MNIST" / "raw").is_dir(),
    reason=f"shared data subsets not found at {DATA}",
)


def test_cifar10_subset():
    tr = load_dataset("cifar10", "train", data_dir=DATA)
    te = load_dataset("cifar10", "test", data_dir=DATA)
    assert tr.images.shape[1:] == (3, 32, 32) and len(tr) % 1017 == 0 and len(tr) >= 4068
    assert len(te) in (1017, 10000)
    assert tr.classes[0] == "airplane" and tr.classes[9] == "truck"
    assert set(tr.labels.unique().tolist()) == set(range(10))
    demo = demo_dataset("cifar10")
    with np.load(Path(__import__("sionna_semcomm").__file__).parent / "assets" / "cifar10_demo.npz") as z:
        src = torch.from_numpy(z["source_index"])
    assert torch.equal(demo.images, te.images[src]) and torch.equal(demo.labels, te.labels[src])


def test_mnist_subset():
    tr = load_dataset("mnist", "train", data_dir=DATA)
    te = load_dataset("mnist", "test", data_dir=DATA)
    assert len(tr) in (3678, 60000) and len(te) == 10000
    assert tr.images.shape[1:] == (1, 28, 28)
    demo = demo_dataset("mnist")
    with np.load(Path(__import__("sionna_semcomm").__file__).parent / "assets" / "mnist_demo.npz") as z:
        src = torch.from_numpy(z["source_index"])
    assert torch.equal(demo.images, te.images[src]) and torch.equal(demo.labels, te.labels[src])
