"""The GPU check's record (``gpu_check.json``, :mod:`gpu_check`) as the short markdown page it writes beside it."""

from __future__ import annotations

from typing import Any


def summary_markdown(record: dict[str, Any]) -> str:
    """The check's record as a short markdown page: the stages, then each stage's main figures."""
    environment, carry = record.get("environment", {}), record["carry"]
    title = "dry run on the CPU" if record["dry_run"] else environment.get("device", "device not yet known")
    versions = environment.get("versions", {})
    lines = [
        f"# GPU check: {title}",
        "",
        f"commit {record['commit']}; started {record['started']}; {record.get('elapsed_s', 0)} s of the "
        f"{record['budget_s']:g} s budget; Python {environment.get('python', '?')}, "
        f"torch {versions.get('torch', '?')}, CUDA {environment.get('cuda_version')}; sent: checkout "
        f"{carry['checkout_bytes'] / 2**20:.1f} MiB + carried {carry['carried_bytes'] / 2**20:.1f} MiB of "
        f"{carry['travel_limit_bytes'] / 2**20:.0f} MiB",
    ]
    rows = [[name, s["status"], s["seconds"], s["limit_s"], s["reason"]] for name, s in record["stages"].items()]
    lines += table(["stage", "status", "seconds", "limit", "note"], rows)
    figures = {name: stage["figures"] for name, stage in record["stages"].items() if stage["figures"]}
    loops = [row for name in ("throughput", "compiled", "stacked") for row in figures.get(name, {}).get("loop", [])]
    if loops:
        lines += ["", "## zoo's loop against a bare loop (img/s, batch 64)"]
        rows = [
            [r["model"], r["mode"], f"{r['zoo_img_s']:.0f}", f"{r['bare_img_s']:.0f}", f"{r['zoo_over_bare']:.3f}"]
            for r in loops
        ]
        lines += table(["model", "mode", "zoo", "bare", "zoo/bare"], rows)
    stacked = figures.get("stacked", {}).get("stacked", [])
    if stacked:
        lines += ["", "## Seeds stacked into one process"]
        lines += table(
            list(stacked[0]), [[f"{v:.4g}" if isinstance(v, float) else v for v in r.values()] for r in stacked]
        )
    if "eval_split" in figures:
        split = figures["eval_split"]
        lines += ["", f"## One evaluation point: {split['samples']} samples, Inception {split['inception_weights']}"]
        lines += table(["piece", "seconds"], [[piece, f"{t:.3f}"] for piece, t in split["seconds"].items()])
    if "concurrency" in figures:
        lines += ["", "## Cells at once (DCGAN)"]
        rows = [
            [
                c["cells_at_once"],
                f"{c['wall_s']:.1f}",
                f"{c['images_per_wall_s']:.0f}",
                f"{c['cell_images_per_train_s']:.0f}",
                f"{c['busy_share']:.0%}",
            ]
            for c in figures["concurrency"]["concurrency"]
        ]
        lines += table(["cells at once", "wall s", "img/s over the wall", "img/s per cell training", "busy"], rows)
    if "bench" in figures:
        cells = figures["bench"]["cells"]
        trained = sum(c["train_seconds"] or 0 for c in cells)
        evaluated = sum(c["eval_seconds"] or 0 for c in cells)
        share = evaluated / max(trained + evaluated, 1e-9)
        lines += [
            "",
            f"## Reduced gpu-profile bench: {trained:.0f} s training, {evaluated:.0f} s evaluating "
            f"({share:.0%} evaluation)",
        ]
        seconds = lambda value: "" if value is None else f"{value:.1f}"  # noqa: E731 - the floor trains nothing
        rows = [[c["model"], c["step"], seconds(c["train_seconds"]), seconds(c["eval_seconds"])] for c in cells]
        lines += table(["model", "step", "train s", "eval s"], rows)
    if "plan" in figures:
        plan = figures["plan"]
        costs = ", ".join(f"{model} {1000 * cost:.2f}" for model, cost in plan["seconds_per_step"].items())
        budgets = ", ".join(f"{model} = {steps}" for model, steps in plan["steps_per_model"].items())
        lines += ["", f"## Proposed gpu profile budgets: {plan['target_seconds']:g} s of training per cell", ""]
        lines += [
            f"per-step costs (ms): {costs}",
            "",
            f"steps_per_model = {{ {budgets} }}; eval_at = {plan['eval_at']}",
        ]
    return "\n".join(lines) + "\n"


def table(header: list[str], rows: list[list[Any]]) -> list[str]:
    """A markdown table, after a blank line."""
    lines = ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
