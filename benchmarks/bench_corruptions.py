"""Corruption benchmarks, measured in one run on this machine.

(a) Parallel generation: pcbench generating corruption cells with 2 worker processes (into
    its on-disk cache) vs a plain sequential loop calling ``imagecorruptions.corrupt`` on the
    same images with the same per-image seeds; both warm (numba compiled, pool started).
    Target: speed-up >= 1.7 on a 2-core machine.
(b) Cache: a second model on the same suite makes zero corruption calls (calls counted by
    wrapping imagecorruptions' functions; generation in-process so every call is seen).
(c) Memory: peak RSS while evaluating a 10,000-image x 95-cell grid (synthetic 32x32 images
    in CIFAR-10's on-disk format, clean + 19 corruptions x 5 severities, digits-cnn, 2
    workers), measured with ``resource.getrusage`` in a subprocess. Target: < 2 GiB. Takes
    about ten minutes on 2 cores (generation); skip it with ``--skip-memory``.

Everything runs in a temporary pcbench home (the trained embedded models are shared with
your own home, so they train at most once).

Run:  python benchmarks/bench_corruptions.py [--images 360] [--skip-memory]
"""

from __future__ import annotations

import argparse
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pcbench.suite import with_overrides


def use_temporary_home(folder: Path) -> None:
    """Point ``PCBENCH_HOME`` at ``folder``, sharing the current home's trained models."""
    from pcbench.paths import model_cache_dir

    models = model_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "models").symlink_to(models, target_is_directory=True)
    os.environ["PCBENCH_HOME"] = str(folder)


def sequential_loop(images: np.ndarray, ids: np.ndarray, cells, seed: int) -> list[np.ndarray]:
    """The plain way: ``imagecorruptions.corrupt`` image by image, seeded as pcbench seeds."""
    from imagecorruptions import corrupt

    from pcbench.perturbations.corruptions import SEEDED_CORRUPTIONS, image_seed

    outputs = []
    for name, severity in cells:
        out = np.empty_like(images)
        for index, (image, sample_id) in enumerate(zip(images, ids, strict=True)):
            sample_seed = image_seed(seed, int(sample_id), name, severity)
            if name in SEEDED_CORRUPTIONS:
                out[index] = corrupt(image, severity, name, seed=sample_seed)
            else:
                np.random.seed(sample_seed)
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[index] = corrupt(image, severity, name)
        outputs.append(out)
    return outputs


def bench_parallel(images: int, workers: int) -> None:
    from pcbench.data.digits import load_digits_split
    from pcbench.parallel import WorkerPool
    from pcbench.perturbations.corruptions import CORRUPTIONS
    from pcbench.perturbations.generated import GeneratedCorruptions

    data = load_digits_split("test").subset(images, seed=0)
    cells = [(name, severity) for name in CORRUPTIONS for severity in range(1, 6)]
    seed = 0
    print(
        f"(a) {len(data)} digits test images x {len(cells)} cells (19 corruptions x 5 severities) = "
        f"{len(data) * len(cells):,} corrupted images (target: speed-up >= 1.7 with {workers} workers)"
    )
    # numba compiles glass_blur once per process and parameter types (severity 3's differ)
    warm_up = [("glass_blur", 1), ("glass_blur", 3)]
    sequential_loop(data.images[:1], data.ids[:1], warm_up, 99)
    started = time.perf_counter()
    plain = sequential_loop(data.images, data.ids, cells, seed)
    plain_time = time.perf_counter() - started
    with WorkerPool(workers) as pool:
        started = time.perf_counter()
        for name, severity in warm_up:  # start the pool, compile numba in the workers
            GeneratedCorruptions(data, 99, pool).cell(name, severity)
        warm_up_time = time.perf_counter() - started
        source = GeneratedCorruptions(data, seed, pool)
        started = time.perf_counter()
        generated = [np.array(source.cell(name, severity).images) for name, severity in cells]
        parallel_time = time.perf_counter() - started
    differ = [
        f"{name}/{severity}"
        for (name, severity), a, b in zip(cells, plain, generated, strict=True)
        if not np.array_equal(a, b)
    ]
    print(f"    sequential imagecorruptions.corrupt loop  {plain_time:7.2f} s")
    print(
        f"    pcbench, {workers} workers (incl. cache write)  {parallel_time:7.2f} s   "
        f"speed-up {plain_time / parallel_time:4.2f}x   (pool start + numba warm-up {warm_up_time:.1f} s, once per run)"
    )
    print(
        f"    cells not byte-identical to the plain loop: {', '.join(differ) or 'none'} "
        "(expected: spatter/1, whose NaN images the plain loop casts to black)"
    )


