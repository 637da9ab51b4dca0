"""The PC model zoo: published placements and shapes, t = 0 = backbone, weights, TOML predictors."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from pcbench.api import register_file
from pcbench.cli import cli
from pcbench.errors import PcbenchError
from pcbench.models.build import build_model, build_pc_model, checkpoint_hash, describe_architecture
from pcbench.models.cards import format_model_card
from pcbench.models.protocol import FeedforwardModel
from pcbench.models.published import resnet18_cifar
from pcbench.registry import ModelSpec, get_model_spec, list_model_specs, register_model
from pcbench.registry.user_file import read_spec_file

PUBLISHED_FEATURE_MAPS = {
    "pvgg16": [(64, 224, 224), (128, 112, 112), (256, 56, 56), (512, 28, 28), (512, 14, 14)],
    "pefficientnet_b0": [
        (32, 112, 112),
        (16, 112, 112),
        (24, 56, 56),
        (40, 28, 28),
        (80, 14, 14),
        (112, 14, 14),
        (192, 7, 7),
        (320, 7, 7),
    ],
    "presnet18": [(64, 112, 112), (64, 56, 56), (128, 28, 28), (256, 14, 14), (512, 7, 7)],
    "presnet18-cifar100": [(64, 32, 32), (64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4)],
}


@pytest.fixture
def random_zoo(registry_snapshot):
    """The zoo with seeded random weights instead of weight files."""
    for spec in list_model_specs():
        if spec.source == "builtin" and spec.weights is not None:
            registry_snapshot._REGISTRY[spec.name] = dataclasses.replace(spec, weights=None)
    return registry_snapshot


@pytest.fixture
def user_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "home" / "registry.toml"
    monkeypatch.setattr("pcbench.registry.user_file.user_registry_file", lambda: path)
    return path


@pytest.mark.parametrize("name", sorted(PUBLISHED_FEATURE_MAPS))
def test_published_predictors_map_each_feature_map_onto_the_layer_below(name):
    spec = get_model_spec(name)
    assert list(describe_architecture(spec).feature_shapes) == PUBLISHED_FEATURE_MAPS[name]
    with torch.device("meta"):  # the published input size, without memory or compute
        model = build_pc_model(spec, base_weights=False)
        below = [(3, spec.input_size, spec.input_size), *PUBLISHED_FEATURE_MAPS[name][:-1]]
        for predictor, shape, target in zip(model.predictors, PUBLISHED_FEATURE_MAPS[name], below, strict=True):
            assert tuple(predictor(torch.zeros(1, *shape)).shape[1:]) == target


def test_published_configurations_follow_the_reference_notes():
    pvgg = get_model_spec("pvgg16")
    assert describe_architecture(pvgg).predictors == (
        "ConvT(64→3,k5,s1,p2)",
        "ConvT(128→64,k10,s2,p4) + ReLU",
        "ConvT(256→128,k14,s2,p6) + ReLU",
        "ConvT(512→256,k14,s2,p6) + ReLU",
        "ConvT(512→512,k14,s2,p6) + ReLU",
    )
    assert [layer.module for layer in pvgg.pc.layers] == [
        "features.3",
        "features.8",
        "features.15",
        "features.22",
        "features.29",
    ]
    assert [(layer.beta, layer.lam, layer.alpha) for layer in pvgg.pc.layers] == [(0.8, 0.1, 0.01)] * 4 + [
        (0.8, 0.0, 0.01)
    ]
    layerwise = get_model_spec("pvgg16-layerwise")
    assert [(layer.beta, layer.lam) for layer in layerwise.pc.layers] == [
        (0.2, 0.05),
        (0.4, 0.1),
        (0.4, 0.1),
        (0.5, 0.1),
        (0.6, 0.0),
    ]
    assert layerwise.weights == pvgg.weights == "$PCBENCH_WEIGHTS/pvgg16-feedback.pt"
    assert describe_architecture(get_model_spec("pefficientnet_b0")).predictors[:3] == (
        "Up×2 + ConvT(32→3,k3,s1,p1)",
        "ConvT(16→32,k3,s1,p1)",
        "Up×2 + ConvT(24→16,k3,s1,p1)",
    )
    scaled = {s.name: s.pc.gradient_scaling for s in list_model_specs() if s.pc is not None}
    assert scaled["presnet18"] and scaled["presnet18-cifar100"] and not scaled["pvgg16"]
    cifar = get_model_spec("resnet18-cifar100")
    assert (cifar.num_classes, cifar.input_size, cifar.dataset) == (100, 32, "cifar100")
    stem = resnet18_cifar()
    assert stem.conv1.kernel_size == (3, 3) and stem.conv1.stride == (1, 1) and isinstance(stem.maxpool, nn.Identity)
    assert get_model_spec("vgg16").weights == "$PCBENCH_WEIGHTS/vgg16-397923af.pth"


@pytest.mark.parametrize("name", ["pvgg16", "pefficientnet_b0", "presnet18", "presnet18-cifar100"])
def test_zoo_model_at_timestep_zero_is_exactly_its_backbone(random_zoo, name):
    spec = dataclasses.replace(get_model_spec(name), input_size=32)  # small images, same nets
    model = build_model(spec, timesteps=1)
    backbone = FeedforwardModel(model.backbone, model.normalize)  # the base, hooks inactive
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        pc, ff = model(x), backbone(x)
    assert pc.shape == (2, 2, spec.num_classes)
    assert torch.equal(pc[0], ff[0])
    assert not torch.equal(pc[1], pc[0])  # the feedback acts (and its shapes fit at runtime)


def test_missing_weights_say_which_file_where_and_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PCBENCH_WEIGHTS", str(tmp_path))
    with pytest.raises(
        PcbenchError,
        match=(
            rf"model 'resnet18': weights 'resnet18-f37072fd.pth' not found in {tmp_path} "
            r"\(\$PCBENCH_WEIGHTS\); put torchvision's .*download.pytorch.org/models/resnet18-f37072fd.pth"
        ),
    ):
        build_model("resnet18")
    torch.save(resnet18_cifar().state_dict(), tmp_path / "resnet18-cifar100.pt")
    spec = get_model_spec("presnet18-cifar100")
    message = (
        r"feedback weights 'presnet18-cifar100-feedback.pt' not found .* `pcbench train-feedback presnet18-cifar100`"
    )
    with pytest.raises(PcbenchError, match=message):
        checkpoint_hash(spec)  # what a run computes before evaluating anything
    assert "(not present)" in format_model_card("presnet18-cifar100")
    predictors = build_pc_model(spec).predictors
    nn.init.constant_(predictors[0][0].bias, 0.5)
    torch.save(predictors.state_dict(), tmp_path / "presnet18-cifar100-feedback.pt")
    loaded = build_model("presnet18-cifar100")
    assert torch.equal(loaded.predictors[0][0].bias, torch.full((3,), 0.5))
    card = format_model_card("presnet18-cifar100")
    assert f"checkpoint hash     {checkpoint_hash(spec)}" in card
    assert "weights sha256" in card and "base weights sha256" in card


def test_a_model_card_of_missing_weights_says_so(registry_snapshot, tmp_path):
    register_model(
        ModelSpec(
            name="lazy",
            arch=lambda num_classes: nn.Linear(3, num_classes),
            num_classes=2,
            input_size=1,
            weights=str(tmp_path / "absent.pt"),
        )
    )
    card = format_model_card("lazy")
    assert f"{tmp_path / 'absent.pt'} (not present)" in card and "(weights not present)" in card


TINY_MODULE = """
from torch import nn

