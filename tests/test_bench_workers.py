"""The bench's driver and workers: failures of every kind recorded while the other cells finish, Ctrl-C and kill -9,
two benches sharing one results folder, cell keys, derived tables, reserved names, corrupt files."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import cli_args, hooked_plugin_source, smoke_profile, toy_plugin_source, zoo
from zoo.bench import load_profile
from zoo.bench.claims import Claims
from zoo.bench.executors import LocalExecutor
from zoo.bench.runner import Bench
from zoo.bench.worker import CellRun
from zoo.errors import ZooError
from zoo.plugin_code import code_sha256
from zoo.plugins import ZooPluginWarning, load_registry
from zoo.results import Cell, ResultStore

ZOO = str(Path(sys.executable).parent / "zoo")


def bench(profile: Path, results: Path, data_root: Path, *args: str):
    return zoo("bench", *args, profile=profile, results=results, work_dir=results / "work", data_root=data_root)


def bench_process(profile: Path, results: Path, data_root: Path, *args: str, site: Path | None = None):
    """``zoo bench`` as a user starts it: its own process (with the packages in ``site`` importable)."""
    command = [ZOO, *cli_args("bench", *args, profile=profile, results=results, work_dir=results / "work")]
    path = os.pathsep.join(filter(None, [str(site or ""), os.environ.get("PYTHONPATH", "")]))  # ours, then the tested
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    return subprocess.Popen(
        [*command, "--data-root", str(data_root)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def wait_for(condition, seconds: float = 240) -> None:
    deadline = time.time() + seconds
    while not condition():
        assert time.time() < deadline, "timed out waiting"
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def worker_pids(results: Path) -> dict[str, int]:
    """Cell name -> the worker process running it, from the claims' owner files."""
    found = {}
    for owner in (results / ".claims").glob("*/*.owner"):
        try:
            pid = json.loads(owner.read_text()).get("worker_pid")
        except (OSError, ValueError):
            continue
        if pid:
            found[owner.stem] = pid
    return found


TWISTED = """
    import ctypes, os, time
    from toy_gan import GANTrainer, ModelSpec, ToyDiscriminator, ToyGenerator, build, hookimpl

    def with_step(step):
        def factory(image_shape, num_classes, *, latent_dim: int = 4):
            trainer = build(image_shape, num_classes, latent_dim=latent_dim)
            trainer.train_step = step
            return trainer
        return factory

    def exits(batch):
        os._exit(1)

    def hangs(batch):
        time.sleep(3600)

    def raises(batch):
        raise RuntimeError("kernel exploded")

    def segfaults(batch):
        ctypes.string_at(0)

    def returns_none(batch):
        return None

    class WrongShapeWhenSampling(ToyGenerator):
        def forward(self, z, labels=None):
            images = super().forward(z, labels)
            return images if self.training else images[:, :, :14]

    class RaisesWhenSampling(ToyGenerator):
        def forward(self, z, labels=None):
            if not self.training:
                raise RuntimeError("no eval mode here")
            return super().forward(z, labels)

    def with_generator(cls):
        def factory(image_shape, num_classes, *, latent_dim: int = 4):
            return GANTrainer(cls(image_shape, latent_dim), ToyDiscriminator(image_shape), lr=1e-3, betas=(0.5, 0.9))
        return factory

    def not_a_trainer(image_shape, num_classes, *, latent_dim: int = 4):
        return {"generator": None}

    FACTORIES = {
        "toy_exit": with_step(exits), "toy_hang": with_step(hangs), "toy_raise": with_step(raises),
        "toy_segfault": with_step(segfaults), "aa_none": with_step(returns_none),
        "aa_shape": with_generator(WrongShapeWhenSampling), "aa_eval": with_generator(RaisesWhenSampling),
        "aa_dict": not_a_trainer,
    }

    @hookimpl
    def register_models(register):
        for name, factory in FACTORIES.items():
            register(ModelSpec(name=name, family="gan", conditional=False, paper="none (a test fixture)",
                               factory=factory, license="MIT"))
"""


@pytest.fixture
def twisted(install_plugin) -> Path:
    """A distribution whose models fail in every way a plugin can; returns its site folder."""
    return install_plugin(
        "zoo-twisted", {"twisted": "toy_twisted"}, {"toy_gan": toy_plugin_source(), "toy_twisted": TWISTED}
    )


def failures(results: Path) -> dict[str, dict]:
    return {f["model"]: f for f in ResultStore(results).failures()}


