"""The hand-written reference link agrees with OFDMLink; the bench CLI writes its JSON."""

import json

import numpy as np
import pytest
import torch

from sionna_semcomm.bench import ReferenceOFDMLink, main
from sionna_semcomm.link.config import LinkConfig
from sionna_semcomm.link.ofdm import OFDMLink, pilot_sequence


def _x(b, k, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.complex(torch.randn(b, k, generator=g, dtype=torch.float64),
                         torch.randn(b, k, generator=g, dtype=torch.float64)).to(dtype)


def test_reference_uses_the_links_pilots():
    link = OFDMLink(384, LinkConfig(), seed=0, precision="double", device="cpu")
    pilots = link.resource_grid.pilot_pattern.pilots.reshape(-1)
    np.testing.assert_array_equal(pilots.numpy(), pilot_sequence(64))
    ref = ReferenceOFDMLink(384, torch.as_tensor(pilot_sequence(64)), dtype=torch.complex128)
    assert ref.num_ofdm_symbols == link.num_ofdm_symbols == 7
    assert ref.num_time_samples == link.num_time_samples == 560


@pytest.mark.parametrize("num_symbols", [384, 300])  # 300: last data OFDM symbol zero-padded
def test_reference_matches_ofdm_link_noise_free_float64(num_symbols):
    link = OFDMLink(num_symbols, LinkConfig(), seed=1, precision="double", device="cpu")
    ref = ReferenceOFDMLink(num_symbols, torch.as_tensor(pilot_sequence(64)), dtype=torch.complex128)
    x = _x(16, num_symbols, torch.complex128)
    taps = link.sample_taps((16,))
    a = link(x, 300.0, taps=taps)  # noise std ~1e-15: below float64 rounding of unit-power samples
    r = ref(x, 300.0, taps=taps)
    torch.testing.assert_close(r["x_time"], a["x_time"], rtol=0, atol=1e-13)
    torch.testing.assert_close(r["y_grid"], a["y_grid"], rtol=0, atol=1e-12)
    torch.testing.assert_close(r["h_hat"], a["h_hat"][:, 0], rtol=0, atol=1e-12)
    torch.testing.assert_close(r["x_hat"], a["x_hat"], rtol=0, atol=1e-10)
    torch.testing.assert_close(r["no_eff"], a["no_eff"], rtol=1e-9, atol=0)
    # noise-free: both recover the (normalised) input
    xn = x / x.abs().square().mean(-1, keepdim=True).sqrt()
    torch.testing.assert_close(r["x_hat"], xn, rtol=0, atol=1e-9)


def test_reference_reproduces_the_links_random_draws_and_gradients():
    """Same seed: same taps and noise (10 dB) and the same gradients w.r.t. x and a time perturbation."""
    link = OFDMLink(384, LinkConfig(), seed=7, precision="double", device="cpu")
    ref = ReferenceOFDMLink.like(link)
    x = _x(4, 384, torch.complex128, seed=1)
    grads = []
    for model in (link, ref):
        xi = x.clone().requires_grad_(True)
        p = torch.zeros(4, link.num_time_samples, dtype=torch.complex128, requires_grad=True)
        out = model(xi, 10.0, perturbation=p)
        (out["x_hat"] - x).abs().square().sum().backward()
        grads.append((out["taps"], out["x_hat"], xi.grad, p.grad))
    for u, v in zip(*grads):
        torch.testing.assert_close(u, v, rtol=1e-9, atol=1e-9)


def test_reference_agrees_in_float32():
    link = OFDMLink(384, LinkConfig(), seed=2, device="cpu")
    ref = ReferenceOFDMLink.like(link)
    x = _x(8, 384, torch.complex64)
    taps = link.sample_taps((8,))
    a, r = link(x, 40.0, taps=taps), ref(x, 40.0, taps=taps)
    err = (a["x_hat"] - r["x_hat"]).abs().square().mean() / r["x_hat"].abs().square().mean()
    assert err < 1e-9


def test_quick_bench_writes_json(tmp_path):
    out = tmp_path / "bench.json"
    doc = main(["--quick", "--out", str(out), "--device", "cpu", "--train-classifier-width", "8"])
    saved = json.loads(out.read_text())
    assert saved == json.loads(json.dumps(doc))
    for key in ("versions", "device", "torch_num_threads", "precision", "clock", "repeats", "link", "ldpc", "bitlink",
                "max_ratio", "within_target"):
        assert key in saved, key
    assert saved["device"] == "cpu" and saved["versions"]["torch"]
    assert {(r["batch_size"], r["mode"]) for r in saved["link"]} == {(8, m) for m in ("fwd", "fwd_bwd_x", "fwd_bwd_p")}
    for r in saved["link"]:
        assert r["ours_symbols_per_s"] > 0 and r["reference_symbols_per_s"] > 0 and r["ratio"] > 0
    codes = [(832, 1664), (1664, 3328), (2400, 4800)]
    assert [(r["k"], r["n"], r["decoder"]) for r in saved["ldpc"]] == [c + (d,) for c in codes for d in ("sionna", "fast")]
    assert all(r["info_bits_per_s"] > 0 and r["num_iter"] == 20 and r["ebno_db"] == 2.0 for r in saved["ldpc"])
    for sionna, fast in zip(saved["ldpc"][::2], saved["ldpc"][1::2]):
        assert sionna["mean_iterations"] == 20 and 1 <= fast["mean_iterations"] <= 20 and sionna["speedup"] == 1
        assert fast["speedup"] == pytest.approx(sionna["seconds"] / fast["seconds"])
    assert [(r["system"], r["ldpc_decoder"]) for r in saved["bitlink"]] == [
        ("uncoded-qpsk", None), ("ldpc-qpsk", "sionna"), ("ldpc-qpsk", "fast")]
    assert all(r["frames_per_s"] > 0 for r in saved["bitlink"])
    (train,) = saved["training"]
    assert train["batch_size"] == 4 and train["scenario"] == "rayleigh_cifar" and train["classifier_width"] == 8
    parts = ("data", "link", "codec", "classifier", "optimizer", "step_codec", "step_joint", "step_generator")
    assert all(train["images_per_s"][k] > 0 for k in parts)
    # a whole joint step costs more than its codec+link part or its classifier part alone
    assert train["seconds"]["step_joint"] > max(train["seconds"]["codec"], train["seconds"]["classifier"]) * 0.5
    assert saved["threads"] == [] and saved["versions"]["threads"]["threads"] == torch.get_num_threads() == 1


def test_classifier_widths_time_one_classifier_step_per_width():
    from sionna_semcomm.bench_train import bench_classifier_widths

    rows = bench_classifier_widths("rayleigh_mnist", batch_size=4, widths=(2, 4), repeats=1, warmup=0, bf16=True)
    assert [r["width"] for r in rows] == [2, 4]
    assert all(r["seconds"] > 0 and r["images_per_s"] == pytest.approx(4 / r["seconds"]) for r in rows)
    assert all(r["seconds_bf16"] > 0 and r["images_per_s_bf16"] == pytest.approx(4 / r["seconds_bf16"]) for r in rows)
    assert rows[1]["parameters"] > 3 * rows[0]["parameters"]  # conv weights grow with the square of the width
    plain = bench_classifier_widths("rayleigh_mnist", batch_size=4, widths=(2,), repeats=1, warmup=0, bf16=False)
    assert "seconds_bf16" not in plain[0]


def test_bf16_is_fast_follows_the_cpu_probes(monkeypatch):
    from sionna_semcomm.runtime import bf16_is_fast

    for avx512_bf16, amx, expected in ((False, False, False), (True, False, True), (False, True, True)):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v, raising=False)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v, raising=False)
        assert bf16_is_fast("cpu") is expected


