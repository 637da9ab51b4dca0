"""Feedback training: the reconstruction objective, checkpoints, resume, hyperparameters, CLI."""

from __future__ import annotations

import dataclasses
import sys

import pytest
import torch
from click.testing import CliRunner

from pcbench.api import register_file, train_feedback
from pcbench.cli import cli, main
from pcbench.data import load_dataset
from pcbench.errors import PcbenchError
from pcbench.models.build import build_model, build_pc_model
from pcbench.models.cards import format_model_card
from pcbench.models.checkpoints import load_checkpoint
from pcbench.models.pc import PCModel
from pcbench.registry import ModelSpec, PCConfig, PCLayer, get_model_spec, register_model
from pcbench.registry.user_file import read_spec_file, spec_to_table
from pcbench.training.feedback import FeedbackSettings, fit_feedback
from pcbench.training.hyperparameters import LearnedHyperparameters

CPU = torch.device("cpu")


TINY_MODULE = """
from torch import nn

def bn_cnn(num_classes=10):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, num_classes),
    )
"""

TINY_TOML = """
[models.tiny-cnn]
arch = "pcbench_train_tiny:bn_cnn"
num_classes = 10
dataset = "digits"
input_size = 32
mean = [0.5, 0.5, 0.5]
std = [0.5, 0.5, 0.5]

[models.tiny-pc]
variant = "pc"
base = "tiny-cnn"
timesteps = 2
[models.tiny-pc.pc]
layers = ["2", "5"]
"""


@pytest.fixture
def tiny_pc(registry_snapshot, tmp_path, monkeypatch) -> ModelSpec:
    """A user-registered PC variant of a small CNN with batch norm (random backbone), in a
    private pcbench home."""
    monkeypatch.setenv("PCBENCH_HOME", str(tmp_path / "home"))
    (tmp_path / "pcbench_train_tiny.py").write_text(TINY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "tiny.toml").write_text(TINY_TOML)
    register_file(tmp_path / "tiny.toml")
    return get_model_spec("tiny-pc")


def settings(**overrides) -> FeedbackSettings:
    fields = dict(dataset="digits", limit=96, epochs=2, batch_size=32, optimizer="adam", lr=1e-2, weight_decay=0.0)
    return FeedbackSettings(**{**fields, **overrides})


def reconstruction(model: PCModel, images: torch.Tensor) -> float:
    with torch.no_grad():
        return sum(error.item() for error in model.reconstruction_errors(images))


def test_training_lowers_the_reconstruction_loss_with_the_backbone_frozen(tiny_pc):
    data = load_dataset("digits", "train").subset(96, seed=0)
    model = build_pc_model(tiny_pc).eval()
    backbone = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    before = reconstruction(model, data.tensor())
    model.train()  # as built: fitting must freeze the backbone in eval mode itself
    chosen = settings(epochs=3)
    losses = fit_feedback(model, data, chosen, chosen.schedule(3, CPU), "test")
    assert set(losses) == {"2", "5"}
    assert reconstruction(model, data.tensor()) < 0.5 * before
    after = model.backbone.state_dict()  # batch-norm running statistics included
    assert all(torch.equal(after[k], backbone[k]) for k in backbone)
    assert not model.training


