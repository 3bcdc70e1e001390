"""OFDM link mechanics: recovery, ISI and the CP, power, channel statistics, gradients, shapes, seeds, errors."""

import math

import numpy as np
import pytest
import torch
from sionna.phy.channel import RayleighBlockFading
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import LMMSEEqualizer

from sionna_semcomm.link.channels import BlockFadingChannel, ChannelSpec, exponential_pdp
from sionna_semcomm.link.config import LinkConfig
from sionna_semcomm.link.ofdm import OFDMLink, snr_db_to_no


def _x(shape, seed=0, dtype=torch.complex64):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(*shape, generator=g), torch.randn(*shape, generator=g)).to(dtype)


def _unit(x):
    return x / x.abs().square().mean(-1, keepdim=True).sqrt()


def test_shapes_and_accounting_of_the_paper_operating_point():
    link = OFDMLink(384, LinkConfig(), seed=0, device="cpu")
    assert link.num_ofdm_symbols == 7 and link.num_data_ofdm_symbols == 6
    assert link.num_time_samples == 7 * (64 + 16) == 560
    out = link(_x((5, 384)), 10.0)
    assert out["x_hat"].shape == (5, 384) and out["x_hat"].dtype == torch.complex64
    assert out["no_eff"].shape == (5, 384) and out["no_eff"].dtype == torch.float32
    assert out["h"].shape == out["h_hat"].shape == out["y_grid"].shape == (5, 7, 64)
    assert out["x_time"].shape == out["rx_signal"].shape == (5, 560)
    assert out["y_time"].shape == (5, 560 + 8 - 1)
    assert out["taps"].shape == (5, 8)
    for key, value in out.items():
        if value is not None:
            assert torch.isfinite(torch.view_as_real(value) if value.is_complex() else value).all(), key


def test_zero_padding_of_the_last_ofdm_symbol():
    link = OFDMLink(100, LinkConfig(csi="perfect"), seed=0)
    assert link.num_data_ofdm_symbols == 2  # ceil(100 / 64)
    x = _x((3, 100))
    grid = link.transmit(_unit(x))["grid"]
    data = grid[:, 1:, :].reshape(3, -1)
    assert torch.allclose(data[:, :100], _unit(x)) and torch.all(data[:, 100:] == 0)


@pytest.mark.parametrize("leading", [(), (4,), (2, 3)])
def test_arbitrary_leading_batch_dims(leading):
    link = OFDMLink(64, LinkConfig(), seed=1)
    x = _x((*leading, 64))
    out = link(x, 20.0)
    assert out["x_hat"].shape == (*leading, 64)
    assert out["h"].shape == (*leading, 2, 64)
    assert out["no"].shape == leading
    link.reseed(1)
    flat = link(x.reshape(-1, 64), 20.0)
    assert torch.equal(flat["x_hat"].reshape(out["x_hat"].shape), out["x_hat"])


def test_same_seed_same_output_different_seed_differs():
    x = _x((8, 128))
    a = OFDMLink(128, LinkConfig(), seed=7)(x, 5.0)
    b = OFDMLink(128, LinkConfig(), seed=7)(x, 5.0)
    c = OFDMLink(128, LinkConfig(), seed=8)(x, 5.0)
    for key in ("x_hat", "taps", "y_time"):
        assert torch.equal(a[key], b[key])
    assert not torch.equal(a["taps"], c["taps"])


def test_channel_realizations_do_not_depend_on_what_else_is_drawn():
    """Channel and noise use separate streams: another SNR or payload gives the same fades."""
    a = OFDMLink(64, LinkConfig(), seed=3)(_x((6, 64), seed=1), 0.0)
    b = OFDMLink(256, LinkConfig(), seed=3)(_x((6, 256), seed=2), 30.0)
    assert torch.equal(a["taps"], b["taps"])


def test_ls_zf_recovers_symbols_at_high_snr():
    link = OFDMLink(384, LinkConfig(csi="ls", equalizer="zf"), seed=0)
    x = _unit(_x((64, 384)))
    err = (link(x, 60.0)["x_hat"] - x).abs()
    assert err.median() < 1e-2 and torch.quantile(err.flatten(), 0.99) < 0.1


@pytest.mark.parametrize("kind", ["awgn", "rayleigh_flat", "rayleigh_multipath"])
def test_perfect_csi_noiseless_recovery_when_cp_covers_the_channel(kind):
    cfg = LinkConfig(channel=ChannelSpec(kind, num_taps=8, decay=4.0), cyclic_prefix_length=7, csi="perfect")
    link = OFDMLink(256, cfg, seed=0, precision="double")
    x = _unit(_x((16, 256), dtype=torch.complex128))
    out = link(x, 250.0)
    assert torch.allclose(out["x_hat"], x, atol=1e-8)
    assert torch.allclose(out["h_hat"], out["h"])


