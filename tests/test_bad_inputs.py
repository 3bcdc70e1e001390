"""The bad-input battery: every command and the Python API refuse a bad value before any compute, with an
exit status (2: argument error, 1: refused by the command) or an exception whose message names the problem.

Each case runs in milliseconds to a second: nothing here trains, simulates or loads a data set.
"""

import json
import os
import pickle
import re
import struct

import pytest
import torch

from sionna_semcomm import attack, bench, defense, report, train
from sionna_semcomm.link import cli as link
from sionna_semcomm.reproduce import cli as reproduce

BITS = ["--scenario", "awgn_bits", "--systems", "uncoded-qpsk", "--no-progress", "--device", "cpu"]


def _scenario(tmp_path, text: str, name: str = "bad") -> str:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return str(path)


def _paths(tmp_path) -> dict:
    """Placeholders of the argv below: a regular file, a folder, a path under a file."""
    regular = tmp_path / "regular.txt"
    regular.write_text("x")
    return {"{file}": str(regular), "{dir}": str(tmp_path), "{under_file}": str(regular / "x.json"),
            "{missing}": str(tmp_path / "missing.json"), "{fft}": _scenario(tmp_path, "[link]\nfft_size = 50000000\n"),
            "{taps}": _scenario(tmp_path, "[channel]\nnum_taps = 2000000\n", "taps"),
            "{dataset}": _scenario(tmp_path, "systems = ['mobilesc']\n[images]\ndataset = 'imagenet'\n", "dataset")}


