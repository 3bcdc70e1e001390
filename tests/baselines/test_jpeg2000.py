"""Tests for baselines.jpeg2000 (JPEG2000 source coding through Pillow/OpenJPEG)."""

import doctest
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines import jpeg2000 as j2k
from baselines.jpeg2000 import (
    J2KSettings,
    decode,
    decode_batch,
    encode,
    encode_batch,
    encode_to_budget,
    mean_image,
    min_codestream_bytes,
    source_coding_quality,
)

pytest.importorskip("PIL.Jpeg2KImagePlugin")
from PIL import features  # noqa: E402

if not features.check("jpg_2000"):
    pytest.skip("Pillow was built without OpenJPEG", allow_module_level=True)

IMPLICIT = J2KSettings(implicit_header=True)


def natural_images(n, c, h, w, seed=0):
    """Smooth multi-scale random fields plus a little texture: stand-ins for CIFAR/MNIST, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    out = torch.zeros(n, c, h, w)
    for side, amp in ((2, 0.5), (4, 0.25), (8, 0.15), (16, 0.07)):
        low = torch.rand(n, c, side, side, generator=g)
        out += amp * F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    out += 0.03 * torch.randn(n, c, h, w, generator=g)
    return out.clamp(0, 1)


@pytest.fixture(scope="module")
def rgb():
    return natural_images(4, 3, 32, 32, seed=1)


@pytest.fixture(scope="module")
def gray():
    return natural_images(3, 1, 28, 28, seed=2)


def quantised(x):
    return torch.round(x * 255) / 255


def test_docstring_examples_run():
    assert doctest.testmod(j2k).failed == 0


# ---------------------------------------------------------------- format


def test_raw_codestream_without_comment(rgb):
    data = encode(rgb[0], bpp=4.0)
    assert data[:4] == b"\xff\x4f\xff\x51"  # SOC + SIZ: raw .j2k, no JP2 boxes
    assert data[-2:] == b"\xff\xd9"  # EOC
    assert b"OpenJPEG" not in data  # the default COM marker segment is stripped
    main, body = j2k._split(data)
    assert j2k._assemble(main, body) == data


@pytest.mark.parametrize("settings", [J2KSettings(), J2KSettings(irreversible=True)])
def test_main_header_does_not_depend_on_pixels(rgb, gray, settings):
    # implicit_header relies on this: the receiver rebuilds the main header from shape and settings
    for imgs in (rgb, gray):
        shape = tuple(imgs.shape[1:])
        for img in imgs[:2]:
            for bpp in (0.5, 3.0, None):
                main, _ = j2k._split(encode(img, bpp, settings))
                assert main == j2k._main_header(shape, settings)


def test_default_resolution_levels():
    assert j2k.default_num_resolutions(32, 32) == 3
    assert j2k.default_num_resolutions(28, 28) == 1
    assert j2k.default_num_resolutions(64, 48) == 3
    assert j2k.default_num_resolutions(512, 512) == 6
    with pytest.raises(ValueError, match="num_resolutions"):
        encode(torch.rand(1, 28, 28), settings=J2KSettings(num_resolutions=7))


# ---------------------------------------------------------------- lossless round trip, inputs


@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
def test_lossless_round_trip_and_uint8_input(shape):
    x = natural_images(2, *shape, seed=3)
    for img in x:
        data = encode(img)  # no rate limit + reversible wavelet = lossless
        out, ok = decode(data, shape)
        assert ok and out.dtype == torch.float32 and out.shape == shape
        assert torch.equal(out, quantised(img))
        u8 = (quantised(img) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
        assert encode(u8) == data  # uint8 [H, W, C] gives the same codestream as float [C, H, W]
        if shape[0] == 1:
            assert encode(u8[:, :, 0]) == data  # and [H, W] for grayscale


def test_input_validation():
    with pytest.raises(ValueError, match="outside"):
        encode(torch.full((3, 8, 8), 1.5))
    with pytest.raises(ValueError, match="C in"):
        encode(torch.rand(2, 8, 8))
    with pytest.raises(ValueError, match="shape"):
        decode(b"", (2, 8, 8))
    with pytest.raises(ValueError, match="fallback"):
        decode(b"", (3, 8, 8), fallback=torch.zeros(1, 8, 8))
    with pytest.raises(ValueError, match="exactly one"):
        source_coding_quality(torch.rand(1, 3, 16, 16))


# ---------------------------------------------------------------- budgets


@pytest.mark.parametrize("settings", [J2KSettings(), IMPLICIT], ids=["full", "implicit"])
def test_budget_respected_and_monotone(rgb, settings):
    lo = min_codestream_bytes((3, 32, 32), settings)
    for img in rgb[:2]:
        prev = -1
        for budget in list(range(lo, 1400, 53)) + [4000]:
            sizes = []
            for b in (budget, budget + 1, budget + 5):
                data = encode_to_budget(img, b, settings)
                n = -1 if data is None else len(data)
                assert n <= b
                sizes.append(n)
            assert sizes == sorted(sizes), f"larger budget gave a shorter codestream: {sizes}"
            assert sizes[0] >= prev
            prev = sizes[-1]
        # a budget larger than the lossless codestream returns the lossless codestream
        assert encode_to_budget(img, 4000, settings) == encode(img, None, settings)


def test_budget_search_runs_once_per_image_budget_and_settings(rgb, monkeypatch):
    from baselines import jpeg2000

    calls = []
    search = jpeg2000._search_budget
    monkeypatch.setattr(jpeg2000, "_search_budget", lambda *a: calls.append(a[1:]) or search(*a))
    monkeypatch.setattr(jpeg2000, "_budget_cache", {})
    first = [encode_to_budget(img, 311) for img in rgb[:2]]
    assert [encode_to_budget(img, 311) for img in rgb[:2]] == first and len(calls) == 2  # the same two searches
    encode_to_budget(rgb[0], 312)
    encode_to_budget(rgb[0], 311, IMPLICIT)
    encode_to_budget(rgb[0].flip(-1), 311)
    assert len(calls) == 5  # another budget, other settings, other pixels: searched


def test_budget_uses_most_of_the_bytes(rgb):
    # rate-controlled output lands close to the budget (within a coding pass or two)
    for budget in (200, 400, 800):
        sizes = [len(encode_to_budget(img, budget)) for img in rgb]
        assert min(sizes) >= 0.85 * budget


def test_quality_increases_with_budget(rgb, gray):
    for imgs, budgets in ((rgb[:2], [130, 200, 400, 800, 1600]), (gray[:2], [100, 150, 250, 400])):
        psnrs = [source_coding_quality(imgs, max_bytes=b)["psnr"] for b in budgets]
        assert all(a < b for a, b in zip(psnrs, psnrs[1:])), psnrs


def test_implicit_header_saves_the_header_bytes(rgb):
    shape = (3, 32, 32)
    full = encode(rgb[0], bpp=2.0)
    implicit = encode(rgb[0], bpp=2.0, settings=IMPLICIT)
    overhead = len(full) - len(implicit)
    assert overhead == len(j2k._main_header(shape, J2KSettings())) + 12 + 2 + 2  # + SOT, SOD, EOC
    a, ok_a = decode(full, shape)
    b, ok_b = decode(implicit, shape, settings=IMPLICIT)
    assert ok_a and ok_b and torch.equal(a, b)


def test_budget_below_minimum_gives_none(rgb, gray):
    m_rgb = min_codestream_bytes((3, 32, 32))
    m_gray = min_codestream_bytes((1, 28, 28))
    assert 60 < m_gray < m_rgb < 130  # headers dominate: see the module docstring
    assert min_codestream_bytes((3, 32, 32), IMPLICIT) == 3 * 3  # one empty packet per band level
    assert min_codestream_bytes((1, 28, 28), IMPLICIT) == 1
    for img in rgb:
        assert encode_to_budget(img, m_rgb - 1) is None
        assert encode_to_budget(img, 0) is None
    for img in gray:
        assert encode_to_budget(img, m_gray - 1) is None
    # The bound is attained: a mid-grey image codes to exactly that many bytes.
    grey = torch.full((3, 32, 32), 128 / 255)
    data = encode_to_budget(grey, m_rgb)
    assert data is not None and len(data) == m_rgb
    out, ok = decode(data, (3, 32, 32))
    assert ok and torch.equal(out, grey)


def test_deterministic(rgb, gray):
    for img in (rgb[0], gray[0]):
        a = encode_to_budget(img, 300)
        assert a == encode_to_budget(img, 300)
        x1, ok1 = decode(a, tuple(img.shape))
        x2, ok2 = decode(a, tuple(img.shape))
        assert ok1 and ok2 and torch.equal(x1, x2)


# ---------------------------------------------------------------- corrupted input


@pytest.mark.parametrize("settings", [J2KSettings(), IMPLICIT], ids=["full", "implicit"])
@pytest.mark.parametrize("shape", [(3, 32, 32), (1, 28, 28)])
def test_corruption_never_raises(settings, shape):
    img = natural_images(1, *shape, seed=4)[0]
    fb = torch.full(shape, 0.25)
    data = encode_to_budget(img, 400, settings)
    rng = np.random.default_rng(0)
    cases = [b"", None, bytes(rng.integers(0, 256, 500, dtype=np.uint8))]
    cases += [data[:n] for n in range(0, len(data), 7)]  # truncated
    arr = np.frombuffer(data, np.uint8)
    for ber in (1e-3, 1e-2, 1e-1):  # random bit flips
        for _ in range(10):
            bits = np.unpackbits(arr)
            cases.append(np.packbits(bits ^ (rng.random(bits.size) < ber)).tobytes())
    oks = []
    for bad in cases:
        out, ok = decode(bad, shape, fb, settings)
        assert out.shape == shape and out.dtype == torch.float32
        assert bool(torch.isfinite(out).all()) and 0 <= out.min() and out.max() <= 1
        if not ok:
            assert torch.equal(out, fb)
        oks.append(ok)
    # Empty and missing data always fall back. Random garbage falls back in full mode (no valid header);
    # with implicit headers any bytes are taken as packet data and often decode (ok means "decodable",
    # not "correct": JPEG2000 carries no checksum).
    assert oks[:2] == [False, False]
    if not settings.implicit_header:
        assert oks[2] is False
    assert any(not ok for ok in oks[3:])


def test_truncated_full_codestream_falls_back(rgb):
    # With Pillow's OpenJPEG binding a full codestream cut anywhere (even just its EOC marker) fails to
    # decode and gives the fallback with ok=False; no partial image is returned in this mode.
    data = encode_to_budget(rgb[0], 600)
    fb = torch.zeros(3, 32, 32)
    for n in (1, 10, 60, len(data) // 2, len(data) - 10, len(data) - 1):
        out, ok = decode(data[:n], (3, 32, 32), fb)
        assert not ok and torch.equal(out, fb)


def test_truncated_implicit_payload_may_decode_partially(rgb):
    # With implicit headers the receiver rebuilds a consistent tile-part around whatever arrived, and
    # OpenJPEG then decodes some truncated payloads partially: kept as they are, with ok=True.
    data = encode_to_budget(rgb[0], 600, IMPLICIT)
    ref, _ = decode(data, (3, 32, 32), settings=IMPLICIT)
    partial = [decode(data[:n], (3, 32, 32), settings=IMPLICIT) for n in range(1, len(data))]
    kept = [img for img, ok in partial if ok]
    assert kept, "expected at least one accepted partial decode"
    assert len(kept) < len(partial)  # ... while others are rejected
    assert any(not torch.equal(img, ref) for img in kept)  # a partial decode is not the full image


def test_wrong_shape_and_decompression_bomb_fall_back(rgb):
    data = encode(rgb[0], bpp=2.0)
    fb = torch.zeros(3, 28, 28)
    out, ok = decode(data, (3, 28, 28), fb)  # header says 32x32
    assert not ok and torch.equal(out, fb)
    out, ok = decode(data, (1, 32, 32))  # header says 3 components
    assert not ok
    # SIZ claims a 65535 x 65535 image: rejected from the header, nothing is allocated or decoded.
    siz = bytearray(data)
    assert siz[2:4] == b"\xff\x51"
    siz[8:12] = (65535).to_bytes(4, "big")  # Xsiz
    siz[12:16] = (65535).to_bytes(4, "big")  # Ysiz
    out, ok = decode(bytes(siz), (3, 32, 32))
    assert not ok


def test_load_truncated_images_is_scoped(rgb, monkeypatch):
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = encode_to_budget(rgb[0], 600)
    out, ok = decode(data[: len(data) // 2], (3, 32, 32), torch.zeros(3, 32, 32))
    assert not ok  # a failed decode is not passed off as an image
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is restored


# ---------------------------------------------------------------- batches and helpers


def test_batch_helpers(rgb):
    datas = encode_batch(rgb, 300)
    assert len(datas) == 4 and all(d is not None and len(d) <= 300 for d in datas)
    datas[1] = None
    datas[2] = b"\x00" * 50
    fb = mean_image(rgb)
    x_hat, ok = decode_batch(datas, (3, 32, 32), fb)
    assert x_hat.shape == (4, 3, 32, 32) and x_hat.dtype == torch.float32
    assert ok.dtype == torch.bool and ok.tolist() == [True, False, False, True]
    assert torch.equal(x_hat[1], fb) and torch.equal(x_hat[2], fb)
    # bytes-like inputs other than bytes are accepted; anything else counts as nothing received
    good = datas[0]
    for like in (bytearray(good), memoryview(good), np.frombuffer(good, np.uint8),
                 torch.frombuffer(bytearray(good), dtype=torch.uint8)):
        assert torch.equal(decode(like, (3, 32, 32))[0], x_hat[0])
    for junk in (np.zeros(4, np.float32), 3.5, "text", [1, 2]):
        out, ok = decode(junk, (3, 32, 32), fb)
        assert not ok and torch.equal(out, fb)
    empty, ok0 = decode_batch([], (3, 32, 32))
    assert empty.shape == (0, 3, 32, 32) and ok0.shape == (0,)
    assert encode_batch(rgb, 10) == [None] * 4


def test_mean_image():
    x = torch.rand(5, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    m = mean_image(x)
    assert m.shape == (3, 8, 8) and m.dtype == torch.float32
    assert torch.allclose(m, x.mean(0))
    with pytest.raises(ValueError):
        mean_image(torch.zeros(0, 3, 8, 8))


def test_source_coding_quality_dict(rgb):
    fb = mean_image(rgb)
    r = source_coding_quality(rgb, max_bytes=250, fallback=fb)
    json.dumps(r, allow_nan=False)
    assert r["coded_fraction"] == 1.0 and r["bytes_max"] <= 250
    assert len(r["psnr_per_image"]) == 4 and r["psnr"] == pytest.approx(np.mean(r["psnr_per_image"]))
    assert r["bpp"] == pytest.approx(8 * r["bytes_mean"] / (32 * 32))
    none = source_coding_quality(rgb, max_bytes=20, fallback=fb)
    assert none["coded_fraction"] == 0.0 and none["bytes_mean"] is None and none["bpp"] is None
    by_rate = source_coding_quality(rgb, bpp=2.0)
    assert 0 < by_rate["bytes_mean"] < 3 * 32 * 32
