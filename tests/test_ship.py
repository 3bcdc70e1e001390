"""``python -m sionna_semcomm.reproduce.ship``: what a reproduction trained goes into the weights folder and docs."""

import hashlib
import json

import pytest

from sionna_semcomm.reproduce.ship import find_trained, main, merge_docs

SCEN = "rayleigh_mnist"
WEIGHTS = "sionna_semcomm/assets/weights"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _folder(root, kind, name, key, sha, payload: bytes, history: dict, **config):
    d = root / kind / name
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({key: sha, **config}))
    (d / "best.safetensors").write_bytes(payload)
    (d / "history.json").write_text(json.dumps(history))
    return d


def _generator_history(cmd, losses):
    return {"metadata": {"command": cmd, "training_data": {"description": "tiny"}},
            "history": [{"epoch": i + 1, "steps": 10, "seconds": 2.0, "val_loss": v, "val_accuracy": 0.5 + i / 10}
                        for i, v in enumerate(losses)]}


SEMMIXED_HISTORY = {"metadata": {"command": "python -m sionna_semcomm.defense"}, "total_steps": 20,
                    "history": [{"step": 20, "seconds": 5.0, "val_loss": 0.1, "val_accuracy": 0.9}]}


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """A weights folder (default + variant ``cand``) and a run that trained everything against ``cand``."""
    monkeypatch.chdir(tmp_path)
    weights = tmp_path / "weights"
    weights.mkdir()
    old, cand = b"old system", b"candidate system"
    (weights / f"{SCEN}-mobilesc.safetensors").write_bytes(old)
    (weights / f"{SCEN}-mobilesc-cand.safetensors").write_bytes(cand)
    manifest = {f"{SCEN}-mobilesc": {"file": f"{SCEN}-mobilesc.safetensors", "sha256": _sha(old)},
                f"{SCEN}-mobilesc-cand": {"file": f"{SCEN}-mobilesc-cand.safetensors", "sha256": _sha(cand),
                                          "description": "candidate; the attacks have not been redone on it",
                                          "note": "a candidate: promote it after a reproduction run", "steps": 7},
                f"{SCEN}-mobilesc-semmixed": {"file": "x", "sha256": "0", "selection": "lowest validation loss"}}
    (weights / "manifest.json").write_text(json.dumps(manifest))
    cache = tmp_path / "run" / "cache" / SCEN
    variant_path = f"sionna_semcomm/assets/weights/{SCEN}-mobilesc-cand.safetensors"
    cmd = f"python -m sionna_semcomm.attack train --psr-db -6 --checkpoint {tmp_path}/{variant_path} --target-class 2"
    for name in ("semadv-t2-aaaaaaaaaaaa", "semadv-t2-c5-bbbbbbbbbbbb", "pgm-cccccccccccc"):
        _folder(cache, "generators", name, "system", _sha(cand), name.encode(), _generator_history(cmd, [3.0, 1.0, 2.0]))
    _folder(cache, "generators", "semadv-t2-dddddddddddd", "system", _sha(old), b"against the old one",
            _generator_history(cmd, [1.0]))
    _folder(cache, "defenses", "semmixed-eeeeeeeeeeee", "system", _sha(cand), b"semmixed", SEMMIXED_HISTORY,
            generators=[_sha(b"pgm-cccccccccccc"), _sha(b"semadv-t2-aaaaaaaaaaaa")])
    _folder(cache, "systems", "mobilesc-symbols-ffffffffffff", "codec", _sha(cand), b"symbols",
            {"metadata": {"command": "python -m sionna_semcomm.train"}, "selection": "accuracy", "total_steps": 30,
             "history": [{"step": 10, "seconds": 1.0, "val_accuracy": 0.8}, {"step": 20, "seconds": 1.0, "val_accuracy": 0.9},
                         {"step": 30, "seconds": 1.0, "val_accuracy": 0.85}]})
    argv = ["--scenario", SCEN, "--run", str(tmp_path / "run"), "--weights", str(weights), "--promote", "cand",
            "--device-note", "cpu (test)", "--reproduction", "python -m sionna_semcomm.reproduce fig6"]
    return tmp_path, weights, argv, old, cand


