"""Foundation benchmarks, measured in one run on this machine (ratios, not absolute times).

(a) Harness overhead: ``pcbench`` evaluating clean data end to end (suite → model build →
    per-sample predictions at every timestep → atomic Parquet commit) vs a bare torch loop
    over the same model and batches. Target: ratio ≤ 1.15.
(b) All timesteps from one unroll: getting logits for every timestep 0..10 vs one 10-step
    unroll that keeps only the last. Target: ratio ≤ 1.15 (no O(T²) re-runs). The naive
    alternative, one separate unroll per timestep, is printed for scale.

Run:  python benchmarks/bench_foundation.py [--repeats 3] [--device cpu]
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from pathlib import Path

import torch

from pcbench.data.digits import load_digits_split
from pcbench.models.build import build_model
from pcbench.models.protocol import AtTimestep
from pcbench.runner import run_suite
from pcbench.suite import parse_suite

BATCH = 128


def median_time(function, repeats: int) -> float:
    """Median wall time of ``function()`` over ``repeats`` runs (after one warm-up)."""
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bare_loop(model, images: torch.Tensor, device: torch.device) -> None:
    """What a researcher would write by hand: batches through the model, argmax per timestep."""
    with torch.no_grad():
        for batch in images.split(BATCH):
            model(batch.to(device)).argmax(-1).cpu()


def harness(model_name: str, device: str) -> None:
    suite = parse_suite(
        {"name": "bench", "models": [model_name], "timesteps": 10, "dataset": {"name": "digits", "split": "train"}}
    )
    with tempfile.TemporaryDirectory() as results:
        run_suite(suite, results_dir=Path(results), device=device, batch_size=BATCH, resume=False, progress=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    images = load_digits_split("train").tensor()
    print(
        f"digits train split: {len(images)} images, batch {BATCH}, device {device}, "
        f"torch threads {torch.get_num_threads()}, median of {args.repeats}"
    )

    print("(a) harness clean evaluation vs bare torch loop (target <= 1.15)")
    for name in ("digits-cnn", "digits-pcnn"):
        model = build_model(name, device=device)
        bare = median_time(functools.partial(bare_loop, model, images, device), args.repeats)
        ours = median_time(functools.partial(harness, name, args.device), args.repeats)
        print(f"    {name:<12} bare {bare:7.3f} s   pcbench {ours:7.3f} s   ratio {ours / bare:5.2f}")

    print("(b) all timesteps 0..10 from one unroll vs one 10-step unroll (target <= 1.15)")
    model = build_model("digits-pcnn", device=device)
    last_only = AtTimestep(model, "last")

    def every_timestep_separately() -> None:
        with torch.no_grad():
            for t in range(11):
                model.timesteps = t
                for batch in images.split(BATCH):
                    model(batch.to(device))[-1].argmax(-1)
        model.timesteps = 10

    def last_logits() -> None:
        with torch.no_grad():
            for batch in images.split(BATCH):
                last_only(batch.to(device)).argmax(-1)

    one = median_time(last_logits, args.repeats)
    everything = median_time(lambda: bare_loop(model, images, device), args.repeats)
    naive = median_time(every_timestep_separately, 1)
    print(
        f"    one 10-step unroll {one:7.3f} s   all timesteps 0..10 {everything:7.3f} s   "
        f"ratio {everything / one:5.2f}   (naive per-timestep re-runs: {naive / one:5.2f}x)"
    )


if __name__ == "__main__":
    main()
