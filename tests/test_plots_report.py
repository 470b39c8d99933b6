"""Plots of the long results table and the self-contained HTML page (including a real headless browser)."""

from __future__ import annotations

import base64
import io
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import PIL.Image
import pytest
from matplotlib.collections import PolyCollection

from tests.browser import chromium, needs_chromium, probed
from zoo.errors import ZooError
from zoo.report import plots
from zoo.report.html import CSP, PNG_SIGNATURE, Section, render_html, write_html
from zoo.results import COLUMNS, REAL_DATA

METRICS = {"fid": 40.0, "kid_mean": 0.05, "is_mean": 3.0, "precision": 0.6, "recall": 0.5}


def long_table(models=("alpha", "beta"), seeds=(0, 1, 2), steps=(100, 200), *, dataset="toy", protocol_id="p1",
               extra=()) -> pd.DataFrame:  # fmt: skip
    """A long table in the store's columns, two evaluated steps per cell: the later a model in ``models``, the
    lower each of its metrics and the slower its training; every value varies (non-linearly) with the seed;
    a real-data floor of 0.2; ``extra`` names more metrics (such as a later ``mode_coverage``)."""
    rows = []

    def add(model, seed, step, metric, value, seconds):
        cell = {"model": model, "dataset": dataset, "protocol": f"{protocol_id}-name", "protocol_id": protocol_id}
        point = {"seed": seed, "step": step, "images_seen": step * 64, "train_seconds": seconds}
        rows.append({**dict.fromkeys(COLUMNS, ""), **cell, **point, "metric": metric, "value": value, "status": "ok"})

    for m, model in enumerate(models):
        for seed in seeds:
            for step in steps:
                for metric, base in {**METRICS, **dict.fromkeys(extra, 0.5), "is_std": 0.1}.items():
                    add(model, seed, step, metric, base / (m + 1) * 100 / step + 0.01 * seed**2, (m + 1) * step + seed)
    for metric in METRICS:
        add(REAL_DATA, math.nan, 0, metric, 0.2, 0.0)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_the_curve_has_a_panel_per_budget_axis_and_one_line_per_model_through_the_seed_means():
    frame = long_table()
    figure = plots.curve_figure(frame, "fid", spread="range")
    labels = ["generator steps (log scale)", "images seen (log scale)", "training seconds (log scale)"]
    assert [a.get_xlabel() for a in figure.axes] == labels
    alpha = frame[(frame["model"] == "alpha") & (frame["metric"] == "fid")]
    for panel, column in zip(figure.axes, ("step", "images_seen", "train_seconds"), strict=True):
        assert np.allclose(panel.containers[0][0].get_xdata(), alpha.groupby("step")[column].mean())
    assert figure.axes[0].get_legend() is None and "steps, images seen and training seconds" in figure.get_suptitle()
    axes = figure.axes[2]
    legend = axes.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["real-data floor (0.2)", "alpha (3 seeds)", "beta (3 seeds)"]
    assert "min–max" in legend.get_title().get_text()
    assert axes.get_xscale() == "log" and axes.get_yscale() == "log"
    alpha = frame[(frame["model"] == "alpha") & (frame["metric"] == "fid")]
    bars = axes.containers[0]  # alpha's error bars: one vertical segment per step, from the min to the max seed
    line, _, (segments,) = bars
    assert np.allclose(line.get_ydata(), alpha.groupby("step")["value"].mean())
    assert np.allclose(line.get_xdata(), alpha.groupby("step")["train_seconds"].mean())
    low, high = alpha.groupby("step")["value"].min(), alpha.groupby("step")["value"].max()
    assert np.allclose([s[:, 1] for s in segments.get_segments()], np.c_[low, high])
    assert sum(isinstance(c, PolyCollection) for c in axes.collections) == 2  # a shaded band per model
    std_legend = plots.curve_figure(frame, "fid", axes=["train_seconds"]).axes[0].get_legend().get_title().get_text()
    assert "± 1 std" in std_legend


def test_final_metrics_have_one_panel_per_metric_with_room_for_new_ones_and_best_first():
    frame = long_table(models=("alpha", "beta", "gamma"), extra=("mode_coverage",))
    diverged = (frame["model"] == "gamma") & (frame["step"] == 200)
    frame.loc[diverged, "status"] = "diverged"  # gamma's final row is diverged: no values to show
    frame.loc[frame["metric"] == "recall", "status"] = "unavailable"
    figure = plots.final_metrics_figure(frame)
    titles = [a.get_title() for a in figure.axes]
    assert titles == ["FID ↓", "KID ×10³ ↓", "IS ↑", "precision ↑", "recall ↑", "mode coverage"]
    assert [t.get_text() for t in figure.axes[0].get_yticklabels()] == ["beta", "alpha", "gamma"]
    shown = [a for a in figure.axes if a.get_title() != "recall ↑"]
    assert all(len(a.patches) == 2 for a in shown)  # alpha and beta; gamma has no final value
    assert all("n/a" in [t.get_text().strip() for t in a.texts] for a in shown)
    assert [t.get_text() for t in figure.axes[4].texts] == ["unavailable"] and not figure.axes[4].patches
    fid = frame[(frame["metric"] == "fid") & (frame["step"] == 200) & (frame["model"] == "beta")]["value"]
    assert figure.axes[0].patches[0].get_width() == pytest.approx(fid.mean())
    assert "± 1 std" in figure.get_suptitle()
    by_is = plots.final_metrics_figure(frame, metrics=["is_mean", "fid"])  # higher is better: alpha first
    assert [t.get_text() for t in by_is.axes[0].get_yticklabels()] == ["alpha", "beta", "gamma"]


