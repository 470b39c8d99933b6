"""Helpers for tests: writers of real on-disk formats and the source of a third-party plugin."""

from __future__ import annotations

import gzip
import os
import re
import struct
import textwrap
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import torch
from click.testing import CliRunner, Result

from zoo.cli import main


def _official_mnist_root() -> Path | None:
    """A data root holding the official MNIST: ``$ZOO_DATA_ROOT`` or the shared datasets folder, if present."""
    candidates = [os.environ.get("ZOO_DATA_ROOT"), Path(__file__).resolve().parents[2] / "shared" / "datasets"]
    for root in filter(None, candidates):
        if (Path(root) / "MNIST" / "raw").is_dir():
            return Path(root)
    return None


OFFICIAL_MNIST_ROOT = _official_mnist_root()
needs_official_mnist = pytest.mark.skipif(OFFICIAL_MNIST_ROOT is None, reason="official MNIST files not found")


def cli_args(*args: object, **options: object) -> list[str]:
    """``args``, then ``--name value`` for each option (``work_dir=...`` becomes ``--work-dir ...``), as strings."""
    flags = [part for name, value in options.items() for part in (f"--{name.replace('_', '-')}", value)]
    return [str(part) for part in (*args, *flags)]


def zoo(*args: object, **options: object) -> Result:
    """Run the ``zoo`` command in-process with :func:`cli_args`."""
    return CliRunner().invoke(main, cli_args(*args, **options))


def read_png(path: Path) -> torch.Tensor:
    """A PNG as uint8 ``[3, H, W]``."""
    with PIL.Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert("RGB")).copy()).permute(2, 0, 1)


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) in the IDX format: magic 0x00 0x00 0x08 ndim, big-endian uint32 dims, the data."""
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_idx(path: Path, array: np.ndarray | torch.Tensor, gz: bool = True) -> None:
    """Write uint8 ``array`` as an IDX file (the MNIST format) at ``path``, or at ``path + ".gz"`` gzipped."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = idx_bytes(np.asarray(array))
    if gz:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


TOY_PLUGIN = '''
    """A third-party plugin: a small MLP GAN built on zoo's public API only."""
    import math

    import torch
    from torch import nn

    from zoo import Discriminator, Generator, ModelSpec, hookimpl
    from zoo.gan import GANTrainer


    class ToyGenerator(Generator):
        def __init__(self, image_shape, latent_dim):
            super().__init__()
            self.latent_dim, self.num_classes, self.image_shape = latent_dim, 0, tuple(image_shape)
            self.net = nn.Sequential(nn.Linear(latent_dim, math.prod(image_shape)), nn.Tanh())

        def forward(self, z, labels=None):
            return self.net(z).view(-1, *self.image_shape)


    class ToyDiscriminator(Discriminator):
        def __init__(self, image_shape):
            super().__init__()
            self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(image_shape), 1))

        def forward(self, images, labels=None):
            return self.net(images).squeeze(1)


    def build(image_shape, num_classes, *, latent_dim: int = 8, lr: float = 1e-3):
        generator, discriminator = ToyGenerator(image_shape, latent_dim), ToyDiscriminator(image_shape)
        return GANTrainer(generator, discriminator, lr=lr, betas=(0.5, 0.999))


    @hookimpl
    def register_models(register):
        register(ModelSpec(name=NAME, family="gan", conditional=False, paper="none (a test fixture)",
                           factory=build, tiny_hparams={"latent_dim": 4}, description="a toy", license="MIT"))
'''


def toy_plugin_source(model_name: str = "toy") -> str:
    """Source of a working third-party plugin module registering one model called ``model_name``."""
    return f"NAME = {model_name!r}\n" + textwrap.dedent(TOY_PLUGIN)


