"""Common corruptions through ``imagecorruptions`` (installed from ``imagecorruptions-imaug``).

Determinism: the corrupted version of a sample depends only on (image, sample id,
corruption, severity, suite seed). Each image gets its own seed, derived by hashing those
values; corruptions that draw from NumPy's global RNG run with the global state seeded to
it (and restored afterwards), and those that take ``seed=`` (``impulse_noise``,
``glass_blur``) receive it directly. The package applies ImageNet-C parameters, so these
images are *generated*, not the canonical precomputed -C sets; every result row records
:func:`corruption_source`.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.metadata import version

import numpy as np

CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
    "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
    "elastic_transform", "pixelate", "jpeg_compression",
    "speckle_noise", "gaussian_blur", "spatter", "saturate",
)
#: The 15 corruptions of the ImageNet-C benchmark (the first 15 above).
COMMON_CORRUPTIONS = CORRUPTIONS[:15]
#: Corruptions that take an explicit ``seed=`` instead of NumPy's global RNG.
SEEDED_CORRUPTIONS = frozenset({"impulse_noise", "glass_blur"})


@cache
def corruption_source() -> str:
    """How corrupted images were made, as recorded in every corruption row."""
    return f"generated:imagecorruptions-imaug=={version('imagecorruptions-imaug')}"


def image_seed(seed: int, sample_id: int, corruption: str, severity: int) -> int:
    """The 32-bit seed for one (sample, corruption, severity) under a suite seed."""
    key = f"{seed}:{sample_id}:{corruption}:{severity}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little")


def corrupt_images(
    images: np.ndarray, ids: np.ndarray, corruption: str, severity: int, seed: int
) -> np.ndarray:
    """Corrupt ``uint8 [N, H, W, 3]`` images; sample ``i`` is seeded by ``ids[i]``."""
    from imagecorruptions import corrupt

    out = np.empty_like(images)
    saved = np.random.get_state()
    try:
        for index, (image, sample_id) in enumerate(zip(images, ids)):
            sample_seed = image_seed(seed, int(sample_id), corruption, severity)
            kwargs = {}
            if corruption in SEEDED_CORRUPTIONS:
                kwargs["seed"] = sample_seed
            else:
                np.random.seed(sample_seed)
            out[index] = corrupt(image, severity=severity, corruption_name=corruption, **kwargs)
    finally:
        np.random.set_state(saved)
    return out
