"""Smoke check of submitit against the local cluster of ``slurm_local.sh`` (not a pytest module).

    tests/cluster/slurm_local.sh up && .venv/bin/python tests/cluster/submitit_smoke.py [FOLDER]

Checks map_array results, an exception surfacing through job.result(), and job.cancel().
"""

from __future__ import annotations

import sys
import tempfile
import time

import submitit


def square(x: int) -> int:
    return x * x


def boom(x: int) -> int:
    raise ValueError(f"boom {x}")


def sleeper(seconds: float) -> str:
    time.sleep(seconds)
    return "woke up"


def main() -> int:
    folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="pcbench-submitit-")
    ex = submitit.AutoExecutor(folder=folder)
    print("executor:", ex.cluster)
    ex.update_parameters(slurm_partition="debug", timeout_min=5, cpus_per_task=1)

    t0 = time.monotonic()
    jobs = ex.map_array(square, [1, 2, 3])
    results = [j.result() for j in jobs]
    print(f"map_array results {results} in {time.monotonic() - t0:.1f} s; states {[j.state for j in jobs]}")
    assert results == [1, 4, 9], results

    t0 = time.monotonic()
    bad = ex.submit(boom, 7)
    try:
        bad.result()
    except submitit.core.utils.FailedJobError as e:
        assert "boom 7" in str(e), str(e)
        print(f"raising job: FailedJobError surfaced in {time.monotonic() - t0:.1f} s; state {bad.state}")
    else:
        raise AssertionError("the raising job did not raise")

    t0 = time.monotonic()
    slow = ex.submit(sleeper, 300)
    while slow.state != "RUNNING" and time.monotonic() - t0 < 60:
        time.sleep(1)
    slow.cancel()
    try:
        slow.result()
    except Exception as e:  # noqa: BLE001 - report whatever submitit raises
        print(f"cancelled job: {type(e).__name__} after {time.monotonic() - t0:.1f} s; state {slow.state}")
        print("   ", str(e).splitlines()[0])
    else:
        raise AssertionError("the cancelled job returned a result")
    print("submitit smoke OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
