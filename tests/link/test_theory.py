"""The simulator against closed-form BER (AWGN, flat and multipath Rayleigh; perfect CSI and LS)."""

import numpy as np
import pytest
import torch

from sionna_semcomm.link.bits import BitLink
from sionna_semcomm.link.channels import ChannelSpec
from sionna_semcomm.link.config import LinkConfig
from sionna_semcomm.link.ofdm import OFDMLink
from sionna_semcomm.theory import ber_awgn, ber_rayleigh


def _bits_link(kind, csi, frame_symbols, seed=3, **channel):
    cfg = LinkConfig(channel=ChannelSpec(kind, **channel), csi=csi, normalize="none")
    return OFDMLink(frame_symbols, cfg, seed=seed, device="cpu")


def _frame_error_rates(bitlink, snr_db, frames, batch=256):
    """Per-frame bit error rates (frames are independent; bits within a frame share one fade)."""
    bitlink.reseed(bitlink.link.seed)
    rates = []
    done = 0
    while done < frames:
        n = min(batch, frames - done)
        bits = torch.randint(0, 2, (n, bitlink.k), generator=bitlink._source).float()
        out = bitlink.link(bitlink.mapper(bits), snr_db)
        llr = bitlink.demapper(out["x_hat"], out["no_eff"])
        rates.append(((llr > 0).float() != bits).float().mean(dim=-1))
        done += n
    return torch.cat(rates).double().numpy()


@pytest.mark.parametrize("modulation", ["bpsk", "qpsk"])
@pytest.mark.parametrize("snr_db", [0.0, 4.0, 8.0])
def test_uncoded_awgn_matches_closed_form(modulation, snr_db):
    bitlink = BitLink(_bits_link("awgn", "perfect", 13 * 64), modulation, coded=False)
    r = bitlink.simulate(snr_db, num_bits=300_000, batch_size=256)
    p = float(ber_awgn(modulation, snr_db))
    sigma = np.sqrt(p * (1 - p) / r["bits"])  # AWGN: bit errors are independent
    assert abs(r["ber"] - p) < 4.5 * sigma


@pytest.mark.parametrize("kind", ["rayleigh_flat", "rayleigh_multipath"])
@pytest.mark.parametrize("csi", ["perfect", "ls"])
@pytest.mark.parametrize("modulation", ["bpsk", "qpsk"])
def test_uncoded_rayleigh_matches_closed_form(kind, csi, modulation):
    # Short frames (one data OFDM symbol) so that many independent fades are averaged.
    bitlink = BitLink(_bits_link(kind, csi, 64), modulation, coded=False)
    for snr_db in (5.0, 15.0):
        rates = _frame_error_rates(bitlink, snr_db, frames=6000)
        p = float(ber_rayleigh(modulation, snr_db, csi))
        stderr = rates.std(ddof=1) / np.sqrt(len(rates))
        assert abs(rates.mean() - p) < 4.5 * stderr + 1e-4, (snr_db, rates.mean(), p)


def test_ls_loses_what_theory_says():
    """LS from one pilot at the data SNR: about 3 dB at high SNR, and the simulated loss agrees."""
    snr = np.array([10.0, 20.0, 30.0])
    ratio = ber_rayleigh("bpsk", snr, "ls") / ber_rayleigh("bpsk", snr, "perfect")
    assert np.all(np.diff(ratio) > 0) and abs(ratio[-1] - 2.0) < 0.01  # BER doubles = 3 dB
    perfect = BitLink(_bits_link("rayleigh_multipath", "perfect", 64), "bpsk", coded=False)
    ls = BitLink(_bits_link("rayleigh_multipath", "ls", 64), "bpsk", coded=False)
    r_p = _frame_error_rates(perfect, 20.0, 4000).mean()
    r_ls = _frame_error_rates(ls, 20.0, 4000).mean()
    assert 1.6 < r_ls / r_p < 2.5


def test_ldpc_waterfall_over_awgn():
    link = _bits_link("awgn", "perfect", 13 * 64)
    coded = BitLink(link, "qpsk", coded=True)
    assert (coded.n, coded.k) == (1664, 832)
    assert coded.simulate(3.0, num_bits=832 * 16, batch_size=16)["ber"] == 0.0
    bad = coded.simulate(-2.0, num_bits=832 * 16, batch_size=16)
    assert bad["bler"] == 1.0 and bad["ber"] > 0.05


@pytest.mark.parametrize("modulation", ["16qam", "64qam"])
def test_uncoded_qam_awgn_close_to_gray_approximation(modulation):
    bitlink = BitLink(_bits_link("awgn", "perfect", 13 * 64), modulation, coded=False)
    r = bitlink.simulate(16.0, num_bits=300_000, batch_size=128)
    p = float(ber_awgn(modulation, 16.0))
    assert abs(r["ber"] - p) / p < 0.15


def test_dft_denoised_ls_estimate_is_unbiased_keeps_its_share_of_the_error_and_meets_the_closed_form():
    """``csi = "ls_dft"``: the LS estimate projected onto delays 0..cp. A channel within the CP comes back exactly
    without noise; with noise the error variance is N0 (cp + 1) / F (what the equaliser is told); the BER is the
    closed form with that error, between LS and perfect CSI."""
    link = _bits_link("rayleigh_multipath", "ls_dft", 64)
    taps = link.sample_taps((200,))
    h = link.frequency_response(taps)
    x = torch.ones(200, 64, dtype=torch.complex64) * (1 + 1j) / np.sqrt(2)
    out = link(x, 200.0, taps=taps)  # N0 = 1e-20: the estimate without noise
    torch.testing.assert_close(out["h_hat"][:, 0], h, atol=1e-5, rtol=0)
    out = link(x, 10.0, taps=taps)
    err = (out["h_hat"][:, 0] - h).abs().square().mean().item()
    assert err == pytest.approx(0.1 * 17 / 64, rel=0.05)  # 12,800 errors of variance N0 17/64 (CP 16)
    assert link.dft_projection.diagonal().real.mean().item() == pytest.approx(17 / 64, rel=1e-5)
    assert not torch.allclose(out["no_eff"], out["no_eff"][:, :1])  # per-subcarrier, like LS
    for modulation in ("bpsk", "qpsk"):
        bitlink = BitLink(link, modulation, coded=False)
        for snr_db in (5.0, 15.0):
            rates = _frame_error_rates(bitlink, snr_db, frames=6000)
            p = float(ber_rayleigh(modulation, snr_db, "ls_dft", 17 / 64))
            stderr = rates.std(ddof=1) / np.sqrt(len(rates))
            assert abs(rates.mean() - p) < 4.5 * stderr + 1e-4, (modulation, snr_db, rates.mean(), p)
            assert ber_rayleigh(modulation, snr_db, "perfect") < p < ber_rayleigh(modulation, snr_db, "ls")
    with pytest.raises(ValueError, match="dft_fraction"):
        ber_rayleigh("bpsk", 5.0, "ls_dft")
