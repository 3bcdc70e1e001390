"""The differentiable OFDM link: transmitter, time-domain block-fading channel, perturbation hook, receiver.

Signal model (SISO, one frame per example)::

    x [.., K] --normalise--> resource grid [S, F] (pilots, data, zero padding)
      --IFFT + CP (unitary, Sionna OFDMModulator)--> s [N = S (F + cp)] --optional hard clipping-->
      --channel (linear convolution with taps h_0..h_{L-1})--> h * s  (+ noise n ~ CN(0, N0)) (+ p)
      --CP removal + FFT (Sionna OFDMDemodulator)--> Y [S, F]
      --LS estimate on the pilot symbol(s) (optionally DFT-denoised), nearest pilot symbol in time, or perfect CSI-->
      --closed-form SISO equalisation--> x_hat [.., K], effective noise no_eff [.., K]

Sionna blocks build the resource grid, map, modulate and demodulate, and describe the channel (a
``ChannelModel`` CIR, turned into per-subcarrier responses by ``cir_to_ofdm_channel``). Four receiver-side
steps are written in closed form because Sionna's generic (MIMO) versions dominate the run time on CPU,
mostly in the backward pass (measured with ``python -m sionna_semcomm.bench``): the time-domain
convolution (Sionna: ``ApplyTimeChannel``), LS estimation with nearest-neighbour interpolation
(``LSChannelEstimator``), the SISO equaliser (``LMMSEEqualizer``) and the data extraction
(``ResourceGridDemapper``). ``tests/link/test_ofdm.py`` checks each against the Sionna block it replaces.

SNR convention: ``snr_db`` is Es/N0 per channel use: resource elements carry unit average energy
(pilots, QAM symbols, and the learned latent after per-example normalisation) and the channel's average
gain is 1, so ``N0 = 10^(-snr_db/10)`` is the noise variance per complex time sample (and, after the
unitary FFT, per resource element). Pilots and the CP are counted as channel uses, not as an SNR penalty.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sionna.phy import Block
from sionna.phy.channel import cir_to_ofdm_channel, subcarrier_frequencies
from sionna.phy.ofdm import OFDMDemodulator, OFDMModulator, PilotPattern, ResourceGrid, ResourceGridMapper

from ..runtime import make_generator
from .bounds import DB_LIMIT, check_db, check_limit, frame_bytes
from .channels import BlockFadingChannel
from .config import LinkConfig

__all__ = ["OFDMLink", "snr_db_to_no", "pilot_sequence"]

_PILOT_SEED = 20240601  # fixed public pilot sequence: the receiver knows it, independent of the run seed


def snr_db_to_no(snr_db, batch_size: int, dtype=torch.float32, device="cpu") -> torch.Tensor:
    """Noise variance ``N0 = 10^(-snr_db/10)`` per example, ``[batch_size]``.

    :param snr_db: Es/N0 per channel use [dB], within ``±DB_LIMIT`` (:mod:`~sionna_semcomm.link.bounds`): a
        number, or a real tensor with 1 or ``batch_size`` values.
    :raises TypeError: not a number (e.g. the string ``"10"``).
    :raises ValueError: non-finite or out-of-range SNR, or a wrong number of values.
    """
    if isinstance(snr_db, (int, float, np.number)) and not isinstance(snr_db, bool):  # the common case: no tensor check
        if not math.isfinite(snr_db):
            raise ValueError(f"snr_db must be finite, got {snr_db!r}")
        check_db("snr_db", float(snr_db))
        return torch.pow(10.0, -torch.tensor([float(snr_db)], dtype=dtype, device=device) / 10.0).expand(batch_size)
    if not isinstance(snr_db, (torch.Tensor, np.ndarray, list, tuple)) or (
            isinstance(snr_db, torch.Tensor) and (snr_db.is_complex() or snr_db.dtype == torch.bool)):
        raise TypeError(f"snr_db must be a number or a real tensor of numbers (Es/N0 per channel use in dB), got "
                        f"{type(snr_db).__name__} {snr_db!r}")
    try:
        snr = torch.as_tensor(snr_db, dtype=dtype, device=device).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise TypeError(f"snr_db must hold numbers (Es/N0 per channel use in dB), got {snr_db!r}") from None
    if snr.numel() not in (1, batch_size):
        raise ValueError(f"snr_db must have 1 or {batch_size} values (one per example), got {snr.numel()}")
    if not bool((torch.isfinite(snr) & (snr.abs() <= DB_LIMIT)).all()):
        bad = snr[~(torch.isfinite(snr) & (snr.abs() <= DB_LIMIT))][0].item()
        if not math.isfinite(bad):
            raise ValueError(f"snr_db must be finite, got {bad}")
        check_db("snr_db", bad)
    return torch.pow(10.0, -snr / 10.0).expand(batch_size)


def pilot_sequence(num_pilots: int) -> np.ndarray:
    """The known unit-power QPSK pilot sequence, complex128 ``[num_pilots]`` (fixed, seed-independent)."""
    rng = np.random.default_rng(_PILOT_SEED)
    bits = rng.integers(0, 2, size=(num_pilots, 2))
    return ((1 - 2 * bits[:, 0]) + 1j * (1 - 2 * bits[:, 1])) / math.sqrt(2)


def _check_finite(x: torch.Tensor, perturbation) -> None:
    """Raise ``ValueError`` when the payload or the perturbation holds NaN or Inf (one device sync for both)."""
    tensors = {"x": x} if not isinstance(perturbation, torch.Tensor) else {"x": x, "perturbation": perturbation}
    with torch.no_grad():
        finite = torch.stack([torch.isfinite(t).all() for t in tensors.values()]).tolist()
    for name, ok in zip(tensors, finite):
        if not ok:
            raise ValueError(f"{name} contains NaN or infinite values: the link only carries finite symbols")


class OFDMLink(Block):
    """One SISO OFDM link carrying K complex symbols per example.

    :param num_symbols: K, complex payload symbols per example (one frame per example).
    :param config: :class:`~sionna_semcomm.link.config.LinkConfig`.
    :param seed: run seed; the channel and the noise each draw from their own stream of it
        (:func:`~sionna_semcomm.runtime.make_generator`), so the same seed gives the same channel
        realizations to every system, whatever else it draws.
    :param precision: ``"single"`` (complex64) or ``"double"`` (complex128); default Sionna's config.
    :param device: torch device string; default Sionna's config.

    :input x: [..., K], complex, finite, at least one example. Payload symbols (any leading batch dims).
    :input snr_db: float or real tensor [B] (B = number of examples): Es/N0 per channel use [dB], within
        ``±DB_LIMIT`` (:mod:`~sionna_semcomm.link.bounds`).
    :input perturbation: ``None`` or a finite complex tensor added at the receiver: time domain
        [..., N] (N = ``num_time_samples``) or frequency domain [..., S, F] (see ``config``).
        Samples/REs of pilot symbols are zeroed when ``config.perturb_pilots`` is False.
    :input taps: ``None`` (fresh realization per example) or complex [..., L] channel taps to re-apply
        (e.g. ``out["taps"]`` of an earlier call: attacks on a given channel).

    :output: dict with
        ``x_hat`` [..., K] complex equalised symbols; ``no_eff`` [..., K] float effective noise variance
        per symbol; ``h`` [..., S, F] true and ``h_hat`` [..., S, F] estimated frequency response;
        ``taps`` [..., L]; ``no`` [...] noise variance; ``x_time`` [..., N] transmitted signal;
        ``rx_signal`` [..., N] noiseless received signal h * s; ``y_time`` [..., N + L - 1] received
        signal (noise and perturbation included); ``y_grid`` [..., S, F] after the FFT;
        ``perturbation`` [..., N] or [..., S, F] as applied (``None`` without one).

    .. code-block:: python

        link = OFDMLink(384, LinkConfig(), seed=0)
        x = torch.randn(8, 384, dtype=torch.complex64)
        out = link(x, snr_db=10.0)
        assert out["x_hat"].shape == (8, 384)
    """

    def __init__(self, num_symbols: int, config: LinkConfig | None = None, seed: int = 0, precision=None, device=None):
        super().__init__(precision=precision, device=device)
        if not isinstance(num_symbols, int) or num_symbols < 1:
            raise ValueError(f"num_symbols must be a positive int, got {num_symbols!r}")
        self.config = config = config or LinkConfig()
        self.num_symbols = num_symbols
        num_data = config.data_ofdm_symbols_for(num_symbols)
        num_total = num_data + len(config.pilot_symbol_indices)
        samples = num_total * (config.fft_size + config.cyclic_prefix_length)
        check_limit("frame_samples", samples, frame_bytes(samples),
                    f"a frame of {num_symbols:,} symbols ({num_total:,} OFDM symbols): ")
        pilot_idx = sorted(set(config.pilot_symbol_indices))
        if len(pilot_idx) != len(config.pilot_symbol_indices) or not all(0 <= i < num_total for i in pilot_idx):
            raise ValueError(f"pilot_symbol_indices {config.pilot_symbol_indices} must be distinct and < {num_total}")
        f = config.fft_size
        mask = np.zeros([1, 1, num_total, f], dtype=np.int32)
        mask[0, 0, pilot_idx, :] = 1
        pilots = pilot_sequence(len(pilot_idx) * f).reshape(1, 1, -1)
        pattern = PilotPattern(mask, pilots, precision=self.precision, device=self.device)
        self.resource_grid = rg = ResourceGrid(
            num_ofdm_symbols=num_total,
            fft_size=f,
            subcarrier_spacing=config.subcarrier_spacing,
            cyclic_prefix_length=config.cyclic_prefix_length,
            pilot_pattern=pattern,
            precision=self.precision,
            device=self.device,
        )
        kw = dict(precision=self.precision, device=self.device)
        self._mapper = ResourceGridMapper(rg, **kw)
        self._modulator = OFDMModulator(config.cyclic_prefix_length, **kw)
        self._demodulator = OFDMDemodulator(f, 0, config.cyclic_prefix_length, **kw)
        self.channel_model = BlockFadingChannel(config.channel, **kw)
        self.register_buffer("_frequencies", subcarrier_frequencies(f, config.subcarrier_spacing, **kw))
        # H = taps @ tap_to_freq: Sionna's CIR -> OFDM response for unit taps, computed once
        length = config.channel.length
        eye = torch.eye(length, dtype=self.cdtype, device=self.device)
        a, tau = self.channel_model.cir(eye, config.bandwidth)
        self.register_buffer("_tap_to_freq", cir_to_ofdm_channel(self._frequencies, a, tau).reshape(length, f))
        # DFT denoising of the LS estimate: h_ls @ M projects onto the responses of delays 0..cp (Sionna's CIR ->
        # OFDM response, so the subcarrier order is the grid's); M is [F, F], diag(M) = (cp + 1) / F
        d = config.dft_taps
        a_d, tau_d = self.channel_model.cir(torch.eye(d, dtype=self.cdtype, device=self.device), config.bandwidth)
        basis = cir_to_ofdm_channel(self._frequencies, a_d, tau_d).reshape(d, f)
        self.register_buffer("_dft_projection", torch.linalg.pinv(basis) @ basis)
        # LS: pilot rows, their known pilots, and for every OFDM symbol the nearest pilot row (lower on ties)
        nearest = [min(range(len(pilot_idx)), key=lambda j: (abs(sym - pilot_idx[j]), pilot_idx[j])) for sym in range(num_total)]
        self.register_buffer("_pilot_row_index", torch.tensor(pilot_idx, device=self.device))
        self.register_buffer("_nearest_pilot", torch.tensor(nearest, device=self.device))
        self.register_buffer("_pilots", torch.as_tensor(pilots.reshape(len(pilot_idx), f), dtype=self.cdtype, device=self.device))
        data_rows = [sym for sym in range(num_total) if sym not in pilot_idx]
        self.register_buffer("_data_row_index", torch.tensor(data_rows, device=self.device))
        symbol_of_sample = torch.arange(rg.num_time_samples, device=self.device) // (f + config.cyclic_prefix_length)
        self.register_buffer("_pilot_samples", torch.isin(symbol_of_sample, torch.tensor(pilot_idx, device=self.device)))
        pilot_rows = torch.zeros(num_total, dtype=torch.bool, device=self.device)
        pilot_rows[pilot_idx] = True
        self.register_buffer("_pilot_rows", pilot_rows)
        self.reseed(seed)

    # ------------------------------------------------------------------ accounting
    @property
    def num_ofdm_symbols(self) -> int:
        """OFDM symbols per frame (= per example), pilots included."""
        return self.resource_grid.num_ofdm_symbols

    @property
    def num_data_ofdm_symbols(self) -> int:
        """Data-carrying OFDM symbols per frame."""
        return self.resource_grid.num_ofdm_symbols - len(self.config.pilot_symbol_indices)

    @property
    def dft_projection(self) -> torch.Tensor:
        """``M`` [F, F] of ``csi = "ls_dft"``: a pilot row's LS estimate ``h`` [.., F] is denoised as ``h @ M``,
        the projection onto the responses of delays 0..cp."""
        return self._dft_projection

    @property
    def data_row_pilots(self) -> torch.Tensor:
        """For every data OFDM symbol, the index (among the pilot symbols) of the pilot symbol whose LS estimate
        equalises it: int64 [D]."""
        return self._nearest_pilot[self._data_row_index]

    @property
    def num_time_samples(self) -> int:
        """N: complex channel uses per frame, pilots and cyclic prefixes included."""
        return self.resource_grid.num_time_samples

    @property
    def pilot_sample_mask(self) -> torch.Tensor:
        """Bool [N]: time samples (CP included) that belong to pilot OFDM symbols."""
        return self._pilot_samples

    @property
    def pilot_symbol_mask(self) -> torch.Tensor:
        """Bool [S]: OFDM symbols of the frame that carry pilots."""
        return self._pilot_rows

    def reseed(self, seed: int, block: int | None = None) -> None:
        """Restart the channel and noise streams from ``seed`` (``block``: the streams of block ``block`` of a
        simulation, each block its own, so any subset of blocks can be simulated alone)."""
        self.seed = seed
        suffix = "" if block is None else f":block{block}"
        self.channel_model.generator = make_generator(seed, "channel" + suffix, self.device)
        self._noise_generator = make_generator(seed, "noise" + suffix, self.device)

    # ------------------------------------------------------------------ pieces
    def sample_taps(self, batch_shape) -> torch.Tensor:
        """Fresh channel taps, complex [*batch_shape, L], from the link's channel stream."""
        batch_shape = tuple(batch_shape)
        n = int(np.prod(batch_shape)) if batch_shape else 1
        return self.channel_model.sample_taps(n).reshape(*batch_shape, -1)

    def frequency_response(self, taps: torch.Tensor) -> torch.Tensor:
        """True per-subcarrier response ``H_k = sum_l h_l exp(-j 2 pi k l / F)``, [B, F] for taps [B, L]."""
        return taps @ self._tap_to_freq

    def transmit(self, x: torch.Tensor) -> dict:
        """Transmitter only: x [B, K] complex -> ``{"grid": [B, S, F], "x_time": [B, N]}``."""
        b = x.shape[0]
        if self.config.normalize == "per_example":
            power = x.abs().square().mean(dim=-1, keepdim=True)
            x = x / torch.sqrt(power.clamp_min(torch.finfo(power.dtype).tiny))
        num_data = self.resource_grid.num_data_symbols
        if num_data > self.num_symbols:
            x = torch.cat([x, x.new_zeros(b, num_data - self.num_symbols)], dim=-1)
        grid = self._mapper(x.reshape(b, 1, 1, num_data))  # [B, 1, 1, S, F]
        x_time = self._modulator(grid).reshape(b, -1)
        if self.config.clipping_ratio is not None:
            rms = x_time.abs().square().mean(dim=-1, keepdim=True).sqrt()
            limit = self.config.clipping_ratio * rms
            mag = x_time.abs()
            scale = torch.where(mag > limit, limit / mag.clamp_min(torch.finfo(mag.dtype).tiny), torch.ones_like(mag))
            x_time = x_time * scale
        return {"grid": grid.reshape(b, *grid.shape[-2:]), "x_time": x_time}

    def channel_output(self, x_time: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
        """Noiseless channel output ``y[m] = sum_l h_l s[m - l]``, [B, N + L - 1] for x_time [B, N], taps [B, L].

        Path l of the CIR sits on sample l, so this equals Sionna's ``cir_to_time_channel`` (l_min = 0) +
        ``ApplyTimeChannel`` (checked in the tests) at a fraction of the cost.
        """
        n, length = x_time.shape[-1], taps.shape[-1]
        padded = torch.nn.functional.pad(x_time, (length - 1, length - 1))
        out = taps[:, :1] * padded[:, length - 1:length - 1 + n + length - 1]
        for lag in range(1, length):
            out = out + taps[:, lag:lag + 1] * padded[:, length - 1 - lag:length - 1 - lag + n + length - 1]
        return out

    def ls_estimate(self, y_grid: torch.Tensor, no: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """LS estimate on the pilot rows, nearest pilot row in time: ``(h_hat, err_var)``, both [B, S, F].

        ``h_p = Y_p / p`` on every pilot resource element, error variance ``N0 / |p|^2``; each OFDM symbol
        takes the estimate of its nearest pilot symbol (Sionna's ``LSChannelEstimator`` with
        ``interpolation_type="nn"``). With ``csi = "ls_dft"`` each pilot row's estimate is first projected onto
        the channels of delays 0..cp (least squares over those taps), which leaves a channel that fits in the
        cyclic prefix unbiased and keeps ``(cp + 1) / F`` of the error variance.
        """
        h_p = y_grid[:, self._pilot_row_index] / self._pilots
        err = no.reshape(-1, 1, 1) / self._pilots.abs().square()
        if self.config.csi == "ls_dft":  # unit-modulus pilots: white LS error, projected: N0 * M_kk per subcarrier
            h_p = h_p @ self._dft_projection
            err = err * self._dft_projection.diagonal().real.to(err.dtype)
        return h_p[:, self._nearest_pilot], err[:, self._nearest_pilot]

    def extract_data(self, grid: torch.Tensor) -> torch.Tensor:
        """The K payload values of a grid [B, S, F] in the mapper's order (data rows, then subcarriers): [B, K]."""
        return grid[:, self._data_row_index].reshape(grid.shape[0], -1)[:, : self.num_symbols]

    def _equalize(self, y_grid, h_hat, no, err_var):
        """Closed-form SISO equaliser on the grid: returns (x_hat, no_eff), both [B, S, F]."""
        s = no.reshape(-1, 1, 1) + err_var
        g2 = h_hat.abs().square()
        if self.config.equalizer == "zf":
            tiny = torch.finfo(g2.dtype).tiny
            return y_grid / torch.where(g2 > 0, h_hat, torch.full_like(h_hat, tiny)), s / g2.clamp_min(tiny)
        denom = g2 + s
        return h_hat.conj() * y_grid / denom, s / denom

    # ------------------------------------------------------------------ the link
    def call(self, x, snr_db, perturbation=None, taps=None):
        cfg = self.config
        if not isinstance(x, torch.Tensor) or not x.is_complex():
            raise TypeError(f"x must be a complex tensor [..., {self.num_symbols}], got {getattr(x, 'dtype', type(x))}")
        if x.dim() < 1 or x.shape[-1] != self.num_symbols:
            raise ValueError(f"x must have shape [..., {self.num_symbols}], got {tuple(x.shape)}")
        if x.numel() == 0:
            raise ValueError(f"x is an empty batch (shape {tuple(x.shape)}): nothing to send")
        batch_shape = x.shape[:-1]
        b = int(np.prod(batch_shape)) if batch_shape else 1
        x = x.reshape(b, self.num_symbols)
        no = snr_db_to_no(snr_db, b, dtype=self.dtype, device=self.device)
        _check_finite(x, perturbation)

        tx = self.transmit(x)
        if taps is None:
            taps = self.channel_model.sample_taps(b)
        else:
            if taps.shape[-1] != cfg.channel.length or taps.numel() != b * cfg.channel.length:
                raise ValueError(f"taps must have shape [..., {cfg.channel.length}] matching x's batch, got {tuple(taps.shape)}")
            taps = taps.reshape(b, -1).to(self.cdtype)
        rx_full = self.channel_output(tx["x_time"], taps)  # [B, N + L - 1]
        std = torch.sqrt(no / 2).reshape(b, 1)
        w = torch.randn(*rx_full.shape, 2, dtype=self.dtype, device=self.device, generator=self._noise_generator)
        y_time = rx_full + torch.complex(w[..., 0], w[..., 1]) * std

        n = self.num_time_samples
        p_applied = None
        if perturbation is not None:
            p_applied = self._prepare_perturbation(perturbation, b)
            if cfg.perturbation_domain == "time":
                y_time = torch.cat([y_time[:, :n] + p_applied, y_time[:, n:]], dim=-1)

        y_grid = self._demodulator(y_time.reshape(b, 1, 1, -1)).reshape(b, self.num_ofdm_symbols, cfg.fft_size)
        if p_applied is not None and cfg.perturbation_domain == "freq":
            y_grid = y_grid + p_applied

        h_true = self.frequency_response(taps).unsqueeze(1).expand(b, self.num_ofdm_symbols, cfg.fft_size)
        if cfg.csi == "perfect":
            h_hat, err_var = h_true, torch.zeros((), dtype=self.dtype, device=self.device)
        else:  # "ls", "ls_dft"
            h_hat, err_var = self.ls_estimate(y_grid, no)
        x_grid, no_grid = self._equalize(y_grid, h_hat, no, err_var)
        x_hat = self.extract_data(x_grid)
        no_eff = self.extract_data(no_grid.expand(b, -1, -1))

        def shape(t, *tail):
            return t.reshape(tuple(batch_shape) + tuple(tail))

        s, f = self.num_ofdm_symbols, cfg.fft_size
        return {
            "x_hat": shape(x_hat, self.num_symbols),
            "no_eff": shape(no_eff, self.num_symbols),
            "h": shape(h_true, s, f),
            "h_hat": shape(h_hat, s, f),
            "taps": shape(taps, taps.shape[-1]),
            "no": shape(no),
            "x_time": shape(tx["x_time"], n),
            "rx_signal": shape(rx_full[:, :n], n),
            "y_time": shape(y_time, y_time.shape[-1]),
            "y_grid": shape(y_grid, s, f),
            "perturbation": None if p_applied is None else shape(p_applied, *p_applied.shape[1:]),
        }

    def _prepare_perturbation(self, p: torch.Tensor, b: int) -> torch.Tensor:
        cfg = self.config
        if not isinstance(p, torch.Tensor) or not p.is_complex():
            raise TypeError(f"perturbation must be a complex tensor, got {getattr(p, 'dtype', type(p).__name__)}")
        if cfg.perturbation_domain == "time":
            tail = (self.num_time_samples,)
            mask = self._pilot_samples
        else:
            tail = (self.num_ofdm_symbols, cfg.fft_size)
            mask = self._pilot_rows.unsqueeze(-1)
        if tuple(p.shape[-len(tail):]) != tail or p.numel() not in (math.prod(tail), b * math.prod(tail)):
            raise ValueError(
                f"{cfg.perturbation_domain}-domain perturbation must have shape [..., {', '.join(map(str, tail))}] "
                f"(one per example or one shared), got {tuple(p.shape)}"
            )
        p = p.reshape(-1, *tail).expand(b, *tail)
        if not cfg.perturb_pilots:
            p = p * (~mask).to(p.real.dtype)
        return p
