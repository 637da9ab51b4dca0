"""The gradient-scaled variant's C: the predictor's structural fan-out (reference notes,
"Gradient scaling variant"), and the spec-record marker that keys it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pcbench.models.build import build_pc_model
from pcbench.models.pc import structural_fan_out
from pcbench.models.predictors import feature_shapes
from pcbench.registry.registry import get_model_spec
from pcbench.registry.spec import PCConfig, PCLayer


def upsampling_convt(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        nn.ConvTranspose2d(in_channels, out_channels, 3, padding=1),
    )


@pytest.mark.parametrize(
    ("predictor", "shape", "expected"),
    [
        (nn.ConvTranspose2d(64, 3, 3, padding=1), (64, 32, 32), 3 * 3 * 3),
        (nn.ConvTranspose2d(64, 64, 3, padding=1), (64, 32, 32), 64 * 3 * 3),
        # bilinear ×2 spreads one element over 4×4 pixels, the 3×3 kernel over 6×6
        (upsampling_convt(128, 64), (128, 16, 16), 64 * 6 * 6),
        (nn.ConvTranspose2d(16, 3, 5, padding=2), (16, 8, 8), 3 * 5 * 5),
        (nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1), (32, 8, 8), 16 * 4 * 4),
    ],
)
def test_fan_out_counts_prediction_elements_reached_by_the_central_element(predictor, shape, expected):
    assert structural_fan_out(predictor, shape) == expected


def test_fan_out_is_clipped_at_the_border_of_a_small_map():
    # 2×2 map: the central element (1, 1) sits at the border, so a 3×3 kernel reaches 2×2 outputs
    assert structural_fan_out(nn.ConvTranspose2d(4, 2, 3, padding=1), (4, 2, 2)) == 2 * 2 * 2
    # 1×1 map upsampled to 2×2: the 3×3 kernel cannot leave the 2×2 prediction
    assert structural_fan_out(upsampling_convt(4, 3), (4, 1, 1)) == 3 * 2 * 2


def test_fan_out_ignores_weights_and_relu_and_leaves_the_predictor_untouched():
    # Trained weights that make every pre-activation negative would zero a ReLU's output on
    # data; the structural count (unit weights, zero biases) does not see them.
    predictor = nn.Sequential(nn.ConvTranspose2d(64, 3, 3, padding=1), nn.ReLU())
    with torch.no_grad():
        predictor[0].weight.fill_(-1.0)
        predictor[0].bias.fill_(-5.0)
    before = [p.clone() for p in predictor.parameters()]
    assert structural_fan_out(predictor, (64, 32, 32)) == 3 * 3 * 3  # 3 output channels × the 3×3 kernel
    assert all(torch.equal(p, q) for p, q in zip(predictor.parameters(), before, strict=True))


def geometric_fan_out(predictor: nn.Module, shape: tuple[int, int, int]) -> int:
    """The fan-out from the predictor's geometry alone: output channels × (reach per axis)², where
    a k×k transposed convolution (stride 1) reaches k pixels per axis and a bilinear ×2 before
    it spreads one element over 4 first (4 + k − 1), never more than the prediction's side."""
    layers = list(predictor.modules())
    conv = next(layer for layer in layers if isinstance(layer, nn.ConvTranspose2d))
    assert conv.stride == (1, 1) and conv.kernel_size[0] == conv.kernel_size[1]
    upsampled = any(isinstance(layer, nn.Upsample) and layer.scale_factor == 2.0 for layer in layers)
    kernel, side = conv.kernel_size[0], shape[1] * (2 if upsampled else 1)
    reach = min(4 + kernel - 1 if upsampled else kernel, side)
    return conv.out_channels * reach * reach


def test_presnet18_cifar100_fan_outs_match_the_reference():
    spec = get_model_spec("presnet18-cifar100")
    model = build_pc_model(spec, base_weights=False)
    shapes = feature_shapes(model.backbone, model.normalize, model.module_paths, spec.input_size)
    fan_outs = [structural_fan_out(p, shape) for p, shape in zip(model.predictors, shapes, strict=True)]
    expected = [geometric_fan_out(p, shape) for p, shape in zip(model.predictors, shapes, strict=True)]
    assert fan_outs == expected
    # the reference's C: 3·3², 64·3² at 32×32, then 64·6², 128·6², 256·6² after each ×2 upsampling
    assert expected == [3 * 3**2, 64 * 3**2, 64 * 6**2, 128 * 6**2, 256 * 6**2]


def test_only_gradient_scaled_configs_record_the_fan_out_marker():
    layers = (PCLayer("a", 0.8, 0.1, 0.01), PCLayer("b", 0.8, 0.0, 0.01))
    plain = PCConfig(layers).to_record()
    assert plain == {
        "layers": [
            {"module": "a", "beta": 0.8, "lam": 0.1, "alpha": 0.01},
            {"module": "b", "beta": 0.8, "lam": 0.0, "alpha": 0.01},
        ],
        "predictors": None,
        "gradient_scaling": False,
    }
    scaled = PCConfig(layers, gradient_scaling=True).to_record()
    assert scaled == {**plain, "gradient_scaling": True, "gradient_scale": "fan-out"}