def test_eight_final_metrics_make_two_rows_of_four_panels_with_the_warning_thresholds():
    extra = ("class_entropy", "min_class_share", "label_accuracy", "class_share_0", "class_share_1")
    figure = plots.final_metrics_figure(long_table(extra=extra))  # the class shares are no panels
    assert [a.get_subplotspec().rowspan.start for a in figure.axes] == [0, 0, 0, 0, 1, 1, 1, 1]
    second_row = figure.axes[4]
    assert [t.get_text() for t in second_row.get_yticklabels() if t.get_visible()] == ["beta", "alpha"]
    thresholds = {
        a.get_title(): [line.get_xdata()[0] for line in a.lines if line.get_linestyle() == ":"] for a in figure.axes
    }
    assert thresholds.pop("recall ↑") == [0.1] and thresholds.pop("label accuracy ↑") == [0.95]  # half the floor's
    assert not any(thresholds.values()) and "dotted red: warning threshold" in figure.get_suptitle()


def test_plots_are_small_valid_deterministic_pngs_written_atomically(tmp_path):
    frame = long_table()
    for name, draw in {"curve": plots.plot_curve, "final": plots.plot_final_metrics}.items():
        path = draw(frame, tmp_path / f"{name}.png")
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) < 150_000
        with PIL.Image.open(path) as image:
            assert 400 <= image.width <= 2000 and 150 <= image.height <= 1000
            assert image.convert("L").getextrema()[0] < 100  # something dark was drawn
            assert "Software" not in image.info
        assert draw(frame, tmp_path / f"{name}-again.png").read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "curve-again.png",
        "curve.png",
        "final-again.png",
        "final.png",
    ]


@pytest.mark.parametrize("draw", [plots.plot_curve, plots.plot_final_metrics])
def test_plots_refuse_to_mix_protocols_or_datasets(tmp_path, draw):
    mixed_protocols = pd.concat([long_table(), long_table(protocol_id="p2")])
    with pytest.raises(ZooError, match="different protocols"):
        draw(mixed_protocols, tmp_path / "mixed.png")
    with pytest.raises(ZooError, match="different datasets"):
        draw(pd.concat([long_table(), long_table(dataset="other")]), tmp_path / "mixed.png")
    assert not list(tmp_path.iterdir())


def test_sample_grids_are_composed_side_by_side_unscaled_in_the_given_order_under_titles(tmp_path):
    grids = tmp_path / "grids"
    grids.mkdir()
    colours = {"alpha": (0, 255, 0), "beta": (255, 0, 0)}
    for name, size, colour in [("alpha-s0", (60, 40), colours["alpha"]), ("beta-s0", (50, 50), colours["beta"]),
                               ("beta-s1", (70, 70), (0, 0, 255))]:  # fmt: skip
        PIL.Image.new("RGB", size, colour).save(grids / f"{name}.png")
    path = plots.plot_sample_grids(grids, tmp_path / "side.png", models=["beta", "missing", "alpha"])
    with PIL.Image.open(path) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    boxes = {}
    for model, colour in colours.items():
        ys, xs = np.nonzero((pixels == colour).all(axis=2))
        boxes[model] = (xs.min(), ys.min(), xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min(), len(xs))
    assert boxes["beta"][2:] == (50, 50, 50 * 50) and boxes["alpha"][2:] == (60, 40, 60 * 40)  # whole, unscaled
    assert boxes["beta"][0] + 50 <= boxes["alpha"][0]  # side by side, in the order asked
    assert not (pixels == (0, 0, 255)).all(axis=2).any()  # only seed 0
    left, top = boxes["beta"][:2]
    assert (pixels[:top, left : left + 50] < 100).all(axis=2).any()  # a dark title above the grid
    assert plots.plot_sample_grids(grids, tmp_path / "none.png", models=["missing"]) is None
    assert not (tmp_path / "none.png").exists()


