"""The weights shipped with the package: present, sha256-checked, loadable, and used by default."""

import pytest
import torch

from sionna_semcomm.checkpoints import CheckpointError, sha256_file
from sionna_semcomm.learned import (pretrained_attack_checkpoint, pretrained_checkpoint, pretrained_manifest,
                                    shipped_weights_dir)
from sionna_semcomm.semantic import load_system


def test_every_manifest_entry_exists_with_its_digest():
    manifest = pretrained_manifest()
    assert "rayleigh_cifar-mobilesc" in manifest
    for key, entry in manifest.items():
        path = shipped_weights_dir() / entry["file"]
        assert path.is_file() and sha256_file(path) == entry["sha256"], key
        assert entry["command"].startswith("python -m sionna_semcomm."), key
        scenario, rest = key.split("-", 1)
        if rest.startswith("mobilesc"):  # systems and their variants resolve by name
            codec, _, variant = rest.partition("-")
            assert pretrained_checkpoint(scenario, codec, variant or None) == (path, entry["sha256"]), key


def test_default_cifar_system_loads_with_its_digest():
    path, sha = pretrained_checkpoint("rayleigh_cifar", "mobilesc")
    system, meta = load_system(path, sha)
    assert system.num_symbols == 384 and meta["scenario"] == "rayleigh_cifar"


def test_shipped_generators_are_found_by_setting():
    assert pretrained_attack_checkpoint("rayleigh_cifar", "semadv", [2]).name == "rayleigh_cifar-semadv-t2.safetensors"
    assert pretrained_attack_checkpoint("rayleigh_cifar", "semadv", [2], 5).name == "rayleigh_cifar-semadv-t2-c5.safetensors"
    assert pretrained_attack_checkpoint("rayleigh_cifar", "pgm").name == "rayleigh_cifar-pgm.safetensors"
    with pytest.raises(CheckpointError, match="no shipped semadv generator 'rayleigh_cifar-semadv-t7'.*shipped: "):
        pretrained_attack_checkpoint("rayleigh_cifar", "semadv", [7])


def test_unknown_scenario_has_no_default_weights():
    with pytest.raises(CheckpointError, match="no pretrained mobilesc weights ship for scenario 'awgn_bits'"):
        pretrained_checkpoint("awgn_bits", "mobilesc")


@pytest.mark.parametrize("scenario", ["rayleigh_cifar", "rayleigh_mnist"])
def test_shipped_semmixed_weights_are_a_fine_tuned_copy_of_the_base_system(scenario):
    base, _ = load_system(*pretrained_checkpoint(scenario, "mobilesc"))
    hardened, meta = load_system(*pretrained_checkpoint(scenario, "mobilesc", "semmixed"))
    assert meta["defense"]["variant"] == "semmixed" and meta["defense"]["clean_fraction"] == 0.5
    assert meta["base_checkpoint"]["sha256"] == pretrained_manifest()[f"{scenario}-mobilesc"]["sha256"]
    diffs = [float((a - b).abs().max()) for a, b in zip(base.state_dict().values(), hardened.state_dict().values())
             if a.dtype.is_floating_point]
    assert max(diffs) > 0 and base.config == hardened.config  # same architecture, moved weights
    assert torch.isfinite(torch.tensor(diffs)).all()


def test_link_command_takes_the_shipped_semmixed_weights(tmp_path):
    from sionna_semcomm.link.cli import main as link_main

    runs = link_main(["--scenario", "rayleigh_cifar", "--systems", "mobilesc", "--checkpoint", "semmixed", "--snr-db", "10",
                      "--num-images", "8", "--device", "cpu", "--no-progress"])
    assert runs[0]["config"]["system"]["checkpoint"]["path"].endswith("rayleigh_cifar-mobilesc-semmixed.safetensors")
    with pytest.raises(CheckpointError, match="no pretrained deepjscc weights ship"):
        pretrained_checkpoint("rayleigh_cifar", "deepjscc", "semmixed")


@pytest.mark.parametrize("scenario", ["rayleigh_cifar", "rayleigh_mnist"])
def test_shipped_symbol_classifier_shares_the_shipped_codec(scenario):
    """The reproduction reuses ``--checkpoint symbols`` only when its codec is the base system's, tensor for tensor."""
    from sionna_semcomm.checkpoints import load_weights
    from sionna_semcomm.reproduce.pipeline import _same_codec

    base = load_weights(*pretrained_checkpoint(scenario, "mobilesc"))[0]
    symbols = load_weights(*pretrained_checkpoint(scenario, "mobilesc", "symbols"))[0]
    assert _same_codec(symbols, base)
    assert symbols.keys() != base.keys()  # a classifier on the symbols, not the image classifier


