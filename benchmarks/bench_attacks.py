"""Attack benchmarks, measured in one run on this machine (ratios, not absolute times).

(a) pcbench's attack path (per-sample seeded random starts, truncated unrolls, the
    timestep wrapper) vs a bare foolbox loop over the same model, batches and ε.
    Target: ratio ≤ 1.15.
(b) Peak memory (max RSS of a fresh process) of one full-gradient attack step through a
    T = 10 unroll, with and without activation checkpointing across timesteps, on a PC
    variant of torchvision's VGG16 (PCoders as in PVGG16, derived predictors, random
    weights) at 112 px.
(c) pcbench's ``autoattack`` (standard version, L∞, ``batch_size = 64``) vs a bare batched
    ``AutoAttack.run_standard_evaluation`` on the same model (digits-cnn), images, batch and
    seed (the batch's seed, so both do the same work; the images must be identical).
    Target: ratio ≤ 1.10.
(d) ``apgd-ce`` through digits-pcnn's unroll (T = 10, full gradient): seconds per image at
    ``batch_size = 64`` (64 images) vs ``batch_size = 1`` (the first ``--apgd-alone`` of them).

Run:  python benchmarks/bench_attacks.py [--repeats 3] [--aa-images 16] [--apgd-alone 4] [--skip-memory]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import subprocess
import sys
import time

import foolbox as fb
import torch
import torchvision
from pyautoattack import AutoAttack

from pcbench.data.digits import load_digits_split
from pcbench.models.build import build_model
from pcbench.models.pc import PCModel
from pcbench.models.predictors import derive_predictors, feature_shapes
from pcbench.models.protocol import AtTimestep, Normalize
from pcbench.perturbations.attacks import attack_images, sample_seeds
from pcbench.suite import AttackConfig, parse_suite

BATCH = 64
EPSILON = 0.05
CONFIG = AttackConfig(kind="pgd-linf", epsilons=(EPSILON,), steps=10, rel_stepsize=0.25, random_start=True)
AA_EPSILON = 0.1
CPU = torch.device("cpu")


def median_time(function, repeats: int) -> float:
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def attack_overhead(repeats: int) -> None:
    data = load_digits_split("test").subset(128, seed=0)
    x, y = data.tensor(), torch.from_numpy(data.labels)
    print(
        f"(a) pcbench attack vs bare foolbox LinfPGD (10 steps, eps {EPSILON}, {len(y)} images, batch {BATCH}; "
        "target <= 1.15)"
    )
    for name in ("digits-cnn", "digits-pcnn"):
        model = build_model(name)
        fmodel = fb.PyTorchModel(AtTimestep(model, "last").eval(), bounds=(0.0, 1.0))
        bare_attack = fb.attacks.LinfPGD(steps=10, rel_stepsize=0.25, random_start=True)

        def bare(bare_attack=bare_attack, fmodel=fmodel) -> None:
            for start in range(0, len(y), BATCH):
                bare_attack(fmodel, x[start : start + BATCH], y[start : start + BATCH], epsilons=EPSILON)

        def ours(model=model) -> None:
            attack_images(
                model,
                x,
                y,
                data.ids,
                CONFIG,
                EPSILON,
                model.timesteps,
                num_classes=10,
                seed=0,
                batch_size=BATCH,
                device=torch.device("cpu"),
            )

        reference, measured = median_time(bare, repeats), median_time(ours, repeats)
        print(
            f"    {name:<12} foolbox {reference:7.3f} s   pcbench {measured:7.3f} s   ratio {measured / reference:5.2f}"
        )


def once(function) -> float:
    """Wall time of one call (AutoAttack runs are too long to repeat)."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def suite_attack(**table: object) -> AttackConfig:
    suite = parse_suite({"name": "bench", "models": ["m"], "dataset": {"name": "digits"}, "attacks": [table]})
    return suite.attacks[0]


def autoattack_overhead(images: int) -> None:
    data = load_digits_split("test").subset(images, seed=0)
    x, y = data.tensor().contiguous(), torch.from_numpy(data.labels).long()
    model = build_model("digits-cnn")
    config = suite_attack(kind="autoattack", norm="Linf", epsilons=[AA_EPSILON], batch_size=BATCH)
    seeds = sample_seeds(data.ids[::BATCH], config, AA_EPSILON, 0)  # pcbench's seed of each batch
    logging.getLogger("auto-attack").setLevel(logging.ERROR)  # the bare run's check warnings
    print(
        f"(c) pcbench autoattack (standard, Linf, eps {AA_EPSILON}, batch {BATCH}) vs bare batched "
        f"run_standard_evaluation, digits-cnn, {len(y)} images, {torch.get_num_threads()} threads (target <= 1.10)"
    )
    results = {}

    def bare() -> None:
        attacked = AtTimestep(model, "last").eval()
        batches = []
        for batch, seed in zip(range(0, len(y), BATCH), seeds, strict=True):
            attack = AutoAttack(attacked, eps=AA_EPSILON, norm="Linf", seed=seed, version="standard")
            xb, yb = x[batch : batch + BATCH], y[batch : batch + BATCH]
            batches.append(attack.run_standard_evaluation(xb, yb, batch_size=BATCH)[0])
        results["bare"] = torch.cat(batches)

    def ours() -> None:
        results["pcbench"] = attack_images(
            model, x, y, data.ids, config, AA_EPSILON, 0, num_classes=10, seed=0, batch_size=BATCH, device=CPU
        )

    reference, measured = once(bare), once(ours)
    print(
        f"    bare {reference:7.1f} s   pcbench {measured:7.1f} s   ratio {measured / reference:5.2f}   "
        f"identical images: {torch.equal(results['bare'], results['pcbench'])}"
    )


