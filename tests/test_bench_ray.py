"""The Ray executor on a local Ray cluster (loopback only), started by the test: a worker killed mid-cell is retried
and every cell is recorded exactly once. Needs the optional extra (``pip install "genzoo[ray]"``; CI installs it)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import cli_args, hooked_plugin_source, smoke_profile, toy_plugin_source, zoo
from tests.test_sweep import SWEPT
from zoo.results import ResultStore

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason='Ray is not installed: pip install -c constraints.txt -e ".[ray]" (CI does)',
)

KILLED_ONCE = """
    def before_step(call):
        marker = Path({marker!r})
        if call == 5 and not marker.exists():  # the first attempt of the first cell to get here: kill -9 its worker
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
"""

DRIVER = """
import sys
import ray
from zoo.cli import main

ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", object_store_memory=100 * 2**20,
         runtime_env={{"env_vars": {{"PYTHONPATH": {site!r}, "OMP_WAIT_POLICY": "PASSIVE"}}}})
main(sys.argv[1:])
"""


def bench_on_ray(site: Path, *args: str) -> subprocess.CompletedProcess:
    """``zoo bench ARGS --executor ray`` in a fresh process that first starts a 2-CPU Ray cluster on 127.0.0.1; the
    driver and the workers import from ``site``, then from this process's ``PYTHONPATH``."""
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}
    code = DRIVER.format(site=path)
    command = [sys.executable, "-c", code, "bench", *args, "--executor", "ray"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_a_ray_worker_killed_mid_cell_is_retried_and_every_cell_is_recorded_once(
    install_plugin, tiny_mnist_root, tmp_path
):
    marker = tmp_path / "killed-worker.pid"
    source = hooked_plugin_source("toy_killed", KILLED_ONCE.format(marker=str(marker)))
    modules = {"toy_gan": toy_plugin_source(), "toy_killed": source}
    site = install_plugin("zoo-killed", {"killed": "toy_killed"}, modules)
    profile = smoke_profile(tmp_path, seeds="[0, 1]")
    args = cli_args("toy_killed", "vae", profile=profile, results=tmp_path, work_dir=tmp_path / "work")
    args += ["--data-root", str(tiny_mnist_root)]

    first = bench_on_ray(site, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert marker.exists(), "no worker was killed"
    assert "Ray cluster (2 CPUs, 0 GPUs)" in first.stdout
    rows = ResultStore(tmp_path / "tiny").rows()
    cells = rows[rows["model"] != "real-data"].groupby(["model", "seed"])
    assert sorted(cells.groups) == [("toy_killed", 0), ("toy_killed", 1), ("vae", 0), ("vae", 1)]
    assert cells["cell_key"].nunique().eq(1).all()
    keys = rows[["model", "seed", "step", "protocol_id", "metric"]].astype(str)
    assert not keys.duplicated().any(), "a retried cell was recorded twice"

    rerun = bench_on_ray(site, *args)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert rerun.stdout.count("finished earlier, skipped") == 4
    assert ResultStore(tmp_path / "tiny").rows().equals(rows)


@pytest.mark.slow
def test_a_sweep_on_ray_gets_the_rows_local_processes_get(install_plugin, tiny_mnist_root, tmp_path):
    """A 2-trial sweep of two tiny models (a third-party one and the VAE), once in two local worker processes and
    once as Ray tasks (one torch thread each way): the same cells, settings, keys and values."""
    site = install_plugin("zoo-swept", {"swept": "toy_swept"}, {"toy_swept": SWEPT})
    profile = smoke_profile(tmp_path, sweep="{ trials = 2, seed = 0 }")
    data = ["--data-root", str(tiny_mnist_root)]
    local = zoo("bench", "swept_gan", "vae", "--workers", "2", *data, profile=profile, results=tmp_path / "local",
                work_dir=tmp_path / "work-local")  # fmt: skip
    assert local.exit_code == 0, local.output
    args = cli_args("swept_gan", "vae", profile=profile, results=tmp_path / "ray", work_dir=tmp_path / "work-ray")
    on_ray = bench_on_ray(site, *args, *data)
    assert on_ray.returncode == 0, on_ray.stdout + on_ray.stderr
    assert "Ray cluster (2 CPUs, 0 GPUs)" in on_ray.stdout

    columns = ["model", "trial", "seed", "step", "protocol_id", "metric", "value", "status", "hparams", "cell_key"]
    local_rows, ray_rows = (
        ResultStore(tmp_path / where / "tiny").rows()[columns].sort_values(columns[:6], ignore_index=True)
        for where in ("local", "ray")
    )
    assert set(zip(local_rows["model"], local_rows["trial"].fillna(-1), strict=True)) == {
        ("real-data", -1), ("swept_gan", 0), ("swept_gan", 1), ("vae", 0), ("vae", 1)
    }  # fmt: skip
    assert local_rows.equals(ray_rows)
