"""What share of a benchmark cell goes to evaluation, from the rows a bench stored.

    python benchmarks/eval_share.py results/cpu/results.csv

For every cell, at its last step: ``eval_seconds`` (sampling + feature extraction + metrics, summed over the
cell's evaluation points) against ``train_seconds`` (training steps only). Prints per model and overall.
"""

from __future__ import annotations

import sys

import pandas as pd


def main(path: str) -> None:
    rows = pd.read_csv(path)
    rows = rows[(rows["model"] != "real-data") & (rows["status"] == "ok")]
    cells = rows.loc[rows.groupby(["model", "dataset", "seed"])["step"].idxmax()]
    per_model = cells.groupby("model")[["train_seconds", "eval_seconds"]].sum()
    per_model["eval share"] = per_model["eval_seconds"] / (per_model["train_seconds"] + per_model["eval_seconds"])
    total = per_model[["train_seconds", "eval_seconds"]].sum()
    print(per_model.round(3).to_string())
    print(
        f"overall: {total.eval_seconds:.0f} s evaluating, {total.train_seconds:.0f} s training: "
        f"{total.eval_seconds / total.sum():.1%} of cell time goes to evaluation"
    )


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "results/cpu/results.csv")
