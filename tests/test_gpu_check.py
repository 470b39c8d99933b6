"""The GPU check (``benchmarks/gpu_check.py``) and what it carries to a lent GPU machine (``benchmarks/gpu_carry.py``):
every dependency of zoo is either in the machine's image or carried, at the versions CI tests; the bytes a call
sends are counted as the call counts them; and the dry run runs every stage on the CPU into an output folder."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

from zoo.bench.profiles import load_profile

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@pytest.fixture(scope="module")
def scripts():
    """The modules ``gpu_carry`` and ``gpu_check``, imported as the scripts import each other (``benchmarks/`` on
    the path)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import gpu_carry
        import gpu_check

        yield gpu_carry, gpu_check
    finally:
        sys.path.remove(str(BENCHMARKS))


def names(requirements: list[str]) -> set[str]:
    """Normalised distribution names of requirement strings, those only needed by an extra left out."""
    found = set()
    for requirement in requirements:
        if "extra ==" in requirement:
            continue
        found.add(re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group()).lower())
    return found


def test_every_dependency_of_zoo_is_in_the_device_image_or_carried(scripts):
    carry, _ = scripts
    declared = names(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    assert declared <= set(carry.DEVICE_IMAGE) | set(carry.MISSING_ON_DEVICE), declared - set(carry.DEVICE_IMAGE)


def test_what_is_carried_needs_nothing_the_device_lacks(scripts):
    carry, _ = scripts
    available = set(carry.DEVICE_IMAGE) | set(carry.MISSING_ON_DEVICE) | set(carry.FALLBACK)
    for package in carry.MISSING_ON_DEVICE:
        needed = names(importlib.metadata.requires(package) or [])
        assert needed <= available, f"{package} needs {needed - available}"


def test_the_carried_versions_are_pinned_and_those_zoo_needs_are_the_ones_tested_here(scripts):
    carry, _ = scripts
    assert set(carry.pins(carry.FALLBACK)) == set(carry.FALLBACK)
    pinned = carry.pins(carry.MISSING_ON_DEVICE)
    assert pinned == {name: importlib.metadata.version(name) for name in pinned}


def test_the_bytes_a_run_call_sends_are_the_files_git_would_not_ignore(scripts, tmp_path):
    carry, _ = scripts
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=checkout, check=True)
    (checkout / ".gitignore").write_text("/.gpu/\n")
    (checkout / "tracked.txt").write_bytes(b"t" * 100)
    subprocess.run(["git", "add", "."], cwd=checkout, check=True)
    (checkout / "untracked.txt").write_bytes(b"u" * 50)
    (checkout / ".gpu").mkdir()
    (checkout / ".gpu" / "wheel.whl").write_bytes(b"w" * 1000)
    assert carry.checkout_bytes(checkout) == len("/.gpu/\n") + 150
    assert carry.folder_bytes(checkout / ".gpu") == 1000

    subprocess.run(["rm", "-rf", str(checkout / ".git")], check=True)  # the copy on the machine: what travelled
    (checkout / "__pycache__").mkdir()
    (checkout / "__pycache__" / "x.pyc").write_bytes(b"p" * 10)
    assert carry.checkout_bytes(checkout) == len("/.gpu/\n") + 150 + 1000


def test_a_profile_written_by_the_check_reads_back_as_the_profile_it_was(scripts, tmp_path):
    _, check = scripts
    values = tomllib.loads(check.GPU_PROFILE.read_text())
    path = tmp_path / "again.toml"
    path.write_text(check.profile_toml(values))
    assert tomllib.loads(path.read_text()) == values
    assert load_profile(path).protocols == load_profile("gpu").protocols


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_dry_run_runs_every_stage_on_the_cpu_and_writes_the_figures(tiny_mnist_root, tmp_path):
    out, carry = tmp_path / "out", tmp_path / "carry"  # nothing carried: the dry run installs the checkout alone
    command = [sys.executable, str(BENCHMARKS / "gpu_check.py"), str(out), "--dry-run", "--carry", str(carry)]
    done = subprocess.run(
        [*command, "--data-root", str(tiny_mnist_root)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["gpu_check.json", "gpu_check.md", "gpu_check.log", "bench_results.tar.gz"]
    )
    record = json.loads((out / "gpu_check.json").read_text())
    stages = record["stages"]
    log = (out / "gpu_check.log").read_text()[-4000:]
    ran = ["install", "cuda_tests", "throughput", "stacked", "eval_split", "bench", "plan", "concurrency"]
    assert {name: stages[name]["status"] for name in ran} == dict.fromkeys(ran, "ok"), (stages, log)
    assert stages["compiled"]["status"] == "skipped" and "C++ compilation" in stages["compiled"]["reason"]
    assert [(r["model"], r["stack"]) for r in stages["stacked"]["figures"]["stacked"]] == [
        ("dcgan", s) for s in (1, 3, 8)
    ]

    assert Path(record["environment"]["zoo"]).name == "__init__.py" and "site" in record["environment"]["zoo"]
    tests = stages["cuda_tests"]["figures"]["tests"]
    assert tests["test_the_model_contract_holds_on_the_device[dcgan]"]["outcome"] == "passed"
    assert tests["test_compiled_steps_match_eager_steps"]["outcome"] == "skipped"
    loop = stages["throughput"]["figures"]["loop"]
    assert {(r["model"], r["mode"]) for r in loop} == {("dcgan", "fp32"), ("dcgan", "bf16")}
    assert all(r["zoo_img_s"] > 0 and r["bare_img_s"] > 0 for r in loop)
    split = stages["eval_split"]["figures"]
    assert split["samples"] == 16 and split["inception_weights"].startswith("untrained")
    assert {
        "sampling",
        "classifier_fid",
        "classifier_kid",
        "classifier_prc",
        "swd",
        "copy_share_pixels",
        "inception_features_generated",
        "inception_fid",
        "score_point",
    } <= set(split["seconds"])
    cells = [c for c in stages["bench"]["figures"]["cells"] if c["model"] != "real-data"]
    assert {c["model"] for c in cells} == {"dcgan", "vae"} and all(c["train_seconds"] > 0 for c in cells)
    plan = stages["plan"]["figures"]
    assert set(plan["steps_per_model"]) == {"dcgan", "vae"} and plan["target_seconds"] == 70
    assert [c["cells_at_once"] for c in stages["concurrency"]["figures"]["concurrency"]] == [1, 2]
    summary = (out / "gpu_check.md").read_text()
    assert "# GPU check: dry run on the CPU" in summary and "## Proposed gpu profile budgets" in summary
    with tarfile.open(out / "bench_results.tar.gz") as archive:
        assert "gpu-check/results.csv" in archive.getnames()
