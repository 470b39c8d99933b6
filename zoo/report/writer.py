"""The report of a results folder, rebuilt from what the folder stores: ``leaderboard.md``, its figures under
``plots/`` and ``leaderboard.html``, one self-contained page (tables, figures and sample grids inlined).

It holds the profile's budget rule and the rules the rows are judged by, then per dataset and protocol: the ranked
leaderboard of the unconditional models and, apart, of the conditional ones, each saying which question it answers,
with the warnings (coverage, diversity, copying, ignored labels), where FID and the pixel metric (SWD) rank models
differently, the budgets the models measurably got, FID on every budget axis (equal steps, images seen, training
seconds) as tables and a figure, the final metrics as a figure, the metric at every evaluated step, the metrics
that could not be computed and why, and the protocol's full settings; then the sample grids side by side, the
nearest training images of each dataset's most copying cell, the diverged runs and every bench invocation that
wrote the folder (command, wall time, machine), so each figure can be traced and reproduced. The inputs are
``cells/``, ``failures/``, ``grids/``, ``traversals/``, ``neighbours/`` and ``invocations.json``: the same folder
gives the same report.

:func:`write_report` is one pass: :func:`build_report` reads the folder once into a :class:`Report` (every
table, sentence and figure path), :func:`draw_figures` draws the figures it names, :func:`render_markdown` and
:func:`write_page` write it out.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.errors import ZooError
from zoo.fileio import write_text
from zoo.report.budgets import AxisTable, axis_tables
from zoo.report.flags import RULES
from zoo.report.html import Section, write_html
from zoo.report.leaderboard import (
    BOLD_RULE,
    budget_summary,
    disagreements,
    final_rows,
    leaderboard,
    progress_table,
    ranked_models,
    sections,
    select,
    unavailable,
    warnings_of,
)
from zoo.report.memorisation import Copier, worst_copier
from zoo.report.plots import plot_curve, plot_final_metrics, plot_sample_grids
from zoo.report.rows import conditional_models
from zoo.report.sweep import (
    SweepBoard,
    draw_sweep_figures,
    ordinary_rows,
    read_sweeps,
    sweep_boards,
    sweep_data,
    sweep_markdown,
    sweep_sections,
    sweep_text,
)
from zoo.results import REAL_DATA, TRAVERSALS, Cell, ResultStore, read_invocations

MARKDOWN, HTML, PLOTS = "leaderboard.md", "leaderboard.html", "plots"
GRIDS_FIGURE = "sample-grids.png"
Figure = tuple[str, Path]
"""(caption, PNG path) of one figure of the report."""


FAILED_NOTE = "Not results: each is tried again by the next run of the bench."


TRAVERSALS_NOTE = (
    "For each model whose generator names latent codes, each code's traversal grid at the last step: one row per "
    "draw of everything else, the code's values across (a categorical code's every value; a continuous code's range "
    "in even steps)"
)
RUNS_NOTE = (
    "The generator behind each row: its run folder, under the bench's work folder (`--work-dir`/PROFILE; "
    "`zoo.load_run`, `zoo score` and `zoo export` open it)"
)
EVERY_MODEL = "Each model at its final step, under the profile's budget rule: which model is best for this budget?"
UNCONDITIONAL = (
    "Unconditional models at their final step, under the profile's budget rule: which model is best for this budget?"
)
CONDITIONAL = (
    "Conditional models, ranked apart: each sample's class is given to them, so their class balance comes from the "
    "evaluation's labels rather than from learning. At their final step, which follows its labels and draws each "
    "class best?"
)
AXES_NOTE = (
    "The same cells on every budget axis, FID as mean ± std over seeds: the headline above compares models at the "
    "end of their budgets; these compare them at a common point of each axis."
)


@dataclass(frozen=True)
class Headline:
    """A ranked table of a leaderboard and the question it answers (its caption)."""

    question: str
    table: pd.DataFrame
    conditional: bool


@dataclass(frozen=True)
class BoardText:
    """What one leaderboard (a dataset under one protocol) says in words and tables, as every output shows it."""

    dataset: str
    protocol_id: str
    protocol: str
    headlines: list[Headline]
    """The unconditional models' table (unless there are conditional models only), then the conditional ones'."""
    warnings: list[str]
    disagreements: list[str]
    """Where FID and SWD rank models differently, or that they agree."""
    budget: str
    axes: list[AxisTable]
    """FID at equal steps, equal images seen and equal training seconds."""


@dataclass(frozen=True)
class Board(BoardText):
    """One leaderboard of the report: its text, with what is drawn and listed about it."""

    rows: pd.DataFrame
    """The dataset's rows under the protocol, its diverged rows included (what the figures are drawn from)."""
    runs: list[str]
    """The run folders of the board's cells (the ``run`` column), relative to the bench's work folder."""
    steps: pd.DataFrame
    unavailable: dict[str, str]
    settings: dict[str, Any] | None
    curve: Path | None
    """The figure of FID against steps, images seen and training seconds, when some model has an FID."""
    final: Path | None
    """The figure of the final metrics, when some model's cell did not diverge."""

    @property
    def heading(self) -> str:
        return f"{self.dataset} — protocol {self.protocol} (id {self.protocol_id})"

    @property
    def figures(self) -> list[Figure]:
        """(caption, path) of the board's figures, in the report's order."""
        figures = [
            (
                f"FID against generator steps, images seen and training seconds — {self.dataset}, protocol "
                f"{self.protocol}",
                self.curve,
            ),
            (f"Final metrics — {self.dataset}, protocol {self.protocol}", self.final),
        ]
        return [(caption, path) for caption, path in figures if path is not None]