#: (command, argv, exit status, what the message must say)
CLI_CASES = [
    # link
    (link, BITS + ["--snr-db", "-1e9"], 2, r"--snr-db: SNR must lie in \[-300, 300\] dB, got -1e9"),
    (link, BITS + ["--snr-db", "nan"], 2, r"--snr-db: SNR must be finite"),
    (link, BITS + ["--snr-db", "ten"], 2, r"--snr-db: not a number: 'ten'"),
    (link, BITS + ["--snr-db", "0", "-5e-1", "-inf"], 2, r"--snr-db: SNR must be finite, got '-inf'"),
    (link, BITS + ["--attack", "jamming", "--psr-db", "1e6"], 2, r"--psr-db: PSR must lie in"),
    (link, BITS + ["--num-bits", "0"], 2, r"--num-bits: must be >= 1, got 0"),
    (link, BITS + ["--num-images", "-3"], 2, r"--num-images: must be >= 1, got -3"),
    (link, BITS + ["--batch-size", "1.5"], 2, r"--batch-size: not an integer: '1.5'"),
    (link, BITS + ["--seed", "-5"], 2, r"--seed: a seed must be an integer in \[0, 2\*\*63 - 1\], got -5"),
    (link, BITS + ["--seed", str(2**63)], 2, r"--seed: a seed must be an integer"),
    (link, ["--systems", "nope"], 2, r"--systems: unknown system 'nope'; known: .*uncoded-qpsk"),
    (link, BITS + ["--attack", "nope"], 2, r"--attack: unknown attack 'nope'; known: .*jamming"),
    (link, BITS + ["--target-class", "-1"], 2, r"--target-class: a class index must be >= 0, got -1"),
    (link, BITS + ["--checkpoint", "{missing}"], 2, r"--checkpoint: no such file: .*missing.json \(nor one of: semmixed, symbols\)"),
    (link, BITS + ["--data-dir", "{missing}"], 2, r"--data-dir: no such folder"),
    (link, BITS + ["--out", "/proc/x.json"], 2, r"--out: /proc/x.json: cannot create files in /proc"),
    (link, BITS + ["--out", "{dir}"], 2, r"--out: .* is a folder; give a file name"),
    (link, BITS + ["--out", "{under_file}"], 2, r"--out: .*regular.txt is a file, not a folder"),
    (link, BITS + ["--plot", "curves.xyz"], 2, r"--plot: curves.xyz: extension .xyz; matplotlib writes .*png"),
    (link, BITS + ["--plot", "curves"], 2, r"--plot: curves: no extension; matplotlib writes"),
    (link, BITS + ["--resume"], 1, r"--resume reuses the finished points of --out FILE: give --out"),
    (link, BITS + ["--psr-db", "-6"], 1, r"error: --psr-db applies to an attack: give --attack NAME"),
    (link, ["--scenario", "nope"], 1, r"unknown scenario 'nope'; known scenarios: .*awgn_bits"),
    (link, BITS + ["--device", "tpu"], 1, r"unknown device 'tpu'"),
    (link, ["--scenario", "rayleigh_cifar", "--systems", "jpeg2000-ldpc-qpsk", "--jpeg2000-mode", "fixed_rate",
            "--jpeg2000-bytes", "100000000", "--no-progress", "--device", "cpu"], 1,
     r"codestream_bytes = 100,000,000 is above the limit of 1,048,576 .*would need about [\d.]+ GiB"),
    (link, ["--scenario", "{fft}", "--systems", "uncoded-qpsk"], 1,
     r"fft_size = 50,000,000 is above the limit of 65,536 .*would need about [\d.]+ GiB"),
    (link, ["--scenario", "{taps}", "--systems", "uncoded-qpsk"], 1,
     r"num_taps = 2,000,000 is above the limit of 4,096 .*would need about [\d.]+ TiB"),
    (link, ["--scenario", "{dataset}"], 1, r"unknown dataset 'imagenet'; known data sets: cifar10, mnist, imagefolder"),
    (link, BITS + ["--num-bits", str(10**15), "--batch-size", str(10**12)], 1,
     r"--batch-size 1,000,000,000,000: a batch of [\d,]+ frames of uncoded-qpsk needs about [\d.]+ PiB of working "
     r"memory, [\d.]+ GiB is available on cpu; use --batch-size [\d,]+ or less"),
    (link, BITS + ["--out", "{file}"], 1, r"--out .*regular.txt: cannot merge into it: .*not a JSON results file"),
    # train
    (train, ["--num-train", "0"], 2, r"--num-train: must be >= 1, got 0"),
    (train, ["--num-train", "-5"], 2, r"--num-train: must be >= 1, got -5"),
    (train, ["--max-steps", "0"], 2, r"--max-steps: must be >= 1, got 0"),
    (train, ["--seed", "-5"], 2, r"--seed: a seed must be an integer"),
    (train, ["--codec", "nope"], 2, r"--codec: unknown codec 'nope'; known: .*mobilesc"),
    (train, ["--out-dir", "/proc/x"], 2, r"--out-dir: /proc/x: cannot create files in /proc"),
    (train, ["--out-dir", "{file}"], 2, r"--out-dir: .*regular.txt is a file, not a folder"),
    (train, ["--epochs", "abc"], 2, r"--epochs: not an integer: 'abc'"),
    (train, ["--lr", "inf"], 2, r"--lr: learning rate must be finite"),
    (train, ["--init-codec", "{missing}"], 2, r"--init-codec: no such file"),
    (train, ["--time-budget", "0"], 2, r"--time-budget: duration must be positive"),
    (train, ["--scenario", "awgn_bits"], 1, r"scenario 'awgn_bits' has no \[images\] section: nothing to train on"),
    # attack
    (attack, ["train", "--attack", "nope", "--psr-db", "-6"], 2, r"--attack: unknown attack 'nope'"),
    (attack, ["train", "--attack", "semadv", "--psr-db", "inf"], 2, r"--psr-db: PSR must be finite"),
    (attack, ["train", "--attack", "semadv", "--psr-db", "-6", "--target-class", "-2"], 2, r"--target-class: a class index"),
    (attack, ["detect", "--attacks", "semadv", "pgm", "--attack-checkpoint", "{file}"], 1,
     r"--attack-checkpoint '.*regular.txt': write NAME=FILE when several generator attacks are listed"),
    (attack, ["detect", "--attacks", "semadv", "--attack-checkpoint", "semadv={missing}"], 1,
     r"--attack-checkpoint 'semadv=.*missing.json': no such file"),
    (attack, ["detect", "--out", "/proc/d.json"], 2, r"--out: /proc/d.json: cannot create files in /proc"),
    (attack, ["plot", "{file}", "--out", "fig.xyz"], 2, r"--out: fig.xyz: extension .xyz"),
    (attack, ["plot", "{missing}", "--out", "fig.png"], 2, r"results: no such file: .*missing.json"),
    # defense
    (defense, ["--clean-fraction", "1.5"], 2, r"--clean-fraction: a fraction must lie in \[0, 1\], got 1.5"),
    (defense, ["--generator-updates", "-1"], 2, r"--generator-updates: must be >= 0, got -1"),
    (defense, ["--generator", "{missing}"], 2, r"--generator: no such file"),
    # reproduce
    (reproduce, ["all", "--jobs", "0"], 2, r"--jobs: must be >= 1, got 0"),
    (reproduce, ["all", "--num-images", "0"], 2, r"--num-images: must be >= 1, got 0"),
    (reproduce, ["fig8", "--matrix-snr-db", "nan"], 2, r"--matrix-snr-db: SNR must be finite"),
    (reproduce, ["all", "--out-dir", "/proc/r"], 2, r"--out-dir: /proc/r: cannot create files in /proc"),
    (reproduce, ["all", "--imagenet-dir", "{missing}"], 2, r"--imagenet-dir: no such folder"),
    (reproduce, ["fig10"], 2, r"invalid choice: 'fig10'"),
    (reproduce, ["fig6", "--system", "svhn=logmse"], 2, r"--system: 'svhn=logmse': expected DATASET=CKPT with DATASET one of cifar10"),
    (reproduce, ["fig6", "--system", "cifar10={missing}"], 2, r"--system: no such file: .*missing.json \(nor one of: semmixed"),
    # report
    (report, ["table4", "{missing}"], 2, r"files: no such file"),
    (report, ["table4", "{file}", "--snr-db", "inf"], 2, r"--snr-db: SNR must be finite"),
    (report, ["plot", "{file}", "--out", "fig.xyz"], 2, r"--out: fig.xyz: extension .xyz"),
    (report, ["plot", "{file}", "--out", "fig.png", "--metrics", "nope"], 2, r"--metrics: unknown metric 'nope'; known: .*ber"),
    (report, ["table3", "--image-shape", "3", "0", "32"], 2, r"--image-shape: must be >= 1, got 0"),
    # bench
    (bench, ["--warmup", "-1"], 2, r"--warmup: must be >= 0, got -1"),
    (bench, ["--batch-sizes", "0"], 2, r"--batch-sizes: must be >= 1, got 0"),
    (bench, ["--out", "/proc/b.json"], 2, r"--out: /proc/b.json: cannot create files in /proc"),
]


