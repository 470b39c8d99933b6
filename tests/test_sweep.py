"""Hyperparameter sweeps: search spaces checked at registration, seeded draws that are the same everywhere, trials
as ordinary bench cells, the sweep view of the report, and from the sweep to a run."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import smoke_profile, zoo
from tests.test_plugins import guide_block
from zoo.bench import stacking
from zoo.bench.jobs import Job
from zoo.conformance import CHECKS, Probe, check_search_space
from zoo.errors import PluginError
from zoo.hparams import signature_hparams
from zoo.plugins import ZooPluginWarning, load_registry
from zoo.report import write_report
from zoo.report.sweep import best_cell, best_of_k, read_sweeps
from zoo.results import REAL_DATA, Cell, ResultStore, Row
from zoo.search_space import Choice, IntRange, LogUniform, TupleOf, Uniform, check_space, corners, draw

SWEPT = guide_block("DCGAN with a search space")
"""The plugin with a search space of CONTRIBUTING.md."""


def factory(image_shape, num_classes, *, lr: float = 1e-3, width: int = 8, betas: tuple[float, float] = (0.5, 0.9)):
    raise NotImplementedError


def test_the_same_sweep_seed_draws_the_same_settings_in_any_process(registry):
    """Every built-in's settings, drawn here and in a fresh interpreter with another string hash seed, are equal; a
    value depends only on its own range (not on the space's other entries nor on how many trials are drawn)."""
    code = (
        "import json; from zoo.plugins import load_registry; from zoo.search_space import draw; r = load_registry(); "
        "print(json.dumps({m: [draw(r.models[m].search_space, model=m, sweep_seed=7, trial=t) for t in range(8)] "
        "for m in sorted(r.models)}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    there = json.loads(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True).stdout)
    here = {m: [draw(registry.models[m].search_space, model=m, sweep_seed=7, trial=t) for t in range(8)] for m in there}
    assert json.loads(json.dumps(here)) == there
    assert all(settings[0] == {} for settings in here.values()), "trial 0 is the model's defaults"
    space = registry.models["wgan_gp"].search_space
    assert draw(space, model="wgan_gp", sweep_seed=8, trial=3) != draw(space, model="wgan_gp", sweep_seed=7, trial=3)
    alone = draw({"lr": space["lr"]}, model="wgan_gp", sweep_seed=7, trial=3)
    assert alone == {"lr": here["wgan_gp"][3]["lr"]}
    # numpy's PCG64 stream, mapped by zoo: a change of either would change every sweep's settings
    assert draw({"lr": LogUniform(1e-5, 1e-2)}, model="dcgan", sweep_seed=0, trial=1) == {"lr": 5.66e-05}


def test_draws_stay_in_their_ranges_with_three_significant_digits():
    space = {
        "lr": LogUniform(1e-5, 1e-2),
        "gp": Uniform(-1.0, 1.0),
        "width": IntRange(3, 5),
        "loss": Choice(["hinge", "minimax"]),
        "betas": TupleOf(Uniform(0.0, 0.99), 0.999),
    }
    drawn = [draw(space, model="m", sweep_seed=0, trial=t) for t in range(1, 300)]
    assert all(1e-5 <= d["lr"] <= 1e-2 and -1 <= d["gp"] <= 1 and d["betas"][1] == 0.999 for d in drawn)
    assert {d["width"] for d in drawn} == {3, 4, 5} and {d["loss"] for d in drawn} == {"hinge", "minimax"}
    assert all(float(f"{d['lr']:.3g}") == d["lr"] and isinstance(d["width"], int) for d in drawn)
    lrs = np.log10([d["lr"] for d in drawn])
    assert np.histogram(lrs, bins=3, range=(-5, -2))[0].min() > 60, "each decade about as likely"
    assert corners(space) == [
        {"lr": 1e-5, "gp": -1.0, "width": 3, "loss": "hinge", "betas": (0.0, 0.999)},
        {"lr": 1e-2, "gp": 1.0, "width": 5, "loss": "minimax", "betas": (0.99, 0.999)},
    ]


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"momentum": Uniform(0.0, 1.0)}, "the factory has no hyperparameter 'momentum'; it has: lr, width, betas"),
        ({"width": Uniform(8.0, 64.0)}, r"search_space\['width'\]: 8.0 becomes 8 as the hyperparameter's type"),
        ({"width": Choice(["wide"])}, r"search_space\['width'\]: 'wide' does not fit the hyperparameter"),
        ({"lr": LogUniform(1e-2, 1e-5)}, r"LogUniform\(low=0.01, high=1e-05\) is empty"),
        ({"lr": LogUniform(0.0, 1e-2)}, "0 < low < high"),
        ({"width": IntRange(64, 8)}, "is empty or not whole numbers"),
        ({"width": Choice([])}, r"Choice\(\[\]\) is empty"),
        ({"lr": 1e-3}, r"search_space\['lr'\] is a float, not a range"),
        ({"betas": TupleOf(Uniform(0.0, 1.0))}, "does not fit the hyperparameter"),
    ],
)
def test_a_search_space_that_does_not_fit_the_factory_is_a_one_line_error_naming_the_model(space, message):
    with pytest.raises(PluginError, match=message) as raised:
        check_space("toy", space, signature_hparams(factory))
    assert str(raised.value).startswith("model 'toy': search_space[") and "\n" not in str(raised.value)


