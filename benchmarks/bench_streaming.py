"""Streamed ImageNet-C cells: bounded memory, parallel decoding, a model that does not wait.

The benchmark writes an ImageNet-C-format folder itself (``<root>/fog/3/<wnid>/*.JPEG``,
224×224 JPEGs: a pool of distinct images, hard-linked to reach the largest count) and
evaluates one cell through pcbench's own streaming path (the runner's: an
:class:`~pcbench.perturbations.precomputed.ImageNetC` source, ``stream_batches`` and
``predict_batches``), each measurement in a fresh subprocess:

(a) Peak RSS of the evaluating process (``resource.getrusage`` ``ru_maxrss``) for a cell of
    ``--images`` and of 10 × ``--images`` images. Target: they differ by less than 10 %.
(b) Decode throughput: the cell streamed with ``--workers`` processes and no model, in
    images/s after the first batch (the pool has started), against ``--workers`` × one
    process's plain PIL decode rate (``Image.open(...).convert("RGB")`` on the same files).
    Target: ratio >= 0.9. Also the CPU time per image of the plain loop and of the workers:
    on a shared machine (other users' processes, Linux autogroups giving one share to all of
    this benchmark's processes together) the wall-clock ratio says little, the CPU ratio
    still shows the parallel path's overhead.
(c) The fraction of the evaluation's time the model waits for its next batch, for a tiny
    model (data-bound: waiting is expected) and for a heavier one that is slower than the
    decoders (the target: close to 0, only the first batch waited for).

Run:  python benchmarks/bench_streaming.py [--images 2000] [--workers N] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CORRUPTION, SEVERITY = "fog", 3
WNIDS = [f"n{index:08d}" for index in range(100)]


def write_folder(root: Path, count: int, distinct: int) -> list[str]:
    """``count`` JPEGs at 224 px under ``root/fog/3``: ``distinct`` images (smooth random
    fields with noise, about the size of natural ImageNet-C JPEGs), then hard links."""
    from PIL import Image

    rng = np.random.default_rng(0)
    folder = root / CORRUPTION / str(SEVERITY)
    files = [f"{WNIDS[index % len(WNIDS)]}/ILSVRC2012_val_{index:08d}.JPEG" for index in range(count)]
    for wnid in WNIDS:
        (folder / wnid).mkdir(parents=True, exist_ok=True)
    for index, file in enumerate(files):
        if index < distinct:
            coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            smooth = np.asarray(Image.fromarray(coarse).resize((224, 224), Image.BICUBIC), dtype=np.int16)
            noisy = np.clip(smooth + rng.integers(-20, 21, smooth.shape), 0, 255).astype(np.uint8)
            Image.fromarray(noisy).save(folder / file, quality=85)
        else:
            os.link(folder / files[index % distinct], folder / file)
    return files


class Tiny:
    """Models of the benchmark: ``[1, B, 1000]`` logits (a timestep model with T = 0)."""

    @staticmethod
    def build(kind: str):
        import torch
        from torch import nn

        torch.manual_seed(0)
        if kind == "tiny":
            body = nn.Sequential(nn.AvgPool2d(8), nn.Flatten(), nn.Linear(3 * 28 * 28, 1000))
        else:  # heavier than decoding on this machine's cores
            body = nn.Sequential(
                nn.Conv2d(3, 16, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(16, 16, 3, stride=2, padding=1),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(16, 1000),
            )

        class Logits(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.body = body
                self.timesteps = 0

            def forward(self, images: torch.Tensor) -> torch.Tensor:
                return self.body(images)[None]

        return Logits().eval()


def open_cell(root: Path, count: int, workers: int):
    """The ImageNet-C source of the first ``count`` files (a pool of ``workers``) and its cell."""
    from pcbench.data import ImageSet
    from pcbench.data.imagefolder import FolderListing
    from pcbench.parallel import WorkerPool
    from pcbench.perturbations.precomputed import ImageNetC

    folder = root / CORRUPTION / str(SEVERITY)
    files = tuple(f"{WNIDS[index % len(WNIDS)]}/ILSVRC2012_val_{index:08d}.JPEG" for index in range(count))
    labels = np.array([index % len(WNIDS) for index in range(count)], dtype=np.int64)
    listing = FolderListing(folder, tuple(WNIDS), files, labels)
    images = np.broadcast_to(np.zeros((1, 224, 224, 3), np.uint8), (count, 224, 224, 3))  # only its shape is read
    data = ImageSet("imagenet", "val", images, labels, np.arange(count), 1000)
    pool = WorkerPool(workers)
    return pool, ImageNetC(root, listing, data, (CORRUPTION,), (SEVERITY,), pool)


def child(args: argparse.Namespace) -> None:
    """One measurement in this fresh process; prints a JSON line."""
    import torch

    from pcbench.runner.evaluate import predict_batches
    from pcbench.streams import stream_batches

    torch.set_num_threads(args.threads)
    imported = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pool, source = open_cell(Path(args.root), args.count, args.workers)
    with pool:
        cell = source.cell(CORRUPTION, SEVERITY)
        waited, started, first = 0.0, time.perf_counter(), None
        warm = [0.0, 0.0]  # CPU seconds of the workers and of this process when the first batch came
        batches = stream_batches(cell.blocks(), args.batch_size)

        def timed():
            nonlocal waited, first
            while True:
                asked = time.perf_counter()
                batch = next(batches, None)
                now = time.perf_counter()
                if first is None:
                    first = now  # the pool's start and the first batch: counted apart
                    warm[:] = [workers_cpu(pool), time.process_time()]
                else:
                    waited += now - asked
                if batch is None:
                    return
                yield batch

        if args.model == "none":
            count = sum(len(batch) for batch in timed()) - args.batch_size
        else:
            model = Tiny.build(args.model)
            count = predict_batches(model, timed(), device=torch.device("cpu")).shape[1] - args.batch_size
        total = time.perf_counter() - first
        workers_warm = workers_cpu(pool) - warm[0]
    parent_warm = time.process_time() - warm[1]
    print(
        json.dumps(
            {
                "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "imported_mib": imported,
                "workers_maxrss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                "rate": count / total,
                "wait_fraction": waited / total,
                "first_batch_s": first - started,
                "worker_cpu_per_image_ms": 1000 * workers_warm / count,
                "parent_cpu_per_image_ms": 1000 * parent_warm / count,
            }
        )
    )


def workers_cpu(pool) -> float:
    """User + system CPU seconds of the pool's worker processes so far (``/proc/<pid>/stat``)."""
    total = 0.0
    for pid in pool._executor._processes if pool._executor else ():
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def measure(root: Path, count: int, workers: int, batch_size: int, model: str, threads: int) -> dict:
    """:func:`child` in a subprocess."""
    command = [sys.executable, __file__, "--child", "--root", str(root), "--count", str(count)]
    command += ["--workers", str(workers), "--batch-size", str(batch_size), "--model", model]
    command += ["--threads", str(threads)]
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(completed.stdout.splitlines()[-1])


