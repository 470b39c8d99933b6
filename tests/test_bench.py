"""The benchmark harness end to end on tiny data: profiles, cells, resume, divergence, leaderboards."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import toy_plugin_source, zoo
from zoo.bench import load_profile
from zoo.errors import ZooError
from zoo.fileio import writer_tag
from zoo.report.leaderboard import check_single_protocol, leaderboard
from zoo.results import ResultStore

TINY_HPARAMS = """
[hparams_per_model]
dcgan = { width = 4, latent_dim = 8 }
vae = { width = 4, latent_dim = 4 }
"""


def write_profile(
    folder: Path, name: str = "tiny", *, models_hparams: str = TINY_HPARAMS, seeds: str = "[0, 1]"
) -> Path:
    """A tiny profile beside an ``extractors/`` folder (trained by the ``extractor`` fixture)."""
    path = folder / "profiles" / f"{name}.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        textwrap.dedent(f"""
        description = "tiny test profile"
        datasets = ["mnist"]
        seeds = {seeds}
        batch_size = 8
        steps = 6
        eval_at = [3]

        [[protocols]]
        name = "classifier"
        extractor = "zoo-domain-classifier"
        weights = "../extractors/{{dataset}}-test_resnet.safetensors"
        num_generated = 40
        num_reference = 32
        kid_subset_size = 16
        kid_subsets = 4
        isc_splits = 2
        """)
        + textwrap.dedent(models_hparams)
    )
    return path


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory, tiny_mnist_root) -> Path:
    """A folder with a briefly trained domain classifier for the tiny MNIST, made by ``zoo extractor train``."""
    folder = tmp_path_factory.mktemp("bench")
    result = zoo(
        "extractor",
        "train",
        dataset="mnist",
        arch="test_resnet",
        steps=10,
        batch_size=16,
        data_root=tiny_mnist_root,
        out=folder / "extractors",
        min_accuracy=0,
    )
    assert result.exit_code == 0, result.output
    return folder


def bench(profile: Path, results: Path, data_root: Path, *args: str):
    return zoo("bench", *args, profile=profile, results=results, work_dir=results / "work", data_root=data_root)


@pytest.mark.slow
def test_smoke_profile_runs_end_to_end(bench_dir, tiny_mnist_root, tmp_path):
    profile = write_profile(bench_dir)
    result = bench(profile, tmp_path, tiny_mnist_root, "dcgan", "vae")
    assert result.exit_code == 0, result.output
    store = ResultStore(tmp_path / "tiny")
    rows = store.rows()
    cells = rows[rows["model"] != "real-data"].groupby(["model", "seed"])["step"].agg(sorted).to_dict()
    assert set(cells) == {("dcgan", 0), ("dcgan", 1), ("vae", 0), ("vae", 1)}
    assert all(set(steps) == {3, 6} for steps in cells.values()), "evaluated at the profile's step and the last"
    final = rows[(rows["step"] == 6) & (rows["metric"] == "fid")]
    assert final["value"].notna().all() and (final["value"] > 0).all()
    assert set(rows["protocol_id"]) == {rows["protocol_id"].iloc[0]} and rows["git_commit"].iloc[0]
    assert (rows["plugin"] == "genzoo").all() and rows["torch_version"].iloc[0]
    floor = rows[rows["model"] == "real-data"]
    assert {"fid", "is_mean", "kid_mean", "precision", "recall"} <= set(floor["metric"])

    report = (tmp_path / "tiny" / "leaderboard.md").read_text()
    assert "| real-data" in report and "dcgan" in report and "vae" in report and "zoo bench dcgan vae" in report
    assert (tmp_path / "tiny" / "grids" / "mnist" / "dcgan-s1.png").exists()
    assert pd.read_csv(tmp_path / "tiny" / "results.csv").shape[0] == len(rows)

    printed = zoo("leaderboard", profile="tiny", results=tmp_path, metric="recall")
    assert printed.exit_code == 0 and "real-data" in printed.output

    again = bench(profile, tmp_path, tiny_mnist_root, "dcgan", "vae")
    assert again.output.count("finished earlier, skipped") == 4
    assert len(ResultStore(tmp_path / "tiny").rows()) == len(rows)


DIVERGING = """
    from toy_gan import GANTrainer, ModelSpec, build, hookimpl

    class Diverging(GANTrainer):
        def train_step(self, batch):
            losses = super().train_step(batch)
            self.calls = getattr(self, "calls", 0) + 1
            return {**losses, "loss_g": float("nan")} if self.calls >= 4 else losses

    def build_diverging(image_shape, num_classes, *, latent_dim: int = 8, lr: float = 1e-3):
        toy = build(image_shape, num_classes, latent_dim=latent_dim, lr=lr)
        return Diverging(toy.generator, toy.discriminator, lr=1e-3, betas=(0.5, 0.999), n_critic=2)

    @hookimpl
    def register_models(register):
        register(ModelSpec(name="toy_nan", family="gan", conditional=False, paper="none (a test fixture)",
                           factory=build_diverging, license="MIT"))
