"""zoo installed from its wheel, outside the checkout: it finds its own profiles and classifier weights.

The wheel is built from a copy of the source (the checkout gets no build/ or egg-info) and installed with
``--no-deps`` into a fresh virtual environment in a temporary folder. Its dependencies (torch and the rest) are
taken from the test environment through a ``.pth`` file naming a folder of links to that environment's packages,
genzoo's own and any other ``zoo`` plugin left out: nothing is downloaded, nothing is installed into the test
environment, and the fresh environment sees only the wheel's zoo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from zoo.results import ResultStore

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SOURCES = ("pyproject.toml", "README.md", "zoo", "plugins")


def sh(*args: object, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(map(str, args))}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    source.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy(ROOT / name, source / name)
    sh(BIN / "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", source, cwd=tmp)
    (wheel,) = (tmp / "dist").glob("genzoo-*.whl")
    return wheel


def dependency_links(tmp: Path) -> Path:
    """A folder of links to the test environment's packages, without genzoo and other zoo plugins."""
    site = Path(sysconfig.get_paths()["purelib"])
    plugins = {p.parent.name for p in site.glob("*.dist-info/entry_points.txt") if "[zoo]" in p.read_text()}
    links = tmp / "dependencies"
    links.mkdir()
    for entry in site.iterdir():
        if entry.name in plugins or entry.name.startswith(("genzoo", "__editable__", "zoo")) or entry.suffix == ".pth":
            continue
        (links / entry.name).symlink_to(entry)
    return links


def fresh_environment(tmp: Path, wheel: Path) -> Path:
    env = tmp / "env"
    sh(sys.executable, "-m", "venv", "--without-pip", env, cwd=tmp)
    python = env / "bin" / "python"
    sh(BIN / "pip", "--python", python, "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp)
    purelib = sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp).stdout.strip()
    (Path(purelib) / "test-dependencies.pth").write_text(f"{dependency_links(tmp)}\n")
    return env


@pytest.mark.slow
def test_the_wheel_installed_elsewhere_benches_with_its_own_profiles_and_weights(tmp_path, tiny_mnist_root):
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    shipped = {f"zoo/profiles/{p.name}" for p in (Path(__file__).parents[1] / "zoo" / "profiles").glob("*.toml")}
    assert {f"zoo/profiles/{p}.toml" for p in ("smoke", "cpu", "cpu-sweep", "gpu")} <= shipped <= names
    assert {"zoo/extractors/mnist-test_resnet.safetensors", "zoo/extractors/mnist-test_resnet.json"} <= names
    assert {"zoo/templates/gan/trainer.py.tmpl", "genzoo_plugins/dcgan.py"} <= names

    env = fresh_environment(tmp_path, wheel)
    work = tmp_path / "elsewhere"
    work.mkdir()
    variables = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "ZOO_LOAD_PLUGINS")}
    variables.update(OMP_NUM_THREADS="1", XDG_CACHE_HOME=str(tmp_path / "cache"))
    python, zoo = env / "bin" / "python", env / "bin" / "zoo"

    where = sh(python, "-c", "import zoo, genzoo_plugins; print(zoo.__file__, genzoo_plugins.__file__)", cwd=work,
               env=variables)  # fmt: skip
    assert all(Path(p).is_relative_to(env) for p in where.stdout.split()), where.stdout
    listed = sh(zoo, "profiles", cwd=work, env=variables).stdout
    assert all(f"{env}" in line for line in listed.splitlines()[1:]) and len(listed.splitlines()) == 1 + len(shipped)
    check = (
        "from zoo.bench import load_profile; from zoo.metrics import load_domain_classifier\n"
        "for name in ('cpu', 'gpu', 'smoke'):\n"
        "    profile = load_profile(name)\n"
        "    weights = profile.weights_path(profile.protocols[0], 'mnist')\n"
        "    print(weights, load_domain_classifier(weights)[1].test_accuracy)"
    )
    found = sh(python, "-c", check, cwd=work, env=variables).stdout.split("\n")[:3]
    assert all(Path(line.split()[0]).is_relative_to(env) and float(line.split()[1]) > 0.99 for line in found), found

    results = tmp_path / "results"
    bench = sh(zoo, "bench", "--all", "--profile", "smoke", "--data-root", tiny_mnist_root, "--results", results,
               "--work-dir", tmp_path / "work", cwd=work, env=variables)  # fmt: skip
    rows = ResultStore(results / "smoke").rows()
    finished = rows[(rows["metric"] == "fid") & (rows["step"] == 20)]
    assert set(finished["model"]) == {"vanilla_gan", "dcgan", "wgan_gp", "vae", "cgan", "infogan"}, bench.stdout
    assert finished["value"].notna().all() and set(finished["plugin"]) == {"genzoo"}