def test_ship_promotes_the_variant_and_installs_what_the_run_trained_against_it(setup, capsys):
    tmp_path, weights, argv, old, cand = setup
    before = (weights / "manifest.json").read_text()
    assert main(argv) == 0  # dry run: prints, writes nothing
    assert json.loads(capsys.readouterr().out)[f"{SCEN}-semadv-t2"]["sha256"] == _sha(b"semadv-t2-aaaaaaaaaaaa")
    assert (weights / "manifest.json").read_text() == before

    assert main(argv + ["--write"]) == 0
    manifest = json.loads((weights / "manifest.json").read_text())
    assert f"{SCEN}-mobilesc-cand" not in manifest and not (weights / f"{SCEN}-mobilesc-cand.safetensors").exists()
    default = manifest[f"{SCEN}-mobilesc"]
    assert (weights / default["file"]).read_bytes() == cand and default["sha256"] == _sha(cand)
    assert default["steps"] == 7 and _sha(old)[:8] in default["note"] and "attacks" not in default["description"]
    assert "candidate" not in default["note"]
    for key, payload in [("semadv-t2", b"semadv-t2-aaaaaaaaaaaa"), ("semadv-t2-c5", b"semadv-t2-c5-bbbbbbbbbbbb"),
                         ("pgm", b"pgm-cccccccccccc"), ("mobilesc-semmixed", b"semmixed"), ("mobilesc-symbols", b"symbols")]:
        entry = manifest[f"{SCEN}-{key}"]
        assert (weights / entry["file"]).read_bytes() == payload and entry["sha256"] == _sha(payload)
        assert _sha(cand)[:8] in entry["trained_against"] and entry["device"] == "cpu (test)"
        assert "mobilesc-cand.safetensors (--checkpoint cand)" in entry["note"]
    t2 = manifest[f"{SCEN}-semadv-t2"]
    assert t2["validation"]["loss"] == 1.0 and t2["steps"] == 30 and t2["wall_time_s"] == 6 and t2["psr_db"] == -6.0
    assert str(tmp_path) not in t2["command"] and f"--checkpoint sionna_semcomm/assets/weights/{SCEN}-mobilesc.safetensors" in t2["command"]
    assert manifest[f"{SCEN}-mobilesc-semmixed"]["selection"] == "lowest validation loss"  # kept from the old entry
    assert manifest[f"{SCEN}-mobilesc-semmixed"]["command"].startswith("python -m sionna_semcomm.reproduce fig6 (step: ")
    symbols = manifest[f"{SCEN}-mobilesc-symbols"]
    assert symbols["selected_step"] == 20 and symbols["steps"] == 30 and symbols["validation"] == {"accuracy": 0.9}


def test_find_trained_wants_exactly_one_folder_per_system(setup):
    tmp_path, _, _, old, cand = setup
    cache = tmp_path / "run" / "cache" / SCEN
    assert find_trained(cache, "generators", "semadv-t2", "system", _sha(old)).name == "semadv-t2-dddddddddddd"
    with pytest.raises(SystemExit, match="0 finished 'semadv-t3' folders"):
        find_trained(cache, "generators", "semadv-t3", "system", _sha(cand))
    _folder(cache, "generators", "pgm-999999999999", "system", _sha(cand), b"again", _generator_history("c", [1.0]))
    with pytest.raises(SystemExit, match="2 finished 'pgm' folders"):
        find_trained(cache, "generators", "pgm", "system", _sha(cand))


