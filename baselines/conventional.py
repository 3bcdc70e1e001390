"""Conventional links: JPEG2000 + 5G LDPC (rate 1/2) + QAM over the same OFDM link, and the separation bound.

Per image (block fading: the image's channel realization is the one every other system gets for it):

1. JPEG2000 (:mod:`baselines.jpeg2000`, Pillow/OpenJPEG) codes the image to a codestream, once, before
   the SNR sweep (it does not depend on the SNR).
2. The codestream's bits are split into ``C`` LDPC codewords of ``k`` information bits (the last one
   zero-padded; the codestream length is side information, assumed known at the receiver), encoded to
   ``n = 2k`` bits (Sionna ``LDPC5GEncoder``, rate matching included), mapped to BPSK/QPSK/16QAM/64QAM
   (Sionna ``Mapper``) and sent as one frame: 1 pilot OFDM symbol + the data OFDM symbols they need.
3. The receiver (the shared :class:`~sionna_semcomm.link.ofdm.OFDMLink`: LS estimation, ZF equalisation)
   hands symbols and effective noise to Sionna's APP ``Demapper`` and the LDPC decoder (``ldpc_decoder``:
   the layered ``"fast"`` one or Sionna's ``LDPC5GDecoder``, :mod:`sionna_semcomm.link.ldpc`); all codewords
   of a batch of images are decoded in one call. The bytes are reassembled and JPEG2000-decoded.
4. A codestream that does not decode, or no codestream at all (the budget is below JPEG2000's smallest
   codestream), gives the **fallback image**: the mean training image of the data set (the Deep JSCC
   convention; the mean of the evaluated images when no training set is available), counted in
   ``decode_failure_rate``. With ``error_detection = true`` an image with any residual bit error is also
   replaced by the fallback (an ideal transport-block CRC, no retransmission); by default the corrupted
   bytes go to the decoder and partial decodes are kept.

Two modes (scenario section ``[jpeg2000]``):

- ``equal_budget`` (default): the learned system's budget of ``budget_data_ofdm_symbols`` data OFDM
  symbols per image (6 for CIFAR-10). Each MCS fits ``floor(D * 64 * bps / 2 / 8)`` codestream bytes into
  it (BPSK 24, QPSK 48, 16QAM 96, 64QAM 144 B at D = 6): the cliff effect shows as SNR drops.
- ``fixed_rate`` (the paper's Table IV): codestreams of at most ``codestream_bytes``; each MCS needs
  its own number of OFDM symbols (reported per image, averaged over images).

``jpeg2000-capacity`` is the separation bound: a capacity-achieving code over the realized channel
delivers ``D * sum_k log2(1 + SNR |H_k|^2)`` bits in the D data OFDM symbols (perfect CSI, outage on
block fading); JPEG2000 at that size is received error-free, the fallback if even its smallest
codestream does not fit. With ``capacity_csi = "ls"`` the receiver knows the channel only as the learned
system's receiver does, through the LS estimate on the pilot symbol(s): the rate is then Medard's lower bound
on the capacity with an imperfect estimate (M. Medard, IEEE Trans. Inf. Theory 46(3), 2000): with the LMMSE
estimate ``H~ = H^ / (1 + N0)`` of the LS estimate ``H^ = H + E`` (``E ~ CN(0, N0)``, unit-power pilots,
``E|H|^2 = 1``) and its error variance ``s2 = N0 / (1 + N0)``, ``log2(1 + |H~_k|^2 / (N0 + s2))`` bits per
data symbol (the estimation error times the unit-power symbol counted as Gaussian noise). ``"ls_dft"``: the
same with the DFT-denoised estimate (the link's ``csi = "ls_dft"``): ``E`` is the projected pilot noise, of
variance ``r N0`` (``r = (cp + 1) / F``), so ``H~ = H^ / (1 + r N0)`` and ``s2 = r N0 / (1 + r N0)``.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from sionna_semcomm.data import DatasetNotFoundError, load_dataset, resolve_data_dir
from sionna_semcomm.evaluation import ImageRunner, load_eval_images
from sionna_semcomm.link.bits import MODULATIONS
from sionna_semcomm.link.bounds import check_limit, frame_bytes
from sionna_semcomm.link.ldpc import DEFAULT_LDPC_DECODER, LDPC_DECODERS, build_ldpc_decoder
from sionna_semcomm.link.ofdm import OFDMLink
from sionna_semcomm.systems import SystemInfo
from sionna.phy.fec.ldpc import LDPC5GEncoder  # after sionna_semcomm.link, which imports Sionna without dynamo
from sionna.phy.mapping import Demapper, Mapper

from . import jpeg2000 as j2k

__all__ = ["JPEG2000Config", "ConventionalImageSystem", "CapacityImageSystem", "register"]

MODES = ("equal_budget", "fixed_rate")
_MAX_LDPC_K = 8448  # 5G base graph 1


#: What ``jpeg2000-capacity``'s receiver knows of the channel: the true response, or the pilots' LS estimate,
#: plain or DFT-denoised (module doc).
CAPACITY_CSI = ("perfect", "ls", "ls_dft")


@dataclasses.dataclass(frozen=True)
class JPEG2000Config:
    """Settings of the conventional links (scenario section ``[jpeg2000]``)."""

    mode: str = "equal_budget"
    budget_data_ofdm_symbols: int = 6
    codestream_bytes: int = 300
    max_codeword_info_bits: int = 4096
    ldpc_iterations: int = 20
    ldpc_decoder: str = DEFAULT_LDPC_DECODER
    implicit_header: bool = False
    error_detection: bool = False
    capacity_csi: str = "perfect"

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"[jpeg2000] mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.capacity_csi not in CAPACITY_CSI:
            raise ValueError(f"[jpeg2000] capacity_csi must be one of {', '.join(CAPACITY_CSI)}, got {self.capacity_csi!r}")
        for name in ("budget_data_ofdm_symbols", "codestream_bytes", "max_codeword_info_bits", "ldpc_iterations"):
            if getattr(self, name) < 1:
                raise ValueError(f"[jpeg2000] {name} must be >= 1, got {getattr(self, name)}")
        # rate 1/2: 16 coded bits per byte, 8 QPSK symbols, sent with OFDM's 5/4 cyclic-prefix overhead
        check_limit("codestream_bytes", self.codestream_bytes, frame_bytes(10 * self.codestream_bytes), "[jpeg2000] ")
        if self.ldpc_decoder not in LDPC_DECODERS:
            raise ValueError(f"[jpeg2000] ldpc_decoder must be one of {', '.join(LDPC_DECODERS)}, got {self.ldpc_decoder!r}")
        if self.max_codeword_info_bits > _MAX_LDPC_K:
            raise ValueError(f"[jpeg2000] max_codeword_info_bits must be <= {_MAX_LDPC_K} (5G LDPC)")

    @property
    def settings(self) -> j2k.J2KSettings:
        return j2k.J2KSettings(implicit_header=self.implicit_header)


def codeword_plan(info_bits: int, max_k: int, bits_per_symbol: int = 1) -> tuple[int, int, int]:
    """Split ``info_bits`` into ``C`` rate-1/2 codewords of ``k`` info bits: returns ``(C, k, n = 2k)``.

    ``k`` is rounded up so that ``n`` is a multiple of ``bits_per_symbol`` (Sionna's rate matching
    interleaves per symbol).
    """
    step = max(1, bits_per_symbol // 2)
    c = max(1, math.ceil(info_bits / max_k))
    k = math.ceil(math.ceil(info_bits / c) / step) * step
    return c, k, 2 * k


def _bits_of(data: bytes, length: int) -> torch.Tensor:
    """Bytes -> float bit vector of ``length`` bits (MSB first, zero-padded)."""
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)) if data else np.zeros(0, np.uint8)
    out = np.zeros(length, dtype=np.float32)
    out[: len(bits)] = bits[:length]
    return torch.from_numpy(out)


def _bytes_of(bits: torch.Tensor, num_bytes: int) -> bytes:
    return np.packbits(bits[: 8 * num_bytes].to(torch.uint8).cpu().numpy()).tobytes()


def fallback_image(dataset_name: str, data_dir, eval_images: torch.Tensor) -> tuple[torch.Tensor, str]:
    """The mean training image of the data set, or of ``eval_images`` when no training set is found.

    Computed once per data set and folder (every conventional system of a run needs it).
    """
    key = (dataset_name, str(resolve_data_dir(data_dir)))
    if key not in _MEAN_TRAINING_IMAGES:
        try:
            train = load_dataset(dataset_name, "train", data_dir)
        except DatasetNotFoundError:
            return eval_images.mean(0), "mean of the evaluated images (no training set found)"
        _MEAN_TRAINING_IMAGES[key] = j2k.mean_image(train.images.float() / 255.0)
    return _MEAN_TRAINING_IMAGES[key].clone(), "mean training image"


_MEAN_TRAINING_IMAGES: dict[tuple[str, str], torch.Tensor] = {}


class _JPEG2000Base:
    """What the JPEG2000 systems share: codestream cache, fallback, decoding, accounting."""

    def __init__(self, link_cfg, cfg: JPEG2000Config, seed: int, device: str, dataset_name: str, data_dir):
        self.cfg = cfg
        self.link_cfg = link_cfg
        self.seed, self.device = seed, device
        self.dataset_name, self.data_dir = dataset_name, data_dir
        self.codestreams: list[bytes | None] = []
        self.fallback = None
        self.fallback_kind = ""

    def _prepare_common(self, images: torch.Tensor):
        self.image_shape = tuple(images.shape[1:])
        self.fallback, self.fallback_kind = fallback_image(self.dataset_name, self.data_dir, images.cpu())

    def _decode(self, index: torch.Tensor, received: list[bytes | None]) -> tuple[torch.Tensor, int]:
        images, ok = j2k.decode_batch(received, self.image_shape, self.fallback, self.cfg.settings)
        return images.to(self.device), int((~ok).sum())


class ConventionalImageSystem(_JPEG2000Base):
    """JPEG2000 + 5G LDPC rate 1/2 + ``modulation`` over the scenario's OFDM link (see the module doc)."""

    def __init__(self, modulation: str, link_cfg, cfg: JPEG2000Config, seed: int, device: str,
                 dataset_name: str, data_dir=None):
        super().__init__(dataclasses.replace(link_cfg, normalize="none", equalizer="zf", num_data_ofdm_symbols=None),
                         cfg, seed, device, dataset_name, data_dir)
        kind, bps = MODULATIONS[modulation]
        self.modulation, self.bps = modulation, bps
        f = self.link_cfg.fft_size
        if cfg.mode == "equal_budget":
            coded = cfg.budget_data_ofdm_symbols * f * bps
            self.num_codewords = max(1, math.ceil(coded / (2 * cfg.max_codeword_info_bits)))
            unit = math.lcm(2, bps)
            self.n = (coded // self.num_codewords) // unit * unit
            self.k = self.n // 2
            self.max_bytes = self.num_codewords * self.k // 8
        else:
            self.max_bytes = cfg.codestream_bytes
            self.num_codewords, self.k, self.n = codeword_plan(8 * cfg.codestream_bytes, cfg.max_codeword_info_bits, bps)
        if self.max_bytes < 1:
            raise ValueError(f"{modulation}: the budget holds no codestream byte")
        kw = dict(device=device)
        self.encoder = LDPC5GEncoder(self.k, self.n, num_bits_per_symbol=bps, **kw)
        self.decoder = build_ldpc_decoder(cfg.ldpc_decoder, self.encoder, cfg.ldpc_iterations)
        self.mapper = Mapper(kind, bps, **kw)
        self.demapper = Demapper("app", kind, bps, **kw)
        self.num_symbols = math.ceil(self.num_codewords * self.n / bps)
        self.link = OFDMLink(self.num_symbols, self.link_cfg, seed=seed, device=device)

    def config(self) -> dict:
        return {"modulation": self.modulation, "ldpc_rate": 0.5, "ldpc_k": self.k, "ldpc_n": self.n,
                "codewords_per_frame": self.num_codewords, "max_codestream_bytes": self.max_bytes,
                "jpeg2000": dataclasses.asdict(self.cfg), "fallback": self.fallback_kind,
                "link": self.link_cfg.to_dict()}

    def prepare(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        self._prepare_common(images)
        self.codestreams = j2k.encode_batch(images.cpu(), self.max_bytes, self.cfg.settings)
        self._codeword_cache: dict[int, torch.Tensor] = {}

    def _codewords(self, index: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
        """LDPC codewords ``[B, num_codewords * n]`` of ``bits`` ``[B, num_codewords * k]`` (the codestreams of images
        ``index``). An image's codewords depend only on its codestream, so they are encoded once, at the first SNR
        point, and reused (as 0/1 ``uint8``) at the others; :meth:`prepare` forgets them."""
        cache = self.__dict__.setdefault("_codeword_cache", {})
        ids = [int(i) for i in index]
        missing = [j for j, i in enumerate(ids) if i not in cache]
        if missing:
            fresh = self.encoder(bits[missing].reshape(len(missing), self.num_codewords, self.k))
            self._codeword_dtype = fresh.dtype
            for j, row in zip(missing, fresh.reshape(len(missing), -1)):
                cache[ids[j]] = row.to(torch.uint8)
        return torch.stack([cache[i] for i in ids]).to(self._codeword_dtype)

    def _codewords_used(self, data: bytes | None) -> int:
        return 0 if not data else math.ceil(8 * len(data) / self.k)

    def accounting(self) -> dict:
        f, cp = self.link_cfg.fft_size, self.link_cfg.cyclic_prefix_length
        pilots = len(self.link_cfg.pilot_symbol_indices)
        if self.cfg.mode == "equal_budget":
            symbols = [self.link.num_ofdm_symbols] * max(1, len(self.codestreams))
        else:  # each image only sends the codewords its codestream needs
            symbols = [pilots + math.ceil(self._codewords_used(d) * self.n / self.bps / f) for d in self.codestreams]
        lengths = [len(d) if d else 0 for d in self.codestreams]
        return {
            "ofdm_symbols_per_image": float(np.mean(symbols)),
            "channel_uses_per_image": float(np.mean(symbols)) * (f + cp),
            "codestream_bytes_per_image": float(np.mean(lengths)) if lengths else 0.0,
            "images_without_codestream": int(sum(d is None for d in self.codestreams)),
        }

    def transmit(self, index, images, labels, snr_db, taps) -> dict:
        streams = [self.codestreams[int(i)] for i in index]
        b, total_k = len(streams), self.num_codewords * self.k
        bits = torch.stack([_bits_of(d or b"", total_k) for d in streams]).to(self.device)
        cw = self._codewords(index, bits)
        pad = self.num_symbols * self.bps - cw.shape[-1]
        x = self.mapper(torch.nn.functional.pad(cw, (0, pad)))
        out = self.link(x, snr_db, taps=taps)
        llr = self.demapper(out["x_hat"], out["no_eff"])[:, : self.num_codewords * self.n]
        bits_hat, iterations = self.decoder.decode(llr.reshape(b, self.num_codewords, self.n))
        bits_hat = bits_hat.reshape(b, -1)

        bit_errors = bits_total = block_errors = blocks = 0
        received = []
        for j, data in enumerate(streams):
            if not data:
                received.append(None)
                continue
            nbits, used = 8 * len(data), self._codewords_used(data)
            wrong = bits_hat[j, :nbits] != bits[j, :nbits]
            bit_errors += int(wrong.sum())
            bits_total += nbits
            cw_wrong = (bits_hat[j, : used * self.k] != bits[j, : used * self.k]).reshape(used, self.k).any(-1)
            block_errors += int(cw_wrong.sum())
            blocks += used
            if self.cfg.error_detection and bool(wrong.any()):
                received.append(None)
            else:
                received.append(_bytes_of(bits_hat[j], len(data)))
        x_hat, failures = self._decode(index, received)
        return {"x_hat": x_hat, "bit_errors": bit_errors, "bits": bits_total, "block_errors": block_errors,
                "blocks": blocks, "decode_failures": failures, "ldpc_iterations": int(iterations.sum()),
                "ldpc_codewords": iterations.numel()}


class CapacityImageSystem(_JPEG2000Base):
    """``jpeg2000-capacity``: JPEG2000 at the realized channel's capacity over the budget (module doc)."""

    def __init__(self, link_cfg, cfg: JPEG2000Config, seed: int, device: str, dataset_name: str, data_dir=None):
        super().__init__(link_cfg, cfg, seed, device, dataset_name, data_dir)
        f = link_cfg.fft_size
        self.link = OFDMLink(cfg.budget_data_ofdm_symbols * f, dataclasses.replace(link_cfg, num_data_ofdm_symbols=None),
                             seed=seed, device=device)
        self._images = None
        self._cache: dict[tuple[int, int], bytes | None] = {}

    def config(self) -> dict:
        csi = ("perfect CSI" if self.cfg.capacity_csi == "perfect" else
               f"{self.cfg.capacity_csi} estimate, Medard's lower bound on the capacity with channel-estimation error")
        return {"bound": f"separation (capacity-achieving code, {csi}, outage on block fading)",
                "jpeg2000": dataclasses.asdict(self.cfg), "fallback": self.fallback_kind,
                "link": self.link.config.to_dict()}

    def prepare(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> None:
        self._prepare_common(images)
        self._images = images.cpu()

    def accounting(self) -> dict:
        return {"ofdm_symbols_per_image": self.link.num_ofdm_symbols,
                "channel_uses_per_image": self.link.num_time_samples}

    def capacity_bits(self, taps: torch.Tensor, snr_db: float, pilot_noise: torch.Tensor | None = None) -> torch.Tensor:
        """Bits deliverable in the budget, float64 ``[B]``: ``D * sum_k log2(1 + SNR |H_k|^2)`` with perfect CSI;
        with ``capacity_csi = "ls"`` or ``"ls_dft"`` the sum over the data symbols of ``log2(1 + |H~_k|^2 / (N0 +
        s2))`` (module doc), each data OFDM symbol estimated on its nearest pilot symbol, as the link's receiver does.

        :input taps: complex [B, L], the realized channel.
        :input pilot_noise: complex [B, P, F], unit-variance CN(0, 1) noise on the P pilot symbols (required for
            ``"ls"`` and ``"ls_dft"``; scaled by sqrt(N0) here).
        """
        h = self.link.frequency_response(taps).to(torch.complex128)
        snr = 10.0 ** (snr_db / 10.0)
        if self.cfg.capacity_csi == "perfect":
            return self.cfg.budget_data_ofdm_symbols * torch.log2(1 + snr * h.abs().square()).sum(-1)
        if pilot_noise is None:
            raise ValueError(f"capacity_csi {self.cfg.capacity_csi!r} needs the pilot noise [batch, pilots, subcarriers]")
        no = 1.0 / snr
        e = math.sqrt(no) * pilot_noise.to(torch.complex128)  # [B, P, F]: LS error with unit-power pilots
        r = 1.0
        if self.cfg.capacity_csi == "ls_dft":
            proj = self.link.dft_projection.to(torch.complex128)
            e, r = e @ proj, float(proj.diagonal().real.mean())  # diag(M) = (cp + 1) / F on every subcarrier
        h_ls = h.unsqueeze(1) + e
        h_mmse, err_var = h_ls / (1 + r * no), r * no / (1 + r * no)
        per_pilot = torch.log2(1 + h_mmse.abs().square() / (no + err_var)).sum(-1)  # [B, P]
        return per_pilot[:, self.link.data_row_pilots].sum(-1)

    def _pilot_noise(self, index: torch.Tensor, snr_db: float) -> torch.Tensor:
        """CN(0, 1) pilot noise [B, P, F], fixed per (run seed, image, SNR): the same figure in any batching."""
        p, f = len(self.link.config.pilot_symbol_indices), self.link.config.fft_size
        out = []
        for i in index.tolist():
            key = (int(self.seed) * 1_000_003 + int(i)) * 1_000_033 + round(float(snr_db) * 1000)
            g = torch.Generator().manual_seed(key % 2**63)
            out.append(torch.randn(p, f, 2, generator=g, dtype=torch.float64))
        return torch.view_as_complex(torch.stack(out)) / math.sqrt(2)

    def transmit(self, index, images, labels, snr_db, taps) -> dict:
        noise = self._pilot_noise(index, snr_db) if self.cfg.capacity_csi != "perfect" else None
        budgets = (self.capacity_bits(taps, snr_db, noise) / 8).floor().to(torch.int64).tolist()
        received = []
        for i, budget in zip(index.tolist(), budgets):
            key = (i, budget)
            if key not in self._cache:
                self._cache[key] = j2k.encode_to_budget(self._images[i], budget, self.cfg.settings) if budget > 0 else None
            received.append(self._cache[key])
        x_hat, failures = self._decode(index, received)
        return {"x_hat": x_hat, "decode_failures": failures}


def _jpeg2000_config(scenario, options) -> JPEG2000Config:
    kw = dict(scenario.extras.get("jpeg2000", {}))
    if options.extra.get("jpeg2000_mode"):
        kw["mode"] = options.extra["jpeg2000_mode"]
    if options.extra.get("jpeg2000_bytes"):
        kw["codestream_bytes"] = options.extra["jpeg2000_bytes"]
    if options.extra.get("ldpc_decoder"):
        kw["ldpc_decoder"] = options.extra["ldpc_decoder"]
    if options.extra.get("jpeg2000_implicit_header"):
        kw["implicit_header"] = True
    if options.extra.get("capacity_csi"):
        kw["capacity_csi"] = options.extra["capacity_csi"]
    return JPEG2000Config(**kw)


def _runner(make_system):
    def build(scenario, options):
        if scenario.images is None:
            raise ValueError(f"scenario {scenario.name!r} has no [images] section: image systems cannot run on it")
        link_cfg = dataclasses.replace(scenario.link, csi=options.csi or scenario.link.csi)
        data_dir = options.extra.get("data_dir")
        system = make_system(link_cfg, _jpeg2000_config(scenario, options), options.seed, options.device,
                             scenario.images.dataset, data_dir)
        dataset = load_eval_images(scenario.images.dataset, options.num_images or scenario.images.num_images, data_dir)
        return ImageRunner(system, dataset, options.batch_size or scenario.images.batch_size, options.seed)

    return build


def register(register_system) -> None:
    """Register the conventional image systems with the link CLI's registry."""
    for mod in MODULATIONS:
        register_system(SystemInfo(
            f"jpeg2000-ldpc-{mod}", "image", f"JPEG2000 + 5G LDPC rate-1/2 + {mod.upper()} (conventional link)",
            _runner(lambda *a, _m=mod: ConventionalImageSystem(_m, *a)), conventional=True), replace=True)
    register_system(SystemInfo(
        "jpeg2000-capacity", "image", "JPEG2000 at the realized channel's capacity (separation bound)",
        _runner(CapacityImageSystem), conventional=True), replace=True)
