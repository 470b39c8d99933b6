"""The report of a results folder: leaderboard columns and warnings, the bold rule, plugin provenance, the
budget rule, figures and the HTML page written beside leaderboard.md, and dropping a model's results.

Every folder here is written by the test itself, cell by cell, through the store (no training)."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from tests.browser import chromium, needs_chromium, probed
from tests.helpers import read_png, zoo
from zoo.bench import load_profile
from zoo.cli import main
from zoo.imaging import save_grid
from zoo.interfaces import Generator
from zoo.report import HTML, MARKDOWN, PLOTS, write_report
from zoo.report.html import PNG_SIGNATURE
from zoo.report.leaderboard import BOLD_RULE, leaderboard, warnings_of
from zoo.report.writer import CONDITIONAL, UNCONDITIONAL
from zoo.results import REAL_DATA, Cell, ResultStore, Row, neighbours_path, record_invocation
from zoo.runs import sample_images, save_samples

BASE = dict(
    plugin="genzoo", plugin_version="0.1.0", dataset="mnist", protocol="toy-protocol", protocol_id="p1", status="ok",
    reason="", images_per_second=100.0, eval_seconds=1.0, params_generator=1000, params_total=2000, device="cpu",
    device_name="cpu (test)", torch_version="2.14.1", zoo_version="0.1.0", git_commit="abc123",
)  # fmt: skip
STEPS = (50, 100)


def cell_rows(model: str, seed: int | None, metrics: dict[str, float], **fields: object) -> list[Row]:
    """A cell evaluated at :data:`STEPS`: ``metrics`` at the last step (FID twice as high at the first one),
    ``seconds_per_step`` (default 0.1) of training per step."""
    per_step = float(fields.pop("seconds_per_step", 0.1))  # type: ignore[arg-type]
    steps = (0,) if model == REAL_DATA else STEPS
    return [
        Row(
            **{
                **BASE,
                "model": model,
                "seed": seed,
                "step": step,
                "images_seen": step * 16,
                "train_seconds": step * per_step,
                "metric": metric,
                "value": value * (2 if metric == "fid" and step < 100 else 1),
                **fields,
            }
        )  # fmt: skip
        for step in steps
        for metric, value in metrics.items()
    ]


def write_cell(root: Path, model: str, seed: int | None, metrics: dict[str, float], **fields: object) -> None:
    rows = cell_rows(model, seed, metrics, **fields)
    protocols = {"p1": {"name": "toy-protocol", "num_generated": 64, "reference_class_counts": [100] * 10}}
    ResultStore(root).write_cell(Cell(model, rows[0].dataset, seed), {}, rows, protocols)
    if model != REAL_DATA:
        save_grid(torch.zeros(4, 1, 8, 8), root / "grids" / rows[0].dataset / f"{model}-s{seed}.png")


def class_shares(dropped: tuple[int, ...] = ()) -> dict[str, float]:
    """``class_share_<k>`` of ten classes: the ``dropped`` ones at 0.5% of the samples, the others sharing the rest."""
    rest = (1 - 0.005 * len(dropped)) / (10 - len(dropped))
    return {f"class_share_{k}": 0.005 if k in dropped else rest for k in range(10)}


HEALTHY = {"class_entropy": 0.99, "min_class_share": 0.09, **class_shares()}


@pytest.fixture
def results(tmp_path) -> Path:
    """A results folder (ten classes, as many of each in the reference): the floor; cgan, conditional, clearly
    best by FID but ignoring its labels in seed 2; dcgan, the best unconditional model; vanilla_gan missing classes
    3 and 7 in seeds 0 and 1 (collapsed there); every model at precision 0; recalls within each other's spread."""
    root = tmp_path / "toy"
    write_cell(root, REAL_DATA, None, {"fid": 0.1, "precision": 0.9, "recall": 0.9, **HEALTHY})
    for seed in range(3):
        write_cell(root, "cgan", seed, {"fid": 5 + 0.1 * seed, "precision": 0.0, "recall": 0.75 + 0.02 * seed,
                   **HEALTHY, "label_accuracy": [0.97, 0.96, 0.90][seed]}, seconds_per_step=0.3)  # fmt: skip
        write_cell(root, "dcgan", seed, {"fid": 10 + seed, "precision": 0.0, "recall": 0.7 + 0.05 * seed, **HEALTHY})
        dropped = (3, 7) if seed < 2 else ()
        collapsed = {"class_entropy": 0.6, "min_class_share": [0.005, 0.005, 0.06][seed], **class_shares(dropped)}
        write_cell(root, "vanilla_gan", seed, {"fid": 50 + seed, "precision": 0.0, "recall": 0.72 + 0.04 * seed,
                   **collapsed}, seconds_per_step=0.05)  # fmt: skip
    return root