@pytest.mark.slow
def test_exit_segfault_hang_and_exception_are_recorded_with_their_cause_while_the_others_finish(
    twisted, tiny_mnist_root, tmp_path
):
    profile = smoke_profile(tmp_path)
    models = ["toy_exit", "toy_segfault", "toy_hang", "toy_raise", "vae"]
    result = bench(profile, tmp_path, tiny_mnist_root, *models, "--workers", "2", "--cell-timeout", "30")
    assert result.exit_code == 1 and "Traceback" not in result.output
    found = failures(tmp_path / "tiny")
    assert set(found) == {"toy_exit", "toy_segfault", "toy_hang", "toy_raise"}
    assert found["toy_exit"]["kind"] == "died" and "exited with status 1" in found["toy_exit"]["cause"]
    assert found["toy_segfault"]["kind"] == "died" and "SIGSEGV" in found["toy_segfault"]["cause"]
    assert found["toy_hang"]["kind"] == "timed out" and "time limit of 30 s" in found["toy_hang"]["cause"]
    assert found["toy_raise"]["kind"] == "error" and "kernel exploded" in found["toy_raise"]["cause"]
    rows = ResultStore(tmp_path / "tiny").rows()
    assert set(rows["model"]) == {"real-data", "vae"}, "failures are not results"
    assert "vae on mnist, seed 0: ok" in result.output
    assert "4 cell(s) failed and were not recorded" in result.stderr
    report = (tmp_path / "tiny" / "leaderboard.md").read_text()
    assert "toy_segfault on mnist, seed 0" in report and "SIGSEGV" in report, "the report lists the failures"


def test_a_plugin_failing_while_building_training_or_sampling_fails_only_its_cell(twisted, tiny_mnist_root, tmp_path):
    """Models named aa_* run first (cells go in name order): none of them may stop the built-in after them."""
    profile = smoke_profile(tmp_path)
    result = bench(profile, tmp_path, tiny_mnist_root, "aa_dict", "aa_none", "aa_shape", "aa_eval", "vae")
    assert result.exit_code == 1 and "Traceback" not in result.output
    found = failures(tmp_path / "tiny")
    assert found["aa_dict"]["cause"].startswith("building the model: PluginError: the factory of 'aa_dict' returned")
    assert found["aa_none"]["cause"].startswith("training: PluginError: train_step returned NoneType at step 1")
    assert found["aa_shape"]["cause"].startswith("sampling and scoring at step 10: ValueError")
    assert found["aa_eval"]["cause"].startswith("sampling and scoring at step 10: RuntimeError: no eval mode here")
    assert "vae on mnist, seed 0: ok" in result.output
    assert set(ResultStore(tmp_path / "tiny").rows()["model"]) == {"real-data", "vae"}


@pytest.mark.filterwarnings("ignore::zoo.plugins.ZooPluginWarning")
def test_bench_all_runs_every_model_that_does_not_clash_and_reports_the_clash(
    install_plugin, monkeypatch, tiny_mnist_root, tmp_path
):
    install_plugin("zoo-toy-a", {"toy_a": "toy_a"}, {"toy_a": toy_plugin_source("toy")})
    install_plugin("zoo-toy-b", {"toy_b": "toy_b"}, {"toy_b": toy_plugin_source("toy")})
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "toy_a,toy_b,vae,torchvision_datasets")
    result = bench(smoke_profile(tmp_path), tmp_path, tiny_mnist_root, "--all")
    assert result.exit_code == 1
    assert "toy: left out: model name clash: 'toy' is registered by both zoo-toy-a" in result.output
    assert "'toy' is registered by both" in result.stderr and "Traceback" not in result.output
    assert set(ResultStore(tmp_path / "tiny").rows()["model"]) == {"real-data", "vae"}


SLOW = """
    def before_step(call):
        time.sleep(0.2)
"""


@pytest.mark.slow
def test_two_benches_on_one_results_folder_share_the_cells(install_plugin, tiny_mnist_root, tmp_path):
    modules = {"toy_gan": toy_plugin_source(), "toy_slow": hooked_plugin_source("toy_slow", SLOW)}
    site = install_plugin("zoo-slow", {"slow": "toy_slow"}, modules)
    profile = smoke_profile(tmp_path, seeds="[0, 1, 2, 3]")
    first = bench_process(profile, tmp_path, tiny_mnist_root, "toy_slow", "--workers", "1", site=site)
    wait_for(lambda: worker_pids(tmp_path / "tiny") or first.poll() is not None)
    second = bench_process(profile, tmp_path, tiny_mnist_root, "toy_slow", "--workers", "1", site=site)
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    trained = [set(re.findall(r"(toy_slow on mnist, seed \d): ok", out)) for out, _ in outputs]
    assert not trained[0] & trained[1], f"both benches trained {trained[0] & trained[1]}"
    assert trained[0] | trained[1] == {f"toy_slow on mnist, seed {s}" for s in range(4)}
    rows = ResultStore(tmp_path / "tiny").rows()
    assert not rows[["model", "seed", "step", "metric"]].astype(str).duplicated().any()
    assert sorted(rows[rows["model"] == "toy_slow"]["seed"].unique()) == [0, 1, 2, 3]