def test_a_plugin_with_a_bad_search_space_is_skipped_with_a_warning(install_plugin):
    source = SWEPT.replace('"n_critic": Choice([1, 2, 5])', '"n_critic": Uniform(1.0, 5.0)')
    install_plugin("zoo-bad-space", {"bad_space": "toy_bad_space"}, {"toy_bad_space": source})
    with pytest.warns(ZooPluginWarning, match=r"model 'swept_gan': search_space\['n_critic'\]: 1.0 becomes 1"):
        registry = load_registry()
    assert "swept_gan" not in registry.models


def test_the_conformance_kit_builds_the_corners_of_a_search_space(install_plugin):
    install_plugin("zoo-swept", {"swept": "toy_swept"}, {"toy_swept": SWEPT})
    spec = load_registry().models["swept_gan"]
    for check in CHECKS.values():
        check(spec, Probe((1, 28, 28), 10))
    too_wide = {**spec.search_space, "latent_dim": Choice([8, -1])}  # a negative size builds nothing
    with pytest.raises(AssertionError, match=r"at the search space's corner \{.*'latent_dim': -1"):
        check_search_space(dataclasses.replace(spec, search_space=too_wide), Probe((1, 28, 28), 10))


def test_cells_of_a_sweep_have_names_no_model_can_take():
    assert Cell("dcgan", "mnist", 0, 3).name == "dcgan~t3-s0" and Cell("dcgan", "mnist", 0).name == "dcgan-s0"
    assert str(Cell("dcgan", "mnist", 0, 3)) == "dcgan on mnist, trial 3, seed 0"
    with pytest.raises(ValueError, match="only the real-data floor has no seed"):
        Cell(REAL_DATA, "mnist", None, 0)
    assert Cell.of({"model": "vae", "dataset": "mnist", "seed": 1}) == Cell("vae", "mnist", 1)  # an old record


