"""Named scenarios: one TOML file per scenario, validated on load.

Scenarios are looked up by name among the files shipped with the package (the checkout's top-level
``scenarios/`` folder, installed as ``sionna_semcomm._scenarios``), or given as a path to a ``.toml``
file. Every key is checked: an unknown section or key, a wrong type or an unknown scenario name raises
:class:`ScenarioError` naming it and listing what is allowed.

File layout (all sections optional except what a system needs)::

    description = "..."
    seed = 0                      # run seed
    snr_db = [0, 5, 10]           # default SNR points, Es/N0 per channel use [dB]
    systems = ["uncoded-qpsk"]    # default systems

    [link]      # LinkConfig fields: fft_size, cyclic_prefix_length, subcarrier_spacing,
                # pilot_symbol_indices, num_data_ofdm_symbols, clipping_ratio, csi, equalizer,
                # perturbation_domain, perturb_pilots
    [channel]   # kind = "awgn" | "rayleigh_flat" | "rayleigh_multipath", num_taps, decay
    [bits]      # num_bits, batch_size, num_data_ofdm_symbols (frame length of the bit links), ldpc_iterations,
                # ldpc_decoder ("fast" | "sionna")
    [images]    # dataset, num_images, batch_size, num_symbols (K complex symbols per image)
    [jpeg2000]  # conventional links: mode, budget_data_ofdm_symbols, codestream_bytes, ...
    [model]     # learned system: codec, classify_from, classifier_width, codec_hparams
    [train]     # epochs, batch_size, lr, beta1, snr_min_db, snr_max_db, w_rec, w_cls, reconstruction, ...
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .link.channels import ChannelSpec
from .link.config import LinkConfig
from .link.ldpc import DEFAULT_LDPC_DECODER, LDPC_DECODERS

__all__ = ["Scenario", "ScenarioError", "load_scenario", "list_scenarios", "scenario_dirs"]


class ScenarioError(ValueError):
    """A scenario file or name is not valid; the message names the problem and what is allowed."""


@dataclass(frozen=True)
class BitsConfig:
    """How the bit links of a scenario run."""

    num_bits: int = 100_000
    batch_size: int = 64
    num_data_ofdm_symbols: int = 13
    ldpc_iterations: int = 20
    ldpc_decoder: str = DEFAULT_LDPC_DECODER

    def __post_init__(self):
        if self.ldpc_decoder not in LDPC_DECODERS:
            raise ValueError(f"[bits] ldpc_decoder must be one of {', '.join(LDPC_DECODERS)}, got {self.ldpc_decoder!r}")


@dataclass(frozen=True)
class ImagesConfig:
    """How the image systems of a scenario run (completed by the codec and training issues)."""

    dataset: str = "cifar10"
    num_images: int = 1000
    batch_size: int = 64
    num_symbols: int = 384


@dataclass(frozen=True)
class Scenario:
    """A validated scenario."""

    name: str
    description: str = ""
    seed: int = 0
    snr_db: tuple[float, ...] = (0.0, 5.0, 10.0, 15.0, 20.0)
    systems: tuple[str, ...] = ()
    link: LinkConfig = field(default_factory=LinkConfig)
    bits: BitsConfig = field(default_factory=BitsConfig)
    images: ImagesConfig | None = None
    extras: dict = field(default_factory=dict)  # system-specific sections, e.g. "jpeg2000" (type-checked here)
    source: str = ""

    def to_dict(self) -> dict:
        """Plain-dict view for results JSON."""
        d = {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "snr_db": list(self.snr_db),
            "systems": list(self.systems),
            "link": self.link.to_dict(),
            "bits": dataclasses.asdict(self.bits),
        }
        if self.images is not None:
            d["images"] = dataclasses.asdict(self.images)
        d.update({k: dict(v) for k, v in self.extras.items()})
        return d


_NUMBER = (int, float)
# section -> key -> (accepted python types, description)
_LINK_KEYS = {
    "fft_size": (int,),
    "cyclic_prefix_length": (int,),
    "subcarrier_spacing": _NUMBER,
    "pilot_symbol_indices": (list,),
    "num_data_ofdm_symbols": (int,),
    "clipping_ratio": _NUMBER,
    "csi": (str,),
    "equalizer": (str,),
    "perturbation_domain": (str,),
    "perturb_pilots": (bool,),
}
# [train] keys (sionna_semcomm.train.TrainConfig validates the values); [train.<stage>] tables take the same keys
_TRAIN_KEYS = {
    "stage": (str,), "epochs": (int,), "max_steps": (int,), "batch_size": (int,), "optimizer": (str,), "lr": _NUMBER,
    "beta1": _NUMBER, "momentum": _NUMBER, "weight_decay": _NUMBER, "lr_schedule": (str,), "warmup_steps": (int,),
    "min_lr_ratio": _NUMBER, "decay_fraction": _NUMBER, "augment": (str,), "crop_padding": (int,),
    "label_smoothing": _NUMBER, "snr_min_db": _NUMBER, "snr_max_db": _NUMBER, "w_rec": _NUMBER, "w_cls": _NUMBER,
    "reconstruction": (str,), "clean_fraction": _NUMBER, "val_fraction": _NUMBER, "val_snr_db": _NUMBER,
    "eval_every": (int,), "checkpoint_every": (int,), "select": (str,), "train_source": (str,), "amp": (str,),
    "channels_last": (bool,),
}
TRAIN_STAGE_TABLES = ("joint", "codec", "classifier", "classifier_finetune")
SCHEMA: dict[str, dict[str, tuple]] = {
    "": {"description": (str,), "seed": (int,), "snr_db": (list,), "systems": (list,)},
    "link": _LINK_KEYS,
    "channel": {"kind": (str,), "num_taps": (int,), "decay": _NUMBER},
    "bits": {"num_bits": (int,), "batch_size": (int,), "num_data_ofdm_symbols": (int,), "ldpc_iterations": (int,),
             "ldpc_decoder": (str,)},
    "images": {"dataset": (str,), "num_images": (int,), "batch_size": (int,), "num_symbols": (int,)},
    # conventional links (baselines.conventional validates the values)
    "jpeg2000": {
        "mode": (str,),
        "budget_data_ofdm_symbols": (int,),
        "codestream_bytes": (int,),
        "max_codeword_info_bits": (int,),
        "ldpc_iterations": (int,),
        "ldpc_decoder": (str,),
        "implicit_header": (bool,),
        "error_detection": (bool,),
        "capacity_csi": (str,),
    },
    # the learned system (sionna_semcomm.semantic.ModelConfig / train.TrainConfig validate the values)
    "model": {"codec": (str,), "classify_from": (str,), "classifier_width": (int,), "codec_hparams": (dict,)},
    "train": _TRAIN_KEYS,
    # adversarial fine-tuning (sionna_semcomm.defense.DefenseConfig validates the values)
    "defense": {
        "variant": (str,),
        "epochs": (int,),
        "lr": _NUMBER,
        "clean_fraction": _NUMBER,
        "psr_db": _NUMBER,
        "generator_updates": (int,),
        "generator_lr": _NUMBER,
        "generator_epochs": (int,),
    },
}
EXTRA_SECTIONS = ("jpeg2000", "model", "train", "defense")


def scenario_dirs() -> list[Path]:
    """Folders searched for ``<name>.toml``: the installed package data, then the checkout's ``scenarios/``."""
    dirs = []
    try:
        packaged = importlib.resources.files("sionna_semcomm._scenarios")
        dirs.append(Path(str(packaged)))
    except ModuleNotFoundError:
        pass
    checkout = Path(__file__).resolve().parent.parent / "scenarios"
    if checkout.is_dir() and all(checkout.resolve() != d.resolve() for d in dirs):
        dirs.append(checkout)
    return [d for d in dirs if d.is_dir()]