def test_merge_docs_replaces_only_the_runs_dataset(tmp_path):
    docs, run = tmp_path / "docs", tmp_path / "run"
    docs.mkdir(), run.mkdir()
    (docs / "REPORT.md").write_text("# Report\n\nhand-written head\n\n### Fig. 6: old\n\nold body\n")
    (docs / "fig6.md").write_text("### Fig. 6: attacks\n\n**cifar10** (c)\n\nold cifar\n\n**mnist** (m)\n\nold mnist\n")
    (docs / "fig6.json").write_text(json.dumps({"preset": {"name": "cifar"}, "data": {"cifar10": 1, "mnist": 2},
                                                "figures": ["a/fig6_cifar10.png", "a/fig6_mnist.png"]}))
    (docs / "fig8.md").write_text("### Fig. 8\n\n**cifar10** (c)\n\nfig8 cifar\n")
    (run / "fig6.md").write_text("### Fig. 6: attacks\n\n**mnist** (m)\n\nnew mnist\n")
    (run / "fig6.json").write_text(json.dumps({"preset": {"name": "mnist"}, "data": {"mnist": 3},
                                               "figures": ["run/fig6_mnist.png"]}))
    (run / "fig6_mnist.png").write_bytes(b"png")
    assert merge_docs(run, docs) == ["fig6"]
    md = (docs / "fig6.md").read_text()
    assert "old cifar" in md and "new mnist" in md and "old mnist" not in md and md.index("cifar10") < md.index("mnist")
    js = json.loads((docs / "fig6.json").read_text())
    assert js["data"] == {"cifar10": 1, "mnist": 3} and js["figures"] == ["a/fig6_cifar10.png", "run/fig6_mnist.png"]
    assert js["presets"] == {"cifar10": {"name": "cifar"}, "mnist": {"name": "mnist"}}
    assert (docs / "fig6_mnist.png").read_bytes() == b"png"
    report = (docs / "REPORT.md").read_text()
    assert report.startswith("# Report\n\nhand-written head\n\n### Fig. 6: attacks") and "new mnist" in report
    assert "fig8 cifar" in report and "old body" not in report


def test_ship_keeps_the_shipped_symbol_classifier_the_run_reused(tmp_path, monkeypatch):
    """A variant with the default's codec (e.g. a wider classifier): the reproduction reuses the shipped symbol
    classifier (same codec, tensor for tensor) and trains none, so ship keeps its entry; with another codec it
    wants the run's own."""
    import torch
    from safetensors.torch import save_file

    monkeypatch.chdir(tmp_path)
    weights, cache = tmp_path / "weights", tmp_path / "run" / "cache" / SCEN
    weights.mkdir()
    codec = torch.arange(6.0)
    files = {"mobilesc": {"codec.w": codec, "classifier.w": torch.zeros(2)},
             "mobilesc-cand": {"codec.w": codec.clone(), "classifier.w": torch.ones(4)},
             "mobilesc-symbols": {"codec.w": codec.clone(), "classifier.sym": torch.ones(3)}}
    manifest = {}
    for suffix, state in files.items():
        path = weights / f"{SCEN}-{suffix}.safetensors"
        save_file(state, str(path))
        manifest[f"{SCEN}-{suffix}"] = {"file": path.name, "sha256": _sha(path.read_bytes()), "steps": 3}
    (weights / "manifest.json").write_text(json.dumps(manifest))
    cand = manifest[f"{SCEN}-mobilesc-cand"]["sha256"]
    for name in ("semadv-t2-aaaaaaaaaaaa", "semadv-t2-c5-bbbbbbbbbbbb", "pgm-cccccccccccc"):
        _folder(cache, "generators", name, "system", cand, name.encode(), _generator_history("c", [1.0]))
    _folder(cache, "defenses", "semmixed-eeeeeeeeeeee", "system", cand, b"semmixed",
            {"metadata": {"command": "d"}, "history": [{"step": 2, "seconds": 1.0, "val_loss": 0.1}]},
            generators=[_sha(b"semadv-t2-aaaaaaaaaaaa")])
    argv = ["--scenario", SCEN, "--run", str(tmp_path / "run"), "--weights", str(weights), "--promote", "cand",
            "--device-note", "cpu", "--reproduction", "r", "--write"]
    symbols_file = (weights / f"{SCEN}-mobilesc-symbols.safetensors").read_bytes()
    assert main(argv) == 0
    shipped = json.loads((weights / "manifest.json").read_text())
    kept = shipped[f"{SCEN}-mobilesc-symbols"]
    assert kept["sha256"] == manifest[f"{SCEN}-mobilesc-symbols"]["sha256"] and kept["steps"] == 3
    assert "reused" in kept["note"] and (weights / kept["file"]).read_bytes() == symbols_file
    assert shipped[f"{SCEN}-mobilesc"]["sha256"] == cand

    # another codec: the run must have trained its own symbol classifier, and this run has none
    save_file({"codec.w": -codec, "classifier.sym": torch.ones(3)}, str(weights / f"{SCEN}-mobilesc-symbols.safetensors"))
    other = json.loads((weights / "manifest.json").read_text())
    other[f"{SCEN}-mobilesc-symbols"]["sha256"] = _sha((weights / f"{SCEN}-mobilesc-symbols.safetensors").read_bytes())
    (weights / "manifest.json").write_text(json.dumps(other))
    with pytest.raises(SystemExit, match="0 finished 'mobilesc-symbols' folders"):
        main([a for a in argv if a not in ("--promote", "cand", "--write")])  # the default is now cand's system


