"""Built-in model specs (the embedded digits pair; the published PC zoo joins here)."""

from __future__ import annotations

from pcbench.models import digits
from pcbench.registry.spec import PAPER_ALPHA, PAPER_BETA, PAPER_LAMBDA, ModelSpec, PCConfig, PCLayer

DIGITS_MEAN = (0.5, 0.5, 0.5)
DIGITS_STD = (0.5, 0.5, 0.5)


def builtin_specs() -> list[ModelSpec]:
    """Specs registered with pcbench itself, feedforward bases before their PC variants."""
    return [
        ModelSpec(
            name="digits-cnn",
            arch=digits.digits_cnn,
            num_classes=10,
            dataset="digits",
            input_size=32,
            mean=DIGITS_MEAN,
            std=DIGITS_STD,
            train=digits.train_digits_cnn,
            description="embedded default: small CNN on scikit-learn digits (trained on first use)",
        ),
        ModelSpec(
            name="digits-pcnn",
            variant="pc",
            base="digits-cnn",
            timesteps=10,
            pc=PCConfig(
                layers=tuple(
                    PCLayer(module, PAPER_BETA, PAPER_LAMBDA, PAPER_ALPHA)
                    for module in digits.DIGITS_PC_MODULES
                ),
                predictors=digits.digits_predictors,
            ),
            train=digits.train_digits_feedback,
            description="embedded default: PC variant of digits-cnn (feedback trained on first use)",
        ),
    ]