def list_scenarios() -> dict[str, Path]:
    """Known scenario names -> file."""
    found: dict[str, Path] = {}
    for d in scenario_dirs():
        for p in sorted(d.glob("*.toml")):
            found.setdefault(p.stem, p)
    return found


def _type_name(types) -> str:
    names = {int: "integer", float: "number", str: "string", list: "array", bool: "boolean", dict: "table"}
    return " or ".join(dict.fromkeys(names[t] for t in types))


def _check_table(where: str, table: dict, allowed: dict) -> None:
    for key, value in table.items():
        if key not in allowed:
            raise ScenarioError(f"{where}: unknown key {key!r}; allowed keys: {', '.join(sorted(allowed))}")
        types = allowed[key]
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            raise ScenarioError(f"{where}: key {key!r} must be {_type_name(types)}, got {type(value).__name__} {value!r}")


def _finite_list(where: str, key: str, values, kind=float) -> tuple:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ScenarioError(f"{where}: {key} must hold finite numbers, got {v!r}")
        out.append(kind(v))
    return tuple(out)


def parse_scenario(data: dict, name: str, source: str = "") -> Scenario:
    """Validate a parsed TOML document and build the :class:`Scenario`."""
    where = source or name
    top = {k: v for k, v in data.items() if not isinstance(v, dict)}
    sections = {k: v for k, v in data.items() if isinstance(v, dict)}
    _check_table(where, top, SCHEMA[""])
    for sec, table in sections.items():
        if sec not in SCHEMA or sec == "":
            allowed = ", ".join(f"[{s}]" for s in SCHEMA if s)
            raise ScenarioError(f"{where}: unknown section [{sec}]; allowed sections: {allowed}")
        if sec == "train":
            stages = {k: v for k, v in table.items() if k in TRAIN_STAGE_TABLES and isinstance(v, dict)}
            for stage, sub in stages.items():
                _check_table(f"{where} [train.{stage}]", sub, _TRAIN_KEYS)
            table = {k: v for k, v in table.items() if k not in stages}
        _check_table(f"{where} [{sec}]", table, SCHEMA[sec])

    systems = top.get("systems", [])
    if not all(isinstance(s, str) for s in systems):
        raise ScenarioError(f"{where}: systems must be a list of strings, got {systems!r}")
    try:
        channel = ChannelSpec(**sections.get("channel", {}))
        link_kw = dict(sections.get("link", {}))
        if "pilot_symbol_indices" in link_kw:
            link_kw["pilot_symbol_indices"] = _finite_list(where, "pilot_symbol_indices", link_kw["pilot_symbol_indices"], int)
        link = LinkConfig(channel=channel, **link_kw)
        bits = BitsConfig(**sections.get("bits", {}))
        images = ImagesConfig(**sections["images"]) if "images" in sections else None
    except (TypeError, ValueError) as e:
        raise ScenarioError(f"{where}: {e}") from None
    if images is not None:
        from .data.loading import DATASET_NAMES

        if images.dataset not in DATASET_NAMES:
            raise ScenarioError(f"{where} [images]: unknown dataset {images.dataset!r}; known data sets: "
                                f"{', '.join(DATASET_NAMES)}")
    for cfg in (bits, images):
        for f in dataclasses.fields(cfg) if cfg is not None else ():
            v = getattr(cfg, f.name)
            if isinstance(v, int) and v < 1:
                raise ScenarioError(f"{where}: {f.name} must be >= 1, got {v}")
    snr = _finite_list(where, "snr_db", top.get("snr_db", Scenario.snr_db))
    return Scenario(
        name=name,
        description=top.get("description", ""),
        seed=top.get("seed", 0),
        snr_db=snr,
        systems=tuple(systems),
        link=link,
        bits=bits,
        images=images,
        extras={k: dict(sections[k]) for k in EXTRA_SECTIONS if k in sections},
        source=source,
    )


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load a scenario by name (``rayleigh_cifar``) or from a ``.toml`` path.

    :raises ScenarioError: unknown name (the message lists the known ones), malformed TOML, unknown
        section/key, wrong type or invalid value.
    """
    text = str(name_or_path)
    path = Path(text)
    if text.endswith(".toml") or path.is_file():
        if not path.is_file():
            raise ScenarioError(f"scenario file {text!r} does not exist")
        name = path.stem
    else:
        known = list_scenarios()
        if text not in known:
            raise ScenarioError(f"unknown scenario {text!r}; known scenarios: {', '.join(sorted(known)) or '(none found)'}")
        path, name = known[text], text
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: malformed TOML: {e}") from None
    return parse_scenario(data, name, str(path))
