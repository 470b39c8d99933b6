"""Run folders a crash, a Ctrl-C or an edit left behind: the advice given works, errors are one line, and exit
statuses say whose fault it is (2: the command line, 1: a file or folder)."""

from __future__ import annotations

import errno
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner, Result

from tests.helpers import toy_plugin_source
from zoo.cli import main

FLAKY_PLUGIN = (
    toy_plugin_source("toy_flaky")
    + '''

import os, pathlib, time


class FlakyTrainer(GANTrainer):
    """Trains like the toy, unless $TOY_ACTION says to crash, return NaN, or hang (after touching $TOY_MARKER)."""

    def train_step(self, batch):
        action = os.environ.get("TOY_ACTION")
        if action == "crash":
            raise RuntimeError("kernel exploded")
        if action == "nan":
            if "TOY_MARKER" in os.environ:  # one byte per step taken
                with open(os.environ["TOY_MARKER"], "a") as marker:
                    marker.write(".")
            return {"loss": float("nan")}
        if action == "hang":
            pathlib.Path(os.environ["TOY_MARKER"]).touch()
            time.sleep(600)
        return super().train_step(batch)


def build(image_shape, num_classes, *, latent_dim: int = 8, lr: float = 1e-3):
    return FlakyTrainer(ToyGenerator(image_shape, latent_dim), ToyDiscriminator(image_shape), lr=lr, betas=(0.5, 0.999))
'''
)


@pytest.fixture
def flaky(install_plugin) -> Path:
    """The ``toy_flaky`` model installed (distribution ``zoo-flaky`` 2.1); returns its site folder."""
    return install_plugin("zoo-flaky", {"toy_flaky": "toy_flaky"}, {"toy_flaky": FLAKY_PLUGIN}, version="2.1")


@pytest.fixture
def zoo(tiny_mnist_root, monkeypatch, tmp_path):
    """``zoo ARGS...`` in-process, in ``tmp_path``, with the tiny MNIST as the data root."""
    monkeypatch.setenv("ZOO_DATA_ROOT", str(tiny_mnist_root))
    monkeypatch.chdir(tmp_path)
    return lambda *args: CliRunner().invoke(main, [str(a) for a in args])