def write_image_folder(folder: Path, per_class: int, classes: int = 0, size: tuple[int, int] = (40, 36)) -> Path:
    """A folder of RGB PNG/JPEG images (``size`` is width x height) the way a user keeps one: ``classes`` sub-folders
    ``class<k>/`` of ``per_class`` images each (a bright square whose place is the class), or, with ``classes=0``,
    ``per_class`` images at the top level (the square anywhere): unlabelled."""
    rng = np.random.default_rng(len(str(folder)) + per_class + classes)
    width, height = size
    for label in range(max(classes, 1)):
        for i in range(per_class):
            image = np.zeros((height, width, 3), dtype=np.uint8) + rng.integers(0, 70, 3, dtype=np.uint8)
            top, left = (4 + 8 * label, 4) if classes else rng.integers(0, min(size) - 12, 2)
            image[top : top + 12, left : left + 12] = rng.integers(170, 256, 3, dtype=np.uint8)
            path = folder / (f"class{label}" if classes else "") / f"{i:04d}.{'jpg' if i % 3 == 0 else 'png'}"
            path.parent.mkdir(parents=True, exist_ok=True)
            PIL.Image.fromarray(image).save(path)
    return folder


def write_face_folder(folder: Path, count: int) -> Path:
    """``count`` JPEGs named as CelebA's aligned crops are (``000001.jpg``, ...), 178x218 pixels, in ``folder`` (call
    it ``img_align_celeba``): a face-like drawing each (a skin-toned oval with two eyes and a mouth, its place, size
    and colours drawn from a seeded generator) on a plain background."""
    rng = np.random.default_rng(count)
    folder.mkdir(parents=True, exist_ok=True)
    ys, xs = np.mgrid[0:218, 0:178]
    for i in range(1, count + 1):
        image = np.zeros((218, 178, 3), dtype=np.uint8) + rng.integers(20, 200, 3, dtype=np.uint8)
        cy, cx, ry, rx = (
            109 + rng.integers(-12, 13),
            89 + rng.integers(-10, 11),
            rng.integers(55, 75),
            rng.integers(40, 55),
        )
        image[((ys - cy) / ry) ** 2 + ((xs - cx) / rx) ** 2 <= 1] = rng.integers(120, 240, 3, dtype=np.uint8)
        for side in (-1, 1):  # the eyes
            image[(ys - (cy - ry // 4)) ** 2 + (xs - (cx + side * rx // 2)) ** 2 <= 36] = (30, 30, 30)
        image[cy + ry // 2 : cy + ry // 2 + 5, cx - rx // 3 : cx + rx // 3] = (150, 40, 50)  # the mouth
        PIL.Image.fromarray(image).save(folder / f"{i:06d}.jpg", quality=90)
    return folder


SMOKE = Path(__file__).resolve().parents[1] / "zoo" / "profiles" / "smoke.toml"


def smoke_profile(folder: Path, name: str = "tiny", **settings: str) -> Path:
    """The smoke profile (tiny models, 20 steps, 64 samples) at ``folder/name.toml``, on MNIST (the tests' tiny one,
    from their data root) unless ``datasets`` says otherwise, with top-level ``settings`` replaced or added (values
    as TOML text)."""
    head, protocols = SMOKE.read_text().split("[[protocols]]", 1)
    for key, value in {"datasets": '["mnist"]', **settings}.items():
        head, found = re.subn(rf"(?m)^{key} = .*$", f"{key} = {value}", head)
        head += "" if found else f"{key} = {value}\n"
    path = folder / f"{name}.toml"
    path.write_text(f"{head}\n[[protocols]]{protocols}")
    return path


STEP_HOOK = """
import os, signal, time
from pathlib import Path
from toy_gan import build, hookimpl, ModelSpec


def build_hooked(image_shape, num_classes, *, latent_dim: int = 4):
    trainer = build(image_shape, num_classes, latent_dim=latent_dim)
    step, calls = trainer.train_step, []

    def train_step(batch):
        calls.append(1)
        before_step(len(calls))
        return step(batch)

    trainer.train_step = train_step
    return trainer


@hookimpl
def register_models(register):
    register(ModelSpec(name=NAME, family="gan", conditional=False, paper="none (a test fixture)",
                       factory=build_hooked, license="MIT"))
"""


def hooked_plugin_source(model_name: str, before_step: str) -> str:
    """Source of a plugin module registering ``model_name``: the toy GAN (the module ``toy_gan`` of
    :func:`toy_plugin_source` must be importable beside it) whose every step first runs ``before_step``, the source
    of a function ``before_step(call: int)`` (``os``, ``signal``, ``time`` and ``Path`` are imported)."""
    return f"NAME = {model_name!r}\n" + STEP_HOOK + "\n\n" + textwrap.dedent(before_step)