def frame_of(root: Path) -> pd.DataFrame:
    return ResultStore(root).rows()


@pytest.mark.parametrize(
    ("module", "apart_from"),
    [("zoo.report", ("zoo.bench",)), ("zoo.results", ("zoo.bench", "zoo.report"))],
)
@pytest.mark.slow
def test_the_report_and_the_results_format_import_nothing_of_the_bench(module, apart_from):
    """The report reads the results folder only, and the folder's format belongs to neither its writer nor its
    reader: importing them, in a fresh interpreter, leaves the others unimported."""
    code = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    imported = loaded.stdout.split()
    assert module in imported
    assert [m for m in imported if any(m == p or m.startswith(f"{p}.") for p in apart_from)] == []


def test_leaderboard_shows_the_new_metrics_and_flags_collapse_and_label_accuracy_plainly(results):
    where = {"dataset": "mnist", "protocol_id": "p1", "reference_counts": [100] * 10}
    table = leaderboard(frame_of(results), **where).set_index("model")
    assert {"class entropy", "min class share"} <= set(table.columns) and "label accuracy" not in table.columns
    assert table.loc["vanilla_gan", "warnings"] == "collapsed (2/3 seeds); classes 3 and 7 missing (2/3 seeds)"
    assert table.loc["dcgan", "warnings"] == "" and "cgan" not in table.index
    assert table.loc["vanilla_gan", "min class share"] == "0.0233 ± 0.032"
    conditional = leaderboard(frame_of(results), **where, conditional=True).set_index("model")
    assert conditional.loc["cgan", "warnings"] == "label accuracy < 95% (1/3 seeds)"
    sentences = warnings_of(frame_of(results), **where)
    assert sentences == [
        "cgan ignores its labels too often: label accuracy under 95% in 1 of 3 seeds (2) (label accuracy 0.943 ± "
        "0.038)",
        "vanilla_gan collapsed in 2 of 3 seeds (0, 1): 2 or more classes missing in seeds 0 and 1 (classes 3 and 7)",
        "vanilla_gan misses class 3 in seeds 0 and 1 (0.5% of its samples against 10.0% of the reference images) "
        "and class 7 in seeds 0 and 1 (0.5% of its samples against 10.0% of the reference images)",
    ]
    assert table.loc["dcgan", ["steps", "images seen", "train s"]].tolist() == ["100", "1,600", "10"]


def test_no_warnings_column_without_the_mode_coverage_metrics(tmp_path):
    write_cell(tmp_path, "dcgan", 0, {"fid": 10.0})
    table = leaderboard(frame_of(tmp_path), dataset="mnist", protocol_id="p1")
    assert "warnings" not in table.columns and "class entropy" not in table.columns


def test_the_leaderboard_says_which_plugin_release_made_each_model(results):
    write_cell(results, "dcgan", 3, {"fid": 11.0}, plugin_version="0.2.0")
    write_cell(results, "lsgan", 0, {"fid": 20.0}, plugin="zoo-lsgan", plugin_version="1.3")
    table = leaderboard(frame_of(results), dataset="mnist", protocol_id="p1").set_index("model")
    assert table.loc["lsgan", "plugin"] == "zoo-lsgan 1.3"
    assert table.loc["dcgan", "plugin"] == "genzoo 0.1.0, genzoo 0.2.0"
    assert table.loc["vanilla_gan", "plugin"] == "genzoo 0.1.0"


def board(values: dict[str, list[float]], metric: str) -> pd.Series:
    """The ``metric`` column of a leaderboard of models with one value per seed."""
    rows = [r for model, seeds in values.items() for s, v in enumerate(seeds) for r in cell_rows(model, s, {metric: v})]
    frame = pd.DataFrame([dataclasses.asdict(r) for r in rows])
    return leaderboard(frame, dataset="mnist", protocol_id="p1").set_index("model").iloc[:, 0]


