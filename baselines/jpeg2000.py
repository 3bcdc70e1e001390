"""JPEG2000 source coding (Pillow / OpenJPEG, in memory) for the conventional "JPEG2000 + LDPC + QAM" links.

The codestream bytes produced here are what the conventional link channel-codes and sends, so every byte
counts, headers included. All coding happens in memory (``io.BytesIO``); nothing touches the disk.

Codestream format
-----------------
* Raw JPEG2000 codestreams (``.j2k``, ``no_jp2=True``): no JP2 box wrapper.
* OpenJPEG always writes a comment marker segment ("Created by OpenJPEG version ...", 39 bytes). It is
  optional in ISO/IEC 15444-1 and is removed, so what is returned is still a standard codestream.
* One tile, one quality layer, default code-blocks, no SOP/EPH/PLT/TLM markers.
* ``implicit_header=False`` (default): the full codestream (main header, tile-part header, packet data,
  EOC) is sent, as a plain JPEG2000 file would be. ``implicit_header=True``: only the packet data is sent;
  both ends know the image shape and coding settings, so the receiver rebuilds the main header (which
  OpenJPEG derives from shape and settings alone, never from pixel values), the tile-part header and EOC.
  This removes 93 (RGB 32x32) / 81 (gray 28x28) bytes of per-image overhead, a stronger conventional
  baseline; the default is the plain format.

Coding settings (measured on 100 CIFAR-10 test images and 100 MNIST test images, see
``source_coding_quality``)
* Wavelet: reversible 5/3 with the reversible colour transform (RCT) for RGB, OpenJPEG's own default.
  At the byte budgets that matter here it is as good as or better than the irreversible 9/7 + ICT
  (CIFAR-10, R=3, full header: 21.7 vs 21.5 dB at 160 B, 26.9 vs 26.7 dB at 256 B, both 31.2 dB at
  384 B, 34.6 vs 34.8 dB at 512 B; MNIST, R=1: 29.9 vs 29.5 dB at 160 B) and its quantisation marker is
  half as long (1 instead of 2 bytes per sub-band). ``irreversible=True`` selects 9/7 + ICT.
* Resolution levels (``num_resolutions``, 1 = no wavelet decomposition; OpenJPEG's default of 6 wastes
  header and packet bytes on tiny images): by default ``1 + floor(log2(min(H, W) / 8))``, capped to
  ``[1, 6]``, so the coarsest band stays at least 8 pixels wide, and 1 for images smaller than 32 pixels.
  That is 3 for 32x32 CIFAR-10 (R=2: -0.9 dB, R=6: -3.1 dB at 192 B) and 1 for 28x28 MNIST, whose
  near-binary digits code far better without a transform (R=1: 36.4 dB, R=2: 29.5 dB at 192 B).
* Rate control: OpenJPEG's rate allocation (``quality_mode="rates"``, one layer). Its target is only
  approximate, so :func:`encode_to_budget` searches the target until the *actual* length fits.

Fallback image
--------------
When a codestream cannot be sent (the budget is below its smallest size) or cannot be decoded (corrupted by
residual channel errors, truncated, empty), the receiver shows a fixed image: by convention the per-dataset
mean image (:func:`mean_image` of the training set), as in the Deep JSCC literature's comparisons with
digital schemes; it is the MSE-optimal guess when nothing was received.

Robustness of :func:`decode`
----------------------------
It never raises on received data: empty data, decoder errors and headers that disagree with the expected
shape (size, component count, bit depth, or a decompression bomb claiming a huge size, rejected before any
pixel is decoded) give the fallback with ``ok=False``. Pillow's global ``ImageFile.LOAD_TRUNCATED_IMAGES``
is forced to ``False`` only for the duration of each decode (under a lock, then restored): with it set,
Pillow would hand back a half-filled image on a decoder failure. With Pillow 13 / OpenJPEG 2.5 a truncated
*full* codestream (even one missing only its EOC) is rejected; with ``implicit_header`` the receiver
rebuilds a consistent tile-part around the received bytes and OpenJPEG decodes some truncated payloads
partially (kept, ``ok=True``). ``ok`` means "decodable", not "correct": JPEG2000 has no checksum, so
bit errors in packet data usually decode to a damaged image with ``ok=True`` (the link's CRC is what
detects errors). Fuzzed with ~67,000 corrupted codestreams (bit errors at 1e-4..1e-1, byte errors,
truncation, garbage) without a crash; the slowest decode took ~80 ms.

Images are float ``[C, H, W]`` in ``[0, 1]`` (``C`` = 1 or 3) or ``uint8`` arrays ``[H, W]`` /
``[H, W, C]``; they are quantised to 8 bits (``round(255 x)``) before coding. Decoded images are
``torch.float32`` ``[C, H, W]`` in ``[0, 1]`` (multiples of 1/255).

Example::

    >>> import torch
    >>> x = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> data = encode_to_budget(x, max_bytes=300)
    >>> len(data) <= 300
    True
    >>> x_hat, ok = decode(data, (3, 32, 32), fallback=torch.full((3, 32, 32), 0.5))
    >>> ok, x_hat.shape
    (True, torch.Size([3, 32, 32]))
    >>> decode(b"garbage", (3, 32, 32), fallback=torch.zeros(3, 32, 32))[1]
    False
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import math
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "J2KSettings",
    "default_num_resolutions",
    "encode",
    "encode_to_budget",
    "min_codestream_bytes",
    "decode",
    "encode_batch",
    "decode_batch",
    "source_coding_quality",
    "mean_image",
]

_SOC = b"\xff\x4f"
_SOT = b"\xff\x90"
_SOD = b"\xff\x93"
_EOC = b"\xff\xd9"
_COM = b"\xff\x64"
_SOT_SEGMENT_BYTES = 12  # marker (2) + Lsot (2) + Isot (2) + Psot (4) + TPsot (1) + TNsot (1)

_RANGE_TOL = 1e-3

# Serialises the scoped override of Pillow's global ImageFile.LOAD_TRUNCATED_IMAGES in decode().
_PIL_LOAD_LOCK = threading.Lock()


@dataclass(frozen=True)
class J2KSettings:
    """JPEG2000 coding settings; both ends of a link must use the same ones.

    :param num_resolutions: resolution levels (1 = no wavelet transform, at most 6 here); ``None``
        picks :func:`default_num_resolutions` from the image size.
    :param irreversible: ``False``: reversible 5/3 wavelet (+ RCT for RGB); ``True``: 9/7 (+ ICT).
    :param implicit_header: send only the packet data; the receiver rebuilds the headers from shape and
        settings (see the module docstring).
    """

    num_resolutions: int | None = None
    irreversible: bool = False
    implicit_header: bool = False

    def resolutions_for(self, height: int, width: int) -> int:
        if self.num_resolutions is None:
            return default_num_resolutions(height, width)
        r = self.num_resolutions
        if not isinstance(r, int) or not 1 <= r <= 6:
            raise ValueError(f"num_resolutions must be an int in [1, 6], got {r!r}")
        if min(height, width) < 2 ** (r - 1):
            raise ValueError(f"num_resolutions={r} is too many for a {height}x{width} image")
        return r


def default_num_resolutions(height: int, width: int) -> int:
    """Default resolution levels: ``1 + floor(log2(min(H, W) / 8))`` in ``[1, 6]``; 1 below 32 pixels."""
    side = min(height, width)
    if side < 32:
        return 1
    return max(1, min(6, 1 + int(math.floor(math.log2(side / 8)))))


# ---------------------------------------------------------------- image conversion


def _to_uint8(image) -> np.ndarray:
    """Image -> ``uint8`` array ``[H, W]`` (gray) or ``[H, W, 3]`` (RGB)."""
    if isinstance(image, Tensor):
        image = image.detach().cpu().numpy()
    arr = np.asarray(image)
    if arr.dtype == np.uint8:
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
            raise ValueError(f"uint8 images must be [H, W] or [H, W, C] with C in (1, 3), got {arr.shape}")
        return np.ascontiguousarray(arr)
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"images must be float [C, H, W] in [0, 1] or uint8 [H, W, C], got {arr.dtype}")
    if arr.ndim != 3 or arr.shape[0] not in (1, 3):
        raise ValueError(f"float images must be [C, H, W] with C in (1, 3), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("image contains NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < -_RANGE_TOL or hi > 1 + _RANGE_TOL:
        raise ValueError(f"image values lie in [{lo:.6g}, {hi:.6g}], outside [0, 1]")
    q = np.clip(np.rint(arr.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    q = q[0] if q.shape[0] == 1 else q.transpose(1, 2, 0)
    return np.ascontiguousarray(q)


def _chw(arr: np.ndarray) -> tuple[int, int, int]:
    return (1, *arr.shape) if arr.ndim == 2 else (arr.shape[2], arr.shape[0], arr.shape[1])


def _check_shape(shape) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or shape[0] not in (1, 3) or shape[1] < 1 or shape[2] < 1:
        raise ValueError(f"shape must be (C, H, W) with C in (1, 3), got {shape}")
    return shape


# ---------------------------------------------------------------- codestream plumbing


def _pil_encode(arr: np.ndarray, ratio: float | None, settings: J2KSettings) -> bytes:
    """Encode with OpenJPEG; return the full codestream without its comment marker segment."""
    from PIL import Image

    c, h, w = _chw(arr)
    buf = io.BytesIO()
    Image.fromarray(arr).save(  # 2-D uint8 -> "L", [H, W, 3] uint8 -> "RGB"
        buf,
        format="JPEG2000",
        no_jp2=True,
        quality_mode="rates",
        quality_layers=None if ratio is None else [float(ratio)],
        num_resolutions=settings.resolutions_for(h, w),
        irreversible=bool(settings.irreversible),
        mct=1 if c == 3 else 0,
    )
    main, body = _split(buf.getvalue())
    return _assemble(main, body)


def _split(cs: bytes) -> tuple[bytes, bytes]:
    """Split an OpenJPEG single-tile codestream into (main header without COM, tile-part packet data)."""
    if cs[:2] != _SOC:
        raise RuntimeError("encoder output does not start with SOC")
    main = bytearray(_SOC)
    i = 2
    while cs[i : i + 2] != _SOT:
        if i + 4 > len(cs) or cs[i] != 0xFF:
            raise RuntimeError(f"unexpected main-header layout at byte {i}")
        seg = 2 + int.from_bytes(cs[i + 2 : i + 4], "big")
        if cs[i : i + 2] != _COM:
            main += cs[i : i + seg]
        i += seg
    lsot = int.from_bytes(cs[i + 2 : i + 4], "big")
    psot = int.from_bytes(cs[i + 6 : i + 10], "big")
    sod = i + 2 + lsot
    if lsot != 10 or cs[i + 10 : i + 12] != b"\x00\x01" or cs[sod : sod + 2] != _SOD:
        raise RuntimeError("unexpected tile-part header (expected one tile-part without extra markers)")
    if cs[i + psot :] != _EOC:
        raise RuntimeError("expected a single tile-part followed by EOC")
    return bytes(main), cs[sod + 2 : i + psot]


def _assemble(main: bytes, body: bytes) -> bytes:
    """Main header + one tile-part (SOT, SOD, packet data) + EOC."""
    psot = _SOT_SEGMENT_BYTES + 2 + len(body)
    sot = _SOT + (10).to_bytes(2, "big") + b"\x00\x00" + psot.to_bytes(4, "big") + b"\x00\x01"
    return main + sot + _SOD + body + _EOC


def _payload(cs: bytes, settings: J2KSettings) -> bytes:
    """What is sent: the whole codestream, or only its packet data with ``implicit_header``."""
    return _split(cs)[1] if settings.implicit_header else cs


@functools.lru_cache(maxsize=64)
def _main_header(shape: tuple[int, int, int], settings: J2KSettings) -> bytes:
    """The main header OpenJPEG writes for this shape and these settings (pixel values do not enter it)."""
    c, h, w = shape
    flat = np.full((h, w) if c == 1 else (h, w, 3), 128, dtype=np.uint8)
    return _split(_pil_encode(flat, None, settings))[0]


# ---------------------------------------------------------------- encoding


def encode(image, bpp: float | None = None, settings: J2KSettings = J2KSettings()) -> bytes:
    """Encode one image at a target rate.

    :param image: float ``[C, H, W]`` in ``[0, 1]`` (tensor or array) or ``uint8`` ``[H, W]`` /
        ``[H, W, C]``; ``C`` in (1, 3).
    :param bpp: target bits per pixel (per ``H*W`` pixel, all channels together) handed to OpenJPEG's
        rate allocation, i.e. a compression ratio of ``8 C / bpp``. It is a target, not a bound: the real
        length may differ by tens of bytes (use :func:`encode_to_budget` for a hard limit). ``None`` (or
        ``bpp >= 8 C``): no rate limit (lossless with the reversible wavelet).
    :param settings: :class:`J2KSettings`.
    :output: ``bytes`` to transmit (see ``implicit_header``).
    """
    arr = _to_uint8(image)
    c = _chw(arr)[0]
    if bpp is not None and not bpp > 0:
        raise ValueError(f"bpp must be positive, got {bpp}")
    ratio = None if bpp is None or bpp >= 8 * c else 8 * c / bpp
    return _payload(_pil_encode(arr, ratio, settings), settings)


def encode_to_budget(image, max_bytes: int, settings: J2KSettings = J2KSettings()) -> bytes | None:
    """The best codestream of at most ``max_bytes`` bytes, or ``None`` if even the smallest is larger.

    If the codestream without rate limit (lossless with the reversible wavelet) fits, it is returned.
    Otherwise: bisection over OpenJPEG's integer byte target ``t`` in ``[1, C H W - 1]`` (compression
    ratio ``C H W / t``) for the largest ``t`` whose *actual* output fits, which is the largest such
    codestream. Deterministic; about 13 encodes of a CIFAR-10 image (~10 ms). The output length is
    non-decreasing in ``t`` for OpenJPEG (checked exhaustively for all ``t`` on 100 CIFAR-10 and 100 MNIST
    images), so a larger budget never gives a shorter codestream.

    The smallest codestream of an image (``t = 1``) holds the headers plus at least one coding pass; it
    is never below :func:`min_codestream_bytes` but can exceed it by some tens of bytes (CIFAR-10: 102 to
    126 bytes against a bound of 102), so ``None`` is possible for budgets slightly above that bound.

    Results are remembered (the latest :data:`_BUDGET_CACHE_SIZE`, keyed by a hash of the pixels, the budget
    and the settings): the conventional links of every modulation search the same images and budgets.

    :param image: as for :func:`encode`.
    :param max_bytes: budget in bytes (what is sent, see ``implicit_header``).
    :param settings: :class:`J2KSettings`.
    :output: ``bytes`` with ``len <= max_bytes``, or ``None``.
    """
    arr = _to_uint8(image)
    if max_bytes < 1:
        return None
    key = (hashlib.blake2b(arr.tobytes(), digest_size=16).digest(), arr.shape, int(max_bytes), settings)
    with _budget_lock:
        if key in _budget_cache:
            return _budget_cache[key]
    out = _search_budget(arr, max_bytes, settings)
    with _budget_lock:
        _budget_cache[key] = out
        while len(_budget_cache) > _BUDGET_CACHE_SIZE:
            del _budget_cache[next(iter(_budget_cache))]
    return out


_BUDGET_CACHE_SIZE = 65536  # codestreams of a few hundred bytes: a few tens of MB at most
_budget_cache: dict = {}
_budget_lock = threading.Lock()


def _search_budget(arr: np.ndarray, max_bytes: int, settings: J2KSettings) -> bytes | None:
    """:func:`encode_to_budget`'s bisection on a ``uint8`` image."""
    raw = arr.size

    def at(t: int | None) -> bytes:
        return _payload(_pil_encode(arr, None if t is None else raw / t, settings), settings)

    # OpenJPEG's rate allocation may drop the last coding passes even when the target would hold them
    # all, so the unconstrained codestream is tried first.
    unconstrained = at(None)
    if len(unconstrained) <= max_bytes:
        return unconstrained
    best = at(1)
    if len(best) > max_bytes:
        return None
    lo, hi = 1, raw - 1  # invariant: at(lo) fits and is `best`; the answer lies in [lo, hi]
    while lo < hi:
        mid = (lo + hi + 1) // 2
        out = at(mid)
        if len(out) <= max_bytes:
            lo, best = mid, out
        else:
            hi = mid - 1
    return best


