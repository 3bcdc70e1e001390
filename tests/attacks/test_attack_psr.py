"""PSR definition and every attack meeting it; the hook is the only way in; bad arguments fail clearly."""

import dataclasses
import math

import pytest
import torch

from sionna_semcomm.attacks import (
    GeneratorConfig,
    Identity,
    SemAdv,
    build_attack,
    get_attack,
    masked_power,
    measured_psr_db,
    perturbation_powers,
    psr_mask,
    receive,
    received_signal,
    scale_to_nominal,
    scale_to_psr,
    summarize_psr,
)
from sionna_semcomm.attacks.psr import time_to_grid
from sionna_semcomm.link.config import LinkConfig
from sionna_semcomm.link.ofdm import OFDMLink

from baselines.attacks import PGM

SMALL_GEN = GeneratorConfig(seed_dim=8, hidden=16, num_blocks=1)
LINKS = {
    "time": LinkConfig(equalizer="lmmse"),
    "time-spare-pilots": LinkConfig(equalizer="lmmse", perturb_pilots=False),
    "freq": LinkConfig(equalizer="lmmse", perturbation_domain="freq"),
    "freq-spare-pilots": LinkConfig(equalizer="lmmse", perturbation_domain="freq", perturb_pilots=False),
}


def _batch(n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.arange(n) % 4


def test_scaling_helpers_exact():
    g = torch.Generator().manual_seed(1)
    rx = torch.randn(5, 160, dtype=torch.complex64, generator=g) * torch.linspace(0.2, 3, 5).reshape(5, 1)
    p = torch.randn(5, 160, dtype=torch.complex64, generator=g)
    mask = torch.ones(160, dtype=torch.bool)
    mask[:40] = False
    q = scale_to_psr(p, rx, -7.5, mask)
    torch.testing.assert_close(measured_psr_db(q, rx, mask), torch.full((5,), -7.5), atol=1e-4, rtol=0)
    assert torch.all(q[:, :40] == 0)
    n = scale_to_nominal(p, -3.0, mask, center=True)
    torch.testing.assert_close(masked_power(n, mask), torch.full((5,), 10 ** -0.3), rtol=1e-5, atol=0)
    assert n[:, mask].mean(-1).abs().max() < 1e-6  # zero mean (Eq. 16)
    s = summarize_psr(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 2.0]))
    assert math.isclose(s["measured_psr_db"], 0.0, abs_tol=1e-12) and s["per_image_min_db"] < s["per_image_max_db"]
    assert summarize_psr(torch.zeros(3), torch.ones(3))["measured_psr_db"] is None


def test_masks_and_frequency_grid_match_the_link():
    link = OFDMLink(64, LINKS["freq-spare-pilots"], seed=0)
    assert psr_mask(link).shape == (2, 64) and not psr_mask(link)[0].any() and psr_mask(link)[1].all()
    x = torch.randn(3, 64, dtype=torch.complex64)
    out = link(x, 300.0)  # noise ~1e-15: the received grid is the FFT of rx_signal
    torch.testing.assert_close(time_to_grid(link, out["rx_signal"]), out["y_grid"], atol=1e-5, rtol=0)
    spare = OFDMLink(64, LINKS["time-spare-pilots"], seed=0)
    assert int(psr_mask(spare).sum()) == 80 and torch.equal(psr_mask(spare), ~spare.pilot_sample_mask)


@pytest.mark.parametrize("link_name", list(LINKS))
@pytest.mark.parametrize("attack", ["jamming", "fgm", "pgd"])
def test_per_image_attacks_meet_the_psr_on_every_image(tiny_system, attack, link_name):
    link = OFDMLink(64, LINKS[link_name], seed=0)
    x, y = _batch()
    taps = link.sample_taps((len(x),))
    settings = {"steps": 2} if attack == "pgd" else {}
    atk = build_attack(attack, tiny_system, link, psr_db=-6.0, **settings)
    p = atk(x, y, 10.0, taps)
    assert p.shape == (len(x), *atk.shape) and p.dtype == torch.complex64
    with torch.no_grad():
        out = tiny_system(x, link, 10.0, perturbation=p, taps=taps)
    pp, ps = perturbation_powers(link, out["link"])  # measured at the receiver, from the link's own outputs
    torch.testing.assert_close(10 * torch.log10(pp / ps), torch.full((len(x),), -6.0, dtype=torch.float64), atol=1e-4, rtol=0)
    # nothing outside the mask
    assert torch.all(p[:, ~psr_mask(link)] == 0)


