"""Make the folder a lent GPU machine needs beside this checkout: the wheels of what its image lacks, and the data.

A lent GPU machine (see benchmarks/README.md, "GPU check") has its own torch, torchvision, timm, pluggy, pandas,
click, matplotlib and the rest of :data:`DEVICE_IMAGE`, and no registry access. zoo also needs
:data:`MISSING_ON_DEVICE`: this downloads their wheels, ``--no-deps``, at the versions ``constraints.txt`` pins (the
versions CI tests), for the machine's Python (``--python-version``, 3.12 as the machine was last seen) on x86-64
Linux. All are pure Python except pydantic-core, whose wheel is made for that one Python version: for another, run
this again with its ``--python-version``. :data:`FALLBACK` packages are in the image, but an older image's version
may not do; their wheels go to ``fallback/`` and ``gpu_check.py`` installs one only where the machine's own version
is older than the pin.

    python benchmarks/gpu_carry.py --data-root ../shared/datasets [--out .gpu] [--datasets mnist]

Writes ``OUT/wheels/``, ``OUT/fallback/``, ``OUT/datasets/<Folder>/raw/`` (each dataset's raw files, copied) and
``OUT/manifest.json`` (the commit it was made at, the Python and platforms of the wheels, the sizes), then checks
that what a ``run`` call sends (the checkout's tracked and untracked-but-not-ignored files, plus OUT) is within
:data:`TRAVEL_LIMIT`; it exits 1 when not. OUT must be ignored by git (``/.gpu/`` is, in .gitignore) and named in
the call's ``carry``. Standard library only: it runs before zoo's dependencies are there.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

DEVICE_IMAGE = (
    "torch",
    "torchvision",
    "timm",
    "pluggy",
    "pandas",
    "click",
    "matplotlib",
    "safetensors",
    "tqdm",
    "pillow",
    "tabulate",
    "filelock",
    "numpy",
    "scipy",
    "typing-extensions",
    "pytest",
    "pytest-timeout",
    "nvidia-ml-py",
)
"""Distributions the lent machine's image holds (its package list in the device documentation, read 2026-11-17)
that zoo, its tests and :data:`MISSING_ON_DEVICE` need: never carried, never replaced (its torch above all)."""

MISSING_ON_DEVICE = ("torch-fidelity", "pydantic", "pydantic-core", "annotated-types", "typing-inspection")
"""What zoo needs that the image lacks: zoo's own dependencies and theirs, carried as wheels."""

FALLBACK = ("typing-extensions", "setuptools")
"""In the image, but an older image's version may not do (pydantic's pin needs a recent typing-extensions; building
zoo from the checkout needs a setuptools that reads pyproject.toml's ``license = "MIT"``, 77 or later): carried,
installed on the machine only where its own is older than the pinned version."""

PYTHON_VERSION = "3.12"
"""The lent machine's Python (3.12.3 when last seen): the one pydantic-core's wheel is built for."""

PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
"""The x86-64 Linux wheel tags pip may take for the machine (pure-Python wheels match any)."""

TRAVEL_LIMIT = 64 * 2**20
"""Bytes a ``run`` call may send: the checkout's files that travel plus the carried folders."""

DATA_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
"""Registered dataset name -> its torchvision folder under a data root."""


