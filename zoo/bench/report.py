"""The report of a results folder, rebuilt from what the folder stores: ``leaderboard.md``, its figures under
``plots/`` and ``leaderboard.html``, one self-contained page (tables, figures and sample grids inlined).

It holds the profile's budget rule, then per dataset and protocol: the ranked leaderboard with its warnings
(collapsed models, conditional models that ignore their labels), the budgets the models measurably got, FID
against training seconds and the final metrics as figures, the metric at every evaluated step, the metrics that
could not be computed and why, and the protocol's full settings; then the sample grids side by side, the
diverged runs and every bench invocation that wrote the folder (command, wall time, machine), so each figure can
be traced and reproduced. The inputs are ``cells/``, ``grids/`` and ``invocations.json``: the same folder gives
the same report.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.bench.html import Section, write_html
from zoo.bench.leaderboard import (
    BOLD_RULE,
    budget_summary,
    final_rows,
    leaderboard,
    progress_table,
    ranked_models,
    sections,
    select,
    unavailable,
    warnings_of,
)
from zoo.bench.plots import plot_curve, plot_final_metrics, plot_sample_grids
from zoo.bench.profiles import Profile
from zoo.bench.store import REAL_DATA, Cell, ResultStore
from zoo.errors import ZooError
from zoo.fileio import read_json, write_json, write_text

INVOCATIONS = "invocations.json"
MARKDOWN, HTML, PLOTS = "leaderboard.md", "leaderboard.html", "plots"
GRIDS_FIGURE = "sample-grids.png"
Figure = tuple[str, Path]
"""(caption, PNG path) of one figure of the report."""


FAILED_NOTE = "Not results: each is tried again by the next run of the bench."


def profile_record(profile: Profile) -> dict[str, Any]:
    """What the report shows of the profile a bench ran under (stored with each invocation): its description,
    its budget rule and the budgets it sets."""
    return {
        "name": profile.name,
        "description": profile.description,
        "budget": profile.budget,
        "batch_size": profile.batch_size,
        "steps": profile.steps,
        "steps_per_model": dict(sorted(profile.steps_per_model.items())),
        "eval_at": list(profile.eval_at),
        "datasets": list(profile.datasets),
        "seeds": list(profile.seeds),
    }


def record_invocation(results_dir: Path, record: dict[str, Any]) -> None:
    """Append one bench invocation (command, wall time, counts, machine, profile) to the folder's history,
    atomically."""
    path = Path(results_dir) / INVOCATIONS
    history = read_json(path) if path.exists() else []
    write_json(path, [*history, record])


@dataclass(frozen=True)
class Board:
    """One leaderboard of the report: a dataset under one protocol, with what is said and drawn about it."""

    dataset: str
    protocol_id: str
    protocol: str
    table: pd.DataFrame
    warnings: list[str]
    budget: str
    steps: pd.DataFrame
    unavailable: dict[str, str]
    settings: dict[str, Any] | None
    figures: list[Figure]

    @property
    def heading(self) -> str:
        return f"{self.dataset} — protocol {self.protocol} (id {self.protocol_id})"


@dataclass(frozen=True)
class Report:
    """Everything the report of one results folder says, before it is written as markdown or HTML."""

    root: Path
    profile: list[str]
    boards: list[Board]
    grids: dict[str, tuple[Path | None, list[Path]]]
    """dataset -> (the side-by-side figure of its models' grids, each grid file)."""
    diverged: list[str]
    failed: list[str]
    """The cells whose last attempt failed (not results: the next run tries them again), with the cause."""
    invocations: list[dict[str, Any]]

    @property
    def title(self) -> str:
        return f"Leaderboard: {self.root.name}"

    @property
    def intro(self) -> str:
        return (
            "Written by zoo from the stored results (see how they were made at the end); do not edit by hand. "
            "Figures are the mean ± sample standard deviation over seeds at each model's last step. "
            f"{BOLD_RULE}. {REAL_DATA} scores training images against the reference: the floor a model could "
            "reach. Tables never mix evaluation protocols; steps, images seen and training seconds are measured."
        )


def write_report(results_dir: Path, *, html: bool = True) -> Path:
    """(Re)write ``leaderboard.md``, its figures under ``plots/`` (dropping figures no longer made) and, with
    ``html``, ``leaderboard.html`` in ``results_dir``, every file atomically; without ``html`` an existing page is
    deleted, so that no page disagrees with the tables. Returns the markdown's path."""
    results_dir = Path(results_dir)
    draw_figures(results_dir, ResultStore(results_dir).rows())
    report = build_report(results_dir)
    write_text(results_dir / MARKDOWN, render_markdown(report))
    if html:
        write_page(report, results_dir / HTML)
    else:
        (results_dir / HTML).unlink(missing_ok=True)
    return results_dir / MARKDOWN


def build_report(results_dir: Path) -> Report:
    """The report of ``results_dir``, with the figures :func:`draw_figures` left under ``plots/``."""
    results_dir = Path(results_dir)
    store = ResultStore(results_dir)
    frame, protocols = store.rows(), store.protocols()
    invocations = read_json(results_dir / INVOCATIONS) if (results_dir / INVOCATIONS).exists() else []
    plots, found = results_dir / PLOTS, sections(frame, _profile_datasets(invocations))
    figures = figure_files(plots, found)
    boards = [
        Board(
            dataset=dataset,
            protocol_id=protocol_id,
            protocol=name,
            table=leaderboard(frame, dataset=dataset, protocol_id=protocol_id),
            warnings=warnings_of(frame, dataset=dataset, protocol_id=protocol_id),
            budget=budget_summary(frame, dataset=dataset, protocol_id=protocol_id),
            steps=progress_table(frame, dataset=dataset, protocol_id=protocol_id),
            unavailable=unavailable(frame, dataset=dataset, protocol_id=protocol_id),
            settings=protocols.get(protocol_id),
            figures=[f for f in figures[dataset, protocol_id] if f[1].exists()],
        )
        for dataset, protocol_id, name in found
    ]
    grids = {}
    for dataset in dict.fromkeys(board.dataset for board in boards):
        files = sorted((results_dir / "grids" / dataset).glob("*.png"))
        if files:
            composite = plots / dataset / GRIDS_FIGURE
            grids[dataset] = (composite if composite.exists() else None, files)
    failed = [
        f"{Cell(f['model'], f['dataset'], f['seed'])}: {f['kind']} ({f['at']}): {f['cause']}" for f in store.failures()
    ]
    return Report(results_dir, _profile_lines(invocations), boards, grids, _diverged(frame), failed, invocations)


def figure_files(plots: Path, found: list[tuple[str, str, str]]) -> dict[tuple[str, str], list[Figure]]:
    """(dataset, protocol id) -> its leaderboard's figures, FID against training seconds and the final metrics,
    for the :func:`~zoo.bench.leaderboard.sections` ``found``: ``plots/<dataset>/<protocol>-fid.png`` and
    ``-final.png``, named after the protocol (file-safe) so that links to them outlive a change of its settings;
    the protocol id is added when two protocols of one dataset share a name."""
    names = Counter((dataset, name) for dataset, _, name in found)
    files = {}
    for dataset, protocol_id, name in found:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name) + (f"-{protocol_id}" if names[dataset, name] > 1 else "")
        files[dataset, protocol_id] = [
            (f"FID against training seconds — {dataset}, protocol {name}", plots / dataset / f"{stem}-fid.png"),
            (f"Final metrics — {dataset}, protocol {name}", plots / dataset / f"{stem}-final.png"),
        ]
    return files