@dataclass(frozen=True)
class Grids:
    """A dataset's sample grids (``grids/<dataset>/<model>-s<seed>.png``) and the figure of them side by side."""

    folder: Path
    files: list[Path]
    composite: Path | None
    """The lowest seed's grid of each of ``models`` side by side; None when none of them has one."""
    models: list[str]
    """The models in the composite, best first by the dataset's first leaderboard."""
    seed: int | None


@dataclass(frozen=True)
class Report:
    """Everything the report of one results folder says, before it is drawn and written as markdown or HTML."""

    root: Path
    profile: list[str]
    boards: list[Board]
    grids: dict[str, Grids]
    """Dataset -> its sample grids, for the datasets with a leaderboard and grid files."""
    traversals: dict[str, list[Path]]
    """Dataset -> the traversal grids of its models with named latent codes (``traversals/<dataset>/``)."""
    copiers: dict[str, Copier]
    """Dataset -> its cell with the highest copy share, for the datasets where that cell's neighbours figure exists."""
    diverged: list[str]
    failed: list[str]
    """The cells whose last attempt failed (not results: the next run tries them again), with the cause."""
    invocations: list[dict[str, Any]]
    sweeps: list[SweepBoard]
    """The sweep view (:mod:`zoo.report.sweep`) of the datasets with a hyperparameter sweep's trials."""

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

    @property
    def rules(self) -> str:
        return f"How rows are judged: {RULES}"


def write_report(results_dir: Path, *, html: bool = True) -> Path:
    """(Re)write ``leaderboard.md``, its figures under ``plots/`` (dropping figures no longer made) and, with
    ``html``, ``leaderboard.html`` in ``results_dir``, every file atomically; without ``html`` an existing page is
    deleted, so that no page disagrees with the tables. Returns the markdown's path.

    The one way the report is written: by the bench at the end of a run and by ``zoo report``, ``zoo leaderboard``
    and ``zoo results drop``."""
    report = build_report(results_dir)
    draw_figures(report)
    write_text(report.root / MARKDOWN, render_markdown(report))
    if html:
        write_page(report, report.root / HTML)
    else:
        (report.root / HTML).unlink(missing_ok=True)
    return report.root / MARKDOWN


