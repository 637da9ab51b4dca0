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

(d) per precision (``--precisions``, default fp32, tf32, bf16, fp16): ``pvgg16`` (random
    weights) at 224 px, T = 10, evaluated by :func:`pcbench.evaluate` with ``precision=`` on
    an ImageNet-shaped image folder the benchmark writes (1,000 classes, ``--images``
    evaluated): the clean cell, one corruption cell (gaussian_noise, severity 3) and one
    batched APGD-CE cell (``--apgd-iter`` iterations, AutoAttack ``batch_size`` = ``--batch``)
    — each cell's ``wall_time_s`` against a bare torch loop doing the same work on as many
    images (a CNN's time does not depend on the pixels) under the same autocast / TF32
    settings (target: bare / pcbench ≥ 0.95), and the peak GPU memory of the cells.

Without CUDA the script says so and exits (nothing to measure); ``--device cpu`` runs (b)
and (c) on the CPU as a smoke test, e.g. ``--device cpu --model presnet18-cifar100 --images 8
--batch 4``. Not yet run on a GPU: no GPU machine has been lent to this project so far.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from bench_zoo import use_random_weights
from PIL import Image

import pcbench
from pcbench.models.build import build_model
from pcbench.models.precision import PRECISIONS
from pcbench.models.protocol import AtTimestep
from pcbench.runner.evaluate import predict
from pcbench.store import read_predictions

#: The suite of (d): an ImageNet-shaped image folder, clean, one corruption, one batched APGD-CE.
PRECISION_SUITE = """
name = "gpu-precision"
models = ["pvgg16"]  # evaluate() replaces them with the module it is given
seed = 0

[dataset]
name = "imagefolder"
split = "val"
root = "{root}"
limit = {images}

[corruptions]
names = ["gaussian_noise"]
severities = [3]

[[attacks]]
kind = "apgd-ce"
epsilons = [0.01568627450980392]
n_iter = {n_iter}
batch_size = {batch}
"""


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


def image_folder(root: Path, classes: int = 1000) -> None:
    """An ImageNet-shaped folder: ``val/<class>/0.png``, one random 224 px image per class."""
    rng = np.random.default_rng(0)
    for label in range(classes):
        folder = root / "val" / f"c{label:04d}"
        folder.mkdir(parents=True)
        Image.fromarray(rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(folder / "0.png")


@contextlib.contextmanager
def bare_numerics(precision: str, device: torch.device) -> Iterator[None]:
    """What ``--precision`` sets, by hand: TF32 switches, and autocast for bf16 / fp16."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    try:
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def bare_seconds(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, args, precision: str) -> dict:
    """(d)'s bare loops: forward batches (a clean or corruption cell), and AutoAttack's APGD-CE
    on the last timestep's logits, batch by batch, then the forward of its images."""
    from pyautoattack.autopgd_base import APGDAttack

    device = torch.device(args.device)
    synchronize = torch.cuda.synchronize if device.type == "cuda" else lambda: None

    def forward(x: torch.Tensor) -> None:
        with torch.no_grad(), bare_numerics(precision, device):
            for chunk in x.split(args.batch):
                model(chunk.to(device, non_blocking=True)).float().argmax(dim=-1).cpu()

    def apgd() -> None:
        attacked = AtTimestep(model, "last")
        attack = APGDAttack(attacked, norm="Linf", eps=4 / 255, n_iter=args.apgd_iter, loss="ce", device=device)
        adversarial = []
        with bare_numerics(precision, device):
            for chunk, target in zip(images.split(args.batch), labels.split(args.batch), strict=True):
                adversarial.append(attack.perturb(chunk.to(device), target.to(device)).cpu())
        forward(torch.cat(adversarial))

    seconds = {}
    for cell, work in (("clean", lambda: forward(images)), ("corruption", lambda: forward(images)), ("apgd", apgd)):
        synchronize()
        started = time.perf_counter()
        work()
        synchronize()
        seconds[cell] = time.perf_counter() - started
    return seconds


def precisions(args: argparse.Namespace, work: Path) -> None:
    """(d): pcbench's clean, corruption and batched APGD cells per precision against bare loops."""
    from pcbench.data import load_dataset

    use_random_weights()
    device = torch.device(args.device)
    root = work / "imagefolder"
    image_folder(root)
    suite_file = work / "gpu-precision.toml"
    suite_file.write_text(
        PRECISION_SUITE.format(root=root, images=args.images, n_iter=args.apgd_iter, batch=args.batch)
    )
    data = load_dataset("imagefolder", "val", root).subset(args.images, 0)
    images, labels = data.tensor(), torch.from_numpy(data.labels)
    model = build_model(args.model, device=device)
    print(f"(d) {args.model} 224 px T = {model.timesteps}, {args.images} images, batch {args.batch}, ", end="")
    print(f"APGD-CE {args.apgd_iter} iterations")
    for precision in args.precisions:
        if device.type == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(device)
        result = pcbench.evaluate(
            model,
            suite_file,
            name=f"{args.model}-{precision}",
            results=work / "results",
            device=args.device,
            batch_size=args.batch,
            precision=precision,
            resume=False,
        )
        peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
        first = result.scores.dropna(subset=["wall_time_s"]).set_index("cell")["wall_time_s"]
        ours = {"clean": first["clean"], "corruption": first["gaussian_noise/3"]}
        ours["apgd"] = first[[cell for cell in first.index if cell.startswith("apgd")][0]]
        bare = bare_seconds(model, images, labels, args, precision)
        cells = ", ".join(
            f"{cell} {ours[cell]:.1f} s (bare {bare[cell]:.1f} s, ratio {bare[cell] / ours[cell]:.3f})" for cell in ours
        )
        print(f"    {precision}: {cells}; peak GPU memory {peak:.1f} GiB (target ratio >= 0.95)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--limit", type=int, default=50)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--model", default="pvgg16", help="The zoo model of (b) and (c).")
    parser.add_argument("--skip-quick", action="store_true", help="Skip (a).")
    parser.add_argument("--precisions", nargs="+", default=list(PRECISIONS), help="The precisions of (d).")
    parser.add_argument("--apgd-iter", type=int, default=10, help="APGD-CE iterations of (d).")
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            "bench_gpu: skipped, no CUDA device on this machine (run it where torch.cuda.is_available(); "
            "--device cpu smoke-tests (b) and (c))"
        )
        sys.exit(0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {name}, torch {torch.__version__}")
    if not args.skip_quick and device.type == "cuda":
        compare_devices(args.device, args.limit, Path(tempfile.mkdtemp(prefix="bench-gpu-")))
    throughput(device, args.model, args.images, args.batch)
    precisions(args, Path(tempfile.mkdtemp(prefix="bench-gpu-precision-")))


if __name__ == "__main__":
    main()