def plain_decode_rate(root: Path, files: list[str], seconds: float = 5.0) -> tuple[float, float]:
    """Images/s of one process decoding ``files`` with PIL (as many as fit in ``seconds``),
    and its CPU milliseconds per image."""
    from PIL import Image

    folder = root / CORRUPTION / str(SEVERITY)
    done, started, cpu = 0, time.perf_counter(), time.process_time()
    for file in files:
        with Image.open(folder / file) as opened:
            np.asarray(opened.convert("RGB"))
        done += 1
        if time.perf_counter() - started > seconds:
            break
    return done / (time.perf_counter() - started), 1000 * (time.process_time() - cpu) / done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2000, help="the small cell (the large one: 10 x)")
    parser.add_argument("--distinct", type=int, default=200, help="distinct JPEGs; the rest are hard links")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--model", default="tiny", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    small, large = args.images, 10 * args.images
    with tempfile.TemporaryDirectory(prefix="bench-streaming-") as folder:
        root = Path(folder) / "ImageNet-C"
        started = time.perf_counter()
        files = write_folder(root, large, min(args.distinct, large))
        print(f"wrote {large:,} JPEGs (224 px, {args.distinct} distinct) in {time.perf_counter() - started:.1f} s")
        print(f"workers: {args.workers}, batch size: {args.batch_size}, CPUs: {len(os.sched_getaffinity(0))}")

        print("(a) peak RSS evaluating one cell (tiny model), target: < 10 % apart")
        rss = {}
        for count in (small, large):
            result = measure(root, count, args.workers, args.batch_size, "tiny", 1)
            rss[count] = result["maxrss_mib"]
            print(
                f"    {count:>7,} images  main process {result['maxrss_mib']:7.1f} MiB ({result['imported_mib']:.0f} "
                f"after its imports), largest worker {result['workers_maxrss_mib']:6.1f} MiB "
                f"({result['rate']:.0f} images/s)"
            )
        print(f"    ratio {rss[large] / rss[small]:.3f} ({100 * abs(rss[large] / rss[small] - 1):.1f} % apart)")

        print(
            f"(b) decode throughput, {args.workers} workers vs {args.workers} x one process's PIL loop (target >= 0.9)"
        )
        single, single_cpu = plain_decode_rate(root, files[: min(large, 4 * small)])
        result = measure(root, small, args.workers, args.batch_size, "none", 1)
        streamed, worker_cpu = result["rate"], result["worker_cpu_per_image_ms"]
        print(f"    one process, plain PIL decode   {single:8.0f} images/s, {single_cpu:.2f} ms CPU per image")
        print(
            f"    streamed, {args.workers} workers, no model  {streamed:8.0f} images/s, {worker_cpu:.2f} ms CPU "
            f"per image in the workers (after the first batch), {result['parent_cpu_per_image_ms']:.2f} in the parent"
        )
        print(
            f"    ratio {streamed / (args.workers * single):.3f} (wall clock; "
            f"CPU per image: {single_cpu / worker_cpu:.3f})"
        )

        print("(c) fraction of the evaluation the model waits for data (after the first batch)")
        for model, workers, threads in (("tiny", args.workers, 1), ("heavy", max(1, args.workers - 1), 1)):
            result = measure(root, small, workers, args.batch_size, model, threads)
            print(
                f"    {model:5} model, {workers} workers, {threads} torch thread: waits "
                f"{100 * result['wait_fraction']:5.1f} % ({result['rate']:.0f} images/s)"
            )


if __name__ == "__main__":
    main()