def test_competitor_runs_only_inside_its_block():
    from sionna_semcomm.bench_threads import competitor

    with competitor() as proc:
        assert proc.poll() is None  # running
    assert proc.poll() is not None  # stopped
    with competitor(busy=False) as none:
        assert none is None


def test_thread_policy_bench_with_a_competitor(monkeypatch):
    """Every workload timed at 1 thread, one per core and the policy's choice, made while the competitor runs."""
    from sionna_semcomm.bench_threads import bench_threads, format_threads
    from sionna_semcomm.runtime import THREADS_ENV, busy_cores

    monkeypatch.delenv(THREADS_ENV)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    doc = bench_threads(True, repeats=1, warmup=0, tiny=True, workloads=("link", "ldpc"))
    assert doc["loaded"] and doc["policy_threads"] >= 1 and [r["workload"] for r in doc["rows"]] == ["link", "ldpc"]
    if busy_cores() is not None:
        assert "kept busy by other processes" in doc["policy_reason"]  # the policy looked at the machine
    cores = str(doc["usable_cores"])
    for r in doc["rows"]:
        assert set(r["seconds"]) == {"1", cores, "policy"} and all(v > 0 for v in r["items_per_s"].values())
    assert torch.get_num_threads() == 1  # restored
    assert "policy/1" in format_threads(doc)