@pytest.mark.parametrize("command, argv, status, message", CLI_CASES,
                         ids=[f"{c.__name__.split('.')[-1]}:{' '.join(a[-3:])}" for c, a, _, _ in CLI_CASES])
def test_a_command_refuses_a_bad_input_with_a_message_naming_it(command, argv, status, message, tmp_path, capsys,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    paths = _paths(tmp_path)
    for key, value in paths.items():
        argv = [a.replace(key, value) for a in argv]
    with pytest.raises(SystemExit) as e:
        command.main(argv)
    code = e.value.code
    text = (code if isinstance(code, str) else "") + capsys.readouterr().err
    assert (1 if isinstance(code, str) else code) == status, text
    assert re.search(message, text), text


def test_the_battery_is_large_and_distinct():
    cases = [(c.__name__, tuple(a)) for c, a, _, _ in CLI_CASES]
    assert len(set(cases)) == len(cases) >= 60


# ------------------------------------------------------------------------------------------ the Python API
def _link():
    from sionna_semcomm.link.config import LinkConfig
    from sionna_semcomm.link.ofdm import OFDMLink

    return OFDMLink(64, LinkConfig(), seed=0)


def _x(batch=2):
    return torch.randn(batch, 64, dtype=torch.complex64)


def _with_nan(t):
    t = t.clone()
    t.reshape(-1)[0] = complex(float("nan"), 0.0)
    return t


def _api_cases():
    from sionna_semcomm.attacks.psr import check_psr_db
    from sionna_semcomm.link.channels import ChannelSpec
    from sionna_semcomm.link.config import LinkConfig
    from sionna_semcomm.link.ofdm import OFDMLink

    from baselines.conventional import JPEG2000Config

    link = _link()
    p_inf = torch.zeros(2, link.num_time_samples, dtype=torch.complex64)
    p_inf[1, 3] = complex(float("inf"), 0.0)
    return [
        ("NaN payload", lambda: link(_with_nan(_x()), 10.0), ValueError, r"x contains NaN or infinite values"),
        ("Inf perturbation", lambda: link(_x(), 10.0, perturbation=p_inf), ValueError,
         r"perturbation contains NaN or infinite values"),
        ("real perturbation", lambda: link(_x(), 10.0, perturbation=torch.zeros(link.num_time_samples)), TypeError,
         r"perturbation must be a complex tensor"),
        ("empty batch", lambda: link(_x(0), 10.0), ValueError, r"x is an empty batch \(shape \(0, 64\)\)"),
        ("string SNR", lambda: link(_x(), "10"), TypeError, r"snr_db must be a number or a real tensor .* got str '10'"),
        ("NaN SNR", lambda: link(_x(), float("nan")), ValueError, r"snr_db must be finite"),
        ("huge SNR", lambda: link(_x(), 1e4), ValueError, r"snr_db must lie in \[-300, 300\] dB, got 10000"),
        ("SNR tensor out of range", lambda: link(_x(), torch.tensor([10.0, -1e3])), ValueError, r"snr_db must lie in"),
        ("SNR per example, wrong count", lambda: link(_x(), torch.tensor([1.0, 2.0, 3.0])), ValueError,
         r"snr_db must have 1 or 2 values"),
        ("complex SNR", lambda: link(_x(), torch.tensor([1j])), TypeError, r"snr_db must be a number or a real tensor"),
        ("huge PSR", lambda: check_psr_db(1e9), ValueError, r"psr_db must lie in \[-300, 300\] dB"),
        ("FFT size", lambda: LinkConfig(fft_size=50_000_000), ValueError,
         r"fft_size = 50,000,000 is above the limit of 65,536 .* would need about [\d.]+ GiB"),
        ("taps", lambda: ChannelSpec(num_taps=2_000_000), ValueError, r"num_taps = 2,000,000 is above the limit of 4,096"),
        ("frame", lambda: OFDMLink(10**9, LinkConfig()), ValueError,
         r"a frame of 1,000,000,000 symbols .*frame_samples = .* is above the limit"),
        ("codestream bytes", lambda: JPEG2000Config(codestream_bytes=10**8), ValueError,
         r"\[jpeg2000\] codestream_bytes = 100,000,000 is above the limit of 1,048,576"),
    ]


@pytest.mark.parametrize("index", range(15))
def test_the_python_api_refuses_a_bad_input_with_a_clear_error(index):
    name, call, error, message = _api_cases()[index]
    with pytest.raises(error, match=message):
        call()


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


def test_a_malicious_resume_state_is_refused_without_advice_to_load_it_unsafely(tmp_path):
    from sionna_semcomm.checkpoints import CheckpointError, load_resume_state

    _Evil.marker = tmp_path / "pwned"
    path = tmp_path / "resume.pt"
    path.write_bytes(pickle.dumps(_Evil()))
    with pytest.raises(CheckpointError) as e:
        load_resume_state(path)
    assert str(path) in str(e.value) and "was refused" in str(e.value) and "nothing in it was executed" in str(e.value)
    assert "weights_only" not in str(e.value) and not _Evil.marker.exists()


@pytest.mark.parametrize("case", ["missing", "truncated", "not a dict"])
def test_an_unusable_resume_state_is_named_with_the_reason(tmp_path, case):
    from sionna_semcomm.checkpoints import CheckpointError, load_resume_state

    path = tmp_path / "resume.pt"
    if case == "truncated":
        torch.save({"epoch": 1, "w": torch.zeros(100)}, path)
        path.write_bytes(path.read_bytes()[:200])
    elif case == "not a dict":
        torch.save([1, 2], path)
    expected = {"missing": "does not exist", "truncated": "is truncated or corrupted", "not a dict": "holds a list"}[case]
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*" + expected):
        load_resume_state(path)


@pytest.mark.parametrize("meta, message", [("{not json", "metadata is not valid JSON"),
                                           ('"a string"', "metadata must be a JSON object"),
                                           ('{"model": 3}', "its model config must be an object"),
                                           ('{"model": {"image_shape": 5}}', "its model config .* is malformed")])
def test_malformed_checkpoint_metadata_names_the_file(tmp_path, meta, message):
    from safetensors.torch import save_file

    from sionna_semcomm.checkpoints import CheckpointError
    from sionna_semcomm.semantic import load_system

    path = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(1)}, str(path), metadata={"sionna_semcomm": meta})
    with pytest.raises(CheckpointError, match=re.escape(str(path)) + ".*" + message):
        load_system(path)


def test_an_idx_header_whose_sizes_overflow_names_the_file(tmp_path):
    from sionna_semcomm.data import DatasetError, read_idx

    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(struct.pack(">HBB3I", 0, 8, 3, 2**32 - 1, 2**32 - 1, 2**31) + b"\0" * 64)
    with pytest.raises(DatasetError, match=re.escape(str(path)) + " is truncated: header says shape"):
        read_idx(path)


def test_results_of_a_refused_command_are_untouched(tmp_path):
    """A bad --plot is refused before the sweep: the results file of an earlier run stays as it was."""
    out = tmp_path / "r.json"
    out.write_text(json.dumps({"runs": []}))
    with pytest.raises(SystemExit):
        link.main(BITS + ["--out", str(out), "--plot", str(tmp_path / "x.xyz")])
    assert json.loads(out.read_text()) == {"runs": []}