def draw_figures(results_dir: Path, frame: pd.DataFrame) -> list[Path]:
    """Draw every figure of the report of ``frame`` (the rows stored in ``results_dir``) under ``plots/``, and
    delete the PNGs there that it no longer makes (a dropped model's, a dataset's with no results left).

    Per dataset and protocol: FID against training seconds (when some model has an FID) and the final metrics;
    per dataset: its models' sample grids of the lowest seed side by side, best first by the dataset's first
    leaderboard. Returns the paths written."""
    results_dir = Path(results_dir)
    plots = results_dir / PLOTS
    written: list[Path] = []
    order: dict[str, list[str]] = {}
    found = sections(frame)
    for (dataset, protocol_id), ((_, fid_path), (_, final_path)) in figure_files(plots, found).items():
        rows = select(frame, dataset=dataset, protocol_id=protocol_id)
        models = rows[rows["model"] != REAL_DATA]
        order.setdefault(dataset, ranked_models(leaderboard(frame, dataset=dataset, protocol_id=protocol_id)))
        if ((models["metric"] == "fid") & (models["status"] == "ok")).any():
            written.append(plot_curve(rows, fid_path, "fid"))
        if (final_rows(models)["status"] != "diverged").any():
            written.append(plot_final_metrics(rows, final_path))
    for dataset, models in order.items():
        grids = results_dir / "grids" / dataset
        seeds = sorted(int(p.stem.rsplit("-s", 1)[1]) for p in grids.glob("*-s*.png"))
        composite = plot_sample_grids(grids, plots / dataset / GRIDS_FIGURE, models, seed=seeds[0]) if seeds else None
        written += [composite] if composite else []
    for stale in set(plots.glob("*/*.png")) - set(written):
        stale.unlink()
    return written


