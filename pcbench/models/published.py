"""The published PC configurations (Predify, arXiv 2106.02749 and 2106.04225) as data.

Each :class:`PublishedPC` names the PCoder modules of a torchvision backbone, their
predictors (:class:`~pcbench.registry.predictor_spec.PredictorSpec`), whether the error
gradient is scaled, and the reference optimiser for training the feedback. Hyperparameters
default to the paper's evaluation setting (β = 0.8, λ = 0.1, α = 0.01 at every PCoder).

- **PVGG16**: the last ReLU of each VGG16 block (``features.3/8/15/22/29``); predictors
  ConvT(k5,s1,p2), then ConvT(k10,s2,p4)+ReLU and three ConvT(k14,s2,p6)+ReLU; SGD.
  ``PVGG16_LAYERWISE`` holds the package's per-layer example values.
- **PEfficientNetB0**: the stem activation and the 7 block stages (``features.0..7``);
  bilinear Upsample×2 where the resolution halves, then ConvT(k3,s1,p1), no ReLU; RMSprop.
  ``PEFFICIENTNET_B0_TIMM`` is the same on timm's EfficientNet-B0 (``bn1``, ``blocks.0..6``),
  the backbone Predify itself used.
- **PResNet18**: the stem convolution and ``layer{1..4}.1.conv2``; Upsample×2 where the
  resolution halves, then ConvT(k3,s1,p1); gradient-scaled; AdamW. The CIFAR-100 backbone
  (:func:`resnet18_cifar`) has a 3×3 stride-1 stem and no max-pool.

Reference training settings: lr 1e-3, weight decay 5e-4, batch 64; the notes give 50
epochs for PVGG16, used for all three.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torchvision
from torch import nn

from pcbench.models.presets import TrainingPreset
from pcbench.registry.predictor_spec import PredictorSpec
from pcbench.registry.spec import PAPER_ALPHA, PAPER_BETA, PAPER_LAMBDA, PCConfig, PCLayer

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CIFAR100_MEAN, CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)


def resnet18_cifar(num_classes: int = 100) -> nn.Module:
    """torchvision ResNet-18 for 32×32 inputs: 3×3 stride-1 stem convolution, no max-pool."""
    model = torchvision.models.resnet18(num_classes=num_classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.maxpool = nn.Identity()
    return model


@dataclass(frozen=True)
class PublishedPC:
    """A published PCoder placement with its predictors and feedback-training preset."""

    modules: tuple[str, ...]
    predictors: tuple[PredictorSpec, ...]
    gradient_scaling: bool
    training: TrainingPreset

    def config(
        self,
        betas: Sequence[float] | None = None,
        lambdas: Sequence[float] | None = None,
        alphas: Sequence[float] | None = None,
    ) -> PCConfig:
        """The :class:`PCConfig`; per-layer values default to the paper setting."""
        count = len(self.modules)
        betas = betas or [PAPER_BETA] * count
        lambdas = lambdas or [PAPER_LAMBDA] * count
        alphas = alphas or [PAPER_ALPHA] * count
        return PCConfig(
            layers=tuple(
                PCLayer(module, beta, lam, alpha, predictor)
                for module, beta, lam, alpha, predictor in zip(
                    self.modules, betas, lambdas, alphas, self.predictors, strict=True
                )
            ),
            gradient_scaling=self.gradient_scaling,
        )


def _upsampling_convt3(*factors: int) -> tuple[PredictorSpec, ...]:
    """[Upsample×f] + ConvT(k3,s1,p1) per PCoder (no upsampling where f = 1)."""
    return tuple(PredictorSpec(upsample=factor) for factor in factors)


PVGG16 = PublishedPC(
    modules=("features.3", "features.8", "features.15", "features.22", "features.29"),
    predictors=(
        PredictorSpec(kernel=5, stride=1, padding=2),
        PredictorSpec(kernel=10, stride=2, padding=4, relu=True),
        PredictorSpec(kernel=14, stride=2, padding=6, relu=True),
        PredictorSpec(kernel=14, stride=2, padding=6, relu=True),
        PredictorSpec(kernel=14, stride=2, padding=6, relu=True),
    ),
    gradient_scaling=False,
    training=TrainingPreset("sgd", lr=1e-3, weight_decay=5e-4, epochs=50),
)
#: The Predify package's per-layer example values for PVGG16 (α = 0.01 everywhere).
PVGG16_LAYERWISE_BETAS = (0.2, 0.4, 0.4, 0.5, 0.6)
PVGG16_LAYERWISE_LAMBDAS = (0.05, 0.1, 0.1, 0.1, 0.0)

PEFFICIENTNET_B0 = PublishedPC(
    modules=tuple(f"features.{i}" for i in range(8)),
    predictors=_upsampling_convt3(2, 1, 2, 2, 2, 1, 2, 1),
    gradient_scaling=False,
    training=TrainingPreset("rmsprop", lr=1e-3, weight_decay=5e-4, epochs=50),
)

#: Predify's own PEfficientNetB0 stands on timm's EfficientNet-B0: the same eight sites under
#: timm's names (recent timm folds the stem activation into ``bn1``, a ``BatchNormAct2d``).
PEFFICIENTNET_B0_TIMM = PublishedPC(
    modules=("bn1", *(f"blocks.{i}" for i in range(7))),
    predictors=PEFFICIENTNET_B0.predictors,
    gradient_scaling=False,
    training=PEFFICIENTNET_B0.training,
)

_RESNET18_MODULES = ("conv1", *(f"layer{i}.1.conv2" for i in range(1, 5)))
_RESNET18_TRAINING = TrainingPreset("adamw", lr=1e-3, weight_decay=5e-4, epochs=50)

PRESNET18 = PublishedPC(
    modules=_RESNET18_MODULES,
    predictors=_upsampling_convt3(2, 2, 2, 2, 2),
    gradient_scaling=True,
    training=_RESNET18_TRAINING,
)
PRESNET18_CIFAR = PublishedPC(
    modules=_RESNET18_MODULES,
    predictors=_upsampling_convt3(1, 1, 2, 2, 2),
    gradient_scaling=True,
    training=_RESNET18_TRAINING,
)
