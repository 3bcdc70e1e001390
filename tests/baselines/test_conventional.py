"""Conventional links: JPEG2000 + LDPC + QAM over the shared OFDM link, and the separation bound."""

import json
import math

import pytest
import torch

from baselines import jpeg2000 as j2k
from baselines.conventional import CapacityImageSystem, ConventionalImageSystem, JPEG2000Config, codeword_plan
from sionna_semcomm.data import demo_dataset
from sionna_semcomm.evaluation import ImageRunner
from sionna_semcomm.link.channels import ChannelSpec
from sionna_semcomm.link.cli import main
from sionna_semcomm.link.config import LinkConfig
from sionna_semcomm.metrics import psnr
from sionna_semcomm.theory import capacity_rayleigh

LINK = LinkConfig(channel=ChannelSpec("rayleigh_multipath", num_taps=8, decay=1.5), csi="ls")


@pytest.fixture(scope="module")
def images():
    return demo_dataset("cifar10").subset(torch.arange(0, 40, 5))  # 8 images, 8 classes


def _system(mod, mode="equal_budget", **kw):
    cfg = JPEG2000Config(mode=mode, **kw)
    return ConventionalImageSystem(mod, LINK, cfg, seed=0, device="cpu", dataset_name="cifar10", data_dir="/nonexistent")


@pytest.mark.parametrize("mod, budget_bytes", [("bpsk", 24), ("qpsk", 48), ("16qam", 96), ("64qam", 144)])
def test_equal_budget_symbol_arithmetic(mod, budget_bytes):
    s = _system(mod)
    bps = {"bpsk": 1, "qpsk": 2, "16qam": 4, "64qam": 6}[mod]
    assert s.n == 6 * 64 * bps and s.k == s.n // 2 and s.max_bytes == budget_bytes
    assert s.link.num_ofdm_symbols == 7 and s.link.num_time_samples == 560


@pytest.mark.parametrize("mod, symbols", [("bpsk", 76), ("qpsk", 39), ("16qam", 20), ("64qam", 14)])
def test_fixed_rate_symbol_arithmetic(mod, symbols, images):
    # 300-byte codestreams: 2400 info bits -> one rate-1/2 codeword of 4800 bits -> 4800/bps/64 symbols + 1 pilot
    s = _system(mod, mode="fixed_rate", codestream_bytes=300)
    assert (s.num_codewords, s.k, s.n) == (1, 2400, 4800)
    s.codestreams = [b"\0" * 300]
    assert s.accounting()["ofdm_symbols_per_image"] == symbols
    s.codestreams = [b"\0" * 100]  # a shorter codestream still needs its whole codeword
    assert s.accounting()["ofdm_symbols_per_image"] == symbols


def test_codeword_plan_splits_long_codestreams():
    assert codeword_plan(2400, 4096) == (1, 2400, 4800)
    c, k, n = codeword_plan(10_000, 4096)
    assert c == 3 and c * k >= 10_000 and k <= 4096 and n == 2 * k
    assert codeword_plan(1600, 4096, 6) == (1, 1602, 3204) and 3204 % 6 == 0


def test_high_snr_chain_is_error_free_and_equals_source_coding(images):
    s = _system("qpsk", mode="fixed_rate", codestream_bytes=200)
    runner = ImageRunner(s, images, batch_size=4, seed=1)
    res = runner.evaluate(60.0)
    assert res["ber"] == 0 and res["bler"] == 0 and res["decode_failure_rate"] == 0
    x, _ = images.batch(torch.arange(len(images)))
    decoded, ok = j2k.decode_batch(s.codestreams, (3, 32, 32))
    assert ok.all()
    assert res["psnr"] == pytest.approx(float(psnr(decoded, x).mean()), abs=1e-9)


def test_low_snr_failures_fall_back_without_raising(images):
    s = _system("64qam", mode="fixed_rate", codestream_bytes=200, error_detection=True)
    res = ImageRunner(s, images, batch_size=8, seed=1).evaluate(-5.0)
    assert res["bler"] == 1.0 and res["decode_failure_rate"] == 1.0
    # every image became the fallback (the mean of the evaluated images: no training set here)
    x, _ = images.batch(torch.arange(len(images)))
    fallback = x.mean(0, keepdim=True).expand_as(x)
    assert res["psnr"] == pytest.approx(float(psnr(fallback, x).mean()), rel=1e-4)


