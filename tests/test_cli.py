"""The ``zoo`` command, through click's runner: outputs, files written, and one-line errors."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from tests.helpers import read_png
from zoo.cli import main


@pytest.fixture
def zoo(tiny_mnist_root, monkeypatch):
    """Invoke ``zoo ARGS...`` in-process, with the tiny MNIST as the data root."""
    monkeypatch.setenv("ZOO_DATA_ROOT", str(tiny_mnist_root))
    runner = CliRunner()
    return lambda *args: runner.invoke(main, [str(a) for a in args])


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_help_explains_commands(zoo):
    result = zoo("--help")
    assert result.exit_code == 0
    for command in ("models", "plugins", "datasets", "train", "sample"):
        assert command in result.output
    assert "ZOO_LOAD_PLUGINS" in result.output


def test_models_lists_the_six_with_family_and_paper(zoo):
    result = zoo("models")
    assert result.exit_code == 0
    rows = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert {"vanilla_gan", "dcgan", "wgan_gp", "vae", "cgan", "infogan"} <= set(rows)
    assert " gan " in rows["infogan"] and "Chen et al. 2016, InfoGAN" in rows["infogan"]
    assert " vae " in rows["vae"] and "Kingma" in rows["vae"]
    assert " yes " in rows["cgan"] and " no " in rows["dcgan"]


def test_plugins_json_is_machine_readable(zoo):
    plugins = json.loads(zoo("plugins", "--json").output)
    built_in = {p["name"]: p for p in plugins if p["distribution"] == "genzoo"}
    assert built_in["dcgan"]["status"] == "ok" and built_in["dcgan"]["hooks"] == "register_models"
    assert built_in["torchvision_datasets"]["hooks"] == "register_datasets"


@pytest.mark.parametrize(
    ("command", "first"),
    [
        (["models"], {"name", "family", "conditional", "plugin", "version", "paper", "error"}),
        (["profiles"], {"name", "description", "file"}),
        (["extractor", "list"], {"name", "feature_layer", "logits_layer", "plugin", "description"}),
    ],
)
def test_listings_print_one_json_document_for_scripts(zoo, command, first):
    result = zoo(*command, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list) and rows and set(rows[0]) == first
    if command == ["models"]:
        dcgan = next(row for row in rows if row["name"] == "dcgan")
        assert dcgan["conditional"] is False and dcgan["plugin"] == "genzoo" and dcgan["error"] is None


def test_datasets_json_holds_the_data_root_and_each_shape(zoo, tiny_mnist_root):
    result = zoo("datasets", "--json")
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["data_root"] == str(tiny_mnist_root)
    mnist = next(row for row in found["datasets"] if row["name"] == "mnist")
    assert mnist == {"name": "mnist", "shape": [1, 28, 28], "classes": 10, "plugin": "genzoo"}


TRAIN = ("train", "vae", "--dataset", "mnist", "--steps", 2, "--batch-size", 4, "--no-eval")


def test_progress_bars_are_off_when_stderr_is_not_a_terminal(zoo, tmp_path):
    result = zoo(*TRAIN, "--out", tmp_path / "run")
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and "trained vae on mnist" in result.stdout


def test_quiet_turns_progress_bars_off_on_a_terminal(zoo, tmp_path, monkeypatch):
    monkeypatch.setattr("zoo.cli._stderr_is_terminal", lambda: True)
    shown = zoo(*TRAIN, "--out", tmp_path / "shown")
    assert shown.exit_code == 0 and "2/2" in shown.stderr
    quiet = zoo("--quiet", *TRAIN, "--out", tmp_path / "quiet")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_datasets_lists_shapes_and_data_root(zoo, tiny_mnist_root):
    result = zoo("datasets")
    assert result.exit_code == 0
    assert "1x28x28" in result.output and "3x32x32" in result.output
    assert str(tiny_mnist_root) in result.output


def test_train_writes_a_complete_run_folder_and_sample_reads_it(zoo, tmp_path):
    run = tmp_path / "run"
    result = zoo("train", "dcgan", "--dataset", "mnist", "--steps", 3, "--batch-size", 8, "--seed", 5, "--out", run)
    assert result.exit_code == 0, result.output
    assert "img/s" in result.output
    config = json.loads((run / "config.json").read_text())
    assert (config["model"], config["seed"], config["steps"], config["hparams"]["width"]) == ("dcgan", 5, 3, 64)
    assert config["plugin"]["distribution"] == "genzoo" and config["provenance"]["git_commit"]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["step"] == 3 and summary["images_seen"] == 24 and summary["parameters"]["G"] > 0
    grid = read_png(run / "samples.png")
    assert grid.shape[0] == 3 and grid.shape[1] > 28 * 8

    out = tmp_path / "grid.png"
    sampled = zoo("sample", run, "-n", 4, "-o", out)
    assert sampled.exit_code == 0, sampled.output
    assert read_png(out).shape[1:] == (2 + 2 * 30, 2 + 2 * 30)


def test_resume_extends_a_run_and_refuses_a_changed_config(zoo, tmp_path):
    run = tmp_path / "run"
    assert zoo("train", "vae", "--dataset", "mnist", "--steps", 2, "--batch-size", 4, "--out", run).exit_code == 0
    refused = zoo("train", "vae", "--dataset", "mnist", "--steps", 4, "--batch-size", 4, "--out", run)
    assert_one_line_error(refused, "already holds a run", "--resume")
    changed = zoo(
        "train", "vae", "--dataset", "mnist", "--steps", 4, "--batch-size", 4, "--seed", 1, "--out", run, "--resume"
    )
    assert_one_line_error(changed, "cannot resume: seed differs")
    resumed = zoo("train", "vae", "--dataset", "mnist", "--steps", 4, "--batch-size", 4, "--out", run, "--resume")
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((run / "summary.json").read_text())["step"] == 4


def test_sample_takes_labels_for_a_conditional_model(zoo, tmp_path):
    run = tmp_path / "cgan"
    assert zoo("train", "cgan", "--dataset", "mnist", "--steps", 1, "--batch-size", 4, "--out", run).exit_code == 0
    assert zoo("sample", run, "-n", 6, "--labels", "3,4", "-o", tmp_path / "g.png").exit_code == 0
    assert_one_line_error(zoo("sample", run, "--labels", "3,x", "-o", tmp_path / "g.png"), "comma-separated")
    assert_one_line_error(zoo("sample", run, "--labels", "12", "-o", tmp_path / "g.png"), "labels must lie in [0, 10)")


def test_labels_for_an_unconditional_model_is_an_error(zoo, tmp_path):
    run = tmp_path / "gan"
    assert (
        zoo("train", "vanilla_gan", "--dataset", "mnist", "--steps", 1, "--batch-size", 4, "--out", run).exit_code == 0
    )
    assert_one_line_error(zoo("sample", run, "--labels", "1", "-o", tmp_path / "g.png"), "unconditional")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["train", "nope", "--dataset", "mnist"], ["unknown model 'nope'", "dcgan"]),
        (["train", "dcgan", "--dataset", "imagenet"], ["unknown dataset 'imagenet'", "mnist"]),
        (["train", "dcgan", "--dataset", "mnist", "--steps", "0"], ["Invalid value for '--steps'"]),
        (["train", "dcgan", "--dataset", "mnist", "--hparam", "depth=3"], ["no hyperparameter depth", "width"]),
        (["train", "dcgan", "--dataset", "mnist", "--hparam", "oops"], ["is not KEY=VALUE"]),
        (["train", "dcgan", "--dataset", "fashion-mnist"], ["FashionMNIST", "--download"]),
        (["sample", "."], ["is not a zoo run folder"]),
    ],
)
def test_user_errors_are_one_line(zoo, tmp_path, monkeypatch, args, fragments):
    monkeypatch.chdir(tmp_path)
    assert_one_line_error(zoo(*args), *fragments)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_asking_for_cuda_without_one_is_a_clear_error(zoo, tmp_path):
    result = zoo("train", "dcgan", "--dataset", "mnist", "--device", "cuda", "--out", tmp_path / "r")
    assert_one_line_error(result, "no CUDA device")


def test_plugins_check_runs_every_check_at_the_scaffolds_three_shapes(zoo):
    from zoo.conformance import CHECKS, PROBE_SHAPES

    result = zoo("plugins", "check", "dcgan")
    assert result.exit_code == 0, result.output
    headers = [line for line in result.output.splitlines() if line.startswith("dcgan (genzoo)")]
    shapes = ["x".join(map(str, shape)) for shape in PROBE_SHAPES.values()]
    assert headers == [f"dcgan (genzoo), {shape}, 10 classes:" for shape in shapes]
    assert shapes == ["1x28x28", "3x32x32", "3x64x64"]  # the tests `zoo plugins new` writes use the same
    assert result.output.count("ok  ") == 3 * len(CHECKS) and "FAIL" not in result.output


def test_plugins_check_applies_hparams_on_top_of_the_tiny_ones(zoo):
    narrow = zoo("plugins", "check", "dcgan", "--shape", "1x28x28", "--hparam", "width=2")
    assert narrow.exit_code == 0, narrow.output
    assert 'dcgan (genzoo), 1x28x28, 10 classes, hparams {"width": 2}:' in narrow.output
    broken = zoo("plugins", "check", "dcgan", "--shape", "1x28x28", "--hparam", "latent_dim=0")
    assert broken.exit_code == 1  # latent_dim 0 on top of the tiny 8: the interfaces check catches it
    assert "FAIL  interfaces: latent_dim must be a positive int" in broken.output
    assert_one_line_error(zoo("plugins", "check", "dcgan", "--hparam", "depth=3"), "no hyperparameter depth", "width")
    assert_one_line_error(zoo("plugins", "check", "dcgan", "--hparam", "oops"), "is not KEY=VALUE")
    assert_one_line_error(zoo("plugins", "check", "dcgan", "--shape", "28x28"), "'28x28' is not CxHxW")
