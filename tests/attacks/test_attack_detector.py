"""The CP-redundancy detector: exact residuals without noise, AUC ~0.5 for Gaussian jamming, ~1 for structure."""

import pytest
import torch

from sionna_semcomm.attacks import cp_residuals, detection_scores, gof_statistic, psr_mask, roc_auc, scale_to_psr
from sionna_semcomm.link.channels import ChannelSpec
from sionna_semcomm.link.config import LinkConfig
from sionna_semcomm.link.ofdm import OFDMLink

from baselines.attacks import Jamming


def _qpsk(n, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    b = torch.randint(0, 2, (n, k, 2), generator=g) * 2 - 1
    return torch.complex(b[..., 0].float(), b[..., 1].float()) / 2 ** 0.5


def test_roc_auc_and_statistics():
    assert roc_auc([3.0, 4.0], [1.0, 2.0]) == 1.0 and roc_auc([1.0], [2.0]) == 0.0
    assert roc_auc([1.0, 1.0], [1.0, 1.0]) == 0.5  # ties count 1/2
    assert abs(roc_auc([0.1, 0.4, 0.35, 0.8], [0.2, 0.3, 0.5, 0.05]) - 11 / 16) < 1e-12  # 11 of 16 pairs ordered
    with pytest.raises(ValueError):
        roc_auc([], [1.0])
    r = torch.randn(300, 63, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
    ks, ad = gof_statistic(r, "ks"), gof_statistic(r, "ad")
    assert ks.shape == (300,) and torch.isfinite(ad).all()
    # complex Gaussian: |r|^2 is exponential, so both distances are small on average
    assert ks.mean() < 0.15 and ad.mean() < 1.5
    with pytest.raises(ValueError, match="statistic"):
        gof_statistic(r, "chi2")


def test_residuals_vanish_without_noise_and_refuse_what_they_cannot_see():
    link = OFDMLink(64, LinkConfig(channel=ChannelSpec("rayleigh_multipath", num_taps=8, decay=1.5)), seed=0)
    out = link(_qpsk(4, 64), 300.0)
    r = cp_residuals(out["y_time"], link)
    assert r.shape == (4, link.num_ofdm_symbols * (16 - 8 + 1)) and r.abs().max() < 1e-5
    short = OFDMLink(64, LinkConfig(cyclic_prefix_length=4), seed=0)
    with pytest.raises(ValueError, match="cp >= L"):
        cp_residuals(short(_qpsk(1, 64), 10.0)["y_time"], short)
    freq = OFDMLink(64, LinkConfig(perturbation_domain="freq"), seed=0)
    with pytest.raises(ValueError, match="frequency-domain"):
        cp_residuals(out["y_time"], freq)


def test_jamming_is_indistinguishable_from_natural_noise_structured_perturbations_are_not():
    link = OFDMLink(384, LinkConfig(channel=ChannelSpec("rayleigh_multipath", num_taps=8, decay=1.5)), seed=0)
    n = 300
    x = _qpsk(n, 384)
    taps = link.sample_taps((n,))
    jam = Jamming(None, link, -6.0, seed=1)
    tx = link.transmit(x)
    rx = link.channel_output(tx["x_time"], taps)[:, : link.num_time_samples]
    s = detection_scores(link, x, 10.0, jam.from_received(rx), taps)
    auc = roc_auc(s["attacked"], s["natural"])
    assert abs(auc - 0.5) < 0.1, auc
    torch.testing.assert_close(10 * torch.log10(s["perturbation_power"] / s["signal_power"]),
                               torch.full((n,), -6.0, dtype=torch.float64), atol=1e-4, rtol=0)
    # the same power in one OFDM symbol only: the residuals are no longer identically distributed
    burst = torch.zeros_like(rx)
    burst[:, 80:160] = torch.randn(n, 80, dtype=torch.complex64, generator=torch.Generator().manual_seed(2))
    s = detection_scores(link, x, 10.0, scale_to_psr(burst, rx, -6.0, psr_mask(link)), taps, kind="ad")
    assert roc_auc(s["attacked"], s["natural"]) > 0.9
