"""``python -m sionna_semcomm.bench``: throughput of the link simulator against a hand-written reference.

Measures, in one run and on one device:

* :class:`~sionna_semcomm.link.ofdm.OFDMLink` (default :class:`~sionna_semcomm.link.config.LinkConfig`:
  K = 384 payload symbols, 64 subcarriers, CP 16, one pilot OFDM symbol, 8-tap exponential-PDP Rayleigh
  block fading, LS + ZF) against :class:`ReferenceOFDMLink`, the same link written with plain torch ops:
  forward (inference, ``torch.no_grad``), forward + backward w.r.t. the input symbols, and forward +
  backward w.r.t. a time-domain perturbation at the receiver input. Throughput is payload complex
  symbols per second (``batch * K / seconds``); ``ratio`` is ``time_ours / time_reference`` (how many
  times slower the Sionna-based link is; the project's target is ``ratio <= 2``);
* the two LDPC decoders of :mod:`~sionna_semcomm.link.ldpc` (rate 1/2, at most 20 iterations) on the same
  BPSK-AWGN codewords (``--ldpc-ebno-db``): information bits per second, mean iterations, BLER, speedup over
  Sionna's ``LDPC5GDecoder``;
* the whole :class:`~sionna_semcomm.link.bits.BitLink` (uncoded, and LDPC-coded QPSK with each decoder):
  frames per second;
* the cost of the attacks (:func:`bench_attacks`): perturbations per second of SemAdv and PGM (input-agnostic
  generators: one MLP pass per perturbation, no system, no signal) against FGM and PGD (white-box, per
  input: forward + backward passes through the whole system and link per step), at the same batch size,
  on the paper's CIFAR-10 point (MobileSC with K = 384, random weights: the cost does not depend on them).

* with ``--thread-policy`` / ``--loaded``: the CPU thread policy (:mod:`~sionna_semcomm.bench_threads`),
  without / with a competitor process it starts and stops itself.

Warm-up calls are excluded; each figure is the median of ``--repeats`` timed calls; the link and its
reference (and the two LDPC decoders) are timed interleaved (alternating order) so that they see the same
machine state.

Examples::

    python -m sionna_semcomm.bench --out bench.json
    python -m sionna_semcomm.bench --threads 1 --clock process --skip-attacks --ldpc-ebno-db 1.5 2 3
    python -m sionna_semcomm.bench --skip-link --skip-ldpc --skip-attacks --thread-policy --loaded
    python -m sionna_semcomm.bench --batch-sizes 64 256 --repeats 30 --threads 2
    python -m sionna_semcomm.bench --quick --out /tmp/bench.json
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from typing import Callable

import torch

from .atomic import atomic_write_json
from .bench_threads import bench_threads, format_threads
from .argtypes import ArgumentParser, finite_float, nonnegative_int, output_file, positive_int
from .results import versions
from .runtime import add_threads_argument, apply_threads, make_generator, resolve_device

__all__ = ["ReferenceOFDMLink", "time_interleaved", "bench_link", "bench_ldpc", "bench_bitlink", "bench_attacks",
           "setup_args", "main"]

TARGET_RATIO = 2.0
LINK_MODES = ("fwd", "fwd_bwd_x", "fwd_bwd_p")
LDPC_CODES = ((832, 1664), (1664, 3328), (2400, 4800))  # bit links (QPSK, 16QAM); JPEG2000 at 300 bytes
LDPC_EBNO_DB = (2.0,)


# ---------------------------------------------------------------------------------------------- reference
class ReferenceOFDMLink(torch.nn.Module):
    """The default OFDM link of :class:`~sionna_semcomm.link.ofdm.OFDMLink`, hand-written in plain torch.

    Frame: ``S = 1 + ceil(K / F)`` OFDM symbols of ``F`` subcarriers; symbol 0 carries the pilots on
    every subcarrier, symbols ``1..S-1`` the payload (row-major: symbol, then subcarrier; the last one
    zero-padded). Sionna's conventions are followed exactly: the grid's subcarrier axis is centred
    (DC at index ``F // 2``), so the transmitter applies ``ifftshift`` then a unitary IFFT and prepends the
    last ``cp`` samples; the receiver drops the CP, applies a unitary FFT and ``fftshift``.

    Channel: ``y[n] = sum_l h_l s[n - l] + w[n] (+ p[n] for n < N)``, ``n = 0 .. N + L - 2`` (full linear
    convolution; the ``L - 1`` trailing samples are cut by the receiver), ``w ~ CN(0, N0)``,
    ``N0 = 10^(-snr_db / 10)`` (Es/N0 per channel use: unit-energy resource elements, unit average
    channel gain). Receiver: LS estimate ``H = Y[0] / pilots`` on the pilot symbol, held for the whole
    frame (nearest neighbour), ZF ``X = Y / H``; effective noise ``(N0 + N0 / |pilot|^2) / |H|^2``.

    Random streams are those of the link (:func:`~sionna_semcomm.runtime.make_generator` streams
    ``"channel"`` and ``"noise"`` of ``seed``), drawn in the same order and shapes, so with the same seed
    and dtype the reference reproduces the link's realizations.

    :param num_symbols: K, complex payload symbols per example.
    :param pilots: complex ``[F]`` pilot symbols of the pilot OFDM symbol (subcarrier order of the grid).
    :param cyclic_prefix_length: CP length in samples.
    :param pdp: float ``[L]`` average tap powers (sum 1).
    :param seed: run seed of the channel and noise streams.
    :param dtype: ``torch.complex64`` or ``torch.complex128``.
    :param device: torch device string.

    :input x: complex ``[B, K]`` payload symbols (normalised to unit average power per example).
    :input snr_db: float or tensor ``[B]``, Es/N0 per channel use [dB].
    :input perturbation: ``None`` or complex ``[B, N]`` / ``[N]`` added to the first N received samples.
    :input taps: ``None`` (fresh draw) or complex ``[B, L]`` channel taps.
    :output: dict with ``x_hat`` complex ``[B, K]``, ``no_eff`` float ``[B, K]``, ``h_hat`` complex
        ``[B, F]``, ``taps`` complex ``[B, L]``, ``x_time`` complex ``[B, N]``, ``y_grid`` complex ``[B, S, F]``.

    .. code-block:: python

        from sionna_semcomm.link.ofdm import pilot_sequence
        ref = ReferenceOFDMLink(384, torch.as_tensor(pilot_sequence(64)))
        out = ref(torch.randn(8, 384, dtype=torch.complex64), 10.0)
        assert out["x_hat"].shape == (8, 384)
    """

    def __init__(self, num_symbols: int, pilots: torch.Tensor, cyclic_prefix_length: int = 16,
                 pdp: torch.Tensor | None = None, seed: int = 0, dtype=torch.complex64, device="cpu"):
        super().__init__()
        from .link.channels import exponential_pdp

        self.num_symbols = num_symbols
        self.fft_size = f = int(pilots.numel())
        self.cp = cyclic_prefix_length
        self.num_ofdm_symbols = 1 + math.ceil(num_symbols / f)
        self.num_time_samples = self.num_ofdm_symbols * (f + cyclic_prefix_length)
        self.cdtype = dtype
        self.rdtype = torch.float64 if dtype == torch.complex128 else torch.float32
        self.device = device
        pdp = exponential_pdp(8, 4.0) if pdp is None else torch.as_tensor(pdp)
        self.register_buffer("pilots", pilots.reshape(f).to(device=device, dtype=dtype))
        self.register_buffer("tap_std", pdp.to(device=device, dtype=self.rdtype).sqrt())
        self.reseed(seed)

    def reseed(self, seed: int) -> None:
        """Restart the channel and noise streams from ``seed`` (the link's stream names)."""
        self._channel_generator = make_generator(seed, "channel", self.device)
        self._noise_generator = make_generator(seed, "noise", self.device)

    def sample_taps(self, b: int) -> torch.Tensor:
        """Rayleigh taps, complex ``[b, L]``, ``E|h_l|^2 = pdp_l``."""
        g = torch.randn(b, self.tap_std.numel(), 2, dtype=self.rdtype, device=self.device, generator=self._channel_generator)
        return torch.complex(g[..., 0], g[..., 1]) * math.sqrt(0.5) * self.tap_std

    def forward(self, x, snr_db, perturbation=None, taps=None):
        b, k = x.shape
        f, cp, s, n = self.fft_size, self.cp, self.num_ofdm_symbols, self.num_time_samples
        no = torch.pow(10.0, -torch.as_tensor(snr_db, dtype=self.rdtype, device=self.device).reshape(-1) / 10.0)
        no = no.expand(b)
        # transmitter: per-example normalisation, grid [B, S, F], IFFT + CP -> [B, N]
        x = x / x.abs().square().mean(-1, keepdim=True).sqrt().clamp_min(torch.finfo(self.rdtype).tiny)
        data = torch.nn.functional.pad(x, (0, (s - 1) * f - k))
        grid = torch.cat([self.pilots.expand(b, 1, f), data.reshape(b, s - 1, f)], dim=1)
        t = torch.fft.ifft(torch.fft.ifftshift(grid, dim=-1), norm="ortho")
        x_time = torch.cat([t[..., f - cp:], t], dim=-1).reshape(b, n)
        # channel: full linear convolution [B, N + L - 1] via unfold, AWGN, perturbation
        if taps is None:
            taps = self.sample_taps(b)
        taps = taps.reshape(b, -1).to(self.cdtype)
        num_taps = taps.shape[-1]
        win = torch.nn.functional.pad(x_time, (num_taps - 1, num_taps - 1)).unfold(-1, num_taps, 1)
        y = (win * taps.flip(-1).unsqueeze(1)).sum(-1)
        w = torch.randn(*y.shape, 2, dtype=self.rdtype, device=self.device, generator=self._noise_generator)
        y = y + torch.complex(w[..., 0], w[..., 1]) * torch.sqrt(no / 2).unsqueeze(-1)
        y = y[:, :n]
        if perturbation is not None:
            y = y + perturbation
        # receiver: CP removal + FFT, LS on symbol 0, ZF
        y_grid = torch.fft.fftshift(torch.fft.fft(y.reshape(b, s, f + cp)[..., cp:], norm="ortho"), dim=-1)
        h_hat = y_grid[:, 0] / self.pilots
        x_hat = (y_grid[:, 1:] / h_hat.unsqueeze(1)).reshape(b, -1)[:, :k]
        g2 = h_hat.abs().square()
        no_eff = ((no.unsqueeze(-1) * (1 + 1 / self.pilots.abs().square())) / g2).unsqueeze(1).expand(b, s - 1, f)
        return {"x_hat": x_hat, "no_eff": no_eff.reshape(b, -1)[:, :k], "h_hat": h_hat, "taps": taps,
                "x_time": x_time, "y_grid": y_grid}

    @classmethod
    def like(cls, link, seed: int | None = None) -> "ReferenceOFDMLink":
        """The reference of ``link`` (an :class:`OFDMLink` with the default configuration's structure)."""
        cfg = link.config
        if (tuple(cfg.pilot_symbol_indices) != (0,) or cfg.csi != "ls" or cfg.equalizer != "zf"
                or cfg.normalize != "per_example" or cfg.clipping_ratio is not None
                or cfg.perturbation_domain != "time" or not cfg.perturb_pilots
                or link.num_data_ofdm_symbols != math.ceil(link.num_symbols / cfg.fft_size)):
            raise ValueError("the reference implements only the default LinkConfig structure")
        pilots = link.resource_grid.pilot_pattern.pilots.reshape(-1)
        return cls(link.num_symbols, pilots, cfg.cyclic_prefix_length, link.channel_model.pdp.cpu(),
                   link.seed if seed is None else seed, link.cdtype, str(link.device))


# ---------------------------------------------------------------------------------------------- timing
def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


CLOCKS = {"wall": time.perf_counter, "process": time.process_time}


def time_interleaved(fns: dict[str, Callable[[], object]], repeats: int, warmup: int, device: str,
                     clock: str = "wall") -> dict[str, list[float]]:
    """Seconds of each call, ``{name: [repeats values]}``; ``warmup`` untimed calls first.

    The functions are called in turn (order reversed every repeat) so they share the machine's state.

    :param clock: ``"wall"`` (elapsed time, CUDA synchronised) or ``"process"`` (CPU seconds of this
        process, all threads: robust to other load on a shared machine with ``torch.set_num_threads(1)``;
        CPU only).
    """
    if clock not in CLOCKS:
        raise ValueError(f"clock must be one of {', '.join(CLOCKS)}, got {clock!r}")
    if clock == "process" and device.startswith("cuda"):
        raise ValueError("the process clock does not see GPU time: use clock='wall' on CUDA")
    now = CLOCKS[clock]
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    _sync(device)
    times = {name: [] for name in names}
    for r in range(repeats):
        for name in (names if r % 2 == 0 else names[::-1]):
            _sync(device)
            t0 = now()
            fns[name]()
            _sync(device)
            times[name].append(now() - t0)
    return times


def _workload(link, x: torch.Tensor, mode: str, snr_db: float) -> Callable[[], None]:
    """One timed call of ``link`` on ``x`` [B, K]: ``fwd`` (no_grad), ``fwd_bwd_x`` or ``fwd_bwd_p``."""
    n = link.num_time_samples

    def run():
        if mode == "fwd":
            with torch.no_grad():
                link(x, snr_db)
            return
        if mode == "fwd_bwd_x":
            xi = x.detach().requires_grad_(True)
            out = link(xi, snr_db)
            leaf = xi
        else:
            leaf = torch.zeros(x.shape[0], n, dtype=x.dtype, device=x.device, requires_grad=True)
            out = link(x, snr_db, perturbation=leaf)
        loss = (out["x_hat"] - x).abs().square().sum()
        loss.backward()
        if leaf.grad is None:
            raise RuntimeError(f"no gradient reached the {mode} leaf")

    return run


def bench_link(batch_sizes, repeats: int, warmup: int, device: str, precision: str = "single", snr_db: float = 10.0,
               clock: str = "wall") -> list[dict]:
    """OFDMLink vs :class:`ReferenceOFDMLink`, one row per (batch size, mode).

    :output: rows ``{"batch_size", "mode", "ours_s", "reference_s", "ours_symbols_per_s",
        "reference_symbols_per_s", "ratio", "ours_min_s", "reference_min_s", "ratio_of_min"}``; seconds are
        medians per call, ``ratio = ours_s / reference_s``; the minima are less sensitive to other load.
    """
    from .link.config import LinkConfig
    from .link.ofdm import OFDMLink

    link = OFDMLink(384, LinkConfig(), seed=0, precision=precision, device=device)
    ref = ReferenceOFDMLink.like(link)
    g = torch.Generator(device=device).manual_seed(0)
    rows = []
    for b in batch_sizes:
        x = torch.randn(b, link.num_symbols, 2, generator=g, device=device, dtype=link.dtype)
        x = torch.complex(x[..., 0], x[..., 1])
        for mode in LINK_MODES:
            t = time_interleaved({"ours": _workload(link, x, mode, snr_db), "reference": _workload(ref, x, mode, snr_db)},
                                 repeats, warmup, device, clock)
            ours, reference = statistics.median(t["ours"]), statistics.median(t["reference"])
            sym = b * link.num_symbols
            rows.append({"batch_size": b, "mode": mode, "ours_s": ours, "reference_s": reference,
                         "ours_symbols_per_s": sym / ours, "reference_symbols_per_s": sym / reference,
                         "ratio": ours / reference, "ours_min_s": min(t["ours"]), "reference_min_s": min(t["reference"]),
                         "ratio_of_min": min(t["ours"]) / min(t["reference"])})
    return rows


def ldpc_codewords(k: int, n: int, batch_size: int, ebno_db: float, device: str, precision: str = "single",
                   seed: int = 1):
    """A batch of random 5G LDPC codewords (rate ``k/n``, Sionna's encoder) sent as BPSK over AWGN at ``ebno_db``.

    :output: ``(encoder, info bits [batch, k], channel logits [batch, n])``.
    """
    from sionna.phy.fec.ldpc import LDPC5GEncoder

    enc = LDPC5GEncoder(k, n, precision=precision, device=device)
    dtype = torch.float64 if precision == "double" else torch.float32
    g = torch.Generator(device=device).manual_seed(seed)
    bits = torch.randint(0, 2, (batch_size, k), generator=g, device=device).to(dtype)
    with torch.no_grad():
        c = enc(bits)
    no = 1 / (2 * (k / n) * 10 ** (ebno_db / 10))
    y = (2 * c - 1) + math.sqrt(no) * torch.randn(c.shape, generator=g, device=device, dtype=dtype)
    return enc, bits, 2 * y / no  # logits log p(1)/p(0) (Sionna's convention)


def bench_ldpc(batch_size: int, repeats: int, warmup: int, device: str, codes=LDPC_CODES, num_iter: int = 20,
               precision: str = "single", clock: str = "wall", ebno_db=LDPC_EBNO_DB) -> list[dict]:
    """Both LDPC decoders (:mod:`~sionna_semcomm.link.ldpc`: Sionna's flooding BP, always ``num_iter``
    iterations, and the layered ``"fast"`` one, at most ``num_iter``) on the same BPSK-AWGN codewords,
    timed interleaved.

    :output: rows ``{"decoder", "k", "n", "ebno_db", "num_iter", "batch_size", "seconds", "info_bits_per_s",
        "mean_iterations", "bler", "speedup"}``; ``speedup`` is Sionna's time over this decoder's.
    """
    from .link.ldpc import LDPC_DECODERS, build_ldpc_decoder

    rows = []
    for k, n in codes:
        for snr in ebno_db:
            enc, bits, llr = ldpc_codewords(k, n, batch_size, snr, device, precision)
            decoders = {name: build_ldpc_decoder(name, enc, num_iter) for name in LDPC_DECODERS}
            times = time_interleaved({name: (lambda d=d: d.decode(llr)) for name, d in decoders.items()},
                                     repeats, warmup, device, clock)
            sec = {name: statistics.median(t) for name, t in times.items()}
            for name, dec in decoders.items():
                bits_hat, iterations = dec.decode(llr)
                rows.append({"decoder": name, "k": k, "n": n, "ebno_db": snr, "num_iter": num_iter,
                             "batch_size": batch_size, "seconds": sec[name], "info_bits_per_s": batch_size * k / sec[name],
                             "mean_iterations": float(iterations.float().mean()),
                             "bler": float((bits_hat != bits).any(dim=-1).float().mean()),
                             "speedup": sec["sionna"] / sec[name]})
    return rows


def bench_bitlink(batch_size: int, repeats: int, warmup: int, device: str, precision: str = "single",
                  snr_db: float = 10.0, clock: str = "wall") -> list[dict]:
    """Whole :class:`~sionna_semcomm.link.bits.BitLink` (bits -> QPSK -> link -> APP -> LDPC), K = 384: uncoded,
    and coded with each LDPC decoder.

    :output: rows ``{"system", "ldpc_decoder", "batch_size", "seconds", "frames_per_s", "info_bits_per_s"}``.
    """
    from .link.bits import BitLink
    from .link.config import LinkConfig
    from .link.ldpc import LDPC_DECODERS
    from .link.ofdm import OFDMLink

    rows = []
    for coded, decoder in [(False, None)] + [(True, d) for d in LDPC_DECODERS]:
        link = OFDMLink(384, LinkConfig(normalize="none"), seed=0, precision=precision, device=device)
        bl = BitLink(link, "qpsk", coded=coded, **({"ldpc_decoder": decoder} if coded else {}))
        sec = statistics.median(time_interleaved({"bl": lambda: bl(batch_size, snr_db)}, repeats, warmup, device, clock)["bl"])
        rows.append({"system": ("ldpc" if coded else "uncoded") + "-qpsk", "ldpc_decoder": decoder, "batch_size": batch_size,
                     "info_bits_per_frame": bl.info_bits_per_frame, "seconds": sec,
                     "frames_per_s": batch_size / sec, "info_bits_per_s": batch_size * bl.info_bits_per_frame / sec})
    return rows


def bench_attacks(batch_size: int, repeats: int, warmup: int, device: str, steps: int = 10, psr_db: float = -6.0,
                  snr_db: float = 10.0, clock: str = "wall", tiny: bool = False) -> list[dict]:
    """Perturbations per second of the attacks at one batch size (median of ``repeats`` calls).

    SemAdv and PGM generate from seeds only; FGM (1 gradient) and PGD (``steps`` gradients + 1 evaluation,
    random start) run the system on the batch's images and channel. ``tiny`` uses a small system (tests).

    :output: rows ``{"attack", "batch_size", "gradient_passes", "seconds", "perturbations_per_s"}``.
    """
    from .attack import attack_registry
    from .attacks import GeneratorConfig
    from .link.config import LinkConfig
    from .link.ofdm import OFDMLink
    from .semantic import ModelConfig, SemanticSystem

    registry = attack_registry()
    if tiny:
        cfg = ModelConfig(num_symbols=64, classifier_width=4, codec_hparams={"channels": (8, 8), "num_blocks": 1, "expansion": 2})
        gen = GeneratorConfig(seed_dim=8, hidden=16, num_blocks=1)
    else:
        cfg, gen = ModelConfig(), GeneratorConfig()
    torch.manual_seed(0)
    system = SemanticSystem(cfg).to(device).eval()
    link = OFDMLink(system.num_symbols, LinkConfig(equalizer="lmmse"), seed=0, device=device)
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(batch_size, *cfg.image_shape, generator=g, device=device)
    y = torch.randint(0, cfg.num_classes, (batch_size,), generator=g, device=device)
    taps = link.sample_taps((batch_size,))
    attacks = {}
    for name in ("semadv", "pgm"):
        if name in registry.ATTACKS:
            kw = {"target_class": 2} if name == "semadv" else {}
            attacks[name] = registry.ATTACKS[name].cls(system, link, psr_db, generator_config=gen, **kw)
    for name, kw in (("fgm", {}), ("pgd", {"steps": steps})):
        if name in registry.ATTACKS:
            attacks[name] = registry.build_attack(name, system, link, psr_db=psr_db, **kw)
    fns = {name: (lambda a=a: a(x, y, snr_db, taps)) for name, a in attacks.items()}
    times = time_interleaved(fns, repeats, warmup, device, clock)
    passes = {"semadv": 0, "pgm": 0, "fgm": 1, "pgd": steps + 1}
    rows = []
    for name in attacks:
        sec = statistics.median(times[name])
        rows.append({"attack": name, "batch_size": batch_size, "gradient_passes": passes[name], "seconds": sec,
                     "perturbations_per_s": batch_size / sec})
    return rows


# ---------------------------------------------------------------------------------------------- CLI


def setup_args() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m sionna_semcomm.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-sizes", nargs="+", type=positive_int, default=[64, 256], help="link batch sizes (default: %(default)s)")
    p.add_argument("--repeats", type=positive_int, default=20, help="timed calls per figure; the median is reported (default: %(default)s)")
    p.add_argument("--warmup", type=nonnegative_int, default=3, help="untimed calls before timing (default: %(default)s)")
    p.add_argument("--ldpc-batch-size", type=positive_int, default=64, help="codewords per LDPC decoder call (default: %(default)s)")
    p.add_argument("--ldpc-repeats", type=positive_int, default=5, help="timed LDPC/BitLink calls (default: %(default)s)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: %(default)s)")
    p.add_argument("--precision", choices=["single", "double"], default="single", help="link precision (default: %(default)s)")
    p.add_argument("--clock", choices=list(CLOCKS), default="wall",
                   help="wall: elapsed time; process: CPU seconds of this process (CPU only; with --threads 1 it "
                        "is robust to other jobs on a shared machine) (default: %(default)s)")
    add_threads_argument(p)
    p.add_argument("--ldpc-ebno-db", nargs="+", type=finite_float("Eb/N0"), default=list(LDPC_EBNO_DB),
                   help="Eb/N0 [dB] of the BPSK-AWGN codewords both LDPC decoders decode (default: %(default)s)")
    p.add_argument("--skip-link", action="store_true", help="skip the link-vs-reference figures")
    p.add_argument("--skip-ldpc", action="store_true", help="skip the LDPC decoder and BitLink figures")
    p.add_argument("--skip-attacks", action="store_true", help="skip the attack-cost figures")
    p.add_argument("--attack-batch-size", type=positive_int, default=64, help="images per attack call (default: %(default)s)")
    p.add_argument("--attack-steps", type=positive_int, default=10, help="PGD steps (default: %(default)s)")
    p.add_argument("--attack-repeats", type=positive_int, default=5, help="timed attack calls (default: %(default)s)")
    p.add_argument("--skip-training", action="store_true", help="skip the training-step figures")
    p.add_argument("--train-scenario", default="rayleigh_cifar", help="scenario of the training-step figures (default: %(default)s)")
    p.add_argument("--train-batch-sizes", nargs="+", type=positive_int, default=[64, 128],
                   help="training-step batch sizes (default: %(default)s)")
    p.add_argument("--train-classifier-width", type=positive_int, metavar="W",
                   help="image-classifier base width of the training-step figures (default: --train-scenario's; the "
                        "shipped CIFAR-10 system has 32)")
    p.add_argument("--classifier-widths", nargs="+", type=positive_int, metavar="W",
                   help="also time one training step of --train-scenario's image classifier alone at these base widths "
                        "(batch: the largest --train-batch-sizes)")
    p.add_argument("--thread-policy", action="store_true",
                   help="time train / evaluate / link / LDPC / PGD workloads at 1 thread, one per core and the thread "
                        "policy's choice (wall clock)")
    p.add_argument("--loaded", action="store_true",
                   help="the same with a competitor process (a busy loop this command starts and stops) on the machine")
    p.add_argument("--profile", action="store_true", help="print torch.profiler tables of OFDMLink at the largest batch")
    p.add_argument("--quick", action="store_true", help="tiny run (batch 8, 2 repeats, LDPC batch 4): checks the tool, not the speed")
    p.add_argument("--out", default="bench.json", type=output_file, help="JSON file to write (default: %(default)s)")
    return p


def _table(doc: dict) -> str:
    lines = [f"device {doc['device']}  threads {doc['torch_num_threads']}  precision {doc['precision']}  "
             f"clock {doc['clock']}  repeats {doc['repeats']} (median)",
             "", "OFDM link, K=384 payload symbols/example; ratio = time ours / time reference "
             f"(target <= {TARGET_RATIO:g})",
             f"{'batch':>6} {'mode':<10} {'ours [sym/s]':>14} {'ref [sym/s]':>14} {'ours [ms]':>10} {'ref [ms]':>10} {'ratio':>7} {'(min)':>6}"]
    for r in doc["link"]:
        lines.append(f"{r['batch_size']:>6} {r['mode']:<10} {r['ours_symbols_per_s']:>14.4g} {r['reference_symbols_per_s']:>14.4g} "
                     f"{1e3 * r['ours_s']:>10.2f} {1e3 * r['reference_s']:>10.2f} {r['ratio']:>7.2f} {r['ratio_of_min']:>6.2f}")
    if doc.get("ldpc"):
        lines += ["", "LDPC decoders on the same BPSK-AWGN codewords (info bit/s; speedup = Sionna's time / this one's)",
                  f"{'decoder':<8} {'k':>5} {'n':>5} {'Eb/N0':>6} {'batch':>6} {'ms/call':>10} {'info bit/s':>12} "
                  f"{'mean iter':>9} {'BLER':>7} {'speedup':>8}"]
        for r in doc["ldpc"]:
            lines.append(f"{r['decoder']:<8} {r['k']:>5} {r['n']:>5} {r['ebno_db']:>6g} {r['batch_size']:>6} "
                         f"{1e3 * r['seconds']:>10.1f} {r['info_bits_per_s']:>12.4g} {r['mean_iterations']:>9.2f} "
                         f"{r['bler']:>7.3f} {r['speedup']:>8.2f}")
    if doc.get("attacks"):
        lines += ["", f"{'attack':<20} {'batch':>6} {'grad passes':>11} {'ms/call':>10} {'perturb./s':>12}"]
        for r in doc["attacks"]:
            lines.append(f"{r['attack']:<20} {r['batch_size']:>6} {r['gradient_passes']:>11} {1e3 * r['seconds']:>10.1f} "
                         f"{r['perturbations_per_s']:>12.4g}")
    if doc.get("bitlink"):
        lines += ["", f"{'BitLink':<20} {'batch':>6} {'ms/call':>10} {'frames/s':>10} {'info bit/s':>12}"]
        for r in doc["bitlink"]:
            name = r["system"] + (f" ({r['ldpc_decoder']})" if r.get("ldpc_decoder") else "")
            lines.append(f"{name:<20} {r['batch_size']:>6} {1e3 * r['seconds']:>10.1f} {r['frames_per_s']:>10.4g} "
                         f"{r['info_bits_per_s']:>12.4g}")
    for t in doc.get("threads", []):
        lines += ["", format_threads(t)]
    return "\n".join(lines)


def _profile(batch_size: int, device: str, precision: str) -> None:
    from torch.profiler import ProfilerActivity, profile

    from .link.config import LinkConfig
    from .link.ofdm import OFDMLink

    link = OFDMLink(384, LinkConfig(), seed=0, precision=precision, device=device)
    x = torch.randn(batch_size, 384, dtype=link.cdtype, device=device)
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.startswith("cuda") else [])
    for mode in ("fwd", "fwd_bwd_x"):
        run = _workload(link, x, mode, 10.0)
        for _ in range(3):
            run()
        with profile(activities=acts) as prof:
            for _ in range(5):
                run()
        print(f"\nprofile OFDMLink {mode}, batch {batch_size} (5 calls)")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main(argv=None) -> dict:
    args = setup_args().parse_args(argv)
    device = resolve_device(args.device)
    apply_threads(args.threads)
    batch_sizes, repeats, warmup = args.batch_sizes, args.repeats, args.warmup
    ldpc_batch, ldpc_repeats, codes = args.ldpc_batch_size, args.ldpc_repeats, LDPC_CODES
    ldpc_warmup = min(warmup, 1)
    attack_batch, attack_repeats, attack_steps = args.attack_batch_size, args.attack_repeats, args.attack_steps
    if args.quick:
        batch_sizes, repeats, warmup, ldpc_batch, ldpc_repeats, ldpc_warmup = [8], 2, 1, 4, 1, 0
        attack_batch, attack_repeats, attack_steps = 4, 1, 2

    if args.clock == "process" and device.startswith("cuda"):
        raise SystemExit("--clock process measures CPU time only: use --clock wall on CUDA")
    link_rows = [] if args.skip_link else bench_link(batch_sizes, repeats, warmup, device, args.precision, clock=args.clock)
    ldpc_rows = bitlink_rows = []
    if not args.skip_ldpc:
        ldpc_rows = bench_ldpc(ldpc_batch, ldpc_repeats, ldpc_warmup, device, codes, precision=args.precision, clock=args.clock,
                               ebno_db=args.ldpc_ebno_db)
        bitlink_rows = bench_bitlink(ldpc_batch, ldpc_repeats, ldpc_warmup, device, args.precision, clock=args.clock)
    attack_rows = []
    if not args.skip_attacks:
        attack_rows = bench_attacks(attack_batch, attack_repeats, min(warmup, 1), device, attack_steps, clock=args.clock,
                                    tiny=args.quick)
    training_rows = []
    if not args.skip_training:
        from .bench_train import bench_training

        for b in ([4] if args.quick else args.train_batch_sizes):
            training_rows.append(bench_training(args.train_scenario, b, 1 if args.quick else attack_repeats,
                                                min(warmup, 1), device, args.clock, args.train_classifier_width))
    width_rows = []
    if args.classifier_widths:
        from .bench_train import bench_classifier_widths

        width_rows = bench_classifier_widths(args.train_scenario, 4 if args.quick else max(args.train_batch_sizes),
                                             args.classifier_widths, 1 if args.quick else attack_repeats, min(warmup, 1),
                                             device, args.clock)
    thread_docs = []
    for loaded in [False] * args.thread_policy + [True] * args.loaded:
        thread_docs.append(bench_threads(loaded, 1 if args.quick else 5, 1, device, tiny=args.quick))
    doc = {
        "name": "bench",
        "versions": versions(),
        "device": device,
        "device_name": torch.cuda.get_device_name(device) if device.startswith("cuda") else "cpu",
        "torch_num_threads": torch.get_num_threads(),
        "precision": args.precision,
        "clock": args.clock,
        "repeats": repeats,
        "warmup": warmup,
        "quick": args.quick,
        "config": {"num_symbols": 384, "fft_size": 64, "cyclic_prefix_length": 16, "pilot_ofdm_symbols": [0],
                   "channel": "rayleigh_multipath, 8 taps, exponential PDP (decay 4)", "csi": "ls", "equalizer": "zf",
                   "snr_db": 10.0, "ratio": "time ours / time reference", "target_ratio": TARGET_RATIO},
        "link": link_rows,
        "max_ratio": max((r["ratio"] for r in link_rows), default=None),
        "within_target": all(r["ratio"] <= TARGET_RATIO for r in link_rows) if link_rows else None,
        "ldpc": ldpc_rows,
        "bitlink": bitlink_rows,
        "attacks": attack_rows,
        "training": training_rows,
        "classifier_widths": width_rows,
        "attack_config": {"system": "tiny" if args.quick else "mobilesc (K=384, random weights)", "psr_db": -6.0,
                          "snr_db": 10.0, "pgd_steps": attack_steps, "unit": "perturbations (frames) per second"},
        "threads": thread_docs,
    }
    atomic_write_json(args.out, doc)
    print(_table(doc))
    if training_rows:
        from .bench_train import training_table

        print("\n" + training_table(training_rows))
    for r in width_rows:
        bf16 = f", bf16 autocast {r['seconds_bf16']:.3f} s" if "seconds_bf16" in r else ""
        print(f"classifier width {r['width']:>3}: {r['parameters'] / 1e6:6.2f} M parameters, {r['seconds']:.3f} s per "
              f"training step ({r['images_per_s']:.0f} images/s){bf16}")
    print(f"\nwrote {args.out}")
    if args.profile:
        _profile(max(batch_sizes), device, args.precision)
    return doc


if __name__ == "__main__":
    main(sys.argv[1:])
