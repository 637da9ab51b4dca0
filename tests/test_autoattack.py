"""AutoAttack kinds (pyautoattack), ``attack_timestep = "sum"``, the gradient-free masking check
and the decisive attack of a threat model."""

from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pyautoattack import AutoAttack
from pyautoattack.autopgd_base import APGDAttack
from torch import nn

from pcbench.data.digits import load_digits_split
from pcbench.errors import PcbenchError
from pcbench.leaderboards.board import build_leaderboard
from pcbench.leaderboards.merge import load_results
from pcbench.models.build import build_model
from pcbench.models.protocol import AtTimestep, ModuleTimestepModel
from pcbench.perturbations.attacks import attack_images, sample_seeds
from pcbench.perturbations.autoattack import apply_settings, configured_autoattack
from pcbench.runner import run_suite
from pcbench.suite import AttackConfig, load_suite, parse_suite

CPU = torch.device("cpu")
REPO = Path(__file__).resolve().parents[1]


def attack(**table: object) -> AttackConfig:
    """The attack a suite's ``[[attacks]]`` table describes."""
    suite = parse_suite({"name": "t", "models": ["m"], "dataset": {"name": "digits"}, "attacks": [table]})
    return suite.attacks[0]


def digits(limit: int, seed: int = 0):
    return load_digits_split("test").subset(limit, seed=seed)


def correct_at_last(model, images: torch.Tensor, labels: np.ndarray) -> int:
    with torch.no_grad():
        return int((model(images)[-1].argmax(-1).numpy() == labels).sum())


# --- agreement with AutoAttack itself, and its settings --------------------------------


def adversarial(model, data, config, epsilon: float, seed: int = 3) -> torch.Tensor:
    """pcbench's adversarial images of ``data`` under ``config`` at timestep 0 (its foolbox
    batch size is 2: AutoAttack kinds ignore it)."""
    labels = torch.from_numpy(data.labels)
    return attack_images(
        model, data.tensor(), labels, data.ids, config, epsilon, 0, num_classes=10, seed=seed, batch_size=2, device=CPU
    )


def direct_autoattack(model, config: AttackConfig, epsilon: float, x: torch.Tensor, y: torch.Tensor, seed: int):
    """pyautoattack's own run of ``config``'s single attack on one batch, its settings set by hand."""
    direct = AutoAttack(
        AtTimestep(model, "last").eval(),
        attacks=list(config.sub_attacks),
        eps=epsilon,
        norm="Linf",
        seed=seed,
        version="custom",
    )
    direct.apgd.n_restarts = direct.square.n_restarts = 1  # the standard version's, pcbench's default
    if config.n_iter is not None:
        direct.apgd = APGDAttack(direct.model, n_iter=config.n_iter, eps=epsilon, seed=seed, device=CPU)
    if config.n_queries is not None:
        direct.square.n_queries = config.n_queries
    images, _ = direct.run_standard_evaluation(x.contiguous(), y.long(), batch_size=len(y))
    return images


@pytest.mark.parametrize("table", [{"kind": "apgd-ce", "n_iter": 10}, {"kind": "square", "n_queries": 50}])
def test_each_batch_is_exactly_pyautoattacks_run_on_it_with_its_first_samples_seed(table):
    """Batches of ``batch_size`` (5, 5 and 2 samples here), each exactly what pyautoattack
    returns for it, seeded with its first sample's seed; the caller's RNG is untouched."""
    data, model = digits(12), build_model("digits-cnn")
    config = attack(**table, epsilons=[0.2], batch_size=5)
    torch.manual_seed(7)
    before = torch.get_rng_state()
    ours = adversarial(model, data, config, 0.2)
    assert torch.equal(torch.get_rng_state(), before)
    x, y = data.tensor(), torch.from_numpy(data.labels)
    for start in (0, 5, 10):
        seed = sample_seeds(data.ids[start : start + 1], config, 0.2, 3)[0]
        batch = slice(start, start + 5)
        assert torch.equal(ours[batch], direct_autoattack(model, config, 0.2, x[batch], y[batch], seed)), start
    assert correct_at_last(model, ours, data.labels) < correct_at_last(model, x, data.labels)  # the attack bites


#: Settings run_standard_evaluation sets itself before each sub-attack (shared instances).
SET_WHILE_RUNNING = {("apgd-ce", "loss"), ("apgd-dlr", "loss"), ("fab-t", "n_restarts")}


