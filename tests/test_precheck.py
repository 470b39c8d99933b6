"""A bench checks what its cells need once, before any training or worker: one error, each problem once, with its
fix; and a profile that caps its sample counts (the smoke profile) fits any dataset, under a name that says so."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest
import torch

from tests.helpers import write_image_folder, zoo
from zoo.bench.precheck import check_needs
from zoo.bench.profiles import capped, load_profile
from zoo.bench.weights import BUILTIN_EXTRACTOR_DIR
from zoo.data.folder import folder_dataset_spec
from zoo.data.sources import FolderOptions, with_datasets
from zoo.errors import ZooError
from zoo.interfaces import DatasetSpec
from zoo.metrics import DOMAIN_CLASSIFIER, INCEPTION_FID_HELPER
from zoo.plugins import PluginInfo, load_registry


def write_profile(
    path: Path, *, generated: int = 16, reference: int = 8, datasets: str = '["mnist"]', extra: str = ""
) -> Path:
    """A profile of the user's own (not capped): tiny models, 3 steps, the domain-classifier protocol by name."""
    path.write_text(
        textwrap.dedent(f"""
        datasets = {datasets}
        seeds = [0, 1]
        batch_size = 4
        steps = 3
        tiny_models = true
        {extra}
        [[protocols]]
        name = "classifier"
        extractor = "zoo-domain-classifier"
        weights = "{{dataset}}-test_resnet"
        num_generated = {generated}
        num_reference = {reference}
        kid_subset_size = 2
        kid_subsets = 2
        isc_splits = 2
        """)
    )
    return path


def needs_met(tmp_path: Path, profile: Path, dataset: str, **folder: object) -> bool:
    """Whether :func:`check_needs` passes ``profile`` on ``dataset`` (as ``bench`` runs it), without running it."""
    options = FolderOptions(folder.get("size", 64), folder.get("test_fraction", 0.1))
    registry, names = with_datasets(load_registry(), [dataset], options, data_root=tmp_path / "data")
    folders = {"--results": tmp_path / "results", "--work-dir": tmp_path / "work"}
    return bool(check_needs(registry, load_profile(profile), names, data_root=tmp_path / "data", folders=folders))