def test_cp_shorter_than_the_channel_gives_an_isi_error_floor():
    x = _unit(_x((32, 256), dtype=torch.complex128))

    def mse(cp):
        cfg = LinkConfig(channel=ChannelSpec("rayleigh_multipath", num_taps=8, decay=4.0), cyclic_prefix_length=cp, csi="perfect")
        out = OFDMLink(256, cfg, seed=0, precision="double")(x, 250.0)
        return (out["x_hat"] - x).abs().square().median().item()

    assert mse(16) < 1e-20
    assert mse(2) > 1e-3  # noiseless, yet not recovered: ISI/ICI from the taps beyond the CP


def test_power_normalisation_per_example():
    link = OFDMLink(384, LinkConfig(), seed=0)
    x = _x((200, 384)) * torch.linspace(0.01, 100, 200).unsqueeze(-1)
    tx = link.transmit(x)
    data = tx["grid"][:, 1:, :].reshape(200, -1)
    assert torch.allclose(data.abs().square().mean(-1), torch.ones(200), atol=1e-5)
    # unitary IFFT + CP: average power per time sample is 1 (pilots and data have unit power)
    assert abs(tx["x_time"].abs().square().mean().item() - 1.0) < 0.02


def test_no_normalisation_sends_symbols_as_given():
    link = OFDMLink(64, LinkConfig(normalize="none", csi="perfect"), seed=0, precision="double")
    x = 3 * _unit(_x((4, 64), dtype=torch.complex128))
    assert torch.allclose(link(x, 250.0)["x_hat"], x, atol=1e-8)


@pytest.mark.parametrize("kind", ["rayleigh_flat", "rayleigh_multipath"])
def test_average_channel_gain_is_one(kind):
    spec = ChannelSpec(kind, num_taps=8, decay=1.5)
    ch = BlockFadingChannel(spec, generator=torch.Generator().manual_seed(0), device="cpu")
    taps = ch.sample_taps(200_000)
    gain = taps.abs().square().sum(-1)
    assert abs(gain.mean().item() - 1.0) < 0.01
    expected = exponential_pdp(8, 1.5) if kind == "rayleigh_multipath" else torch.ones(1)
    assert torch.allclose(taps.abs().square().mean(0).double(), expected.double(), atol=0.01)
    # real and imaginary parts are zero-mean, equal variance (circularly symmetric)
    assert abs(taps.real.mean().item()) < 0.01 and abs(taps.real.var().item() - taps.imag.var().item()) < 0.01
    link = OFDMLink(64, LinkConfig(channel=spec), seed=0)
    h = link.frequency_response(taps[:20000])
    assert torch.allclose(h.abs().square().mean(0), torch.ones(64), atol=0.05)


def test_flat_rayleigh_statistics_match_sionna_rayleigh_block_fading():
    ours = BlockFadingChannel(ChannelSpec("rayleigh_flat"), generator=torch.Generator().manual_seed(0))
    a_ours, _ = ours(100_000, 1, 960e3)
    a_sionna, _ = RayleighBlockFading(1, 1, 1, 1, device="cpu")(100_000, 1)
    for a in (a_ours, a_sionna):
        p = a.abs().square().flatten()
        assert abs(p.mean().item() - 1) < 0.02
        assert abs(p.var().item() - 1) < 0.05  # |h|^2 ~ Exp(1): variance 1


def test_pdp_is_normalised_and_exponential():
    p = exponential_pdp(8, 4.0)
    assert math.isclose(p.sum().item(), 1.0)
    assert torch.allclose(p[1:] / p[:-1], torch.full((7,), math.exp(-1 / 4.0), dtype=torch.float64))


def test_closed_form_equaliser_matches_sionna_lmmse():
    link = OFDMLink(384, LinkConfig(csi="ls", equalizer="zf"), seed=0)
    out = link(_unit(_x((4, 384))), 8.0)
    rg = link.resource_grid
    eq = LMMSEEqualizer(rg, StreamManagement(np.ones([1, 1]), 1), device="cpu")
    h_hat = out["h_hat"].reshape(4, 1, 1, 1, 1, 7, 64)
    err_var = torch.full(h_hat.shape, float(out["no"][0]))  # LS error variance N0 / |pilot|^2
    x_ref, no_ref = eq(out["y_grid"].reshape(4, 1, 1, 7, 64), h_hat, err_var, out["no"])
    assert torch.allclose(out["x_hat"], x_ref.reshape(4, -1), rtol=1e-3, atol=1e-4)
    assert torch.allclose(out["no_eff"], no_ref.reshape(4, -1), rtol=1e-3, atol=1e-5)


