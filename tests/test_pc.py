"""The PC wrapper against the update equations, with exact equalities where the maths allows."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from pcbench.errors import PcbenchError
from pcbench.models.pc import PCModel
from pcbench.models.predictors import derive_predictors, feature_shapes
from pcbench.models.protocol import FeedforwardModel, Normalize

MEAN, STD = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)


def small_cnn() -> nn.Sequential:
    """A backbone whose PCoder outputs feed in-place ReLUs (state must not be clobbered)."""
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),  # 0: PCoder 1 (pre-activation, followed by in-place ReLU)
        nn.ReLU(inplace=True),  # 1
        nn.MaxPool2d(2),  # 2
        nn.Conv2d(6, 8, 3, padding=1),  # 3: PCoder 2
        nn.ReLU(inplace=True),  # 4
        nn.AdaptiveAvgPool2d(2),  # 5
        nn.Flatten(),
        nn.Linear(32, 5),
    )


def predictors() -> list[nn.Module]:
    torch.manual_seed(2)
    return [
        nn.ConvTranspose2d(6, 3, 3, padding=1),
        nn.Sequential(nn.Upsample(scale_factor=2), nn.ConvTranspose2d(8, 6, 3, padding=1)),
    ]


def pc_model(beta=(0.6, 0.7), lam=(0.2, 0.0), alpha=(0.3, 0.2), timesteps=4, **kwargs) -> PCModel:
    return PCModel(small_cnn(), Normalize(MEAN, STD), ["0", "3"], predictors(), beta, lam, alpha, timesteps, **kwargs)


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def reference_unroll(model: PCModel, x: torch.Tensor) -> torch.Tensor:
    """The equations of the reference notes written out by hand for this two-PCoder network."""
    net, (p1, p2) = model.backbone, model.predictors
    (b1, b2), (l1, _), (a1, a2) = model.betas, model.lambdas, model.alphas
    image = model.normalize(x)

    def head(r2: torch.Tensor) -> torch.Tensor:
        return net[7](net[6](net[5](torch.relu(r2))))

    r1 = net[0](image)
    r2 = net[3](net[2](torch.relu(r1)))
    logits = [head(r2)]
    for _ in range(model.timesteps):
        leaf1, leaf2 = r1.detach().requires_grad_(), r2.detach().requires_grad_()
        with torch.enable_grad():
            e1 = (p1(leaf1) - image).pow(2).flatten(1).mean(1).sum()
            pred2 = p2(leaf2)
            e2 = (pred2 - r1).pow(2).flatten(1).mean(1).sum()
            (g1,) = torch.autograd.grad(e1, leaf1)
            (g2,) = torch.autograd.grad(e2, leaf2)
        r1 = b1 * net[0](image) + l1 * pred2.detach() + (1 - b1 - l1) * r1 - a1 * g1
        r2 = b2 * net[3](net[2](torch.relu(r1))) + (1 - b2) * r2 - a2 * g2
        logits.append(head(r2))
    return torch.stack(logits)


def test_unroll_matches_hand_written_equations():
    model, x = pc_model().eval(), images()
    with torch.no_grad():
        got = model(x)
    expected = reference_unroll(model, x)
    assert got.shape == (5, 6, 5)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    assert not torch.allclose(got[0], got[-1], atol=1e-3)  # the dynamics do move the logits


def test_timestep_zero_equals_backbone_exactly():
    model, x = pc_model(), images()
    with torch.no_grad():
        assert torch.equal(model(x)[0], model.backbone(model.normalize(x)))


def test_beta_one_lambda_zero_alpha_zero_is_feedforward_at_every_timestep():
    model, x = pc_model(beta=(1.0, 1.0), lam=(0.0, 0.0), alpha=(0.0, 0.0), timesteps=5), images()
    feedforward = FeedforwardModel(model.backbone, model.normalize)
    with torch.no_grad():
        logits, reference = model(x), feedforward(x)[0]
    assert logits.shape[0] == 6
    for t in range(6):
        assert torch.equal(logits[t], reference)


def test_sample_trajectory_ignores_its_batch_companions_exactly():
    model = pc_model()
    batch_a, batch_b = images(seed=0), images(seed=1)
    batch_b[3] = batch_a[3]
    with torch.no_grad():
        assert torch.equal(model(batch_a)[:, 3], model(batch_b)[:, 3])


def test_sample_trajectory_does_not_depend_on_batch_size():
    # CPU kernels are not bitwise batch-size invariant even for the plain backbone, so compare
    # in float64, where kernel noise is ~1e-15 while a batch-averaged error gradient would
    # change the α-term by a factor of the batch size.
    model, x = pc_model(alpha=(0.9, 0.9)).double(), images(8).double()
    with torch.no_grad():
        alone, batched = model(x[2:3])[:, 0], model(x)[:, 2]
        no_correction = pc_model(alpha=(0.0, 0.0)).double()(x)[:, 2]
    torch.testing.assert_close(alone, batched, rtol=0, atol=1e-12)
    assert (batched - no_correction).abs().max() > 1e-4  # the α-term is large enough to matter


def test_gradient_modes_share_forward_values_and_differ_in_gradient_only_when_alpha_positive():
    x = images(3)
    for alpha, should_differ in (((0.3, 0.2), True), ((0.0, 0.0), False)):
        grads, outputs = {}, {}
        for mode in ("full", "detached"):
            model = pc_model(alpha=alpha, gradient_mode=mode).requires_grad_(False)
            inputs = x.clone().requires_grad_()
            logits = model(inputs)
            logits[-1].sum().backward()
            grads[mode], outputs[mode] = inputs.grad, logits.detach()
        assert torch.equal(outputs["full"], outputs["detached"])
        differs = not torch.allclose(grads["full"], grads["detached"], rtol=0, atol=1e-9)
        assert differs == should_differ


def test_unknown_gradient_mode_is_rejected():
    with pytest.raises(PcbenchError, match="gradient_mode = 'partial'; allowed: full, detached"):
        pc_model(gradient_mode="partial")


def test_missing_module_is_named():
    with pytest.raises(PcbenchError, match="names module 'features.3'.*lacks"):
        PCModel(small_cnn(), Normalize(MEAN, STD), ["0", "features.3"], predictors(), (1, 1), (0, 0), (0, 0), 1)


def test_module_called_twice_is_an_error():
    conv = nn.Conv2d(3, 3, 3, padding=1)
    twice = nn.Sequential(conv, conv, nn.Flatten(), nn.LazyLinear(2))
    model = PCModel(twice, Normalize(MEAN, STD), ["0"], [nn.Conv2d(3, 3, 1)], [0.5], [0.0], [0.1], 1)
    with pytest.raises(PcbenchError, match="each once"):
        model(images(1))


def test_predictor_shape_mismatch_is_named():
    bad = [nn.ConvTranspose2d(6, 3, 3, padding=1), nn.ConvTranspose2d(8, 6, 3, padding=1)]
    model = PCModel(small_cnn(), Normalize(MEAN, STD), ["0", "3"], bad, (0.5, 0.5), (0.1, 0.0), (0.1, 0.1), 1)
    with pytest.raises(
        PcbenchError, match=r"PCoder '3': predictor output \(6, 8, 8\) does not match the layer below \(6, 16, 16\)"
    ):
        model(images(1))


def test_gradient_scaling_multiplies_the_error_step():
    # With β = 1 and λ = 0 the state after one step is ff - α·g; the scaled variant's
    # displacement is the unscaled one times numel / sqrt(C) (per PCoder). PCoder 2's
    # predictor, nearest Upsample×2 + ConvT(8→6, k3, p1) on an 8×8×8 state: one state element
    # reaches 2×2 upsampled pixels, then 4×4 outputs in each of 6 channels, so C = 96.
    x = images(2).double()
    plain = pc_model(beta=(1.0, 1.0), lam=(0.0, 0.0), alpha=(0.0, 0.01), timesteps=1).double()
    scaled = pc_model(beta=(1.0, 1.0), lam=(0.0, 0.0), alpha=(0.0, 0.01), timesteps=1, gradient_scaling=True).double()
    captured = {}
    for name, model in (("plain", plain), ("scaled", scaled)):
        model.backbone[3].register_forward_hook(
            lambda m, i, o, name=name: captured.setdefault(name, []).append(o.detach().clone())
        )
        with torch.no_grad():
            model(x)
    ff = model.backbone[3](model.backbone[2](torch.relu(model.backbone[0](model.normalize(x))))).detach()
    factor = (6 * 16 * 16) / math.sqrt(6 * 4 * 4)
    torch.testing.assert_close(ff - captured["scaled"][1], factor * (ff - captured["plain"][1]), rtol=1e-9, atol=1e-12)
    assert (ff - captured["plain"][1]).abs().max() > 0


def test_gradient_scaled_model_is_differentiable_and_its_lazy_scale_changes_nothing():
    # C is computed inside the first forward (on a copy, without autograd); the second
    # forward reuses it and must reproduce the first exactly.
    model, inputs = pc_model(gradient_scaling=True), images(2).requires_grad_()
    logits = model(inputs)
    logits[-1].sum().backward()
    assert inputs.grad is not None and inputs.grad.abs().max() > 0
    with torch.no_grad():
        assert torch.equal(model(inputs), logits.detach())


def test_gradient_scaling_rejects_a_predictor_blind_to_its_state():
    # the threshold zeroes every structural response, so the fan-out is 0 and sqrt(C) undefined
    blind = [
        predictors()[0],
        nn.Sequential(nn.Upsample(scale_factor=2), nn.ConvTranspose2d(8, 6, 3, padding=1), nn.Threshold(1e9, 0.0)),
    ]
    model = PCModel(
        small_cnn(),
        Normalize(MEAN, STD),
        ["0", "3"],
        blind,
        (0.5, 0.5),
        (0.0, 0.0),
        (0.1, 0.1),
        1,
        gradient_scaling=True,
    )
    with pytest.raises(PcbenchError, match="PCoder '3': gradient_scaling needs a predictor .*fan-out is 0"):
        model(images(1))


def test_derived_predictors_map_each_feature_map_onto_the_layer_below():
    import torchvision

    torch.manual_seed(0)
    backbone = torchvision.models.resnet18(num_classes=10)
    modules = ["relu", "layer1", "layer2", "layer3"]
    normalize = Normalize(MEAN, STD)
    shapes = feature_shapes(backbone, normalize, modules, 64)
    assert shapes == [(64, 32, 32), (64, 16, 16), (128, 8, 8), (256, 4, 4)]
    made = derive_predictors(shapes, (3, 64, 64), modules)
    inputs = [(3, 64, 64), *shapes[:-1]]
    for predictor, shape, below in zip(made, shapes, inputs, strict=True):
        assert tuple(predictor(torch.zeros(1, *shape)).shape[1:]) == below
    model = PCModel(backbone, normalize, modules, made, [0.8] * 4, [0.1] * 4, [0.01] * 4, 2)
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 3, 64, 64)).shape == (3, 2, 10)


def test_derive_predictors_rejects_non_integer_resolution_ratio():
    with pytest.raises(PcbenchError, match="PCoder 'b'.*integer multiple"):
        derive_predictors([(8, 10, 10), (8, 4, 4)], (3, 20, 20), ["a", "b"])
