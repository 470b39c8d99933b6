"""What the leaderboard judges from the data: class coverage against the reference's class frequencies, diversity
and copying against the real-data floor, FID against the pixel metric, every budget axis, conditional models apart.

Every frame here is synthetic, in the long table's columns; no training."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from zoo.imaging import save_grid
from zoo.report import MARKDOWN, write_report
from zoo.report.budgets import axis_tables, last_doubling
from zoo.report.flags import COLLAPSE_RECALL, LOW_DIVERSITY, MISSING, UNDER_REPRESENTED, flags, thresholds
from zoo.report.leaderboard import disagreements, leaderboard, warnings_of
from zoo.report.memorisation import worst_copier
from zoo.report.rows import final_rows
from zoo.results import COLUMNS, REAL_DATA, Cell, ResultStore, Row, neighbours_path

MNIST_TRAIN = (5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949)
MNIST_TEST = (980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009)
"""Images per class of MNIST's splits: the rarest class of the test split (5) is 8.9% of it, class 1 is 11.4%."""
WHERE = {"dataset": "mnist", "protocol_id": "p1"}


def shares(counts=MNIST_TRAIN, changed: dict[int, float] | None = None) -> dict[str, float]:
    """``class_share_<k>`` of ``counts``' class frequencies, with the classes of ``changed`` given those shares and
    the others scaled to make up the rest."""
    changed = changed or {}
    total = sum(c for k, c in enumerate(counts) if k not in changed)
    rest = 1 - sum(changed.values())
    return {f"class_share_{k}": changed.get(k, c / total * rest) for k, c in enumerate(counts)}


FLOOR = {"fid": 0.1, "recall": 0.84, "copy_share_features": 0.05, "copy_share_pixels": 0.05, **shares()}
HEALTHY = {"recall": 0.8, "copy_share_features": 0.05, "copy_share_pixels": 0.06, **shares()}


def cell_rows(model: str, seed: int | None, metrics: dict[str, float], curve: dict[int, float] | None = None,
              seconds_per_step: float = 0.1) -> list[dict]:  # fmt: skip
    """One cell's rows: ``metrics`` at its final step (100 unless ``curve`` says), and FID at each step of
    ``curve`` (step -> FID); 64 images and ``seconds_per_step`` of training a step."""
    curve = curve or ({100: metrics["fid"]} if "fid" in metrics else {100: None})
    final = 0 if model == REAL_DATA else max(curve)
    points = {final: {k: v for k, v in metrics.items() if k != "fid"}} if model == REAL_DATA else {}
    for step, fid in curve.items():
        at = {"fid": fid} if fid is not None else {}
        points[0 if model == REAL_DATA else step] = {**at, **(metrics if step == max(curve) else {})}
    base = {
        **dict.fromkeys(COLUMNS, ""), "model": model, "plugin": "genzoo", "plugin_version": "0.1.0", **WHERE,
        "protocol": "classifier", "seed": seed, "status": "ok", "images_per_second": 640.0, "params_generator": 1000,
    }  # fmt: skip
    return [
        {
            **base,
            "step": step,
            "images_seen": step * 64,
            "train_seconds": step * seconds_per_step,
            "metric": metric,
            "value": value,
        }  # fmt: skip
        for step, values in points.items()
        for metric, value in values.items()
    ]


