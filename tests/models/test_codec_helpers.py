"""Shared codec helpers: complex pairing, power normalisation, latent grid, validation."""

import pytest
import torch

from sionna_semcomm.models.codec import (
    check_images,
    complex_to_reals,
    latent_grid,
    normalize_power,
    reals_to_complex,
)


def test_reals_complex_round_trip_pairs_adjacent_entries():
    r = torch.arange(8, dtype=torch.float32).reshape(1, 8)
    z = reals_to_complex(r)
    assert z.dtype == torch.complex64 and z.shape == (1, 4)
    assert z[0, 1] == complex(2, 3)
    assert torch.equal(complex_to_reals(z), r)


def test_reals_to_complex_rejects_odd_length():
    with pytest.raises(ValueError, match="even"):
        reals_to_complex(torch.zeros(2, 5))


def test_normalize_power_gives_unit_power_per_example():
    torch.manual_seed(0)
    z = torch.randn(4, 384, dtype=torch.complex64) * torch.tensor([[0.1], [1.0], [3.0], [10.0]])
    p = normalize_power(z).abs().square().mean(dim=-1)
    torch.testing.assert_close(p, torch.ones(4), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "shape, downs, k, pad, expected",
    [((3, 32, 32), 2, 384, None, (12, 8, 8)), ((1, 28, 28), 2, 256, (32, 32), (8, 8, 8)),
     ((3, 256, 256), 4, 3072, None, (24, 16, 16))],
)
def test_latent_grid(shape, downs, k, pad, expected):
    assert latent_grid(shape, downs, k, pad) == expected


def test_latent_grid_errors_name_the_problem():
    with pytest.raises(ValueError, match="K a multiple of 32"):
        latent_grid((3, 32, 32), 2, 100)
    with pytest.raises(ValueError, match="not divisible"):
        latent_grid((1, 28, 28), 3, 256)
    with pytest.raises(ValueError, match="smaller than the image"):
        latent_grid((1, 28, 28), 2, 256, (24, 24))


def test_check_images_accepts_tiny_rounding_overshoot():
    check_images(torch.full((1, 3, 4, 4), 1.0 + 1e-7), (3, 4, 4))