def render_markdown(report: Report) -> str:
    """``leaderboard.md``: figures and grids are linked relative to the results folder."""
    lines = [f"# {report.title}", "", report.intro, ""] + [f"{line}  " for line in report.profile] + [""]
    if not report.boards:
        return "\n".join(lines + ["No results yet.", ""])
    for board in report.boards:
        lines += [f"## {board.dataset} — protocol `{board.protocol}` (id `{board.protocol_id}`)", ""]
        lines += [board.table.to_markdown(index=False), ""]
        if board.warnings:
            lines += ["**Warnings** (classes as judged by the protocol's domain classifier):", ""]
            lines += [f"- **{sentence}**" for sentence in board.warnings] + [""]
        if board.budget:
            lines += [f"Budgets measured: {board.budget}.", ""]
        lines += [
            line for caption, path in board.figures for line in (f"![{caption}]({_relative(path, report.root)})", "")
        ]
        if board.steps.shape[1] > 1:
            lines += ["FID (mean over seeds) by training step:", "", board.steps.to_markdown(), ""]
        lines += [f"- `{metric}` unavailable: {reason}" for metric, reason in board.unavailable.items()]
        if board.settings is not None:
            settings = json.dumps(board.settings, indent=2, sort_keys=True)
            lines += ["", "<details><summary>protocol settings</summary>", "", "```json", settings, "```", ""]
            lines += ["</details>"]
        lines += [""]
    if report.grids:
        lines += [
            "## Sample grids",
            "",
            "The lowest seed's grid per model, best first (a conditional model: one row per class).",
            "",
        ]
        for dataset, (composite, files) in report.grids.items():
            lines += [f"### {dataset}", ""]
            lines += [f"![sample grids, {dataset}]({_relative(composite, report.root)})", ""] if composite else []
            lines += [" · ".join(f"[{f.stem}]({_relative(f, report.root)})" for f in files), ""]
    if report.diverged:
        lines += ["## Diverged runs", ""] + [f"- {line}" for line in report.diverged] + [""]
    if report.failed:
        lines += ["## Failed cells", "", FAILED_NOTE, ""] + [f"- {line}" for line in report.failed] + [""]
    if report.invocations:
        lines += ["## How these results were made", ""] + [f"- {_invocation(r)}" for r in report.invocations]
    return "\n".join(lines) + "\n"


def write_page(report: Report, path: Path) -> Path:
    """``leaderboard.html``: one self-contained page of ``report`` (see :mod:`zoo.bench.html`)."""
    parts = [Section("Profile and budget rule", report.profile)] if report.profile else []
    for board in report.boards:
        tables = [("leaderboard", board.table)]
        if board.steps.shape[1] > 1:
            tables.append(("FID (mean over seeds) by training step", board.steps))
        warnings = [f"Warning: {sentence}" for sentence in board.warnings]
        paragraphs = [f"Budgets measured: {board.budget}."] if board.budget else []
        paragraphs += [f"{metric} unavailable: {reason}" for metric, reason in board.unavailable.items()]
        parts.append(Section(board.heading, paragraphs, tables, board.figures, board.settings, warnings=warnings))
    for dataset, (composite, _) in report.grids.items():
        if composite:
            caption = f"Sample grids, {dataset}: the lowest seed's per model (a conditional model: one row per class)"
            parts.append(Section(f"Sample grids — {dataset}", images=[(caption, composite)]))
    if report.diverged:
        parts.append(Section("Diverged runs", report.diverged))
    if report.failed:
        parts.append(Section("Failed cells", [FAILED_NOTE, *report.failed]))
    return write_html(path, report.title, parts, intro=report.intro, invocations=report.invocations)