def build_report(results_dir: Path) -> Report:
    """The report of ``results_dir``, read from the folder once; draws and writes nothing.

    Its boards come in the order of the latest recorded profile's datasets (then the others by name); a board's
    figures are ``plots/<dataset>/<protocol>-fid.png`` and ``-final.png``, named after the protocol (file-safe) so
    that links to them outlive a change of its settings, with the protocol id added when two protocols of one
    dataset share a name; a dataset's grids figure is ``plots/<dataset>/sample-grids.png``."""
    results_dir = Path(results_dir)
    store = ResultStore(results_dir)
    frame, protocols, invocations = store.rows(), store.protocols(), read_invocations(results_dir)
    sweeps = sweep_boards(
        frame, store.failures(), _profile_datasets(invocations), results_dir / PLOTS, results_dir / "grids"
    )
    frame = ordinary_rows(frame)
    found = sections(frame, _profile_datasets(invocations))
    shared = Counter((dataset, name) for dataset, _, name in found)
    boards = []
    for dataset, protocol_id, name in found:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "-", name) + (f"-{protocol_id}" if shared[dataset, name] > 1 else "")
        plots = results_dir / PLOTS / dataset
        boards.append(_board(frame, dataset, protocol_id, name, protocols.get(protocol_id), plots, stem))
    firsts: dict[str, Board] = {}
    for board in boards:
        firsts.setdefault(board.dataset, board)  # a dataset's first leaderboard orders its grids figure
    grids = {dataset: _grids(results_dir, board) for dataset, board in firsts.items()}
    copiers = {dataset: worst_copier(results_dir, final_rows(board.rows)) for dataset, board in firsts.items()}
    failed = [f"{Cell.of(f)}: {f['kind']} ({f['at']}): {f['cause']}" for f in store.failures()]
    return Report(
        results_dir,
        _profile_lines(invocations),
        boards,
        {dataset: found for dataset, found in grids.items() if found is not None},
        {d: files for d in firsts if (files := sorted((results_dir / TRAVERSALS / d).glob("*.png")))},
        {dataset: copier for dataset, copier in copiers.items() if copier is not None},
        _diverged(frame),
        failed,
        invocations,
        sweeps,
    )


def draw_figures(report: Report) -> list[Path]:
    """Draw every figure ``report`` names, under ``plots/`` in its folder, and delete the PNGs there that it no
    longer makes (a dropped model's, a dataset's with no results left). Returns the paths written."""
    written: list[Path] = []
    for board in report.boards:
        if board.curve:
            written.append(plot_curve(board.rows, board.curve, "fid"))
        if board.final:
            written.append(plot_final_metrics(board.rows, board.final))
    for grids in report.grids.values():
        if grids.composite and plot_sample_grids(grids.folder, grids.composite, grids.models, seed=grids.seed):
            written.append(grids.composite)
    written += draw_sweep_figures(report.sweeps)
    for stale in set((report.root / PLOTS).glob("*/*.png")) - set(written):
        stale.unlink()
    return written


def board_text(
    frame: pd.DataFrame,
    *,
    dataset: str,
    protocol_id: str,
    protocol: str,
    settings: dict[str, Any] | None = None,
    metric: str | None = None,
) -> BoardText:
    """What the leaderboard of ``dataset`` under ``protocol_id`` (called ``protocol``, with ``settings``, whose
    ``reference_class_counts`` let coverage be judged) says, its tables ranked by ``metric`` (default: FID)."""
    where = {"dataset": dataset, "protocol_id": protocol_id}
    counts = (settings or {}).get("reference_class_counts")
    rows = select(frame, **where)
    conditional = conditional_models(rows)
    headlines = []
    if set(rows["model"]) - {REAL_DATA} - conditional or not conditional:
        table = leaderboard(rows, **where, metric=metric, reference_counts=counts)
        headlines.append(Headline(UNCONDITIONAL if conditional else EVERY_MODEL, table, conditional=False))
    if conditional:
        table = leaderboard(rows, **where, metric=metric, reference_counts=counts, conditional=True)
        headlines.append(Headline(CONDITIONAL, table, conditional=True))
    return BoardText(
        dataset,
        protocol_id,
        protocol,
        headlines,
        warnings_of(rows, **where, reference_counts=counts),
        disagreements(rows, **where),
        budget_summary(rows, **where),
        axis_tables(rows),
    )