@pytest.mark.parametrize("link_name", ["time", "freq-spare-pilots"])
@pytest.mark.parametrize("cls", [SemAdv, PGM])
def test_generators_scale_exactly_to_the_nominal_power(tiny_system, cls, link_name):
    link = OFDMLink(64, LINKS[link_name], seed=0)
    kw = {"target_class": 1} if cls is SemAdv else {}
    atk = cls(tiny_system, link, -4.0, generator_config=SMALL_GEN, **kw)
    p = atk(torch.rand(5, 3, 32, 32), None)
    mask = psr_mask(link)
    torch.testing.assert_close(masked_power(p, mask), torch.full((5,), 10 ** -0.4), rtol=1e-5, atol=0)
    # received power 1 on every sample it may hit -> measured PSR equals the nominal one
    unit = torch.ones_like(p)
    torch.testing.assert_close(measured_psr_db(p, unit, mask), torch.full((5,), -4.0), atol=1e-4, rtol=0)
    assert atk.describe()["power_constraint"] == "nominal"


def test_generator_psr_holds_on_average_over_fading_frames(tiny_system):
    """Nominal scaling: over many Rayleigh frames, sum P_p / sum P_s is close to the target."""
    link = OFDMLink(64, LinkConfig(equalizer="lmmse"), seed=0)
    atk = SemAdv(tiny_system, link, -6.0, target_class=0, generator_config=SMALL_GEN)
    x = torch.rand(200, 3, 32, 32)
    taps = link.sample_taps((200,))
    with torch.no_grad():
        rx = atk.received_from_symbols(tiny_system.codec.encode(x), taps)
    p = atk(x, None)
    s = summarize_psr(masked_power(p), masked_power(rx))
    assert abs(s["measured_psr_db"] + 6.0) < 0.5  # E|h|^2 = 1; 200 frames of an 8-tap channel
    assert s["per_image_max_db"] - s["per_image_min_db"] > 1.0  # but not per frame


def test_receive_equals_the_systems_forward(tiny_system):
    link = OFDMLink(64, LinkConfig(equalizer="lmmse"), seed=0)
    x, _ = _batch(4)
    taps = link.sample_taps((4,))
    with torch.no_grad():
        link.reseed(3)
        a = tiny_system(x, link, 8.0, taps=taps)
        link.reseed(3)
        b = receive(tiny_system, link, tiny_system.codec.encode(x), 8.0, taps=taps)
    assert torch.equal(a["logits"], b["logits"]) and torch.equal(a["x_hat"], b["x_hat"])


def test_perturbation_enters_only_through_the_hook(tiny_system):
    """Identity: bit-identical to the clean path; jamming: the same channel and noise plus exactly p."""
    link = OFDMLink(64, LinkConfig(equalizer="lmmse"), seed=0)
    x, y = _batch(4)
    taps = link.sample_taps((4,))
    with torch.no_grad():
        link.reseed(9)
        clean = tiny_system(x, link, 10.0, taps=taps)
        ident = Identity(tiny_system, link)
        link.reseed(9)
        p = ident(x, y, 10.0, taps)
        same = tiny_system(x, link, 10.0, perturbation=p, taps=taps)
        assert p is None
        for key in ("x_hat", "logits", "z_hat"):
            assert torch.equal(clean[key], same[key])
        assert torch.equal(clean["link"]["y_time"], same["link"]["y_time"])
        jam = build_attack("jamming", tiny_system, link, psr_db=-3)
        link.reseed(9)
        p = jam(x, y, 10.0, taps)  # the attack draws from its own stream, not the link's
        hit = tiny_system(x, link, 10.0, perturbation=p, taps=taps)
    n = link.num_time_samples
    torch.testing.assert_close(hit["link"]["y_time"][:, :n] - p, clean["link"]["y_time"][:, :n], atol=1e-6, rtol=0)
    assert torch.equal(hit["link"]["y_time"][:, n:], clean["link"]["y_time"][:, n:])