@pytest.mark.slow
def test_kill_9_of_the_driver_loses_at_most_the_running_cells_and_leaves_no_worker(tiny_mnist_root, tmp_path):
    """A hard kill (no chance to clean up): its workers die with it, the rerun adds exactly the rest."""
    profile = smoke_profile(tmp_path, seeds="[0, 1, 2]")
    results, first_cell = tmp_path / "tiny", tmp_path / "tiny" / "cells" / "mnist" / "dcgan-s0.json"
    process = bench_process(profile, tmp_path, tiny_mnist_root, "dcgan", "--workers", "2")
    try:
        wait_for(lambda: first_cell.exists() or process.poll() is not None)
        running = worker_pids(results)
        process.send_signal(signal.SIGKILL)
    finally:
        process.communicate(timeout=30)
    assert first_cell.exists(), "the first cell never finished"
    for pid in running.values():
        wait_for(lambda pid=pid: not alive(pid), 20)
    finished_before = set(p.name for p in first_cell.parent.glob("*.json"))
    assert finished_before < {"real-data.json", "dcgan-s0.json", "dcgan-s1.json", "dcgan-s2.json"}

    rerun = bench_process(profile, tmp_path, tiny_mnist_root, "dcgan", "--workers", "2")
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err
    assert "dcgan on mnist, seed 0: finished earlier, skipped" in out
    rows = ResultStore(results).rows()
    keys = rows[["model", "seed", "step", "protocol_id", "metric"]].astype(str)
    assert not keys.duplicated().any(), "duplicated rows"
    counts = rows[rows["model"] == "dcgan"].groupby("seed")["metric"].count()
    assert counts.to_dict() == {0: counts[0], 1: counts[0], 2: counts[0]}, "missing rows"
    assert not list(results.rglob("*.tmp")), "a partial file was left behind"


@pytest.mark.slow
def test_ctrl_c_ends_the_workers_and_keeps_every_finished_cell(twisted, tiny_mnist_root, tmp_path):
    profile = smoke_profile(tmp_path)
    process = bench_process(profile, tmp_path, tiny_mnist_root, "toy_hang", "vae", "--workers", "2", site=twisted)
    results = tmp_path / "tiny"
    vae = ResultStore(results).cell_path(Cell("vae", "mnist", 0))
    wait_for(lambda: (vae.exists() and "toy_hang-s0" in worker_pids(results)) or process.poll() is not None)
    hung = worker_pids(results)["toy_hang-s0"]
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 1 and "interrupted: finished cells are kept" in err
    assert "leaked semaphore" not in err and err.strip().splitlines()[-1].startswith("Error: interrupted")
    wait_for(lambda: not alive(hung), 10)
    assert vae.exists() and set(ResultStore(results).rows()["model"]) == {"real-data", "vae"}
    assert not worker_pids(results), "claims released"
    assert json.loads((results / "invocations.json").read_text())[-1]["interrupted"] is True


@pytest.mark.slow
def test_a_dead_owner_never_holds_a_claim(tmp_path):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from zoo.bench.claims import Claims; from zoo.results import Cell; "
            f"claim = Claims({str(tmp_path)!r}).try_claim(Cell('vae', 'mnist', 0)); print(claim is not None, "
            "flush=True); time.sleep(600)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "True"
    claims, cell = Claims(tmp_path), Cell("vae", "mnist", 0)
    assert claims.try_claim(cell) is None and claims.holder(cell).startswith(f"pid {holder.pid} on ")
    holder.kill()
    holder.wait()
    claim = claims.try_claim(cell)
    assert claim is not None
    claim.release()


