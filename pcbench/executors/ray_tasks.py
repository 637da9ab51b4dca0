"""``--executor ray``: one Ray task per work unit (``pip install 'pcbench[ray]'``).

Without ``--ray-address`` a local Ray cluster is started in this process (``cluster_cpus``
CPUs, default all) and stops when the run ends; with one, the tasks go to that running
cluster, whose workers must see the same results directory and registry (with Ray's token
authentication, this process needs the cluster's ``RAY_AUTH_MODE`` and ``RAY_AUTH_TOKEN``). Each task asks
for ``num_cpus`` CPUs (torch uses that many threads) and ``num_gpus`` GPUs, and is never
retried by Ray: a rerun of ``pcbench run`` resubmits what is missing.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Callable

from pcbench.errors import PcbenchError
from pcbench.executors.options import ExecutorOptions
from pcbench.executors.units import Submission, WorkUnit

#: Seconds to wait for a TCP connection to ``--ray-address`` before calling it unreachable.
CONNECT_TIMEOUT_S = 5.0


def check(options: ExecutorOptions) -> None:
    """Refuse a missing extra or an unreachable address before anything is submitted."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise PcbenchError(
            "--executor ray needs Ray, which is not installed; install the extra: pip install 'pcbench[ray]'"
        ) from None
    if options.detach:
        raise PcbenchError("--detach needs --executor slurm (Ray ends a driver's tasks with the driver)")
    address = options.ray.address
    if address is not None and address != "auto":
        host, _, port = address.removeprefix("ray://").rpartition(":")
        if not host or not port.isdigit():
            raise PcbenchError(f"--ray-address {address!r} is not allowed; allowed: HOST:PORT of a Ray head, or auto")
        try:
            speaks_grpc = _answers_http2(host, int(port))
        except OSError as error:
            raise PcbenchError(
                f"--ray-address {address}: no Ray cluster answers there ({error.strerror or error}); "
                "start one (ray start --head) or leave --ray-address out to start a local one"
            ) from None
        if not speaks_grpc:
            raise PcbenchError(
                f"--ray-address {address}: the service there is not a Ray head (it does not speak gRPC); "
                "allowed: the GCS address ray start --head prints (default port 6379), or auto"
            )


#: HTTP/2's client connection preface, then an empty SETTINGS frame (RFC 9113, section 3.4).
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
#: Frame type of SETTINGS, which an HTTP/2 server sends first.
_HTTP2_SETTINGS = 4


def _answers_http2(host: str, port: int) -> bool:
    """Whether the server at ``host:port`` answers HTTP/2's preface with a SETTINGS frame, as
    every gRPC server (Ray's GCS, Ray Client) does; within :data:`CONNECT_TIMEOUT_S`. A service
    that answers otherwise, or not at all in time, is not Ray (``ray.init`` would retry against
    it for many minutes). OSError when nothing accepts the connection."""
    with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as connection:
        try:
            connection.sendall(_HTTP2_PREFACE)
            header = b""
            while len(header) < 9:
                chunk = connection.recv(9 - len(header))
                if not chunk:
                    return False
                header += chunk
        except TimeoutError:
            return False
    return header[3] == _HTTP2_SETTINGS


def submit(units: list[WorkUnit], task: Callable[[WorkUnit], None], options: ExecutorOptions) -> Submission:
    """Connect to (or start) the cluster and submit one task per unit."""
    import ray

    settings = options.ray
    try:
        if settings.address is None:
            ray.init(num_cpus=settings.cluster_cpus, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=settings.address, log_to_driver=False)
    except (ConnectionError, RuntimeError) as error:
        raise PcbenchError(
            f"--ray-address {settings.address}: could not join the Ray cluster there ({_first_line(error)}); a "
            "cluster with token authentication needs RAY_AUTH_MODE=token and its RAY_AUTH_TOKEN in this environment"
            if settings.address is not None
            else f"--executor ray: could not start a local Ray cluster ({_first_line(error)})"
        ) from None
    remote = ray.remote(num_cpus=settings.num_cpus, num_gpus=settings.num_gpus, max_retries=0)(task)
    threads = max(1, math.floor(settings.num_cpus))
    refs = [
        remote.remote(unit.placed("cuda" if settings.num_gpus else unit.settings.device, threads=threads))
        for unit in units
    ]
    failures: dict[int, str] = {}
    finished: set[int] = set()

    def done() -> bool:
        waiting = [ref for index, ref in enumerate(refs) if index not in finished]
        ready, _ = ray.wait(waiting, num_returns=len(waiting), timeout=0)
        for ref in ready:
            index = refs.index(ref)
            finished.add(index)
            try:
                ray.get(ref)
            except Exception as error:  # a task's exception or a crashed worker, reported per task
                failures[index] = _first_line(error)
        if len(finished) == len(refs):
            ray.shutdown()
            return True
        return False

    def cancel() -> None:
        for ref in refs:
            ray.cancel(ref, force=True)
        ray.shutdown()

    return Submission(f"ray:{ray.get_runtime_context().get_job_id()}", done, lambda: dict(failures), cancel)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"
