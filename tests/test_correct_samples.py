"""Predify's sample selection: an attack with ``samples = "correct"`` attacks only the samples
the model classifies correctly on clean images at every evaluated timestep; its rows say how
many (``n``) and which (``subset_hash``), its label and cell key say so, and attacks on every
sample keep their labels and keys."""

from __future__ import annotations

import numpy as np
import pytest

import pcbench
from pcbench.data import ImageSet
from pcbench.hashing import hash_arrays
from pcbench.runner.adversarial import attacked_samples
from pcbench.suite import AttackConfig

SUITE = """name = "correct"
models = ["digits-cnn", "digits-pcnn"]
timesteps = [0, 2]
[dataset]
name = "digits"
split = "test"
[[attacks]]
kind = "fgsm"
epsilons = [0.1]
[[attacks]]
kind = "fgsm"
epsilons = [0.1]
samples = "correct"
"""


def test_the_option_is_in_the_label_and_key_only_when_set():
    every = AttackConfig("bim-linf", (0.1,), 10, 0.2, True, target_offset=5, gradient_mode="detached")
    correct = AttackConfig("bim-linf", (0.1,), 10, 0.2, True, target_offset=5, gradient_mode="detached",
                           samples="correct")  # fmt: skip
    assert every.label == "bim-linf-t5-detached" and "samples" not in every.params()
    assert correct.label == "bim-linf-t5-detached-correct" and correct.params()["samples"] == "correct"


def test_a_bad_value_is_one_line_listing_the_choices(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(SUITE.replace('samples = "correct"', 'samples = "right"'))
    with pytest.raises(pcbench.PcbenchError) as refused:
        pcbench.load_suite(path)
    assert str(refused.value) == f"{path}: attacks[1].samples = 'right' is not allowed: one of all, correct"


def test_no_correct_sample_is_one_line():
    data = ImageSet("toy", "test", np.zeros((3, 32, 32, 3), np.uint8), np.arange(3), np.arange(3), 10)
    config = AttackConfig("fgsm", (0.1,), 1, None, False, samples="correct")
    with pytest.raises(pcbench.PcbenchError, match="model 'm' classifies no clean sample correctly"):
        attacked_samples(data, config, 0, np.zeros(3, bool), "m")


def test_the_attacked_samples_are_those_right_at_every_timestep(tmp_path):
    suite = tmp_path / "correct.toml"
    suite.write_text(SUITE)
    pcbench.run(suite, results=tmp_path / "r", leaderboards=None, progress=False, workers=1, device="cpu")
    results = pcbench.load_results(suite, tmp_path / "r")
    scores, predictions = results.scores, results.predictions
    for model in ("digits-cnn", "digits-pcnn"):
        clean = predictions[(predictions.model == model) & (predictions.cell == "clean")]
        right = clean.assign(right=clean.prediction == clean.label).groupby("sample_id")["right"].all()
        expected = np.sort(right[right].index.to_numpy())
        assert 0 < len(expected) < 360  # some, not all: the selection matters here
        rows = scores[(scores.model == model) & (scores.cell == "fgsm-correct@0.1")]
        assert set(rows["n"]) == {len(expected)}
        assert set(rows["subset_hash"]) == {hash_arrays(expected.astype(np.int64))}
        attacked = predictions[(predictions.model == model) & (predictions.cell == "fgsm-correct@0.1")]
        assert np.array_equal(np.unique(attacked["sample_id"]), expected)
        every = predictions[(predictions.model == model) & (predictions.cell == "fgsm@0.1")]
        same = every[every.sample_id.isin(expected)].sort_values(["timestep", "sample_id"])
        mine = attacked.sort_values(["timestep", "sample_id"])
        assert same["prediction"].tolist() == mine["prediction"].tolist()  # per-sample attacks: the same images
