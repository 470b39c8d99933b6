"""Your own images, no code: ``--dataset folder:PATH`` in train, bench and extractor train, scored without labels
by the offline Inception network and with labels by a classifier ``zoo extractor train`` made."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from tests.helpers import write_face_folder, write_image_folder, zoo
from zoo.results import ResultStore

FOLDER = dict(size=32, test_fraction=0.34)


def write_profile(path: Path, extra: str = "") -> Path:
    """A profile of the user's own: tiny models, 3 steps, and the domain-classifier protocol by name."""
    path.write_text(
        textwrap.dedent("""
        datasets = ["mnist"]
        seeds = [0]
        batch_size = 8
        steps = 3
        tiny_models = true
        """)
        + textwrap.dedent(extra)
        + textwrap.dedent("""
        [[protocols]]
        name = "classifier"
        extractor = "zoo-domain-classifier"
        weights = "{dataset}-test_resnet"
        num_generated = 16
        num_reference = 8
        kid_subset_size = 8
        kid_subsets = 2
        isc_splits = 2
        """)
    )
    return path


@pytest.fixture
def extractors(tmp_path, monkeypatch) -> Path:
    """The user's extractor folder, where `zoo extractor train` saves and profiles look a name up."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "zoo" / "extractors"


def bench(tmp_path: Path, profile: Path, dataset: str, *models: str, **options: object):
    return zoo(
        "bench", *models, profile=profile, dataset=dataset, results=tmp_path / "results", work_dir=tmp_path / "work",
        data_root=tmp_path / "data", **{**FOLDER, **options},
    )  # fmt: skip


@pytest.mark.slow
def test_an_unlabelled_rgb_folder_is_benched_with_the_offline_inception_network(tmp_path, extractors):
    faces = write_image_folder(tmp_path / "faces", 24)
    result = bench(tmp_path, write_profile(tmp_path / "mine.toml"), f"folder:{faces}", "dcgan", "cgan")
    assert result.exit_code == 0, result.output
    assert "has no class labels: protocol 'classifier' (zoo-domain-classifier" in result.output
    assert "replaced by 'classifier-inception', the offline Inception network" in result.output
    store = ResultStore(tmp_path / "results" / "mine")
    rows = store.rows()
    (dataset,) = set(rows["dataset"])
    assert dataset.startswith("folder-faces-32-")
    assert set(rows["protocol"]) == {"classifier-inception"}
    assert {p["extractor"] for p in store.protocols().values()} == {"inception-v3-compat-fid-helper"}
    final = rows[rows["step"] == 3].set_index("metric")
    assert set(final["model"]) == {"dcgan"}  # the conditional cgan has no labels to condition on
    assert final.loc["fid", "value"] > 0 and final.loc["is_mean", "status"] == "unavailable"
    assert "no classifier layer" in final.loc["is_mean", "reason"]


@pytest.mark.slow
def test_a_labelled_folder_is_scored_by_the_classifier_extractor_train_made(tmp_path, extractors):
    pets = write_image_folder(tmp_path / "pets", 16, classes=3)
    profile = write_profile(tmp_path / "mine.toml")
    missing = bench(tmp_path, profile, f"folder:{pets}", "dcgan")
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    way_out = f"zoo extractor train --dataset folder:{pets} --size 32 --test-fraction 0.34 --arch test_resnet"
    assert "not found" in missing.stderr and way_out in missing.stderr

    trained = zoo("extractor", "train", f"--dataset=folder:{pets}", "--arch=test_resnet", steps=10, batch_size=8,
                  min_accuracy=0, data_root=tmp_path / "data", **FOLDER)  # fmt: skip
    assert trained.exit_code == 0, trained.output
    (weights,) = extractors.glob("folder-pets-32-*-test_resnet.safetensors")
    assert json.loads(weights.with_suffix(".json").read_text())["image_shape"] == [3, 32, 32]

    result = bench(tmp_path, profile, f"folder:{pets}", "dcgan", "cgan")
    assert result.exit_code == 0, result.output
    rows = ResultStore(tmp_path / "results" / "mine").rows()
    final = rows[rows["step"] == 3].set_index(["model", "metric"])
    assert set(rows["protocol"]) == {"classifier"}
    for model in ("dcgan", "cgan"):  # the conditional model trains on the folder's labels
        assert final.loc[(model, "fid"), "value"] > 0 and final.loc[(model, "is_mean"), "value"] > 0


def test_train_on_a_folder_at_64_pixels_and_sample_the_run(tmp_path):
    faces = write_image_folder(tmp_path / "faces", 12, size=(80, 70))
    run = tmp_path / "run"
    result = zoo("train", "dcgan", dataset=f"folder:{faces}", size=64, steps=2, batch_size=4,
                 hparam="width=4", data_root=tmp_path / "data", out=run)  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((run / "config.json").read_text())
    assert (config["image_shape"], config["num_classes"]) == ([3, 64, 64], 0)
    assert config["dataset"].startswith("folder-faces-64-")
    assert zoo("sample", run, "-n", 4, output=tmp_path / "grid.png").exit_code == 0
    conditional = zoo("train", "cgan", dataset=f"folder:{faces}", size=64, data_root=tmp_path / "data")
    assert conditional.exit_code == 1 and "needs a dataset with class labels" in conditional.stderr


def test_unreadable_files_stop_naming_the_flag_or_are_skipped_with_a_note(tmp_path):
    faces = write_image_folder(tmp_path / "faces", 9)
    (faces / "broken.png").write_bytes(b"not a png")
    options = dict(dataset=f"folder:{faces}", size=32, steps=1, batch_size=4, data_root=tmp_path / "data")
    stopped = zoo("train", "vae", out=tmp_path / "a", **options)
    assert stopped.exit_code == 1 and "Traceback" not in stopped.output
    assert "broken.png: unreadable image" in stopped.stderr and "--on-error skip" in stopped.stderr
    skipped = zoo("train", "vae", "--on-error", "skip", out=tmp_path / "b", **options)
    assert skipped.exit_code == 0, skipped.output
    (note,) = [line for line in skipped.stderr.splitlines() if "skipped 1 unreadable" in line]
    assert note.startswith("warning: ") and "broken.png" in note


def test_a_profile_can_refuse_the_label_free_fallback(tmp_path):
    faces = write_image_folder(tmp_path / "faces", 24)
    profile = write_profile(tmp_path / "strict.toml", "label_free_fallback = false\n")
    result = bench(tmp_path, profile, f"folder:{faces}", "vae")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "has no class labels" in result.stderr and "label_free_fallback = false" in result.stderr


def test_extractor_train_on_an_unlabelled_folder_says_why_not(tmp_path):
    faces = write_image_folder(tmp_path / "faces", 6)
    result = zoo("extractor", "train", dataset=f"folder:{faces}", data_root=tmp_path / "data", out=tmp_path / "x")
    assert result.exit_code == 1 and "has no classes" in result.stderr and "offline Inception" in result.stderr


@pytest.mark.slow
def test_the_smoke_profile_on_rgb_folders_at_64_pixels(tmp_path, extractors):
    """The issue's commands as a user types them, on folders whose test splits hold the smoke profile's 64
    reference images (a flat one is scored on 16, its label-free fallback's count)."""
    options = dict(size=64, data_root=tmp_path / "data")
    benched = {"results": tmp_path / "results", "work_dir": tmp_path / "work", "profile": "smoke", **options}
    faces = write_image_folder(tmp_path / "faces", 660, size=(80, 72))
    unlabelled = zoo("bench", "dcgan", "vae", dataset=f"folder:{faces}", **benched)
    assert unlabelled.exit_code == 0, unlabelled.output
    assert "replaced by 'classifier-smoke-inception-n16'" in unlabelled.output

    pets = write_image_folder(tmp_path / "pets", 220, classes=3, size=(80, 72))
    trained = zoo("extractor", "train", dataset=f"folder:{pets}", steps=60, batch_size=32, **options)
    assert trained.exit_code == 0, trained.output
    labelled = zoo("bench", "dcgan", "vae", "cgan", dataset=f"folder:{pets}", **benched)
    assert labelled.exit_code == 0, labelled.output

    rows = ResultStore(tmp_path / "results" / "smoke").rows()
    final = rows[(rows["step"] == 20) & (rows["metric"] == "fid")]
    by_dataset = final.groupby("dataset")["model"].agg(set).to_dict()
    assert sorted(map(sorted, by_dataset.values())) == [["cgan", "dcgan", "vae"], ["dcgan", "vae"]]
    assert final["value"].notna().all()
    assert set(rows["protocol"]) == {"classifier-smoke", "classifier-smoke-inception-n16"}


@pytest.mark.slow
def test_a_folder_in_celebas_layout_is_benched_by_the_smoke_profile_within_its_official_split(tmp_path, extractors):
    """torchvision's CelebA layout, face-like crops of 178x218 pixels, the official split in its partition file;
    its test split of 10 images is smaller than the fallback's 16, so the protocol is capped further, and says so."""
    base = tmp_path / "celeba-root" / "celeba"
    write_face_folder(base / "img_align_celeba", 300)
    split = [0] * 250 + [1] * 40 + [2] * 10
    (base / "list_eval_partition.txt").write_text("".join(f"{i + 1:06d}.jpg {s}\n" for i, s in enumerate(split)))
    result = zoo("bench", "vae", profile="smoke", dataset=f"folder:{base.parent}", results=tmp_path / "results",
                 work_dir=tmp_path / "work", data_root=tmp_path / "data", size=32)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "as 'classifier-smoke-inception-n16-ref10': this profile caps its sample counts" in result.output
    store = ResultStore(tmp_path / "results" / "smoke")
    (protocol,) = store.protocols().values()
    assert (protocol["name"], protocol["num_generated"], protocol["num_reference"]) == (
        "classifier-smoke-inception-n16-ref10", 16, 10
    )  # fmt: skip
    rows = store.rows()
    assert set(rows["model"]) == {"real-data", "vae"} and rows.loc[rows["metric"] == "fid", "value"].notna().all()
    assert (
        "protocol `classifier-smoke-inception-n16-ref10`"
        in (tmp_path / "results" / "smoke" / "leaderboard.md").read_text()
    )


def test_datasets_takes_the_data_root_it_advertises(tmp_path):
    result = zoo("datasets", data_root=tmp_path / "elsewhere")
    assert result.exit_code == 0 and f"data root: {tmp_path / 'elsewhere'} (set with --data-root" in result.output
    assert "--dataset folder:PATH --size N" in result.output