@pytest.mark.parametrize("version", ["standard", "plus"])
def test_recorded_settings_are_what_autoattack_runs_for_the_version(version):
    official = AutoAttack(nn.Identity(), eps=0.1, norm="Linf", version=version)
    config = attack(kind="autoattack", version=version, epsilons=[0.1])
    assert config.sub_attacks == tuple(official.attacks_to_run)
    mine = configured_autoattack(build_model("digits-cnn"), config, 0.1, 0, CPU)
    apply_settings(mine, config)
    owners = {
        "apgd-ce": "apgd",
        "apgd-dlr": "apgd",
        "apgd-t": "apgd_targeted",
        "fab": "fab",
        "fab-t": "fab",
        "square": "square",
    }
    attributes = {"rho": "thr_decr", "resc_schedule": "rescale_schedule"}
    for name, settings in config.params()["autoattack"]["settings"].items():
        for key, value in settings.items():
            if (name, key) in SET_WHILE_RUNNING:
                continue
            attribute = attributes.get(key, key)
            assert getattr(getattr(official, owners[name]), attribute) == value, (name, key)
            assert getattr(getattr(mine, owners[name]), attribute) == value, (name, key)


#: Each AutoAttack kind's own keys, exactly (the common ones first); the override values tried.
KIND_KEYS = {
    "autoattack": ("norm", "version", "attacks", "n_iter", "n_restarts", "n_queries", "n_target_classes", "batch_size"),
    "apgd-ce": ("norm", "n_iter", "n_restarts", "batch_size"),
    "apgd-dlr": ("norm", "n_iter", "n_restarts", "batch_size"),
    "apgd-t": ("norm", "n_iter", "n_restarts", "n_target_classes", "batch_size"),
    "fab-t": ("norm", "n_iter", "n_target_classes", "batch_size"),
    "square": ("norm", "n_restarts", "n_queries", "batch_size"),
}
COMMON_KEYS = ("kind", "epsilons", "gradient_mode", "attack_timestep", "limit", "samples", "eot")
OVERRIDES = {"n_iter": 7, "n_restarts": 2, "n_queries": 30, "n_target_classes": 3}
OWNERS = {
    "apgd-ce": "apgd",
    "apgd-dlr": "apgd",
    "apgd-t": "apgd_targeted",
    "fab": "fab",
    "fab-t": "fab",
    "square": "square",
}


@pytest.mark.parametrize("kind", sorted(KIND_KEYS))
def test_every_override_a_kind_takes_is_set_on_autoattacks_objects(kind):
    overrides = {name: value for name, value in OVERRIDES.items() if name in KIND_KEYS[kind]}
    config = attack(kind=kind, epsilons=[0.1], **overrides)
    built = configured_autoattack(build_model("digits-cnn"), config, 0.1, 0, CPU)
    apply_settings(built, config)
    for sub_attack in config.sub_attacks:
        owner = getattr(built, OWNERS[sub_attack])
        for name, value in overrides.items():
            if hasattr(owner, name) and (sub_attack, name) != ("fab-t", "n_restarts"):  # AutoAttack forces 1
                assert getattr(owner, name) == value, (sub_attack, name)
                assert config.sub_attack_settings()[sub_attack][name] == value
    if "n_iter" in overrides:
        # APGD's step-size checkpoints are those of an APGD built with 7 iterations, not 100's
        reference = APGDAttack(nn.Identity(), n_iter=7, eps=0.1)
        for apgd in (built.apgd, built.apgd_targeted):
            for name in ("n_iter", "n_iter_orig", "n_iter_2", "n_iter_min", "size_decr"):
                assert getattr(apgd, name) == getattr(reference, name), name
        assert (built.apgd.n_iter_2, APGDAttack(nn.Identity(), eps=0.1).n_iter_2) == (1, 22)


class Counting(nn.Module):
    """:class:`Unroll` counting its forward passes."""

    def __init__(self) -> None:
        super().__init__()
        self.unroll, self.calls = Unroll(), 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.unroll(x)


