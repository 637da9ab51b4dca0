"""Model registry: built-ins, decorator, TOML registration, entry points, clear errors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from pcbench.api import register_file, unregister
from pcbench.errors import PcbenchError
from pcbench.models.build import build_model, checkpoint_hash
from pcbench.paths import user_registry_file
from pcbench.registry import ModelSpec, PCConfig, PCLayer, get_model_spec, register, register_model
from pcbench.registry.user_file import read_spec_file


def tiny_net(num_classes: int = 4) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, num_classes),
    )


@pytest.fixture
def resnet_weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "resnet18-10.pt"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), path)
    return path


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


RESNET_TOML = """
[models.my-resnet]
arch = "resnet18"
num_classes = 10
dataset = "cifar10"
input_size = 32
mean = [0.49, 0.48, 0.45]
std = [0.25, 0.24, 0.26]
weights = "resnet18-10.pt"

[models.my-presnet]
variant = "pc"
base = "my-resnet"
timesteps = 3
[models.my-presnet.pc]
beta = 0.8
lambda = 0.1
alpha = 0.01
layers = ["relu", {module = "layer1", beta = 0.5}, "layer2"]
"""


def test_builtins_are_listed_with_their_source():
    spec = get_model_spec("digits-pcnn")
    assert (spec.variant, spec.base, spec.timesteps, spec.source) == ("pc", "digits-cnn", 10, "builtin")
    assert spec.num_classes == 10 and spec.arch == get_model_spec("digits-cnn").arch  # inherited


def test_unknown_model_lists_registered_names():
    with pytest.raises(PcbenchError, match="unknown model 'nope'; registered models: .*digits-cnn"):
        get_model_spec("nope")


def test_decorator_registers_and_a_second_registration_is_refused(registry_snapshot):
    @register("tiny", num_classes=4, dataset="toy", input_size=16)
    def tiny(num_classes: int) -> nn.Module:
        return tiny_net(num_classes)

    model = build_model("tiny")
    with torch.no_grad():
        assert model(torch.rand(2, 3, 16, 16)).shape == (1, 2, 4)
    with pytest.raises(PcbenchError, match="model 'tiny' is already registered \\(source: python\\)"):
        register_model(ModelSpec(name="tiny", arch=tiny_net, num_classes=4))
    with pytest.raises(PcbenchError, match="already registered \\(source: builtin\\)"):
        register_model(ModelSpec(name="digits-cnn", arch=tiny_net, num_classes=4))


def test_pc_variant_needs_a_registered_feedforward_base(registry_snapshot):
    config = PCConfig(layers=(PCLayer("0"),))
    with pytest.raises(PcbenchError, match="base = 'ghost' is not registered"):
        register_model(ModelSpec(name="p", variant="pc", base="ghost", pc=config, timesteps=2))
    with pytest.raises(PcbenchError, match="base 'digits-pcnn' must be a feedforward model"):
        register_model(ModelSpec(name="p", variant="pc", base="digits-pcnn", pc=config, timesteps=2))


def test_spec_validation_errors_are_one_line():
    with pytest.raises(PcbenchError, match="a feedforward model has T = 0"):
        ModelSpec(name="x", arch=tiny_net, num_classes=4, timesteps=3)
    with pytest.raises(PcbenchError, match="beta \\+ lambda = 1.1 must be <= 1"):
        PCLayer("a", beta=0.9, lam=0.2)
    with pytest.raises(PcbenchError, match="names module\\(s\\) \\['a'\\] more than once"):
        PCConfig(layers=(PCLayer("a"), PCLayer("a")))


def test_top_pcoder_receives_no_feedback():
    config = PCConfig(layers=(PCLayer("a", lam=0.1), PCLayer("b", lam=0.1)))
    assert [layer.lam for layer in config.layers] == [0.1, 0.0]


def test_register_from_toml_validates_then_saves_atomically(registry_snapshot, fresh_home, tmp_path, resnet_weights):
    path = write(tmp_path / "models.toml", RESNET_TOML)
    specs = register_file(path)
    assert [s.name for s in specs] == ["my-resnet", "my-presnet"]
    presnet = get_model_spec("my-presnet")
    assert [(layer.module, layer.beta, layer.lam) for layer in presnet.pc.layers] == [
        ("relu", 0.8, 0.1),
        ("layer1", 0.5, 0.1),
        ("layer2", 0.8, 0.0),
    ]
    saved = read_spec_file(user_registry_file())
    assert [s.name for s in saved] == ["my-resnet", "my-presnet"]
    assert saved[0].weights == str(resnet_weights.resolve())
    with torch.no_grad():
        assert build_model(presnet)(torch.rand(2, 3, 32, 32)).shape == (4, 2, 10)
    unregister("my-presnet")
    unregister("my-resnet")
    assert "my-resnet" not in user_registry_file().read_text()


def test_registered_pc_timestep_zero_equals_its_base(registry_snapshot, fresh_home, tmp_path, resnet_weights):
    register_file(write(tmp_path / "models.toml", RESNET_TOML))
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(build_model("my-presnet")(x)[0], build_model("my-resnet")(x)[0])
    assert checkpoint_hash(get_model_spec("my-presnet")) != checkpoint_hash(get_model_spec("my-resnet"))


def test_registering_a_name_twice_leaves_the_registry_file_untouched(
    registry_snapshot, fresh_home, tmp_path, resnet_weights
):
    path = write(tmp_path / "models.toml", RESNET_TOML)
    register_file(path)
    before = user_registry_file().read_bytes()
    with pytest.raises(PcbenchError, match="model 'my-resnet' is already registered .*--replace"):
        register_file(path)
    assert user_registry_file().read_bytes() == before


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace('weights = "resnet18-10.pt"', 'weights = "missing.pt"'),
            r"weights file '.*missing.pt' does not exist",
        ),
        (
            lambda t: t.replace('"layer2"]', '"layer9"]'),
            r"PC config names module 'layer9', which the backbone ResNet lacks",
        ),
        (
            lambda t: t.replace('dataset = "cifar10"', 'datset = "cifar10"'),
            r"models.my-resnet: unknown key 'datset'; allowed: .*dataset",
        ),
        (
            lambda t: t.replace('arch = "resnet18"', 'arch = "resnet1800"'),
            r"arch = 'resnet1800' is neither 'module:function' nor a torchvision model name",
        ),
        (
            lambda t: t.replace("beta = 0.5", "beta = 1.5"),
            r"models.my-presnet.pc.layers\[1\].beta = 1.5 must lie in \[0, 1\]",
        ),
    ],
)
def test_bad_model_files_give_one_line_errors_and_save_nothing(
    registry_snapshot, fresh_home, tmp_path, resnet_weights, edit, message
):
    before = user_registry_file().read_bytes() if user_registry_file().exists() else None
    path = write(tmp_path / "models.toml", edit(RESNET_TOML))
    with pytest.raises(PcbenchError, match=message) as caught:
        register_file(path)
    assert "\n" not in str(caught.value)
    assert (user_registry_file().read_bytes() if user_registry_file().exists() else None) == before
    with pytest.raises(PcbenchError, match="unknown model"):
        get_model_spec("my-resnet")  # nothing stays registered in memory either


def test_weights_hash_mismatch_is_reported(registry_snapshot, fresh_home, tmp_path, resnet_weights):
    text = RESNET_TOML.replace(
        'weights = "resnet18-10.pt"', 'weights = "resnet18-10.pt"\nweights_sha256 = "' + "0" * 64 + '"'
    )
    with pytest.raises(PcbenchError, match="has SHA-256 [0-9a-f]{64}, expected 0{64}"):
        register_file(write(tmp_path / "models.toml", text))


def test_interrupted_save_keeps_the_previous_registry_file(
    registry_snapshot, fresh_home, tmp_path, resnet_weights, monkeypatch
):
    register_file(write(tmp_path / "a.toml", RESNET_TOML))
    before = user_registry_file().read_bytes()
    second = RESNET_TOML.replace("my-resnet", "other-resnet").replace("my-presnet", "other-presnet")

    def crash(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("pcbench.files.os.replace", crash)
    with pytest.raises(KeyboardInterrupt):
        register_file(write(tmp_path / "b.toml", second))
    assert user_registry_file().read_bytes() == before
    assert not [p for p in user_registry_file().parent.iterdir() if p.name.startswith(".registry")]


def test_entry_point_models_are_registered(tmp_path, monkeypatch):
    from pcbench.registry import registry

    package = tmp_path / "pcbench_plugin_demo.py"
    package.write_text(
        textwrap.dedent("""
        from torch import nn
        from pcbench import ModelSpec

        def arch(num_classes):
            return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, num_classes))

        def models():
            return [ModelSpec(name="plugin-linear", arch=arch, num_classes=3, input_size=8)]
    """)
    )
    dist = tmp_path / "pcbench_plugin_demo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pcbench-plugin-demo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[pcbench.models]\ndemo = pcbench_plugin_demo:models\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_sources_loaded", False)
    spec = get_model_spec("plugin-linear")
    assert spec.source == "entry-point:demo"
    assert get_model_spec("digits-cnn").source == "builtin"
    sys.modules.pop("pcbench_plugin_demo", None)
