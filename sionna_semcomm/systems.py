"""Registry of the systems that ``python -m sionna_semcomm.link`` can run over a scenario's link.

A system is registered under a name with a builder ``build(scenario, options) -> runner``; a runner has

- ``config() -> dict``: its settings (recorded in the results JSON),
- ``accounting() -> dict``: channel-use bookkeeping (``ofdm_symbols_per_frame`` / ``..._per_image``, ...),
- ``work_per_point() -> int`` and ``unit``: the size of one SNR point, for the progress bar,
- ``evaluate(snr_db, progress, resume, checkpoint) -> dict``: metrics at one SNR point (``progress(n)`` reports
  work done; ``checkpoint(state)`` is called after every batch with a JSON-able state, and ``resume=state``
  continues a point interrupted after that batch, bit for bit),
- ``batch_size`` and ``memory_per_item() -> int``: the estimated working memory [bytes] of one frame/image of a
  batch (:mod:`sionna_semcomm.link.bounds`), checked against the memory available before the first point.

The core registers the bit links here; other packages (``baselines``) register theirs through
:func:`register_system`, called by the composition root (the CLI), never imported by the core.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable

from .learned import learned_runner
from .link.bits import MODULATIONS, BitLink
from .link.bounds import WORK_BYTES_PER_VALUE, frame_bytes
from .link.ofdm import OFDMLink
from .scenario import Scenario
from .theory import ber_awgn, ber_rayleigh

__all__ = ["RunOptions", "SystemInfo", "register_system", "get_system", "list_systems", "SYSTEMS"]


@dataclass
class RunOptions:
    """Per-run settings from the CLI that override or complete a scenario.

    ``extra`` carries options that only some systems understand (checkpoint, data dir, ...).
    """

    seed: int = 0
    device: str = "cpu"
    csi: str | None = None
    num_bits: int | None = None
    num_images: int | None = None
    batch_size: int | None = None
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SystemInfo:
    """A registered system."""

    name: str
    kind: str  # "bits" or "image"
    description: str
    build: Callable[[Scenario, RunOptions], object]
    conventional: bool = False


SYSTEMS: dict[str, SystemInfo] = {}


def register_system(info: SystemInfo, replace: bool = False) -> None:
    """Add a system to the registry (``replace=True`` to overwrite an existing name)."""
    if info.name in SYSTEMS and not replace:
        raise ValueError(f"system {info.name!r} is already registered")
    SYSTEMS[info.name] = info


def get_system(name: str) -> SystemInfo:
    """Look a system up, with an error listing the known ones."""
    if name not in SYSTEMS:
        raise ValueError(f"unknown system {name!r}; known systems: {', '.join(sorted(SYSTEMS))}")
    return SYSTEMS[name]


def list_systems() -> list[SystemInfo]:
    """All registered systems, sorted by name."""
    return [SYSTEMS[k] for k in sorted(SYSTEMS)]


class BitSystemRunner:
    """Runs a :class:`~sionna_semcomm.link.bits.BitLink` over a scenario's link at each SNR point."""

    unit = "frame"

    def __init__(self, modulation: str, coded: bool, scenario: Scenario, options: RunOptions):
        link_cfg = dataclasses.replace(
            scenario.link,
            normalize="none",
            equalizer="zf",  # unbiased estimates for the APP demapper
            num_data_ofdm_symbols=None,
            csi=options.csi or scenario.link.csi,
        )
        num_symbols = scenario.bits.num_data_ofdm_symbols * link_cfg.fft_size
        link = OFDMLink(num_symbols, link_cfg, seed=options.seed, device=options.device)
        self.ldpc_decoder = options.extra.get("ldpc_decoder") or scenario.bits.ldpc_decoder
        self.bitlink = BitLink(link, modulation, coded, num_iter=scenario.bits.ldpc_iterations,
                               ldpc_decoder=self.ldpc_decoder)
        self.modulation, self.coded = modulation, coded
        self.num_bits = options.num_bits or scenario.bits.num_bits
        self.batch_size = options.batch_size or scenario.bits.batch_size
        self.link_cfg = link_cfg
        targets = {"bit_errors": options.extra.get("target_bit_errors"),
                   "block_errors": options.extra.get("target_block_errors")}
        self.targets = {k: v for k, v in targets.items() if v is not None} or None

    def config(self) -> dict:
        return {
            "modulation": self.modulation,
            "ldpc_rate": 0.5 if self.coded else None,
            "ldpc_n": self.bitlink.n if self.coded else None,
            "ldpc_k": self.bitlink.k if self.coded else None,
            "ldpc_decoder": self.ldpc_decoder if self.coded else None,
            "ldpc_max_iterations": self.bitlink.decoder.num_iter if self.coded else None,
            "num_bits": self.num_bits,
            "batch_size": self.batch_size,
            **({"target_errors": self.targets} if self.targets else {}),
            "link": self.link_cfg.to_dict(),
        }

    def accounting(self) -> dict:
        link = self.bitlink.link
        return {
            "ofdm_symbols_per_frame": link.num_ofdm_symbols,
            "channel_uses_per_frame": link.num_time_samples,
            "info_bits_per_frame": self.bitlink.info_bits_per_frame,
        }

    def work_per_point(self) -> int:
        return self.bitlink.num_frames(self.num_bits)

    def memory_per_item(self) -> int:
        """Working memory of one frame [bytes]: the link call and the demapper's/decoder's values per coded bit."""
        return frame_bytes(self.bitlink.link.num_time_samples) + WORK_BYTES_PER_VALUE * self.bitlink.n

    def theory(self, snr_db: float) -> float | None:
        """Closed-form BER where one exists (uncoded BPSK/QPSK; AWGN with perfect CSI, Rayleigh)."""
        if self.coded:
            return None
        kind, csi = self.link_cfg.channel.kind, self.link_cfg.csi
        if kind == "awgn":
            return float(ber_awgn(self.modulation, snr_db)) if csi == "perfect" else None
        if self.modulation in ("bpsk", "qpsk") and self.link_cfg.clipping_ratio is None:
            if kind == "rayleigh_flat" or self.link_cfg.cyclic_prefix_length >= self.link_cfg.channel.length - 1:
                fraction = self.link_cfg.dft_taps / self.link_cfg.fft_size
                return float(ber_rayleigh(self.modulation, snr_db, csi, fraction))
        return None

    def evaluate(self, snr_db: float, progress=None, resume: dict | None = None, checkpoint=None) -> dict:
        r = self.bitlink.simulate(snr_db, self.num_bits, self.batch_size, progress, resume, checkpoint, self.targets)
        return self._point(snr_db, r)

    def _point(self, snr_db: float, r: dict) -> dict:
        out = {"ber": r["ber"], "bler": r["bler"], "bits": r["bits"], "blocks": r["blocks"]}
        if self.coded:
            out["ldpc_iterations"] = r["ldpc_iterations"]
        if self.targets:
            out["stopped_early"] = r["stopped_early"]
        theory = self.theory(snr_db)
        if theory is not None:
            out["ber_theory"] = theory
        return out

    # -------------------------------------------------------------- a point in shards
    def shard_ranges(self, shards: int) -> list[tuple[int, int]]:
        """The point's batches cut into ``shards`` contiguous ranges ``(start, stop)`` (fewer when it has fewer
        batches)."""
        nb = self.bitlink.num_batches(self.num_bits, self.batch_size)
        edges = [round(j * nb / shards) for j in range(shards + 1)]
        return [(a, b) for a, b in zip(edges, edges[1:]) if b > a]

    def evaluate_batches(self, snr_db: float, start: int, stop: int, progress=None) -> list[dict]:
        """The counts of batches ``start .. stop - 1`` of the point (a shard; see :meth:`merge_shards`)."""
        return self.bitlink.simulate_batches(snr_db, self.num_bits, self.batch_size, start, stop, self.targets, progress)

    def merge_shards(self, snr_db: float, shards: list[list[dict]]) -> dict:
        """The point from its shards' counts (in batch order): equal to :meth:`evaluate` of the whole point."""
        totals, stopped = self.bitlink.merge([c for shard in shards for c in shard], self.targets)
        frames = self.bitlink.num_frames(self.num_bits)
        if not stopped and totals["blocks"] < frames:
            raise ValueError(f"the shards of the {snr_db:g} dB point hold {totals['blocks']} of its {frames} frames")
        return self._point(snr_db, {**self.bitlink.summarize(totals), "stopped_early": stopped and totals["blocks"] < frames})


def _bit_builder(modulation: str, coded: bool):
    def build(scenario: Scenario, options: RunOptions) -> BitSystemRunner:
        return BitSystemRunner(modulation, coded, scenario, options)

    return build


for _mod in MODULATIONS:
    register_system(SystemInfo(f"uncoded-{_mod}", "bits", f"uncoded {_mod.upper()} bits", _bit_builder(_mod, False)))
    register_system(SystemInfo(f"ldpc-{_mod}", "bits", f"5G LDPC rate-1/2 + {_mod.upper()} bits", _bit_builder(_mod, True)))

register_system(SystemInfo("mobilesc", "image", "MobileSC: SemBlock codec + pre-activation ResNet classifier (the paper's system)",
                           learned_runner("mobilesc")))
