"""Data sets from local files in their canonical layouts: CIFAR (pickled batches), image
folders and ImageNet validation, CIFAR-10-C and ImageNet-C; labels aligned; clear errors."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pcbench.data import DATASETS, load_dataset
from pcbench.errors import PcbenchError
from pcbench.perturbations.corruption_sources import open_corruptions
from pcbench.perturbations.precomputed import CifarC
from pcbench.suite import parse_suite
from pcbench.suite.schema import DEFAULT_DATASETS, PRECOMPUTED_SETS


@pytest.fixture(autouse=True)
def home(fresh_home):
    """Decoded image folders are cached in a fresh pcbench home."""


def cifar_images(labels: np.ndarray, offset: int) -> np.ndarray:
    """``uint8 [N, 32, 32, 3]`` images whose channels encode (label, position, channel)."""
    n = len(labels)
    images = np.zeros((n, 32, 32, 3), dtype=np.uint8)
    images[..., 0] = labels[:, None, None] * 10
    images[..., 1] = (np.arange(n)[:, None, None] + offset) % 256
    images[..., 2] = np.arange(32)[None, None, :]  # columns: catches a wrong transpose
    return images


def write_batch(path: Path, images: np.ndarray, labels: np.ndarray, label_key: str, *, byte_keys: bool = False) -> None:
    """A batch as torchvision's CIFAR files hold it: rows of 1024 R, 1024 G, 1024 B values."""
    data = images.transpose(0, 3, 1, 2).reshape(len(images), -1)
    entry = {
        "batch_label": "test",
        "data": data,
        label_key: labels.tolist(),
        "filenames": [f"{i}.png" for i in range(len(labels))],
    }
    if byte_keys:
        entry = {key.encode(): value for key, value in entry.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(entry, protocol=2))


