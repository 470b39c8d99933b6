"""``zoo plugins new``: write a complete, pip-installable model plugin package from the templates.

The package has a working model (a small MLP GAN or VAE built on zoo's interfaces, not a stub), its
``zoo`` entry point, a README, and a test file that runs zoo's conformance kit against it. A GAN is trained by
:class:`zoo.gan.GANTrainer`, or (``own_trainer``) by a ``Trainer`` of its own in ``trainer.py``, its training step
written out; a VAE always has its own.
"""

from __future__ import annotations

import re
import string
from importlib import metadata
from pathlib import Path

from zoo.errors import UsageError, ZooError

TEMPLATES = Path(__file__).parent / "templates"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
FAMILIES = ("gan", "vae")


def new_plugin(
    name: str, *, family: str = "gan", conditional: bool = False, own_trainer: bool = False, out_dir: Path = Path(".")
) -> Path:
    """Write the plugin package for model ``name`` into ``out_dir/zoo-NAME`` and return that folder.

    ``name`` is the model's registry name (lowercase letters, digits and ``_``; a Python identifier, since the
    package is ``zoo_NAME``). ``own_trainer`` (GANs only) writes ``trainer.py`` with the model's own
    :class:`zoo.Trainer`. Refuses to write into a folder that already has files.
    """
    if not _NAME.match(name):
        raise UsageError(f"invalid plugin name {name!r}: use lowercase letters, digits and '_', starting with a letter")
    if family not in FAMILIES:
        raise UsageError(f"unknown family {family!r}; use one of {', '.join(FAMILIES)}")
    if own_trainer and family != "gan":
        raise UsageError(f"--own-trainer is for --family gan: the {family} template always has a Trainer of its own")
    distribution, package = f"zoo-{name.replace('_', '-')}", f"zoo_{name}"
    target = Path(out_dir) / distribution
    if target.exists() and any(target.iterdir()):
        raise ZooError(f"{target} already exists and is not empty")
    title = " ".join(part.capitalize() for part in name.split("_"))
    own = (f"{title.replace(' ', '')}Trainer", f"{package}.trainer")
    trainer, trainer_module = own if own_trainer else ("GANTrainer", "zoo.gan")
    values = {
        "name": name,
        "distribution": distribution,
        "package": package,
        "Class": title.replace(" ", ""),
        "title": title,
        "family": family,
        "conditional": str(conditional),
        "conditional_note": ", conditioned on class labels" if conditional else "",
        "zoo_version": metadata.version("genzoo"),
        "Trainer": trainer,
        "trainer_import": f"from {trainer_module} import {trainer}",
        "trained_by": "its own Trainer (trainer.py)" if own_trainer else "zoo's standard adversarial step",
    }
    files = {
        "pyproject.toml": "common/pyproject.toml.tmpl",
        "README.md": "common/README.md.tmpl",
        f"src/{package}/__init__.py": "common/__init__.py.tmpl",
        f"src/{package}/model.py": f"{family}/model.py.tmpl",
        "tests/test_conformance.py": "common/test_conformance.py.tmpl",
        **({f"src/{package}/trainer.py": "gan/trainer.py.tmpl"} if own_trainer else {}),
    }
    for destination, template in files.items():
        path = target / destination
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(string.Template((TEMPLATES / template).read_text()).substitute(values), encoding="utf-8")
    return target
