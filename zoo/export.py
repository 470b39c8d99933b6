"""A run folder as a model repository in the Hugging Face Hub's layout: ``zoo export RUN DIR``.

``DIR`` receives::

    config.json        the run's config.json (model, dataset, image shape, classes, hyperparameters, seed, budget,
                       plugin, provenance), so zoo.load_run(DIR) rebuilds the generator
    model.safetensors  the generator's weights
    README.md          a model card: YAML metadata (library, tags, dataset), then the model and its paper, the
                       data, the budget, the machine, and the scores of the run's last evaluation under each
                       protocol (with the mean ± std over seeds from a results folder, when one is given)

Nothing here talks to the network; pushing the folder is optional and left to ``huggingface_hub``
(``HfApi().upload_folder(repo_id=..., folder_path=DIR)``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from zoo.errors import ZooError
from zoo.fileio import atomic_path, read_json, writable_dir, write_json
from zoo.plugins import load_registry
from zoo.runs import load_run, weights_file

WEIGHTS = "model.safetensors"
"""The weights file of an exported folder (the Hub's name for it)."""


def export_run(run_dir: Path, out_dir: Path, *, results_csv: Path | None = None) -> Path:
    """Write ``run_dir`` (a finished run: ``zoo train``'s, or a bench cell's) to ``out_dir`` in the Hub's layout
    (module docstring); returns the model card's path. ``results_csv``: a bench's long table, for the spread over
    seeds. The run is loaded first, so a folder that does not open with :func:`zoo.load_run` is not exported."""
    registry = load_registry()
    _, config = load_run(run_dir, device="cpu", registry=registry)
    paper = registry.models[config["model"]].paper
    if out_dir.resolve() == run_dir.resolve():
        raise ZooError(f"export {run_dir} into another folder, not into itself")
    writable_dir(out_dir, "choose another folder to export to")
    summary_path = run_dir / "summary.json"
    summary = read_json(summary_path) if summary_path.is_file() else {}
    with atomic_path(out_dir / WEIGHTS) as tmp:
        shutil.copyfile(weights_file(run_dir), tmp)
    write_json(out_dir / "config.json", config)
    card = out_dir / "README.md"
    with atomic_path(card) as tmp:
        tmp.write_text(model_card(config, paper, summary, _spread(config, results_csv)))
    return card


def model_card(config: dict[str, Any], paper: str, summary: dict[str, Any], spread: dict[tuple[str, str], str]) -> str:
    """The README.md of an exported run (``config.json`` and ``summary.json`` as read; ``paper`` the model's):
    YAML metadata, then the run in words and its last evaluation as a table. ``spread`` maps (protocol, metric)
    to "mean ± std (n seeds)" text."""
    facts = config.get("provenance", {})
    plugin = config.get("plugin", {})
    metrics = summary.get("metrics", [])
    last = max((m["step"] for m in metrics), default=None)
    lines = [
        "---",
        "library_name: genzoo",
        "tags:",
        "- genzoo",
        "- image-generation",
        f"- {config['model']}",
        "datasets:",
        f"- {config['dataset']}",
        "---",
        "",
        f"# {config['model']} on {config['dataset']}, seed {config['seed']}",
        "",
        f"A `{config['model']}` generator ({plugin.get('distribution', '?')} {plugin.get('version', '')}; paper: "
        f"{paper}) trained by zoo on `{config['dataset']}` "
        f"({'x'.join(map(str, config['image_shape']))} images, {config['num_classes']} classes).",
        "",
        "```python",
        "import torch, zoo",
        'generator, config = zoo.load_run("path/to/this/folder")',
        "images = generator.sample(16, generator=torch.Generator().manual_seed(0))   # [16, C, H, W] in [-1, 1]",
        "```",
        "",
        "## Training",
        "",
        f"- budget: {config['steps']} steps of batch {config['batch_size']}"
        + (
            f", {summary['images_seen']} images seen, {summary['seconds']:.0f} s of training"
            if "seconds" in summary
            else ""
        ),
        f"- hyperparameters: `{json.dumps(config['hparams'], sort_keys=True)}`",
        f"- precision {config.get('precision', 'fp32')}, compiled: {config.get('compile', False)}",
        f"- machine: {facts.get('device_name', '?')} ({facts.get('device', '?')}), torch "
        f"{facts.get('versions', {}).get('torch', '?')}, zoo commit {facts.get('git_commit', '?')}",
        "",
        "## Scores",
        "",
    ]
    if last is None:
        lines.append("This run was not scored (trained without evaluation).")
    else:
        lines += [
            f"At step {last}, under zoo's protocols (each id names the extractor, sample counts and reference images):",
            "",
            "| protocol | metric | this run | over seeds |",
            "|---|---|---|---|",
        ]
        for m in metrics:
            if m["step"] == last:
                value = f"{m['value']:.4g}" if m["value"] is not None else f"unavailable: {m['reason']}"
                over = spread.get((m["protocol"], m["metric"]), "")
                lines.append(f"| {m['protocol']} (`{m['protocol_id']}`) | {m['metric']} | {value} | {over} |")
    return "\n".join(lines) + "\n"


def _spread(config: dict[str, Any], results_csv: Path | None) -> dict[tuple[str, str], str]:
    """(protocol, metric) -> "mean ± std (n seeds)" of the bench rows of this model and dataset at this run's step
    budget, from ``results_csv``; empty without one."""
    if results_csv is None:
        return {}
    if not results_csv.is_file():
        raise ZooError(f"{results_csv}: no such file; give a bench's results.csv, or leave --results out")
    rows = pd.read_csv(results_csv)
    rows = rows[
        (rows["model"] == config["model"])
        & (rows["dataset"] == config["dataset"])
        & (rows["step"] == config["steps"])
        & (rows["status"] == "ok")
    ]
    spread = {}
    for (protocol, metric), group in rows.groupby(["protocol", "metric"]):
        values = group["value"].astype(float)
        std = values.std(ddof=1) if len(values) > 1 else 0.0
        spread[(protocol, metric)] = f"{values.mean():.4g} ± {std:.2g} ({len(values)} seeds)"
    return spread
