import pytest
import torch

from sionna_semcomm.models import (
    CodecRegistry,
    SemanticCodec,
    UnknownCodecError,
    build_mobilesc,
    count_parameters,
    default_registry,
    table3,
)


def test_default_registry_holds_mobilesc_only():
    reg = default_registry()
    assert reg.names() == ["mobilesc"] and "mobilesc" in reg
    codec = reg.create("mobilesc", (3, 32, 32), 384, channels=(8, 8), num_blocks=1)
    assert isinstance(codec, SemanticCodec) and codec.num_symbols == 384
    assert reg.paper_params("mobilesc") == {"encoder": 805_464, "decoder": 804_955}
    assert default_registry() is not reg  # fresh each time, no global state


def test_unknown_name_lists_known_names():
    reg = default_registry()
    reg.register("other", build_mobilesc)
    with pytest.raises(UnknownCodecError, match="known codecs: mobilesc, other"):
        reg.create("nope")
    with pytest.raises(ValueError, match="register_baseline_codecs"):
        reg.get("deepjscc")
    with pytest.raises(KeyError):
        reg.get("nope")


def test_register_errors_and_lazy_path():
    reg = CodecRegistry()
    reg.register("lazy", "sionna_semcomm.models.mobilesc:build_mobilesc")
    assert reg.get("lazy") is build_mobilesc
    with pytest.raises(ValueError, match="already registered"):
        reg.register("lazy", build_mobilesc)
    reg.register("lazy", build_mobilesc, overwrite=True)
    with pytest.raises(ValueError, match="callable"):
        reg.register("bad", 3)
    reg.register("badpath", "no_colon_here")
    with pytest.raises(ValueError, match="module:function"):
        reg.get("badpath")


def test_count_parameters():
    lin = torch.nn.Linear(3, 4)
    assert count_parameters(lin) == 16
    lin.bias.requires_grad_(False)
    assert count_parameters(lin, trainable_only=True) == 12


def test_table3_rows():
    rows = table3((3, 32, 32), 384, batch_size=2, repeats=1, num_images=10)
    assert [(r["codec"], r["part"]) for r in rows] == [("mobilesc", "encoder"), ("mobilesc", "decoder")]
    codec = build_mobilesc((3, 32, 32), 384)
    assert rows[0]["params"] == count_parameters(codec.encoder) and rows[0]["paper_params"] == 805_464
    assert rows[1]["params"] == count_parameters(codec.decoder) and rows[1]["paper_params"] == 804_955
    for r in rows:
        assert r["inference_seconds"] > 0 and r["num_images"] == 10 and r["device"] == "cpu"
