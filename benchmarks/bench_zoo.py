"""Zoo benchmark: the cost of one PC timestep relative to one feedforward pass, and peak memory.

For every PC model of the zoo (random weights, the published input size) and its
feedforward base, at the same batch and in inference mode (``torch.no_grad``, as clean and
corruption cells run):

- ``ff``: one forward pass of the base;
- ``pc T=0``: the PC model's timestep-0 sweep (the same pass through the PCoder hooks);
- ``step``: the cost of one more timestep, ``(t(T=k) - t(T=0)) / k`` — a backbone sweep plus
  every predictor's prediction and error gradient;
- ``step/ff``: that cost relative to one feedforward pass;
- peak memory of a separate process per model: ``ru_maxrss`` on CPU (whole process,
  including weights and the Python/torch baseline), ``torch.cuda.max_memory_allocated`` on
  GPU.

Run:  python benchmarks/bench_zoo.py [--device cpu|cuda] [--batch N] [--timesteps K] [--repeats R]
      [--threads N]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import time

import torch

ZOO = {  # PC model -> its feedforward base
    "pvgg16": "vgg16",
    "pefficientnet_b0": "efficientnet_b0",
    "presnet18": "resnet18",
    "presnet18-cifar100": "resnet18-cifar100",
}


def best_time(function, repeats: int, device: torch.device, min_seconds: float = 2.0) -> float:
    """Fastest wall time of ``function()`` after one warm-up, over at least ``repeats`` runs
    and at least ``min_seconds`` in all. The minimum, not the median: on a shared machine
    other processes only ever add time."""
    function()
    times: list[float] = []
    while len(times) < repeats or sum(times) < min_seconds:
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        started = time.perf_counter()
        function()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - started)
    return min(times)


def use_random_weights() -> None:
    """Point the zoo at seeded random weights: timing needs no weight files."""
    from pcbench.registry import registry

    for spec in registry.list_model_specs():
        if spec.source == "builtin" and spec.weights is not None:
            registry._REGISTRY[spec.name] = dataclasses.replace(spec, weights=None)


def measure(name: str, device: torch.device, batch: int, timesteps: int, repeats: int) -> dict:
    """Times (seconds) and peak memory (MiB) of one model, in this process."""
    from pcbench.models.build import build_model
    from pcbench.registry import get_model_spec

    use_random_weights()
    torch.set_flush_denormal(True)  # random weights can underflow to denormals: slow on CPU
    spec = get_model_spec(name)
    model = build_model(spec, device=device)
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, spec.input_size, spec.input_size, generator=generator).to(device)
    result: dict = {"model": name, "input": spec.input_size}
    with torch.no_grad():
        if spec.variant == "pc":
            model.timesteps = 0
            result["t0"] = best_time(lambda: model(x), repeats, device)
            model.timesteps = timesteps
            result["tk"] = best_time(lambda: model(x), repeats, device)
        else:
            result["ff"] = best_time(lambda: model(x), repeats, device)
    if device.type == "cuda":
        result["peak_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_child(name: str, args: argparse.Namespace) -> dict:
    """``measure`` in a fresh process, so that peak memory is the model's own."""
    command = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--device",
        args.device,
        "--batch",
        str(args.batch),
        "--timesteps",
        str(args.timesteps),
        "--repeats",
        str(args.repeats),
        "--threads",
        str(args.threads),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--timesteps", type=int, default=2, help="k: the PC unroll timed against T = 0")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1: stable timings on a shared machine)"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.child:
        print(json.dumps(measure(args.child, device, args.batch, args.timesteps, args.repeats)))
        return
    memory = "CUDA max allocated" if device.type == "cuda" else "process max RSS"
    print(
        f"device {device}, batch {args.batch}, step = (t(T={args.timesteps}) - t(T=0)) / "
        f"{args.timesteps}, torch threads {args.threads}, best of >= {args.repeats}; "
        f"peak memory: {memory}"
    )
    print(
        f"{'model':<20}{'input':>6}{'ff ms':>10}{'pc T=0 ms':>11}{'step ms':>10}{'step/ff':>9}"
        f"{'ff peak MiB':>13}{'pc peak MiB':>13}"
    )
    for pc_name, base in ZOO.items():
        ff, pc = run_child(base, args), run_child(pc_name, args)
        step = (pc["tk"] - pc["t0"]) / args.timesteps
        print(
            f"{pc_name:<20}{pc['input']:>6}{ff['ff'] * 1e3:>10.1f}{pc['t0'] * 1e3:>11.1f}"
            f"{step * 1e3:>10.1f}{step / ff['ff']:>9.2f}{ff['peak_mib']:>13.0f}{pc['peak_mib']:>13.0f}"
        )


if __name__ == "__main__":
    main()
