"""Run jobs on a Ray cluster: each job one Ray task with its CPUs, GPUs and retries.

Ray does the scheduling, the placement on GPUs and the retries; we add only what a render
needs: the run folders live on a filesystem every node shares, and a retried task simply
renders again into its folder, which continues from the last checkpoint (``api.render``
resumes a folder that holds the same render). A lost worker or machine therefore costs at
most one checkpoint interval.

``auto`` joins the cluster this machine belongs to (``ray start``; ``RAY_ADDRESS``), or starts
a private one bound to 127.0.0.1 when there is none. Ray's token authentication stays on.
Ray is imported only here, and only when asked for.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from timelapse_nst.batch.folder import BatchFolder, Outcome
from timelapse_nst.batch.local import RunReport, StopRequests, Task
from timelapse_nst.errors import UserError, one_line

INSTALL_HINT = "pip install 'timelapse-nst[ray]'"
_CURRENT_CLUSTER = Path("/tmp/ray/ray_current_cluster")  # where `ray start` leaves the head's address
_CLUSTERS_FLAG = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # despite its name: "0" keeps Ray on loopback
_LOOPBACK = ("localhost", "::1")
_CONNECT_SECONDS = 10.0
# A lost node's lock on a network filesystem lasts until the server's lease ends (NFS: ~90 s).
LOCK_WAIT_SECONDS = 180.0
_PROBE_SECONDS = 120.0
_STOP_GRACE_SECONDS = 120.0
_POLL_SECONDS = 0.25


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(f"--ray needs Ray, which is not installed: {INSTALL_HINT}") from None
    # Ray's notes (e.g. that token authentication is on, which we keep) would scribble over the table.
    logging.getLogger("ray").setLevel(logging.ERROR)
    return ray


def connect(address: str, *, num_cpus: int | None = None) -> str:
    """Join the cluster at ``address`` ("auto": this machine's, else a new local one); its address.

    ``num_cpus`` sizes a local cluster that ``auto`` starts (default: this machine's CPUs).
    """
    if address == "auto":
        found = os.environ.get("RAY_ADDRESS") or _read(_CURRENT_CLUSTER)
        if not found:
            return start_local_cluster(num_cpus=num_cpus)
        address = found
    host, port = _host_port(address)
    _check_reachable(host, port, address)
    if host in _LOOPBACK or host.startswith("127."):
        _loopback_only()  # a cluster on 127.0.0.1 is this machine's: talk to it over loopback too
    _send_token()
    ray = _import_ray()
    try:
        ray.init(address=f"{host}:{port}", log_to_driver=False, configure_logging=False)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise UserError(f"cannot join the Ray cluster at {address}: {one_line(exc)}") from None
    return str(ray.get_runtime_context().gcs_address)


def start_local_cluster(*, num_cpus: int | None = None) -> str:
    """Start a one-machine cluster that listens on 127.0.0.1 only; returns its address."""
    _loopback_only()
    ray = _import_ray()
    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False, configure_logging=False)
    return str(ray.get_runtime_context().gcs_address)


def _loopback_only() -> None:
    """Ray binds to (and looks for) the machine's network address unless told that multi-machine
    clusters are off, a flag it reads once when first imported: set it before that."""
    if sys.modules.get("ray") is not None and os.environ.get(_CLUSTERS_FLAG) != "0":
        raise UserError(
            f"Ray was imported before timelapse-nst could keep a local cluster on 127.0.0.1: set "
            f"{_CLUSTERS_FLAG}=0 before importing ray, or give the address of a running cluster"
        )
    os.environ[_CLUSTERS_FLAG] = "0"


def _send_token() -> None:
    """Ray sends its token only to clusters it finds itself, not to an address it is given: ask it
    to, when this machine has a token (``ray get-auth-token``; RAY_AUTH_MODE set by the user wins)."""
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    if "RAY_AUTH_MODE" not in os.environ and (os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file()):
        os.environ["RAY_AUTH_MODE"] = "token"


def _host_port(address: str) -> tuple[str, int]:
    host, sep, port = address.strip().removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UserError(f"--ray {address}: expected auto or HOST:PORT of a cluster's head (ray start --head prints it)")
    return host.strip("[]"), int(port)


def _check_reachable(host: str, port: int, address: str) -> None:
    """Ray retries an address that does not answer for ever: fail fast with one line instead."""
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_SECONDS):
            pass
    except OSError as exc:
        raise UserError(
            f"no Ray cluster answers at {address} ({exc.strerror or exc}); start one with `ray start --head`"
        ) from None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def disconnect() -> None:
    """Leave the cluster (and stop it, when we started it)."""
    ray = _import_ray()
    if ray.is_initialized():
        ray.shutdown()


def node_resources() -> tuple[int, int]:
    """(CPUs, GPUs) of one node: the smallest node with GPUs if any has some, else the smallest."""
    ray = _import_ray()
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    with_gpus = [r for r in nodes if r.get("GPU", 0) >= 1]
    pick = min(with_gpus or nodes, key=lambda r: (r.get("CPU", 0), r.get("GPU", 0)))
    return int(pick.get("CPU", 1)), int(pick.get("GPU", 0))


def check_shared_folder(folder: BatchFolder) -> None:
    """Every live node must see the batch folder: it reads a file we wrote and writes one back."""
    from timelapse_nst.batch import worker

    ray = _import_ray()
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    token = secrets.token_hex(8)
    probe_file = folder.root / f".probe-{token}"
    probe_file.write_text(token, encoding="utf-8")
    probe = ray.remote(worker.probe_folder)
    try:
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        refs = {
            probe.options(
                num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            ).remote(str(folder.root), token): node
            for node in nodes
        }
        ready, waiting = ray.wait(list(refs), num_returns=len(refs), timeout=_PROBE_SECONDS)
        if waiting:
            where = refs[waiting[0]].get("NodeManagerAddress", "?")
            raise UserError(f"the Ray node {where} did not answer within {_PROBE_SECONDS:.0f} s")
        for ref in ready:
            problem = _probe_result(ray, ref)
            if problem:
                raise UserError(
                    f"{problem}; the batch folder must be on a filesystem every Ray node shares "
                    f"(NFS, a cluster filesystem) at the same path: pass --out on it"
                )
    finally:
        for path in folder.root.glob(f".probe-{token}*"):
            path.unlink(missing_ok=True)


def _probe_result(ray: Any, ref: Any) -> str:
    try:
        return str(ray.get(ref))
    except Exception as exc:  # e.g. the node cannot import timelapse_nst
        return f"a Ray node cannot run timelapse-nst ({one_line(exc)})"


class RayRunner:
    """Submits every task at once and lets Ray schedule them."""

    def __init__(self, folder: BatchFolder, *, weights: str, max_retries: int) -> None:
        self.folder, self.weights, self.max_retries = folder, weights, max_retries

    def run(self, tasks: list[Task], active: dict[str, str], on_outcome: Callable[[str, Outcome], None]) -> RunReport:
        ray = _import_ray()
        from timelapse_nst.batch import worker

        # One process per task (max_calls=1): a job that leaked memory or hit an OOM cannot harm
        # the next, and every job starts fresh, as a local one does.
        remote = ray.remote(max_calls=1)(worker.run_job)
        refs = {}
        for task in tasks:
            options = {"num_cpus": task.job.num_cpus, "num_gpus": task.job.num_gpus or 0}
            ref = remote.options(**options, max_retries=self.max_retries, retry_exceptions=False).remote(
                task.job, str(self.folder.root), weights=self.weights, threads=task.threads, lock_wait=LOCK_WAIT_SECONDS
            )
            refs[ref] = task
            active[task.job.name] = "queued"
        report = RunReport()
        with StopRequests().catching() as stops:
            cancelled = 0
            deadline = None
            while refs:
                if stops.count > cancelled:
                    # 1st: Ray interrupts each running task like a Ctrl-C (the render checkpoints
                    # and returns "stopped"), drops queued ones; 2nd: kills the workers now.
                    for ref in refs:
                        ray.cancel(ref, force=stops.count > 1)
                    cancelled = stops.count
                    deadline = time.monotonic() + _STOP_GRACE_SECONDS
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=_POLL_SECONDS)
                for ref in ready:
                    task = refs.pop(ref)
                    outcome = _task_outcome(ray, ref, stopping=stops.count > 0)
                    active.pop(task.job.name, None)
                    if outcome is not None:
                        report.outcomes[task.job.name] = outcome
                        on_outcome(task.job.name, outcome)
                if deadline is not None and time.monotonic() > deadline:
                    break
            report.stopped = stops.count > 0
        return report


def _task_outcome(ray: Any, ref: Any, *, stopping: bool) -> Outcome | None:
    """The task's own outcome, or why Ray gave up on it (None: cancelled before it began)."""
    try:
        return ray.get(ref)
    except ray.exceptions.TaskCancelledError:
        return None if stopping else Outcome("failed", "cancelled")
    except ray.exceptions.WorkerCrashedError as exc:
        return Outcome("stopped" if stopping else "failed", f"its worker died, retries used up: {one_line(exc)}")
    except ray.exceptions.RayError as exc:
        return Outcome("failed", f"Ray: {one_line(exc)}")