@pytest.mark.parametrize(
    ("metric", "values", "bold"),
    [
        ("precision", {"a": [0.0, 0.0], "b": [0.0, 0.0], "c": [0.0, 0.0]}, None),  # a tie at 0: nobody
        ("precision", {"a": [0.50001], "b": [0.50002]}, None),  # tied at the precision shown
        ("recall", {"a": [0.65, 0.75], "b": [0.6, 0.7]}, None),  # 0.7 ± 0.071 overlaps 0.65 ± 0.071
        ("recall", {"a": [0.89, 0.91], "b": [0.49, 0.51]}, "a"),  # clear of the runner-up
        ("recall", {"a": [0.9], "b": [0.5], "c": [0.9]}, None),  # best tied with another, one seed
        ("recall", {"a": [0.9], "b": [0.5]}, "a"),  # one seed each, distinct
        ("fid", {"a": [5.0, 5.2], "b": [10.0, 10.4]}, "a"),  # lower is better
        ("fid", {"a": [5.0, 5.2]}, None),  # a single model is best of nothing
    ],
)
def test_bold_marks_only_a_best_value_clear_of_the_runner_up(metric, values, bold):
    column = board(values, metric)
    assert [m for m, text in column.items() if text.startswith("**")] == ([bold] if bold else [])


def test_the_report_states_the_bold_rule_the_budget_rule_and_the_measured_budgets(results, tmp_path):
    profile = tmp_path / "toy.toml"
    profile.write_text(
        textwrap.dedent("""
        description = "toy models, 3 seeds"
        budget = "equal training time per model (±25%): steps from measured per-step costs"
        datasets = ["mnist"]
        seeds = [0, 1, 2]
        batch_size = 16
        steps = 100
        [[protocols]]
        name = "toy-protocol"
        extractor = "zoo-domain-classifier"
        weights = "w.safetensors"
        num_generated = 2000
        num_reference = 2000
    """)
    )
    record_invocation(results, invocation(load_profile(str(profile)).record()))
    text = (write_report(results)).read_text()
    assert BOLD_RULE in text and "several models at precision 0" in BOLD_RULE
    assert "Budget rule: equal training time per model (±25%): steps from measured per-step costs." in text
    assert "Profile toy: toy models, 3 seeds." in text
    assert (
        "Budgets measured: steps: 100 for every model; training seconds (mean over seeds): vanilla_gan 5, dcgan 10, "
        "cgan 30; slowest/fastest = 6×." in text
    )
    assert "- **vanilla_gan collapsed in 2 of 3 seeds (0, 1): 2 or more classes missing in seeds 0 and 1" in text
    html = (results / HTML).read_text()
    assert "Budget rule: equal training time per model" in html
    assert '<p class="warning">Warning: vanilla_gan collapsed' in html


def invocation(profile_settings: dict | None = None) -> dict:
    record = {"command": "zoo bench --all --profile toy", "profile": "toy", "started_at": "2026-01-01 00:00 UTC",
              "wall_seconds": 60.0, "ran": 9, "skipped": 0, "diverged": 0, "device_name": "cpu (test)",
              "git_commit": "abc123", "versions": {"torch": "2.14.1"}}  # fmt: skip
    return record | ({"profile_settings": profile_settings} if profile_settings else {})


SETTINGS = {"name": "toy", "description": "", "budget": "", "batch_size": 16, "steps": 100,
            "steps_per_model": {"wgan_gp": 50}, "eval_at": [50], "datasets": ["mnist"], "seeds": [0]}  # fmt: skip
"""A profile as recorded with an invocation (:meth:`Profile.record`), without a budget rule."""


@pytest.mark.slow
def test_a_profile_without_a_budget_rule_gets_its_steps_stated_and_old_folders_say_so(results):
    record_invocation(results, invocation())
    assert "its settings and budget rule were not recorded" in write_report(results).read_text()
    settings = SETTINGS
    record_invocation(results, invocation(settings))
    text = write_report(results).read_text()
    assert "Budget rule: 100 steps at batch 16 per model (wgan_gp 50) (the profile states no rule)." in text
    record_invocation(results, invocation({**settings, "steps": 200}))
    assert "written under 2 different profile settings" in write_report(results).read_text()


