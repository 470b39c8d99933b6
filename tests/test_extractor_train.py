"""`zoo extractor train`: never replaces a classifier unasked, never keeps a poor one unasked, writes to the user's
cache by default, and a replaced classifier scores under a new protocol id."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from zoo.bench.weights import BUILTIN_EXTRACTOR_DIR
from zoo.cli import main
from zoo.errors import ZooError
from zoo.metrics import DOMAIN_CLASSIFIER, Protocol, ProtocolSettings, load_domain_classifier
from zoo.metrics.domain import DEFAULT_MIN_ACCURACY


@pytest.fixture
def extractor_train(tiny_mnist_root, monkeypatch, tmp_path):
    """``zoo extractor train --dataset mnist ARGS...`` on the tiny MNIST, a few quick steps, in ``tmp_path/work``
    with ``tmp_path/cache`` as the user's cache."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    quick = ["--steps", "4", "--batch-size", "16", "--data-root", str(tiny_mnist_root)]
    return lambda *args: CliRunner().invoke(main, ["extractor", "train", "--dataset", "mnist", *quick, *map(str, args)])


def test_a_classifier_below_the_default_accuracy_is_not_saved(extractor_train, tmp_path):
    result = extractor_train("--out", tmp_path / "x")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"below {DEFAULT_MIN_ACCURACY:.2%}; not saved" in result.stderr and "--min-accuracy" in result.stderr
    assert not (tmp_path / "x" / "mnist-test_resnet.safetensors").exists()


def test_an_existing_classifier_is_replaced_only_with_force_and_then_changes_the_protocol(
    extractor_train, tmp_path, registry
):
    out = tmp_path / "x"
    weights = out / "mnist-test_resnet.safetensors"
    assert extractor_train("--out", out, "--min-accuracy", 0).exit_code == 0
    settings = ProtocolSettings("domain", DOMAIN_CLASSIFIER, weights="unused", num_generated=1000, num_reference=1000)

    def protocol_id() -> str:
        extractor = registry.extractors[DOMAIN_CLASSIFIER]
        images, labels = torch.zeros(4, 1, 28, 28, dtype=torch.uint8), torch.arange(4)
        return Protocol.resolve(
            settings,
            dataset="mnist",
            extractor=extractor,
            weights_path=weights,
            reference_images=images,
            reference_labels=labels,
            num_classes=10,
        ).id

    before, digest = protocol_id(), hashlib.sha256(weights.read_bytes()).hexdigest()

    refused = extractor_train("--out", out, "--min-accuracy", 0, "--seed", 1)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert f"{weights} exists; pass --force to replace it" in refused.stderr
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == digest

    replaced = extractor_train("--out", out, "--min-accuracy", 0, "--seed", 1, "--force")
    assert replaced.exit_code == 0, replaced.output
    assert load_domain_classifier(weights)[1].seed == 1
    assert protocol_id() != before


def test_the_default_folder_is_the_users_cache_not_the_working_directory(extractor_train, tmp_path):
    result = extractor_train("--min-accuracy", 0)
    assert result.exit_code == 0, result.output
    assert result.stderr == "", "no progress bar when stderr is not a terminal"
    assert (tmp_path / "cache" / "zoo" / "extractors" / "mnist-test_resnet.safetensors").is_file()
    assert not any((tmp_path / "work").iterdir())


def test_the_installed_packages_classifiers_are_never_replaced_however_the_folder_is_spelled(extractor_train, tmp_path):
    package = BUILTIN_EXTRACTOR_DIR.parent
    (tmp_path / "link").symlink_to(package)
    before = {p.name: p.read_bytes() for p in BUILTIN_EXTRACTOR_DIR.iterdir()}
    for out in (
        BUILTIN_EXTRACTOR_DIR,
        tmp_path / "link" / "extractors",
        Path(os.path.relpath(BUILTIN_EXTRACTOR_DIR, tmp_path / "work")),
        package / "profiles" / ".." / "extractors" / "new",
    ):
        result = extractor_train("--out", out, "--force", "--min-accuracy", 0)
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert "inside the installed zoo package" in result.stderr and "choose another --out" in result.stderr
    assert {p.name: p.read_bytes() for p in BUILTIN_EXTRACTOR_DIR.iterdir()} == before


def test_a_missing_classifier_names_the_command_that_trains_it(tmp_path):
    with pytest.raises(
        ZooError, match=f"zoo extractor train --dataset fashion-mnist --arch test_resnet --out {tmp_path}$"
    ):
        load_domain_classifier(Path(tmp_path) / "fashion-mnist-test_resnet.safetensors")


def test_training_says_how_long_it_takes_and_stops_at_a_target_accuracy(extractor_train, tmp_path):
    out = tmp_path / "x"
    stopping = ("--target-accuracy", 0.01, "--check-every", 7, "--min-accuracy", 0)
    result = extractor_train("--out", out, "--steps", 12, *stopping)
    assert result.exit_code == 0, result.output
    (estimate,) = result.stderr.splitlines()  # on stderr, and no progress bar there: it is not a terminal
    assert re.fullmatch(
        r"train test_resnet: \d+\.\d\d s a step, so 12 steps take about \d+ (s|min), or less: it stops once the "
        r"test accuracy reaches 1\.00% \(checked every 7 steps\)",
        estimate,
    )
    assert "reached at step 7 of 12" in result.stdout
    assert load_domain_classifier(out / "mnist-test_resnet.safetensors")[1].steps == 7

    whole = extractor_train("--out", out, "--steps", 8, "--min-accuracy", 0, "--force")
    assert "--target-accuracy stops it early" in whole.stderr and "reached at step" not in whole.stdout
    assert load_domain_classifier(out / "mnist-test_resnet.safetensors")[1].steps == 8


def test_a_batch_larger_than_the_training_split_is_a_one_line_error(extractor_train, tmp_path):
    result = extractor_train("--out", tmp_path / "x", "--batch-size", 500)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "has 128 training images, fewer than a batch; pass --batch-size 128 or less" in result.stderr