def frame_of(*cells: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([row for rows in cells for row in rows], columns=list(COLUMNS))


def board(models: dict[str, dict[str, float]], seeds=(0, 1, 2), floor=FLOOR) -> pd.DataFrame:
    """The floor and each model with the same ``metrics`` in every seed."""
    cells = [cell_rows(model, seed, metrics) for model, metrics in models.items() for seed in seeds]
    return frame_of(cell_rows(REAL_DATA, None, floor), *cells)


def shorts(frame: pd.DataFrame, counts=MNIST_TEST) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for flag in flags(final_rows(frame), counts):
        found.setdefault(flag.model, []).append(flag.short)
    return found


def test_a_model_that_drops_two_classes_misses_them_and_is_collapsed():
    dropped = {**HEALTHY, **shares(changed={3: 0.001, 7: 0.004})}
    frame = board({"dropper": dropped, "fine": HEALTHY})
    assert shorts(frame) == {"dropper": ["collapsed (3/3 seeds)", "classes 3 and 7 missing (3/3 seeds)"]}
    sentences = warnings_of(frame, **WHERE, reference_counts=MNIST_TEST)
    assert sentences == [
        "dropper collapsed in 3 of 3 seeds (0, 1, 2): 2 or more classes missing in seeds 0, 1 and 2 (classes 3 and 7)",
        "dropper misses class 3 in seeds 0, 1 and 2 (0.1% of its samples against 10.1% of the reference images) "
        "and class 7 in seeds 0, 1 and 2 (0.4% of its samples against 10.3% of the reference images)",
    ]
    table = leaderboard(frame, **WHERE, reference_counts=MNIST_TEST).set_index("model")
    assert table.loc["dropper", "warnings"] == "collapsed (3/3 seeds); classes 3 and 7 missing (3/3 seeds)"
    assert table.loc["fine", "warnings"] == ""


def test_one_missing_class_is_named_but_is_not_collapse():
    frame = board({"one": {**HEALTHY, **shares(changed={4: 0.005})}}, seeds=(0,))
    assert shorts(frame) == {"one": ["class 4 missing (1/1 seeds)"]}


def test_real_class_frequencies_are_flagged_nowhere():
    """MNIST's train split scored against its test split (the reference): its rarest class, 5, is 9.0% of it, its
    class 1 11.2%; nothing is under-represented, missing or collapsed."""
    frame = board({"train_split": {**HEALTHY, **shares(MNIST_TRAIN)}})
    assert shorts(frame) == {} and warnings_of(frame, **WHERE, reference_counts=MNIST_TEST) == []
    assert "warnings" not in leaderboard(frame, **WHERE, reference_counts=MNIST_TEST).columns
    ratios = [(a / sum(MNIST_TRAIN)) / (b / sum(MNIST_TEST)) for a, b in zip(MNIST_TRAIN, MNIST_TEST, strict=True)]
    assert min(ratios) > 0.9 > UNDER_REPRESENTED, "real splits are far from every line"


def test_imbalance_is_under_represented_not_missing_nor_collapsed():
    """The VAE of the committed cpu run: its class 1 at 3.0% of its samples, against 11.4% of the reference."""
    frame = board({"vae": {**HEALTHY, **shares(changed={1: 0.03})}})
    assert shorts(frame) == {"vae": ["class 1 under-represented (3/3 seeds)"]}
    [sentence] = warnings_of(frame, **WHERE, reference_counts=MNIST_TEST)
    assert sentence == (
        "vae under-represents class 1 in seeds 0, 1 and 2 (3.0% of its samples against 11.3% of the reference images)"
    )
    assert MISSING < 0.03 / 0.1135 < UNDER_REPRESENTED


def test_coverage_is_not_judged_without_the_reference_class_counts():
    frame = board({"vae": {**HEALTHY, **shares(changed={1: 0.03, 2: 0.0, 3: 0.0})}})
    assert shorts(frame, counts=None) == {}


def test_recall_far_below_the_floors_is_collapse_and_below_half_of_it_low_diversity():
    """The MLP GANs on Fashion-MNIST in the committed cpu run: recall 0.05 against the floor's 0.84."""
    cells = [cell_rows(REAL_DATA, None, FLOOR)]
    for seed in range(3):
        cells.append(cell_rows("speckled", seed, {**HEALTHY, "recall": 0.04 + 0.01 * seed}))
        cells.append(cell_rows("narrow", seed, {**HEALTHY, "recall": 0.37 + 0.02 * seed}))
        cells.append(cell_rows("fine", seed, HEALTHY))
    frame = frame_of(*cells)
    assert 0.06 / 0.84 < COLLAPSE_RECALL < 0.37 / 0.84 < 0.41 / 0.84 < LOW_DIVERSITY
    assert shorts(frame) == {"narrow": ["low diversity (3/3 seeds)"], "speckled": ["collapsed (3/3 seeds)"]}
    assert warnings_of(frame, **WHERE, reference_counts=MNIST_TEST) == [
        "narrow has low diversity in 3 of 3 seeds (0, 1, 2): recall 0.39 ± 0.02 against the real-data floor's 0.84, "
        "under 0.5× it",
        "speckled collapsed in 3 of 3 seeds (0, 1, 2): recall under 0.25× the real-data floor's in seeds 0, 1 and 2 "
        "(0.05 ± 0.01 against 0.84)",
    ]


def test_flags_name_the_seeds_they_concern():
    cells = [cell_rows(REAL_DATA, None, FLOOR)]
    for seed, recall in enumerate((0.8, 0.1, 0.79)):
        cells.append(cell_rows("shaky", seed, {**HEALTHY, "recall": recall}))
    [sentence] = warnings_of(frame_of(*cells), **WHERE)
    assert sentence.startswith(
        "shaky collapsed in 1 of 3 seeds (1): recall under 0.25× the real-data floor's in seed 1"
    )


def test_a_model_that_returns_training_images_copies_them_and_one_that_returns_test_images_does_not():
    copier = {**HEALTHY, "copy_share_features": 1.0, "copy_share_pixels": 0.98}  # a model returning training images
    borderline = {**HEALTHY, "copy_share_features": 0.095}  # under 2x the floor's 0.05
    frame = board({"copier": copier, "test_images": HEALTHY, "borderline": borderline}, seeds=(0,))
    assert shorts(frame) == {"copier": ["copies training images (1/1 seeds)"]}
    [sentence] = warnings_of(frame, **WHERE)
    assert sentence == (
        "copier copies training images more than real data does in 1 of 1 seed (0): copies (features) 1 "
        "against the real-data floor's 0.05; copies (pixels) 0.98 against the real-data floor's 0.05"
    )
    table = leaderboard(frame, **WHERE).set_index("model")
    assert table.loc[REAL_DATA, ["copies (features)", "copies (pixels)"]].tolist() == ["0.05", "0.05"]
    assert table.loc["copier", "copies (features)"] == "1"
    assert thresholds(FLOOR) == {
        "label_accuracy": 0.95,
        "recall": pytest.approx(0.42),
        "copy_share_features": 0.1,
        "copy_share_pixels": 0.1,
    }


def test_the_worst_copier_is_shown_only_with_its_neighbours_figure(tmp_path):
    frame = frame_of(
        cell_rows(REAL_DATA, None, FLOOR),
        cell_rows("copier", 0, {**HEALTHY, "copy_share_pixels": 0.3}),
        cell_rows("copier", 1, {**HEALTHY, "copy_share_pixels": 0.7}),
        cell_rows("clean", 0, HEALTHY),
    )
    assert worst_copier(tmp_path, final_rows(frame)) is None
    path = neighbours_path(tmp_path, Cell("copier", "mnist", 1))
    assert path == tmp_path / "neighbours" / "mnist" / "copier-s1.png"
    save_grid(torch.zeros(4, 1, 8, 8), path)
    worst = worst_copier(tmp_path, final_rows(frame))
    assert worst is not None and worst.cell == Cell("copier", "mnist", 1) and worst.figure == path
    assert worst.shares == {"copy_share_features": 0.05, "copy_share_pixels": 0.7}
    assert "copies (pixels) 0.7 against real data's 0.05" in worst.caption


def test_where_fid_and_swd_rank_models_differently_the_board_says_so():
    cells = [cell_rows(REAL_DATA, None, {**FLOOR, "swd": 2.0})]
    values = {"speckle": ([13.0, 13.5, 14.0], [55, 56, 57]), "blur": ([17.0, 17.5, 18.0], [21, 22, 23]),
              "close": ([17.2, 17.6, 18.1], [20, 30, 40])}  # fmt: skip
    for model, (fids, swds) in values.items():
        cells += [cell_rows(model, s, {"fid": f, "swd": w}) for s, (f, w) in enumerate(zip(fids, swds, strict=True))]
    found = disagreements(frame_of(*cells), **WHERE)
    assert found == [
        "FID ranks speckle ahead of blur and close, SWD ×10³ behind them: FID 13.5 ± 0.5 against 17.5 ± 0.5 and "
        "17.6 ± 0.45; SWD ×10³ 56 ± 1 against 22 ± 1 and 30 ± 10"
    ]
    agreeing = frame_of(*cells[:4], *[cell_rows("close", s, {"fid": 17.0 + s, "swd": 60.0}) for s in range(3)])
    assert disagreements(agreeing, **WHERE) == [
        "FID and SWD ×10³ agree on the order of every two models whose values are clear of each other's seed spread."
    ]
    assert disagreements(board({"a": HEALTHY, "b": HEALTHY}), **WHERE) == []  # no SWD: nothing to say


def budget_board() -> pd.DataFrame:
    """Three models evaluated at doubling steps, two seeds each (seed 1's FID one above seed 0's): slow takes 50x
    fast's seconds a step (its first evaluation comes after fast's last); cond is conditional."""
    curves = {
        "fast": ({70: 100.0, 140: 80.0, 280: 40.0, 560: 30.0, 1100: 20.0, 2200: 10.0}, 0.1),
        "slow": ({70: 90.0, 140: 60.0, 280: 35.0, 560: 31.0}, 5.0),
        "cond": ({70: 120.0, 140: 90.0, 280: 50.0, 560: 45.0, 1100: 30.0}, 0.2),
    }
    cells = [cell_rows(REAL_DATA, None, FLOOR)]
    for model, (curve, per_step) in curves.items():
        extra = {"label_accuracy": 0.99} if model == "cond" else {}
        for seed in (0, 1):
            shifted = {step: fid + seed for step, fid in curve.items()}
            cells.append(cell_rows(model, seed, {**HEALTHY, **extra}, shifted, seconds_per_step=per_step))
    return frame_of(*cells)


def test_every_budget_axis_from_the_same_cells():
    steps, images, seconds = axis_tables(budget_board())
    assert (steps.axis, steps.at, images.axis, seconds.axis) == ("step", 560, "images_seen", "train_seconds")
    assert "at step 560, the last step every model was evaluated at" in steps.question
    assert steps.table.to_dict("list") == {
        "model": ["fast", "slow", "cond (conditional)"],
        "FID": ["30.5 ± 0.71", "31.5 ± 0.71", "45.5 ± 0.71"],
    }
    assert images.at == 560 * 64 and images.table["FID"].tolist() == steps.table["FID"].tolist()
    assert seconds.at == pytest.approx(220.0) and "interpolated log-log" in seconds.question
    assert seconds.table.to_dict("list") == {  # fast and cond end at 220 s; slow's first point is at 350 s
        "model": ["fast", "slow", "cond (conditional)"],
        "FID": ["10.5 ± 0.71", "n/a", "30.5 ± 0.71"],
        "from steps": ["2200", "first evaluated later", "1100"],
    }
    assert "Conditional models are ranked apart" in seconds.question


def test_interpolation_between_two_evaluated_steps_is_log_log():
    cells = [cell_rows(REAL_DATA, None, FLOOR)]
    cells.append(cell_rows("a", 0, HEALTHY, {100: 40.0, 400: 10.0}, seconds_per_step=1.0))  # 400 s at the end
    cells.append(cell_rows("b", 0, HEALTHY, {100: 50.0, 200: 30.0}, seconds_per_step=1.0))  # 200 s
    _, images, seconds = axis_tables(frame_of(*cells))
    assert seconds.at == 200.0 and images.at == 200 * 64
    a = seconds.table.set_index("model").loc["a"]
    assert a["FID"] == f"**{math.sqrt(40.0 * 10.0):.3g}**" and a["from steps"] == "100–400"  # halfway, log-log


def test_a_row_still_improving_over_its_last_doubling_is_marked():
    assert last_doubling(budget_board()) == {
        "fast": "-49% since step 1100, still improving",  # 10.5 at step 2200 against 20.5
        "slow": "-11% since step 280, still improving",  # 31.5 at step 560 against 35.5
        "cond": "-33% since step 560, still improving",
    }
    flat = frame_of(cell_rows("flat", 0, HEALTHY, {100: 20.0, 300: 19.0, 800: 18.5}))
    assert last_doubling(flat) == {"flat": "-3% since step 300"}  # 300 is nearer half of 800 than 100, on a log scale
    table = leaderboard(budget_board(), **WHERE).set_index("model")
    assert table.loc["fast", "FID over last doubling"] == "-49% since step 1100, still improving"


def test_conditional_models_get_their_own_table_and_never_take_the_bold():
    cells = [cell_rows(REAL_DATA, None, FLOOR)]
    for seed in range(3):
        cells.append(cell_rows("cgan", seed, {"fid": 2.0 + seed * 0.1, "label_accuracy": 0.99, "ifid": 9.0}))
        cells.append(cell_rows("dcgan", seed, {"fid": 15.0 + seed * 0.1}))
        cells.append(cell_rows("vae", seed, {"fid": 17.0 + seed * 0.1}))
        cells.append(cell_rows("infogan", seed, {"fid": 20.0 + seed * 0.1, "code_accuracy": 0.9}))
    frame = frame_of(*cells)
    plain = leaderboard(frame, **WHERE)
    assert plain["model"].tolist() == [REAL_DATA, "dcgan", "vae", "infogan"]
    assert plain["FID"].tolist()[1] == "**15.1 ± 0.1**", "the best unconditional model, not cgan"
    assert "label accuracy" not in plain.columns and "code accuracy" in plain.columns
    by_code = leaderboard(frame, **WHERE, metric="code_accuracy")["model"].tolist()
    assert by_code == [REAL_DATA, "infogan", "dcgan", "vae"], "the others lack it: last"
    by_labels = leaderboard(frame, **WHERE, metric="label_accuracy")["model"].tolist()
    assert by_labels == [REAL_DATA, "dcgan", "vae", "infogan"], "a metric the table lacks: ranked by FID"
    conditional = leaderboard(frame, **WHERE, conditional=True)
    assert conditional["model"].tolist() == [REAL_DATA, "cgan"]
    assert list(conditional.columns[1:4]) == ["label accuracy", "iFID", "FID"]
    assert "**" not in "".join(conditional["FID"]), "one conditional model is best of nothing"


def test_the_report_holds_the_judgements_tables_and_the_neighbours_figure(tmp_path):
    store = ResultStore(tmp_path)
    protocols = {"p1": {"name": "classifier", "reference_class_counts": list(MNIST_TEST)}}
    frame = budget_board()
    frame.loc[(frame["model"] == "slow") & (frame["metric"] == "copy_share_features"), "value"] = 0.5
    for (model, seed), rows in frame.groupby(["model", "seed"], dropna=False):
        cell = Cell(model, "mnist", None if model == REAL_DATA else int(seed))
        store.write_cell(cell, {}, [Row(**row) for row in rows.to_dict("records")], protocols)
    save_grid(torch.zeros(4, 1, 8, 8), neighbours_path(tmp_path, Cell("slow", "mnist", 0)))
    text = write_report(tmp_path).read_text()
    assert (tmp_path / MARKDOWN).read_text() == text
    assert "**Unconditional models at their final step" in text and "**Conditional models, ranked apart" in text
    assert "**Equal generator steps: FID at step 560" in text and "**Equal training seconds:" in text
    assert "- **slow copies training images more than real data does in 2 of 2 seeds (0, 1)" in text
    assert "Still improving: FID fell by more than 10%" in text
    assert "](neighbours/mnist/slow-s0.png)" in text and "## Nearest training images" in text
    page = (tmp_path / "leaderboard.html").read_text()
    assert page.count("<table>") == 2 + 3 + 1 and "Nearest training images — mnist" in page
