"""Generated corruptions: every cell runs, samples are deterministic, non-finite pixels are
repaired and counted, the on-disk cache is used once and never trusted when damaged."""

from __future__ import annotations

import dataclasses
import json

import imagecorruptions
import numpy as np
import pytest
from click.testing import CliRunner

from pcbench.cli import cli
from pcbench.data import ImageSet, load_dataset
from pcbench.errors import PcbenchError
from pcbench.parallel import WorkerPool
from pcbench.perturbations.corruptions import CORRUPTIONS, SEEDED_CORRUPTIONS, corrupt_images, image_seed
from pcbench.perturbations.generated import GeneratedCorruptions
from pcbench.runner import run_suite
from pcbench.store import read_scores
from pcbench.suite import parse_suite, with_overrides

# Sample ids of the digits test split whose spatter at severity 1 (suite seed 0) is NaN
# everywhere before the uint8 cast: the random liquid layer of a 32x32 image is empty, 0/0.
SPATTER_NAN_IDS = (5, 10)


@pytest.fixture(scope="module")
def digits() -> ImageSet:
    return load_dataset("digits", "test")


def subset(data: ImageSet, index: np.ndarray) -> ImageSet:
    """The samples at positions ``index`` of ``data``, in that order."""
    return dataclasses.replace(data, images=data.images[index], labels=data.labels[index], ids=data.ids[index])


