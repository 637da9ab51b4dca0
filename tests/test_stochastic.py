"""Stochastic models handled honestly: detected, seeded per cell, draw and batch, pooled over
``draws``, attacked with EOT, and flagged when EOT beats one draw (:mod:`pcbench.runner.stochastic`)."""

from __future__ import annotations

import eagerpy as ep
import foolbox as fb
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from pcbench.api import load_model
from pcbench.leaderboards.masking import masking_flags, stochastic_models
from pcbench.leaderboards.metrics import metrics_table
from pcbench.leaderboards.outcomes import model_outcomes
from pcbench.leaderboards.stats import Bootstrap, wilson_interval
from pcbench.perturbations.attacks import make_attack
from pcbench.perturbations.autoattack import apply_settings, configured_autoattack
from pcbench.runner.entries import UserModule
from pcbench.runner.run import cell_keys, run_suite
from pcbench.runner.stochastic import is_stochastic
from pcbench.store import cell_stem, stored_key
from pcbench.store.results import read_predictions, read_scores
from pcbench.suite import parse_suite

CPU = torch.device("cpu")


class GradientMasked(nn.Module):
    """``digits-cnn`` whose gradient reaches a sample's input only with probability ``keep``
    (a random mask picks, per sample and forward, the logits or their detached copy), with a
    random jitter of 1e-4 added to the logits (so two forwards differ); without ``random``, the
    honest ``digits-cnn``."""

    def __init__(self, random: bool = True, keep: float = 0.25, jitter: float = 1e-4) -> None:
        super().__init__()
        self.cnn = load_model("digits-cnn")
        self.random, self.keep, self.jitter = random, keep, jitter

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.cnn(x)[-1]
        if not self.random:
            return logits
        mask = (torch.rand(len(x), 1) < self.keep).to(logits.dtype)
        return mask * logits + (1 - mask) * logits.detach() + self.jitter * torch.rand(len(x), 1)


class Noisy(nn.Module):
    """``digits-cnn`` with Gaussian noise (std 4) on its logits: its predictions change between draws."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn = load_model("digits-cnn")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.cnn(x)[-1]
        return logits + 4 * torch.randn_like(logits)


def suite(draws: int = 1, attacks: list[dict] | None = None, models: tuple[str, ...] = ("toy",), limit: int = 20):
    return parse_suite(
        {
            "name": "stochastic",
            "models": list(models),
            "draws": draws,
            "dataset": {"name": "digits", "limit": limit},
            "attacks": attacks or [],
        }
    )


def test_detection_tells_a_random_forward_from_a_deterministic_one():
    images = torch.rand(8, 3, 32, 32)
    assert is_stochastic(GradientMasked(), images, CPU)
    assert not is_stochastic(GradientMasked(random=False), images, CPU)
    dropout = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(3 * 32 * 32, 10))
    assert is_stochastic(dropout.train(), images, CPU) and not is_stochastic(dropout.eval(), images, CPU)


def test_eot_unmasks_the_random_mask_and_the_flag_fires_for_it_only(tmp_path):
    """One FGSM draw takes the true gradient for a quarter of the samples (zero elsewhere);
    eight draws for nine in ten: the EOT attack breaks far more, and only the masked model is
    stochastic and flagged. The honest model's EOT cell runs one draw: equal numbers."""
    attacks = [{"kind": "fgsm", "epsilons": [0.3]}, {"kind": "fgsm", "epsilons": [0.3], "eot": 8}]
    modules = {"toy": UserModule(GradientMasked()), "honest": UserModule(GradientMasked(random=False))}
    summary = run_suite(
        suite(attacks=attacks, models=("toy", "honest")),
        results_dir=tmp_path,
        device="cpu",
        progress=False,
        modules=modules,
    )
    scores = read_scores(summary.results)
    assert stochastic_models(scores).to_dict() == {"toy": True, "honest": False}
    flags = masking_flags(scores).set_index("model")["flag_eot_beats_one_draw"]
    assert flags.to_dict() == {"toy": True, "honest": False}
    correct = scores.set_index(["model", "cell"])["correct"]
    assert correct["toy", "fgsm-eot8@0.3"] < correct["toy", "fgsm@0.3"] - 5
    assert correct["honest", "fgsm-eot8@0.3"] == correct["honest", "fgsm@0.3"]


def test_same_suite_same_numbers_and_draws_pooled(tmp_path):
    """Two runs of one suite store the same predictions bit for bit; the draws differ from
    each other; the scores pool them: correct and n summed over draws, every draw stored."""
    config = suite(draws=3, attacks=[{"kind": "pgd-linf", "epsilons": [0.05], "steps": 2}], limit=10)
    runs = []
    for name in ("a", "b"):
        summary = run_suite(
            config, results_dir=tmp_path / name, device="cpu", progress=False, modules={"toy": UserModule(Noisy())}
        )
        runs.append((read_scores(summary.results), read_predictions(summary.results)))
    (scores, predictions), (_, again) = runs
    assert predictions.equals(again)
    clean = predictions[predictions["cell"] == "clean"].pivot(index="sample_id", columns="draw", values="prediction")
    assert list(clean.columns) == [0, 1, 2] and not (clean[0] == clean[1]).all()
    right = (predictions["prediction"] == predictions["label"]).groupby(predictions["cell"]).sum()
    rows = scores.set_index("cell")
    assert rows["correct"].to_dict() == right.to_dict()
    assert rows["n"].tolist() == [30, 30] and rows["draws"].tolist() == [3, 3] and rows["stochastic"].all()
    assert rows.loc["clean", "accuracy"] == right["clean"] / 30