def apgd_batch_vs_alone(alone: int) -> None:
    data = load_digits_split("test").subset(BATCH, seed=0)
    x, y = data.tensor(), torch.from_numpy(data.labels)
    model = build_model("digits-pcnn")
    print(
        f"(d) apgd-ce (Linf, eps {EPSILON}) through digits-pcnn's unroll (T = {model.timesteps}, full gradient), "
        f"seconds per image, {torch.get_num_threads()} threads"
    )
    per_image = {}
    for batch_size, count in ((BATCH, BATCH), (1, alone)):
        config = suite_attack(kind="apgd-ce", norm="Linf", epsilons=[EPSILON], batch_size=batch_size)
        seconds = once(
            lambda config=config, count=count: attack_images(
                model,
                x[:count],
                y[:count],
                data.ids[:count],
                config,
                EPSILON,
                model.timesteps,
                num_classes=10,
                seed=0,
                batch_size=BATCH,
                device=CPU,
            )
        )
        per_image[batch_size] = seconds / count
        print(
            f"    batch_size {batch_size:>3}: {count:>3} images {seconds:7.1f} s   {per_image[batch_size]:6.2f} s/image"
        )
    print(f"    per image, batch 1 / batch {BATCH}: {per_image[1] / per_image[BATCH]:5.1f}")


def pvgg_like(size: int) -> PCModel:
    torch.manual_seed(0)
    backbone = torchvision.models.vgg16(num_classes=10)
    normalize = Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    modules = ["features.3", "features.8", "features.15", "features.22", "features.29"]
    predictors = derive_predictors(feature_shapes(backbone, normalize, modules, size), (3, size, size), modules)
    model = PCModel(backbone, normalize, modules, predictors, [0.8] * 5, [0.1] * 5, [0.01] * 5, timesteps=10)
    return model.eval().requires_grad_(False)


def child(checkpointing: bool, size: int, batch: int) -> None:
    """One full-gradient attack step through T = 10; prints peak RSS and time as JSON."""
    model = pvgg_like(size)
    model.activation_checkpointing = checkpointing
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    x = torch.rand(batch, 3, size, size, requires_grad=True)
    started = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(AtTimestep(model, "last")(x), torch.zeros(batch, dtype=torch.long))
    torch.autograd.grad(loss, x)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps({"peak_mib": peak / 1024, "baseline_mib": baseline / 1024, "seconds": time.perf_counter() - started})
    )


def memory(size: int, batch: int) -> None:
    print(f"(b) one full-gradient attack step, T = 10, PVGG16-like at {size}px, batch {batch}: peak RSS")
    results = {}
    for checkpointing in (False, True):
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(int(checkpointing)), "--size", str(size), "--batch", str(batch)],
            capture_output=True,
            text=True,
            check=True,
        )
        results[checkpointing] = json.loads(out.stdout.strip().splitlines()[-1])
        r = results[checkpointing]
        print(
            f"    checkpointing {'on ' if checkpointing else 'off'}  peak {r['peak_mib']:8.0f} MiB "
            f"(model alone {r['baseline_mib']:6.0f} MiB)   step {r['seconds']:6.1f} s"
        )
    off, on = results[False], results[True]
    print(
        f"    attack memory above the model: ratio on/off "
        f"{(on['peak_mib'] - on['baseline_mib']) / (off['peak_mib'] - off['baseline_mib']):5.2f}; "
        f"time ratio on/off {on['seconds'] / off['seconds']:5.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--aa-images", type=int, default=16, help="images for (c)")
    parser.add_argument("--apgd-alone", type=int, default=4, help="images attacked one at a time in (d)")
    parser.add_argument("--skip-memory", action="store_true", help="skip (b)")
    parser.add_argument("--child", type=int, choices=(0, 1), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(bool(args.child), args.size, args.batch)
        return
    attack_overhead(args.repeats)
    if not args.skip_memory:
        memory(args.size, args.batch)
    autoattack_overhead(args.aa_images)
    apgd_batch_vs_alone(args.apgd_alone)


if __name__ == "__main__":
    main()