def bench_second_model(images: int) -> None:
    import imagecorruptions

    from pcbench.runner import run_suite
    from pcbench.suite import parse_suite

    calls = [0]
    for name, function in list(imagecorruptions.corruption_dict.items()):

        def counted(*args, _function=function, **kwargs):
            calls[0] += 1
            return _function(*args, **kwargs)

        imagecorruptions.corruption_dict[name] = counted

    suite = parse_suite(
        {
            "name": "bench-cache",
            "models": ["digits-cnn"],
            "timesteps": 1,
            "dataset": {"name": "digits", "limit": images},
            "corruptions": {"names": "all"},
        }
    )
    print(f"(b) suite: {images} digits images x 19 corruptions x 5 severities; generation in-process (workers=1)")
    with tempfile.TemporaryDirectory() as results:
        for model in ("digits-cnn", "digits-pcnn"):
            before = calls[0]
            started = time.perf_counter()
            summary = run_suite(
                with_overrides(suite, models=[model]),
                results_dir=Path(results),
                device="cpu",
                progress=False,
                workers=1,
            )
            print(
                f"    {model:<12} {len(summary.evaluated):3d} cells evaluated   corruption calls "
                f"{calls[0] - before:6,d}   {time.perf_counter() - started:6.1f} s"
            )


def write_synthetic_cifar(root: Path, n: int) -> None:
    """``n`` smooth random 32x32 colour images with random labels, as CIFAR-10's test_batch."""
    import torch

    rng = np.random.default_rng(0)
    coarse = torch.from_numpy(rng.random((n, 3, 8, 8), dtype=np.float32))
    images = torch.nn.functional.interpolate(coarse, size=(32, 32), mode="bilinear", align_corners=False)
    data = (images.clamp(0, 1) * 255).round().to(torch.uint8).reshape(n, -1).numpy()
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    labels = rng.integers(0, 10, n).tolist()
    (folder / "test_batch").write_bytes(pickle.dumps({"data": data, "labels": labels}, protocol=2))


def memory_child(root: str, images: int, workers: int) -> None:
    """Evaluate the grid and print peak RSS (this process; the largest worker)."""
    from pcbench.runner import run_suite
    from pcbench.suite import parse_suite

    suite = parse_suite(
        {
            "name": "bench-memory",
            "models": ["digits-cnn"],
            "dataset": {"name": "cifar10", "root": root},
            "corruptions": {"names": "all", "severities": [1, 2, 3, 4, 5]},
        }
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as results:
        summary = run_suite(suite, results_dir=Path(results), device="cpu", progress=False, workers=workers)
    elapsed = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    import multiprocessing.forkserver as forkserver

    forkserver._forkserver._stop()  # reap the fork server, so its workers count as children
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"    {len(summary.evaluated)} cells x {images:,} images in {elapsed / 60:.1f} min")
    print(f"    peak RSS: evaluating process {own:,.0f} MiB (target < 2048); largest worker {children:,.0f} MiB")


def bench_memory(images: int, workers: int) -> None:
    print(
        f"(c) peak memory: {images:,} synthetic 32x32 images, clean + 19 x 5 corruption cells, "
        f"digits-cnn, {workers} workers"
    )
    with tempfile.TemporaryDirectory() as root:
        write_synthetic_cifar(Path(root), images)
        subprocess.run(
            [sys.executable, __file__, "--memory-child", root, "--images", str(images), "--workers", str(workers)],
            check=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=360, help="images for (a) and (b)")
    parser.add_argument("--cache-images", type=int, default=100, help="images for (b)")
    parser.add_argument("--memory-images", type=int, default=10_000, help="images for (c)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child, args.images, args.workers)
        return
    with tempfile.TemporaryDirectory() as home:
        use_temporary_home(Path(home) / "pcbench")
        print(f"{os.cpu_count()} CPUs; temporary pcbench home {home}")
        bench_parallel(args.images, args.workers)
        bench_second_model(args.cache_images)
        if not args.skip_memory:
            bench_memory(args.memory_images, args.workers)


if __name__ == "__main__":
    main()