@functools.lru_cache(maxsize=64)
def _min_bytes(shape: tuple[int, int, int], settings: J2KSettings) -> int:
    c, h, w = shape
    flat = np.full((h, w) if c == 1 else (h, w, 3), 128, dtype=np.uint8)
    # A mid-grey image has all-zero wavelet coefficients: headers plus one empty packet (1 byte) per
    # component and resolution level, the least any image can be coded in.
    return len(_payload(_pil_encode(flat, float(flat.size), settings), settings))


def min_codestream_bytes(shape: Sequence[int], settings: J2KSettings = J2KSettings()) -> int:
    """Lower bound on what :func:`encode_to_budget` can return for images of ``shape`` = (C, H, W).

    The size of a codestream with headers and empty packets only (what a mid-grey image codes to); no image
    of this shape fits in fewer bytes. With the defaults: 102 bytes for 3x32x32, 82 bytes for 1x28x28
    (full header); 9 and 1 bytes with ``implicit_header``.
    """
    return _min_bytes(_check_shape(shape), settings)


def encode_batch(images, max_bytes: int, settings: J2KSettings = J2KSettings()) -> list[bytes | None]:
    """:func:`encode_to_budget` for each image of a float batch ``[B, C, H, W]`` in ``[0, 1]``."""
    if isinstance(images, Tensor):
        images = images.detach().cpu()
    if len(getattr(images, "shape", ())) != 4:
        raise ValueError(f"images must be [B, C, H, W], got {getattr(images, 'shape', None)}")
    return [encode_to_budget(img, max_bytes, settings) for img in images]