def test_decoder_choice_same_decisions_at_high_snr_and_iterations_reported(images):
    """Both LDPC decoders decode the same frames error-free at 25 dB; only the fast one stops early."""
    results = {}
    for decoder in ("fast", "sionna"):
        s = _system("qpsk", mode="fixed_rate", codestream_bytes=200, ldpc_decoder=decoder)
        results[decoder] = ImageRunner(s, images, batch_size=8, seed=1).evaluate(25.0)
        assert s.config()["jpeg2000"]["ldpc_decoder"] == decoder
    assert results["fast"]["bler"] == results["sionna"]["bler"] == 0
    assert results["fast"]["psnr"] == results["sionna"]["psnr"]
    assert results["sionna"]["ldpc_iterations"] == 20 and 1 <= results["fast"]["ldpc_iterations"] < 20
    with pytest.raises(ValueError, match="ldpc_decoder must be one of sionna, fast"):
        JPEG2000Config(ldpc_decoder="turbo")


def test_budget_below_the_smallest_codestream_is_a_counted_failure(images):
    s = _system("bpsk")  # 24 bytes: no JPEG2000 codestream fits
    res = ImageRunner(s, images, batch_size=8, seed=0).evaluate(30.0)
    assert res["decode_failure_rate"] == 1.0 and "ber" not in res
    assert s.accounting()["images_without_codestream"] == len(images)


def test_capacity_of_a_known_channel():
    awgn = LinkConfig(channel=ChannelSpec("awgn"))
    s = CapacityImageSystem(awgn, JPEG2000Config(), seed=0, device="cpu", dataset_name="cifar10")
    taps = torch.ones(2, 1, dtype=torch.complex64)
    assert torch.allclose(s.capacity_bits(taps, 10.0), torch.full((2,), 6 * 64 * math.log2(11.0), dtype=torch.float64))
    # two equal taps: |H_k|^2 = |1 + exp(-j 2 pi k / 64)|^2 = 2 + 2 cos(2 pi k / 64)
    s2 = CapacityImageSystem(LinkConfig(channel=ChannelSpec("rayleigh_multipath", num_taps=2)), JPEG2000Config(),
                             seed=0, device="cpu", dataset_name="cifar10")
    taps2 = torch.ones(1, 2, dtype=torch.complex64)
    expected = 6 * sum(math.log2(1 + 10 * (2 + 2 * math.cos(2 * math.pi * k / 64))) for k in range(64))
    assert s2.capacity_bits(taps2, 10.0).item() == pytest.approx(expected, rel=1e-5)


def test_capacity_with_the_ls_estimate_against_its_closed_form():
    """``capacity_csi = "ls"``: Medard's bound with the LMMSE-scaled LS estimate. A flat unit channel with a
    noiseless pilot gives H~ = 1 / (1 + N0), s2 = N0 / (1 + N0) on every subcarrier; a noisy pilot moves it; at
    high SNR it meets the perfect-CSI capacity, and below it the estimate costs rate on average."""
    awgn = LinkConfig(channel=ChannelSpec("awgn"))
    s = CapacityImageSystem(awgn, JPEG2000Config(capacity_csi="ls"), seed=0, device="cpu", dataset_name="cifar10")
    assert s.link.data_row_pilots.tolist() == [0] * 6  # one pilot symbol estimates all six data symbols
    taps = torch.ones(1, 1, dtype=torch.complex64)
    no = 0.1
    per_symbol = math.log2(1 + (1 / (1 + no)) ** 2 / (no + no / (1 + no)))
    quiet = torch.zeros(1, 1, 64, dtype=torch.complex128)
    assert s.capacity_bits(taps, 10.0, quiet).item() == pytest.approx(6 * 64 * per_symbol, rel=1e-9)
    noise = torch.full((1, 1, 64), 0.5 + 0.5j, dtype=torch.complex128)
    h = (1 + math.sqrt(no) * (0.5 + 0.5j)) / (1 + no)
    assert s.capacity_bits(taps, 10.0, noise).item() == pytest.approx(
        6 * 64 * math.log2(1 + abs(h) ** 2 / (no + no / (1 + no))), rel=1e-9)

    ray = CapacityImageSystem(LINK, JPEG2000Config(capacity_csi="ls"), seed=0, device="cpu", dataset_name="cifar10")
    perfect = CapacityImageSystem(LINK, JPEG2000Config(), seed=0, device="cpu", dataset_name="cifar10")
    taps = ray.link.sample_taps((400,))
    index = torch.arange(400)
    for snr_db in (0.0, 5.0, 10.0):  # the mean over 400 channels x 64 subcarriers against the ergodic capacity
        ls = ray.capacity_bits(taps, snr_db, ray._pilot_noise(index, snr_db)).mean().item() / (6 * 64)
        full = perfect.capacity_bits(taps, snr_db).mean().item() / (6 * 64)
        assert ls == pytest.approx(capacity_rayleigh(snr_db, "ls"), rel=0.04), snr_db
        assert full == pytest.approx(capacity_rayleigh(snr_db), rel=0.04), snr_db
    lost = (perfect.capacity_bits(taps, 50.0) - ray.capacity_bits(taps, 50.0, ray._pilot_noise(index, 50.0))) / (6 * 64)
    assert float(lost.mean()) == pytest.approx(1.0, abs=0.05)  # high SNR: LS costs 3 dB, one bit per symbol
    dft = CapacityImageSystem(LINK, JPEG2000Config(capacity_csi="ls_dft"), seed=0, device="cpu", dataset_name="cifar10")
    for snr_db in (0.0, 5.0):  # the DFT-denoised estimate: error variance N0 17/64 (CP 16)
        bits = dft.capacity_bits(taps, snr_db, dft._pilot_noise(index, snr_db)).mean().item() / (6 * 64)
        assert bits == pytest.approx(capacity_rayleigh(snr_db, "ls_dft", 17 / 64), rel=0.04), snr_db
        assert capacity_rayleigh(snr_db, "ls") < bits < capacity_rayleigh(snr_db)
    # the pilot noise is fixed per (seed, image, SNR): the same bound in any batching
    assert torch.equal(ray._pilot_noise(index[3:5], 5.0), ray._pilot_noise(index, 5.0)[3:5])
    with pytest.raises(ValueError, match="capacity_csi must be one of perfect, ls, ls_dft"):
        JPEG2000Config(capacity_csi="lmmse")
    with pytest.raises(ValueError, match="dft_fraction"):
        capacity_rayleigh(5.0, "ls_dft")


