"""The GPU path, as one prepared script for a machine with CUDA (issue: clusters and GPUs).

    python benchmarks/bench_gpu.py [--device cuda] [--limit 50] [--batch 64] [--images 512]

(a) ``quick`` at ``--limit`` on the CPU and on ``--device``, each into its own results
    directory: how many stored predictions differ, per kind of cell (clean cells are
    expected equal up to float reductions that differ between devices; attack cells follow
    the gradients, so a changed prediction there is a different adversarial image).
(b) ``pvgg16`` (random weights) clean evaluation at 224 px, T = 10, through pcbench's
    evaluation loop against a bare ``torch.no_grad`` loop over the same model and batches
    (target ≥ 0.95 of the bare loop's images per second).
(c) peak GPU memory of one full-gradient attack step (cross-entropy at T = 10, backward to
    the input) through ``pvgg16`` at 224 px, per image of the batch.

On a machine without CUDA, ``--device cpu`` runs (b) and (c) on the CPU as a smoke test,
e.g. ``--device cpu --model presnet18-cifar100 --images 8 --batch 4``. Not yet run on a GPU:
no GPU machine has been lent to this project so far.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from bench_zoo import use_random_weights

import pcbench
from pcbench.models.build import build_model
from pcbench.runner.evaluate import predict
from pcbench.store import read_predictions


def compare_devices(device: str, limit: int, work: Path) -> None:
    """(a): stored predictions of quick on the CPU and on ``device``, compared sample by sample."""
    tables = {}
    for where in ("cpu", device):
        results = work / where.replace(":", "-")
        started = time.perf_counter()
        pcbench.run("quick", limit=limit, results=results, leaderboards=None, device=where, progress=False)
        print(f"(a) quick --limit {limit} on {where}: {time.perf_counter() - started:.1f} s")
        tables[where] = read_predictions(results / "quick").set_index(["model", "cell", "sample_id", "timestep"])
    both = tables["cpu"].join(tables[device], rsuffix="_other")
    differ = both["prediction"] != both["prediction_other"]
    kind = both.index.get_level_values("cell").map(
        lambda c: "clean" if c == "clean" else ("corruption" if "/" in c else "attack")
    )
    for name, group in differ.groupby(kind):
        print(f"    {name:<10} {int(group.sum()):>6} of {len(group):>7} predictions differ")


def throughput(device: torch.device, name: str, images: int, batch: int) -> None:
    """(b): pcbench's evaluation loop against a bare loop, and (c): an attack step's peak memory."""
    from pcbench.registry import get_model_spec

    use_random_weights()
    model = build_model(name, device=device)
    size = get_model_spec(name).input_size
    x = torch.rand(images, 3, size, size, generator=torch.Generator().manual_seed(0))

    def bare() -> None:
        with torch.no_grad():
            for chunk in x.split(batch):
                model(chunk.to(device, non_blocking=True)).argmax(dim=-1).cpu()

    def ours() -> None:
        predict(model, x, batch_size=batch, device=device)

    rates = {}
    for label, loop in (("bare", bare), ("pcbench", ours), ("bare again", bare), ("pcbench again", ours)):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        loop()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates[label] = images / (time.perf_counter() - started)
    bare_rate = max(rates["bare"], rates["bare again"])
    ours_rate = max(rates["pcbench"], rates["pcbench again"])
    print(f"(b) {name} {size} px T = {model.timesteps}, batch {batch}:", end=" ")
    print(f"bare {bare_rate:.1f} img/s, pcbench {ours_rate:.1f} img/s,")
    print(f"    ratio {ours_rate / bare_rate:.3f} (target >= 0.95; best of 2 each, interleaved)")

    step = x[: min(batch, 8)].to(device).requires_grad_()
    labels = torch.zeros(len(step), dtype=torch.long, device=device)
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
    loss = F.cross_entropy(model(step)[-1], labels)
    (gradient,) = torch.autograd.grad(loss, step)
    assert gradient.shape == step.shape
    if device.type == "cuda":
        peak = (torch.cuda.max_memory_allocated(device) - before) / 2**30
        print(f"(c) one full-gradient attack step, T = 10, batch {len(step)}: {peak:.2f} GiB above the model")
        print(f"    ({peak / len(step):.2f} GiB per image)")
    else:
        print("(c) attack step ran on the CPU (peak GPU memory needs --device cuda)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--model", default="pvgg16", help="The zoo model of (b) and (c).")
    parser.add_argument("--skip-quick", action="store_true", help="Skip (a).")
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {name}, torch {torch.__version__}")
    if not args.skip_quick and device.type == "cuda":
        compare_devices(args.device, args.limit, Path(tempfile.mkdtemp(prefix="bench-gpu-")))
    throughput(device, args.model, args.images, args.batch)


if __name__ == "__main__":
    main()