@pytest.mark.slow
def test_datasets_come_in_the_profiles_order(results):
    write_cell(results, "dcgan", 0, {"fid": 12.0}, dataset="fashion-mnist")
    text = write_report(results).read_text()
    assert text.index("## fashion-mnist") < text.index("## mnist")  # by name, without a recorded profile
    record_invocation(results, invocation({**SETTINGS, "datasets": ["mnist", "fashion-mnist"]}))
    text = write_report(results).read_text()
    assert text.index("## mnist") < text.index("## fashion-mnist")
    assert text.index("### mnist") < text.index("### fashion-mnist")  # the sample grids too
    printed = zoo("leaderboard", profile="toy", results=results.parent).output
    assert printed.index("\nmnist — ") < printed.index("\nfashion-mnist — ")


def test_the_report_embeds_its_figures_and_grids_written_beside_the_tables(results):
    record_invocation(results, invocation())
    text = write_report(results).read_text()
    images = re.findall(r"!\[[^]]*\]\(([^)]+)\)", text)
    assert images == [
        f"{PLOTS}/mnist/toy-protocol-fid.png",
        f"{PLOTS}/mnist/toy-protocol-final.png",
        f"{PLOTS}/mnist/sample-grids.png",
    ]
    for image in images:
        assert (results / image).read_bytes().startswith(PNG_SIGNATURE)
    page = (results / HTML).read_text()
    assert page.count('<img src="data:image/png;base64,') == 3  # the same three figures, inlined
    assert captions(page) == CAPTIONS
    assert '"num_generated": 64' in page and "zoo bench --all --profile toy" in page


CAPTIONS = [
    UNCONDITIONAL,
    CONDITIONAL,
    "Equal generator steps",
    "Equal images seen",
    "Equal training seconds",
    "FID (mean over seeds) by training step",
    "bench invocations",
]
"""The tables of the fixture's page: its leaderboards, the budget axes (by their first words), the steps, the
invocations."""


def captions(page: str) -> list[str]:
    """The tables' captions of a page, unescaped, those of the budget axes cut at their colon."""
    found = [html.unescape(c) for c in re.findall("<caption>(.*?)</caption>", page)]
    return [c.split(":")[0] if c.startswith("Equal ") else c for c in found]


@pytest.mark.slow
def test_figures_are_named_after_their_protocol_with_its_id_only_when_two_share_the_name(results):
    write_report(results)
    write_cell(results, "dcgan", 5, {"fid": 9.0}, protocol_id="p2", protocol="toy-protocol")
    write_report(results)
    assert sorted(p.name for p in (results / PLOTS / "mnist").iterdir()) == [
        "sample-grids.png",
        "toy-protocol-p1-fid.png",
        "toy-protocol-p1-final.png",
        "toy-protocol-p2-fid.png",
        "toy-protocol-p2-final.png",
    ]


def test_a_dataset_whose_only_model_diverged_gets_its_curve_but_no_final_figure(tmp_path):
    rows = cell_rows("dcgan", 0, {"fid": 10.0})[:1]  # evaluated at step 50, then diverged at step 60
    diverged = dataclasses.replace(rows[0], protocol="", protocol_id="", metric="diverged", value=None, step=60,
                                   status="diverged", reason="non-finite loss")  # fmt: skip
    ResultStore(tmp_path).write_cell(Cell("dcgan", "mnist", 0), {}, [*rows, diverged], {})
    text = write_report(tmp_path).read_text()
    assert "0 of 1 (1 diverged, at step 60)" in text and "toy-protocol-fid.png" in text
    assert not (tmp_path / PLOTS / "mnist" / "toy-protocol-final.png").exists()


def test_the_report_of_old_cells_without_protocols_or_new_metrics(tmp_path):
    """Cells written before protocols were stored beside rows (results/cpu on main) still make a report."""
    write_cell(tmp_path, "dcgan", 0, {"fid": 10.0, "recall": 0.5})
    path = tmp_path / "cells" / "mnist" / "dcgan-s0.json"
    path.write_text(json.dumps({"rows": json.loads(path.read_text())["rows"]}))
    text = write_report(tmp_path).read_text()
    assert "| dcgan" in text and "protocol settings" not in text and "warnings" not in text