def counting(monkeypatch, names: tuple[str, ...]) -> list[str]:
    """Count calls of imagecorruptions' functions ``names`` made in this process."""
    calls: list[str] = []
    for name in names:
        original = imagecorruptions.corruption_dict[name]

        def wrapped(*args, _original=original, _name=name, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setitem(imagecorruptions.corruption_dict, name, wrapped)
    return calls


def reference(image: np.ndarray, sample_id: int, corruption: str, severity: int, seed: int) -> np.ndarray:
    """``imagecorruptions.corrupt`` with pcbench's per-sample seed, for comparison."""
    sample_seed = image_seed(seed, sample_id, corruption, severity)
    if corruption in SEEDED_CORRUPTIONS:
        return imagecorruptions.corrupt(image, severity, corruption, seed=sample_seed)
    np.random.seed(sample_seed)
    with np.errstate(invalid="ignore"):
        return imagecorruptions.corrupt(image, severity, corruption)


def test_every_corruption_and_severity_matches_imagecorruptions(digits):
    rows, columns = np.mgrid[0:32, 0:32]
    colourful = np.stack([rows * 8, columns * 8, 255 - rows * 4 - columns * 3], axis=-1).astype(np.uint8)
    batch = dataclasses.replace(subset(digits, np.array([0, 1])), images=np.stack([digits.images[0], colourful]))
    for corruption in CORRUPTIONS:
        for severity in range(1, 6):
            out, nonfinite = corrupt_images(batch.images, batch.ids, corruption, severity, seed=3)
            assert out.shape == batch.images.shape and out.dtype == np.uint8
            assert nonfinite.images == 0, (corruption, severity)
            for image, sample_id, corrupted in zip(batch.images, batch.ids, out, strict=True):
                expected = reference(image, int(sample_id), corruption, severity, seed=3)
                assert np.array_equal(corrupted, expected), (corruption, severity)
            assert not np.array_equal(out[1], colourful), (corruption, severity)


def test_global_rng_is_restored(digits):
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    corrupt_images(digits.images[:2], digits.ids[:2], "gaussian_noise", 2, seed=0)
    assert np.array_equal(np.random.get_state()[1], before)


def test_nan_output_is_replaced_by_the_clean_image_and_counted(digits):
    position = np.flatnonzero(np.isin(digits.ids, SPATTER_NAN_IDS + (0,)))
    batch = subset(digits, position)  # ids 0 (finite), 5 and 10 (all NaN)
    out, nonfinite = corrupt_images(batch.images, batch.ids, "spatter", 1, seed=0)
    assert (nonfinite.images, nonfinite.pixels) == (2, 2 * 32 * 32)
    for image, sample_id, corrupted in zip(batch.images, batch.ids, out, strict=True):
        library = reference(image, int(sample_id), "spatter", 1, seed=0)
        if sample_id in SPATTER_NAN_IDS:
            assert not library.any()  # the library's cast turns NaN into a black image
            assert np.array_equal(corrupted, image)
        else:
            assert np.array_equal(corrupted, library) and not np.array_equal(corrupted, image)


def test_partly_nonfinite_output_is_repaired_pixel_by_pixel(digits, monkeypatch):
    def half_broken(image, severity):
        array = np.asarray(image, dtype=np.float64) * 0.5
        array[:3, :, 0] = np.nan
        array[5, 5, :] = np.inf
        return array

    monkeypatch.setitem(imagecorruptions.corruption_dict, "contrast", half_broken)
    image = digits.images[3:4]
    out, nonfinite = corrupt_images(image, digits.ids[3:4], "contrast", 1, seed=0)
    assert (nonfinite.images, nonfinite.pixels) == (1, 3 * 32 + 1)
    expected = np.uint8(np.asarray(image[0], dtype=np.float64) * 0.5)
    expected[:3, :, 0] = image[0, :3, :, 0]
    expected[5, 5, :] = image[0, 5, 5, :]
    assert np.array_equal(out[0], expected)


def test_images_smaller_than_32_pixels_are_refused(digits):
    small = dataclasses.replace(digits, images=digits.images[:, :28, :30])
    with WorkerPool(1) as pool, pytest.raises(PcbenchError, match=r"28x30 images; corruptions need at least 32x32"):
        GeneratedCorruptions(small, 0, pool)


NAMES = ("gaussian_noise", "impulse_noise", "glass_blur", "frost")


def generated(data: ImageSet, workers: int) -> dict[str, np.ndarray]:
    """Severity-2 cells of ``NAMES`` for ``data``, generated with ``workers`` processes."""
    with WorkerPool(workers) as pool:
        source = GeneratedCorruptions(data, 11, pool)
        return {name: np.array(source.cell(name, 2).images) for name in NAMES}


def test_a_sample_is_byte_identical_across_workers_orders_and_limits(digits, tmp_path, monkeypatch):
    data = subset(digits, np.arange(24))
    runs = {}
    variants = {
        "one worker": (data, 1),
        "two workers": (data, 2),
        "reversed order": (subset(data, np.arange(24)[::-1]), 2),
        "limit": (data.subset(10, seed=4), 1),
    }
    for label, (images, workers) in variants.items():
        monkeypatch.setenv("PCBENCH_HOME", str(tmp_path / label))  # no cache shared between variants
        runs[label] = (images.ids, generated(images, workers))
    base_ids, base = runs["one worker"]
    for label, (ids, cells) in runs.items():
        rows = np.searchsorted(base_ids, ids)
        for name in NAMES:
            assert np.array_equal(cells[name], base[name][rows]), (label, name)
    assert not np.array_equal(base["glass_blur"][0], base["glass_blur"][1])


def test_cells_are_cached_once_and_read_back(digits, fresh_home, monkeypatch):
    data = subset(digits, np.arange(6))
    calls = counting(monkeypatch, ("shot_noise",))
    first = generated_cell(data, "shot_noise", 4)
    assert len(calls) == 6
    second = generated_cell(data, "shot_noise", 4)
    assert len(calls) == 6 and np.array_equal(first, second)
    assert isinstance(np.load(next(fresh_home.glob("corruptions/digits/shot_noise/*.npy")), mmap_mode="r"), np.memmap)


def generated_cell(data: ImageSet, corruption: str, severity: int, seed: int = 0) -> np.ndarray:
    with WorkerPool(1) as pool:
        return np.array(GeneratedCorruptions(data, seed, pool).cell(corruption, severity).images)


@pytest.mark.parametrize("damage", ["truncate", "flip a byte", "drop the sidecar", "edit the sidecar"])
def test_a_damaged_cache_entry_is_regenerated_not_used(digits, fresh_home, monkeypatch, damage):
    data = subset(digits, np.arange(4))
    calls = counting(monkeypatch, ("speckle_noise",))
    clean = generated_cell(data, "speckle_noise", 3)
    path = next(fresh_home.glob("corruptions/digits/speckle_noise/*.npy"))
    sidecar = path.with_suffix(".json")
    raw = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(raw[:-100])
    elif damage == "flip a byte":
        path.write_bytes(raw[:-1] + bytes([raw[-1] ^ 0xFF]))
    elif damage == "drop the sidecar":
        sidecar.unlink()
    else:
        meta = json.loads(sidecar.read_text())
        meta["meta"]["nonfinite_images"] = 3
        meta["sha256"] = "0" * 64
        sidecar.write_text(json.dumps(meta))
    again = generated_cell(data, "speckle_noise", 3)
    assert len(calls) == 8  # regenerated, not read
    assert np.array_equal(again, clean) and path.read_bytes() == raw
    assert json.loads(sidecar.read_text())["meta"]["nonfinite_images"] == 0


def test_cache_info_and_clear(digits, fresh_home):
    data = subset(digits, np.arange(3))
    generated_cell(data, "contrast", 1)
    generated_cell(data, "contrast", 2)
    generated_cell(data, "fog", 1)
    info = CliRunner().invoke(cli, ["cache", "info"])
    assert info.exit_code == 0, info.output
    rows = {tuple(line.split()[:4]) for line in info.output.splitlines()}
    assert ("digits", "corruptions", "contrast", "2") in rows and ("digits", "corruptions", "fog", "1") in rows
    not_cached = CliRunner().invoke(cli, ["cache", "clear", "--dataset", "cifar10"])
    assert isinstance(not_cached.exception, PcbenchError) and "cached: digits" in str(not_cached.exception)
    assert any(fresh_home.glob("corruptions/digits/*/*.npy"))
    cleared = CliRunner().invoke(cli, ["cache", "clear", "--dataset", "digits"])
    assert cleared.exit_code == 0 and cleared.output.startswith("removed ") and "KiB" in cleared.output
    assert not any(fresh_home.glob("corruptions/digits/*/*.npy"))
    assert CliRunner().invoke(cli, ["cache", "info"]).output.splitlines()[-1].split()[:2] == ["total", "0"]


SUITE = {
    "name": "nan",
    "models": ["digits-cnn"],
    "clean": False,
    "seed": 0,
    "dataset": {"name": "digits", "limit": 30},
    "corruptions": {"names": ["spatter"], "severities": [1]},
}


def test_runs_record_nonfinite_counts_and_a_second_model_generates_nothing(fresh_home, tmp_path, monkeypatch):
    calls = counting(monkeypatch, ("spatter",))
    suite = parse_suite(SUITE)
    run_suite(suite, results_dir=tmp_path, device="cpu", progress=False, workers=1)
    assert len(calls) == 30
    run_suite(
        with_overrides(suite, models=["digits-pcnn"]), results_dir=tmp_path, device="cpu", progress=False, workers=1
    )
    assert len(calls) == 30
    scores = read_scores(tmp_path / "nan")
    assert set(scores.model) == {"digits-cnn", "digits-pcnn"}
    assert scores.corruption_source.str.fullmatch(r"generated:imagecorruptions-imaug==[\d.]+;nonfinite=clean").all()
    ids = load_dataset("digits", "test").subset(30, 0).ids
    expected = np.isin(ids, SPATTER_NAN_IDS + (260, 480, 900, 955, 1070, 1445, 1760)).sum()
    assert expected > 0 and (scores.nonfinite_images == expected).all()
    assert (scores.nonfinite_pixels == expected * 32 * 32).all()
