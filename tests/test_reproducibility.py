"""A number means one thing: scoring never changes training, and results name the machine that made them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import zoo.device
from tests.helpers import zoo as run_zoo
from tests.test_bench import bench_dir, write_profile  # noqa: F401 - bench_dir is a fixture used below
from zoo.checkpoint import load_checkpoint
from zoo.device import cpu_model, describe_device
from zoo.fileio import read_json
from zoo.provenance import provenance

TIMINGS = ("train_seconds", "images_per_second", "eval_seconds")
"""Row fields that are wall times, the only ones two runs of a cell may disagree on."""


def bench_vae(profile: Path, results: Path, work: Path, data_root: Path) -> tuple[dict, dict]:
    """``zoo bench vae`` under ``profile``: the cell file (timings dropped) and the trainer's final state."""
    result = run_zoo("bench", "vae", profile=profile, results=results, work_dir=work, data_root=data_root)
    assert result.exit_code == 0, result.output
    cell = read_json(results / profile.stem / "cells" / "mnist" / "vae-s0.json")
    for row in cell["rows"]:
        for field in (*TIMINGS, "cell_key"):  # the key names the settings, the evaluation schedule included
            row.pop(field)
    checkpoint = load_checkpoint(work / profile.stem / "runs" / "mnist" / "vae-s0" / "checkpoint.pt")
    return cell, checkpoint["trainer"]


def assert_same_state(first: dict, second: dict, where: str = "trainer") -> None:
    """Nested state dicts with bit-identical tensors."""
    assert first.keys() == second.keys(), where
    for key, value in first.items():
        if isinstance(value, dict):
            assert_same_state(value, second[key], f"{where}.{key}")
        elif isinstance(value, torch.Tensor):
            assert torch.equal(value, second[key]), f"{where}.{key} differs"
        else:
            assert value == second[key], f"{where}.{key} differs"


@pytest.mark.slow
def test_a_cell_is_the_same_whatever_the_cache_warmth_and_evaluation_schedule(bench_dir, tiny_mnist_root, tmp_path):  # noqa: F811
    profile = write_profile(bench_dir, "repro", seeds="[0]")
    rescheduled = bench_dir / "rescheduled" / "repro.toml"  # same name, so the same work folder and cache
    rescheduled.parent.mkdir(exist_ok=True)
    rescheduled.write_text(profile.read_text().replace("eval_at = [3]", "eval_at = [1, 2, 4, 5]"))

    # the floor warms the cache before the cell is scored
    warm_cell, warm_state = bench_vae(profile, tmp_path / "a", tmp_path / "work-a", tiny_mnist_root)
    # the floor is already recorded, so the cell is the first to score, with an empty cache
    floor = Path("repro") / "cells" / "mnist" / "real-data.json"
    (tmp_path / "b" / floor).parent.mkdir(parents=True)
    shutil.copy(tmp_path / "a" / floor, tmp_path / "b" / floor)
    cold_cell, cold_state = bench_vae(profile, tmp_path / "b", tmp_path / "work-b", tiny_mnist_root)
    # scored at other steps, with the warm cache of the first run
    other_cell, other_state = bench_vae(rescheduled, tmp_path / "c", tmp_path / "work-a", tiny_mnist_root)

    assert cold_cell == warm_cell
    assert_same_state(warm_state, cold_state)
    assert_same_state(warm_state, other_state)
    final = [row for row in warm_cell["rows"] if row["step"] == 6]
    assert final and final == [row for row in other_cell["rows"] if row["step"] == 6]
    metrics = {row["metric"] for row in final}
    assert {"fid", "class_entropy", "min_class_share", "out_of_range_share"} <= metrics
    assert "label_accuracy" not in metrics  # the VAE is unconditional
    assert torch.backends.cpu.get_cpu_capability() in final[0]["device_name"]


def test_provenance_names_the_cpu_and_its_capability():
    capability = torch.backends.cpu.get_cpu_capability()
    record = provenance(torch.device("cpu"))
    assert record["machine"]["cpu"] == cpu_model() and record["machine"]["cpu_capability"] == capability
    assert record["machine"]["threads"] == torch.get_num_threads() and record["machine"]["gpu"] is None
    assert f"{cpu_model()} (" in record["device_name"] and f", {capability}, " in record["device_name"]


def test_provenance_names_the_gpu_its_driver_and_cuda_version(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA Test GPU")
    monkeypatch.setattr(torch.version, "cuda", "12.4")
    monkeypatch.setattr(zoo.device, "_run", lambda *command: "550.54.15" if command[0] == "nvidia-smi" else "")
    zoo.device._nvidia_driver.cache_clear()
    try:
        name = describe_device(torch.device("cuda", 0))
        details = zoo.device.machine_details(torch.device("cuda", 0))
    finally:
        zoo.device._nvidia_driver.cache_clear()
    host = f"{cpu_model()}, {torch.backends.cpu.get_cpu_capability()}"
    assert name == f"NVIDIA Test GPU (driver 550.54.15, CUDA 12.4; host {host})"
    assert (details["gpu"], details["gpu_driver"], details["cuda"]) == ("NVIDIA Test GPU", "550.54.15", "12.4")