# ---------------------------------------------------------------- decoding


@contextlib.contextmanager
def _strict_pil_loading() -> Iterator[None]:
    """Scope ``ImageFile.LOAD_TRUNCATED_IMAGES = False`` (restored afterwards) and silence warnings.

    With that flag set (by anyone, globally), Pillow would return a half-filled image instead of raising
    when OpenJPEG reports a failure, and a failed decode would pass as ``ok``. OpenJPEG's own tolerance
    of truncated codestreams is unaffected. Decompression-bomb warnings are silenced; oversized images are
    rejected by the size check before any pixel is decoded.
    """
    from PIL import ImageFile

    with _PIL_LOAD_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _decode_array(cs: bytes, shape: tuple[int, int, int]) -> np.ndarray | None:
    from PIL import Image

    c, h, w = shape
    mode = "L" if c == 1 else "RGB"
    try:
        with _strict_pil_loading(), Image.open(io.BytesIO(cs), formats=["JPEG2000"]) as im:
            # Header checks before any pixel is decoded: wrong size (or a bomb claiming a huge one),
            # wrong component count or bit depth.
            if im.size != (w, h) or im.mode != mode:
                return None
            im.load()
            arr = np.array(im, dtype=np.uint8)
    except Exception:  # noqa: BLE001 - any decoder failure means "not decodable"
        return None
    if arr.shape != ((h, w) if c == 1 else (h, w, 3)):
        return None
    return arr