def _board(
    frame: pd.DataFrame,
    dataset: str,
    protocol_id: str,
    name: str,
    settings: dict[str, Any] | None,
    plots: Path,
    stem: str,
) -> Board:
    """The board of ``dataset`` under ``protocol_id`` (called ``name``), its figures ``plots/<stem>-fid.png`` and
    ``-final.png``."""
    rows = select(frame, dataset=dataset, protocol_id=protocol_id)
    models = rows[rows["model"] != REAL_DATA]
    has_fid = ((models["metric"] == "fid") & (models["status"] == "ok")).any()
    has_final = (final_rows(models)["status"] != "diverged").any()
    text = board_text(rows, dataset=dataset, protocol_id=protocol_id, protocol=name, settings=settings)
    return Board(
        **{field.name: getattr(text, field.name) for field in dataclasses.fields(BoardText)},
        rows=rows,
        runs=sorted({run for run in models["run"].dropna() if run}),
        steps=progress_table(rows, dataset=dataset, protocol_id=protocol_id),
        unavailable=unavailable(rows, dataset=dataset, protocol_id=protocol_id),
        settings=settings,
        curve=plots / f"{stem}-fid.png" if has_fid else None,
        final=plots / f"{stem}-final.png" if has_final else None,
    )


def _grids(results_dir: Path, board: Board) -> Grids | None:
    """The sample grids of ``board``'s dataset (None when it has none), the composite showing the lowest seed's grid
    of each model of ``board``'s leaderboards that has one, in their order (unconditional models first)."""
    folder = results_dir / "grids" / board.dataset
    files = sorted(folder.glob("*.png"))
    if not files:
        return None
    seeds = sorted(int(p.stem.rsplit("-s", 1)[1]) for p in folder.glob("*-s*.png"))
    seed = seeds[0] if seeds else None
    ranked = [m for headline in board.headlines for m in ranked_models(headline.table)]
    models = [m for m in ranked if seed is not None and (folder / f"{m}-s{seed}.png").is_file()]
    composite = results_dir / PLOTS / board.dataset / GRIDS_FIGURE if models else None
    return Grids(folder, files, composite, models, seed)


def render_markdown(report: Report) -> str:
    """``leaderboard.md``: figures and grids are linked relative to the results folder."""
    lines = [f"# {report.title}", "", report.intro, ""] + [f"{line}  " for line in report.profile] + [""]
    if not report.boards and not report.sweeps:
        return "\n".join(lines + ["No results yet.", ""])
    lines += [report.rules, ""] if report.boards else []
    for board in report.boards:
        lines += [f"## {board.dataset} — protocol `{board.protocol}` (id `{board.protocol_id}`)", ""]
        for headline in board.headlines:
            lines += [f"**{headline.question}**", "", headline.table.to_markdown(index=False), ""]
        if board.warnings:
            lines += ["**Warnings** (classes as judged by the protocol's domain classifier):", ""]
            lines += [f"- **{sentence}**" for sentence in board.warnings] + [""]
        if board.disagreements:
            lines += ["**FID against the pixel metric (SWD):**", ""]
            lines += [f"- {sentence}" for sentence in board.disagreements] + [""]
        if board.budget:
            lines += [f"Budgets measured: {board.budget}.", ""]
        if board.runs:
            lines += [f"{RUNS_NOTE}: {', '.join(f'`{run}`' for run in board.runs)}.", ""]
        if board.axes:
            lines += [f"### Every budget axis — {board.dataset}", "", AXES_NOTE, ""]
            for axis in board.axes:
                lines += [f"**{axis.question}**", "", axis.table.to_markdown(index=False), ""]
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
    lines += sweep_markdown(report.sweeps, report.root)
    if report.grids:
        lines += [
            "## Sample grids",
            "",
            "The lowest seed's grid per model, best first (a conditional model: one row per class).",
            "",
        ]
        for dataset, grids in report.grids.items():
            lines += [f"### {dataset}", ""]
            if grids.composite:
                lines += [f"![sample grids, {dataset}]({_relative(grids.composite, report.root)})", ""]
            lines += [" · ".join(f"[{f.stem}]({_relative(f, report.root)})" for f in grids.files), ""]
    if report.copiers:
        lines += ["## Nearest training images", ""]
        for dataset, copier in report.copiers.items():
            lines += [f"### {dataset}", "", f"{copier.caption}.", ""]
            lines += [f"![{copier.caption}]({_relative(copier.figure, report.root)})", ""]
    if report.traversals:
        lines += ["## Latent traversals", "", TRAVERSALS_NOTE, ""]
        for dataset, files in report.traversals.items():
            lines += [f"### {dataset}", ""]
            lines += [f"![{_traversal_caption(f)}]({_relative(f, report.root)})" for f in files] + [""]
    if report.diverged:
        lines += ["## Diverged runs", ""] + [f"- {line}" for line in report.diverged] + [""]
    if report.failed:
        lines += ["## Failed cells", "", FAILED_NOTE, ""] + [f"- {line}" for line in report.failed] + [""]
    if report.invocations:
        lines += ["## How these results were made", ""] + [f"- {_invocation(r)}" for r in report.invocations]
    return "\n".join(lines) + "\n"


