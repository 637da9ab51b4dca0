"""The run settings, written once (:class:`pcbench.runner.settings.RunSettings`): from the API to
the local run and into every distributed task's :class:`~pcbench.executors.units.WorkUnit`."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import pcbench
from pcbench.errors import PcbenchError
from pcbench.executors.units import WorkUnit
from pcbench.models.precision import Numerics
from pcbench.runner import run_suite
from pcbench.runner.settings import RunSettings
from pcbench.store import read_scores

SUITE = 'name = "settled"\nmodels = ["digits-cnn"]\nclean = true\n[dataset]\nname = "digits"\nlimit = 8\n'


@pytest.fixture
def suite(tmp_path):
    path = tmp_path / "settled.toml"
    path.write_text(SUITE)
    return pcbench.load_suite(path)


def test_a_bad_batch_size_is_refused_when_the_settings_are_made():
    with pytest.raises(PcbenchError, match=r"^--batch-size 0 must be >= 1$"):
        RunSettings(batch_size=0)


def test_run_suite_takes_the_settings_and_changes_to_some_of_them(suite, tmp_path):
    settings = RunSettings(tmp_path / "a", device="cpu", batch_size=3, progress=False, workers=1)
    first = run_suite(suite, settings)
    moved = run_suite(suite, settings, results_dir=tmp_path / "b")
    assert (first.results, moved.results) == (tmp_path / "a" / "settled", tmp_path / "b" / "settled")
    assert set(read_scores(moved.results)["batch_size"]) == {3}
    again = run_suite(suite, settings, resume=True)
    assert (again.evaluated, again.skipped) == ([], first.evaluated)
    with pytest.raises(TypeError, match="batchsize"):
        run_suite(suite, settings, batchsize=4)  # a misspelt setting is an error, not ignored


def test_a_work_unit_carries_the_settings_as_plain_data_and_is_placed_on_its_device(suite, tmp_path):
    settings = RunSettings(tmp_path.absolute(), batch_size=16, progress=False, workers=1, numerics=Numerics("bf16"))
    unit = WorkUnit(
        run_id="run", index=0, suite=suite, model="digits-cnn", cells=("clean",), settings=settings, jobs="j"
    )
    assert pickle.loads(pickle.dumps(unit)) == unit  # how submitit, Ray and local workers ship it
    placed = unit.placed("cuda", threads=4, workers=4)
    assert placed.settings == RunSettings(
        tmp_path.absolute(), device="cuda", batch_size=16, progress=False, workers=4, numerics=Numerics("bf16")
    )
    assert (placed.threads, unit.placed("cpu", threads=1).settings.workers) == (4, 1)
    assert isinstance(placed.settings.results_dir, Path)
