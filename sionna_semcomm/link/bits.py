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
from ..store import encode_generator, restore_generator
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

    def reseed(self, seed: int) -> None:
        """Restart the bit source, channel and noise streams from ``seed``."""
        self.link.reseed(seed)
        self._source = make_generator(seed, "source", self.link.device)

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

    def _streams(self) -> dict[str, torch.Generator]:
        """The random streams a simulation draws from, by name."""
        return {"source": self._source, "channel": self.link.channel_model.generator, "noise": self.link._noise_generator}

    def simulate(self, snr_db: float, num_bits: int, batch_size: int = 64, progress=None, resume: dict | None = None,
                 checkpoint=None) -> dict:
        """Send at least ``num_bits`` information bits at ``snr_db``; returns BER, BLER and, coded, the mean
        number of LDPC decoder iterations per frame (``ldpc_iterations``).

        The streams restart from the link seed first, so every SNR point (and every system) sees the
        same channel realizations.

        :param progress: optional callable ``progress(num_frames_done)``.
        :param checkpoint: optional callable ``checkpoint(state)`` after every batch: ``state`` (JSON-able)
            holds the error counters and the random streams' states after it.
        :param resume: such a ``state`` of an interrupted call with the same arguments: the call continues
            after that batch and returns what an uninterrupted call returns, bit for bit.
        """
        self.reseed(self.link.seed)
        frames = max(1, math.ceil(num_bits / self.k))
        totals = {"bit_errors": 0, "bits": 0, "block_errors": 0, "blocks": 0}
        if resume is not None:
            totals = {key: int(value) for key, value in resume["totals"].items()}
            for name, generator in self._streams().items():
                restore_generator(generator, resume["rng"][name])
            if progress is not None:
                progress(totals["blocks"])
        while totals["blocks"] < frames:
            n = min(batch_size, frames - totals["blocks"])
            for key, value in self.forward(n, snr_db).items():
                totals[key] = totals.get(key, 0) + value
            if progress is not None:
                progress(n)
            if checkpoint is not None:
                checkpoint({"totals": dict(totals), "rng": {k: encode_generator(g) for k, g in self._streams().items()}})
        out = {
            "ber": totals["bit_errors"] / totals["bits"],
            "bler": totals["block_errors"] / totals["blocks"],
            "bits": totals["bits"],
            "blocks": totals["blocks"],
        }
        if self.coded:
            out["ldpc_iterations"] = totals["ldpc_iterations"] / totals["blocks"]
        return out
