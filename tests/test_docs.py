"""CONTRIBUTING.md's own-data walk-through, run as written: its dataset plugin installed as a distribution, its
classifier trained, its profile benched; its extractor without weights installed and benched."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import zoo
from zoo.results import ResultStore

DOC = (Path(__file__).resolve().parents[1] / "CONTRIBUTING.md").read_text()


def code_block(language: str, first_line: str) -> str:
    """The ``language`` block of CONTRIBUTING.md whose first line starts with ``first_line``."""
    blocks = re.findall(rf"```{language}\n(.*?)```", DOC, flags=re.DOTALL)
    (block,) = [b for b in blocks if b.startswith(first_line)]
    return block


def write_sprites(root: Path) -> None:
    """``<root>/sprites/sprites.npz`` as the plugin reads it: four kinds of 16x16 sprites (a bright bar whose
    orientation and place is the kind) on noise."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", 1000), ("test", 500)):
        labels = np.arange(count) % 4
        images = rng.integers(0, 60, (count, 16, 16), dtype=np.uint8)
        for image, label in zip(images, labels, strict=True):
            if label < 2:
                image[4 + 6 * label : 7 + 6 * label, 2:14] = 250
            else:
                image[2:14, 4 + 6 * (label - 2) : 7 + 6 * (label - 2)] = 250
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels.astype(np.uint8)
    (root / "sprites").mkdir(parents=True)
    np.savez(root / "sprites" / "sprites.npz", **arrays)


@pytest.fixture
def sprites_plugin(install_plugin):
    install_plugin("zoo-sprites", {"sprites": "zoo_sprites"}, {"zoo_sprites": code_block("python", '"""zoo_sprites')})
    yield
    sys.modules.pop("zoo_sprites", None)


@pytest.mark.slow
def test_the_dataset_plugin_and_the_profile_of_ones_own_from_contributing(sprites_plugin, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    missing = zoo("datasets")
    assert missing.exit_code == 0 and re.search(r"sprites\s+1x16x16\s+4\s+zoo-sprites", missing.output)
    absent = zoo("extractor", "train", "--dataset", "sprites")
    assert absent.exit_code == 1 and "sprites: no " in absent.stderr and "--data-root" in absent.stderr

    write_sprites(tmp_path / "data")
    (tmp_path / "sprites.toml").write_text(code_block("toml", "# sprites.toml"))
    commands = code_block("bash", "zoo datasets").splitlines()
    for line in commands[1:]:  # zoo extractor train ..., zoo bench ... --profile ./sprites.toml
        result = zoo(*line.split("#")[0].split()[1:])
        assert result.exit_code == 0, f"{line}\n{result.output}"

    rows = ResultStore(tmp_path / "results" / "sprites").rows()
    final = rows[(rows["step"] == 200) & (rows["metric"] == "fid")]
    assert sorted(final["model"]) == ["dcgan", "dcgan", "vae", "vae"] and (final["value"] > 0).all()
    assert set(rows["dataset"]) == {"sprites"} and set(rows["protocol"]) == {"sprites-classifier"}
    floor = rows[(rows["model"] == "real-data") & (rows["metric"].isin(["fid", "is_mean"]))].set_index("metric")
    assert floor.loc["fid", "value"] < final["value"].min() and floor.loc["is_mean", "value"] > 2.5


@pytest.fixture
def projection_plugin(install_plugin):
    module = code_block("python", '"""zoo_projection')
    install_plugin("zoo-projection", {"projection": "zoo_projection"}, {"zoo_projection": module})
    yield
    sys.modules.pop("zoo_projection", None)


def test_the_extractor_without_weights_from_contributing(projection_plugin, tiny_mnist_root, tmp_path):
    protocol = code_block("toml", "# a protocol of mine.toml").replace("= 1000", "= 48")  # the test data are tiny
    settings = "datasets = ['mnist']\nseeds = [0]\nbatch_size = 8\nsteps = 4\ntiny_models = true\n"
    profile = tmp_path / "mine.toml"
    profile.write_text(f"{settings}{protocol}kid_subset_size = 24\nisc_splits = 4\n")
    result = zoo(
        "bench", "vae", profile=profile, results=tmp_path, work_dir=tmp_path / "work", data_root=tiny_mnist_root
    )
    assert result.exit_code == 0, result.output
    store = ResultStore(tmp_path / "mine")
    [record] = store.protocols().values()
    assert record["weights_sha256"] is None and record["extractor_plugin"]["distribution"] == "zoo-projection"
    rows = store.rows()
    assert rows.loc[(rows["model"] == "vae") & (rows["metric"] == "fid"), "value"].gt(0).all()