def test_bad_arguments_raise_clear_errors(tiny_system):
    link = OFDMLink(64, LinkConfig(), seed=0)
    for bad in (float("nan"), float("inf"), "x", True):
        with pytest.raises(ValueError, match="psr_db must be"):
            build_attack("jamming", tiny_system, link, psr_db=bad)
    with pytest.raises(ValueError, match="psr_db must be"):
        get_attack("jamming").cls(tiny_system, link, None)
    with pytest.raises(ValueError, match="unknown attack 'nope'"):
        build_attack("nope", tiny_system, link, psr_db=-6)
    with pytest.raises(ValueError, match="unknown class 4"):
        SemAdv(tiny_system, link, -6, target_class=4, generator_config=SMALL_GEN)
    with pytest.raises(ValueError, match="unknown class -1"):
        build_attack("pgd", tiny_system, link, psr_db=-6, controllable_class=-1)
    with pytest.raises(ValueError, match="needs target_class"):
        SemAdv(tiny_system, link, -6, generator_config=SMALL_GEN)
    with pytest.raises(ValueError, match="also a target class"):
        SemAdv(tiny_system, link, -6, target_class=[1, 2], controllable_class=2, generator_config=SMALL_GEN)
    with pytest.raises(ValueError, match="--attack-checkpoint"):
        build_attack("semadv", tiny_system, link, psr_db=-6, target_class=1)
    with pytest.raises(ValueError, match="needs a learned semantic system"):
        build_attack("pgd", None, link, psr_db=-6)
    with pytest.raises(ValueError, match="needs a PSR"):
        build_attack("fgm", tiny_system, link)
    with pytest.raises(ValueError, match="steps"):
        build_attack("pgd", tiny_system, link, psr_db=-6, steps=0)
    with pytest.raises(ValueError, match="taps"):
        build_attack("jamming", tiny_system, link, psr_db=-6)(torch.rand(2, 3, 32, 32), None, 10.0, None)
    assert get_attack("none").name == "identity"
    # the identity ignores any PSR and is always available, with or without a system
    assert build_attack("identity", None, link).describe()["psr_db"] is None


def test_every_attack_documents_its_threat_model(tiny_system):
    link = OFDMLink(64, dataclasses.replace(LinkConfig(), perturb_pilots=False), seed=0)
    for name in ("identity", "jamming", "fgm", "pgd"):
        atk = build_attack(name, tiny_system, link, psr_db=-6)
        doc = type(atk).__doc__.lower()
        assert "threat model" in doc or name == "identity", name
        tm = atk.threat_model
        assert tm["perturb_pilots"] is False and tm["domain"] == "time" and tm["knowledge"]
    for cls in (SemAdv, PGM):
        assert "threat model" in cls.__doc__.lower() and "input-agnostic" in cls.__doc__.lower()
    assert received_signal(link, torch.ones(1, link.num_time_samples)).shape == (1, link.num_time_samples)


def test_docstring_examples_run(tiny_system):
    """The usage examples in the docstrings (module doc of the base class, SemAdv) run as written."""
    import textwrap

    import sionna_semcomm.attacks.base as base_mod
    from baselines.attacks import PGD

    link = OFDMLink(64, LinkConfig(), seed=0)
    images, labels = _batch(3)
    ns = {"system": tiny_system, "link": link, "images": images, "labels": labels, "taps": link.sample_taps((3,)),
          "PGD": PGD, "SemAdv": SemAdv}
    for doc in (base_mod.__doc__, SemAdv.__doc__):
        block = doc.split("::\n", 1)[1] if ".. code-block" not in doc else doc.split(".. code-block:: python\n", 1)[1]
        lines = []
        for line in block.splitlines()[1:]:
            if line.strip() and not line.startswith("    "):
                break
            lines.append(line)
        exec(textwrap.dedent("\n".join(lines)), ns)
        assert ns["p"].shape == (3, link.num_time_samples)
