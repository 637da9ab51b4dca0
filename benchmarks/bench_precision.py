"""Reduced precision against fp32 on ``quick`` (issue 21, point 3): what bf16 changes and how fast it is.

    python benchmarks/bench_precision.py [--limit 60] [--precision bf16] [--device cpu] [--cells LABEL ...]

Runs ``quick`` at ``--limit`` twice, fp32 then ``--precision``, each into its own results
directory (fresh, so every cell is computed; ``--cells`` keeps only those cells of every
model, for a shorter run), and prints, per kind of cell (clean,
corruption, attack): how many stored predictions (sample × timestep) differ, in how many
cells, the largest |Δcorrect| of one score row (what ``compare --against`` tolerates), and
the cells' summed ``wall_time_s`` at each precision with their ratio (fp32 / reduced: > 1
means the reduced precision is faster). The figures of 2026-12-07 are in docs/precision.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

import pcbench
from pcbench.models.precision import Numerics
from pcbench.runner import run_suite
from pcbench.store import read_predictions, read_scores


def kind_of(cell: str) -> str:
    """``clean``, ``corruption`` (``name/severity``) or ``attack`` (``label@epsilon``)."""
    return "clean" if cell == "clean" else ("corruption" if "/" in cell else "attack")


def differing_predictions(one: Path, other: Path) -> pd.DataFrame:
    """Per kind of cell: predictions compared and differing, cells with a difference, and the
    largest |Δcorrect| of one score row, between the results directories ``one`` and ``other``."""
    keys = ["model", "cell", "sample_id", "timestep"]
    both = read_predictions(one).set_index(keys).join(read_predictions(other).set_index(keys).add_suffix("_other"))
    both["differs"] = both["prediction"] != both["prediction_other"]
    both["kind"] = both.index.get_level_values("cell").map(kind_of)
    rows = ["model", "cell", "timestep"]
    scores = (
        read_scores(one)
        .set_index(rows)[["correct"]]
        .join(read_scores(other).set_index(rows)[["correct"]].add_suffix("_other"))
    )
    scores["delta"] = (scores["correct"] - scores["correct_other"]).abs()
    scores["kind"] = scores.index.get_level_values("cell").map(kind_of)
    cells = both.groupby(["kind", "model", "cell"])["differs"].any().groupby("kind").agg(["sum", "size"])
    return pd.DataFrame(
        {
            "predictions": both.groupby("kind")["differs"].size(),
            "differ": both.groupby("kind")["differs"].sum(),
            "cells": cells["size"],
            "cells_differ": cells["sum"],
            "max_delta_correct": scores.groupby("kind")["delta"].max(),
        }
    )


def seconds_per_kind(results: Path) -> pd.Series:
    """Summed ``wall_time_s`` of the cells, per kind of cell."""
    scores = read_scores(results)
    return scores.groupby(scores["cell"].map(kind_of))["wall_time_s"].sum().astype(float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=60)
    parser.add_argument("--precision", default="bf16")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cells", nargs="+", help="Only these cell labels (e.g. clean fog/3 fgsm@0.05); default: all.")
    args = parser.parse_args()
    suite = pcbench.load_suite("quick", limit=args.limit)
    work = Path(tempfile.mkdtemp(prefix="bench-precision-"))
    roots = {}
    for precision in ("fp32", args.precision):
        results = work / precision
        started = time.perf_counter()
        run_suite(
            suite,
            results_dir=results,
            device=args.device,
            progress=False,
            cells=None if args.cells is None else dict.fromkeys(suite.models, args.cells),
            numerics=Numerics(precision),
        )
        print(f"quick --limit {args.limit} --precision {precision}: {time.perf_counter() - started:.0f} s")
        roots[precision] = results / "quick"
    table = differing_predictions(roots["fp32"], roots[args.precision])
    fp32, reduced = seconds_per_kind(roots["fp32"]), seconds_per_kind(roots[args.precision])
    table["fp32_s"], table[f"{args.precision}_s"] = fp32.round(1), reduced.round(1)
    table["speed_ratio"] = (fp32 / reduced).round(2)
    print(table.to_string())
    print(f"all cells: speed ratio fp32 / {args.precision} = {fp32.sum() / reduced.sum():.2f}")


if __name__ == "__main__":
    main()