def _fallback_tensor(fallback, shape: tuple[int, int, int]) -> Tensor:
    if fallback is None:
        return torch.full(shape, 0.5, dtype=torch.float32)
    fb = torch.as_tensor(fallback)
    if tuple(fb.shape) != shape:
        raise ValueError(f"fallback must have shape {shape}, got {tuple(fb.shape)}")
    return fb.detach().to(torch.float32)


def _as_bytes(data) -> bytes:
    """Received data as ``bytes``; anything that is not bytes-like counts as nothing received."""
    if data is None:
        return b""
    if isinstance(data, Tensor):
        data = data.detach().cpu().numpy()
    if isinstance(data, np.ndarray) and data.dtype != np.uint8:
        return b""
    try:
        return bytes(memoryview(data))
    except Exception:  # noqa: BLE001
        return b""


def decode(
    data: bytes | None,
    shape: Sequence[int],
    fallback: Tensor | None = None,
    settings: J2KSettings = J2KSettings(),
) -> tuple[Tensor, bool]:
    """Decode a received codestream; never raises on bad data.

    :param data: received bytes (``bytes``, ``bytearray``, ``memoryview`` or a ``uint8`` array/tensor;
        possibly corrupted or truncated), or ``None`` (nothing was sent).
    :param shape: expected ``(C, H, W)``.
    :param fallback: float ``[C, H, W]`` image returned when decoding fails (the dataset mean image by
        convention, see :func:`mean_image`); ``None``: mid-grey 0.5.
    :param settings: the :class:`J2KSettings` used by the encoder (only ``implicit_header`` and, with it,
        the wavelet and resolution levels matter; a full codestream describes itself).
    :output: ``(image, ok)``: ``image`` float32 ``[C, H, W]`` in ``[0, 1]`` on the fallback's device;
        ``ok`` is ``False`` (and ``image`` a copy of the fallback) for empty/``None`` data, any decoder
        error, or a header whose size, component count or bit depth differs from ``shape``. Partial
        decodes that OpenJPEG accepts (e.g. truncated packet data) are kept with ``ok=True``.
    :raises ValueError: only for a malformed ``shape`` or ``fallback`` (caller errors).
    """
    shape = _check_shape(shape)
    fb = _fallback_tensor(fallback, shape)
    arr = None
    payload = _as_bytes(data)
    if payload:
        cs = _assemble(_main_header(shape, settings), payload) if settings.implicit_header else payload
        arr = _decode_array(cs, shape)
    if arr is None:
        return fb.clone(), False
    img = torch.from_numpy(arr).to(torch.float32).div_(255.0)
    img = img.unsqueeze(0) if shape[0] == 1 else img.permute(2, 0, 1).contiguous()
    return img.to(fb.device), True


