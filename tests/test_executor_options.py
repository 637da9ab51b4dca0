"""Executor options read from ``pcbench run``'s flags and checked (:mod:`pcbench.executors.options`)."""

from __future__ import annotations

import pytest

from pcbench.errors import PcbenchError
from pcbench.executors.options import FLAG_DEFAULTS, ExecutorOptions, RayOptions, SlurmOptions, from_flags


def test_the_flags_become_the_options_they_name():
    flags = {**FLAG_DEFAULTS, "slurm_time": 30, "slurm_gpus_per_task": 1}
    options = from_flags("slurm", 4, None, True, ("qos=high", "--hold"), **flags)
    assert options == ExecutorOptions(
        executor="slurm",
        cells_per_task=4,
        detach=True,
        slurm=SlurmOptions(gpus_per_task=1, time_min=30, extra=(("qos", "high"), ("hold", True))),
        ray=RayOptions(),
    )
    assert from_flags("local", 8, "cuda:0, cuda:1", False, (), **FLAG_DEFAULTS).devices == ("cuda:0", "cuda:1")


@pytest.mark.parametrize(
    ("executor", "slurm_opt", "flags", "message"),
    [
        ("slurm", ("qos=",), {}, "--slurm-opt 'qos=' is not allowed; allowed: key=value"),
        ("slurm", (), {"ray_num_gpus": 1.0}, "--ray-num-gpus is for --executor ray, not --executor slurm"),
        ("local", ("hold",), {}, "--slurm-opt is for --executor slurm, not --executor local"),
    ],
)
def test_flags_for_another_executor_or_malformed_are_refused(executor, slurm_opt, flags, message):
    with pytest.raises(PcbenchError, match="^" + message.replace("(", r"\(").replace(")", r"\)")):
        from_flags(executor, 8, None, False, slurm_opt, **{**FLAG_DEFAULTS, **flags})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ExecutorOptions("dask"), "--executor 'dask' is not allowed; allowed: local, slurm, ray"),
        (ExecutorOptions("ray", detach=True), "--detach needs --executor slurm"),
        (ExecutorOptions("slurm", devices=("cuda:0",)), "--devices is for --executor local"),
    ],
)
def test_check_refuses_what_the_executor_cannot_honour(options, message):
    with pytest.raises(PcbenchError, match="^" + message):
        options.check()
    ExecutorOptions("slurm", detach=True).check()
