"""Slow, real runs on the official MNIST (``pytest -m slow``). Skipped when MNIST is not on this machine."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.helpers import OFFICIAL_MNIST_ROOT as MNIST_ROOT
from tests.helpers import needs_official_mnist, read_png, zoo
from zoo.data import load_split
from zoo.imaging import to_unit_range
from zoo.runs import load_run


@pytest.mark.slow
@needs_official_mnist
def test_dcgan_learns_mnist_and_zoo_train_scores_it_at_its_eval_steps(registry, tmp_path):
    run = tmp_path / "dcgan"
    result = zoo(
        "train", "dcgan", "--dataset", "mnist", "--steps", 200, "--eval-at", "100,200",
        "--data-root", MNIST_ROOT, "--device", "cpu", "--out", run, "--work-dir", tmp_path / "work",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    summary = json.loads((run / "summary.json").read_text())
    fid = {m["step"]: m["value"] for m in summary["metrics"] if m["metric"] == "fid"}
    assert sorted(fid) == [100, 200] and all(math.isfinite(v) for v in fid.values())
    assert f"classifier-10k fid: {fid[200]:.4g}" in result.output  # printed as stored
    metrics = {m["metric"] for m in summary["metrics"]}
    assert {"fid", "kid_mean", "precision", "recall", "class_entropy", "out_of_range_share"} <= metrics
    assert fid[200] < fid[100]  # 100 more steps of DCGAN on MNIST still improve it

    history = summary["history"]
    assert all(math.isfinite(row["loss_d"]) and math.isfinite(row["loss_g"]) for row in history)
    # G has moved from noise (mean about 0) to MNIST-like brightness: a dark background, like the data.
    real, _ = load_split(registry.datasets["mnist"], "test", root=MNIST_ROOT, limit=1000)
    generator, config = load_run(run, device="cpu")
    assert config["steps"] == 200
    samples = generator.sample(1000, generator=torch.Generator().manual_seed(0))
    assert abs(samples.mean() - to_unit_range(real).mean()) < 0.15
    assert read_png(run / "samples.png").shape == (3, 8 * 30 + 2, 8 * 30 + 2)
