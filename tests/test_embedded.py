"""The embedded default: digits data, and the two models trained on first use."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pcbench.data import load_dataset
from pcbench.data.digits import load_digits_split
from pcbench.errors import PcbenchError
from pcbench.models.build import build_model, weights_path
from pcbench.models.digits import train_digits_cnn
from pcbench.registry import get_model_spec


def test_digits_split_is_fixed_and_disjoint():
    test, train = load_digits_split("test"), load_digits_split("train")
    assert (len(test), len(train)) == (360, 1437)
    assert test.images.shape == (360, 32, 32, 3) and test.images.dtype == np.uint8
    assert np.array_equal(test.ids, np.arange(0, 1797, 5))
    assert not set(test.ids) & set(train.ids)
    assert np.array_equal(test.images[..., 0], test.images[..., 2])  # grey as RGB


def test_unknown_split_and_dataset_are_clear_errors():
    with pytest.raises(PcbenchError, match="dataset.split = 'val' for digits; allowed: train, test"):
        load_digits_split("val")
    with pytest.raises(PcbenchError, match="unknown dataset 'mnist'; available: digits"):
        load_dataset("mnist", "test")


def test_subset_is_seeded_stratified_and_sorted():
    data = load_digits_split("test")
    a, b, c = data.subset(50, seed=0), data.subset(50, seed=0), data.subset(50, seed=1)
    assert np.array_equal(a.ids, b.ids) and not np.array_equal(a.ids, c.ids)
    assert np.all(np.diff(a.ids) > 0)
    assert np.bincount(a.labels, minlength=10).tolist() == [5] * 10
    position = np.searchsorted(data.ids, a.ids)
    assert np.array_equal(data.images[position], a.images)


def accuracy_per_timestep(name: str) -> torch.Tensor:
    data = load_digits_split("test")
    with torch.no_grad():
        logits = build_model(name)(data.tensor())
    return (logits.argmax(-1) == torch.from_numpy(data.labels)).float().mean(dim=1)


def test_feedforward_baseline_reaches_95_percent():
    assert accuracy_per_timestep("digits-cnn").item() >= 0.95


def test_pc_variant_at_timestep_zero_is_exactly_the_baseline():
    data = load_digits_split("test")
    x = data.tensor()
    with torch.no_grad():
        pc, ff = build_model("digits-pcnn")(x), build_model("digits-cnn")(x)
    assert pc.shape == (11, 360, 10)
    assert torch.equal(pc[0], ff[0])
    assert not torch.equal(pc[10], pc[0])  # the feedback does act


def test_trained_models_are_cached_by_spec_hash():
    spec = get_model_spec("digits-cnn")
    path = weights_path(spec)
    stamp = path.stat().st_mtime_ns
    assert weights_path(spec) == path and path.stat().st_mtime_ns == stamp
    assert path.name.startswith("digits-cnn-") and path.parent.parent.name.startswith("pcbench-test-home")


def test_training_is_deterministic(tmp_path):
    spec = get_model_spec("digits-cnn")
    train_digits_cnn(spec, tmp_path / "again.pt")
    again = torch.load(tmp_path / "again.pt", weights_only=True)
    cached = torch.load(weights_path(spec), weights_only=True)
    assert again.keys() == cached.keys()
    assert all(torch.equal(again[k], cached[k]) for k in again)