def test_ship_picks_one_step_budget_where_the_cache_holds_two(setup, capsys):
    """A cache shared by a 200- and a 1,000-step run: --generator-steps picks the generators, and SemMixed is the
    one trained with the picked SemAdv t2."""
    tmp_path, weights, argv, old, cand = setup
    cache = tmp_path / "run" / "cache" / SCEN
    for folder in (cache / "generators").glob("*"):  # the fixture's generators become the 200-step run's
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps({**config, "argv": ["--max-steps", "200"]}))
    elsewhere = f"python -m sionna_semcomm.attack train --checkpoint /other/checkout/{WEIGHTS}/{SCEN}-mobilesc-cand.safetensors"
    for name in ("semadv-t2-a1000aaaaaaa", "semadv-t2-c5-b1000bbbbbbb", "pgm-c1000ccccccc"):
        _folder(cache, "generators", name, "system", _sha(cand), name.encode(), _generator_history(elsewhere, [1.0]),
                argv=["--target-class", "2", "--max-steps", "1000"])
    _folder(cache, "defenses", "semmixed-e1000eeeeeee", "system", _sha(cand), b"semmixed 1000", SEMMIXED_HISTORY,
            generators=[_sha(b"semadv-t2-a1000aaaaaaa")])
    with pytest.raises(SystemExit, match="2 finished 'semadv-t2' folders.*--generator-steps picks"):
        main(argv)
    with pytest.raises(SystemExit, match="0 finished 'semadv-t2' folders .* with --max-steps 500"):
        main(argv + ["--generator-steps", "500"])
    for steps, suffix, semmixed in ((1000, "1000", b"semmixed 1000"), (200, "", b"semmixed")):
        assert main(argv + ["--generator-steps", str(steps)]) == 0
        out = json.loads(capsys.readouterr().out)
        for key, name in (("semadv-t2", "semadv-t2-a"), ("semadv-t2-c5", "semadv-t2-c5-b"), ("pgm", "pgm-c")):
            payload = (f"{name}1000{name[-1] * 7}" if suffix else f"{name}{name[-1] * 11}").encode()
            assert out[f"{SCEN}-{key}"]["sha256"] == _sha(payload)
        assert out[f"{SCEN}-mobilesc-semmixed"]["sha256"] == _sha(semmixed)
        if suffix:  # the 1,000-step run ran in another checkout: its path goes, the promoted file's name comes
            assert out[f"{SCEN}-pgm"]["command"].endswith(f" --checkpoint {WEIGHTS}/{SCEN}-mobilesc.safetensors")

