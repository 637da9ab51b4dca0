"""Corruption families (ImageNet-C grouping) and the AlexNet reference errors of ImageNet-C."""

from __future__ import annotations

from pcbench.perturbations.corruptions import COMMON_CORRUPTIONS

#: Family of each of the 19 corruptions: the 15 common ones in Hendrycks & Dietterich's
#: four families, the 4 validation corruptions as ``extra``.
FAMILIES: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
    "extra": ("speckle_noise", "gaussian_blur", "spatter", "saturate"),
}

#: AlexNet's ImageNet-C error per common corruption, averaged over severities 1-5.
ALEXNET_CORRUPTION_ERRORS: dict[str, float] = dict(
    zip(
        COMMON_CORRUPTIONS,
        (
            0.886428,
            0.894468,
            0.922640,
            0.819880,
            0.826268,
            0.785948,
            0.798360,
            0.866816,
            0.826572,
            0.819324,
            0.564592,
            0.853204,
            0.646056,
            0.717840,
            0.606500,
        ),
        strict=False,
    )
)
#: AlexNet's clean ImageNet error.
ALEXNET_CLEAN_ERROR = 0.4348
