"""The docs' commands, run as written: README's main job in an empty folder with no data, and its image-folder
example on 300 face crops; CONTRIBUTING.md's own-data walk-through (its dataset plugin installed as a distribution,
its classifier trained, its profile benched; its extractor without weights installed and benched)."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import write_face_folder, zoo
from zoo.bench.profiles import load_profile
from zoo.results import ResultStore

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "CONTRIBUTING.md").read_text()
README = (ROOT / "README.md").read_text()


def readme_command(start: str) -> list[str]:
    """The arguments after ``zoo`` of the one command line of README.md's bash blocks that starts with ``start``
    (``.venv/bin/`` before ``zoo`` is allowed), as the shell splits it (``~`` is left to zoo, as the shell would
    leave it inside ``folder:~/...``)."""
    lines = [line for block in re.findall(r"```bash\n(.*?)```", README, flags=re.DOTALL) for line in block.splitlines()]
    (line,) = [line for line in lines if line.removeprefix(".venv/bin/").startswith(start)]
    return shlex.split(line.split(" #")[0])[1:]


@pytest.fixture
def fresh_machine(tmp_path, monkeypatch) -> Path:
    """An empty working folder under an empty home: no data root, no extractor folder, no zoo cache anywhere."""
    for variable in ("ZOO_DATA_ROOT", "XDG_CACHE_HOME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    return tmp_path


@pytest.mark.slow
def test_the_readmes_main_job_runs_in_an_empty_folder_with_no_data(fresh_machine, registry):
    result = zoo(*readme_command("zoo bench --all --profile smoke"))
    assert result.exit_code == 0, result.output
    folder = fresh_machine / "work" / "results" / "smoke"
    rows = ResultStore(folder).rows()
    finished = rows[(rows["metric"] == "fid") & (rows["step"] == 20)]
    assert set(finished["model"]) == set(registry.models)  # whatever else is installed is benched too
    assert finished["value"].notna().all() and set(rows["dataset"]) == {"shapes"}
    assert set(rows["protocol"]) == {"classifier-smoke"}
    assert "## shapes — protocol `classifier-smoke`" in (folder / "leaderboard.md").read_text()
    assert {p.name for p in (folder / "plots" / "shapes").iterdir()} == {
        "classifier-smoke-fid.png",
        "classifier-smoke-final.png",
        "sample-grids.png",
    }
    assert (folder / "leaderboard.html").exists()
    assert not (fresh_machine / "home" / ".cache" / "zoo" / "datasets").exists(), "nothing was read or downloaded"
    recorded = (folder / "invocations.json").read_text()
    assert load_profile("smoke").description in recorded


@pytest.mark.slow
def test_the_readmes_folder_example_benches_300_face_crops_as_written(fresh_machine):
    write_face_folder(fresh_machine / "home" / "data" / "img_align_celeba", 300)
    args = readme_command("zoo bench dcgan vae --dataset folder:~/data/img_align_celeba")
    result = zoo(*args)
    assert result.exit_code == 0, result.output
    assert "is replaced by 'classifier-smoke-inception-n16', the offline Inception network on at most 16" in (
        result.output
    )
    rows = ResultStore(fresh_machine / "work" / "results" / "smoke").rows()
    (dataset,) = set(rows["dataset"])
    assert dataset.startswith("folder-img_align_celeba-64-") and set(rows["protocol"]) == {
        "classifier-smoke-inception-n16"
    }
    final = rows[(rows["metric"] == "fid") & (rows["step"] == 20)]
    assert sorted(final["model"]) == ["dcgan", "vae"] and final["value"].notna().all()


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