def test_grey_sample_grids_are_stored_as_greyscale(tmp_path):
    for name in ("alpha-s0", "beta-s0"):
        PIL.Image.new("RGB", (30, 30), (90, 90, 90)).save(tmp_path / f"{name}.png")
    with PIL.Image.open(plots.plot_sample_grids(tmp_path, tmp_path / "out" / "side.png")) as image:
        assert image.mode == "L" and image.width > 60 and (np.asarray(image) == 90).sum() == 2 * 30 * 30


def png(width: int, height: int, colour=(0, 120, 200)) -> bytes:
    buffer = io.BytesIO()
    PIL.Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def page_sections(tmp_path: Path) -> list[Section]:
    frame = long_table()
    curve = plots.plot_curve(frame, tmp_path / "curve.png")
    board = pd.DataFrame({"model": ["<script>alert(1)</script>", "beta"], "FID": ["**1.5 ± 0.1**", "3.2"]})
    steps = pd.DataFrame({100: ["4.1"], 200: ["2.2"]}, index=pd.Index(["beta"], name="model"))
    return [
        Section("toy — protocol p1", ["Means & spreads <b>"], [("leaderboard", board), ("FID by step", steps)],
                [("FID vs training seconds", curve), ("grid", png(31, 17))], {"name": "p1", "num_generated": 10}),
        Section("other", tables=[("second leaderboard", board.head(1))]),
    ]  # fmt: skip


INVOCATION = {"command": "zoo bench --all --profile toy", "wall_seconds": 90.0, "ran": 3, "skipped": 1,
              "diverged": 0, "device_name": "cpu (x86_64, 2 threads)", "git_commit": "abc123" * 6,
              "started_at": "2026-01-01 00:00 UTC", "versions": {"torch": "2.14.1"}}  # fmt: skip


def test_the_html_page_holds_every_table_and_inlined_image_and_nothing_external(tmp_path):
    sections = page_sections(tmp_path)
    page = render_html("Leaderboard: toy", sections, intro="Intro.", invocations=[INVOCATION])
    assert page.count("<table>") == 4  # two leaderboards, the step table, the provenance
    for caption in ("leaderboard", "FID by step", "second leaderboard", "bench invocations"):
        assert f"<caption>{caption}</caption>" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script" not in page
    assert "Means &amp; spreads &lt;b&gt;" in page
    assert '<td class="num"><strong>1.5 ± 0.1</strong></td>' in page
    assert "<th>model</th><th>100</th><th>200</th>" in page and "<th>beta</th>" in page
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" width="(\d+)" height="(\d+)"', page)
    assert [base64.b64decode(b) for b, _, _ in images] == [(tmp_path / "curve.png").read_bytes(), png(31, 17)]
    assert images[1][1:] == ("31", "17")
    assert '"num_generated": 10' in page and INVOCATION["command"] in page and INVOCATION["git_commit"] in page
    assert "1.5 min" in page and "3/1/0" in page
    assert f'content="{CSP}"' in page and CSP == "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    assert not re.search(r"https?://|src=\"(?!data:)", page)
    path = write_html(tmp_path / "page.html", "Leaderboard: toy", sections, intro="Intro.", invocations=[INVOCATION])
    assert path.read_text(encoding="utf-8") == page


def test_the_html_page_refuses_an_image_that_is_not_a_png(tmp_path):
    with pytest.raises(ValueError, match="not a PNG"):
        render_html("t", [Section("s", images=[("fake", b"GIF89a" + bytes(40))])])


@needs_chromium
def test_the_html_page_renders_in_headless_chromium_with_every_table_and_image(tmp_path):
    page = render_html("Leaderboard: toy", page_sections(tmp_path), invocations=[INVOCATION])
    (tmp_path / "page.html").write_text(probed(page), encoding="utf-8")
    (tmp_path / "as-written.html").write_text(probed(page, allow_script=False), encoding="utf-8")
    profile = tmp_path / "profile"

    as_written = chromium(tmp_path / "as-written.html", "--virtual-time-budget=5000", "--dump-dom", profile=profile)
    assert 'data-images-seen="' not in as_written  # the page's CSP holds: no script (and no network) runs
    dom = chromium(tmp_path / "page.html", "--virtual-time-budget=5000", "--dump-dom", profile=profile)
    assert 'data-images-seen="2"' in dom
    assert dom.count("<table>") == 4 and "<caption>second leaderboard</caption>" in dom
    decoded = re.findall(r'<img [^>]*width="(\d+)"[^>]*data-natural-width="(\d+)"', dom)
    assert len(decoded) == 2 and all(int(natural) == int(width) > 0 for width, natural in decoded)
    chromium(
        tmp_path / "page.html", "--window-size=1200,1600", f"--screenshot={tmp_path / 'page.png'}", profile=profile
    )
    with PIL.Image.open(tmp_path / "page.png") as shot:
        assert shot.size == (1200, 1600)
        colours = shot.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colours is None or len(colours) > 20  # text, tables and plots, not a blank page