def test_default_mnist_system_is_the_4000_step_codec_system_trained_further():
    """The shipped rayleigh_mnist system (shipped first as the variant ``codec8k``): the recipe's system with a
    4,000-step codec stage (sha256 55f28cdc..., shipped first as ``codec4k``), its codec trained 4,000 more steps
    and stage 3 continued from its classifier; the names ``codec4k`` and ``codec8k`` are gone since their
    promotions."""
    import argparse

    from sionna_semcomm.argtypes import file_or_name
    from sionna_semcomm.learned import SHIPPED_VARIANTS

    system, meta = load_system(*pretrained_checkpoint("rayleigh_mnist", "mobilesc"))
    assert meta["stage"] == "classifier_finetune" and meta["init"]["codec"]["step"] == 4000
    assert meta["init"]["classifier"]["sha256"].startswith("55f28cdc")
    assert system.config.classifier_width == 16 and not system.codec.uses_csi
    for name in ("codec4k", "codec8k"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"no such file: {name}"):
            file_or_name(SHIPPED_VARIANTS)(name)
        with pytest.raises(CheckpointError, match="no pretrained mobilesc weights ship for scenario 'rayleigh_mnist'"):
            pretrained_checkpoint("rayleigh_mnist", "mobilesc", name)


def test_default_cifar_system_reads_the_channel_state_and_its_defences_keep_it():
    """The shipped rayleigh_cifar system (shipped first as the variant ``csi``): the width-32 system shipped before
    it (sha256 38baa381...) with a decoder told every symbol's channel state (``decoder_csi``), its codec trained
    further with it and its width-32 classifier continued on its reconstructions (the scenario's
    ``classifier_width`` stays 16 and ``decoder_csi`` off: a checkpoint carries its own). The decoder reads the
    per-symbol ``no_eff``; SemMixed, fine-tuned from it, keeps both, the symbol classifier its codec; the names
    ``csi`` and ``w32`` are gone since their promotions."""
    import argparse

    from sionna_semcomm.argtypes import file_or_name
    from sionna_semcomm.learned import SHIPPED_VARIANTS
    from sionna_semcomm.link.ofdm import OFDMLink
    from sionna_semcomm.reproduce.pipeline import _same_codec
    from sionna_semcomm.scenario import load_scenario

    scenario = load_scenario("rayleigh_cifar")
    system, meta = load_system(*pretrained_checkpoint("rayleigh_cifar", "mobilesc"))
    assert system.codec.uses_csi and system.config.classifier_width == 32
    assert scenario.extras["model"]["classifier_width"] == 16
    assert not scenario.extras["model"].get("codec_hparams", {}).get("decoder_csi", False)
    assert meta["stage"] == "classifier_finetune" and meta["init"]["classifier"]["sha256"].startswith("38baa381")
    link = OFDMLink(system.num_symbols, scenario.link.for_learned_images(), seed=0)
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        out = system.reconstruct(x, link, 5.0)
        flat = system.codec.decode(out["z_hat"], 5.0, out["link"]["no_eff"].mean(dim=1, keepdim=True).expand(2, 384))
    assert float((flat - out["x_hat"]).abs().max()) > 1e-3  # the per-symbol state changes the reconstruction
    semmixed, _ = load_system(*pretrained_checkpoint("rayleigh_cifar", "mobilesc", "semmixed"))
    assert semmixed.config == system.config and semmixed.codec.uses_csi
    symbols = load_system(*pretrained_checkpoint("rayleigh_cifar", "mobilesc", "symbols"))[0]
    assert _same_codec(symbols.state_dict(), system.state_dict())
    for name in ("csi", "w32"):
        with pytest.raises(argparse.ArgumentTypeError, match=f"no such file: {name}"):
            file_or_name(SHIPPED_VARIANTS)(name)
        with pytest.raises(CheckpointError, match="no pretrained mobilesc weights ship for scenario 'rayleigh_cifar'"):
            pretrained_checkpoint("rayleigh_cifar", "mobilesc", name)
