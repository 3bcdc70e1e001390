"""The fixed symbol interleaver of ``interleave=True`` codecs: what it changes (the order on the resource grid)
and what it must not (weights, the reconstructions over an ideal channel, what a symbol classifier reads)."""

import pytest
import torch

from sionna_semcomm.models import build_mobilesc
from sionna_semcomm.models.codec import symbol_interleaver
from sionna_semcomm.semantic import ModelConfig, SemanticSystem


def _pair(**hp):
    torch.manual_seed(0)
    plain = build_mobilesc((3, 32, 32), 384, **hp)
    inter = build_mobilesc((3, 32, 32), 384, interleave=True, **hp)
    inter.load_state_dict(plain.state_dict())  # no new weights: the order is not a parameter
    return plain.eval(), inter.eval()


def test_interleaver_is_a_fixed_permutation():
    order = symbol_interleaver(384)
    assert sorted(order.tolist()) == list(range(384))
    assert torch.equal(order, symbol_interleaver(384))  # the same for every codec of that K
    assert not torch.equal(order, torch.arange(384))


def test_same_weights_send_the_same_symbols_in_another_order():
    plain, inter = _pair(decoder_csi=True)
    assert inter.interleaved and not plain.interleaved
    assert sorted(inter.state_dict()) == sorted(plain.state_dict())
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        z, zi = plain.encode(x), inter.encode(x)
        order = symbol_interleaver(384)
        assert torch.equal(zi, z[:, order])  # transmitted symbol k is latent symbol order[k]
        assert torch.equal(inter.to_latent_order(zi), z)
        no_eff = torch.rand(2, 384) + 0.01  # the channel state travels with its symbol
        torch.testing.assert_close(inter.decode(zi, no_eff=no_eff[:, order]), plain.decode(z, no_eff=no_eff))
        torch.testing.assert_close(inter(x)["x_hat"], plain(x)["x_hat"])  # ideal channel: same reconstruction


def test_interleaver_spreads_each_latent_position_over_the_band():
    """The reason for it: with C-order mapping onto 64-subcarrier OFDM symbols, each position of the 12x8x8 latent
    map (12 reals, 6 complex symbols) sees only two subcarriers' gains on a block-fading channel."""
    c_lat, h, w = build_mobilesc((3, 32, 32), 384).latent_shape
    latent_symbol = torch.arange(c_lat * h * w).reshape(c_lat, h, w) // 2  # adjacent reals form one symbol

    def subcarriers_per_position(sent_as):  # sent_as[j]: the grid index of latent symbol j
        sc = (sent_as[latent_symbol] % 64).reshape(c_lat, h * w)
        return [len(set(sc[:, p].tolist())) for p in range(h * w)]

    assert set(subcarriers_per_position(torch.arange(384))) == {2}
    spread = subcarriers_per_position(torch.argsort(symbol_interleaver(384)))
    assert min(spread) >= 8 and sum(spread) / len(spread) > 10


@pytest.mark.parametrize("interleave", [False, True])
def test_symbol_classifier_reads_the_latent_order(interleave):
    cfg = ModelConfig(codec="mobilesc", image_shape=(3, 32, 32), num_symbols=384, classify_from="symbols",
                      codec_hparams={"interleave": interleave})
    system = SemanticSystem(cfg).eval()
    z_hat = torch.randn(2, 384, dtype=torch.complex64)
    expected = z_hat[:, torch.argsort(symbol_interleaver(384))] if interleave else z_hat
    assert torch.equal(system.classifier_input(None, z_hat), expected)