def test_a_sweep_through_local_processes_is_ordinary_cells_from_bench_to_report_to_run(
    install_plugin, tiny_mnist_root, tmp_path
):
    install_plugin("zoo-swept", {"swept": "toy_swept"}, {"toy_swept": SWEPT})
    profile = smoke_profile(tmp_path, sweep="{ trials = 2, seed = 5 }")
    args = ["swept_gan", "vae", "--workers", "2", "--data-root", str(tiny_mnist_root)]
    options = dict(profile=profile, results=tmp_path, work_dir=tmp_path / "work")
    result = zoo("bench", *args, **options)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "tiny"
    cells = sorted(p.stem for p in (folder / "cells" / "mnist").glob("*.json"))
    assert cells == ["real-data", "swept_gan~t0-s0", "swept_gan~t1-s0", "vae~t0-s0", "vae~t1-s0"]
    rows = ResultStore(folder).rows()
    settings = {(r.model, int(r.trial)): json.loads(r.hparams) for r in rows[rows["trial"].notna()].itertuples()}
    registry = load_registry()
    drawn = draw(registry.models["swept_gan"].search_space, model="swept_gan", sweep_seed=5, trial=1)
    assert settings["swept_gan", 0] == {"latent_dim": 8, "width": 4, "lr": 2e-4, "betas": [0.5, 0.999], "n_critic": 1}
    assert settings["swept_gan", 1] == {
        "latent_dim": 8, "width": 4, "lr": drawn["lr"], "betas": list(drawn["betas"]), "n_critic": drawn["n_critic"]
    }, "drawn over the defaults, the tiny width kept"  # fmt: skip
    assert settings["vae", 1]["latent_dim"] == 4, "a tiny profile pins the tiny hyperparameters"
    assert (
        settings["vae", 1]["lr"] == draw(registry.models["vae"].search_space, model="vae", sweep_seed=5, trial=1)["lr"]
    )

    report = (folder / "leaderboard.md").read_text()
    assert "## Sweep: mnist — protocol `classifier-smoke`" in report and "## mnist — protocol" not in report
    assert (folder / "plots" / "mnist" / f"sweep-{rows['protocol_id'].iloc[0]}.png").is_file()
    assert "Sweep: mnist" in (folder / "leaderboard.html").read_text()

    more = zoo("bench", *args, "--trials", "3", **options)
    assert more.exit_code == 0, more.output
    assert (
        more.output.count("finished earlier, skipped") == 4 and "swept_gan on mnist, trial 2, seed 0: ok" in more.output
    )

    best = best_cell(folder, "swept_gan", "mnist")
    trained = zoo("train", "swept_gan", "--no-eval", dataset="mnist", steps=2, batch_size=4, data_root=tiny_mnist_root,
                  out=tmp_path / "run", hparams_from=folder)  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert f"hyperparameters of {best.cell} in {folder}, the best of 3" in trained.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["hparams"] == best.hparams

    dropped = zoo("results", "drop", "swept_gan", profile="tiny", results=tmp_path)
    assert dropped.exit_code == 0, dropped.output
    assert sorted(p.stem for p in (folder / "cells" / "mnist").glob("*.json")) == [
        "real-data",
        "vae~t0-s0",
        "vae~t1-s0",
        "vae~t2-s0",
    ]
    assert not list((folder / "grids" / "mnist").glob("swept_gan*"))


def test_seeds_stack_within_a_trial_only():
    """``--stack-seeds``: a stack's members share every hyperparameter, so a sweep's trials never stack together."""
    jobs = [
        Job(Cell("dcgan", "mnist", seed, trial), None, {stacking.KEY: 3}, None, "cpu", 1, 1, "work")
        for trial in (0, 1)
        for seed in (0, 1)
    ]
    stacks = stacking.stacked(jobs)
    assert [[m.cell.name for m in job.members] for job in stacks] == [
        ["dcgan~t0-s0", "dcgan~t0-s1"],
        ["dcgan~t1-s0", "dcgan~t1-s1"],
    ]


def test_sweep_seed_needs_a_sweep(tmp_path):
    result = zoo("bench", "vae", "--sweep-seed", "3", profile="smoke", results=tmp_path)
    assert result.exit_code == 2 and "--sweep-seed is for a sweep: add --trials K" in result.output


BASE = dict(
    plugin="genzoo", plugin_version="0.1.0", dataset="mnist", protocol="toy-protocol", protocol_id="p1", reason="",
    images_per_second=100.0, eval_seconds=1.0, params_generator=1000, params_total=2000, device="cpu",
    device_name="cpu (test)", torch_version="2.14.1", zoo_version="0.1.0", git_commit="abc123", train_seconds=1.0,
)  # fmt: skip


def trial_cell(store: ResultStore, model: str, trial: int | None, fid: float | None, lr: float, seed: int = 0) -> None:
    """A cell evaluated at steps 5 (FID twice ``fid``) and 10 (``fid``), or diverged at step 7 (``fid`` None)."""
    seed_or_none = None if model == REAL_DATA else seed
    common = dict(BASE, model=model, seed=seed_or_none, trial=trial, hparams=json.dumps({"lr": lr, "width": 8}))
    if fid is not None:
        steps = [0] if model == REAL_DATA else [5, 10]
        rows = [Row(**common, step=s, images_seen=s, metric="fid", value=fid * (1 if s in (0, 10) else 2), status="ok")
                for s in steps]  # fmt: skip
    else:
        rows = [Row(**common, step=5, images_seen=5, metric="fid", value=99.0, status="ok"),
                Row(**{**common, "protocol": "", "protocol_id": ""}, step=7, images_seen=7, metric="diverged",
                    value=None, status="diverged")]  # fmt: skip
    if model.startswith("conditional"):  # a conditional model's rows hold its label accuracy
        rows.append(Row(**common, step=10, images_seen=10, metric="label_accuracy", value=0.99, status="ok"))
    store.write_cell(Cell(model, "mnist", seed_or_none, trial), {}, rows, {"p1": {"extractor": "x"}})


