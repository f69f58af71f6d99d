"""The package as a Python user installs it: the wheel built from this tree (setuptools' PEP 517 backend,
offline), installed alone into a fresh venv (its dependencies borrowed from the project's venv: tests have no
network). It carries the license and py.typed, and
`mips-profiles --version` / `python -m mips_profiles --version` print the one version."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mips_profiles import __version__

ROOT = Path(__file__).parents[2]
UV = ROOT / ".venv-uv" / "bin" / "uv"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    src = tmp_path_factory.mktemp("src")  # a copy: the build writes build/ and *.egg-info beside the sources
    shutil.copytree(ROOT / "shared", src / "shared", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    built = subprocess.run(
        [sys.executable, "-c", f"import setuptools.build_meta as b; print(b.build_wheel({str(out)!r}))"],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    return out / built.stdout.strip().splitlines()[-1]


def test_the_wheel_carries_the_license_py_typed_and_the_metadata(wheel):
    assert wheel.name == f"mips_profiles-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read(f"mips_profiles-{__version__}.dist-info/METADATA").decode()
    assert "mips_profiles/py.typed" in names
    assert f"mips_profiles-{__version__}.dist-info/licenses/LICENSE" in names
    assert not [n for n in names if "/sandbox/" in n and n.endswith(".csv")]
    assert "Typing :: Typed" in metadata and "License-Expression: MIT" in metadata
    assert "Provides-Extra: s3" in metadata and "Provides-Extra: lambda" in metadata


def test_installed_in_a_fresh_venv_the_command_prints_its_version(wheel, tmp_path):
    if not UV.exists():
        pytest.fail(f"{UV} is missing (make installs it)")
    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "--quiet", "--python", sys.executable, str(venv)], check=True, timeout=120)
    # the package alone (no network); its dependencies are the ones the project's venv holds, added after the
    # venv's own site-packages, so the wheel's mips_profiles is the one imported (not the editable checkout)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True)
    deps = subprocess.run(
        [sys.executable, "-c", "import pyarrow, os; print(os.path.dirname(os.path.dirname(pyarrow.__file__)))"],
        capture_output=True,
        text=True,
    )
    (Path(site.stdout.decode().strip()) / "project-deps.pth").write_text(deps.stdout.strip() + "\n")
    installed = subprocess.run(
        [str(UV), "pip", "install", "--quiet", "--offline", "--no-deps", "--python", str(python), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    for command in ([str(venv / "bin" / "mips-profiles")], [str(venv / "bin" / "python"), "-m", "mips_profiles"]):
        done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stdout) == (0, f"mips-profiles {__version__}\n")
    where = subprocess.run(
        [str(python), "-c", "import mips_profiles; print(mips_profiles.__file__)"], capture_output=True, text=True
    )
    assert where.stdout.startswith(str(venv)), where.stdout  # the installed wheel, not the checkout


def test_an_s3_location_without_boto3_is_one_line_naming_the_extra(monkeypatch, capsys, tmp_path):
    import importlib.util

    from mips_profiles.cli import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "boto3" else real(name, *a))
    assert main(["report", "--tree", "s3://bucket/tree", "--out", str(tmp_path / "r")]) == 1
    assert capsys.readouterr().err == (
        "error: s3://bucket/tree: S3 needs boto3, which is not installed: pip install 'mips-profiles[s3]'\n"
    )
    assert (
        main(
            ["publish", "--performance-year", "2024", "--source", "x.csv", "--out", "s3://a/t", "--private", "s3://b/p"]
        )
        == 1
    )
    assert "pip install 'mips-profiles[s3]'" in capsys.readouterr().err
