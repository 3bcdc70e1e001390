"""Shared fixtures of the attack tests: tiny systems and generated data (no files, no downloads).

Every test here runs with one torch thread: on a shared, loaded 2-core machine OpenMP spin-waiting makes
tiny multi-threaded convolutions 10-100x slower.
"""

import contextlib

import pytest
import torch
import torch.nn.functional as F

from sionna_semcomm.attacks import register_attack
from sionna_semcomm.link.channels import ChannelSpec
from sionna_semcomm.link.config import LinkConfig
from sionna_semcomm.link.ofdm import OFDMLink
from sionna_semcomm.semantic import ModelConfig, SemanticSystem

import baselines.attacks

baselines.attacks.register(register_attack)

NUM_CLASSES = 4
TINY = ModelConfig(image_shape=(3, 32, 32), num_classes=NUM_CLASSES, num_symbols=64, classifier_width=4,
                   codec_hparams={"channels": (8, 8), "num_blocks": 1, "expansion": 2})
AWGN = LinkConfig(channel=ChannelSpec("awgn"), csi="perfect", equalizer="lmmse")


@contextlib.contextmanager
def single_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@pytest.fixture(autouse=True)
def one_thread():
    with single_thread():
        yield


def colour_data(n: int, seed: int):
    """``n`` images of NUM_CLASSES classes told apart by colour (vertical gradient + noise), and labels."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % NUM_CLASSES
    colours = torch.tensor([[1.0, 0.2, 0.2], [0.2, 1.0, 0.2], [0.2, 0.2, 1.0], [1.0, 1.0, 0.2]])
    ramp = torch.linspace(0, 1, 32).reshape(1, 32, 1)
    images = colours[labels].reshape(n, 3, 1, 1) * (0.5 + 0.5 * ramp) + 0.1 * torch.randn(n, 3, 32, 32, generator=g)
    return images.clamp(0, 1), labels


@pytest.fixture(scope="session")
def tiny_system():
    """An untrained tiny system (eval mode)."""
    torch.manual_seed(0)
    return SemanticSystem(TINY).eval()


@pytest.fixture(scope="session")
def trained_system():
    """A tiny system trained for 80 steps on colour_data over AWGN: 100 % clean accuracy at 10 dB (stable from
    ~60 steps on with this learning rate)."""
    with single_thread():
        return _train_tiny()


def _train_tiny():
    x, y = colour_data(128, 0)
    torch.manual_seed(0)
    system = SemanticSystem(TINY)
    link = OFDMLink(64, AWGN, seed=0)
    opt = torch.optim.Adam(system.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(80):
        idx = torch.randint(0, len(x), (32,), generator=g)
        out = system(x[idx], link, 15.0)
        loss = F.cross_entropy(out["logits"], y[idx]) + F.mse_loss(out["x_hat"], x[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return system.eval()


@pytest.fixture(scope="session")
def helpers(make_cifar_dir):
    """Plain helpers for the test modules (conftest is not importable under --import-mode=importlib)."""

    class H:
        pass

    h = H()
    h.NUM_CLASSES, h.TINY, h.AWGN = NUM_CLASSES, TINY, AWGN
    h.colour_data, h.cifar_dir, h.single_thread = colour_data, make_cifar_dir, single_thread
    return h