@pytest.mark.slow
def test_changed_settings_rerun_a_cell_and_its_rows_record_them(tiny_mnist_root, tmp_path):
    profile = smoke_profile(tmp_path, steps="20")
    assert bench(profile, tmp_path, tiny_mnist_root, "vae").exit_code == 0
    store = ResultStore(tmp_path / "tiny")
    before = store.rows()
    assert json.loads(before[before["model"] == "vae"]["hparams"].iloc[0])["latent_dim"] > 0
    assert before["precision"].eq("fp32").all() and not before["compiled"].any()

    smoke_profile(tmp_path, steps="24")
    again = bench(profile, tmp_path, tiny_mnist_root, "vae")
    assert again.exit_code == 0, again.output
    assert (
        "vae on mnist, seed 0: settings changed (eval_steps [10, 20] -> [10, 24]; run.steps 20 -> 24)" in again.output
    )
    after = store.rows()
    vae = after[after["model"] == "vae"]
    assert vae["step"].max() == 24 and 20 not in set(vae["step"]), "old and new settings are never mixed"
    assert vae["cell_key"].nunique() == 1 and vae["cell_key"].iloc[0] != before["cell_key"].iloc[-1]
    assert list((tmp_path / "tiny" / "superseded" / "mnist").glob("vae-s0-*.json")), "the old cell is kept aside"

    smoke_profile(tmp_path, steps="24", hparams_per_model="{ vae = { latent_dim = 3 } }")
    third = bench(profile, tmp_path, tiny_mnist_root, "vae")
    assert "settings changed (run.hparams.latent_dim 4 -> 3)" in third.output
    assert json.loads(store.rows().query("model == 'vae'")["hparams"].iloc[0])["latent_dim"] == 3


@pytest.mark.slow
def test_a_new_plugin_version_reruns_its_cells(install_plugin, tiny_mnist_root, tmp_path):
    profile = smoke_profile(tmp_path)
    install_plugin("zoo-toy", {"toy": "toy_gan"}, {"toy_gan": toy_plugin_source()}, version="1.0")
    assert bench(profile, tmp_path, tiny_mnist_root, "toy").exit_code == 0
    info = next((tmp_path / "site").glob("zoo_toy-1.0.dist-info"))
    info.rename(info.with_name("zoo_toy-1.1.dist-info"))
    (info.with_name("zoo_toy-1.1.dist-info") / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: zoo-toy\nVersion: 1.1\n"
    )
    result = bench(profile, tmp_path, tiny_mnist_root, "toy")
    assert "settings changed (plugin.version '1.0' -> '1.1')" in result.output
    assert set(ResultStore(tmp_path / "tiny").rows().query("model == 'toy'")["plugin_version"]) == {"1.1"}


@pytest.mark.slow
def test_editing_an_editable_plugin_reruns_its_cells(install_plugin, tiny_mnist_root, tmp_path):
    profile = smoke_profile(tmp_path)
    source = install_plugin("zoo-toy", {"toy": "toy_gan"}, {"toy_gan/__init__": toy_plugin_source()}, editable=True)
    assert bench(profile, tmp_path, tiny_mnist_root, "toy").exit_code == 0
    store = ResultStore(tmp_path / "tiny")
    [before] = set(store.rows().query("model == 'toy'")["plugin_code"])
    assert before == code_sha256("zoo-toy")[:12]

    module = source / "toy_gan" / "__init__.py"
    module.write_text(module.read_text().replace("nn.Tanh()", "nn.Hardtanh()"))  # new code, same version
    again = bench(profile, tmp_path, tiny_mnist_root, "toy")
    assert again.exit_code == 0, again.output
    assert "finished earlier, skipped" not in again.output
    assert "toy on mnist, seed 0: settings changed (plugin.code_sha256" in again.output
    [after] = set(store.rows().query("model == 'toy'")["plugin_code"])
    assert after == code_sha256("zoo-toy")[:12] != before
    assert list((tmp_path / "tiny" / "superseded" / "mnist").glob("toy-s0-*.json")), "the old cell is kept aside"
    assert "finished earlier, skipped" in bench(profile, tmp_path, tiny_mnist_root, "toy").output


@pytest.mark.parametrize("plugin", ["plugin", "dataset_plugin"])
def test_a_worker_refuses_plugin_code_other_than_the_bench_was_planned_with(plugin, tiny_mnist_root, tmp_path):
    planner = Bench(
        load_registry(),
        load_profile(smoke_profile(tmp_path)),
        results_dir=tmp_path / "results",
        work_dir=tmp_path / "work",
        executor=LocalExecutor(["cpu"]),
        data_root=tiny_mnist_root,
    )
    [job] = [job for job in planner.plan(["vae"]).jobs if not job.cell.is_floor]
    CellRun(job).plugins()  # as planned: accepted
    elsewhere = {**job.key, plugin: {**job.key[plugin], "code_sha256": "0" * 64}}
    version, code = job.key[plugin]["version"], job.key[plugin]["code_sha256"][:12]
    said = f"has genzoo {version} (code {code}), the bench was planned with genzoo {version} (code 000000000000)"
    with pytest.raises(ZooError, match=re.escape(said)):
        CellRun(dataclasses.replace(job, key=elsewhere)).plugins()