def write_page(report: Report, path: Path) -> Path:
    """``leaderboard.html``: one self-contained page of ``report`` (see :mod:`zoo.report.html`)."""
    parts = [Section("Profile and budget rule", report.profile)] if report.profile else []
    parts += [Section("How rows are judged", [RULES])] if report.boards else []
    for board in report.boards:
        tables = [(headline.question, headline.table) for headline in board.headlines]
        tables += [(axis.question, axis.table) for axis in board.axes]
        if board.steps.shape[1] > 1:
            tables.append(("FID (mean over seeds) by training step", board.steps))
        warnings = [f"Warning: {sentence}" for sentence in board.warnings]
        paragraphs = [f"FID against the pixel metric (SWD): {sentence}" for sentence in board.disagreements]
        paragraphs += [f"Budgets measured: {board.budget}."] if board.budget else []
        paragraphs += [f"{RUNS_NOTE}: {', '.join(board.runs)}."] if board.runs else []
        paragraphs += [AXES_NOTE] if board.axes else []
        paragraphs += [f"{metric} unavailable: {reason}" for metric, reason in board.unavailable.items()]
        parts.append(Section(board.heading, paragraphs, tables, board.figures, board.settings, warnings=warnings))
    parts += sweep_sections(report.sweeps)
    for dataset, grids in report.grids.items():
        if grids.composite:
            caption = f"Sample grids, {dataset}: the lowest seed's per model (a conditional model: one row per class)"
            parts.append(Section(f"Sample grids — {dataset}", images=[(caption, grids.composite)]))
    for dataset, copier in report.copiers.items():
        parts.append(Section(f"Nearest training images — {dataset}", images=[(copier.caption, copier.figure)]))
    for dataset, files in report.traversals.items():
        images = [(_traversal_caption(f), f) for f in files]
        parts.append(Section(f"Latent traversals — {dataset}", [TRAVERSALS_NOTE], images=images))
    if report.diverged:
        parts.append(Section("Diverged runs", report.diverged))
    if report.failed:
        parts.append(Section("Failed cells", [FAILED_NOTE, *report.failed]))
    return write_html(path, report.title, parts, intro=report.intro, invocations=report.invocations)


def leaderboard_text(results_dir: Path, *, dataset: str | None = None, metric: str | None = None) -> str:
    """Every leaderboard in ``results_dir`` (or ``dataset``'s) as text, ranked by ``metric``, each table under the
    question it answers, with the warnings, where FID and SWD disagree, the measured budgets and the tables at
    equal steps, images seen and training seconds, after the profile's budget rule and the rules rows are judged
    by. A column's clear best is ``**bold**``, as in ``leaderboard.md``."""
    profile, boards = _printed_boards(results_dir, dataset, metric)
    blocks = ["\n".join(profile + ([RULES] if boards else []))]
    for board in boards:
        lines = [f"{board.dataset} — protocol {board.protocol} ({board.protocol_id})"]
        for headline in board.headlines:
            lines += [headline.question, headline.table.to_string(index=False)]
        lines += [f"WARNING: {s}" for s in board.warnings]
        lines += [f"FID against SWD: {s}" for s in board.disagreements]
        lines += [f"budgets measured: {board.budget}"] if board.budget else []
        for axis in board.axes:
            lines += [axis.question, axis.table.to_string(index=False)]
        blocks.append("\n".join(lines))
    blocks += sweep_text(read_sweeps(results_dir, dataset=dataset))
    return "\n\n".join(block for block in blocks if block)