def test_lmmse_is_zf_shrunk_towards_zero():
    x = _unit(_x((4, 384)))
    zf = OFDMLink(384, LinkConfig(equalizer="zf"), seed=0)(x, 5.0)
    mmse = OFDMLink(384, LinkConfig(equalizer="lmmse"), seed=0)(x, 5.0)
    assert torch.all(mmse["x_hat"].abs() <= zf["x_hat"].abs() + 1e-5)
    assert (mmse["x_hat"] - x).abs().square().mean() < (zf["x_hat"] - x).abs().square().mean()


def test_clipping_limits_the_peak_amplitude():
    x = _unit(_x((16, 384)))
    plain = OFDMLink(384, LinkConfig(), seed=0).transmit(x)["x_time"]
    clipped = OFDMLink(384, LinkConfig(clipping_ratio=1.5), seed=0).transmit(x)["x_time"]
    rms = plain.abs().square().mean(-1, keepdim=True).sqrt()
    assert torch.all(clipped.abs() <= 1.5 * rms * (1 + 1e-5))
    assert (plain.abs() > 1.5 * rms).any()
    same = plain.abs() <= 1.5 * rms
    assert torch.allclose(clipped[same], plain[same])


def test_perturbation_hook_time_domain():
    x = _x((4, 128))
    p = _x((4, 240), seed=5) * 0.1
    base = OFDMLink(128, LinkConfig(), seed=2)(x, 10.0)
    hit = OFDMLink(128, LinkConfig(), seed=2)(x, 10.0, perturbation=p)
    assert torch.allclose(hit["y_time"][:, :240] - base["y_time"][:, :240], p, atol=1e-6)
    assert torch.equal(hit["y_time"][:, 240:], base["y_time"][:, 240:])
    zero = OFDMLink(128, LinkConfig(), seed=2)(x, 10.0, perturbation=torch.zeros_like(p))
    assert torch.equal(zero["x_hat"], base["x_hat"])


def test_perturbation_spares_pilots_when_asked():
    link = OFDMLink(128, LinkConfig(perturb_pilots=False), seed=2)
    p = torch.ones(240, dtype=torch.complex64)  # one perturbation shared by every example
    out = link(_x((3, 128)), 10.0, perturbation=p)
    mask = link.pilot_sample_mask
    assert mask.sum() == 80 and mask[:80].all()
    assert torch.all(out["perturbation"][:, mask] == 0) and torch.all(out["perturbation"][:, ~mask] == 1)


def test_perturbation_hook_frequency_domain():
    cfg = LinkConfig(perturbation_domain="freq", perturb_pilots=False)
    x = _x((2, 128))
    p = _x((2, 3, 64), seed=9)
    base = OFDMLink(128, cfg, seed=2)(x, 10.0)
    hit = OFDMLink(128, cfg, seed=2)(x, 10.0, perturbation=p)
    diff = hit["y_grid"] - base["y_grid"]
    assert torch.all(diff[:, 0] == 0) and torch.allclose(diff[:, 1:], p[:, 1:], atol=1e-6)


def test_fixed_channel_realization_can_be_reapplied():
    link = OFDMLink(128, LinkConfig(), seed=0)
    first = link(_x((4, 128)), 10.0)
    again = link(_x((4, 128), seed=1), 10.0, taps=first["taps"])
    assert torch.equal(again["taps"], first["taps"]) and torch.equal(again["h"], first["h"])


def test_gradients_match_finite_differences_float64():
    cfg = LinkConfig(fft_size=8, cyclic_prefix_length=2, channel=ChannelSpec("rayleigh_multipath", num_taps=2, decay=1.0))
    link = OFDMLink(8, cfg, seed=0, precision="double", device="cpu")
    taps = link.sample_taps((2,))
    x0 = _x((2, 8), dtype=torch.complex128).requires_grad_(True)
    p0 = (0.1 * _x((2, 20), seed=4, dtype=torch.complex128)).requires_grad_(True)
    target = _x((2, 8), seed=6, dtype=torch.complex128)

    def loss(x, p):
        link.reseed(0)
        out = link(x, 15.0, perturbation=p, taps=taps)
        return (out["x_hat"] - target).abs().square().sum().reshape(1)

    assert torch.autograd.gradcheck(loss, (x0, p0), eps=1e-6, atol=1e-5, rtol=1e-4)
    l = loss(x0, p0)
    gx, gp = torch.autograd.grad(l.sum(), (x0, p0))
    assert torch.isfinite(torch.view_as_real(gx)).all() and torch.isfinite(torch.view_as_real(gp)).all()
    assert gx.abs().sum() > 0 and gp.abs().sum() > 0


