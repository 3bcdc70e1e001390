"""Configuration of one OFDM link (resource grid, channel, receiver, perturbation hook)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace

from .bounds import check_limit, frame_bytes
from .channels import ChannelSpec

__all__ = ["LinkConfig", "CSI_MODES", "EQUALIZERS", "PERTURBATION_DOMAINS", "NORMALIZATIONS"]

CSI_MODES = ("ls", "ls_dft", "perfect")
EQUALIZERS = ("zf", "lmmse")
PERTURBATION_DOMAINS = ("time", "freq")
NORMALIZATIONS = ("per_example", "none")


@dataclass(frozen=True)
class LinkConfig:
    """Everything that defines the OFDM link, independent of what it carries.

    :param fft_size: number of subcarriers (all carry data or pilots: no guard band, no DC null).
    :param cyclic_prefix_length: CP length in samples.
    :param subcarrier_spacing: [Hz]; only sets the bandwidth ``fft_size * spacing`` (the sample rate).
    :param pilot_symbol_indices: OFDM symbols (in the frame) that carry pilots on every subcarrier.
    :param num_data_ofdm_symbols: data OFDM symbols per frame; ``None`` means ``ceil(K / fft_size)``
        for a payload of K complex symbols (the last one zero-padded).
    :param clipping_ratio: hard clipping of the time signal at ``clipping_ratio * RMS`` (per example);
        ``None`` disables clipping (default).
    :param channel: :class:`~sionna_semcomm.link.channels.ChannelSpec`.
    :param csi: ``"ls"`` (least squares on the pilot symbol, nearest-neighbour in time; the paper's),
        ``"ls_dft"`` (the LS estimate projected onto channels of at most ``cyclic_prefix_length + 1`` taps, the
        DFT-based denoising that assumes the channel fits in the cyclic prefix: error variance
        ``N0 (cp + 1) / F`` instead of ``N0``) or ``"perfect"`` (the true frequency response; for validation).
    :param equalizer: ``"zf"`` (unbiased, ``y / h``; in SISO identical to Sionna's de-biased LMMSE) or
        ``"lmmse"`` (biased per-RE MMSE estimate ``h* y / (|h|^2 + N0 + err_var)`` of a unit-power
        symbol; bounded in deep fades, preferred as input of learned decoders).
    :param normalize: ``"per_example"`` scales each example's symbols to unit average power;
        ``"none"`` sends them as given (QAM constellations already have unit average power).
    :param perturbation_domain: where the perturbation hook adds ``p``: ``"time"`` (receiver input,
        ``y = h * x + n + p``, what an over-the-air jammer does) or ``"freq"`` (after the FFT, per RE).
    :param perturb_pilots: whether the perturbation also hits the pilot OFDM symbols.
    """

    fft_size: int = 64
    cyclic_prefix_length: int = 16
    subcarrier_spacing: float = 15e3
    pilot_symbol_indices: tuple[int, ...] = (0,)
    num_data_ofdm_symbols: int | None = None
    clipping_ratio: float | None = None
    channel: ChannelSpec = field(default_factory=ChannelSpec)
    csi: str = "ls"
    equalizer: str = "zf"
    normalize: str = "per_example"
    perturbation_domain: str = "time"
    perturb_pilots: bool = True

    def for_learned_images(self) -> "LinkConfig":
        """This link as a learned codec uses it: each image's K symbols normalised to unit average power, and as
        many data OFDM symbols as K needs (``num_data_ofdm_symbols`` of the bit systems does not apply)."""
        return replace(self, normalize="per_example", num_data_ofdm_symbols=None)

    def __post_init__(self):
        def _choice(name, value, allowed):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")

        _choice("csi", self.csi, CSI_MODES)
        _choice("equalizer", self.equalizer, EQUALIZERS)
        _choice("normalize", self.normalize, NORMALIZATIONS)
        _choice("perturbation_domain", self.perturbation_domain, PERTURBATION_DOMAINS)
        if not isinstance(self.fft_size, int) or self.fft_size < 2:
            raise ValueError(f"fft_size must be an int >= 2, got {self.fft_size!r}")
        # a frame holds at least a pilot and a data OFDM symbol of fft_size samples each
        check_limit("fft_size", self.fft_size, frame_bytes(2 * self.fft_size))
        if not isinstance(self.cyclic_prefix_length, int) or not 0 <= self.cyclic_prefix_length <= self.fft_size:
            raise ValueError(f"cyclic_prefix_length must be an int in [0, fft_size], got {self.cyclic_prefix_length!r}")
        if not (math.isfinite(self.subcarrier_spacing) and self.subcarrier_spacing > 0):
            raise ValueError(f"subcarrier_spacing must be positive, got {self.subcarrier_spacing!r}")
        if len(self.pilot_symbol_indices) == 0:
            raise ValueError("at least one pilot OFDM symbol is needed (pilot_symbol_indices is empty)")
        if self.num_data_ofdm_symbols is not None and self.num_data_ofdm_symbols < 1:
            raise ValueError(f"num_data_ofdm_symbols must be >= 1, got {self.num_data_ofdm_symbols!r}")
        if self.clipping_ratio is not None and not (math.isfinite(self.clipping_ratio) and self.clipping_ratio > 0):
            raise ValueError(f"clipping_ratio must be positive (or None to disable), got {self.clipping_ratio!r}")
        if self.csi in ("ls", "ls_dft") and self.channel.length > self.fft_size:
            raise ValueError("channel longer than the FFT size cannot be estimated per subcarrier")

    @property
    def dft_taps(self) -> int:
        """Taps the ``"ls_dft"`` estimate keeps (delays 0..cp): its error variance is ``dft_taps / fft_size`` of LS's."""
        return min(self.cyclic_prefix_length + 1, self.fft_size)

    @property
    def bandwidth(self) -> float:
        """Sample rate / occupied bandwidth [Hz]."""
        return self.fft_size * self.subcarrier_spacing

    def data_ofdm_symbols_for(self, num_symbols: int) -> int:
        """Data OFDM symbols needed for ``num_symbols`` complex payload symbols per frame."""
        need = math.ceil(num_symbols / self.fft_size)
        if self.num_data_ofdm_symbols is None:
            return need
        if self.num_data_ofdm_symbols < need:
            raise ValueError(
                f"{num_symbols} symbols need {need} data OFDM symbols of {self.fft_size} subcarriers, "
                f"but the link is configured with num_data_ofdm_symbols={self.num_data_ofdm_symbols}"
            )
        return self.num_data_ofdm_symbols

    def to_dict(self) -> dict:
        """Plain-dict view (for results JSON)."""
        d = asdict(self)
        d["pilot_symbol_indices"] = list(self.pilot_symbol_indices)
        return d
