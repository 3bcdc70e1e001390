"""Neural models of the semantic system: codecs (MobileSC with its SemBlock), classifiers, registry.

Pure PyTorch; importing this package does not import Sionna or the ``baselines`` package.
"""

from .classifier import PreActBlock, PreActResNet, SymbolClassifier, preact_resnet18
from .codec import (
    ImageEncoder,
    SemanticCodec,
    SymbolDecoder,
    check_images,
    check_symbols,
    complex_to_reals,
    latent_grid,
    normalize_power,
    reals_to_complex,
)
from .mobilesc import (
    PAPER_PARAM_COUNTS,
    MobileSCDecoder,
    MobileSCEncoder,
    build_mobilesc,
    default_mobilesc_config,
    default_num_symbols,
)
from .registry import CodecRegistry, UnknownCodecError, count_parameters, default_registry, table3
from .semblock import SemBlock, SqueezeExcitation, StructureAwareGate
from .snr_gate import SNRGate

__all__ = [
    "PreActBlock", "PreActResNet", "SymbolClassifier", "preact_resnet18",
    "ImageEncoder", "SemanticCodec", "SymbolDecoder", "check_images", "check_symbols", "complex_to_reals",
    "latent_grid", "normalize_power", "reals_to_complex",
    "PAPER_PARAM_COUNTS", "MobileSCDecoder", "MobileSCEncoder", "build_mobilesc", "default_mobilesc_config",
    "default_num_symbols",
    "CodecRegistry", "UnknownCodecError", "count_parameters", "default_registry", "table3",
    "SemBlock", "SqueezeExcitation", "StructureAwareGate", "SNRGate",
]
