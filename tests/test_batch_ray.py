"""The Ray runner on a real Ray cluster that this module starts on 127.0.0.1 (once) and stops after.

Paintings and frames must equal the local run's byte for byte; a Ray worker killed in the middle
of a job is retried by Ray and the job resumes from its checkpoint to the same bytes; a damaged
image fails alone.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys

import batch_series as series
import pytest
import yaml
from conftest import wait_until

from timelapse_nst.batch import BatchFolder

# Every test of this module on one xdist worker: one cluster start for all of them.
pytestmark = pytest.mark.xdist_group("ray-cluster")

# The cluster lives in its own process, so that stopping it (closing its stdin) takes nothing
# else down, and the batches under test join it by address as users join theirs.
HOLDER = """
import sys
from timelapse_nst.batch import ray_runner
print(ray_runner.start_local_cluster(num_cpus=2), flush=True)
sys.stdin.read()
ray_runner.disconnect()
"""


def require_ray() -> None:
    """Skip without Ray, except in CI, which installs the extra and must run these tests."""
    if importlib.util.find_spec("ray") is None:
        if os.environ.get("TIMELAPSE_NST_REQUIRE_TOOLS") == "1":
            pytest.fail("Ray is required here: pip install -e '.[test,ray]'", pytrace=False)
        pytest.skip("Ray is not installed: pip install 'timelapse-nst[ray]'")


@pytest.fixture(scope="module")
def cluster():
    require_ray()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    address = holder.stdout.readline().strip()
    try:
        assert address.startswith("127.0.0.1:"), f"the local cluster must listen on 127.0.0.1 only, got {address!r}"
        yield address
    finally:
        holder.stdin.close()
        try:
            holder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()


@pytest.fixture(scope="module")
def reference(tmp_path_factory, worker_id):
    return series.reference_series(tmp_path_factory, worker_id)


def test_a_series_on_ray_equals_the_local_run_and_a_damaged_image_fails_alone(cluster, reference, tmp_path):
    jobs = series.write_series(tmp_path / "inputs")
    out = tmp_path / "batch"
    process = series.start(str(jobs), "--out", str(out), "--weights", "random", "--ray", cluster, "--quiet")
    _, stderr = process.communicate(timeout=200)
    assert process.returncode == 3, stderr  # some failed
    assert "failed: damaged:" in stderr and "broken.png" in stderr and "Traceback" not in stderr
    folder = BatchFolder(out)
    for name in series.GOOD:
        assert folder.view(name).state == "done", name
        assert series.painting(out / "runs" / name) == series.painting(reference / "runs" / name), name
    assert folder.view("damaged").state == "failed"
    # They ran as Ray tasks, not in the batch process; batch.yaml says how.
    log = (out / "jobs" / "quick.log").read_text()
    assert f"(pid {process.pid})" not in log and yaml.safe_load(folder.manifest.read_text())["runner"] == "ray"
    assert folder.gallery.is_file() and folder.compilation.is_file()


def test_a_worker_killed_mid_job_is_retried_and_the_job_resumes_to_the_same_bytes(cluster, reference, tmp_path):
    only_slow = (
        series.JOBS.split("jobs:")[0]
        + "jobs:\n"
        + next(line for line in series.JOBS.splitlines() if "name: slow" in line)
    )
    jobs = series.write_series(tmp_path / "inputs", only_slow + "\n")
    out = tmp_path / "batch"
    slow = out / "runs" / "slow"
    process = series.start(str(jobs), "--out", str(out), "--weights", "random", "--ray", cluster, "--quiet")
    # SIGKILL the Ray worker rendering the job (its pid is in the run folder's lock), between checkpoints.
    wait_until(
        process,
        lambda: series.checkpointed(slow) >= 10 and series.frames(slow) >= series.checkpointed(slow) + 2,
        what="the point to stop the batch",
    )
    worker = series.lock_holder(slow)
    assert worker is not None and worker != process.pid
    os.kill(worker, signal.SIGKILL)
    _, stderr = process.communicate(timeout=200)
    assert process.returncode == 0, stderr
    assert not series.alive(worker) and series.attempts(out, "slow") == 2  # Ray started it again
    assert "continuing after iteration" in (out / "jobs" / "slow.log").read_text()
    assert series.painting(slow) == series.painting(reference / "runs" / "slow")