def test_zoo_leaderboard_prints_provenance_and_warnings_and_rewrites_the_report(results):
    printed = zoo("leaderboard", profile="toy", results=results.parent)
    assert printed.exit_code == 0, printed.output
    assert "genzoo 0.1.0" in printed.output and "collapsed (2/3 seeds)" in printed.output
    assert CONDITIONAL in printed.output and "Equal generator steps: FID at step 100" in printed.output
    assert "WARNING: vanilla_gan collapsed" in printed.output and "budgets measured: steps: 100" in printed.output
    assert (results / MARKDOWN).exists() and (results / PLOTS / "mnist" / "toy-protocol-fid.png").exists()
    assert (results / HTML).exists()


@pytest.mark.slow
def test_zoo_leaderboard_shows_bold_as_a_terminal_does_and_the_files_keep_markdown(results):
    args = ["leaderboard", "--profile", "toy", "--results", str(results.parent)]
    piped = CliRunner().invoke(main, args)
    assert piped.exit_code == 0, piped.output
    assert "**" not in piped.stdout and "\x1b[" not in piped.stdout
    question, header, *lines = piped.stdout.split("mnist — protocol")[1].splitlines()[1:5]
    dcgan = next(line for line in lines if line.lstrip().startswith("dcgan"))
    assert question == UNCONDITIONAL and " 11 ± 1 " in dcgan and len(dcgan) == len(header), "columns aligned"
    on_terminal = CliRunner().invoke(main, args, color=True)
    assert click.style("11 ± 1", bold=True) in on_terminal.stdout and "**" not in on_terminal.stdout
    assert "**11 ± 1**" in (results / MARKDOWN).read_text()


def test_zoo_leaderboard_json_is_one_document_with_each_table(results):
    printed = zoo("leaderboard", "--json", profile="toy", results=results.parent)
    assert printed.exit_code == 0, printed.output
    found = json.loads(printed.stdout)
    assert found["report"] == str(results / MARKDOWN) and found["profile"] == []
    [board] = found["leaderboards"]
    assert (board["dataset"], board["protocol"], board["protocol_id"]) == ("mnist", "toy-protocol", "p1")
    rows = {row["model"]: row for row in board["rows"]}
    assert list(rows) == ["real-data", "dcgan", "vanilla_gan"] and rows["dcgan"]["FID"] == "11 ± 1"
    assert board["best"]["FID"] == "dcgan" and board["question"] == UNCONDITIONAL
    conditional = board["conditional"]
    assert [row["model"] for row in conditional["rows"]] == ["real-data", "cgan"] and conditional["best"] == {}
    assert board["warnings"][1].startswith("vanilla_gan collapsed") and board["disagreements"] == []
    assert board["budgets"].startswith("steps: 100") and found["rules"].startswith("Coverage: a class")
    assert [(axis["axis"], axis["at"]) for axis in board["axes"]] == [
        ("step", 100),
        ("images_seen", 1600),
        ("train_seconds", 5.0),
    ]
    assert {row["model"]: row["from steps"] for row in board["axes"][2]["rows"]} == {
        "dcgan": "50",  # 5 s at step 50
        "vanilla_gan": "100",
        "cgan (conditional)": "first evaluated later",  # 15 s at step 50
    }


@pytest.mark.slow
def test_zoo_report_writes_the_page_unless_told_not_to(results, tmp_path):
    assert zoo("report", "--no-html", profile="toy", results=results.parent).exit_code == 0
    assert (results / MARKDOWN).exists() and not (results / HTML).exists()
    written = zoo("report", profile="toy", results=results.parent)
    assert written.exit_code == 0 and str(results / HTML) in written.output and (results / HTML).exists()
    assert zoo("report", "--no-html", profile="toy", results=results.parent).exit_code == 0
    assert not (results / HTML).exists(), "a page left behind would disagree with the tables"
    missing = zoo("report", profile="nothing", results=tmp_path)
    assert (
        missing.exit_code == 1 and "no results in" in missing.stderr and "zoo bench --profile nothing" in missing.stderr
    )


def test_results_drop_removes_a_models_cells_and_grids_and_rebuilds_tables_and_figures(results):
    for seed in range(3):  # the nearest-neighbour figures a bench writes beside the grids
        path = neighbours_path(results, Cell("vanilla_gan", "mnist", seed))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"png")
    write_report(results)
    dropped = zoo("results", "drop", "vanilla_gan", profile="toy", results=results.parent)
    assert dropped.exit_code == 0, dropped.output
    assert "dropped vanilla_gan: deleted 9 files" in dropped.output
    assert not list(results.rglob("vanilla_gan*")) and not list(results.rglob(".*.tmp"))
    assert "vanilla_gan" not in pd.read_csv(results / "results.csv")["model"].tolist()
    assert "vanilla_gan" not in (results / MARKDOWN).read_text() and "vanilla_gan" not in (results / HTML).read_text()
    assert set(frame_of(results)["model"]) == {REAL_DATA, "cgan", "dcgan"}