"""


@pytest.mark.slow
def test_a_diverging_model_is_recorded_and_the_bench_goes_on(bench_dir, tiny_mnist_root, tmp_path, install_plugin):
    # toy_gan is imported as a library only: its own hook is not an entry point here
    install_plugin("zoo-nan", {"toy_nan": "toy_nan"}, {"toy_gan": toy_plugin_source(), "toy_nan": DIVERGING})
    profile = write_profile(bench_dir, "diverge", seeds="[0]")
    result = bench(profile, tmp_path, tiny_mnist_root, "toy_nan", "vae")
    assert result.exit_code == 0, result.output
    assert "toy_nan on mnist, seed 0: diverged at step 4" in result.output
    assert "vae on mnist, seed 0: ok" in result.output
    rows = ResultStore(tmp_path / "diverge").rows()
    diverged = rows[rows["status"] == "diverged"]
    assert diverged[["model", "step", "images_seen"]].values.tolist() == [["toy_nan", 4, 4 * 2 * 8]], "2 batches a step"
    scored = rows[(rows["model"] == "toy_nan") & (rows["status"] == "ok")]
    assert set(scored["step"]) == {3} and set(scored["images_seen"]) == {3 * 2 * 8}, "scored at step 3, before"
    assert diverged["plugin"].tolist() == ["zoo-nan"]
    report = (tmp_path / "diverge" / "leaderboard.md").read_text()
    assert "| 0 of 1 (1 diverged, at step 4)" in report and "toy_nan on mnist, seed 0: at step 4" in report


def test_leaderboard_refuses_to_mix_protocols():
    rows = pd.DataFrame({"protocol_id": ["aaa", "bbb"], "dataset": ["mnist", "mnist"]})
    with pytest.raises(ZooError, match="refusing to rank results of different protocols together: aaa, bbb"):
        check_single_protocol(rows)


def test_leaderboard_ranks_one_protocol_at_a_time(bench_dir, tiny_mnist_root, tmp_path):
    result = bench(write_profile(bench_dir, "two", seeds="[0]"), tmp_path, tiny_mnist_root, "vae")
    assert result.exit_code == 0, result.output
    rows = ResultStore(tmp_path / "two").rows()
    other = rows.assign(protocol_id="other", value=rows["value"] * 2)
    both = pd.concat([rows, other])
    table = leaderboard(both, dataset="mnist", protocol_id=rows["protocol_id"].iloc[0])
    assert (  # the values of this protocol only (a single model: no bold, it is best of nothing)
        table.loc[table["model"] == "vae", "FID"].item()
        == f"{rows[(rows.model == 'vae') & (rows.metric == 'fid') & (rows.step == 6)]['value'].item():.3g}"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("datasets = [", "is not valid TOML"),
        ('datasets = ["mnist"]\nseeds = [0]\nbatch_size = 8\nsteps = 4\n', "protocols is missing"),
        (
            'datasets = ["mnist"]\nseeds = [0]\nbatch_size = 8\nsteps = 4\nbogus = 1\nprotocols = []',
            "unknown key 'bogus'",
        ),
    ],
)
def test_bad_profiles_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "bad.toml"
    path.write_text(content)
    with pytest.raises(ZooError, match=message):
        load_profile(str(path))
    result = zoo("bench", "dcgan", profile=path)
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.output


def test_unknown_profile_lists_the_known_ones():
    result = zoo("bench", "--all", profile="nope")
    assert result.exit_code == 2 and "unknown profile 'nope'" in result.stderr and "cpu" in result.stderr


def test_a_bench_removes_what_a_killed_bench_was_writing_and_nothing_else(tmp_path):
    """A kill -9 mid-write leaves a writer's temporary file (the file it was replacing stays whole); the next bench
    start removes it, but not a live writer's, nor one of a bench on another machine sharing the folder."""
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    store = ResultStore(tmp_path / "tiny")
    dead = store.root / "cells" / "mnist" / f".dcgan-s0.json.{writer_tag(dead_pid)}.tmp"
    live = store.root / f".results.csv.{writer_tag()}.tmp"
    elsewhere = store.root / f".results.csv.another_host-{dead_pid}.tmp"
    for path in (dead, live, elsewhere):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("half a file")
    assert store.remove_partial_files() == [dead]
    assert not dead.exists() and live.exists() and elsewhere.exists()
