"""The embedded default data set: scikit-learn's handwritten digits as 32×32 RGB.

scikit-learn ships 1,797 real 8×8 grey-level digits (values 0..16). pcbench scales them to
[0, 1], upsamples them bilinearly to 32×32 (``torch.nn.functional.interpolate``,
``align_corners=False``), rounds to uint8 and repeats the grey channel three times, so
they meet imagecorruptions' minimum size and a standard RGB CNN input.

Fixed split: sample ``i`` (in scikit-learn's order) is in the **test** split when
``i % 5 == 0`` (360 images) and in the **train** split otherwise (1,437 images).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
from sklearn.datasets import load_digits

from pcbench.data.imageset import ImageSet
from pcbench.errors import PcbenchError

SIZE = 32
SPLITS = ("train", "test")


@lru_cache(maxsize=1)
def _all_digits() -> tuple[np.ndarray, np.ndarray]:
    digits = load_digits()
    grey = torch.from_numpy(digits.images.astype(np.float32) / 16.0).unsqueeze(1)
    upsampled = torch.nn.functional.interpolate(grey, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    images = (upsampled.clamp(0, 1) * 255).round().to(torch.uint8)
    rgb = images.squeeze(1).unsqueeze(-1).expand(-1, SIZE, SIZE, 3).contiguous().numpy()
    return rgb, digits.target.astype(np.int64)


def load_digits_split(split: str = "test") -> ImageSet:
    """The ``train`` or ``test`` split of the embedded digits data set."""
    if split not in SPLITS:
        raise PcbenchError(f"dataset.split = '{split}' for digits; allowed: {', '.join(SPLITS)}")
    images, labels = _all_digits()
    in_test = np.arange(len(labels)) % 5 == 0
    ids = np.flatnonzero(in_test if split == "test" else ~in_test)
    return ImageSet("digits", split, images[ids], labels[ids], ids.astype(np.int64), 10)
