"""The sweep view of a results folder: how good each model is at its best, how good typically, and how often it fails,
over the trials of a hyperparameter sweep (``zoo bench --trials``, a profile's ``[sweep]``).

Per dataset and evaluation protocol (:class:`SweepBoard`), a trial's score is its final FID (the mean over its seeds,
at each cell's last step); a trial diverged when one of its cells did, and failed when one of its cells' last
attempt failed (a failure record). The table gives per model: the trials, the best FID and the median and
interquartile range over the trials that finished, the share of trials that diverged or failed, the FID at the
model's defaults (trial 0), and the best trial with its setting as the ``--hparam`` flags that give it (the
hyperparameters the trials varied). Bold follows the main leaderboard's rule (:data:`BOLD_RULE`), with the best
trial's seed spread for the best FID and the interquartile range for the median. A figure shows the distribution
over trials per model and the expected best FID of ``k`` trials as ``k`` grows (Lucic et al. 2018, Fig. 5): an exact
bootstrap over the finished trials (every draw of ``k`` trials with replacement weighed by its probability: no
random numbers), with the interquartile range of that best as a band.

The main leaderboards rank the cells outside a sweep (:func:`ordinary_rows`); trials are ranked here only.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from zoo.errors import ZooError
from zoo.report.html import Section
from zoo.report.plots import DPI, _colors, _style, plot_sample_grids, save_png
from zoo.report.rows import conditional_models, final_rows, sections, select
from zoo.report.values import BOLD_RULE, shown
from zoo.results import REAL_DATA, ResultStore

METRIC = "fid"
"""What a trial is scored by (lower is better)."""
SWEEP_NOTE = (
    "Each trial is one setting of the model's hyperparameters: trial 0 its defaults, the others drawn from the "
    "search space it declares (zoo/search_space.py). A trial's FID is its final one (mean over seeds); best, median "
    "and IQR are over the trials that finished; a trial diverged or failed when one of its cells did. The best "
    "setting is written as the flags that give it to `zoo train` (or use `zoo train MODEL --hparams-from "
    f"RESULTS/PROFILE`). Conditional models (given each sample's class) come after the others and are never bold. "
    f"{BOLD_RULE}: here the spread is the best trial's over seeds, and the IQR for the median"
)


@dataclass(frozen=True)
class Trial:
    """One trial of a model on a dataset under a protocol: ``status`` ``ok`` (``fid``: the mean final FID over its
    seeds, ``spread`` their standard deviation, 0 for one seed), ``diverged`` or ``failed``; ``hparams`` its
    resolved hyperparameters; ``cell`` the name of its lowest seed's cell (``dcgan~t3-s0``)."""

    model: str
    trial: int
    status: str
    fid: float | None
    spread: float
    hparams: dict[str, Any]
    cell: str


@dataclass(frozen=True)
class SweepBoard:
    """The sweep view of one dataset under one protocol: its trials, the table, and the figures' paths (None: not
    drawn, e.g. for ``zoo leaderboard``)."""

    dataset: str
    protocol_id: str
    protocol: str
    trials: list[Trial]
    floor: float | None
    table: pd.DataFrame
    figure: Path | None
    grids: Path | None
    """Each model's best trial's sample grid side by side (the dataset's first board only)."""
    grid_folder: Path | None

    @property
    def heading(self) -> str:
        return f"Sweep: {self.dataset} — protocol {self.protocol} (id {self.protocol_id})"

    @property
    def best_cells(self) -> list[str]:
        """The cell of each model's best trial, in the table's order, for the grids figure."""
        best = {model: trials[0] for model, trials in _by_model(self.trials).items() if trials[0].status == "ok"}
        return [best[m].cell for m in self.table["model"] if m in best]


