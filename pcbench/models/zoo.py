"""Built-in model specs: the embedded digits models and the published PC zoo.

Zoo backbones are torchvision architectures with weights read from the weights directory
(``$PCBENCH_WEIGHTS``, see :mod:`pcbench.registry.weight_files`) under torchvision's file names;
``resnet18-cifar100`` expects ``resnet18-cifar100.pt``. Each PC variant expects its feedback
in ``<name>-feedback.pt`` there (``pcbench train-feedback NAME`` writes it); the two PVGG16
variants share ``pvgg16-feedback.pt``, as their feedback training is the same.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import urlparse

import torchvision

from pcbench.models import digits, dynamics, published
from pcbench.models.presets import DEFAULT_PRESET, TrainingPreset
from pcbench.registry.spec import PAPER_ALPHA, PAPER_BETA, PAPER_LAMBDA, ModelSpec, PCConfig, PCLayer
from pcbench.registry.weight_files import in_package, in_weights_dir

#: SHA-256 of the shipped digits weights (:mod:`pcbench.models.digits`).
DIGITS_CNN_SHA256 = "4d9291c1e32c1a832379bf9decd26dfb395d4bb8c6faad4ca3959d514eb39422"
DIGITS_FEEDBACK_SHA256 = "431f4c57332c64ce8f477025cdfe425df558c54437a8abd3685c94d16f89eb51"
#: SHA-256 of the shipped weights of the recurrent digits families (:mod:`pcbench.models.dynamics`).
DIGITS_HGRU_SHA256 = "4df8f361f9caab85c86ff568e7831376dd98f8331aa579a498e9aa22b10907c0"
DIGITS_KURAMOTO_SHA256 = "bbc51d794a0ff822acce9b1574357501cc3584431c75eb566c20601847f93dfb"
DIGITS_KURAMOTO_BASE_SHA256 = "44d790e247c7d85fc3581aace33b4c5d47aebaea89efbae4ed6b86e84434dcf6"
ZOO_TIMESTEPS = 10


def builtin_specs() -> list[ModelSpec]:
    """Specs registered with pcbench itself, feedforward bases before their dynamic variants."""
    return [*_digits_specs(), *_dynamics_specs(), *_zoo_specs()]


def feedback_preset(name: str) -> TrainingPreset:
    """The reference optimiser and schedule for training model ``name``'s feedback."""
    return _FEEDBACK_PRESETS.get(name, DEFAULT_PRESET)


def _digits_specs() -> list[ModelSpec]:
    return [
        ModelSpec(
            name="digits-cnn",
            arch=digits.digits_cnn,
            num_classes=10,
            dataset="digits",
            input_size=32,
            mean=digits.MEAN,
            std=digits.STD,
            weights=in_package(f"models/weights/{digits.CNN_WEIGHTS}"),
            weights_sha256=DIGITS_CNN_SHA256,
            description="embedded default: small CNN on scikit-learn digits (weights ship with pcbench)",
        ),
        ModelSpec(
            name="digits-pcnn",
            variant="pc",
            base="digits-cnn",
            timesteps=10,
            pc=PCConfig(
                layers=tuple(
                    PCLayer(module, PAPER_BETA, PAPER_LAMBDA, PAPER_ALPHA) for module in digits.DIGITS_PC_MODULES
                ),
                predictors=digits.digits_predictors,
            ),
            weights=in_package(f"models/weights/{digits.FEEDBACK_WEIGHTS}"),
            weights_sha256=DIGITS_FEEDBACK_SHA256,
            description="embedded default: PC variant of digits-cnn (feedback weights ship with pcbench)",
        ),
    ]


def _dynamics_specs() -> list[ModelSpec]:
    """``digits-hgru`` (base ``digits-cnn``) and ``digits-kuramoto`` with its base."""
    digits_data = {"num_classes": 10, "dataset": "digits", "input_size": 32, "mean": digits.MEAN, "std": digits.STD}
    return [
        ModelSpec(
            name="digits-hgru",
            variant="recurrent",
            base="digits-cnn",
            arch=dynamics.digits_hgru,
            timesteps=dynamics.TIMESTEPS,
            weights=in_package(f"models/weights/{dynamics.HGRU_WEIGHTS}"),
            weights_sha256=DIGITS_HGRU_SHA256,
            description="embedded: digits-cnn with an hGRU after its first stage (Linsley et al. 2018)",
        ),
        ModelSpec(
            name="digits-kuramoto-base",
            arch=dynamics.digits_kuramoto_base,
            weights=in_package(f"models/weights/{dynamics.KURAMOTO_BASE_WEIGHTS}"),
            weights_sha256=DIGITS_KURAMOTO_BASE_SHA256,
            description="embedded: digits-kuramoto without coupling (phases all equal; real-valued)",
            **digits_data,
        ),
        ModelSpec(
            name="digits-kuramoto",
            variant="recurrent",
            base="digits-kuramoto-base",
            arch=dynamics.digits_kuramoto,
            timesteps=dynamics.TIMESTEPS,
            weights=in_package(f"models/weights/{dynamics.KURAMOTO_WEIGHTS}"),
            weights_sha256=DIGITS_KURAMOTO_SHA256,
            description="embedded: complex-valued, Kuramoto phase coupling from random phases (stochastic)",
        ),
    ]


