"""SNR side information to the decoder and the encoder: identity at initialisation, the SNR changes the
output, errors."""

import pytest
import torch

from sionna_semcomm.models import SNRGate, build_mobilesc, normalize_power

SMALL = {"channels": (8, 8), "num_blocks": 2, "expansion": 2}


def test_gate_is_the_identity_at_initialisation_and_learns_an_snr_dependence():
    torch.manual_seed(0)
    gate = SNRGate(8)
    x = torch.randn(3, 8, 4, 4)
    torch.testing.assert_close(gate(x, torch.tensor([0.0, 10.0, 20.0])), x)
    torch.nn.init.normal_(gate.expand.weight)
    low, high = gate(x, torch.full((3,), 0.0)), gate(x, torch.full((3,), 20.0))
    assert not torch.allclose(low, high)
    g = gate.gate(x.mean(dim=(2, 3)), torch.full((3,), 5.0))
    assert g.shape == (3, 8) and (g > 0).all() and (g < 2).all()


def test_adaptive_decoder_starts_equal_to_the_plain_one_and_loads_its_weights():
    torch.manual_seed(0)
    plain = build_mobilesc((3, 32, 32), 384, **SMALL).eval()
    adaptive = build_mobilesc((3, 32, 32), 384, snr_adaptive=True, **SMALL).eval()
    assert adaptive.snr_adaptive and not plain.snr_adaptive
    assert sorted(adaptive.decoder.snr_gates) == ["2", "3", "4"]  # after the input conv and each SemBlock
    missing = set(adaptive.state_dict()) - set(plain.state_dict())
    assert missing and all(k.startswith("decoder.snr_gates.") for k in missing)
    assert not set(plain.state_dict()) - set(adaptive.state_dict())
    adaptive.load_state_dict(plain.state_dict(), strict=False)
    z = normalize_power(plain.encode(torch.rand(2, 3, 32, 32)))
    torch.testing.assert_close(adaptive.decode(z, 7.0), plain.decode(z))
    torch.testing.assert_close(adaptive.decode(z, torch.tensor([3.0, 7.0])), plain.decode(z))
    # the plain decoder ignores the SNR; the adaptive one uses it once its gates have learned
    torch.testing.assert_close(plain.decode(z, 3.0), plain.decode(z))
    for g in adaptive.decoder.snr_gates.values():
        torch.nn.init.normal_(g.expand.weight, std=0.5)
    assert not torch.allclose(adaptive.decode(z, 0.0), adaptive.decode(z, 20.0))
    out = adaptive(torch.rand(2, 3, 32, 32), normalize_power, snr_db=5.0)
    assert out["x_hat"].shape == (2, 3, 32, 32)


@pytest.mark.parametrize("snr, match", [(None, "pass snr_db"), (float("nan"), "finite"),
                                        (torch.zeros(3), "1 or 2 values")])
def test_adaptive_decoder_needs_a_valid_snr(snr, match):
    codec = build_mobilesc((3, 32, 32), 384, snr_adaptive=True, **SMALL)
    z = normalize_power(codec.encode(torch.rand(2, 3, 32, 32)))
    with pytest.raises(ValueError, match=match):
        codec.decode(z, snr)


def test_adaptive_encoder_starts_equal_to_the_plain_one_and_loads_its_weights():
    torch.manual_seed(0)
    plain = build_mobilesc((3, 32, 32), 384, **SMALL).eval()
    adaptive = build_mobilesc((3, 32, 32), 384, snr_adaptive_encoder=True, **SMALL).eval()
    assert adaptive.encoder_snr_adaptive and not adaptive.snr_adaptive and not plain.encoder_snr_adaptive
    # after the last down-scaling stage's activation (2 stages x conv/BN/act: index 5) and each SemBlock
    assert sorted(adaptive.encoder.snr_gates) == ["5", "6", "7"]
    missing = set(adaptive.state_dict()) - set(plain.state_dict())
    assert missing and all(k.startswith("encoder.snr_gates.") for k in missing)
    adaptive.load_state_dict(plain.state_dict(), strict=False)
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(adaptive.encode(x, 7.0), plain.encode(x))
    torch.testing.assert_close(adaptive.encode(x, torch.tensor([3.0, 17.0])), plain.encode(x))
    torch.testing.assert_close(plain.encode(x, 3.0), plain.encode(x))  # a plain encoder ignores the SNR
    for g in adaptive.encoder.snr_gates.values():
        torch.nn.init.normal_(g.expand.weight, std=0.5)
    assert not torch.allclose(adaptive.encode(x, 0.0), adaptive.encode(x, 20.0))
    out = adaptive(x, normalize_power, snr_db=5.0)
    torch.testing.assert_close(out["z"], adaptive.encode(x, 5.0))
    with pytest.raises(ValueError, match="pass snr_db"):
        adaptive.encode(x)
    with pytest.raises(ValueError, match="finite"):
        adaptive.encode(x, float("inf"))
