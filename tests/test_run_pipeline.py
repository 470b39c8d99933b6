"""The run is the unit: ``zoo train`` and a bench cell are one pipeline, every bench row names a run folder that
opens with ``zoo.load_run``, ``zoo score`` gives the bench's numbers, ``zoo export`` writes a Hub-layout folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import torch

from tests.helpers import smoke_profile, write_image_folder, zoo
from zoo.runs import load_run

TINY_DCGAN = ("--hparam", "width=4", "--hparam", "latent_dim=8")


@pytest.fixture(scope="module")
def benched(tmp_path_factory, tiny_mnist_root) -> Path:
    """A smoke bench of DCGAN (one seed) on the tiny MNIST: ``results/`` and ``work/`` under the returned folder."""
    folder = tmp_path_factory.mktemp("benched")
    profile = smoke_profile(folder)
    result = zoo(
        "bench", "dcgan", profile=profile, results=folder / "results", work_dir=folder / "work",
        data_root=tiny_mnist_root,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return folder


def final_rows(folder: Path) -> pd.DataFrame:
    rows = pd.read_csv(folder / "results" / "tiny" / "results.csv")
    rows = rows[rows["model"] == "dcgan"]
    return rows[rows["step"] == rows["step"].max()]


def test_zoo_train_scores_at_its_eval_steps_what_a_bench_row_holds(tiny_mnist_root, tmp_path):
    result = zoo(
        "train", "dcgan", "--dataset", "mnist", "--steps", 4, "--batch-size", 8, "--eval-at", "2", *TINY_DCGAN,
        profile=smoke_profile(tmp_path), data_root=tiny_mnist_root, out=tmp_path / "run", work_dir=tmp_path / "work",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "summary.json").read_text())["metrics"]
    assert {m["step"] for m in metrics} == {2, 4}
    fid = next(m for m in metrics if m["step"] == 4 and m["metric"] == "fid")
    assert fid["protocol"] == "classifier-smoke" and math.isfinite(fid["value"])
    assert f"classifier-smoke fid: {fid['value']:.4g}" in result.output
    columns = {"protocol_id", "images_seen", "train_seconds", "images_per_second", "eval_seconds", "status", "reason"}
    assert columns <= set(fid)


def test_zoo_train_eval_at_past_the_budget_is_a_usage_error(tiny_mnist_root, tmp_path):
    result = zoo("train", "dcgan", "--dataset", "mnist", "--steps", 4, "--eval-at", "9", data_root=tiny_mnist_root)
    assert result.exit_code == 2 and "--eval-at 9 is past --steps 4" in result.output


def test_every_bench_row_names_its_run_folder_and_it_opens_with_load_run(benched):
    rows = final_rows(benched)
    assert set(rows["run"]) == {"runs/mnist/dcgan-s0"}
    board = (benched / "results" / "tiny" / "leaderboard.md").read_text()
    assert "under the bench's work folder" in board and "`runs/mnist/dcgan-s0`" in board
    run = benched / "work" / "tiny" / rows["run"].iloc[0]
    generator, config = load_run(run, device="cpu")
    assert config["model"] == "dcgan" and config["steps"] == rows["step"].iloc[0]
    assert generator.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, 1, 28, 28)
    metrics = json.loads((run / "summary.json").read_text())["metrics"]
    stored = {(m["protocol"], m["metric"]): m["value"] for m in metrics if m["step"] == config["steps"]}
    assert stored == {(r.protocol, r.metric): (None if pd.isna(r.value) else r.value) for r in rows.itertuples()}


def test_zoo_score_of_a_bench_run_gives_the_bench_numbers(benched, tiny_mnist_root):
    run = benched / "work" / "tiny" / "runs" / "mnist" / "dcgan-s0"
    result = zoo(
        "score", run, "--json", profile=benched / "tiny.toml", work_dir=benched / "fresh-work",
        data_root=tiny_mnist_root,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    scored = json.loads(result.stdout)
    assert scored["dataset"] == "mnist" and scored["profile"] == "tiny"
    got = {(s["protocol"], s["metric"]): s["value"] for s in scored["scores"]}
    bench = {(r.protocol, r.metric): (None if pd.isna(r.value) else r.value) for r in final_rows(benched).itertuples()}
    assert got == bench  # the same numbers, bit for bit, with a cold reference cache


def test_zoo_export_writes_a_hub_folder_that_reloads_to_identical_samples(benched, tmp_path):
    run = benched / "work" / "tiny" / "runs" / "mnist" / "dcgan-s0"
    result = zoo("export", run, tmp_path / "hub", "--results", benched / "results" / "tiny" / "results.csv")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "hub").iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = (tmp_path / "hub" / "README.md").read_text()
    assert card.startswith("---\nlibrary_name: genzoo\n") and "Radford" in card and "| classifier-smoke" in card
    assert "(1 seeds)" in card
    draws = [load_run(path, device="cpu")[0].sample(8, generator=torch.Generator().manual_seed(3))
             for path in (run, tmp_path / "hub")]  # fmt: skip
    assert torch.equal(*draws)


def test_zoo_score_of_a_folder_of_images(benched, tiny_mnist_root, tmp_path):
    folder = write_image_folder(tmp_path / "images", per_class=70)
    args = ("score", folder, "--dataset", "mnist", "--json")
    options = dict(profile=benched / "tiny.toml", work_dir=benched / "work", data_root=tiny_mnist_root)
    result = zoo(*args, **options)
    assert result.exit_code == 0, result.output
    fid = next(s for s in json.loads(result.stdout)["scores"] if s["metric"] == "fid")
    assert math.isfinite(fid["value"]) and fid["value"] > 0

    few = write_image_folder(tmp_path / "few", per_class=10)
    refused = zoo("score", few, "--dataset", "mnist", **options)
    assert refused.exit_code == 2 and "has 10 readable images; protocol 'classifier-smoke' scores 64" in refused.output
    no_dataset = zoo("score", folder, **options)
    assert no_dataset.exit_code == 2 and "--dataset" in no_dataset.output


def test_a_model_with_latent_codes_gets_traversal_grids_in_its_run_and_in_the_report(tiny_mnist_root, tmp_path):
    result = zoo(
        "bench", "infogan", profile=smoke_profile(tmp_path), results=tmp_path / "results", work_dir=tmp_path / "work",
        data_root=tiny_mnist_root,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = tmp_path / "work" / "tiny" / "runs" / "mnist" / "infogan-s0"
    assert sorted(p.name for p in run.glob("traversal-*.png")) == ["traversal-c1.png", "traversal-c2.png",
                                                                   "traversal-c3.png"]  # fmt: skip
    kept = tmp_path / "results" / "tiny" / "traversals" / "mnist"
    assert (kept / "infogan-s0-c1.png").read_bytes() == (run / "traversal-c1.png").read_bytes()
    board = (tmp_path / "results" / "tiny" / "leaderboard.md").read_text()
    assert (
        "## Latent traversals" in board and "![infogan, seed 0: code c1](traversals/mnist/infogan-s0-c1.png)" in board
    )
    assert "code_accuracy" in (tmp_path / "results" / "tiny" / "results.csv").read_text()

    dropped = zoo("results", "drop", "infogan", profile="tiny", results=tmp_path / "results")
    assert dropped.exit_code == 0, dropped.output
    assert (
        not list(kept.glob("*.png"))
        and "Latent traversals" not in (tmp_path / "results" / "tiny" / "leaderboard.md").read_text()
    )
