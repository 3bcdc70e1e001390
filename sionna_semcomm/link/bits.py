"""Plain-bit links over the OFDM link: uncoded and 5G-LDPC-coded QAM, to check the simulator.

One LDPC codeword (or, uncoded, one block of random bits) fills the data resource elements of one frame,
so the block error rate (BLER) is the frame error rate. Mapping, soft demapping (APP, with the
equaliser's effective noise per symbol) and LDPC encoding are Sionna's; the LDPC decoder is Sionna's or the
layered one of :mod:`.ldpc` (``ldpc_decoder``).
"""

from __future__ import annotations

import math

import torch
from sionna.phy.fec.ldpc import LDPC5GEncoder
from sionna.phy.mapping import Demapper, Mapper

from ..runtime import make_generator
from .ldpc import DEFAULT_LDPC_DECODER, build_ldpc_decoder
from .ofdm import OFDMLink

__all__ = ["MODULATIONS", "BitLink"]

# name -> (constellation type, bits per symbol)
MODULATIONS = {"bpsk": ("pam", 1), "qpsk": ("qam", 2), "16qam": ("qam", 4), "64qam": ("qam", 6)}


class BitLink(torch.nn.Module):
    """Random bits -> (LDPC rate 1/2) -> QAM -> :class:`OFDMLink` -> APP demapping -> (LDPC decoding).

    :param link: the OFDM link; its payload K (``link.num_symbols``) fixes the frame: ``K * bps`` coded
        bits per frame. Use ``normalize="none"`` in its config: the constellations have unit power.
    :param modulation: ``"bpsk" | "qpsk" | "16qam" | "64qam"``.
    :param coded: False for uncoded, True for 5G LDPC with k = n/2 (rate matching by Sionna).
    :param num_iter: LDPC decoder iterations (the most the ``"fast"`` decoder runs).
    :param ldpc_decoder: ``"fast"`` (layered min-sum, early termination) or ``"sionna"`` (see :mod:`.ldpc`).
    """

    def __init__(self, link: OFDMLink, modulation: str, coded: bool, num_iter: int = 20,
                 ldpc_decoder: str = DEFAULT_LDPC_DECODER):
        super().__init__()
        if modulation not in MODULATIONS:
            raise ValueError(f"unknown modulation {modulation!r}; allowed: {', '.join(MODULATIONS)}")
        if link.config.normalize != "none" or link.config.equalizer != "zf":
            raise ValueError("bit links send unit-power constellations and demap unbiased estimates: "
                             "use a link with normalize='none' and equalizer='zf'")
        self.link = link
        self.modulation = modulation
        self.coded = coded
        kind, bps = MODULATIONS[modulation]
        self.bits_per_symbol = bps
        kw = dict(precision=link.precision, device=link.device)
        self.mapper = Mapper(kind, bps, **kw)
        self.demapper = Demapper("app", kind, bps, **kw)
        self.n = link.num_symbols * bps
        self.k = self.n // 2 if coded else self.n
        if coded:
            self.encoder = LDPC5GEncoder(self.k, self.n, num_bits_per_symbol=bps, **kw)
            self.decoder = build_ldpc_decoder(ldpc_decoder, self.encoder, num_iter)
        self.reseed(link.seed)

    @property
    def info_bits_per_frame(self) -> int:
        """Information bits carried by one frame."""
        return self.k

    def reseed(self, seed: int, block: int | None = None) -> None:
        """Restart the bit source, channel and noise streams from ``seed`` (``block``: those of one batch of
        :meth:`simulate`)."""
        self.link.reseed(seed, block)
        self._source = make_generator(seed, "source" + ("" if block is None else f":block{block}"), self.link.device)

    @torch.no_grad()
    def forward(self, batch_size: int, snr_db: float) -> dict:
        """Send ``batch_size`` frames at ``snr_db`` (Es/N0 per channel use, dB).

        :output: dict with ``bit_errors`` (int), ``bits`` (int), ``block_errors`` (int), ``blocks`` (int) and,
            coded, ``ldpc_iterations`` (int, decoder iterations summed over the frames).
        """
        bits = torch.randint(0, 2, (batch_size, self.k), generator=self._source, device=self.link.device)
        bits = bits.to(self.link.dtype)
        cw = self.encoder(bits) if self.coded else bits
        x = self.mapper(cw)
        out = self.link(x, snr_db)
        llr = self.demapper(out["x_hat"], out["no_eff"])
        if self.coded:
            bits_hat, iterations = self.decoder.decode(llr)
        else:
            bits_hat = (llr > 0).to(bits.dtype)
        errors = bits_hat != bits
        out = {
            "bit_errors": int(errors.sum()),
            "bits": errors.numel(),
            "block_errors": int(errors.any(dim=-1).sum()),
            "blocks": batch_size,
        }
        if self.coded:
            out["ldpc_iterations"] = int(iterations.sum())
        return out

    def num_frames(self, num_bits: int) -> int:
        """Frames of a point of at least ``num_bits`` information bits (at least one)."""
        return max(1, math.ceil(num_bits / self.k))

    def num_batches(self, num_bits: int, batch_size: int) -> int:
        """Batches of ``batch_size`` frames of such a point (the last one may be shorter)."""
        return math.ceil(self.num_frames(num_bits) / batch_size)

    def simulate_batches(self, snr_db: float, num_bits: int, batch_size: int, start: int = 0, stop: int | None = None,
                         targets: dict | None = None, progress=None, after_batch=None) -> list[dict]:
        """Batches ``start .. stop - 1`` of the point (:meth:`simulate`), each from its own streams (seed, batch);
        returns their counts, one dict per batch, in order.

        :param targets: ``{"bit_errors": n, "block_errors": m}`` (either may be missing): stop after the batch at
            which the errors counted *in this call* reach a target. Called on a part (shard) of the point it never
            stops before the whole point would (its errors are a part of the point's), so the shards' counts
            merged by :meth:`merge` equal the whole point's.
        :param after_batch: optional callable ``after_batch(batch_index, counts)``.
        """
        frames, nb = self.num_frames(num_bits), self.num_batches(num_bits, batch_size)
        stop = nb if stop is None else min(stop, nb)
        out, errors = [], {"bit_errors": 0, "block_errors": 0}
        for b in range(start, stop):
            self.reseed(self.link.seed, b)
            n = min(batch_size, frames - b * batch_size)
            counts = self.forward(n, snr_db)
            out.append(counts)
            if progress is not None:
                progress(n)
            if after_batch is not None:
                after_batch(b, counts)
            for key in errors:
                errors[key] += counts[key]
            if _reached(errors, targets):
                break
        self.reseed(self.link.seed)
        return out

    @staticmethod
    def merge(batches: list[dict], targets: dict | None = None) -> tuple[dict, bool]:
        """Sum per-batch counts in batch order, stopping after the batch at which a target is reached; returns
        ``(totals, stopped_early)``."""
        totals: dict = {}
        for counts in batches:
            for key, value in counts.items():
                totals[key] = totals.get(key, 0) + value
            if _reached(totals, targets):
                return totals, True
        return totals, False

    def summarize(self, totals: dict) -> dict:
        """BER, BLER, bits, blocks (and, coded, the mean LDPC iterations per frame) of summed counts."""
        out = {"ber": totals["bit_errors"] / totals["bits"], "bler": totals["block_errors"] / totals["blocks"],
               "bits": totals["bits"], "blocks": totals["blocks"]}
        if self.coded:
            out["ldpc_iterations"] = totals["ldpc_iterations"] / totals["blocks"]
        return out

    def simulate(self, snr_db: float, num_bits: int, batch_size: int = 64, progress=None, resume: dict | None = None,
                 checkpoint=None, targets: dict | None = None) -> dict:
        """Send at least ``num_bits`` information bits at ``snr_db`` (fewer when ``targets`` stop it early);
        returns BER, BLER, ``bits``, ``blocks``, ``stopped_early`` and, coded, the mean number of LDPC decoder
        iterations per frame (``ldpc_iterations``).

        Batch ``b`` (``batch_size`` frames, the last one fewer) draws its bits, channels and noise from its own
        streams, derived from the link seed and ``b``; so every SNR point (and every system) sees the same channel
        realizations, and any range of batches can be simulated on its own (:meth:`simulate_batches`): the
        shards of a point add up to the point.

        :param targets: ``{"bit_errors": n, "block_errors": m}`` (either may be missing; as ``num_target_bit_errors``
            / ``num_target_block_errors`` of Sionna's ``sim_ber``): stop after the batch at which one is reached.
        :param progress: optional callable ``progress(num_frames_done)``.
        :param checkpoint: optional callable ``checkpoint(state)`` after every batch: ``state`` (JSON-able)
            holds the counters and the next batch's index.
        :param resume: such a ``state`` of an interrupted call with the same arguments: the call continues
            after that batch and returns what an uninterrupted call returns, bit for bit.
        """
        totals = {"bit_errors": 0, "bits": 0, "block_errors": 0, "blocks": 0}
        start = 0
        if resume is not None and "next_batch" in resume:  # (a state of an older version restarts the point)
            totals = {key: int(value) for key, value in resume["totals"].items()}
            start = int(resume["next_batch"])
            if progress is not None:
                progress(totals["blocks"])
        stopped = _reached(totals, targets)
        if not stopped:
            def after_batch(b, counts):
                for key, value in counts.items():
                    totals[key] = totals.get(key, 0) + value
                if checkpoint is not None:
                    checkpoint({"totals": dict(totals), "next_batch": b + 1})

            # the errors counted in this call plus those before the resumed batch: the targets of the rest
            rest = None if targets is None else {key: value - totals[key] for key, value in targets.items()}
            self.simulate_batches(snr_db, num_bits, batch_size, start, None, rest, progress, after_batch)
            stopped = _reached(totals, targets)
        return {**self.summarize(totals), "stopped_early": stopped and totals["blocks"] < self.num_frames(num_bits)}


def _reached(counts: dict, targets: dict | None) -> bool:
    """Whether ``counts`` reach one of ``targets`` (``{"bit_errors": n, "block_errors": m}``)."""
    return bool(targets) and any(counts.get(key, 0) >= value for key, value in targets.items() if value is not None)