@pytest.fixture
def bench(tmp_path, monkeypatch):
    """``zoo bench`` with its results, work folder, data root and extractor folder under ``tmp_path``."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))

    def run(*args: object, **options: object):
        folders = dict(results=tmp_path / "results", work_dir=tmp_path / "work", data_root=tmp_path / "data")
        return zoo("bench", *args, **{**folders, **options})

    return run


def nothing_ran(tmp_path: Path) -> bool:
    return not (tmp_path / "results").exists() and not (tmp_path / "work").exists()


def test_a_folder_too_small_for_the_profile_is_one_error_with_the_test_fraction_that_fits(tmp_path, bench):
    faces = write_image_folder(tmp_path / "faces", 30)
    result = bench("dcgan", "vae", profile=write_profile(tmp_path / "mine.toml"), dataset=f"folder:{faces}", size=16)
    assert result.exit_code == 1 and "Traceback" not in result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert "the bench cannot start" in error and "protocol 'classifier-inception'" in error
    assert "takes 8 reference images from the test split, which holds 3" in error
    assert "--test-fraction 0.25 gives 8 test and 22 training images" in error and "--profile smoke" in error
    assert result.output.count("holds 3") == 1, "said once, not once per cell"
    assert nothing_ran(tmp_path)

    assert needs_met(tmp_path, tmp_path / "mine.toml", f"folder:{faces}", size=16, test_fraction=0.25)


def test_every_missing_need_is_listed_once_before_any_work(tmp_path, bench):
    (tmp_path / "taken").write_text("a file where the work folder should go")
    profile = write_profile(tmp_path / "mine.toml", datasets='["mnist", "fashion-mnist"]')
    result = bench("--all", profile=profile, work_dir=tmp_path / "taken" / "work")
    assert result.exit_code == 1 and "Traceback" not in result.output
    problems = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert "for 3 reasons found before any training" in result.stderr and len(problems) == 3
    assert "--work-dir" in problems[0] and "is a file, not a folder" in problems[0]
    assert f"no test files in {tmp_path / 'data' / 'MNIST' / 'raw'}" in problems[1]
    assert "--download" in problems[1] and "--data-root" in problems[1]
    assert "Debian's dataset-fashion-mnist" in problems[2] and "/usr/share/datasets/fashion-mnist" in problems[2]
    assert not (tmp_path / "results").exists()


def test_missing_weights_and_a_small_split_are_found_together(tmp_path, bench, tiny_mnist_root):
    profile = write_profile(tmp_path / "mine.toml", reference=100, extra='[[protocols]]\nname = "mine"\nextractor = '
                            '"zoo-domain-classifier"\nweights = "nowhere"\nnum_generated = 8\nnum_reference = 8\n'
                            "kid_subset_size = 2\nisc_splits = 2\n")  # fmt: skip
    result = bench("vae", "dcgan", profile=profile, data_root=tiny_mnist_root)
    assert result.exit_code == 1
    assert "takes 100 reference images from the test split, which holds 64" in result.stderr
    assert "extractor weights 'nowhere' for protocol 'mine' not found" in result.stderr
    assert "zoo extractor train --dataset mnist" in result.stderr
    assert result.stderr.count("  - ") == 2 and nothing_ran(tmp_path)


def test_a_classifier_of_the_same_folder_split_otherwise_is_named_with_the_option_that_reuses_it(tmp_path, bench):
    pets = write_image_folder(tmp_path / "pets", 12, classes=2)
    folder = dict(dataset=f"folder:{pets}", size=16, data_root=tmp_path / "data")
    trained = zoo("extractor", "train", steps=2, batch_size=4, min_accuracy=0, test_fraction=0.25, **folder)
    assert trained.exit_code == 0, trained.output
    (weights,) = (tmp_path / "cache" / "zoo" / "extractors").glob("folder-pets-16-*-test_resnet.safetensors")
    assert json.loads(weights.with_suffix(".json").read_text())["test_fraction"] == 0.25

    profile = write_profile(tmp_path / "mine.toml", generated=4, reference=2)
    result = bench("vae", profile=profile, **folder)  # at the default test fraction, 0.1
    assert result.exit_code == 1
    assert f"{weights} is one for this folder split with --test-fraction 0.25" in result.stderr
    assert f"zoo extractor train --dataset folder:{pets} --size 16 --arch test_resnet" in result.stderr
    assert needs_met(tmp_path, profile, f"folder:{pets}", size=16, test_fraction=0.25)


SMOKE = load_profile("smoke")
LABELLED = DatasetSpec("blobs", (3, 8, 8), 4, load=lambda root, split, download: None)
UNLABELLED = dataclasses.replace(LABELLED, name="faces", num_classes=0)


def test_the_smoke_profile_caps_its_counts_at_what_the_splits_hold_under_another_name(registry):
    said = []
    holds = {"train": 270, "test": 30}
    (fitted,) = SMOKE.fitted_protocols(LABELLED, registry.extractors, said.append, lambda s, n: min(n, holds[s]))
    assert (fitted.name, fitted.num_generated, fitted.num_reference) == ("classifier-smoke-n64-ref30", 64, 30)
    assert fitted.kid_subset_size == 30 and fitted.isc_splits == 2
    assert said == [
        "blobs: protocol 'classifier-smoke' scores 64 generated and 30 reference images, as "
        "'classifier-smoke-n64-ref30': this profile caps its sample counts at what the splits hold (cap_to_splits; "
        "the real-data floor's generated images are training images)"
    ]
    roomy = SMOKE.fitted_protocols(LABELLED, registry.extractors, said.append, lambda s, n: n)
    assert roomy == SMOKE.protocols and len(said) == 1, "nothing capped, nothing said"
    uncapped = dataclasses.replace(SMOKE, cap_to_splits=False)
    assert uncapped.fitted_protocols(LABELLED, registry.extractors, print, lambda s, n: 1) == SMOKE.protocols
    with pytest.raises(ZooError, match="blobs: protocol 'classifier-smoke' needs at least 4 images of the train split"):
        SMOKE.fitted_protocols(LABELLED, registry.extractors, print, lambda s, n: min(n, 3))


def test_the_inception_fallback_of_the_smoke_profile_scores_few_images_and_says_so(registry):
    said = []
    (fitted,) = SMOKE.fitted_protocols(UNLABELLED, registry.extractors, said.append, lambda s, n: min(n, 200))
    assert (fitted.name, fitted.extractor) == ("classifier-smoke-inception-n16", INCEPTION_FID_HELPER)
    assert (fitted.num_generated, fitted.num_reference, fitted.kid_subset_size) == (16, 16, 16)
    assert len(said) == 1 and "replaced by 'classifier-smoke-inception-n16'" in said[0]
    assert "on at most 16 samples (label_free_samples)" in said[0]
    (small,) = SMOKE.fitted_protocols(UNLABELLED, registry.extractors, said.append, lambda s, n: min(n, 10))
    assert small.name == "classifier-smoke-inception-n10" and small.num_reference == 10


def test_a_capped_protocol_is_another_protocol():
    (smoke,) = SMOKE.protocols
    assert capped(smoke, 64, 64) is smoke and capped(smoke, 100, 100) is smoke
    assert capped(smoke, 30, 30).name == "classifier-smoke-n30" and smoke.extractor == DOMAIN_CLASSIFIER
    assert capped(smoke, 30, 20).name == "classifier-smoke-n30-ref20"


def test_a_folder_datasets_split_sizes_are_known_without_loading(tmp_path):
    pets = write_image_folder(tmp_path / "pets", 7, classes=3)
    spec = folder_dataset_spec(pets, 8, test_fraction=0.3, data_root=tmp_path / "data")
    assert spec.split_sizes == {"train": 15, "test": 6}
    assert {split: len(spec.load(None, split)[0]) for split in spec.splits} == spec.split_sizes


def test_download_fetches_a_datasets_files_once_in_the_plan_before_any_cell(tmp_path, registry):
    asked = []

    def load(root, split, download):  # a dataset plugin's loader: fetches its files when asked to
        asked.append((split, download))
        images = torch.zeros(64 if download else 0, 3, 8, 8, dtype=torch.uint8)
        return images, torch.arange(len(images)) % 4

    spec = dataclasses.replace(LABELLED, load=load)
    plugin = PluginInfo("blobs", "zoo-blobs", "1.0")
    with_blobs = dataclasses.replace(registry, datasets=registry.datasets.including(spec, plugin))
    (protocol,) = SMOKE.protocols
    weights = str(BUILTIN_EXTRACTOR_DIR / "shapes-test_resnet.safetensors")  # any classifier's weights will do
    profile = dataclasses.replace(SMOKE, protocols=(dataclasses.replace(protocol, weights=weights),))
    folders = {"--work-dir": tmp_path / "work"}
    fitted = check_needs(with_blobs, profile, ["blobs"], data_root=tmp_path, folders=folders, download=True)
    assert fitted["blobs"] == profile.protocols and sorted(asked) == [("test", True), ("train", True)]