def test_train_feedback_writes_weights_with_their_record_and_registers_the_variant(tiny_pc, tmp_path):
    out = tmp_path / "tiny-feedback.pt"
    args = [
        "train-feedback",
        "tiny-pc",
        "--limit",
        "96",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"feedback weights written to {out}" in result.output
    assert "registered tiny-pc " in result.output  # a user entry is updated in place
    content = torch.load(out, weights_only=True)
    record = content["training"]
    assert (record["dataset"], record["limit"], record["epochs"], record["optimizer"]) == ("digits", 96, 1, "adam")
    assert set(record["final_losses"]) == {"2", "5"}
    saved = {spec.name: spec for spec in read_spec_file(tmp_path / "home" / "registry.toml")}
    assert saved["tiny-pc"].weights == str(out) and saved["tiny-cnn"].weights is None
    model = build_model("tiny-pc")
    assert all(torch.equal(model.predictors.state_dict()[k], v) for k, v in content["state_dict"].items())
    card = format_model_card("tiny-pc")
    assert "training (recorded in tiny-feedback.pt):" in card and "final_losses" in card


def test_interrupted_training_resumes_to_the_same_weights(tiny_pc, tmp_path, monkeypatch):
    uninterrupted = train_feedback("tiny-pc", settings(), CPU, tmp_path / "a.pt", "tiny-a")
    monkeypatch.setenv("PCBENCH_HOME", str(tmp_path / "other-home"))
    calls = {"n": 0}
    original = PCModel.reconstruction_errors

    def counted(self, x, fail_at=None):
        calls["n"] += 1
        if calls["n"] == fail_at:
            raise KeyboardInterrupt
        return original(self, x)

    monkeypatch.setattr(PCModel, "reconstruction_errors", lambda self, x: counted(self, x, fail_at=5))
    with pytest.raises(KeyboardInterrupt):  # 3 batches per epoch: dies in the second epoch
        train_feedback("tiny-pc", settings(), CPU, tmp_path / "b.pt", "tiny-b")
    (checkpoint,) = (tmp_path / "other-home" / "train-feedback").glob("tiny-pc-*/feedback.pt")
    content = load_checkpoint(checkpoint)  # weights_only round trip
    assert content["epoch"] == 1 and set(content) == {"epoch", "order", "modules", "optimizer", "losses"}
    assert not (tmp_path / "b.pt").exists()
    monkeypatch.setattr(PCModel, "reconstruction_errors", lambda self, x: counted(self, x))
    calls["n"] = 0
    resumed = train_feedback("tiny-pc", settings(), CPU, tmp_path / "b.pt", "tiny-b")
    assert calls["n"] == 3  # only the second epoch ran again
    a = torch.load(uninterrupted.weights, weights_only=True)["state_dict"]
    b = torch.load(resumed.weights, weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_hyperparameter_stage_learns_bounded_values_and_records_them(tiny_pc, tmp_path):
    result = train_feedback(
        "tiny-pc", settings(epochs=1, hyperparameter_epochs=1), CPU, tmp_path / "f.pt", "tiny-learned"
    )
    initial = tiny_pc.pc.layers
    assert [(layer.beta, layer.lam, layer.alpha) for layer in result.layers] != [
        (layer.beta, layer.lam, layer.alpha) for layer in initial
    ]
    assert all(layer.beta + layer.lam <= 1.0 and 0 <= layer.alpha <= 0.1 for layer in result.layers)
    assert get_model_spec("tiny-learned").pc.layers == result.layers
    learned = torch.load(tmp_path / "f.pt", weights_only=True)["training"]["learned"]
    assert learned["beta"] == [layer.beta for layer in result.layers]


def test_learned_hyperparameters_start_at_the_given_values_and_stay_in_bounds():
    layers = (PCLayer("a", 0.8, 0.1, 0.01), PCLayer("b", 0.3, 0.0, 0.05))
    learned = LearnedHyperparameters(layers, alpha_max=0.1)
    start = learned.learned_layers(layers)
    values = [value for layer in start for value in (layer.beta, layer.lam, layer.alpha)]
    assert values == pytest.approx([0.8, 0.1, 0.01, 0.3, 0.0, 0.05], abs=1e-4)
    with torch.no_grad():
        for parameter in learned.parameters():
            parameter.fill_(40.0)  # saturated: β → 1, λ → 1 - β, α → α_max
    beta, lam, alpha = learned.values(torch.float64)
    assert torch.all(beta + lam <= 1.0) and torch.all(alpha <= 0.1) and lam[-1] == 0
    with pytest.raises(PcbenchError, match="PCoder 'b': alpha exceeds alpha_max = 0.01"):
        LearnedHyperparameters(layers, alpha_max=0.01)


def test_bad_training_requests_are_one_line_errors(tiny_pc, tmp_path, monkeypatch, capsys):
    with pytest.raises(PcbenchError, match="optimizer = 'lbfgs'; allowed: sgd, rmsprop, adam, adamw"):
        settings(optimizer="lbfgs")
    base = get_model_spec("tiny-cnn")
    register_model(dataclasses.replace(base, name="py-cnn-16", input_size=16, source="python"))
    register_model(dataclasses.replace(tiny_pc, name="py-pc-16", base="py-cnn-16"))
    with pytest.raises(PcbenchError, match="'digits' has 32×32 images but model 'py-pc-16' expects input_size = 16"):
        train_feedback("py-pc-16", settings(), CPU)
    register_model(dataclasses.replace(base, name="py-cnn", source="python"))
    register_model(dataclasses.replace(tiny_pc, name="py-pc", base="py-cnn", source="python"))
    with pytest.raises(PcbenchError, match="base 'py-cnn' is registered from Python, which the user registry cannot"):
        train_feedback("py-pc", settings(), CPU, tmp_path / "never.pt")  # before any training
    assert not (tmp_path / "home" / "train-feedback").exists()
    with pytest.raises(
        PcbenchError, match=r"model 'digits-pcnn' is already registered \(source: builtin\); choose --name"
    ):
        train_feedback("tiny-pc", settings(), CPU, tmp_path / "never.pt", "digits-pcnn")
    broken = tmp_path / "home" / "train-feedback"
    train_feedback("tiny-pc", settings(epochs=1), CPU, tmp_path / "f.pt", "tiny-f")
    (checkpoint,) = broken.glob("tiny-pc-*/feedback.pt")
    torch.save({"epoch": 1}, checkpoint)
    with pytest.raises(PcbenchError, match="checkpoint .* does not fit this training run .*delete it"):
        train_feedback("tiny-pc", settings(epochs=2), CPU, tmp_path / "f.pt", "tiny-f")
    with pytest.raises(PcbenchError, match="predictors builder .*<locals>.* cannot be saved"):
        spec_to_table(dataclasses.replace(tiny_pc, pc=PCConfig(tiny_pc.pc.layers, predictors=lambda s, i: [])))
    monkeypatch.setattr(sys, "argv", ["pcbench", "train-feedback", "digits-cnn"])
    capsys.readouterr()  # drop the progress bars above
    with pytest.raises(SystemExit) as exited:
        main()  # what the console script runs
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        "error: model 'digits-cnn' is a feedforward model; train-feedback trains a PC variant's predictors\n"
    )


def test_train_feedback_explains_itself():
    result = CliRunner().invoke(cli, ["train-feedback", "--help"])
    assert result.exit_code == 0 and "--hyperparameters" in result.output and "resume" in result.output


def test_digits_pcnn_is_saved_with_an_importable_predictor_builder():
    table = spec_to_table(get_model_spec("digits-pcnn"))
    assert table["pc"]["predictors"] == "pcbench.models.digits:digits_predictors"