def pins(names: tuple[str, ...], constraints: Path = ROOT / "constraints.txt") -> dict[str, str]:
    """``name -> version`` for ``names`` from ``constraints`` (``name==version`` lines); raises SystemExit naming
    any that is not pinned there."""
    pinned = {}
    for line in constraints.read_text().splitlines():
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s#;]+)\s*(#.*)?", line)
        if match:
            pinned[normalise(match.group(1))] = match.group(2)
    missing = [name for name in names if normalise(name) not in pinned]
    if missing:
        raise SystemExit(f"{constraints} pins no version of {', '.join(missing)}: add name==version lines")
    return {name: pinned[normalise(name)] for name in names}


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def download(requirements: dict[str, str], folder: Path, python_version: str) -> list[Path]:
    """The wheels of ``requirements`` (``name -> version``) for the machine's Python and platform, into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--dest", str(folder)]
    command += ["--python-version", python_version, "--implementation", "cp", "--quiet"]
    command += [part for platform in PLATFORMS for part in ("--platform", platform)]
    subprocess.run(command + [f"{name}=={version}" for name, version in requirements.items()], check=True)
    return sorted(folder.glob("*.whl"))


def copy_data(data_root: Path, datasets: list[str], folder: Path) -> None:
    """Each dataset's ``raw/`` files (its torchvision layout) from ``data_root`` into ``folder``."""
    for dataset in datasets:
        raw = data_root / DATA_FOLDERS[dataset] / "raw"
        files = sorted(raw.glob("*-ubyte.gz")) or sorted(raw.glob("*-ubyte"))
        if not files:
            raise SystemExit(f"no {dataset} files in {raw}")
        target = folder / DATA_FOLDERS[dataset] / "raw"
        target.mkdir(parents=True, exist_ok=True)
        for file in files:
            shutil.copy2(file, target / file.name)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (links not followed)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def checkout_bytes(root: Path = ROOT) -> int:
    """Bytes of what a ``run`` call sends of the checkout at ``root``: its tracked and untracked-but-not-ignored files
    as git lists them, or, where ``root`` is no git checkout (the copy on the GPU machine, which is exactly what
    travelled), every file under it but ``.git`` and the ``__pycache__`` folders Python wrote since."""
    if not (root / ".git").exists():
        skipped = {".git", "__pycache__"}
        paths = (p for p in root.rglob("*") if not skipped.intersection(p.relative_to(root).parts))
        return sum(path.stat().st_size for path in paths if path.is_file() and not path.is_symlink())
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    paths = (root / name for name in listed.split("\0") if name)
    return sum(path.stat().st_size for path in paths if path.is_file() and not path.is_symlink())


def git_commit(root: Path = ROOT) -> str:
    """HEAD's hash, with ``-dirty`` when tracked files differ from it; ``unknown`` outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / ".gpu", help="the folder to carry (default: .gpu)")
    parser.add_argument("--data-root", type=Path, required=True, help="where MNIST/raw (etc.) are")
    parser.add_argument("--datasets", default="mnist", help=f"comma-separated, of {', '.join(DATA_FOLDERS)}")
    parser.add_argument("--python-version", default=PYTHON_VERSION, help="the GPU machine's Python, X.Y")
    args = parser.parse_args()
    out = args.out.resolve()
    if not out.is_relative_to(ROOT) or out == ROOT:
        raise SystemExit(f"{out} is not a folder inside the checkout {ROOT}: a run call carries only those")
    ignored = subprocess.run(["git", "check-ignore", "-q", f"{out}/"], cwd=ROOT).returncode == 0
    if (ROOT / ".git").exists() and not ignored:
        raise SystemExit(f"{out} is not ignored by git: it would travel twice (add it to .gitignore)")
    if out.exists():
        shutil.rmtree(out)
    wheels = download(pins(MISSING_ON_DEVICE), out / "wheels", args.python_version)
    fallback = download(pins(FALLBACK), out / "fallback", args.python_version)
    copy_data(args.data_root, args.datasets.split(","), out / "datasets")
    sizes = {"checkout": checkout_bytes(), "wheels": folder_bytes(out / "wheels")}
    sizes.update(fallback=folder_bytes(out / "fallback"), datasets=folder_bytes(out / "datasets"))
    manifest = dict(
        commit=git_commit(),
        python_version=args.python_version,
        platforms=list(PLATFORMS),
        wheels=[w.name for w in wheels],
        fallback=[w.name for w in fallback],
        datasets=args.datasets.split(","),
        bytes=sizes,
    )
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    total = sum(sizes.values())
    for part, size in sizes.items():
        print(f"  {part:<9} {size / 2**20:7.2f} MiB")
    print(f"  {'total':<9} {total / 2**20:7.2f} MiB of the {TRAVEL_LIMIT / 2**20:.0f} MiB a run call may send")
    if total > TRAVEL_LIMIT:
        raise SystemExit("too much to send: carry fewer datasets (--datasets) or shrink the checkout")
    print(f"ready: name {out.relative_to(ROOT)} in the run call's carry")


if __name__ == "__main__":
    main()