def tiny_cnn(num_classes=4):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(16, num_classes),
    )
"""

TINY_TOML = """
[models.tiny]
arch = "pcbench_zoo_tiny:tiny_cnn"
num_classes = 4
dataset = "digits"
input_size = 16

[models.ptiny]
variant = "pc"
base = "tiny"
timesteps = 2
[models.ptiny.pc]
layers = [
  {module = "1", predictor = {kind = "convtranspose", kernel = 5, stride = 1, padding = 2}},
  {module = "4", beta = 0.6, predictor = {kernel = 4, stride = 2, padding = 1, relu = true}},
]
"""


@pytest.fixture
def tiny_toml(tmp_path, monkeypatch) -> Path:
    (tmp_path / "pcbench_zoo_tiny.py").write_text(TINY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path / "models.toml"


def test_pc_variant_of_any_cnn_registers_with_declared_predictors(registry_snapshot, user_file, tiny_toml):
    tiny_toml.write_text(TINY_TOML)
    result = CliRunner().invoke(cli, ["register", str(tiny_toml)])
    assert result.exit_code == 0, result.output
    assert "registered ptiny (pc)" in result.output
    model = build_model("ptiny")
    convs = [m for m in model.predictors.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [(c.kernel_size, c.stride, c.in_channels, c.out_channels) for c in convs] == [
        ((5, 5), (1, 1), 8, 3),
        ((4, 4), (2, 2), 16, 8),
    ]
    assert isinstance(model.predictors[1][-1], nn.ReLU)
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(x)[0], build_model("tiny")(x)[0])
    saved = {spec.name: spec for spec in read_spec_file(user_file)}
    assert saved["ptiny"].pc.layers == get_model_spec("ptiny").pc.layers  # round trip


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace("stride = 2, padding = 1", "stride = 2, padding = 0"),
            r"PCoder '4': predictor ConvT\(k4,s2,p0\) \+ ReLU maps 16×8×8 to 8×18×18, but the layer below is 8×16×16",
        ),
        (
            lambda t: t.replace('module = "4"', 'module = "9"'),
            r"PC config names module '9', which the backbone Sequential lacks",
        ),
        (
            lambda t: t.replace("kernel = 4", "kernal = 4"),
            r"models.ptiny.pc.layers\[1\].predictor: unknown key 'kernal'; "
            r"allowed: kernel, kind, padding, relu, stride, upsample",
        ),
        (
            lambda t: t.replace('kind = "convtranspose"', 'kind = "conv"'),
            r"layers\[0\].predictor.kind = 'conv' must be one of convtranspose",
        ),
        (lambda t: t.replace("padding = 2", "padding = -2"), r"predictor.padding = -2 must be an integer >= 0"),
        (
            lambda t: t.replace("layers = [", 'predictors = "pcbench.models.digits:digits_predictors"\nlayers = ['),
            r"model 'ptiny': pc.predictors and per-layer 'predictor' tables exclude each other",
        ),
    ],
)
def test_bad_predictor_tables_are_one_line_errors(registry_snapshot, user_file, tiny_toml, edit, message):
    tiny_toml.write_text(edit(TINY_TOML))
    with pytest.raises(PcbenchError, match=message) as caught:
        register_file(tiny_toml)
    assert "\n" not in str(caught.value)
    assert not user_file.exists()
    with pytest.raises(PcbenchError, match="unknown model"):
        get_model_spec("ptiny")