def leaderboard_text(results_dir: Path, *, dataset: str | None = None, metric: str | None = None) -> str:
    """Every leaderboard in ``results_dir`` (or ``dataset``'s) as plain text, ranked by ``metric``, each with
    its warnings and measured budgets, after the profile's budget rule."""
    frame = ResultStore(results_dir).rows()
    if dataset:
        frame = frame[frame["dataset"] == dataset]
    if frame.empty:
        raise ZooError(f"no results in {results_dir}" + (f" for dataset {dataset!r}" if dataset else ""))
    path = Path(results_dir) / INVOCATIONS
    invocations = read_json(path) if path.exists() else []
    blocks = ["\n".join(_profile_lines(invocations))]
    for name, protocol_id, protocol in sections(frame, _profile_datasets(invocations)):
        table = leaderboard(frame, dataset=name, protocol_id=protocol_id, metric=metric)
        lines = [f"{name} — protocol {protocol} ({protocol_id})", table.to_string(index=False)]
        lines += [f"WARNING: {s}" for s in warnings_of(frame, dataset=name, protocol_id=protocol_id)]
        budget = budget_summary(frame, dataset=name, protocol_id=protocol_id)
        lines += [f"budgets measured: {budget}"] if budget else []
        blocks.append("\n".join(lines))
    return "\n\n".join(block for block in blocks if block)


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _profile_lines(invocations: list[dict[str, Any]]) -> list[str]:
    """What the invocations recorded of their profiles: the latest one's description and budget rule, and a
    warning when the folder was written under different profile settings."""
    if not invocations:
        return []
    recorded = _recorded_profiles(invocations)
    if not recorded:
        name = invocations[-1].get("profile", "?")
        return [f"Profile {name}: its settings and budget rule were not recorded (made by an older zoo)."]
    latest = recorded[-1]
    lines = [f"Profile {latest['name']}: {_sentence(latest['description'] or '(no description)')}"]
    lines.append(
        f"Budget rule: {_sentence(latest['budget'] or _stated_steps(latest) + ' (the profile states no rule)')}"
    )
    distinct = {json.dumps(r, sort_keys=True) for r in recorded}
    if len(distinct) > 1:
        lines.append(
            f"Warning: these results were written under {len(distinct)} different profile settings "
            "(see the invocations); rows made under earlier ones may not compare with the latest."
        )
    return lines


def _profile_datasets(invocations: list[dict[str, Any]]) -> list[str]:
    """The datasets of the latest recorded profile, in its order (the order of the report's sections)."""
    recorded = _recorded_profiles(invocations)
    return recorded[-1]["datasets"] if recorded else []


def _recorded_profiles(invocations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The profile settings recorded with ``invocations``, oldest first (older zoo versions recorded none)."""
    return [r["profile_settings"] for r in invocations if "profile_settings" in r]


def _sentence(text: str) -> str:
    return text.rstrip(". ") + "."


def _stated_steps(profile: dict[str, Any]) -> str:
    others = ", ".join(f"{m} {s}" for m, s in profile["steps_per_model"].items())
    return f"{profile['steps']} steps at batch {profile['batch_size']} per model" + (f" ({others})" if others else "")


def _diverged(frame: pd.DataFrame) -> list[str]:
    rows = frame[frame["status"] == "diverged"]
    return [
        f"{r.model} on {r.dataset}, seed {int(r.seed)}: at step {int(r.step)} ({r.reason})" for r in rows.itertuples()
    ]


def _invocation(record: dict[str, Any]) -> str:
    return (
        f"`{record['command']}` — {record['wall_seconds'] / 60:.1f} min wall time, {record['ran']} cells run, "
        f"{record['skipped']} skipped, {record['diverged']} diverged; {record['device_name']}, commit "
        f"`{record['git_commit']}`, {record['started_at']}{' (interrupted)' if record.get('interrupted') else ''}"
    )