def test_capacity_bound_improves_with_snr_and_beats_the_ldpc_link(images):
    cap = CapacityImageSystem(LINK, JPEG2000Config(), seed=0, device="cpu", dataset_name="cifar10", data_dir="/nonexistent")
    lo = ImageRunner(cap, images, 8, seed=0).evaluate(5.0)["psnr"]
    hi = ImageRunner(cap, images, 8, seed=0).evaluate(25.0)["psnr"]
    ldpc = ImageRunner(_system("64qam"), images, 8, seed=0).evaluate(25.0)["psnr"]
    assert hi > lo and hi >= ldpc


def test_every_image_system_sees_the_same_channel(images):
    a, b = _system("qpsk"), _system("16qam", mode="fixed_rate")
    a.link.reseed(3)
    b.link.reseed(3)
    assert torch.equal(a.link.sample_taps((8,)), b.link.sample_taps((8,)))


def test_cli_runs_conventional_systems_and_plots_them_dashed(tmp_path, monkeypatch):
    monkeypatch.setenv("SIONNA_SEMCOMM_DATA", str(tmp_path / "no-data"))  # forces the shipped demo images
    out = tmp_path / "r.json"
    main(["--scenario", "rayleigh_cifar", "--systems", "jpeg2000-ldpc-64qam", "jpeg2000-capacity", "--snr-db", "10", "30",
          "--num-images", "8", "--out", str(out), "--plot", str(tmp_path / "p.png"), "--no-progress", "--device", "cpu"])
    runs = json.loads(out.read_text())["runs"]
    assert [r["conventional"] for r in runs] == [True, True]
    res = runs[0]["results"]
    assert res["ofdm_symbols_per_image"] == 7 and res["channel_uses_per_image"] == 560
    for key in ("psnr", "ssim", "ber", "bler", "decode_failure_rate"):
        assert len(res[key]) == 2
    assert len(res["per_class"]["psnr"]) == 2 and len(res["per_class"]["psnr"][0]) == 10
    assert "accuracy" not in res  # no classifier in a conventional link: left out, not faked


def test_codewords_are_encoded_once_and_reused_unchanged(images):
    """The codeword cache of the conventional links (#13) gives what the encoder gives, hit or miss, and is what
    transmit sends: a second evaluation at the same SNR reproduces the first exactly without encoding again."""
    from baselines.conventional import _bits_of

    s = _system("16qam", mode="fixed_rate", codestream_bytes=200)
    runner = ImageRunner(s, images, batch_size=4, seed=1)
    first = runner.evaluate(12.0)
    assert sorted(s._codeword_cache) == list(range(len(images)))
    calls = []
    s.encoder.register_forward_hook(lambda *a: calls.append(1))
    assert runner.evaluate(12.0) == first and not calls  # every codeword came from the cache
    index = torch.tensor([6, 1, 3])
    bits = torch.stack([_bits_of(s.codestreams[int(i)] or b"", s.num_codewords * s.k) for i in index])
    direct = s.encoder(bits.reshape(3, s.num_codewords, s.k)).reshape(3, -1)
    assert torch.equal(s._codewords(index, bits), direct)
    s._codeword_cache.pop(1)  # a batch mixing cached and new images
    assert torch.equal(s._codewords(index, bits), direct)
    s.prepare(*images.batch(torch.arange(2)))
    assert s._codeword_cache == {}
