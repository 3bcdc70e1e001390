"""The wheel ships every package, the scenarios and the assets, so a non-editable install works."""

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _source_packages():
    found = set()
    for top in ("sionna_semcomm", "baselines"):
        for init in (ROOT / top).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found.add(".".join(init.parent.relative_to(ROOT).parts))
    return found


def test_pyproject_lists_every_package():
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    assert listed - {"sionna_semcomm._scenarios"} == _source_packages()
    assert cfg["package-dir"]["sionna_semcomm._scenarios"] == "scenarios"


@pytest.mark.skipif(not (ROOT / "pyproject.toml").exists(), reason="needs the source tree")
def test_wheel_contains_scenarios_and_assets(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, cwd=tmp_path,
    )
    wheel = next(tmp_path.glob("sionna_semcomm-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for scenario in (ROOT / "scenarios").glob("*.toml"):
        assert f"sionna_semcomm/_scenarios/{scenario.name}" in names
    for asset in (ROOT / "sionna_semcomm" / "assets").glob("*"):
        if asset.suffix in (".npz", ".safetensors", ".json"):
            assert f"sionna_semcomm/assets/{asset.name}" in names
    assert "sionna_semcomm/link/cli.py" in names and "baselines/__init__.py" in names