def test_results_drop_refuses_unknown_models_and_the_floor_and_deletes_nothing(results):
    before = sorted(results.rglob("*"))
    unknown = zoo("results", "drop", "dcgan", "nope", profile="toy", results=results.parent)
    assert unknown.exit_code == 1 and "no results for nope" in unknown.stderr
    assert "models there: cgan, dcgan, vanilla_gan" in unknown.stderr
    floor = zoo("results", "drop", REAL_DATA, profile="toy", results=results.parent)
    assert floor.exit_code == 1 and "floor" in floor.stderr
    assert zoo("results", "drop", profile="toy", results=results.parent).exit_code == 2
    assert sorted(results.rglob("*")) == before


def test_results_drop_uninstalled_drops_only_what_no_plugin_registers(results):
    write_cell(results, "gone_gan", 0, {"fid": 30.0}, plugin="zoo-gone", plugin_version="0.9")
    write_cell(results, "gone_gan", 0, {"fid": 30.0}, dataset="fashion-mnist", plugin="zoo-gone")
    dropped = zoo("results", "drop", "--uninstalled", profile="toy", results=results.parent)
    assert dropped.exit_code == 0, dropped.output
    assert "dropped model gone_gan" in dropped.output
    assert set(frame_of(results)["model"]) == {REAL_DATA, "cgan", "dcgan", "vanilla_gan"}  # built-ins stay
    again = zoo("results", "drop", "--uninstalled", profile="toy", results=results.parent)
    assert again.exit_code == 0 and "nothing to drop" in again.output


def test_results_drop_removes_the_failure_records_of_the_models_it_drops(results):
    store = ResultStore(results)
    store.write_failure(Cell("vanilla_gan", "mnist", 5), {}, "error", "training: RuntimeError: boom")
    store.write_failure(Cell("ghost_gan", "mnist", 0), {}, "died", "it only ever failed")
    store.write_failure(Cell("dcgan", "mnist", 9), {}, "timed out", "kept: dcgan is not dropped")
    write_report(results)
    assert "ghost_gan on mnist" in (results / MARKDOWN).read_text()
    dropped = zoo("results", "drop", "vanilla_gan", "ghost_gan", profile="toy", results=results.parent)
    assert dropped.exit_code == 0, dropped.output
    assert "dropped vanilla_gan, ghost_gan: deleted 8 files" in dropped.output
    assert [f["model"] for f in store.failures()] == ["dcgan"]
    assert "ghost_gan" not in (results / MARKDOWN).read_text() and "vanilla_gan" not in (results / HTML).read_text()


