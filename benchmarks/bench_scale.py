"""Scaling a suite over tasks: a task's fixed overhead, the speed-up of ``--executor ray``
with 2 workers against 1, and what that projects for ImageNet-C × PVGG16 on N GPUs.

    python benchmarks/bench_scale.py [--limit 360] [--cells-per-task 1]

Measured in one run on this machine:

(a) **Task overhead**: a fresh interpreter that imports what a task imports and builds the
    model (what every task pays before its first cell), relative to the evaluation time of
    the cells of one task (the mean ``wall_time_s`` of the cells in (b), times
    ``--cells-per-task``).
(b) **Speed-up**: the same CPU-bound suite (``digits-pcnn``, T = 10: clean, FGSM and 5-step
    PGD at four ε each; no corruptions, so no shared cache favours the second run) through a
    local Ray cluster of 1 CPU and of 2 CPUs, one CPU (one torch thread) per task, each into
    a fresh results directory, cluster start included. Target ≥ 1.7× on 2 cores. The stored
    results of both runs must be equal (checked).
(c) **Projection** for ImageNet-C × PVGG16 from (a) and (b), with the assumptions printed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pandas as pd

import pcbench
from pcbench.executors import ExecutorOptions, RayOptions
from pcbench.store import read_predictions, read_scores

SUITE = """\
name = "scale"
models = ["digits-pcnn"]
seed = 0
[dataset]
name = "digits"
limit = {limit}
[[attacks]]
kind = "fgsm"
epsilons = [0.01, 0.02, 0.05, 0.1]
[[attacks]]
kind = "pgd-linf"
epsilons = [0.01, 0.02, 0.05, 0.1]
steps = 5
rel_stepsize = 0.25
random_start = true
"""
TASK_START = textwrap.dedent(
    """
    import torch
    import pcbench.api, pcbench.runner, pcbench.executors.coordinator
    from pcbench.models.build import build_model
    torch.set_num_threads(1)
    build_model("digits-pcnn")
    """
)
#: Assumptions of the projection (c); the issue's estimate, not measured here (no GPU).
IMAGENET_C_CELLS = 96  # clean + 19 corruptions x 5 severities
PVGG16_GPU_HOURS = 16.0  # one H100, 50,000 images per cell, timesteps 0..10, no attack


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=360)
    parser.add_argument("--cells-per-task", type=int, default=1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    suite = work / "scale.toml"
    suite.write_text(SUITE.format(limit=args.limit))

    bare = min(timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True)) for _ in range(3))
    start = min(timed(lambda: subprocess.run([sys.executable, "-c", TASK_START], check=True)) for _ in range(3))

    walls = {}
    for cpus in (1, 2):
        options = ExecutorOptions("ray", cells_per_task=args.cells_per_task, ray=RayOptions(cluster_cpus=cpus))
        results = work / f"ray-{cpus}"
        walls[cpus] = timed(
            lambda r=results, o=options: pcbench.run(
                suite, results=r, leaderboards=None, device="cpu", progress=False, executor=o
            )
        )
    scores = [read_scores(work / f"ray-{cpus}" / "scale") for cpus in (1, 2)]
    columns = ["model", "cell", "timestep", "n", "correct", "cell_key"]
    pd.testing.assert_frame_equal(scores[0][columns], scores[1][columns])
    pd.testing.assert_frame_equal(*(read_predictions(work / f"ray-{cpus}" / "scale") for cpus in (1, 2)))

    cells = scores[0].drop_duplicates("cell")
    per_cell = cells["wall_time_s"].mean()
    task_cells = per_cell * args.cells_per_task
    speedup = walls[1] / walls[2]
    print(f"(a) task start: {start:.2f} s (bare python {bare:.2f} s; imports and model build {start - bare:.2f} s)")
    print(f"    cells of one task ({args.cells_per_task} x {per_cell:.2f} s mean): {task_cells:.2f} s")
    print(f"    overhead / evaluation = {start / task_cells:.3f}")
    print(f"(b) {len(cells)} cells, ray 1 CPU {walls[1]:.1f} s, 2 CPUs {walls[2]:.1f} s: speed-up {speedup:.2f}x")
    print("    (target >= 1.7x; stored results of both runs equal)")
    efficiency = speedup / 2
    print("(c) ImageNet-C x PVGG16, assuming", f"{PVGG16_GPU_HOURS:g} GPU-hours on one H100 for its", end=" ")
    print(f"{IMAGENET_C_CELLS} cells (clean + 19 x 5 corruptions, 50,000 images, T = 10; the issue's estimate),")
    print(f"    parallel efficiency {efficiency:.2f} (from (b)) and one task start per {args.cells_per_task} cell(s):")
    for gpus in (1, 2, 4, 8, 16, 32, 96):
        tasks_each = -(-IMAGENET_C_CELLS // (gpus * args.cells_per_task))
        hours = PVGG16_GPU_HOURS / (gpus * (efficiency if gpus > 1 else 1)) + tasks_each * start / 3600
        print(f"    {gpus:>3} GPUs: {hours:6.2f} h")
    print("    (beyond 96 GPUs one cell per GPU is the floor: split cells by samples to go further)")


if __name__ == "__main__":
    main()
