"""Which worker setting benches fastest on this CPU: N workers x 1 thread, or 1 worker x N threads.

Runs the same cells twice per repeat, as a user would (``zoo bench --all --workers W``, a fresh driver each time,
into fresh results and work folders, so both compute their own reference features), alternating the order
(A B, B A, ...) so that drift in the machine's load hits both. The profile is a bench profile scaled down
(``--scale 0.1`` runs a tenth of each model's steps, evaluations included at the same fractions), so a repeat
takes minutes; ``--scale 1`` is the real thing.

    python benchmarks/workers.py --data-root ../shared/datasets [--profile cpu] [--scale 0.1] [--seeds 1] [--repeats 2]

Prints each run's wall time and the ratio of medians (many workers / one worker; below 1: more workers win),
with the load average before and after. Measure on a quiet machine: other processes' CPU load changes the result.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

from zoo.bench.executors import cpu_count
from zoo.bench.profiles import profile_path


def scaled_profile(name: str, scale: float, folder: Path) -> Path:
    """``name``'s profile with every step count multiplied by ``scale``, written to ``folder`` (its weights paths
    made absolute, so they resolve from there)."""
    source = profile_path(name)
    raw = tomllib.loads(source.read_text(encoding="utf-8"))
    raw["steps"] = _scaled(raw["steps"], scale)
    raw["eval_at"] = [_scaled(s, scale) for s in raw.get("eval_at", [])]
    raw["steps_per_model"] = {m: _scaled(s, scale) for m, s in raw.get("steps_per_model", {}).items()}
    protocols = raw.pop("protocols")
    for settings in protocols:
        if settings["weights"].endswith(".safetensors"):
            settings["weights"] = str((source.parent / settings["weights"]).resolve())
    lines = [f"{key} = {_toml(value)}" for key, value in raw.items()]
    for settings in protocols:
        lines += ["", "[[protocols]]", *(f"{key} = {_toml(value)}" for key, value in settings.items())]
    path = folder / f"{name}-scaled.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _scaled(steps: int, scale: float) -> int:
    return max(1, round(steps * scale))


def _toml(value: object) -> str:
    """A TOML value for the plain values profiles hold (strings, numbers, booleans, arrays, inline tables)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    return repr(value)


def bench_seconds(profile: Path, workers: int, args: argparse.Namespace, folder: Path) -> float:
    """Wall seconds of one ``zoo bench --all`` with ``workers`` workers, into fresh folders under ``folder``."""
    run = folder / f"w{workers}-{time.monotonic_ns()}"
    command = [str(Path(sys.executable).parent / "zoo"), "bench", "--all", "--profile", str(profile)]
    command += ["--workers", str(workers), "--results", str(run / "results"), "--work-dir", str(run / "work")]
    command += ["--data-root", args.data_root] if args.data_root else []
    command += ["--seeds", str(args.seeds)] if args.seeds else []
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    seconds = time.perf_counter() - started
    shutil.rmtree(run)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seeds", type=int, default=None, help="only the profile's first N seeds")
    args = parser.parse_args()

    cores = cpu_count()
    settings = {f"{cores} workers x 1 thread": cores, f"1 worker x {cores} threads": 1}
    times: dict[str, list[float]] = {name: [] for name in settings}
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        profile = scaled_profile(args.profile, args.scale, folder)
        order = list(settings)
        for repeat in range(args.repeats):
            for name in order if repeat % 2 == 0 else order[::-1]:
                times[name].append(bench_seconds(profile, settings[name], args, folder))
                print(f"  {name}: {times[name][-1]:.1f} s", flush=True)
    print(f"load average after: {os.getloadavg()}")
    for name, runs in times.items():
        print(f"{name}: " + ", ".join(f"{t:.1f}s" for t in runs) + f"  (median {statistics.median(runs):.1f}s)")
    many, one = (statistics.median(times[name]) for name in settings)
    print(
        f"profile {args.profile} x {args.scale}, seeds: {args.seeds or 'all'}, {cores} cores: "
        f"many workers / one worker = {many / one:.3f}"
    )


if __name__ == "__main__":
    main()