def _zoo_specs() -> list[ModelSpec]:
    models = torchvision.models
    imagenet = {
        "num_classes": 1000,
        "dataset": "imagenet",
        "input_size": 224,
        "mean": published.IMAGENET_MEAN,
        "std": published.IMAGENET_STD,
    }
    return [
        _torchvision("vgg16", models.VGG16_Weights.IMAGENET1K_V1, imagenet),
        _pc("pvgg16", "vgg16", published.PVGG16.config(), "PVGG16, paper hyperparameters"),
        _pc(
            "pvgg16-layerwise",
            "vgg16",
            published.PVGG16.config(published.PVGG16_LAYERWISE_BETAS, published.PVGG16_LAYERWISE_LAMBDAS),
            "PVGG16, the package's per-layer example hyperparameters",
            feedback="pvgg16",
        ),
        _torchvision("efficientnet_b0", models.EfficientNet_B0_Weights.IMAGENET1K_V1, imagenet),
        _pc(
            "pefficientnet_b0",
            "efficientnet_b0",
            published.PEFFICIENTNET_B0.config(),
            "PEfficientNetB0, paper hyperparameters",
        ),
        ModelSpec(
            name="efficientnet_b0-timm",
            arch="timm:efficientnet_b0",
            weights=in_weights_dir("efficientnet_b0-timm.pth"),
            description="timm efficientnet_b0 (pip install 'pcbench[timm]'); its ImageNet state dict, saved locally",
            **imagenet,
        ),
        _pc(
            "pefficientnet_b0-timm",
            "efficientnet_b0-timm",
            published.PEFFICIENTNET_B0_TIMM.config(),
            "PEfficientNetB0 on timm's EfficientNet-B0 (Predify's own backbone), paper hyperparameters",
        ),
        _torchvision("resnet18", models.ResNet18_Weights.IMAGENET1K_V1, imagenet),
        _pc("presnet18", "resnet18", published.PRESNET18.config(), "PResNet18 (gradient-scaled)"),
        ModelSpec(
            name="resnet18-cifar100",
            arch=published.resnet18_cifar,
            num_classes=100,
            dataset="cifar100",
            input_size=32,
            mean=published.CIFAR100_MEAN,
            std=published.CIFAR100_STD,
            weights=in_weights_dir("resnet18-cifar100.pt"),
            description="ResNet-18 for CIFAR-100 (3×3 stem, no max-pool); your weights",
        ),
        _pc(
            "presnet18-cifar100",
            "resnet18-cifar100",
            published.PRESNET18_CIFAR.config(),
            "PResNet18 on CIFAR-100 (gradient-scaled)",
        ),
    ]


def _torchvision(name: str, weights: torchvision.models.WeightsEnum, fields: dict) -> ModelSpec:
    file_name = PurePosixPath(urlparse(weights.url).path).name
    return ModelSpec(
        name=name,
        arch=name,
        weights=in_weights_dir(file_name),
        description=f"torchvision {name}, {weights} ({file_name})",
        **fields,
    )


def _pc(name: str, base: str, config: PCConfig, description: str, feedback: str | None = None) -> ModelSpec:
    return ModelSpec(
        name=name,
        variant="pc",
        base=base,
        pc=config,
        timesteps=ZOO_TIMESTEPS,
        weights=in_weights_dir(f"{feedback or name}-feedback.pt"),
        description=description,
    )


_FEEDBACK_PRESETS: dict[str, TrainingPreset] = {
    "digits-pcnn": digits.FEEDBACK_PRESET,
    "pvgg16": published.PVGG16.training,
    "pvgg16-layerwise": published.PVGG16.training,
    "pefficientnet_b0": published.PEFFICIENTNET_B0.training,
    "pefficientnet_b0-timm": published.PEFFICIENTNET_B0_TIMM.training,
    "presnet18": published.PRESNET18.training,
    "presnet18-cifar100": published.PRESNET18_CIFAR.training,
}