def write_cifar10(root: Path, per_batch: int = 6) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """CIFAR-10 with five small train batches and a test batch; returns the expected splits."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    splits: dict[str, list] = {"train": [], "test": []}
    for index, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        labels = rng.integers(0, 10, per_batch)
        images = cifar_images(labels, offset=index * per_batch)
        write_batch(folder / name, images, labels, "labels", byte_keys=index == 1)
        splits["test" if name == "test_batch" else "train"].append((images, labels))
    return {
        split: (np.concatenate([i for i, _ in parts]), np.concatenate([labels for _, labels in parts]))
        for split, parts in splits.items()
    }


def test_cifar10_reads_torchvisions_pickled_batches(tmp_path):
    expected = write_cifar10(tmp_path)
    for split in ("train", "test"):
        data = load_dataset("cifar10", split, tmp_path)
        images, labels = expected[split]
        assert (data.name, data.split, data.num_classes) == ("cifar10", split, 10)
        assert np.array_equal(data.images, images) and np.array_equal(data.labels, labels)
        assert np.array_equal(data.ids, np.arange(len(labels)))
        assert np.array_equal(
            data.images[..., 0] // 10, np.broadcast_to(data.labels[:, None, None], (len(labels), 32, 32))
        )
    assert load_dataset("cifar10", "test", tmp_path / "cifar-10-batches-py").content_hash == data.content_hash


def test_cifar100_reads_fine_labels(tmp_path):
    labels = np.array([99, 3, 42, 0])
    write_batch(tmp_path / "cifar-100-python" / "test", cifar_images(labels % 20, 0), labels, "fine_labels")
    data = load_dataset("cifar100", "test", tmp_path)
    assert data.num_classes == 100 and np.array_equal(data.labels, labels)


class Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


def test_a_pickle_asking_for_code_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps({"data": Exploit(marker), "labels": [1]}, protocol=2))
    with pytest.raises(
        PcbenchError,
        match=r"test_batch is not a CIFAR-10 batch \(UnpicklingError: refusing to load global posix.mkdir\)",
    ):
        load_dataset("cifar10", "test", tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: None, r"no cifar-10-batches-py/ folder there; expected CIFAR-10 in torchvision's python format"),
        (lambda root: (root / "cifar-10-batches-py").mkdir(), r"test_batch is missing; expected CIFAR-10"),
        (
            lambda root: write_batch(
                root / "cifar-10-batches-py" / "test_batch",
                np.zeros((2, 16, 16, 3), np.uint8),
                np.array([1, 2]),
                "labels",
            ),
            r"'data' is uint8 \(2, 768\) for 2 labels, expected uint8 \(N, 3072\)",
        ),
        (
            lambda root: write_batch(
                root / "cifar-10-batches-py" / "test_batch",
                np.zeros((2, 32, 32, 3), np.uint8),
                np.array([1, 2]),
                "fine_labels",
            ),
            r"not a CIFAR-10 batch \(KeyError: 'labels'\)",
        ),
        (
            lambda root: (
                (root / "cifar-10-batches-py").mkdir()
                or (root / "cifar-10-batches-py" / "test_batch").write_bytes(b"\x80\x02junk")
            ),
            r"test_batch is not a CIFAR-10 batch",
        ),
    ],
    ids=["no folder", "no batch", "bad shape", "wrong labels", "not a pickle"],
)
def test_malformed_cifar_gives_one_line(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(PcbenchError, match=message) as info:
        load_dataset("cifar10", "test", tmp_path)
    assert "\n" not in str(info.value)


def test_bad_roots_and_splits(tmp_path):
    with pytest.raises(PcbenchError, match=r"dataset 'cifar10' needs a local root"):
        load_dataset("cifar10", "test")
    with pytest.raises(PcbenchError, match=r"is not a directory; dataset 'imagenet' needs the folder"):
        load_dataset("imagenet", "val", tmp_path / "nowhere")
    with pytest.raises(PcbenchError, match=r"dataset.split = 'val' for cifar10; allowed: train, test"):
        load_dataset("cifar10", "val", tmp_path)
    with pytest.raises(PcbenchError, match=r"dataset.split = 'test' for imagenet; allowed: val"):
        load_dataset("imagenet", "test", tmp_path)


def test_registry_and_schema_agree():
    assert {name: needs_root for name, (_, needs_root) in DATASETS.items()} == dict(DEFAULT_DATASETS)
    assert set(PRECOMPUTED_SETS) <= set(DATASETS)


# --- CIFAR-10-C ------------------------------------------------------------------------


def write_cifar10_c(root: Path, labels: np.ndarray, names=("gaussian_noise", "fog")) -> None:
    """CIFAR-10-C: each row's pixels encode (severity, test index)."""
    root.mkdir(parents=True, exist_ok=True)
    n = len(labels)
    np.save(root / "labels.npy", np.tile(labels, 5).astype(np.uint8))
    for offset, name in enumerate(names):
        rows = np.zeros((5 * n, 32, 32, 3), dtype=np.uint8)
        rows[..., 0] = (np.arange(5 * n) // n + 1)[:, None, None]
        rows[..., 1] = (np.arange(5 * n) % n)[:, None, None]
        rows[..., 2] = offset
        np.save(root / f"{name}.npy", rows)


def precomputed_suite(data_root: Path, c_root: Path, dataset: str = "cifar10", **dataset_keys) -> dict:
    return {
        "name": "c",
        "models": ["m"],
        "dataset": {"name": dataset, "root": str(data_root), **dataset_keys},
        "corruptions": {
            "names": ["gaussian_noise", "fog"],
            "severities": [1, 3, 5],
            "source": "precomputed",
            "root": str(c_root),
        },
    }


def open_cells(suite_table: dict):
    from pcbench.runner.run import load_suite_data

    suite = parse_suite(suite_table)
    data = load_suite_data(suite)
    return suite, data, open_corruptions(suite, data, workers=1)


def test_cifar10_c_rows_follow_the_sample_ids(tmp_path):
    expected = write_cifar10(tmp_path / "cifar")
    write_cifar10_c(tmp_path / "CIFAR-10-C", expected["test"][1])
    _, data, opened = open_cells(precomputed_suite(tmp_path / "cifar", tmp_path / "CIFAR-10-C", limit=4))
    with opened as source:
        assert isinstance(source, CifarC) and len(data) == 4
        cell = source.cell("fog", 3)
        assert np.array_equal(cell.images[:, 0, 0], np.stack([np.full(4, 3), data.ids, np.full(4, 1)], axis=1))
        assert cell.nonfinite.images == 0 and cell.images.dtype == np.uint8
        assert cell.source.startswith(f"precomputed:{tmp_path / 'CIFAR-10-C'}:")
        assert cell.source == source.source("fog", 3) != source.source("gaussian_noise", 3)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda root: (root / "fog.npy").unlink(), r"fog.npy is missing; expected CIFAR-10-C: <root>/<corruption>.npy"),
        (
            lambda root: np.save(root / "fog.npy", np.zeros((10, 32, 32, 3), np.uint8)),
            r"fog.npy is uint8 \(10, 32, 32, 3\), expected uint8 \(30, 32, 32, 3\)",
        ),
        (
            lambda root: np.save(root / "labels.npy", (np.load(root / "labels.npy") + 1) % 10),
            r"labels.npy disagrees with cifar10's test labels at sample \d+ \(severity \d\): CIFAR-10-C must follow",
        ),
        (
            lambda root: (root / "labels.npy").write_bytes(b"not numpy"),
            r"labels.npy is not a .npy array \(it does not start as a .npy file does: another format, or a pickle, "
            r"which pcbench never loads\)",
        ),
        (
            lambda root: np.save(root / "fog.npy", np.array([{"a": 1}] * 30, dtype=object), allow_pickle=True),
            r"fog.npy is not a .npy array \(it holds Python objects, a pickle, which pcbench never loads\); expected",
        ),
    ],
    ids=["missing corruption", "wrong shape", "misaligned labels", "not npy", "object array"],
)
def test_damaged_cifar10_c_is_refused_before_evaluation(tmp_path, damage, message):
    expected = write_cifar10(tmp_path / "cifar")
    write_cifar10_c(tmp_path / "CIFAR-10-C", expected["test"][1])
    damage(tmp_path / "CIFAR-10-C")
    _, _, opened = open_cells(precomputed_suite(tmp_path / "cifar", tmp_path / "CIFAR-10-C"))
    with pytest.raises(PcbenchError, match=message) as info:
        with opened:
            pass
    assert "\n" not in str(info.value) and "allow_pickle" not in str(info.value)