def test_results_drop_uninstalled_drops_what_no_plugin_provides_any_more(results):
    store = ResultStore(results)
    kept_protocol = {"name": "toy-protocol", "extractor": "zoo-domain-classifier"}
    gone_protocol = {"name": "pixels", "extractor": "pixels"}  # a plugin's extractor, uninstalled since
    store.write_failure(Cell("gone_gan", "mnist", 1), {}, "error", "a gone model that only ever failed")
    world = {"dataset_plugin": {"distribution": "zoo-world", "version": "1.0", "code_sha256": "a" * 64}}
    for model, seed in ((REAL_DATA, None), ("dcgan", 0)):
        rows = cell_rows(model, seed, {"fid": 5.0}, dataset="blobs")
        store.write_cell(Cell(model, "blobs", seed), world, rows, {"p1": kept_protocol})
    save_grid(torch.zeros(4, 1, 8, 8), results / "grids" / "blobs" / "dcgan-s0.png")
    store.write_failure(Cell("dcgan", "blobs", 1), world, "error", "a cell of a gone dataset")
    folder = "folder-cats-32-0123abcd"  # an image folder: zoo's own dataset, registered by no plugin
    zoo_made = {"dataset_plugin": {"distribution": "genzoo", "version": "0.1.0", "code_sha256": "b" * 64}}
    rows = cell_rows("dcgan", 0, {"fid": 7.0}, dataset=folder)
    store.write_cell(Cell("dcgan", folder, 0), zoo_made, rows, {"p1": kept_protocol})
    both = cell_rows("cgan", 5, {"fid": 3.0}) + cell_rows("cgan", 5, {"fid": 4.0}, protocol="pixels", protocol_id="p2")
    store.write_cell(Cell("cgan", "mnist", 5), {}, both, {"p1": kept_protocol, "p2": gone_protocol})
    only = cell_rows("dcgan", 7, {"fid": 4.0}, protocol="pixels", protocol_id="p2")
    store.write_cell(Cell("dcgan", "mnist", 7), {}, only, {"p2": gone_protocol})

    dropped = zoo("results", "drop", "--uninstalled", profile="toy", results=results.parent)
    assert dropped.exit_code == 0, dropped.output
    assert "dropped model gone_gan; dataset blobs; protocol p2 (extractor pixels): deleted 6 files, rewrote 1" in (
        dropped.output
    )
    assert not [path for path in results.rglob("*") if "blobs" in path.parts]
    assert store.failures() == []
    rows = store.rows()
    assert set(rows["dataset"]) == {"mnist", folder} and "p2" not in set(rows["protocol_id"])
    assert set(rows.query("model == 'cgan' and seed == 5")["protocol_id"]) == {"p1"}
    assert "p2" not in store.protocols() and not store.cell_path(Cell("dcgan", "mnist", 7)).exists()
    again = zoo("results", "drop", "--uninstalled", profile="toy", results=results.parent)
    assert again.exit_code == 0 and "nothing to drop" in again.output


@pytest.mark.slow
def test_results_drop_of_one_dataset_keeps_the_model_elsewhere(results):
    write_cell(results, "dcgan", 0, {"fid": 12.0}, dataset="fashion-mnist")
    write_report(results)
    assert (results / PLOTS / "fashion-mnist" / "toy-protocol-final.png").exists()
    assert (
        zoo("results", "drop", "dcgan", dataset="fashion-mnist", profile="toy", results=results.parent).exit_code == 0
    )
    rows = frame_of(results)
    assert set(rows.loc[rows["model"] == "dcgan", "dataset"]) == {"mnist"}
    assert not list((results / PLOTS / "fashion-mnist").glob("*.png")), "figures of a dataset without models remain"
    assert (results / PLOTS / "mnist" / "toy-protocol-final.png").exists() and (
        results / "grids" / "mnist" / "dcgan-s0.png"
    ).exists()


class ByLabel(Generator):
    """A conditional generator whose every pixel is its label, scaled into [-1, 1]."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = 2, num_classes, (1, 4, 4)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return (labels.float() / (self.num_classes - 1) * 2 - 1).view(-1, 1, 1, 1).expand(len(z), 1, 4, 4)


def test_a_conditional_models_grid_has_one_row_per_class(tmp_path):
    images, per_row = sample_images(ByLabel(3), 8)
    assert per_row == 3 and images.shape == (9, 1, 4, 4)
    grid = read_png(save_samples(ByLabel(3), tmp_path / "grid.png", 8)[0])[0].numpy()
    assert grid.shape == (2 + 3 * 6, 2 + 3 * 6)
    tiles = np.array([[grid[2 + 6 * r, 2 + 6 * c] for c in range(3)] for r in range(3)])
    assert (tiles == np.array([[0], [128], [255]])).all()  # row r: class r, every column


@needs_chromium
def test_the_report_page_renders_in_headless_chromium_with_its_tables_figures_and_grids(results, tmp_path):
    record_invocation(results, invocation())
    write_report(results)
    page = tmp_path / "page.html"
    page.write_text(probed((results / HTML).read_text(encoding="utf-8")), encoding="utf-8")
    dom = chromium(page, "--virtual-time-budget=5000", "--dump-dom", profile=tmp_path / "profile")
    assert 'data-images-seen="3"' in dom
    decoded = re.findall(r'<img [^>]*alt="([^"]*)"[^>]*data-natural-width="(\d+)"', dom)
    assert [alt.split(" — ")[0].split(",")[0] for alt, _ in decoded] == [
        "FID against generator steps",
        "Final metrics",
        "Sample grids",
    ]
    assert all(int(width) > 100 for _, width in decoded)
    assert captions(dom) == CAPTIONS
    assert "<th>warnings</th>" in dom and "collapsed (2/3 seeds)" in dom and "<strong>" in dom