def ordinary_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows the main leaderboards rank: those of cells outside a sweep, without the floor of a dataset whose model
    cells are all trials (a sweep's own folder shows its floor in the sweep view)."""
    in_sweep = _in_sweep(frame)
    plain = frame[~in_sweep]
    swept = set(frame.loc[in_sweep, "dataset"]) - set(plain.loc[plain["model"] != REAL_DATA, "dataset"])
    return plain[~plain["dataset"].isin(swept)]


def _in_sweep(frame: pd.DataFrame) -> pd.Series:
    """Which rows are a sweep's trials': those whose ``trial`` is a number (empty, NaN or None outside a sweep)."""
    return pd.to_numeric(frame["trial"], errors="coerce").notna()


def sweep_boards(
    frame: pd.DataFrame,
    failures: list[dict[str, Any]],
    datasets: Sequence[str] = (),
    plots: Path | None = None,
    grids: Path | None = None,
) -> list[SweepBoard]:
    """The sweep view of every dataset and protocol ``frame`` (a results folder's rows) has trials of, in the order of
    ``datasets`` (a profile's) then by name; ``failures`` the folder's failure records. With ``plots`` (a results
    folder's ``plots/``) and ``grids`` (its ``grids/``) the boards name their figures, ``plots/<dataset>/sweep-<protocol
    id>.png`` and, for a dataset's first board, ``plots/<dataset>/sweep-grids.png``."""
    trials = frame[_in_sweep(frame)]
    if trials.empty:
        return []
    floors = frame[frame["model"] == REAL_DATA]
    boards: list[SweepBoard] = []
    for dataset, protocol_id, protocol in sections(trials, datasets):
        found = _trials(select(trials, dataset=dataset, protocol_id=protocol_id), failures, dataset)
        floor = select(floors, dataset=dataset, protocol_id=protocol_id)
        floor = floor.loc[floor["metric"] == METRIC, "value"]
        first = all(b.dataset != dataset for b in boards)
        boards.append(
            SweepBoard(
                dataset,
                protocol_id,
                protocol,
                found,
                None if floor.empty else float(floor.mean()),
                _table(found, None if floor.empty else float(floor.mean()), conditional_models(trials)),
                None if plots is None else plots / dataset / f"sweep-{protocol_id}.png",
                None if plots is None or grids is None or not first else plots / dataset / "sweep-grids.png",
                None if grids is None else grids / dataset,
            )
        )
    return boards


def read_sweeps(results_dir: Path, *, dataset: str | None = None) -> list[SweepBoard]:
    """The sweep boards of ``results_dir`` (``dataset``'s only, when given), without figures."""
    store = ResultStore(results_dir)
    frame = store.rows()
    return [b for b in sweep_boards(frame, store.failures()) if dataset in (None, b.dataset)]


def _trials(rows: pd.DataFrame, failures: list[dict[str, Any]], dataset: str) -> list[Trial]:
    """Every trial with rows in ``rows`` (one dataset under one protocol, diverged rows included) or a failure record
    of ``dataset``, best first within each model (finished by FID, then diverged, then failed)."""
    final = final_rows(rows)
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for (model, trial), cells in final.groupby(["model", "trial"]):
        ok = cells[(cells["metric"] == METRIC) & (cells["status"] == "ok")]
        diverged = (cells["status"] == "diverged").any()
        found[model, int(trial)] = {
            "status": "diverged" if diverged or ok.empty else "ok",
            "fid": None if diverged or ok.empty else float(ok["value"].mean()),
            "spread": 0.0 if len(ok) < 2 else float(ok["value"].std()),
            "hparams": json.loads(cells["hparams"].iloc[0]),
            "cell": f"{model}~t{int(trial)}-s{int(cells['seed'].min())}",
        }
    for record in failures:
        if record["dataset"] != dataset or record.get("trial") is None:
            continue
        hparams = record.get("key", {}).get("run", {}).get("hparams", {})
        entry = found.setdefault((record["model"], record["trial"]), {"hparams": hparams, "spread": 0.0})
        entry |= {"status": "failed", "fid": None, "cell": f"{record['model']}~t{record['trial']}-s{record['seed']}"}
    trials = [Trial(model, trial, **entry) for (model, trial), entry in found.items()]
    order = {"ok": 0, "diverged": 1, "failed": 2}
    return sorted(trials, key=lambda t: (t.model, order[t.status], t.fid if t.fid is not None else 0.0, t.trial))


def _by_model(trials: list[Trial]) -> dict[str, list[Trial]]:
    grouped: dict[str, list[Trial]] = {}
    for trial in trials:
        grouped.setdefault(trial.model, []).append(trial)
    return grouped


def _table(trials: list[Trial], floor: float | None, conditional: set[str]) -> pd.DataFrame:
    """The sweep table (string cells, ready to print): the floor, then the models by their best FID, the
    ``conditional`` ones after the others and never bold (given each sample's class, as in the main tables)."""
    grouped = _by_model(trials)
    stats = {}
    for model, found in grouped.items():
        scores = np.array([t.fid for t in found if t.status == "ok"])
        stats[model] = {
            "best": found[0] if scores.size else None,
            "quartiles": np.percentile(scores, [25, 50, 75]) if scores.size else None,
        }
    ranked = {m: s for m, s in stats.items() if s["best"] and m not in conditional}
    best_bold = _clear_best({m: (s["best"].fid, s["best"].spread) for m, s in ranked.items()}, "spread")
    median_bold = _clear_best({m: tuple(s["quartiles"]) for m, s in ranked.items()}, "range")
    order = sorted(
        grouped,
        key=lambda m: (m in conditional, stats[m]["best"] is None, stats[m]["best"].fid if stats[m]["best"] else 0),
    )
    table = []
    if floor is not None:
        table.append({"model": REAL_DATA, "trials": "", "best FID": _fid(floor)})
    for model in order:
        found, best, quartiles = grouped[model], stats[model]["best"], stats[model]["quartiles"]
        bad = sum(t.status != "ok" for t in found)
        default = next((t for t in found if t.trial == 0), None)
        line = {"model": model, "trials": str(len(found))}
        line["best FID"] = _bold(_fid(best.fid), model == best_bold) if best else "n/a"
        line["median FID"] = _bold(_fid(quartiles[1]), model == median_bold) if best else "n/a"
        line["IQR"] = f"{_fid(quartiles[0])}–{_fid(quartiles[2])}" if best else ""
        line["diverged or failed"] = f"{bad} of {len(found)} ({bad / len(found):.0%})"
        line["at defaults (trial 0)"] = (
            "" if default is None else _fid(default.fid) if default.status == "ok" else default.status
        )
        line["best trial"] = f"t{best.trial}" if best else ""
        line["best setting"] = _flags(best.hparams, _varied(found)) if best else ""
        table.append(line)
    return pd.DataFrame(table).fillna("")


def _varied(trials: list[Trial]) -> list[str]:
    """The hyperparameters whose value differs between ``trials`` (what the sweep drew), in name order; a trial
    whose setting was not recorded (a failure before planning) is left out."""
    known = [t.hparams for t in trials if t.hparams]
    names = sorted({name for hparams in known for name in hparams})
    return [n for n in names if len({json.dumps(hparams.get(n), sort_keys=True) for hparams in known}) > 1]


def _flags(hparams: dict[str, Any], names: list[str]) -> str:
    """``names`` of ``hparams`` as the ``--hparam`` flags that give them (values as JSON, quoted for a shell);
    ``(defaults)`` when none."""
    if not names:
        return "(defaults)"
    given = (f"{name}={json.dumps(hparams[name], separators=(',', ':'))}" for name in names)
    return " ".join(f"--hparam {shlex.quote(flag)}" for flag in given)


def _fid(value: float) -> str:
    return shown(METRIC, value)


def _bold(text: str, bold: bool) -> str:
    return f"**{text}**" if bold else text


def _clear_best(values: dict[str, tuple[float, ...]], kind: str) -> str | None:
    """The model to bold under :data:`BOLD_RULE` (lower is better), or None. ``values``: model -> ``(value,
    spread)`` (``kind="spread"``: the interval value ± spread) or ``(low, value, high)`` (``kind="range"``)."""
    if len(values) < 2:
        return None
    center = (lambda v: v[0]) if kind == "spread" else (lambda v: v[1])
    low = (lambda v: v[0] - v[1]) if kind == "spread" else (lambda v: v[0])
    high = (lambda v: v[0] + v[1]) if kind == "spread" else (lambda v: v[2])
    best, second = sorted(values, key=lambda m: center(values[m]))[:2]
    if _fid(center(values[best])) == _fid(center(values[second])):
        return None
    return None if high(values[best]) >= low(values[second]) else best


def best_of_k(scores: Sequence[float], k: int) -> tuple[float, float, float]:
    """The expected best (lowest) of ``k`` scores drawn with replacement from ``scores``, and the 25th and 75th
    percentiles of that best: an exact bootstrap (the best of a draw is the ``i``-th lowest score with probability
    ``((n-i+1)/n)^k - ((n-i)/n)^k``)."""
    values = np.sort(np.asarray(scores, dtype=float))
    n = len(values)
    if n == 0 or k < 1:
        raise ValueError("best_of_k needs scores and k >= 1")
    survive = ((n - np.arange(n + 1)) / n) ** k  # P(best >= the i-th lowest), i = 0..n
    probability = survive[:-1] - survive[1:]
    below = 1 - survive[1:]  # P(best <= the i-th lowest)
    q25, q75 = (values[int(np.searchsorted(below, q - 1e-12))] for q in (0.25, 0.75))
    return float(probability @ values), float(q25), float(q75)


def sweep_figure(board: SweepBoard) -> Figure:
    """Two panels for ``board``: each model's final FID over its finished trials (a box and the trials as points,
    diverged and failed ones counted below), and the expected best FID of ``k`` trials against ``k``
    (:func:`best_of_k`), with the real-data floor dashed in both. Raises :class:`ZooError` when no trial finished."""
    grouped = {m: [t.fid for t in found if t.status == "ok"] for m, found in _by_model(board.trials).items()}
    models = [m for m in board.table["model"] if grouped.get(m)]
    if not models:
        raise ZooError(f"no finished trials on {board.dataset} to plot")
    colors = _colors(pd.DataFrame({"model": list(grouped)}))
    with _style():
        figure = Figure(figsize=(10.0, 3.8), dpi=DPI, layout="constrained")
        FigureCanvasAgg(figure)
        spread, best = figure.subplots(1, 2, gridspec_kw={"width_ratios": [1.1, 1.0]})
        spread.boxplot([grouped[m] for m in models], showfliers=False, widths=0.5, medianprops={"color": "0.2"})
        for x, model in enumerate(models, start=1):
            jitter = np.linspace(-0.12, 0.12, len(grouped[model])) if len(grouped[model]) > 1 else [0.0]
            spread.scatter(x + np.asarray(jitter), grouped[model], color=colors[model], s=16, zorder=3)
            bad = sum(t.status != "ok" for t in board.trials if t.model == model)
            if bad:
                spread.annotate(f"+{bad} ✗", (x, 0), xycoords=("data", "axes fraction"), xytext=(0, 2),
                                textcoords="offset points", ha="center", fontsize=7, color="tab:red")  # fmt: skip
        spread.set_xticks(range(1, len(models) + 1), models, rotation=20)
        spread.set_ylabel("final FID per trial — lower is better")
        spread.set_title("FID over trials (✗: diverged or failed)")
        for model in models:
            ks = np.arange(1, len([t for t in board.trials if t.model == model]) + 1)
            curve = np.array([best_of_k(grouped[model], k) for k in ks])
            best.plot(ks, curve[:, 0], color=colors[model], marker="o", markersize=3, label=model)
            best.fill_between(ks, curve[:, 1], curve[:, 2], color=colors[model], alpha=0.15, linewidth=0)
        best.set_xlabel("trials k")
        best.set_ylabel("expected best FID of k trials")
        best.set_title("Best of k trials (bootstrap; band: IQR)")
        best.xaxis.get_major_locator().set_params(integer=True)
        for axes in (spread, best):
            if board.floor is not None:
                axes.axhline(board.floor, color="0.35", linestyle="--", linewidth=1)
            if all(v > 0 for m in models for v in grouped[m]):
                axes.set_yscale("log")
                axes.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
                axes.yaxis.set_major_formatter(ticker.StrMethodFormatter("{x:g}"))
                axes.yaxis.set_minor_formatter(ticker.NullFormatter())
        best.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        floor = f"; dashed: {REAL_DATA} ({board.floor:.3g})" if board.floor is not None else ""
        figure.suptitle(f"Sweep — {board.dataset}, protocol {board.protocol}{floor}")
    return figure


def draw_sweep_figures(boards: Sequence[SweepBoard]) -> list[Path]:
    """Draw each board's figures where it names them; returns the paths written."""
    written = []
    for board in boards:
        if board.figure is not None and any(t.status == "ok" for t in board.trials):
            written.append(save_png(sweep_figure(board), board.figure))
        seeds = {int(cell.rsplit("-s", 1)[1]) for cell in board.best_cells}
        if board.grids is not None and board.grid_folder is not None and len(seeds) == 1:
            names = [cell.rsplit("-s", 1)[0] for cell in board.best_cells]
            if plot_sample_grids(board.grid_folder, board.grids, names, seed=seeds.pop()):
                written.append(board.grids)
    return written


def _figures(board: SweepBoard) -> list[tuple[str, Path]]:
    figures = [
        (f"FID over trials and best of k trials — {board.dataset}, protocol {board.protocol}", board.figure),
        (f"Sample grids of each model's best trial — {board.dataset}", board.grids),
    ]
    return [(caption, path) for caption, path in figures if path is not None and path.is_file()]


def sweep_markdown(boards: Sequence[SweepBoard], root: Path) -> list[str]:
    """The sweep view's lines of ``leaderboard.md`` (figures linked relative to ``root``)."""
    lines = []
    for board in boards:
        lines += [f"## Sweep: {board.dataset} — protocol `{board.protocol}` (id `{board.protocol_id}`)", ""]
        lines += [f"{SWEEP_NOTE}.", "", board.table.to_markdown(index=False), ""]
        lines += [f"![{caption}]({path.relative_to(root).as_posix()})\n" for caption, path in _figures(board)]
    return lines


def sweep_sections(boards: Sequence[SweepBoard]) -> list[Section]:
    """The sweep view's sections of ``leaderboard.html``."""
    return [Section(b.heading, [f"{SWEEP_NOTE}."], [("sweep", b.table)], _figures(b)) for b in boards]


def sweep_text(boards: Sequence[SweepBoard]) -> list[str]:
    """The sweep view as ``zoo leaderboard`` prints it: one block per board."""
    return [f"{b.heading}\n{b.table.to_string(index=False)}" for b in boards]


def sweep_data(boards: Sequence[SweepBoard]) -> list[dict[str, Any]]:
    """The sweep view as ``zoo leaderboard --json`` gives it: per board, its dataset, protocol and rows (column ->
    text as printed, without bold)."""
    return [
        {
            "dataset": b.dataset,
            "protocol": b.protocol,
            "protocol_id": b.protocol_id,
            "rows": b.table.replace(r"^\*\*(.*)\*\*$", r"\1", regex=True).to_dict("records"),
        }
        for b in boards
    ]


@dataclass(frozen=True)
class Best:
    """The best finished cell of a model on a dataset (:func:`best_cell`): its name, final FID under ``protocol``,
    resolved hyperparameters, and how many cells it was chosen from."""

    cell: str
    fid: float
    protocol: str
    hparams: dict[str, Any]
    among: int


def best_cell(results_dir: Path, model: str, dataset: str) -> Best:
    """The cell of ``model`` on ``dataset`` in ``results_dir`` with the lowest final FID (mean over seeds for a
    sweep's trial) under the first protocol its rows name (the profile's first): a sweep's best trial, or any cell
    of an ordinary bench. Raises :class:`ZooError` naming what the folder has when there is none."""
    rows = ResultStore(results_dir).rows()
    mine = rows[(rows["model"] == model) & (rows["dataset"] == dataset)]
    scored = mine[(mine["metric"] == METRIC) & (mine["status"] == "ok")]
    if scored.empty:
        models = rows[rows["model"] != REAL_DATA]
        have = sorted({f"{m} on {d}" for m, d in zip(models["model"], models["dataset"], strict=True)})
        raise ZooError(
            f"no finished {model} cell on {dataset} with an FID in {results_dir}; it has: {', '.join(have) or 'none'}"
        )
    protocol_id = scored["protocol_id"].iloc[0]
    final = final_rows(select(mine, dataset=dataset, protocol_id=protocol_id))
    final = final[(final["metric"] == METRIC) & (final["status"] == "ok")]
    keyed = final.assign(trial=pd.to_numeric(final["trial"], errors="coerce").fillna(-1))  # outside a sweep: -1
    fids = keyed.groupby("trial")["value"].mean().sort_values(kind="stable")
    chosen = keyed[keyed["trial"] == fids.index[0]]
    trial, seed = int(fids.index[0]), int(chosen["seed"].min())
    name = f"{model}-s{seed}" if trial < 0 else f"{model}~t{trial}-s{seed}"
    hparams = json.loads(chosen["hparams"].iloc[0])
    return Best(name, float(fids.iloc[0]), chosen["protocol"].iloc[0], hparams, len(fids))
