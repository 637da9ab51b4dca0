"""Common corruptions through ``imagecorruptions`` (installed from ``imagecorruptions-imaug``).

Determinism: the corrupted version of a sample depends only on (image, sample id,
corruption, severity, suite seed). Each image gets its own seed, derived by hashing those
values; corruptions that draw from NumPy's global RNG run with the global state seeded to
it (and restored afterwards), and those that take ``seed=`` (``impulse_noise``, whose
scikit-image noise makes its own generator, and ``glass_blur``, whose numba kernel seeds
numba's own RNG) receive it directly. So neither batch size, order, worker process nor
``--limit`` changes a sample's corrupted image.

Pixels that are not finite: the corruption functions return floats that
``imagecorruptions.corrupt`` casts to uint8, and a few produce NaN before that cast
(``spatter`` divides its liquid layer by its maximum, 0/0 when the random layer is empty;
the cast then turns the whole image black). pcbench calls the corruption function itself,
replaces every non-finite value by the clean image's value at that position (the
corruption did not apply there; for ``spatter`` that is exactly its no-liquid image), counts
the affected images and pixels, and then applies ``corrupt``'s own conversion
(``numpy.uint8``). Finite outputs are byte-identical to ``imagecorruptions.corrupt``.

Images smaller than 32×32 are refused (imagecorruptions' minimum): resampling them up and
back down would change every corruption's statistics, so resize the data set instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version

import numpy as np

from pcbench.errors import PcbenchError

CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
    "speckle_noise",
    "gaussian_blur",
    "spatter",
    "saturate",
)
#: The 15 corruptions of the ImageNet-C benchmark (the first 15 above).
COMMON_CORRUPTIONS = CORRUPTIONS[:15]
#: Corruptions that take an explicit ``seed=`` instead of NumPy's global RNG.
SEEDED_CORRUPTIONS = frozenset({"impulse_noise", "glass_blur"})
#: imagecorruptions' smallest accepted height and width.
MIN_SIZE = 32


def in_corruption_order(names: Iterable[str]) -> list[str]:
    """Distinct ``names`` in :data:`CORRUPTIONS` order (the 15 common ones first, as ImageNet-C
    tables list them); names that are not imagecorruptions' follow in their given order."""
    rank = {name: position for position, name in enumerate(CORRUPTIONS)}
    return sorted(dict.fromkeys(names), key=lambda name: rank.get(name, len(rank)))


@dataclass(frozen=True)
class NonFinite:
    """Corrupted images and pixels (row, column positions) that held NaN or ±inf."""

    images: int = 0
    pixels: int = 0

    def __add__(self, other: NonFinite) -> NonFinite:
        return NonFinite(self.images + other.images, self.pixels + other.pixels)


@cache
def corruption_source() -> str:
    """How generated corrupted images were made, as recorded in every corruption row."""
    return f"generated:imagecorruptions-imaug=={version('imagecorruptions-imaug')};nonfinite=clean"


def image_seed(seed: int, sample_id: int, corruption: str, severity: int) -> int:
    """The 32-bit seed for one (sample, corruption, severity) under a suite seed."""
    key = f"{seed}:{sample_id}:{corruption}:{severity}".encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:4], "little")


def check_corruptible(shape: tuple[int, ...], dataset: str) -> None:
    """Refuse images smaller than :data:`MIN_SIZE` (``shape`` is ``[N, H, W, 3]``)."""
    height, width = shape[1:3]
    if min(height, width) < MIN_SIZE:
        raise PcbenchError(
            f"dataset '{dataset}' has {height}x{width} images; corruptions need at least "
            f"{MIN_SIZE}x{MIN_SIZE} (imagecorruptions' minimum): resize the data set or drop [corruptions]"
        )


def corrupt_images(
    images: np.ndarray, ids: np.ndarray, corruption: str, severity: int, seed: int
) -> tuple[np.ndarray, NonFinite]:
    """Corrupt ``uint8 [N, H, W, 3]`` images; sample ``i`` is seeded by ``ids[i]``.

    Returns the corrupted images and the non-finite counts (see the module docstring).
    NumPy's global RNG state is restored afterwards.
    """
    from imagecorruptions import corruption_dict
    from PIL import Image

    if corruption not in CORRUPTIONS:
        raise PcbenchError(f"unknown corruption '{corruption}'; allowed: {', '.join(CORRUPTIONS)}")
    function = corruption_dict[corruption]
    if corruption == "glass_blur":
        _cache_glass_blur_kernel()
    out = np.empty(images.shape, dtype=np.uint8)
    nonfinite = NonFinite()
    saved = np.random.get_state()
    try:
        with np.errstate(divide="ignore", invalid="ignore"):  # non-finite values are counted instead
            for index, (image, sample_id) in enumerate(zip(images, ids, strict=True)):
                sample_seed = image_seed(seed, int(sample_id), corruption, severity)
                if corruption in SEEDED_CORRUPTIONS:
                    raw = function(Image.fromarray(image), severity, seed=sample_seed)
                else:
                    np.random.seed(sample_seed)
                    raw = function(Image.fromarray(image), severity)
                out[index], pixels = _to_uint8(np.asarray(raw), image)
                if pixels:
                    nonfinite += NonFinite(1, pixels)
    finally:
        np.random.set_state(saved)
    return out, nonfinite


@cache
def _cache_glass_blur_kernel() -> None:
    """Let numba keep ``glass_blur``'s compiled kernel on disk (what ``@njit(cache=True)`` does;
    numba's own cache locations), so that a new process loads it in a fraction of a second
    instead of compiling it for seconds. The machine code, and so the output, is the same."""
    from imagecorruptions import corruptions

    kernel = getattr(corruptions, "_shuffle_pixels_njit_glass_blur", None)
    if kernel is not None:
        kernel.enable_caching()


def _to_uint8(raw: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, int]:
    """``imagecorruptions.corrupt``'s final ``numpy.uint8`` cast, after replacing non-finite
    values by the clean image's; also returns the number of pixels replaced."""
    if raw.dtype.kind != "f" or np.isfinite(raw).all():
        return np.uint8(raw), 0
    bad = ~np.isfinite(raw)
    return np.uint8(np.where(bad, clean, raw)), int(bad.any(axis=-1).sum())