def test_draws_give_mean_accuracy_with_interval_and_best_known_over_every_draw():
    """Three samples, two draws of one attack cell: A right in both, B in draw 1 only, C in
    neither. Accuracy = 3/6 with the Wilson interval of (3, 6); best-known robust = 1/3
    (only A survives every draw)."""
    cell = {"cell": "fgsm@0.1", "perturbation": "attack", "corruption": None, "severity": pd.NA}
    scores = pd.DataFrame(
        [{"model": "m", **cell, "attack": "fgsm", "epsilon": 0.1, "timestep": 0, "correct": 3, "n": 6}]
    )
    predictions = pd.DataFrame(
        {
            "model": "m",
            "cell": "fgsm@0.1",
            "sample_id": [1, 2, 3, 1, 2, 3],
            "label": [0, 0, 0, 0, 0, 0],
            "timestep": 0,
            "prediction": [0, 5, 5, 0, 0, 5],
            "draw": [0, 0, 0, 1, 1, 1],
        }
    )
    outcome = model_outcomes(scores, predictions)["m"]
    assert outcome.accuracy()[0, 0, 0] == 0.5
    robust, present = outcome.robust_under("best_known_linf@0.1_acc")
    assert robust.tolist() == [[True, False, False]] and present.all()
    table = metrics_table(scores, {"m": outcome}, None, Bootstrap(resamples=10)).set_index("metric")
    low, high = wilson_interval(np.array([3]), np.array([6]))
    assert table.loc["fgsm@0.1_acc", ["value", "ci_low", "ci_high"]].tolist() == [0.5, low[0], high[0]]
    assert table.loc["best_known_linf@0.1_acc", "value"] == pytest.approx(1 / 3, abs=0)


def test_eot_gradient_is_the_mean_of_single_draw_gradients():
    """With torch's generator seeded alike, the EOT loss's gradient equals the mean of the
    gradients of four single-draw losses taken in turn."""
    model = GradientMasked(keep=0.5, jitter=0.0)  # each draw's gradient: 0 or the true one, per sample
    fmodel = fb.PyTorchModel(model.eval(), bounds=(0.0, 1.0), device=CPU)
    x, labels = ep.astensor(torch.rand(6, 3, 32, 32)), ep.astensor(torch.arange(6))
    config = suite(attacks=[{"kind": "fgsm", "epsilons": [0.1], "eot": 4}]).attacks[0]
    torch.manual_seed(3)
    _, eot = ep.value_and_grad(make_attack(config).get_loss_fn(fmodel, labels), x)
    single = make_attack(suite(attacks=[{"kind": "fgsm", "epsilons": [0.1]}]).attacks[0]).get_loss_fn(fmodel, labels)
    torch.manual_seed(3)
    gradients = [ep.value_and_grad(single, x)[1].raw for _ in range(4)]
    assert torch.equal(eot.raw, sum(gradients) / 4)
    assert not torch.equal(gradients[0], gradients[1])  # the draws differ


def test_autoattack_kinds_run_apgd_with_eot_iter():
    """``eot`` reaches APGD's ``eot_iter``; AutoAttack's ``rand`` version defaults to 20."""
    config = suite(attacks=[{"kind": "autoattack", "version": "rand", "epsilons": [0.1]}]).attacks[0]
    assert config.label == "autoattack-rand-linf-eot20" and config.sub_attacks == ("apgd-ce", "apgd-dlr")
    attack = configured_autoattack(GradientMasked(random=False), config, 0.1, 0, CPU)
    apply_settings(attack, config)
    assert attack.apgd.eot_iter == 20
    single = suite(attacks=[{"kind": "apgd-t", "epsilons": [0.1], "eot": 3}]).attacks[0]
    apply_settings(attack, single)
    assert attack.apgd_targeted.eot_iter == 3


def test_stochastic_cells_resume_at_their_batch_size_and_cell_keys_agree(tmp_path):
    """A stochastic model's cell is skipped when rerun alike and recomputed at another batch
    size (its draws are cut by batches); ``cell_keys`` (executors, status, dry runs) detects it
    too and gives the key the run stored."""
    config = suite(models=("digits-kuramoto",), limit=10)
    first = run_suite(config, results_dir=tmp_path, device="cpu", batch_size=8, progress=False)
    assert first.evaluated == [cell_stem("digits-kuramoto", "clean")]
    assert stored_key(first.results, first.evaluated[0]) == cell_keys(config, batch_size=8)["digits-kuramoto"]["clean"]
    again = run_suite(config, results_dir=tmp_path, device="cpu", batch_size=8, progress=False)
    assert again.skipped == first.evaluated and again.evaluated == []
    other = run_suite(config, results_dir=tmp_path, device="cpu", batch_size=4, progress=False)
    assert other.evaluated == first.evaluated