@pytest.mark.parametrize("kind", ["apgd-ce", "apgd-t"])
def test_n_iter_sets_how_many_gradient_steps_apgd_takes(kind):
    _, x, y = tiny_batch()
    counter = Counting()  # the same logits as tiny_batch's model (Unroll is seeded)
    model = ModuleTimestepModel(counter, timesteps=2).eval()

    def forwards(n_iter: int) -> int:
        targets = {"n_target_classes": 1} if kind == "apgd-t" else {}
        config = attack(kind=kind, epsilons=[1e-6], n_iter=n_iter, **targets)
        counter.calls = 0
        attack_images(
            model, x[:1], y[:1], np.arange(1), config, 1e-6, 2, num_classes=5, seed=0, batch_size=1, device=CPU
        )
        return counter.calls

    # ε = 1e-6 breaks nothing, so APGD runs every iteration: one gradient pass each, the rest
    # (AutoAttack's checks, APGD's start) is the same for both
    assert forwards(20) - forwards(10) == 10


def test_unknown_and_other_kinds_keys_list_only_the_kinds_own_keys():
    for kind, own in KIND_KEYS.items():
        allowed = ", ".join((*COMMON_KEYS, *own))
        with pytest.raises(PcbenchError) as unknown:
            attack(kind=kind, epsilons=[0.1], iterations=5)
        assert str(unknown.value) == f"<suite>: unknown key 'attacks[0].iterations'; kind {kind!r} takes: {allowed}"
        with pytest.raises(PcbenchError) as foreign:
            attack(kind=kind, epsilons=[0.1], steps=5)  # a foolbox key
        assert str(foreign.value) == (
            f"<suite>: attacks[0].steps = 5 is not allowed for kind {kind!r}; its keys: {allowed}"
        )


# --- determinism --------------------------------------------------------------------


@pytest.mark.parametrize("table", [{"kind": "square", "n_queries": 50}, {"kind": "apgd-ce", "n_iter": 10}])
def test_an_image_depends_on_the_seed_and_its_batch_only_and_batch_size_1_makes_it_per_sample(table):
    model = build_model("digits-cnn")
    batched = attack(**table, epsilons=[0.3], batch_size=4)
    data = digits(8)
    ours = adversarial(model, data, batched, 0.3)
    assert torch.equal(ours, adversarial(model, data, batched, 0.3))  # same seed and batch size: same images
    assert not torch.equal(ours, adversarial(model, data, batched, 0.3, seed=4))
    # the second batch alone (its companions and first sample unchanged) gives its images again
    assert torch.equal(ours[4:], adversarial(model, data.where(np.arange(8) >= 4), batched, 0.3))
    clean = data.tensor()
    assert sum(not torch.equal(a, b) for a, b in zip(ours, clean, strict=True)) >= 3  # attacked, not returned clean

    # batch_size = 1: a sample's image is its own, whatever its companions or --limit
    alone = dataclasses.replace(batched, batch_size=1)
    small = digits(3)  # another --limit: a nested subset, other companions
    assert set(small.ids) < set(data.ids)
    per_sample = dict(zip(data.ids.tolist(), adversarial(model, data, alone, 0.3), strict=True))
    in_small = adversarial(model, small, alone, 0.3)
    assert all(torch.equal(image, per_sample[i]) for i, image in zip(small.ids.tolist(), in_small, strict=True))
    # the documented dependence: without a companion (same batch seed) another sample's image changes
    fewer = adversarial(model, data.where(np.isin(np.arange(8), [4, 6, 7])), batched, 0.3)
    assert not torch.equal(fewer[1:], ours[6:])


# --- attack_timestep = "sum" ------------------------------------------------------------


