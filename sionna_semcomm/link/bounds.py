"""Size limits, checked before anything is allocated.

Two kinds of checks, both raising :class:`SizeError` with the limit and the memory the request would need:

- hard limits on the configuration (:data:`LIMITS`), checked by the config dataclasses
  (:class:`~sionna_semcomm.link.config.LinkConfig`, :class:`~sionna_semcomm.link.channels.ChannelSpec`,
  the frame of :class:`~sionna_semcomm.link.ofdm.OFDMLink`, the conventional links' ``[jpeg2000]``);
- power ratios in dB (SNR, PSR) within ``±DB_LIMIT`` (:func:`check_db`);
- the working memory of one batch against the memory available on the device
  (:func:`check_batch_memory`), checked by the link command before the first SNR point.

Memory figures are estimates: one link call holds about :data:`LINK_ARRAYS_PER_SAMPLE` arrays of the
frame's length (signal, channel output, noise, received signal, grid, estimate, equalised grid, ...).
"""

from __future__ import annotations

import os

__all__ = ["SizeError", "DB_LIMIT", "LIMITS", "LINK_ARRAYS_PER_SAMPLE", "WORK_BYTES_PER_VALUE", "check_limit", "check_db",
           "format_bytes", "frame_bytes", "available_memory", "check_batch_memory"]

#: largest |SNR| or |PSR| [dB]: the float32 noise and perturbation powers 10^(±x/10) are then 1e-30 or 1e30, and
#: the link's arithmetic (squares summed over a frame) stays within float32's range (3.4e38)
DB_LIMIT = 300.0
#: hard limits: name -> (largest value, why)
LIMITS = {
    "fft_size": (65_536, "subcarriers per OFDM symbol (5G NR uses at most 4,096)"),
    "num_taps": (4_096, "channel taps"),
    "frame_samples": (2**24, "complex time samples per frame, pilots and cyclic prefixes included"),
    "codestream_bytes": (1 << 20, "JPEG2000 bytes per image (a 256x256 RGB image is 196,608 bytes uncompressed)"),
}
#: arrays of a frame's length one link call holds at once (an estimate, see the module doc)
LINK_ARRAYS_PER_SAMPLE = 16
#: bytes of one complex64 sample
COMPLEX_BYTES = 8
#: bytes a decoder or codec holds per value it handles (LDPC messages per coded bit, activations per pixel)
WORK_BYTES_PER_VALUE = 256


class SizeError(ValueError):
    """A size above its limit, or a batch that does not fit in memory; the message gives both figures."""


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KiB"``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(n) < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError  # unreachable


def frame_bytes(num_time_samples: int) -> int:
    """Working memory [bytes] of one frame of ``num_time_samples`` complex samples in one link call."""
    return LINK_ARRAYS_PER_SAMPLE * COMPLEX_BYTES * num_time_samples


def check_limit(name: str, value: int, need_bytes: int, where: str = "") -> None:
    """Raise :class:`SizeError` when ``value`` exceeds ``LIMITS[name]``.

    :param need_bytes: the memory the request would need, quoted in the message.
    :param where: prefix of the message (e.g. ``"[jpeg2000] "``).
    """
    limit, what = LIMITS[name]
    if value > limit:
        raise SizeError(f"{where}{name} = {value:,} is above the limit of {limit:,} {what}: it would need about "
                        f"{format_bytes(need_bytes)} of memory")


def check_db(name: str, value: float) -> None:
    """Raise :class:`ValueError` unless ``|value| <= DB_LIMIT`` (``name``: ``"snr_db"``, ``"psr_db"``)."""
    if not -DB_LIMIT <= value <= DB_LIMIT:
        raise ValueError(f"{name} must lie in [-{DB_LIMIT:g}, {DB_LIMIT:g}] dB, got {value:g} (10^({value:g}/10) is no "
                         "power ratio float32 arithmetic can carry)")


def available_memory(device: str = "cpu") -> int:
    """Bytes of memory free for a new allocation on ``device`` (CPU: ``MemAvailable``; CUDA: free memory)."""
    if device.startswith("cuda"):
        import torch

        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_batch_memory(what: str, batch_size: int, bytes_per_item: int, device: str = "cpu",
                       option: str = "--batch-size", given: int | None = None) -> None:
    """Raise :class:`SizeError` when ``batch_size`` items of ``bytes_per_item`` do not fit in the memory
    available on ``device``; the message names ``option`` with the value ``given`` (default ``batch_size``;
    the batch may be smaller than asked, e.g. capped by the images there are) and the largest batch that fits."""
    need = batch_size * bytes_per_item
    free = available_memory(device)
    if need > free:
        fits = max(free // max(bytes_per_item, 1), 0)
        raise SizeError(f"{option} {given if given is not None else batch_size:,}: a batch of {batch_size:,} {what} needs "
                        f"about {format_bytes(need)} of working memory, {format_bytes(free)} is available on {device}; "
                        f"use {option} {fits:,} or less")