@pytest.mark.slow
def test_a_rerun_rebuilds_a_results_table_a_crash_left_stale(tiny_mnist_root, tmp_path):
    profile = smoke_profile(tmp_path)
    assert bench(profile, tmp_path, tiny_mnist_root, "vae").exit_code == 0
    table = tmp_path / "tiny" / "results.csv"
    complete = pd.read_csv(table)
    table.write_text(table.read_text().splitlines()[0] + "\n")  # as a crash after the cell file would leave it
    again = bench(profile, tmp_path, tiny_mnist_root, "vae")
    assert again.exit_code == 0 and "finished earlier, skipped" in again.output
    assert len(pd.read_csv(table)) == len(complete)


def test_real_data_is_a_reserved_model_name(install_plugin):
    install_plugin("zoo-impostor", {"impostor": "toy_impostor"}, {"toy_impostor": toy_plugin_source("real-data")})
    with pytest.warns(ZooPluginWarning, match="model name 'real-data' is reserved"):
        registry = load_registry()
    assert "real-data" not in registry.models
    with pytest.raises(ValueError, match="only the real-data floor has no seed"):
        Cell("real-data", "mnist", 0)
    assert Cell.floor("mnist").name == "real-data" and Cell("real", "mnist", 0).name == "real-s0"


@pytest.mark.parametrize("content", ["", "{not json", '{"rows": 3}'])
def test_an_empty_or_corrupt_cell_file_is_a_one_line_error_naming_it(tiny_mnist_root, tmp_path, content):
    cell = tmp_path / "tiny" / "cells" / "mnist" / "vae-s0.json"
    cell.parent.mkdir(parents=True)
    cell.write_text(content)
    for result in (
        zoo("leaderboard", profile="tiny", results=tmp_path),
        bench(smoke_profile(tmp_path), tmp_path, tiny_mnist_root, "vae"),
    ):
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert str(cell) in result.stderr and "delete it and rerun zoo bench" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_a_damaged_invocations_json_is_kept_aside_and_the_bench_goes_on(tiny_mnist_root, tmp_path):
    history = tmp_path / "tiny" / "invocations.json"
    history.parent.mkdir(parents=True)
    history.write_text('[{"command": "zoo bench vae", "wall')  # as a full disk may leave it
    result = bench(smoke_profile(tmp_path), tmp_path, tiny_mnist_root, "vae")
    assert result.exit_code == 0, result.output
    [aside] = history.parent.glob("invocations.json.damaged-*")
    assert aside.read_text() == '[{"command": "zoo bench vae", "wall'
    [warning] = [line for line in result.stderr.splitlines() if "invocations.json" in line]
    assert warning.startswith("warning: ") and f"kept aside as {aside.name}" in warning
    assert [record["command"].split()[:3] for record in json.loads(history.read_text())] == [["zoo", "bench", "vae"]]

    history.write_text("{}")
    shown = zoo("leaderboard", profile="tiny", results=tmp_path)
    assert shown.exit_code == 0 and "vae" in shown.stdout and history.read_text() == "{}", "a reader only warns"
    assert "invocations.json is damaged" in shown.stderr and "Traceback" not in shown.output


def test_run_options_are_checked(tmp_path):
    misplaced = zoo("bench", "vae", "--address", "auto")
    assert misplaced.exit_code == 2 and "--address is for --executor ray" in misplaced.stderr
    zero = zoo("bench", "vae", "--workers", "0")
    assert zero.exit_code == 2 and "--workers" in zero.stderr
    bad = smoke_profile(tmp_path, cell_timeout="-1")
    negative = zoo("bench", "vae", profile=bad)
    assert negative.exit_code == 1 and "cell_timeout: input should be greater than 0, got -1" in negative.stderr
    endless = zoo("bench", "vae", profile=smoke_profile(tmp_path, name="endless", cell_timeout="inf"))
    assert endless.exit_code == 1 and "cell_timeout: input should be a finite number, got inf" in endless.stderr