class Unroll(nn.Module):
    """Three 'timesteps' of logits for five classes from a 3×4×4 image, each its own map."""

    def __init__(self) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(0)
        self.register_buffer("weights", torch.randn(3, 48, 5, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([3 * torch.tanh(x.flatten(1) @ weight) for weight in self.weights])


def tiny_batch() -> tuple[ModuleTimestepModel, torch.Tensor, torch.Tensor]:
    model = ModuleTimestepModel(Unroll(), timesteps=2).eval()
    x = torch.rand(6, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return model, x, model(x)[-1].argmax(-1)  # labels the model gets right at T


def summed_cross_entropy_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    inputs = x.clone().requires_grad_()
    loss = sum(F.cross_entropy(logits, y, reduction="sum") for logits in model(inputs))
    return torch.autograd.grad(loss, inputs)[0]


def test_sum_fgsm_steps_along_the_cross_entropy_summed_over_timesteps():
    model, x, y = tiny_batch()
    config = attack(kind="fgsm", epsilons=[0.1], attack_timestep="sum")
    ours = attack_images(model, x, y, np.arange(6), config, 0.1, "sum", num_classes=5, seed=0, batch_size=4, device=CPU)
    expected = (x + 0.1 * summed_cross_entropy_gradient(model, x, y).sign()).clamp(0, 1)
    torch.testing.assert_close(ours, expected)
    last = attack_images(
        model,
        x,
        y,
        np.arange(6),
        dataclasses.replace(config, attack_timestep="last"),
        0.1,
        2,
        num_classes=5,
        seed=0,
        batch_size=4,
        device=CPU,
    )
    assert not torch.equal(ours, last)


def test_sum_autoattack_losses_are_each_sub_attacks_loss_summed_over_timesteps():
    model, x, y = tiny_batch()
    config = attack(
        kind="autoattack",
        version="custom",
        attacks=["apgd-ce", "apgd-dlr", "square"],
        epsilons=[0.1],
        attack_timestep="sum",
    )
    autoattack = configured_autoattack(model, config, 0.1, "sum", CPU)
    losses = autoattack.apgd.model
    assert autoattack.apgd.is_tf_model and autoattack.apgd_targeted.model is losses
    logits = model(x)
    at_last, cross_entropy, gradient = losses.get_logits_loss_grad_xent(x, y)
    torch.testing.assert_close(at_last, logits[-1])
    torch.testing.assert_close(cross_entropy, sum(F.cross_entropy(step, y, reduction="none") for step in logits))
    torch.testing.assert_close(gradient, summed_cross_entropy_gradient(model, x, y))
    _, dlr, _ = losses.get_logits_loss_grad_dlr(x, y)
    torch.testing.assert_close(dlr, sum(autoattack.apgd.dlr_loss(step, y) for step in logits))
    margin, loss = autoattack.square.margin_and_loss(x, y)
    others = logits.clone()
    others[:, torch.arange(6), y] = -float("inf")
    margins = logits[:, torch.arange(6), y] - others.max(-1).values
    torch.testing.assert_close(margin, margins[-1])
    torch.testing.assert_close(loss, margins.sum(0))
    torch.testing.assert_close(autoattack.fab.predict(x), logits.sum(0))
    apgd = attack(kind="apgd-ce", epsilons=[0.3], attack_timestep="sum")
    adversarial = attack_images(
        model, x, y, np.arange(6), apgd, 0.3, "sum", num_classes=5, seed=0, batch_size=6, device=CPU
    )
    changed = (adversarial - x).flatten(1).abs().max(1).values
    assert changed.max() <= 0.3 + 1e-6 and (changed > 0).any()


# --- masking: Square catches a zero-gradient input stage ------------------------------


def test_square_breaks_a_zero_gradient_quantiser_and_only_its_flag_fires(register_quantised, tmp_path):
    register_quantised(4)
    suite = parse_suite(
        {
            "name": "square",
            "models": ["digits-cnn", "digits-pcnn", "digits-quantised"],
            "timesteps": 2,
            "dataset": {"name": "digits", "limit": 30},
            "clean": False,
            "attacks": [
                {"kind": "fgsm", "epsilons": [0.2]},
                {"kind": "pgd-linf", "epsilons": [0.2], "steps": 10, "rel_stepsize": 0.25, "random_start": False},
                {"kind": "square", "epsilons": [0.2], "n_queries": 300},
            ],
        }
    )
    run_suite(suite, results_dir=tmp_path, device="cpu", progress=False)
    board = build_leaderboard(load_results([tmp_path], "square"))
    flags = board.flags.set_index(["model", "timestep"])
    assert flags.loc[("digits-quantised", 0), "flag_gradient_free_beats_whitebox"]
    for model, timestep in (("digits-cnn", 0), ("digits-pcnn", 2)):
        row = flags.loc[(model, timestep)]
        assert not row.fillna(False).any(), (model, row.to_dict())
        assert not pd_isna(row["flag_gradient_free_beats_whitebox"])
    summary = board.summary.set_index("model")
    robust = summary["best_known_linf@0.2_acc:last"]
    assert robust["digits-quantised"] <= robust["digits-cnn"] + 0.1  # Square undoes the quantiser
    assert summary.loc["digits-quantised", "pgd-linf@0.2_acc:last"] > 0.9  # which PGD cannot see through
    assert summary.loc["digits-quantised", "decisive_attack_linf@0.2:last"] == "square-linf-q300"
    assert summary.loc["digits-quantised", "decisive_samples_linf@0.2:last"] >= 20


def pd_isna(value: object) -> bool:
    import pandas as pd

    return bool(pd.isna(value))


# --- suites and bad input -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "budgets"),
    [("adversarial-cifar10", {("Linf", 8 / 255), ("L2", 0.5)}), ("adversarial-imagenet", {("Linf", 4 / 255)})],
)
def test_adversarial_suites_run_autoattack_standard_at_the_usual_budgets(name, budgets, tmp_path):
    suite = load_suite(name, dataset_root=tmp_path)
    found = {
        (a.norm, e) for a in suite.attacks if a.kind == "autoattack" and a.version == "standard" for e in a.epsilons
    }
    assert found == budgets


BAD = {
    "version": ('kind = "autoattack"\nversion = "fast"\n', ["attacks[0].version = 'fast'", "standard, plus, custom"]),
    "sub-attack": (
        'kind = "autoattack"\nversion = "custom"\nattacks = ["apgd-ce", "pgd"]\n',
        ["attacks[0].attacks[1] = 'pgd'", "apgd-ce, apgd-dlr, apgd-t, fab, fab-t, square"],
    ),
    "attacks without custom": (
        'kind = "autoattack"\nattacks = ["square"]\n',
        ["attacks[0].attacks = ['square']", "version = 'custom'"],
    ),
    "norm": ('kind = "apgd-t"\nnorm = "L1"\n', ["attacks[0].norm = 'L1'", "Linf, L2"]),
    "zero queries": ('kind = "square"\nn_queries = 0\n', ["attacks[0].n_queries = 0", "integer >= 1"]),
    "epsilon above the image range": ('kind = "square"\n', ["attacks[0].epsilons[0] = 2", "(0, 1]"], "[2]"),
    "zero epsilon": ('kind = "apgd-ce"\nnorm = "L2"\n', ["attacks[0].epsilons[0] = 0", "> 0"], "[0]"),
    "foolbox key": ('kind = "square"\nsteps = 10\n', ["attacks[0].steps = 10", "kind 'square'", "n_queries"]),
    "key of another kind": ('kind = "fab-t"\nn_queries = 10\n', ["attacks[0].n_queries = 10", "n_target_classes"]),
    "zero batch size": ('kind = "apgd-ce"\nbatch_size = 0\n', ["attacks[0].batch_size = 0", "integer >= 1"]),
    "batch size of a foolbox kind": ('kind = "fgsm"\nbatch_size = 8\n', ["attacks[0].batch_size = 8", "kind 'fgsm'"]),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_autoattack_input_is_one_line_naming_file_key_value_and_what_is_allowed(case, tmp_path):
    table, fragments, *epsilons = BAD[case]
    path = tmp_path / "bad.toml"
    path.write_text(
        textwrap.dedent(f"""\
        name = "t"
        models = ["m"]
        [dataset]
        name = "digits"
        [[attacks]]
        epsilons = {epsilons[0] if epsilons else "[0.1]"}
        """)
        + table,
        encoding="utf-8",
    )
    with pytest.raises(PcbenchError) as info:
        load_suite(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# --- attack limits, stored check warnings, labels of overridden settings --------------


def test_overridden_settings_and_limits_give_distinct_labels():
    suite = parse_suite(
        {
            "name": "t",
            "models": ["m"],
            "dataset": {"name": "digits"},
            "attacks": [
                {"kind": "square", "epsilons": [0.1], "n_queries": 100},
                {"kind": "square", "epsilons": [0.1], "n_queries": 1000},
                {"kind": "square", "epsilons": [0.1], "n_queries": 1000, "limit": 40},
                {"kind": "apgd-t", "epsilons": [0.1], "n_restarts": 2, "n_target_classes": 3},
            ],
        }
    )
    labels = [config.label for config in suite.attacks]
    assert labels == ["square-linf-q100", "square-linf-q1000", "square-linf-q1000-n40", "apgd-t-linf-r2-c3"]
    assert suite.attacks[2].params()["limit"] == 40
    assert "limit" not in suite.attacks[1].params()  # absent without a limit: older cell keys are unchanged
    ensemble = attack(kind="autoattack", epsilons=[0.1], n_iter=10, n_restarts=2, n_queries=30, n_target_classes=3)
    assert ensemble.label == "autoattack-linf-i10-r2-q30-c3"
    assert attack(kind="fab-t", epsilons=[0.1], n_iter=10).label == "fab-t-linf-i10"
    batched = attack(kind="square", epsilons=[0.1], n_queries=1000, batch_size=32, limit=40)
    assert batched.label == "square-linf-q1000-b32-n40" and batched.params()["batch_size"] == 32


def test_the_batch_size_is_in_an_autoattack_cells_key_and_a_foolbox_cells_key_is_unchanged():
    from pcbench.runner.run import cell_keys

    def keys(*tables: dict[str, object]) -> dict[str, str]:
        suite = {"name": "t", "models": ["digits-cnn"], "dataset": {"name": "digits"}, "clean": False}
        return cell_keys(parse_suite({**suite, "attacks": list(tables)}))["digits-cnn"]

    default = keys({"kind": "apgd-ce", "epsilons": [0.1]}, {"kind": "apgd-ce", "epsilons": [0.1], "batch_size": 64})
    assert list(default) == ["apgd-ce-linf@0.1", "apgd-ce-linf-b64@0.1"]
    assert default["apgd-ce-linf@0.1"] != default["apgd-ce-linf-b64@0.1"]
    assert keys({"kind": "apgd-ce", "epsilons": [0.1], "batch_size": 128}) == {
        "apgd-ce-linf@0.1": default["apgd-ce-linf@0.1"]  # the default, written out: the same cell
    }
    assert attack(kind="apgd-ce", epsilons=[0.1]).params()["batch_size"] == 128
    assert "batch_size" not in attack(kind="fgsm", epsilons=[0.1]).params()


def test_the_committed_quick_suites_apgd_ce_and_square_cells_run_as_one_pyautoattack_batch(tmp_path):
    from pcbench.store import read_predictions, read_scores

    suite, model = load_suite("quick"), build_model("digits-cnn")
    configs = {config.label: config for config in suite.attacks if config.kind in ("apgd-ce", "square")}
    assert list(configs) == ["apgd-ce-linf-n20", "square-linf-q200-n20"]
    cells = [f"{label}@0.1" for label in configs]
    run_suite(suite, results_dir=tmp_path, device="cpu", progress=False, cells={"digits-cnn": cells})
    scores = read_scores(tmp_path / "quick").set_index("cell")
    assert sorted(scores.index) == sorted(cells) and (scores["n"] == 20).all()
    for cell in cells:
        assert json.loads(scores.loc[cell, "attack_params"])["batch_size"] == 128
    predictions = read_predictions(tmp_path / "quick").sort_values("sample_id")
    attacked = load_digits_split("test").subset(20, seed=suite.seed)  # the attack's limit: one batch of 20
    x, y = attacked.tensor(), torch.from_numpy(attacked.labels)
    for label, config in configs.items():
        stored = predictions[predictions["cell"] == f"{label}@0.1"]
        assert np.array_equal(stored["sample_id"].to_numpy(), attacked.ids)
        seed = sample_seeds(attacked.ids[:1], config, 0.1, suite.seed)[0]
        with torch.no_grad():
            direct = model(direct_autoattack(model, config, 0.1, x, y, seed))[0].argmax(-1).numpy()
        assert np.array_equal(stored["prediction"].to_numpy(), direct), label


def test_attacks_without_overrides_keep_the_labels_of_the_committed_example():
    committed = (REPO / "leaderboards" / "quick.csv").read_text()
    labels = [config.label for config in load_suite("quick").attacks]
    assert "apgd-ce-linf-n20" in labels and "square-linf-q200-n20" in labels
    for label in labels:
        assert f"{label}@" in committed, label


def test_a_suite_with_apgd_n_iter_runs_it_under_its_own_label_and_key(tmp_path):
    from pcbench.store import read_scores

    suite = parse_suite(
        {
            "name": "iterations",
            "models": ["digits-cnn"],
            "dataset": {"name": "digits", "limit": 8},
            "clean": False,
            "attacks": [
                {"kind": "apgd-ce", "epsilons": [0.1]},
                {"kind": "apgd-ce", "epsilons": [0.1], "n_iter": 5},
            ],
        }
    )
    run_suite(suite, results_dir=tmp_path, device="cpu", progress=False)
    scores = read_scores(tmp_path / "iterations").set_index("cell")
    assert sorted(scores.index) == ["apgd-ce-linf-i5@0.1", "apgd-ce-linf@0.1"]
    assert scores.loc["apgd-ce-linf-i5@0.1", "cell_key"] != scores.loc["apgd-ce-linf@0.1", "cell_key"]
    for cell, n_iter in (("apgd-ce-linf-i5@0.1", 5), ("apgd-ce-linf@0.1", 100)):
        params = json.loads(scores.loc[cell, "attack_params"])
        assert params["autoattack"]["settings"]["apgd-ce"]["n_iter"] == n_iter and params["steps"] == n_iter


def test_a_limited_attack_runs_on_its_subset_and_stores_checks_and_versions(tmp_path):
    from importlib.metadata import version

    from pcbench.store import read_predictions, read_scores

    suite = parse_suite(
        {
            "name": "limited",
            "models": ["digits-cnn"],
            "dataset": {"name": "digits", "limit": 30},
            "attacks": [
                {"kind": "fgsm", "epsilons": [0.1]},
                {"kind": "apgd-ce", "epsilons": [0.1], "limit": 12},
            ],
        }
    )
    run_suite(suite, results_dir=tmp_path, device="cpu", progress=False)
    scores = read_scores(tmp_path / "limited").set_index("cell")
    assert scores.loc["clean", "n"] == 30 and scores.loc["apgd-ce-linf-n12@0.1", "n"] == 12
    assert scores.loc["clean", "subset_hash"] != scores.loc["apgd-ce-linf-n12@0.1", "subset_hash"]
    assert (scores["pyautoattack_version"] == version("pyautoattack")).all()
    assert pd_isna(scores.loc["clean", "attack_warnings"])
    assert isinstance(json_list(scores.loc["apgd-ce-linf-n12@0.1", "attack_warnings"]), list)

    predictions = read_predictions(tmp_path / "limited")
    attacked = predictions[predictions["cell"] == "apgd-ce-linf-n12@0.1"]
    expected = digits(30).subset(12, seed=0).ids
    assert np.array_equal(np.sort(attacked["sample_id"].to_numpy()), expected)

    # best-known robust accuracy: a sample is robust when no attack tried on it broke it
    wide = predictions.pivot_table(index="sample_id", columns="cell", values="prediction")
    labels = predictions.drop_duplicates("sample_id").set_index("sample_id")["label"]
    tried = wide.drop(columns="clean")
    broken = tried.ne(labels, axis=0) & tried.notna()
    board = build_leaderboard(load_results([tmp_path], "limited"))
    best = board.summary.set_index("model").loc["digits-cnn", "best_known_linf@0.1_acc:last"]
    assert best == pytest.approx((~broken.any(axis=1)).mean())
    assert "autoattack_warnings" in board.summary.columns


def json_list(text: str) -> object:
    import json

    return json.loads(text)


def test_masking_checks_read_apgd_as_iterative_and_compare_only_cells_of_the_same_samples():
    import json

    import pandas as pd

    from pcbench.leaderboards.masking import masking_flags

    def row(attack: str, kind: str, n: int, correct: int) -> dict[str, object]:
        return {
            "model": "m",
            "variant": "feedforward",
            "timestep": 0,
            "perturbation": "attack",
            "attack": attack,
            "epsilon": 0.1,
            "n": n,
            "subset_hash": f"first-{n}",  # the seeded subsets of one directory: one per size
            "correct": correct,
            "accuracy": correct / n,
            "attack_params": json.dumps(
                {"kind": kind, **({} if kind == "fgsm" else {"autoattack": {"attacks": [kind]}})}
            ),
        }

    fgsm = row("fgsm", "fgsm", 100, 20)
    weak_apgd = row("apgd-ce-linf", "apgd-ce", 100, 30)  # weaker than FGSM on the same samples
    flags = masking_flags(pd.DataFrame([fgsm, weak_apgd])).iloc[0]
    assert flags["flag_iterative_weaker_than_fgsm"]
    limited = row("apgd-ce-linf-n40", "apgd-ce", 40, 12)  # 30 %, but on other samples: not compared
    flags = masking_flags(pd.DataFrame([fgsm, limited])).iloc[0]
    assert pd_isna(flags["flag_iterative_weaker_than_fgsm"])
    square = row("square-linf-n40", "square", 40, 9)  # compared with the APGD of the same 40 samples
    flags = masking_flags(pd.DataFrame([fgsm, limited, square])).iloc[0]
    assert flags["flag_gradient_free_beats_whitebox"]
    close = row("square-linf-n40", "square", 40, 11)  # one sample: within the slack
    assert not masking_flags(pd.DataFrame([fgsm, limited, close])).iloc[0]["flag_gradient_free_beats_whitebox"]
