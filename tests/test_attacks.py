"""Adversarial evaluation: agreement with a plain-torch PGD, gradient modes, determinism,
and the gradient-masking checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pcbench.data.digits import load_digits_split
from pcbench.leaderboards.masking import masking_flags
from pcbench.models.build import build_model, weights_path
from pcbench.models.protocol import AtTimestep
from pcbench.perturbations.attacks import start_noise
from pcbench.registry import get_model_spec, register_model
from pcbench.runner import run_suite
from pcbench.runner.adversarial import attacked_predictions
from pcbench.store import read_scores
from pcbench.suite import AttackConfig, parse_suite

PGD = AttackConfig(kind="pgd-linf", epsilons=(0.05,), steps=5, rel_stepsize=0.25, random_start=False)


def data(limit: int | None = 60):
    return load_digits_split("test").subset(limit, seed=0)


def plain_pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int, step: float) -> torch.Tensor:
    """L∞ PGD without random start, written out in plain torch."""
    adversarial = x.clone()
    for _ in range(steps):
        adversarial.requires_grad_(True)
        loss = F.cross_entropy(model(adversarial), y, reduction="sum")
        (gradient,) = torch.autograd.grad(loss, adversarial)
        adversarial = adversarial.detach() + step * gradient.sign()
        adversarial = torch.min(torch.max(adversarial, x - eps), x + eps).clamp(0, 1)
    return adversarial


@pytest.mark.parametrize("name", ["digits-cnn", "digits-pcnn"])
def test_pgd_agrees_with_plain_torch_pgd_within_one_sample(name):
    subset, model = data(), build_model(name)
    last = model.timesteps
    ours, _, _ = attacked_predictions(
        model, PGD, 0.05, subset, tuple(range(last + 1)), seed=0, batch_size=32, device=torch.device("cpu")
    )
    x, y = subset.tensor(), torch.from_numpy(subset.labels)
    reference = plain_pgd(AtTimestep(model, "last"), x, y, 0.05, 5, 0.25 * 0.05)
    with torch.no_grad():
        reference_correct = (model(reference)[-1].argmax(-1) == y).sum().item()
    ours_correct = int((ours[last] == subset.labels).sum())
    assert abs(ours_correct - reference_correct) <= 1
    with torch.no_grad():
        clean_correct = (model(x)[-1].argmax(-1) == y).sum().item()
    assert ours_correct < clean_correct - 5  # the attack does bite


def test_full_and_detached_gradients_differ_only_where_alpha_is_positive(registry_snapshot):
    pcnn = get_model_spec("digits-pcnn")
    layers = tuple(dataclasses.replace(layer, alpha=0.0) for layer in pcnn.pc.layers)
    no_alpha = register_model(
        dataclasses.replace(
            pcnn,
            name="digits-pcnn-no-alpha",
            pc=dataclasses.replace(pcnn.pc, layers=layers),
            weights=str(weights_path(pcnn)),
            source="python",
        )
    )
    subset = data(24)
    x, y = subset.tensor(), torch.from_numpy(subset.labels)
    for spec, should_differ in ((pcnn, True), (no_alpha, False)):
        model = build_model(spec)
        gradients = {}
        for mode in ("full", "detached"):
            model.gradient_mode = mode
            inputs = x.clone().requires_grad_()
            loss = F.cross_entropy(AtTimestep(model, "last")(inputs), y, reduction="sum")
            (gradients[mode],) = torch.autograd.grad(loss, inputs)
        assert gradients["full"].abs().max() > 0
        assert torch.equal(gradients["full"], gradients["detached"]) != should_differ


def test_random_starts_are_seeded_per_sample():
    config = dataclasses.replace(PGD, random_start=True)
    ids = np.array([3, 10, 42, 77])
    everything = start_noise(ids, (3, 4, 4), config, 0.1, seed=5)
    assert torch.equal(start_noise(ids[2:3], (3, 4, 4), config, 0.1, seed=5)[0], everything[2])
    assert not torch.equal(start_noise(ids, (3, 4, 4), config, 0.1, seed=6), everything)
    assert everything.abs().max() <= 1
    l2 = start_noise(ids, (3, 4, 4), dataclasses.replace(config, kind="pgd-l2"), 0.1, seed=5)
    assert (l2.flatten(1).norm(dim=1) <= 1 + 1e-6).all()


def test_same_seed_same_result_and_batch_size_does_not_matter():
    subset, model = data(40), build_model("digits-cnn")
    config = dataclasses.replace(PGD, random_start=True)

    def run(batch: int) -> np.ndarray:
        predictions, _, _ = attacked_predictions(
            model, config, 0.1, subset, (0,), seed=3, batch_size=batch, device=torch.device("cpu")
        )
        return predictions

    first, again, other_batches = run(16), run(16), run(7)
    assert np.array_equal(first, again)
    assert (first != other_batches).sum() <= 1


def test_masking_checks_fire_on_a_masked_model_and_stay_quiet_on_the_embedded_ones(register_quantised, tmp_path):
    register_quantised(8)
    suite = parse_suite(
        {
            "name": "masking",
            "models": ["digits-cnn", "digits-pcnn", "digits-quantised"],
            "timesteps": 3,
            "dataset": {"name": "digits", "limit": 40},
            "clean": True,
            "attacks": [
                {"kind": "fgsm", "epsilons": [0.05, 0.1]},
                {
                    "kind": "pgd-linf",
                    "epsilons": [0.05, 0.1, 0.5],
                    "steps": 10,
                    "rel_stepsize": 0.25,
                    "random_start": False,
                },
                {
                    "kind": "pgd-linf",
                    "epsilons": [0.1],
                    "steps": 10,
                    "rel_stepsize": 0.25,
                    "random_start": False,
                    "attack_timestep": "first",
                },
            ],
        }
    )
    run_suite(suite, results_dir=tmp_path, device="cpu", progress=False)
    flags = masking_flags(read_scores(tmp_path / "masking")).set_index(["model", "timestep"])
    assert flags.loc[("digits-quantised", 0), "flag_large_epsilon_not_zero"]
    for model, timestep in (("digits-cnn", 0), ("digits-pcnn", 3)):
        row = flags.loc[(model, timestep)]
        assert not row.fillna(False).any(), (model, row.to_dict())
    assert not pd_isna(flags.loc[("digits-pcnn", 3), "flag_whitebox_weaker_than_transfer"])


def test_masking_checks_read_only_the_cells_that_were_white_box_at_each_timestep():
    import json

    import pandas as pd

    def row(kind, target, timestep, epsilon, accuracy):
        params = {"kind": kind, "gradient_mode": "full", "attack_timestep": target, "target_offset": None}
        label = kind if target == "last" else f"{kind}-{target}"
        return {
            "model": "pc",
            "variant": "pc",
            "perturbation": "attack",
            "attack": label,
            "epsilon": epsilon,
            "timestep": timestep,
            "n": 100,
            "subset_hash": "all",
            "correct": round(accuracy * 100),
            "accuracy": accuracy,
            "attack_params": json.dumps(params),
        }

    scores = pd.DataFrame(
        [
            # at t = 0 the through-the-unroll attacks are transfers from t = 2; "first" is the white-box one
            row("pgd-linf", "last", 0, 0.1, 0.60),
            row("fgsm", "last", 0, 0.1, 0.40),
            row("pgd-linf", "first", 0, 0.1, 0.30),
            row("pgd-linf", "last", 0, 0.5, 0.70),
            row("pgd-linf", "last", 2, 0.5, 0.00),
            # at the last timestep t = 2 the white-box PGD is weaker than the transfer from the feedforward pass
            row("pgd-linf", "last", 2, 0.1, 0.50),
            row("fgsm", "last", 2, 0.1, 0.55),
            row("pgd-linf", "first", 2, 0.1, 0.45),
        ]
    )
    flags = masking_flags(scores).set_index("timestep")
    assert flags.loc[0].drop("model").isna().all()  # nothing white-box to compare at t = 0: no false alarm
    assert flags.loc[2].to_dict() == {
        "model": "pc",
        "flag_iterative_weaker_than_fgsm": False,
        "flag_not_monotonic_in_epsilon": False,
        "flag_large_epsilon_not_zero": False,
        "flag_whitebox_weaker_than_transfer": True,
        "flag_gradient_free_beats_whitebox": None,
        "flag_eot_beats_one_draw": None,
    }  # no Square cell, no EOT cell


def pd_isna(value) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


def test_each_attacks_every_timestep_separately_and_first_is_the_feedforward_attack():
    subset, model = data(16), build_model("digits-pcnn")
    each, _, _ = attacked_predictions(
        model,
        dataclasses.replace(PGD, attack_timestep="each"),
        0.1,
        subset,
        (0, 2),
        seed=0,
        batch_size=16,
        device=torch.device("cpu"),
    )
    first, _, _ = attacked_predictions(
        model,
        dataclasses.replace(PGD, attack_timestep="first"),
        0.1,
        subset,
        (0, 1, 2),
        seed=0,
        batch_size=16,
        device=torch.device("cpu"),
    )
    feedforward, _, _ = attacked_predictions(
        build_model("digits-cnn"), PGD, 0.1, subset, (0,), seed=0, batch_size=16, device=torch.device("cpu")
    )
    assert each.shape == (3, 16) and (each[1] == -1).all() and (each[[0, 2]] >= 0).all()
    assert np.array_equal(each[0], first[0]) and np.array_equal(first[0], feedforward[0])
    assert model.timesteps == 10  # the truncated unrolls were restored


def test_activation_checkpointing_gives_identical_gradients():
    subset = data(8)
    x, y = subset.tensor(), torch.from_numpy(subset.labels)
    model = build_model("digits-pcnn")
    gradients = []
    for checkpointing in (False, True):
        model.activation_checkpointing = checkpointing
        inputs = x.clone().requires_grad_()
        loss = F.cross_entropy(AtTimestep(model, "last")(inputs), y, reduction="sum")
        gradients.append(torch.autograd.grad(loss, inputs)[0])
    assert torch.equal(*gradients)


@pytest.mark.parametrize(("name", "offset"), [("adversarial-cifar10", 5), ("adversarial-imagenet", 800)])
def test_adversarial_suites_carry_the_predify_protocol_and_need_a_root(name, offset, tmp_path):
    from pcbench.errors import PcbenchError
    from pcbench.suite import load_suite

    suite = load_suite(name, dataset_root=tmp_path)
    assert suite.dataset.root == tmp_path.resolve()
    bim = next(attack for attack in suite.attacks if attack.kind == "bim-linf")
    assert (bim.steps, bim.rel_stepsize, bim.random_start, bim.target_offset, bim.gradient_mode, bim.samples) == (
        100,
        0.025,
        True,
        offset,
        "detached",
        "correct",
    )
    assert bim.label == f"bim-linf-t{offset}-detached-correct"
    assert {attack.label for attack in suite.attacks} >= {"fgsm", "pgd-linf", "pgd-l2", "pgd-linf-first"}
    assert max(max(attack.epsilons) for attack in suite.attacks if attack.kind == "pgd-linf") == 0.5
    with pytest.raises(PcbenchError, match="dataset.root is missing.*--root"):
        load_suite(name)


@pytest.mark.parametrize(("kind", "epsilon"), [("fgsm", 0.2), ("pgd-linf", 0.2), ("pgd-l2", 8.0), ("bim-linf", 0.2)])
def test_every_attack_kind_lowers_accuracy_and_targeted_hits_its_target(kind, epsilon):
    subset, model = data(30), build_model("digits-cnn")
    steps = 1 if kind == "fgsm" else 10
    untargeted = AttackConfig(
        kind=kind,
        epsilons=(epsilon,),
        steps=steps,
        rel_stepsize=None if kind == "fgsm" else 0.25,
        random_start=kind.startswith("pgd"),
    )

    def run(config: AttackConfig) -> np.ndarray:
        predictions, _, _ = attacked_predictions(
            model, config, epsilon, subset, (0,), seed=0, batch_size=30, device=torch.device("cpu")
        )
        return predictions[0]

    assert (run(untargeted) == subset.labels).mean() < 0.5
    if kind != "fgsm":
        hits = run(dataclasses.replace(untargeted, target_offset=3)) == (subset.labels + 3) % 10
        assert hits.mean() > 0.5


def test_quick_iterative_attacks_dominate_fgsm_per_sample_so_no_baseline_flag_fires_at_any_limit():
    """Attacks draw their randomness per sample, so a sample's outcome is the same in every
    subset: when every sample FGSM breaks is broken by quick's PGD at the same ε, every
    larger ε breaks what a smaller one broke, and ε = 0.5 breaks everything, no ``--limit``
    can make digits-cnn's masking flags fire (each allows one sample of slack)."""
    from pcbench.suite import load_suite

    suite = load_suite("quick")
    fgsm = next(config for config in suite.attacks if config.kind == "fgsm")
    pgd = next(config for config in suite.attacks if config.kind == "pgd-linf" and config.attack_timestep == "last")
    subset, model = data(None), build_model("digits-cnn")

    def correct(config: AttackConfig, epsilon: float) -> np.ndarray:
        predictions, _, _ = attacked_predictions(
            model, config, epsilon, subset, (0,), seed=suite.seed, batch_size=128, device=torch.device("cpu")
        )
        return predictions[0] == subset.labels

    pgd_correct = {epsilon: correct(pgd, epsilon) for epsilon in pgd.epsilons}
    for epsilon in fgsm.epsilons:
        assert (pgd_correct[epsilon] & ~correct(fgsm, epsilon)).sum() <= 1, epsilon
    for small, large in zip(pgd.epsilons, pgd.epsilons[1:], strict=False):
        assert (pgd_correct[large] & ~pgd_correct[small]).sum() <= 1, (small, large)
    assert not pgd_correct[max(pgd.epsilons)].any()
