"""Slow, real runs on the official MNIST (``pytest -m slow``). Skipped when MNIST is not on this machine."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.helpers import OFFICIAL_MNIST_ROOT as MNIST_ROOT
from tests.helpers import needs_official_mnist, read_png
from zoo.data import load_split
from zoo.imaging import to_unit_range
from zoo.runs import RunConfig, load_run, train_run


@pytest.mark.slow
@needs_official_mnist
def test_dcgan_learns_mnist_in_a_few_hundred_steps(registry, tmp_path):
    config = RunConfig(model="dcgan", dataset="mnist", steps=400, batch_size=64, seed=0, hparams={})
    result = train_run(registry, config, tmp_path, data_root=MNIST_ROOT, device="cpu", progress=False)

    losses_d = [row["loss_d"] for row in result.history]
    assert all(math.isfinite(row["loss_d"]) and math.isfinite(row["loss_g"]) for row in result.history)
    # D stays better than chance (log 4 is the loss of a D that cannot tell real from fake) ...
    assert sum(losses_d[-3:]) / 3 < math.log(4)
    # ... while G has moved from noise to MNIST-like images: mostly black background, like the data.
    real, _ = load_split(registry.datasets["mnist"], "test", root=MNIST_ROOT, limit=1000)
    real = to_unit_range(real)
    generator, config = load_run(tmp_path, device="cpu")
    assert config["steps"] == 400
    samples = generator.sample(1000, generator=torch.Generator().manual_seed(0))
    assert abs(samples.mean() - real.mean()) < 0.15
    assert (samples < -0.9).float().mean() > 0.5

    grid = read_png(tmp_path / "samples.png")
    assert grid.shape == (3, 8 * 30 + 2, 8 * 30 + 2)
    assert json.loads((tmp_path / "summary.json").read_text())["step"] == 400