def leaderboard_data(results_dir: Path, *, dataset: str | None = None, metric: str | None = None) -> dict[str, Any]:
    """What :func:`leaderboard_text` prints, as JSON-ready data: ``profile`` (the lines on the profile's description
    and budget rule), ``rules`` (how rows are judged) and ``leaderboards``, one per dataset and protocol, each with
    ``dataset``, ``protocol``, ``protocol_id``, ``rows`` (the unconditional models' ranked table, column -> text as
    printed, without bold; empty when all models are conditional), ``best`` (column -> the model clearly best in it:
    the bold of ``leaderboard.md``), ``question`` (what that table answers), ``conditional`` (the same three for the
    conditional models' table, or None), ``warnings``, ``disagreements`` (FID against SWD), ``budgets`` and
    ``axes`` (per budget axis: ``axis``, ``at``, ``question``, ``rows``, ``best``)."""
    profile, boards = _printed_boards(results_dir, dataset, metric)
    found = []
    for board in boards:
        tables = {headline.conditional: _data(headline.question, headline.table) for headline in board.headlines}
        found.append(
            {
                "dataset": board.dataset,
                "protocol": board.protocol,
                "protocol_id": board.protocol_id,
                **tables.get(False, {"question": "", "rows": [], "best": {}}),
                "conditional": tables.get(True),
                "warnings": board.warnings,
                "disagreements": board.disagreements,
                "budgets": board.budget,
                "axes": [{"axis": a.axis, "at": a.at, **_data(a.question, a.table)} for a in board.axes],
            }
        )
    sweeps = sweep_data(read_sweeps(results_dir, dataset=dataset))
    return {"profile": profile, "rules": RULES, "leaderboards": found, "sweeps": sweeps}


def _data(question: str, table: pd.DataFrame) -> dict[str, Any]:
    """A table as data: its ``question``, its ``rows`` (column -> text, without bold) and ``best`` (column -> the
    model in bold there)."""
    plain = table.map(_unbold)
    bold = table != plain
    best = {column: plain["model"][bold[column]].iloc[0] for column in bold if bold[column].any()}
    return {"question": question, "rows": plain.to_dict("records"), "best": best}


def _unbold(cell: str) -> str:
    """A table cell without the ``**`` that marks a column's best (:data:`~zoo.report.values.BOLD_RULE`)."""
    return cell[2:-2] if len(cell) > 4 and cell[:2] == cell[-2:] == "**" else cell


def _printed_boards(results_dir: Path, dataset: str | None, metric: str | None) -> tuple[list[str], list[BoardText]]:
    """The profile's lines and every leaderboard of ``results_dir`` (or ``dataset``'s), ranked by ``metric``."""
    store = ResultStore(results_dir)
    frame = store.rows()
    if dataset:
        frame = frame[frame["dataset"] == dataset]
    if frame.empty:
        raise ZooError(f"no results in {results_dir}" + (f" for dataset {dataset!r}" if dataset else ""))
    frame = ordinary_rows(frame)  # a sweep's trials: in its own view
    invocations, protocols = read_invocations(results_dir), store.protocols()
    boards = [
        board_text(frame, dataset=name, protocol_id=pid, protocol=protocol, settings=protocols.get(pid), metric=metric)
        for name, pid, protocol in sections(frame, _profile_datasets(invocations))
    ]
    return _profile_lines(invocations), boards


def _traversal_caption(path: Path) -> str:
    """``infogan-s0-c1.png`` -> ``infogan, seed 0: code c1``."""
    cell, code = path.stem.rsplit("-", 1)
    model, seed = cell.rsplit("-s", 1)
    return f"{model}, seed {seed}: code {code}"


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
