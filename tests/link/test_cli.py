"""``python -m sionna_semcomm.link`` end to end through ``main([...])`` on tiny runs."""

import json

import pytest

from sionna_semcomm.link.cli import main


def test_list(capsys):
    assert main(["--list"]) == []
    out = capsys.readouterr().out
    assert "awgn_bits" in out and "uncoded-qpsk" in out and "ldpc-64qam" in out


def test_tiny_run_writes_results_json_and_plot(tmp_path, capsys):
    out, plot = tmp_path / "r.json", tmp_path / "r.png"
    runs = main(["--scenario", "awgn_bits", "--systems", "uncoded-qpsk", "ldpc-qpsk", "--snr-db", "0", "4",
                 "--num-bits", "3000", "--seed", "5", "--out", str(out), "--plot", str(plot), "--no-progress",
                 "--device", "cpu"])
    data = json.loads(out.read_text())
    assert data["runs"] == json.loads(json.dumps(runs))
    assert [r["system"] for r in data["runs"]] == ["uncoded-qpsk", "ldpc-qpsk"]
    for run in data["runs"]:
        assert {"name", "scenario", "system", "seed", "versions", "config", "results"} <= set(run)
        assert run["seed"] == 5 and run["complete"] is True and run["scenario"] == "awgn_bits"
        res = run["results"]
        assert res["snr_db"] == [0.0, 4.0] and len(res["ber"]) == len(res["bler"]) == 2
        assert res["ofdm_symbols_per_frame"] == 14 and res["channel_uses_per_frame"] == 14 * 80
    assert data["runs"][0]["results"]["ber_theory"][0] == pytest.approx(0.1587, abs=1e-3)
    assert "ber_theory" not in data["runs"][1]["results"]  # no closed form for coded links: left out
    assert plot.stat().st_size > 0
    table = capsys.readouterr().out
    assert "uncoded-qpsk" in table and "ber_theory" in table


def test_same_seed_reproduces_bit_for_bit(tmp_path):
    args = ["--scenario", "rayleigh_bits", "--systems", "uncoded-16qam", "--snr-db", "10", "--num-bits", "4000",
            "--no-progress", "--device", "cpu"]
    a = main(args + ["--seed", "1"])[0]["results"]
    b = main(args + ["--seed", "1"])[0]["results"]
    c = main(args + ["--seed", "2"])[0]["results"]
    assert a["ber"] == b["ber"] and a["ber"] != c["ber"]


def test_resume_reuses_finished_points(tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    base = ["--scenario", "awgn_bits", "--systems", "uncoded-bpsk", "--num-bits", "2000", "--no-progress",
            "--device", "cpu", "--out", str(out)]
    first = main(base + ["--snr-db", "1"])[0]["results"]
    from sionna_semcomm import systems

    calls = []
    original = systems.BitSystemRunner.evaluate
    monkeypatch.setattr(systems.BitSystemRunner, "evaluate",
                        lambda self, snr, progress=None, **kw: calls.append(snr) or original(self, snr, progress, **kw))
    main(base + ["--snr-db", "1", "3", "--resume"])
    assert calls == [3.0]  # the point at 1 dB is reused
    calls.clear()
    again = main(base + ["--snr-db", "1", "3", "--resume"])[0]["results"]
    assert calls == [] and again["ber"][0] == first["ber"][0]
    main(base + ["--snr-db", "1", "--seed", "9", "--resume"])
    assert calls == [1.0]  # another seed is another run: nothing reused


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--scenario", "nope"], "unknown scenario 'nope'"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_bad_arguments_exit_with_a_clear_message(argv, match):
    with pytest.raises(SystemExit, match=match):
        main(argv + ["--no-progress"])


def test_ldpc_decoder_option_reaches_the_bit_links(tmp_path):
    base = ["--scenario", "awgn_bits", "--systems", "ldpc-qpsk", "--snr-db", "3", "--num-bits", "3000", "--no-progress"]
    runs = {d: main(base + ["--ldpc-decoder", d])[0] for d in ("sionna", "fast")}
    assert runs["sionna"]["config"]["system"]["ldpc_decoder"] == "sionna"
    assert runs["fast"]["config"]["system"]["ldpc_decoder"] == "fast"
    assert runs["sionna"]["results"]["ldpc_iterations"] == [20.0]
    assert 1 <= runs["fast"]["results"]["ldpc_iterations"][0] < 20  # 3 dB: far above the waterfall
    assert runs["sionna"]["results"]["ber"] == runs["fast"]["results"]["ber"] == [0.0]
    assert main(base)[0]["config"]["system"]["ldpc_decoder"] == "fast"  # the scenario's default
    with pytest.raises(SystemExit):
        main(base + ["--ldpc-decoder", "turbo"])


def test_non_finite_snr_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--snr-db", "nan"])
    assert "SNR must be finite" in capsys.readouterr().err


def test_jpeg2000_implicit_header_option_reaches_the_conventional_config():
    from types import SimpleNamespace

    from baselines.conventional import _jpeg2000_config
    from sionna_semcomm.scenario import load_scenario

    scenario = load_scenario("rayleigh_cifar")
    assert scenario.extras["jpeg2000"]["implicit_header"] is False
    from sionna_semcomm.link.cli import setup_args

    args = setup_args().parse_args(["--jpeg2000-implicit-header"])
    on = SimpleNamespace(extra={"jpeg2000_implicit_header": args.jpeg2000_implicit_header})
    assert _jpeg2000_config(scenario, on).settings.implicit_header is True
    assert _jpeg2000_config(scenario, SimpleNamespace(extra={})).settings.implicit_header is False
