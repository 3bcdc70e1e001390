"""Scenario files: every shipped one loads; bad ones fail with errors that name the problem."""

import pytest

from sionna_semcomm.scenario import ScenarioError, list_scenarios, load_scenario


def test_shipped_scenarios_load():
    names = list_scenarios()
    assert {"awgn_bits", "rayleigh_bits", "rayleigh_cifar"} <= set(names)
    for name in names:
        sc = load_scenario(name)
        assert sc.name == name and sc.snr_db and sc.description


def test_rayleigh_cifar_is_the_papers_operating_point():
    sc = load_scenario("rayleigh_cifar")
    assert sc.link.fft_size == 64 and sc.link.cyclic_prefix_length == 16
    assert sc.link.pilot_symbol_indices == (0,) and sc.link.csi == "ls"
    assert sc.link.channel.kind == "rayleigh_multipath" and sc.link.channel.num_taps == 8
    assert sc.images.num_symbols == 384  # 6 data OFDM symbols of 64 subcarriers


def _write(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def test_unknown_scenario_lists_known_ones():
    with pytest.raises(ScenarioError, match=r"unknown scenario 'nope'.*awgn_bits"):
        load_scenario("nope")


def test_missing_file():
    with pytest.raises(ScenarioError, match="does not exist"):
        load_scenario("/nonexistent/x.toml")


@pytest.mark.parametrize(
    "text, match",
    [
        ("seed = 1\nfoo = 2\n", r"unknown key 'foo'; allowed keys: .*seed"),
        ("[link]\nfft = 64\n", r"\[link\]: unknown key 'fft'; allowed keys: .*fft_size"),
        ("[radio]\nx = 1\n", r"unknown section \[radio\]; allowed sections: .*\[link\]"),
        ("[link]\nfft_size = '64'\n", r"key 'fft_size' must be integer, got str"),
        ("[link]\nperturb_pilots = 1\n", r"key 'perturb_pilots' must be boolean"),
        ("seed = true\n", r"key 'seed' must be integer, got bool"),
        ("[channel]\nkind = 'rician'\n", r"unknown channel kind 'rician'; allowed: awgn"),
        ("[link]\ncsi = 'oracle'\n", r"csi must be one of ls, ls_dft, perfect"),
        ("snr_db = [0, nan]\n", r"snr_db must hold finite numbers"),
        ("[bits]\nnum_bits = 0\n", r"num_bits must be >= 1"),
        ("[bits]\nldpc_decoder = 'turbo'\n", r"ldpc_decoder must be one of sionna, fast, got 'turbo'"),
        ("[bits]\nldpc_decoder = 1\n", r"key 'ldpc_decoder' must be string"),
        ("seed = [1\n", r"malformed TOML"),
    ],
)
def test_bad_scenarios_name_the_problem(tmp_path, text, match):
    with pytest.raises(ScenarioError, match=match):
        load_scenario(_write(tmp_path, text))


def test_scenario_from_path_and_defaults(tmp_path):
    sc = load_scenario(_write(tmp_path, "[channel]\nkind = 'awgn'\n"))
    assert sc.name == "s" and sc.link.channel.kind == "awgn" and sc.images is None