def decode_batch(
    datas: Sequence[bytes | None],
    shape: Sequence[int],
    fallback: Tensor | None = None,
    settings: J2KSettings = J2KSettings(),
) -> tuple[Tensor, Tensor]:
    """:func:`decode` for each entry.

    :output: ``(images, ok)``: float32 ``[B, C, H, W]`` and bool ``[B]``, on the fallback's device.
    """
    shape = _check_shape(shape)
    fb = _fallback_tensor(fallback, shape)
    if len(datas) == 0:
        return fb.new_zeros((0, *shape)), torch.zeros(0, dtype=torch.bool, device=fb.device)
    outs = [decode(d, shape, fb, settings) for d in datas]
    images = torch.stack([im for im, _ in outs])
    ok = torch.tensor([k for _, k in outs], dtype=torch.bool, device=fb.device)
    return images, ok


# ---------------------------------------------------------------- dataset helpers


def mean_image(dataset_images: Tensor) -> Tensor:
    """Per-pixel mean of a dataset: the fallback image shown when a codestream is lost.

    :param dataset_images: float ``[N, C, H, W]`` in ``[0, 1]`` (use the training set).
    :output: float32 ``[C, H, W]`` on the input's device (accumulated in float64).
    """
    x = torch.as_tensor(dataset_images)
    if x.dim() != 4 or x.shape[0] == 0:
        raise ValueError(f"dataset_images must be a non-empty [N, C, H, W] batch, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"dataset_images must be float images in [0, 1], got dtype {x.dtype}")
    return (x.sum(dim=0, dtype=torch.float64) / x.shape[0]).to(torch.float32)


def source_coding_quality(
    images: Tensor,
    max_bytes: int | None = None,
    bpp: float | None = None,
    fallback: Tensor | None = None,
    settings: J2KSettings = J2KSettings(),
) -> dict:
    """PSNR/SSIM of JPEG2000 source coding alone (error-free channel).

    Give exactly one of ``max_bytes`` (hard budget, :func:`encode_to_budget`; images whose smallest
    codestream does not fit are shown as ``fallback``) or ``bpp`` (rate target, :func:`encode`).

    :param images: float ``[B, C, H, W]`` in ``[0, 1]``.
    :param fallback: ``[C, H, W]`` image for images that could not be coded (the training-set mean image by
        convention); ``None``: mid-grey.
    :output: JSON-ready dict: ``psnr`` and ``ssim`` (means over all images; PSNR capped at 100 dB for
        lossless images, see :mod:`sionna_semcomm.metrics`), ``bytes_mean`` / ``bytes_max`` (over coded
        images, ``None`` if none), ``bpp`` (``8 bytes_mean / (H W)``), ``coded_fraction``, and
        ``psnr_per_image``, ``ssim_per_image``, ``bytes_per_image`` (``None`` where not coded).
    """
    from sionna_semcomm.metrics import psnr, ssim

    if (max_bytes is None) == (bpp is None):
        raise ValueError("give exactly one of max_bytes and bpp")
    x = torch.as_tensor(images).detach().cpu().to(torch.float32)
    if x.dim() != 4:
        raise ValueError(f"images must be [B, C, H, W], got {tuple(x.shape)}")
    shape = tuple(x.shape[1:])
    if max_bytes is not None:
        datas = encode_batch(x, max_bytes, settings)
    else:
        datas = [encode(img, bpp, settings) for img in x]
    fb = None if fallback is None else torch.as_tensor(fallback).detach().cpu()
    x_hat, _ = decode_batch(datas, shape, fb, settings)
    p = psnr(x_hat, x)
    s = ssim(x_hat, x)
    sizes = [None if d is None else len(d) for d in datas]
    coded = [n for n in sizes if n is not None]
    mean_bytes = float(np.mean(coded)) if coded else None
    return {
        "psnr": float(p.mean()),
        "ssim": float(s.mean()),
        "bytes_mean": mean_bytes,
        "bytes_max": max(coded) if coded else None,
        "bpp": None if mean_bytes is None else 8.0 * mean_bytes / (shape[1] * shape[2]),
        "coded_fraction": len(coded) / len(sizes),
        "psnr_per_image": p.tolist(),
        "ssim_per_image": s.tolist(),
        "bytes_per_image": sizes,
    }
