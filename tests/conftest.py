"""Shared fixtures: tiny datasets in real on-disk formats, and fake installed plugin distributions."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from tests.helpers import write_idx
from zoo.plugins import load_registry


def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` are skipped where torch sees no CUDA device, unless ``ZOO_TEST_DEVICE`` names another
    device for them (``cpu``: the GPU check's dry run, ``benchmarks/gpu_check.py``)."""
    if torch.cuda.is_available() or os.environ.get("ZOO_TEST_DEVICE"):
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (benchmarks/gpu_check.py runs these on a GPU)")
    for item in items:
        if item.get_closest_marker("cuda"):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def registry():
    """The registry of what is installed in the test environment (the built-ins)."""
    return load_registry()


@pytest.fixture(scope="session")
def tiny_mnist_root(tmp_path_factory) -> Path:
    """A data root with a 128/64-image MNIST in torchvision's raw layout: each class a bright square at its
    own position, so the data are learnable and labels matter."""
    root = tmp_path_factory.mktemp("data")
    generator = torch.Generator().manual_seed(0)
    for prefix, count in (("train", 128), ("t10k", 64)):
        labels = torch.arange(count) % 10
        images = torch.randint(0, 40, (count, 28, 28), generator=generator, dtype=torch.uint8)
        for i, label in enumerate(labels.tolist()):
            row, col = 2 + 8 * (label // 3), 2 + 8 * (label % 3)
            images[i, row : row + 6, col : col + 6] = 255
        write_idx(root / "MNIST" / "raw" / f"{prefix}-images-idx3-ubyte", images)
        write_idx(root / "MNIST" / "raw" / f"{prefix}-labels-idx1-ubyte", labels.to(torch.uint8))
    return root


@pytest.fixture
def install_plugin(tmp_path, monkeypatch):
    """Install a fake distribution on ``sys.path``:
    ``install_plugin(dist, {entry_name: "module"}, {"module": source})``.

    Writes the modules and a ``.dist-info`` folder with an ``entry_points.txt`` for the ``zoo`` group,
    exactly what ``pip install`` leaves behind, and returns the folder (usable as ``PYTHONPATH``). A module name may
    be a package's file (``"toy_pkg/__init__"``). With ``editable=True`` it is what ``pip install -e`` leaves: the
    modules go to a source folder of their own (``tmp_path/src``, put on ``sys.path`` as the editable install's
    ``.pth`` file does) and the ``.dist-info`` has a ``direct_url.json`` pointing at it; the source folder is
    returned.
    """
    site = tmp_path / "site"

    def install(
        distribution: str,
        entry_points: dict[str, str],
        modules: dict[str, str],
        version: str = "1.0",
        *,
        editable: bool = False,
    ) -> Path:
        info = site / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
        lines = "\n".join(f"{name} = {target}" for name, target in entry_points.items())
        (info / "entry_points.txt").write_text(f"[zoo]\n{lines}\n")
        source = tmp_path / "src" if editable else site
        for module, text in modules.items():
            path = source / f"{module}.py"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(text))
        if editable:
            url = {"url": source.as_uri(), "dir_info": {"editable": True}}
            (info / "direct_url.json").write_text(json.dumps(url))
            monkeypatch.syspath_prepend(str(source))
        return source

    monkeypatch.syspath_prepend(str(site))
    yield install
    for module in [m for m in sys.modules if m.startswith("toy_")]:
        del sys.modules[module]