def test_bad_inputs_raise_clear_errors():
    link = OFDMLink(64, LinkConfig(), seed=0)
    x = _x((2, 64))
    with pytest.raises(ValueError, match="finite"):
        link(x, float("nan"))
    with pytest.raises(ValueError, match="finite"):
        link(x, torch.tensor([1.0, float("inf")]))
    with pytest.raises(TypeError, match="complex"):
        link(torch.randn(2, 64), 10.0)
    with pytest.raises(ValueError, match=r"\[\.\.\., 64\]"):
        link(_x((2, 63)), 10.0)
    with pytest.raises(ValueError, match="1 or 2 values"):
        link(x, torch.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="perturbation"):
        link(x, 10.0, perturbation=_x((2, 7)))
    with pytest.raises(ValueError, match="channel kind"):
        ChannelSpec("rician")
    with pytest.raises(ValueError, match="csi"):
        LinkConfig(csi="oracle")
    with pytest.raises(ValueError, match="num_symbols"):
        OFDMLink(0, LinkConfig())


def test_snr_per_example():
    no = snr_db_to_no(torch.tensor([0.0, 10.0, 20.0]), 3)
    assert torch.allclose(no, torch.tensor([1.0, 0.1, 0.01]))
    link = OFDMLink(64, LinkConfig(channel=ChannelSpec("awgn"), csi="perfect"), seed=0)
    x = _unit(_x((3, 64)))
    out = link(x.repeat(400, 1), torch.tensor([0.0, 10.0, 20.0]).repeat(400))
    mse = (out["x_hat"] - x.repeat(400, 1)).abs().square().mean(-1).reshape(400, 3).mean(0)
    assert torch.allclose(mse, torch.tensor([1.0, 0.1, 0.01]), rtol=0.05)


def test_closed_form_receiver_steps_match_the_sionna_blocks_they_replace():
    from sionna.phy.channel import ApplyTimeChannel, cir_to_ofdm_channel, cir_to_time_channel
    from sionna.phy.ofdm import LSChannelEstimator, ResourceGridDemapper

    cfg = LinkConfig(pilot_symbol_indices=(0, 4), channel=ChannelSpec("rayleigh_multipath", num_taps=8, decay=3.0))
    link = OFDMLink(300, cfg, seed=0, precision="double")
    out = link(_x((5, 300), dtype=torch.complex128), 12.0)
    taps, rg, S = out["taps"], link.resource_grid, link.num_ofdm_symbols
    assert S == 7  # ceil(300 / 64) = 5 data + 2 pilot OFDM symbols
    # time-domain channel
    a, tau = link.channel_model.cir(taps, cfg.bandwidth)
    h_time = cir_to_time_channel(cfg.bandwidth, a, tau, l_min=0, l_max=7)
    ref = ApplyTimeChannel(rg.num_time_samples, 8, precision="double", device="cpu")(out["x_time"].reshape(5, 1, 1, -1), h_time)
    assert torch.allclose(link.channel_output(out["x_time"], taps), ref.reshape(5, -1), atol=1e-9)
    # frequency response
    h_ref = cir_to_ofdm_channel(link._frequencies, a, tau).reshape(5, -1)
    assert torch.allclose(out["h"][:, 0], h_ref, atol=1e-12)
    # LS estimation with nearest-neighbour interpolation
    ls = LSChannelEstimator(rg, interpolation_type="nn", precision="double", device="cpu")
    h_ls, err_ls = ls(out["y_grid"].reshape(5, 1, 1, S, 64), out["no"])
    h_ours, err_ours = link.ls_estimate(out["y_grid"], out["no"])
    assert torch.allclose(h_ours, h_ls.reshape(5, S, 64), atol=1e-12)
    assert torch.allclose(err_ours.expand(5, -1, -1), err_ls.reshape(5, S, 64), atol=1e-12)
    # data extraction
    demap = ResourceGridDemapper(rg, StreamManagement(np.ones([1, 1]), 1), precision="double", device="cpu")
    grid = out["y_grid"]
    assert torch.equal(link.extract_data(grid), demap(grid.reshape(5, 1, 1, S, 64)).reshape(5, -1)[:, :300])