def test_cifar10_c_needs_the_test_split(tmp_path):
    expected = write_cifar10(tmp_path / "cifar")
    write_cifar10_c(tmp_path / "CIFAR-10-C", expected["test"][1])
    _, _, opened = open_cells(precomputed_suite(tmp_path / "cifar", tmp_path / "CIFAR-10-C", split="train"))
    with pytest.raises(PcbenchError, match=r"CIFAR-10-C is made from the test split, but dataset.split = 'train'"):
        with opened:
            pass


# --- image folders, ImageNet and ImageNet-C -------------------------------------------------


WNIDS = [f"n{index:08d}" for index in range(1000)]


def save(path: Path, colour: tuple[int, int, int], size: tuple[int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, quality=95)


def write_imagenet(root: Path) -> list[tuple[str, tuple[int, int, int], int]]:
    """ImageNet val with all 1000 class folders, images in three of them (varied sizes)."""
    for wnid in WNIDS:
        (root / "val" / wnid).mkdir(parents=True, exist_ok=True)
    files = [
        (f"{WNIDS[7]}/ILSVRC2012_val_00000003.JPEG", (200, 10, 10), 7),
        (f"{WNIDS[7]}/ILSVRC2012_val_00000001.JPEG", (10, 200, 10), 7),
        (f"{WNIDS[2]}/ILSVRC2012_val_00000002.JPEG", (10, 10, 200), 2),
        (f"{WNIDS[999]}/ILSVRC2012_val_00000004.JPEG", (120, 120, 20), 999),
    ]
    for index, (name, colour, _) in enumerate(files):
        save(root / "val" / name, colour, (300 + 40 * index, 260))
    (root / "val" / WNIDS[7] / "notes.txt").write_text("not an image")
    return sorted(files, key=lambda item: (item[2], item[0]))  # ImageFolder order


def test_imagenet_val_is_resized_cropped_labelled_and_cached(tmp_path, monkeypatch):
    files = write_imagenet(tmp_path)
    data = load_dataset("imagenet", "val", tmp_path)
    assert data.images.shape == (4, 224, 224, 3) and data.num_classes == 1000
    assert data.labels.tolist() == [label for _, _, label in files]
    for image, (_, colour, _) in zip(data.images, files, strict=True):
        assert np.abs(image.astype(int) - colour).max() <= 3
    assert isinstance(data.images, np.memmap)

    import pcbench.data.imagefolder as imagefolder

    def no_decoding(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(imagefolder, "decode_files", no_decoding)
    assert load_dataset("imagenet", "val", tmp_path).content_hash == data.content_hash
    save(tmp_path / "val" / files[0][0], (0, 0, 0), (50, 50))  # a changed file is decoded again
    with pytest.raises(AssertionError, match="decoded again"):
        load_dataset("imagenet", "val", tmp_path)


def test_imagenet_needs_its_1000_wordnet_folders(tmp_path):
    save(tmp_path / "val" / "n01440764" / "a.JPEG", (1, 2, 3), (64, 64))
    with pytest.raises(
        PcbenchError,
        match=r"val has 1 class folders \(1 named like WordNet ids\); "
        r"expected ImageNet validation images as <root>/val/<wnid>/\*.JPEG",
    ):
        load_dataset("imagenet", "val", tmp_path)


def test_imagefolder_keeps_sizes_and_refuses_mixed_ones(tmp_path):
    for name, colour in [("cat/1.png", (255, 0, 0)), ("dog/2.png", (0, 255, 0)), ("ant/3.png", (0, 0, 255))]:
        save(tmp_path / "train" / name, colour, (40, 36))
    data = load_dataset("imagefolder", "train", tmp_path)
    assert data.images.shape == (3, 36, 40, 3) and data.labels.tolist() == [0, 1, 2]
    assert data.images[0, 0, 0].tolist() == [0, 0, 255]  # ant: classes are sorted
    save(tmp_path / "train" / "dog" / "3.png", (1, 1, 1), (50, 50))
    with pytest.raises(PcbenchError, match=r"dog/3.png is 50x50 but the images before it are 40x36"):
        load_dataset("imagefolder", "train", tmp_path)
    with pytest.raises(PcbenchError, match=r"nowhere is not a directory; expected <root>/<split>/<class>/<image>"):
        load_dataset("imagefolder", "nowhere", tmp_path)


def write_imagenet_c(root: Path, files, names=("gaussian_noise", "fog"), severities=(1, 3, 5)) -> None:
    """ImageNet-C: 224x224 images whose colour encodes (corruption, severity, file)."""
    for c, name in enumerate(names):
        for severity in severities:
            for index, (file, _, _) in enumerate(files):
                save(root / name / str(severity) / file, (40 * c, 40 * severity, 40 * index), (224, 224))


def test_imagenet_c_cells_match_the_clean_files(tmp_path):
    files = write_imagenet(tmp_path / "imagenet")
    write_imagenet_c(tmp_path / "ImageNet-C", files)
    suite = precomputed_suite(tmp_path / "imagenet", tmp_path / "ImageNet-C", "imagenet", split="val", limit=3)
    _, data, opened = open_cells(suite)
    with opened as source:
        cell = source.cell("fog", 5)
        expected = np.array([(40, 200, 40 * index) for index in data.ids])  # files are in id order
        assert np.abs(cell.images[:, 100, 100].astype(int) - expected).max() <= 3
        assert cell.images.shape == (3, 224, 224, 3)
        assert cell.source.startswith(f"precomputed:{tmp_path / 'ImageNet-C'}:")
        (tmp_path / "ImageNet-C" / "fog" / "3" / files[data.ids[0]][0]).unlink()
        with pytest.raises(
            PcbenchError,
            match=r"fog/3/n\d{8}/ILSVRC2012_val_\d{8}.JPEG is missing \(1 of 3 evaluated images absent\); "
            r"expected ImageNet-C",
        ):
            source.source("fog", 3)


def test_imagenet_c_missing_severity_is_refused_up_front(tmp_path):
    files = write_imagenet(tmp_path / "imagenet")
    write_imagenet_c(tmp_path / "ImageNet-C", files, severities=(1, 3))
    _, _, opened = open_cells(
        precomputed_suite(tmp_path / "imagenet", tmp_path / "ImageNet-C", "imagenet", split="val")
    )
    with pytest.raises(PcbenchError, match=r"gaussian_noise/5 is not a directory; expected ImageNet-C"):
        with opened:
            pass


def test_a_precomputed_suite_runs_from_the_command_line(tmp_path, registry_snapshot):
    import dataclasses

    from click.testing import CliRunner

    from pcbench.cli import cli
    from pcbench.registry import get_model_spec, register_model
    from pcbench.store import read_scores

    # a digits model evaluated on CIFAR-shaped data on purpose: it must say so
    register_model(
        dataclasses.replace(get_model_spec("digits-cnn"), name="digits-cnn-on-cifar", transfer_datasets=("cifar10",))
    )
    expected = write_cifar10(tmp_path / "cifar")
    write_cifar10_c(tmp_path / "CIFAR-10-C", expected["test"][1])
    suite = tmp_path / "c.toml"
    suite.write_text(
        'name = "c"\nmodels = ["digits-cnn-on-cifar"]\n[dataset]\nname = "cifar10"\n'
        '[corruptions]\nsource = "precomputed"\nnames = ["fog"]\nseverities = [2, 5]\n'
    )
    args = [
        "run",
        str(suite),
        "--root",
        str(tmp_path / "cifar"),
        "--corruptions-root",
        str(tmp_path / "CIFAR-10-C"),
        "--results",
        str(tmp_path / "results"),
        "--leaderboards",
        str(tmp_path / "boards"),
        "--device",
        "cpu",
        "--workers",
        "1",
    ]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    scores = read_scores(tmp_path / "results" / "c")
    corrupted = scores[scores.perturbation == "corruption"]
    assert len(corrupted) == 2 and (corrupted.n == 6).all() and (corrupted.nonfinite_images == 0).all()
    assert corrupted.corruption_source.str.startswith(f"precomputed:{tmp_path / 'CIFAR-10-C'}:").all()
    assert scores[scores.perturbation == "clean"].nonfinite_images.isna().all()
    again = CliRunner().invoke(cli, args)
    assert "0 cells evaluated, 3 already stored" in again.output


def test_a_model_declared_for_another_dataset_is_refused_before_anything_runs(tmp_path):
    from pcbench.runner import run_suite
    from pcbench.suite import load_suite

    write_cifar10(tmp_path / "cifar")
    suite = tmp_path / "c.toml"
    suite.write_text('name = "c"\nmodels = ["digits-cnn"]\n[dataset]\nname = "cifar10"\n')
    loaded = load_suite(suite, dataset_root=tmp_path / "cifar")
    with pytest.raises(
        PcbenchError, match="declared for dataset 'digits' but suite 'c' evaluates 'cifar10'.*transfer_datasets"
    ):
        run_suite(loaded, results_dir=tmp_path / "results", progress=False, workers=1)
    assert not (tmp_path / "results").exists()
