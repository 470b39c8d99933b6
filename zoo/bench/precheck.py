"""A bench's needs, checked once before any training or worker starts: :func:`check_needs`.

Every cell of a bench needs the same few things: folders it can write (the results folder and the work folder),
each dataset's files under the data root, splits that hold each protocol's sample counts (``num_reference`` images
of the reference split; ``num_generated`` of the training split, which the real-data floor scores as if generated)
and the extractor weights each protocol names. Found by each cell on its own, a missing piece failed every cell,
after the floor had run, in one line per cell; :func:`check_needs` finds them all first and raises one
:class:`ZooError` that states each problem once, with its fix.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from zoo.bench.profiles import Profile
from zoo.data.folder import FolderDataset, count_test_images, scan_image_folder
from zoo.data.loading import available_images
from zoo.errors import ZooError
from zoo.interfaces import DatasetSpec
from zoo.metrics import ProtocolSettings
from zoo.plugins import Registry

FRACTIONS = tuple(round(0.05 * k, 2) for k in range(1, 20))
"""The test fractions a fix may suggest for an image folder: 0.05 to 0.95 in steps of 0.05."""


def check_needs(
    registry: Registry,
    profile: Profile,
    datasets: list[str],
    *,
    data_root: Path | None,
    folders: Mapping[str, Path],
    download: bool = False,
    echo: Callable[[str], None] = lambda line: None,
) -> dict[str, tuple[ProtocolSettings, ...]]:
    """The protocols that score each of ``datasets`` (:meth:`Profile.fitted_protocols`), once everything the bench
    needs is known to be there.

    ``folders``: option -> folder the bench writes (``{"--results": ..., "--work-dir": ...}``), each checked to be
    a folder, or creatable as one, that this user can write (nothing is created). Each registered dataset's splits
    are loaded from ``data_root`` (``download``: fetched if missing), once. Raises one :class:`ZooError` naming
    every problem found, each with its fix: a folder that cannot be written, a dataset's missing files, a split
    smaller than a protocol's sample counts (with the ``--test-fraction`` that fits, for an image folder), missing
    extractor weights (with the command that trains them). ``echo`` says what the profile left out, replaced or
    capped (:meth:`Profile.fitted_protocols`).
    """
    problems = [problem for option, path in folders.items() if (problem := _unwritable(path, option))]
    fitted = {}
    for name in datasets:
        spec = registry.datasets[name]
        available = available_images(spec, data_root, download)
        try:
            protocols = profile.fitted_protocols(spec, registry.extractors, echo, available)
            problems += [p for s in protocols if (p := _split_problem(profile, spec, s, available))]
            problems += [p for s in protocols if (p := profile.weights_problem(s, spec, registry.extractors))]
        except ZooError as error:  # the dataset's files are missing, or its splits are too small to cap to
            problems.append(str(error) if name.lower() in str(error).lower() else f"{name}: {error}")
            continue
        fitted[name] = protocols
    problems = list(dict.fromkeys(problems))
    if len(problems) == 1:
        raise ZooError(f"the bench cannot start: {problems[0]}")
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise ZooError(f"the bench cannot start, for {len(problems)} reasons found before any training:\n{listed}")
    return fitted


def _unwritable(path: Path, option: str) -> str | None:
    """Why the folder ``path`` cannot be written (given as ``option``), or None: its nearest existing ancestor
    must be a folder this user may create files in."""
    existing = Path(path).absolute()
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{option} {path}: {existing} is a file, not a folder; choose another {option}"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{option} {path}: cannot write to folder {existing}; choose another {option}"
    return None


def _split_problem(
    profile: Profile, spec: DatasetSpec, settings: ProtocolSettings, available: Callable[[str, int], int]
) -> str | None:
    """What of ``settings``' sample counts ``spec``'s splits cannot hold, with the fix; None when they hold them."""
    reference = available(settings.reference_split, settings.num_reference)
    train = min(available("train", settings.num_generated), profile.train_limit or settings.num_generated)
    short = []
    if reference < settings.num_reference:
        short.append(
            f"takes {settings.num_reference} reference images from the {settings.reference_split} split, which "
            f"holds {reference}"
        )
    if train < settings.num_generated:
        limited = " within train_limit" if profile.train_limit and profile.train_limit < settings.num_generated else ""
        short.append(
            f"its real-data floor scores {settings.num_generated} training images, and the train split holds "
            f"{train}{limited}"
        )
    if not short:
        return None
    fixes = [_fraction_fix(spec, settings)] if settings.reference_split == "test" else []
    fixes += [
        "use --profile smoke (a pipeline check: its counts are capped at what the splits hold)",
        "lower num_reference and num_generated in a profile of your own (docs/profiles.md)",
    ]
    return f"{spec.name}: protocol {settings.name!r} {' and '.join(short)}; " + ", or ".join(f for f in fixes if f)


def _fraction_fix(spec: DatasetSpec, settings: ProtocolSettings) -> str:
    """For an image folder split by zoo: the smallest ``--test-fraction`` (of :data:`FRACTIONS`) whose splits hold
    the protocol's counts, as a fix; "" when none does, or the folder has its official split."""
    if not isinstance(spec, FolderDataset):
        return ""
    index = scan_image_folder(spec.folder)
    if index.official_splits is not None:
        return ""
    for fraction in FRACTIONS:
        test = count_test_images(index, fraction)
        if test >= settings.num_reference and len(index.files) - test >= settings.num_generated:
            return f"--test-fraction {fraction:g} gives {test} test and {len(index.files) - test} training images"
    return ""
