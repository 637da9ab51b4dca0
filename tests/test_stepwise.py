"""Step-by-step models through :class:`pcbench.Stepwise` (Predify's calling convention:
``reset()``, ``net(images)`` for timestep 0, ``net(None)`` per later timestep).

The reference is a stateful re-implementation of ``digits-pcnn`` written here from the PC
update equations (:mod:`pcbench.models.pc`), on digits-pcnn's own backbone and predictors:
through the adapter it must equal pcbench's own unroll bitwise, logits and input gradient.
"""

from __future__ import annotations

import sys
import textwrap

import pytest
import torch
from torch import nn

import pcbench
from pcbench.models.identity import structure_hash


class StatefulPCNN(nn.Module):
    """digits-pcnn written step by step: ``reset()`` clears the state, ``forward(images)``
    is the feedforward pass (timestep 0), ``forward(None)`` one PC update of every PCoder.
    As in Predify's PCoders, ``forward(images)`` on a state left from an earlier batch
    continues from it (an update step on the new images) instead of starting afresh.
    ``build_graph=False`` runs the steps without autograd (as Predify's flag does)."""

    def __init__(self, pc: nn.Module, build_graph: bool = True) -> None:
        super().__init__()
        features, flatten, linear = pc.backbone
        # PCoders sit on the ReLUs 0.1, 0.4 and 0.7: each segment ends at one of them
        self.segments = nn.ModuleList([features[0:2], features[2:5], features[5:8]])
        self.head = nn.Sequential(features[8], flatten, linear)
        self.predictors = pc.predictors
        self.normalize = pc.normalize
        self.betas, self.lambdas, self.alphas = pc.betas, pc.lambdas, pc.alphas
        self.build_graph = build_graph
        self.reset()

    def reset(self) -> None:
        self._image: torch.Tensor | None = None
        self._states: list[torch.Tensor] = []

    def forward(self, images: torch.Tensor | None) -> torch.Tensor:
        if images is not None:
            self._image = self.normalize(images)
            if self._states:  # not reset: Predify's PCoders update their old representation
                return self._step()
            below, states = self._image, []
            for segment in self.segments:
                states.append(segment(below))
                below = states[-1].clone()  # the PC hook hands a copy downstream
            self._states = states
            return self.head(below)
        if not self.build_graph:
            with torch.no_grad():
                return self._step()
        return self._step()

    def _step(self) -> torch.Tensor:
        predictions, gradients = self._predict()
        below, states = self._image, []
        for n, segment in enumerate(self.segments):
            beta, lam, alpha = self.betas[n], self.lambdas[n], self.alphas[n]
            state = beta * segment(below)
            if lam != 0.0:
                state = state + lam * predictions[n + 1]
            state = state + (1.0 - beta - lam) * self._states[n]
            state = state - alpha * gradients[n]
            states.append(state)
            below = state.clone()
        self._states = states
        return self.head(below)

    def _predict(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Each PCoder's prediction of the layer below and the gradient of its per-sample MSE
        w.r.t. the state (differentiable: create_graph, as gradient_mode "full")."""
        outer = torch.is_grad_enabled()
        predictions, gradients = [], []
        for n, predictor in enumerate(self.predictors):
            state = self._states[n]
            target = self._image if n == 0 else self._states[n - 1]
            tracked = outer and state.requires_grad
            with torch.enable_grad():
                source = state if tracked else state.detach().requires_grad_(True)
                prediction = predictor(source)
                residual = prediction - target
                (gradient,) = torch.autograd.grad(
                    prediction,
                    source,
                    grad_outputs=residual * (2.0 / residual[0].numel()),
                    create_graph=tracked,
                    retain_graph=outer,
                )
            predictions.append(prediction if outer else prediction.detach())
            gradients.append(gradient)
        return predictions, gradients


T = 3


@pytest.fixture(scope="module")
def pcnn() -> nn.Module:
    return pcbench.load_model("digits-pcnn", timesteps=T)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(4, 3, 32, 32, generator=generator)


def logits_and_input_gradient(model: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x = images.clone().requires_grad_(True)
    logits = model(x)
    weights = torch.linspace(-1.0, 1.0, logits.numel()).view_as(logits)  # every timestep and class counts
    (gradient,) = torch.autograd.grad((logits * weights).sum(), x)
    return logits.detach(), gradient


def test_the_stateful_pcnn_through_the_adapter_equals_pcbenchs_unroll_bitwise(pcnn, images):
    assert pcnn.gradient_mode == "full"
    stepwise = pcbench.Stepwise(StatefulPCNN(pcnn), timesteps=T)
    with torch.no_grad():
        expected, actual = pcnn(images), stepwise(images)
    assert actual.shape == (T + 1, 4, 10)
    assert torch.equal(actual, expected)
    assert not torch.equal(actual[0], actual[-1])  # the dynamics change the logits
    expected_logits, expected_gradient = logits_and_input_gradient(pcnn, images)
    actual_logits, actual_gradient = logits_and_input_gradient(stepwise, images)
    assert torch.equal(actual_logits, expected_logits)
    assert torch.equal(actual_gradient, expected_gradient)
    assert expected_gradient.abs().sum() > 0


def test_state_is_reset_for_every_batch(pcnn, images):
    stepwise = pcbench.Stepwise(StatefulPCNN(pcnn), timesteps=T)
    with torch.no_grad():
        together = [stepwise(images[:2]), stepwise(images[2:])]
        alone = [pcbench.Stepwise(StatefulPCNN(pcnn), timesteps=T)(images[2:])]
    assert torch.equal(together[1], alone[0])


def test_a_step_that_disables_gradients_is_reported(pcnn, images):
    stepwise = pcbench.Stepwise(StatefulPCNN(pcnn, build_graph=False), timesteps=T)
    with torch.no_grad():  # forwards without gradients are fine
        assert torch.equal(stepwise(images), pcnn(images))
    with pytest.raises(pcbench.PcbenchError) as caught:
        stepwise(images.clone().requires_grad_(True))
    assert str(caught.value) == (
        "Stepwise: timestep 1 (module(None)) returned logits that do not require grad while the images do: "
        "the call ran without autograd (torch.no_grad(), .detach(), or a flag such as Predify's "
        "build_graph=False), so gradients through the unroll would stop there; run every call with autograd "
        "on (Predify: build_graph=True)"
    )


def test_settings_enter_the_identity_and_bad_ones_are_one_error(pcnn):
    module = StatefulPCNN(pcnn)
    hashes = {
        structure_hash(pcbench.Stepwise(module, timesteps=T)),
        structure_hash(pcbench.Stepwise(module, timesteps=T + 1)),
        structure_hash(pcbench.Stepwise(module, timesteps=T, step="_step")),
    }
    assert len(hashes) == 3
    with pytest.raises(pcbench.PcbenchError, match="^Stepwise: reset = 'clear', but StatefulPCNN has no method"):
        pcbench.Stepwise(module, timesteps=T, reset="clear")


MYMODELS = """
import torch
from torch import nn


class Recurrent(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, num_classes)

    def reset(self):
        self.drive = self.state = None

    def forward(self, images):
        if images is not None:
            self.drive = self.conv(images)
            self.state = torch.relu(self.drive)
        else:
            self.state = torch.relu(self.drive - 0.5 * self.state)
        return self.fc(self.state.mean((2, 3)))


def recurrent(num_classes=10):
    return Recurrent(num_classes)
"""

MODELS_TOML = """
[models.toy-stepwise]
arch = "mymodels:recurrent"
protocol = "stepwise"
timesteps = 2
num_classes = 10
dataset = "digits"
input_size = 32
"""

SUITE = """
name = "stepwise-clean"
models = ["digits-cnn"]
[dataset]
name = "digits"
split = "test"
limit = 10
"""


def test_a_stepwise_model_file_registers_and_evaluates(registry_snapshot, fresh_home, tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "mymodels.py").write_text(textwrap.dedent(MYMODELS))
    (tmp_path / "models.toml").write_text(MODELS_TOML)
    (tmp_path / "suite.toml").write_text(SUITE)
    try:
        (spec,) = pcbench.register_file(tmp_path / "models.toml")
        assert (spec.protocol, spec.reset, spec.step, spec.timesteps) == ("stepwise", "reset", None, 2)
        model = pcbench.load_model("toy-stepwise")
        assert isinstance(model, pcbench.Stepwise)
        result = pcbench.evaluate("toy-stepwise", tmp_path / "suite.toml", results=tmp_path / "r", workers=1)
    finally:
        sys.modules.pop("mymodels", None)
    with torch.no_grad():
        assert model(torch.rand(5, 3, 32, 32)).shape == (3, 5, 10)
    assert list(result.accuracy.columns) == [0, 1, 2]
    assert list(result.accuracy.index) == ["clean"]
    assert set(result.scores["n"]) == {10}


def test_the_stepwise_fields_change_only_stepwise_spec_hashes():
    import dataclasses

    from pcbench.registry.registry import get_model_spec, spec_hash

    cnn = get_model_spec("digits-cnn")
    assert "protocol" not in cnn.to_record() and "protocol" not in get_model_spec("digits-pcnn").to_record()
    stepwise = dataclasses.replace(cnn, name="s", protocol="stepwise", timesteps=2)
    other_step = dataclasses.replace(stepwise, step="advance")
    assert len({spec_hash(stepwise), spec_hash(other_step), spec_hash(dataclasses.replace(cnn, name="s"))}) == 3
    with pytest.raises(pcbench.PcbenchError, match="protocol = 'stepwise' is for a self-contained"):
        dataclasses.replace(cnn, name="s", protocol="stepwise")  # T = 0