def test_the_sweep_view_ranks_best_median_and_failures_with_the_bold_rule(tmp_path):
    store = ResultStore(tmp_path)
    trial_cell(store, REAL_DATA, None, 2.0, 0.0)
    for trial, (fid, lr) in enumerate([(10.0, 2e-4), (12.0, 1e-3), (30.0, 1e-2), (None, 3e-2)]):
        trial_cell(store, "alpha", trial, fid, lr)
    for trial, (fid, lr) in enumerate([(11.0, 2e-4), (50.0, 1e-4), (60.0, 1e-5)]):
        trial_cell(store, "beta", trial, fid, lr)
    store.write_failure(Cell("beta", "mnist", 0, 3), {"run": {"hparams": {"lr": 0.5, "width": 8}}}, "error", "boom")
    trial_cell(store, "gamma", None, 40.0, 2e-4)  # an ordinary cell: the main leaderboard's, not the sweep's
    trial_cell(store, "conditional_gan", 0, 3.0, 2e-4)  # the best FID, but given each sample's class
    (board,) = read_sweeps(tmp_path)
    table = board.table.set_index("model")
    assert table.loc[REAL_DATA, "best FID"] == "2"
    assert table.loc["alpha"].to_dict() == {
        "trials": "4", "best FID": "**10**", "median FID": "**12**", "IQR": "11–21",
        "diverged or failed": "1 of 4 (25%)", "at defaults (trial 0)": "10", "best trial": "t0",
        "best setting": "--hparam lr=0.0002",
    }  # fmt: skip
    assert table.loc["beta", "diverged or failed"] == "1 of 4 (25%)" and table.loc["beta", "median FID"] == "50"
    assert list(table.index) == [REAL_DATA, "alpha", "beta", "conditional_gan"], "by best FID; conditional last"
    assert table.loc["conditional_gan", "best FID"] == "3", "never bold"

    trial_cell(store, "beta", 4, 10.04, 3e-4)  # a tie at the precision shown: no bold for the best FID
    table = read_sweeps(tmp_path)[0].table.set_index("model")
    assert table.loc["alpha", "best FID"] == "10" and table.loc["beta", "best FID"] == "10"
    assert table.loc["beta", "best setting"] == "--hparam lr=0.0003"

    write_report(tmp_path)
    report = (tmp_path / "leaderboard.md").read_text()
    assert "## Sweep: mnist — protocol `toy-protocol` (id `p1`)" in report
    assert "## mnist — protocol `toy-protocol`" in report and "| gamma" in report, "the ordinary cell is ranked"
    main = report.split("## mnist — protocol")[1].split("## Sweep")[0]
    assert "alpha" not in main and "beta" not in main
    assert (tmp_path / "plots" / "mnist" / "sweep-p1.png").is_file()
    assert "beta on mnist, trial 3, seed 0: error" in report
    assert best_cell(tmp_path, "beta", "mnist").cell == "beta~t4-s0"
    assert best_cell(tmp_path, "gamma", "mnist").hparams == {"lr": 2e-4, "width": 8}


def test_best_of_k_is_the_bootstrap_without_its_noise():
    scores = [3.0, 1.0, 7.0, 4.0]
    assert best_of_k(scores, 1)[0] == pytest.approx(np.mean(scores))
    assert best_of_k(scores, 200)[0] == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    sampled = rng.choice(scores, size=(200_000, 3)).min(axis=1)
    expected, q25, q75 = best_of_k(scores, 3)
    assert expected == pytest.approx(sampled.mean(), rel=0.01)
    assert (q25, q75) == (
        np.percentile(sampled, 25, method="inverted_cdf"),
        np.percentile(sampled, 75, method="inverted_cdf"),
    )


def test_the_built_in_spaces_say_where_their_ranges_come_from():
    source = (Path(__file__).resolve().parents[1] / "plugins" / "genzoo_plugins" / "search_ranges.py").read_text()
    assert "Lucic et al. 2018" in source and "google/compare_gan" in source
    registry = load_registry()
    for model in registry.models:
        assert registry.models[model].search_space, f"{model} declares no search space"
