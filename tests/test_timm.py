"""timm backbones (issue 20, point 2): ``arch = "timm:<name>"`` builds any timm model without
downloading anything, loads the spec's local weights, and PCoders hook timm's module names."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import pcbench

timm = pytest.importorskip("timm")

MODELS = """[models.timm-r18]
arch = "timm:resnet18"
num_classes = 10
dataset = "digits"
input_size = 32
mean = [0.5, 0.5, 0.5]
std = [0.5, 0.5, 0.5]
weights = "r18.pt"

[models.timm-pr18]
variant = "pc"
base = "timm-r18"
timesteps = 2
[models.timm-pr18.pc]
layers = ["layer1", "layer2"]
"""
SUITE = """name = "timmed"
models = ["timm-r18", "timm-pr18"]
[dataset]
name = "digits"
split = "test"
limit = 12
"""


def test_a_timm_model_registers_and_evaluates_from_a_local_weights_file(
    tmp_path, fresh_home, run_main, registry_snapshot
):
    torch.manual_seed(0)
    network = timm.create_model("resnet18", pretrained=False, num_classes=10).eval()
    torch.save(network.state_dict(), tmp_path / "r18.pt")
    (tmp_path / "models.toml").write_text(MODELS)
    status, err = run_main(["register", str(tmp_path / "models.toml")])
    assert status == 0, err
    (tmp_path / "timmed.toml").write_text(SUITE)
    args = [
        "run",
        str(tmp_path / "timmed.toml"),
        "--results",
        str(tmp_path / "r"),
        "--leaderboards",
        str(tmp_path / "l"),
    ]
    status, err = run_main([*args, "--device", "cpu", "--workers", "1"])
    assert status == 0, err
    results = pcbench.load_results(tmp_path / "timmed.toml", tmp_path / "r")
    stored = results.predictions.query("model == 'timm-r18'").sort_values("sample_id")
    images = torch.from_numpy(np.stack([results_images(sample) for sample in stored["sample_id"]]))
    with torch.no_grad():
        expected = network((images - 0.5) / 0.5).argmax(dim=1).numpy()
    assert stored["prediction"].tolist() == expected.tolist()  # the very timm network, with its weights
    pc = results.scores.query("model == 'timm-pr18'")
    assert sorted(pc["timestep"]) == [0, 1, 2] and set(pc["variant"]) == {"pc"}
    at_zero = results.predictions.query("model == 'timm-pr18' and timestep == 0").sort_values("sample_id")
    assert at_zero["prediction"].tolist() == expected.tolist()  # timestep 0 of the PC variant is its base


def results_images(sample_id: int) -> np.ndarray:
    from pcbench.data import load_dataset

    data = load_dataset("digits", "test")
    return data.tensor(data.images[[int(np.flatnonzero(data.ids == sample_id)[0])]])[0].numpy()


def test_an_unknown_timm_model_is_one_line(tmp_path, fresh_home, run_main, registry_snapshot):
    (tmp_path / "models.toml").write_text(MODELS.split("[models.timm-pr18]")[0].replace("resnet18", "resnet-nope"))
    status, err = run_main(["register", str(tmp_path / "models.toml")])
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "timm:resnet-nope" in lines[0] and "has no model" in lines[0], err


def test_predifys_pefficientnet_b0_on_timm_has_the_torchvision_variants_sites_and_predictors():
    """The zoo's PEfficientNetB0 on timm (Predify's own backbone) hooks ``bn1`` and ``blocks.0..6``:
    eight sites whose feature maps have the shapes of torchvision's ``features.0..7`` (built on the
    meta device, no weights), so one predictor geometry serves both."""
    from pcbench.models.build import describe_architecture

    timm_pc, torchvision_pc = (describe_architecture(pcbench.get_model_spec(name)) for name in
                               ("pefficientnet_b0-timm", "pefficientnet_b0"))  # fmt: skip
    assert len(timm_pc.feature_shapes) == 8
    assert timm_pc.feature_shapes == torchvision_pc.feature_shapes
    assert timm_pc.predictors == torchvision_pc.predictors
    assert timm_pc.feedback_parameters == torchvision_pc.feedback_parameters
    sites = [layer.module for layer in pcbench.get_model_spec("pefficientnet_b0-timm").pc.layers]
    assert sites == ["bn1", *(f"blocks.{i}" for i in range(7))]
