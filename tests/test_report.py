"""Tables and plots from results files."""

import pytest

from sionna_semcomm.report import main
from sionna_semcomm.results import make_run, write_runs


def _runs(tmp_path):
    runs = [
        make_run(scenario="s", system="mobilesc", seed=0, config={},
                 results={"snr_db": [5.0, 10.0], "psnr": [22.0, 25.13], "ssim": [0.7, 0.85], "ofdm_symbols_per_image": 7}),
        make_run(scenario="s", system="jpeg2000-ldpc-qpsk", seed=0, config={}, conventional=True,
                 results={"snr_db": [10.0], "psnr": [18.31], "ssim": [0.71], "ofdm_symbols_per_image": 39}),
    ]
    path = tmp_path / "r.json"
    write_runs(path, runs)
    return path


def test_table4_layout(tmp_path):
    text = main(["table4", str(_runs(tmp_path)), "--snr-db", "10"])
    assert "| mobilesc | 7 | 25.13 | 0.85 |" in text and "| jpeg2000-ldpc-qpsk | 39 | 18.31 | 0.71 |" in text


def test_table4_without_the_snr_point_is_an_error(tmp_path):
    with pytest.raises(SystemExit, match="no image run has a point at 3 dB"):
        main(["table4", str(_runs(tmp_path)), "--snr-db", "3"])


def test_plot_overlays_files(tmp_path):
    out = tmp_path / "fig.png"
    main(["plot", str(_runs(tmp_path)), "--out", str(out), "--metrics", "psnr", "ssim"])
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_not_a_results_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(SystemExit, match="expected an object with a 'runs' list"):
        main(["plot", str(bad), "--out", str(tmp_path / "x.png")])


def test_table3_lists_every_codec_beside_the_paper(monkeypatch):
    import sionna_semcomm.models as models

    original = models.table3
    monkeypatch.setattr(models, "table3", lambda *a, **k: original(*a, **{**k, "batch_size": 2, "repeats": 1, "num_images": 10}))
    text = main(["table3"])
    for name in ("mobilesc", "mobilenetv2", "deepjscc"):
        assert f"| {name} encoder |" in text and f"| {name} decoder |" in text
    assert "805,464" in text  # the paper's MobileSC encoder count