def assert_error(result: Result, exit_code: int, *fragments: str) -> str:
    """The command failed with ``exit_code``, no traceback, and an error line holding each fragment; returns it."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


TRAIN = ("train", "toy_flaky", "--dataset", "mnist", "--steps", "3", "--batch-size", "4", "--out", "run", "--no-eval")


@pytest.mark.parametrize("action", ["crash", "nan"])
def test_a_run_that_stopped_before_its_first_checkpoint_can_be_started_again(zoo, flaky, monkeypatch, action):
    monkeypatch.setenv("TOY_ACTION", action)
    assert zoo(*TRAIN).exit_code == 1
    assert not Path("run/checkpoint.pt").exists() and Path("run/config.json").exists()
    monkeypatch.delenv("TOY_ACTION")
    resumed = zoo(*TRAIN, "--resume")
    assert_error(resumed, 1, "nothing to resume", "before the first checkpoint", "without --resume")
    again = zoo(*TRAIN)
    assert again.exit_code == 0, again.output
    assert json.loads(Path("run/summary.json").read_text())["step"] == 3


def test_a_nan_loss_stops_training_at_the_step_it_happens(zoo, flaky, monkeypatch, tmp_path):
    monkeypatch.setenv("TOY_ACTION", "nan")
    monkeypatch.setenv("TOY_MARKER", str(tmp_path / "steps-taken"))
    long = [*TRAIN[:5], "40", *TRAIN[6:]]  # 40 steps: the loop logs (and used to look at losses) every 50
    assert_error(zoo(*long), 1, "training diverged at step 1")
    assert (tmp_path / "steps-taken").read_text() == ".", "no step after the first non-finite loss"


def test_a_finished_run_is_still_not_overwritten(zoo, flaky):
    assert zoo(*TRAIN).exit_code == 0
    assert_error(zoo(*TRAIN), 1, "already holds a run", "--resume")


@pytest.mark.slow
def test_hung_step_first_ctrl_c_is_acknowledged_second_stops_and_the_advice_works(
    flaky, tiny_mnist_root, tmp_path, monkeypatch
):
    """The real console script, a real SIGINT: the step hangs, the first Ctrl-C is acknowledged while it hangs,
    the second stops the process; the command it then advises trains the run from the start."""
    marker, stderr_path = tmp_path / "in-step", tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONPATH": str(flaky), "TOY_ACTION": "hang", "TOY_MARKER": str(marker)}
    env.update(OMP_NUM_THREADS="1", ZOO_DATA_ROOT=str(tiny_mnist_root))
    command = [str(Path(sys.executable).parent / "zoo"), *TRAIN]
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            wait_for(marker.exists, "the step to start")
            process.send_signal(signal.SIGINT)
            wait_for(lambda: "Ctrl-C received" in stderr_path.read_text(), "the first Ctrl-C to be acknowledged")
            assert process.poll() is None, "the first Ctrl-C must let the step finish"
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=120) == 1
        finally:
            process.kill()
    said = stderr_path.read_text()
    assert "stopping after the current step and saving a checkpoint; press Ctrl-C again to stop at once" in said
    error = said.splitlines()[-1]
    assert error.startswith("Error: stopped during step 1 by a second Ctrl-C; no checkpoint was saved; start it")
    advised = shlex.split(error.split("start it again with: ")[1])
    assert advised[:2] == ["zoo", "train"] and "--resume" not in advised

    monkeypatch.chdir(tmp_path)  # the advice, followed where it was given (in-process; the step no longer hangs)
    followed = CliRunner().invoke(main, advised[1:], env={"ZOO_DATA_ROOT": str(tiny_mnist_root)})
    assert followed.exit_code == 0, followed.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["step"] == 3


def wait_for(condition, what: str, timeout: float = 120.0) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds (a hung test, not a
    timing assertion)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def finished_run(zoo) -> Path:
    """A one-step VAE run, finished, in ``./vae``."""
    result = zoo("train", "vae", "--dataset", "mnist", "--steps", 1, "--batch-size", 4, "--out", "vae")
    assert result.exit_code == 0, result.output
    return Path("vae").resolve()


RESUME = ("train", "vae", "--dataset", "mnist", "--steps", 2, "--batch-size", 4, "--out", "vae", "--resume")
RESUME += ("--no-eval",)


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda config: "{ not json", "not valid JSON"),
        (lambda config: "", "not valid JSON"),
        (
            lambda config: json.dumps({k: v for k, v in config.items() if k != "hparams"}),
            "field hparams: Field required",
        ),
        (lambda config: json.dumps({**config, "image_shape": "big"}), "field image_shape"),
        (lambda config: json.dumps([config]), "not a JSON object"),
    ],
)
def test_a_damaged_config_json_is_a_one_line_error_naming_it(zoo, finished_run, damage, fragment):
    path = finished_run / "config.json"
    path.write_text(damage(json.loads(path.read_text())))
    for result in (zoo("sample", finished_run, "-o", "grid.png"), zoo(*RESUME)):
        assert_error(result, 1, "vae/config.json is damaged", fragment, "train the run again")


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_checkpoint_holding_code_is_refused_in_one_line_without_torchs_advice(zoo, finished_run, tmp_path):
    marker = tmp_path / "payload-ran"
    torch.save({"format": 1, "step": 1, "payload": _Payload(marker)}, finished_run / "checkpoint.pt")
    result = zoo(*RESUME)
    assert_error(result, 1, "refused checkpoint", "checkpoint.pt", "never unpickles", "train afresh")
    assert result.stderr.count("\n") == 1 and "weights_only" not in result.stderr
    assert not marker.exists()


def test_a_checkpoint_of_random_bytes_is_reported_as_damaged_not_as_code(zoo, finished_run):
    (finished_run / "checkpoint.pt").write_bytes(os.urandom(4096))
    result = zoo(*RESUME)
    assert_error(result, 1, "cannot read checkpoint", "not a zoo checkpoint, or damaged", "train afresh")
    assert "refused" not in result.stderr and "run code" not in result.stderr


def test_a_truncated_checkpoint_is_a_one_line_error(zoo, finished_run):
    path = finished_run / "checkpoint.pt"
    path.write_bytes(path.read_bytes()[:300])
    result = zoo(*RESUME)
    assert_error(result, 1, "cannot read checkpoint", "corrupt or truncated")
    assert result.stderr.count("\n") == 1


def test_a_checkpoint_of_another_shape_is_a_one_line_error(zoo, finished_run):
    path = finished_run / "checkpoint.pt"
    torch.save({"format": 1, "step": 1, "trainer": {}, "rng": {}, "history": []}, path)
    assert_error(zoo(*RESUME), 1, "checkpoint vae/checkpoint.pt does not fit this run", "KeyError")


def test_an_output_folder_that_cannot_be_written_is_a_one_line_error(zoo, finished_run):
    Path("a-file").write_text("not a folder")
    trained = zoo("train", "vae", "--dataset", "mnist", "--steps", 1, "--out", "a-file/run")
    assert_error(trained, 1, "cannot write to folder a-file/run", "choose another --out")
    sampled = zoo("sample", finished_run, "-o", "a-file/grid.png")
    assert_error(sampled, 1, "cannot write to folder a-file", "choose another -o")


@pytest.mark.parametrize("command", ["train", "sample"])
@pytest.mark.parametrize("seed", [2**32, 2**64, -1])
def test_an_out_of_range_seed_is_a_usage_error(zoo, finished_run, command, seed):
    args = ("train", "vae", "--dataset", "mnist", "--steps", 1) if command == "train" else ("sample", finished_run)
    result = zoo(*args, "--seed", seed)
    assert result.exit_code == 2 and "Invalid value for '--seed'" in result.stderr and "4294967295" in result.stderr


@pytest.mark.parametrize(
    ("args", "exit_code", "fragment"),
    [
        (["train", "nope", "--dataset", "mnist"], 2, "unknown model 'nope'"),
        (["train", "vae", "--dataset", "imagenet"], 2, "unknown dataset 'imagenet'"),
        (["train", "vae", "--dataset", "mnist", "--hparam", "depth=3"], 2, "no hyperparameter depth"),
        (["train", "vae", "--dataset", "mnist", "--hparam", "latent_dim=many"], 2, "is not a valid int"),
        (["train", "vae", "--dataset", "mnist", "--hparam", "oops"], 2, "is not KEY=VALUE"),
        (["train", "vae", "--dataset", "mnist", "--steps", "0"], 2, "Invalid value for '--steps'"),
        (["train", "vae", "--dataset", "fashion-mnist"], 1, "FashionMNIST"),
        (["sample", "."], 1, "is not a zoo run folder"),
        (["sample", "missing-folder"], 2, "does not exist"),
        (["bench", "vae", "--profile", "nope"], 2, "unknown profile 'nope'"),
        (["bench"], 2, "name the models to bench, or pass --all"),
        (["bench", "vae", "--cell-timeout", "nan"], 2, "Invalid value for '--cell-timeout': nan"),
        (["bench", "vae", "--cell-timeout", "inf"], 2, "Invalid value for '--cell-timeout': inf"),
        (["bench", "vae", "--cell-timeout", "-5"], 2, "Invalid value for '--cell-timeout'"),
        (["train", "vae", "--dataset", "mnist", "--out", ""], 2, "Invalid value for '--out': an empty path"),
    ],
)
def test_exit_status_is_2_for_the_command_line_and_1_for_files_and_state(zoo, args, exit_code, fragment):
    assert_error(zoo(*args), exit_code, fragment)


def test_an_empty_out_writes_nothing_in_the_working_directory(zoo, tmp_path):
    assert zoo("train", "vae", "--dataset", "mnist", "--steps", 1, "--out", "").exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_a_file_the_system_refuses_mid_command_is_a_one_line_error(zoo, finished_run, monkeypatch):
    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "grid.png")

    monkeypatch.setattr("zoo.runs.save_samples", disk_full)
    assert_error(zoo("sample", finished_run), 1, "grid.png: No space left on device")


def test_labels_a_model_does_not_have_are_a_usage_error(zoo, tmp_path):
    assert zoo("train", "cgan", "--dataset", "mnist", "--steps", 1, "--batch-size", 4, "--out", "cgan").exit_code == 0
    assert_error(zoo("sample", "cgan", "--labels", "12"), 2, "labels must lie in [0, 10)")


def test_a_config_json_the_installed_model_does_not_take_is_a_one_line_error(zoo, finished_run):
    path = finished_run / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "hparams": {"depth": 3}}))
    assert_error(
        zoo("sample", finished_run), 1, "config.json does not fit 'vae' as installed", "no hyperparameter depth"
    )


def test_sampling_a_run_whose_plugin_was_uninstalled_names_the_distribution(zoo, flaky):
    assert zoo(*TRAIN).exit_code == 0
    shutil.rmtree(flaky / "zoo_flaky-2.1.dist-info")  # what pip uninstall removes
    result = zoo("sample", "run", "-o", "grid.png")
    assert_error(result, 1, "model 'toy_flaky'", "zoo-flaky 2.1", "install")
    assert result.stderr.count("\n") == 1
