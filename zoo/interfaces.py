"""The contracts a model plugin implements.

A plugin provides a :class:`ModelSpec` whose ``factory`` builds a :class:`Trainer`. The trainer owns the
networks and optimisers of ONE model and knows how to take one training step; everything around the step
(the step budget, batches, seeding, checkpoints, resume, progress, NaN guard) belongs to zoo's core loop in
:mod:`zoo.training` and is written once.

Conventions used throughout zoo:

* Images are float tensors shaped ``[N, C, H, W]`` with values in ``[-1, 1]`` (uint8 pixel ``p`` maps to
  ``p / 127.5 - 1``). Stored datasets are uint8 ``[N, C, H, W]``.
* Labels are int64 tensors shaped ``[N]`` with values in ``[0, num_classes)``.
* Randomness: the core seeds torch's global generators before training and saves/restores their state in
  checkpoints, so a trainer may draw noise with plain ``torch.randn(..., device=...)`` and still resume
  exactly. Sampling from a :class:`Generator` is deterministic for a given ``torch.Generator``.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from zoo.errors import PluginError, UnknownName, UsageError
from zoo.hparams import coerce, signature_hparams
from zoo.latent import CodeValue, LatentCode, code_values
from zoo.search_space import Range

ImageShape = tuple[int, int, int]
"""``(channels, height, width)`` of one image."""


@dataclass(frozen=True)
class Batch:
    """One training batch, already on the run's device.

    ``images``: float32 ``[N, C, H, W]`` in ``[-1, 1]``; ``labels``: int64 ``[N]`` (all zeros for a dataset
    without classes).
    """

    images: torch.Tensor
    labels: torch.Tensor

    def split(self, parts: int) -> list[Batch]:
        """The batch cut into ``parts`` consecutive batches of equal size (views, no copy), in order: how a trainer
        that consumes several batches per step (:attr:`Trainer.batches_per_step`) gets them back. ``ValueError``
        unless the size is a positive multiple of ``parts``."""
        size, rest = divmod(len(self.images), parts) if parts > 0 else (0, 0)
        if size < 1 or rest:
            raise ValueError(f"a batch of {len(self.images)} images does not split into {parts} equal batches")
        return [
            Batch(images, labels)
            for images, labels in zip(self.images.split(size), self.labels.split(size), strict=True)
        ]


class Generator(nn.Module, abc.ABC):
    """Maps latent codes (and labels, when conditional) to images.

    Subclasses set ``latent_dim``, ``num_classes`` (0 when unconditional) and ``image_shape`` and
    implement :meth:`forward`. :meth:`sample` is provided; :meth:`prior` (the distribution of the latent input,
    ``N(0, I)`` unless overridden) and :attr:`latent_codes` (named codes in it, none unless set) may be overridden.
    """

    latent_dim: int
    num_classes: int
    image_shape: ImageShape
    latent_codes: tuple[LatentCode, ...] = ()
    """The named codes of the latent input (:class:`zoo.latent.LatentCode`: categorical with ``values`` choices, or
    continuous over ``[low, high]``), which :meth:`sample` can fix and ``zoo sample --code`` fixes and sweeps. None
    by default; a generator that names codes draws them in its :meth:`prior`."""

    @abc.abstractmethod
    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``z``: float ``[N, latent_dim]``; ``labels``: int64 ``[N]`` or None when unconditional.

        Returns images ``[N, *image_shape]`` in ``[-1, 1]``.
        """

    @property
    def conditional(self) -> bool:
        return self.num_classes > 0

    @property
    def device(self) -> torch.device:
        """The device of the first parameter (CPU for a parameterless module)."""
        return next((p.device for p in self.parameters()), torch.device("cpu"))

    def prior(
        self, n: int, *, generator: torch.Generator | None = None, codes: dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Draw the latent input ``z`` of ``n`` images: float ``[n, latent_dim]`` on this module's device, as
        :meth:`forward` takes it. The default is ``z ~ N(0, I)``: ``torch.randn(n, latent_dim)``.

        Override it to give a model a prior of its own (InfoGAN: uniform noise, a one-hot categorical code and
        uniform continuous codes, side by side in ``z``), and name the codes in it in :attr:`latent_codes`. An
        override keeps this contract:

        * every random number comes from ``generator`` (torch's global generator when None, as in training), so a
          given generator state gives the same ``z``;
        * ``codes`` (name -> tensor ``[n]``, checked by :meth:`sample`: int64 values of a categorical code, float32
          ones of a continuous code) replace the values drawn for those codes, and what is drawn does not depend on
          which codes are fixed (draw everything, then overwrite): the same generator state with another value of
          one code gives the same noise and other codes, which is what a traversal grid shows.

        :meth:`sample` draws through it, and so do the bench, ``zoo sample`` and the conformance kit; a trainer
        draws its training noise with ``generator.prior(n)`` so that it trains on the prior it samples from.
        """
        return torch.randn(n, self.latent_dim, generator=generator, device=self.device)

    @torch.no_grad()
    def sample(
        self,
        n: int,
        *,
        generator: torch.Generator | None = None,
        labels: torch.Tensor | None = None,
        codes: Mapping[str, CodeValue] | None = None,
    ) -> torch.Tensor:
        """Draw ``n`` images ``[n, *image_shape]`` from the prior, in eval mode: :meth:`forward`'s output as it is.

        Values lie in ``[-1, 1]`` for a generator that keeps its contract. They are not clipped here, so that a
        breach stays visible: the conformance check ``samples`` fails, and the bench records the share of values
        outside the range (``out_of_range_share``) before it clips them for scoring.

        Deterministic for a given ``generator`` state (a ``torch.Generator`` on this module's device). A
        conditional generator uses ``labels`` (int64 ``[n]``) when given, else draws them uniformly with the
        same ``generator``; an unconditional one rejects labels. Then ``z`` comes from :meth:`prior`, with the
        ``codes`` given (name -> a number, or a tensor ``[n]``) held: a ``ValueError`` names the codes the generator
        has (none, unless it sets :attr:`latent_codes`) when one is not among them.
        """
        device = self.device
        if labels is not None and not self.conditional:
            raise ValueError("labels given to an unconditional generator")
        if self.conditional:
            if labels is None:
                labels = torch.randint(self.num_classes, (n,), generator=generator, device=device)
            labels = labels.to(device=device, dtype=torch.long)
            if labels.shape != (n,):
                raise ValueError(f"labels must have shape [{n}], got {list(labels.shape)}")
            if labels.min() < 0 or labels.max() >= self.num_classes:
                raise ValueError(f"labels must lie in [0, {self.num_classes})")
        z = self.prior(n, generator=generator, codes=code_values(self.latent_codes, codes, n, device))
        was_training = self.training
        self.eval()
        try:
            return self(z, labels)
        finally:
            self.train(was_training)


class Discriminator(nn.Module, abc.ABC):
    """Scores images; adversarial families have one, others (the VAE) do not."""

    @abc.abstractmethod
    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``images``: ``[N, C, H, W]`` in ``[-1, 1]``. Returns raw scores (logits or critic values) ``[N]``."""


class Trainer(abc.ABC):
    """The networks and optimisers of one model, and one training step.

    Subclasses build their networks and optimisers in ``__init__`` and implement :meth:`train_step`,
    :meth:`modules` and :meth:`optimizers`. State saving and device moves are provided from those two (and from
    :meth:`extra_state` for state kept elsewhere). The core calls :meth:`to` once, before the first step.

    ``generator`` is the network that is sampled, saved (``generator.safetensors``) and scored: a trainer that keeps
    an average of its generator's weights (an EMA) sets it to the averaged copy, which is then one of
    :meth:`modules` like the others.
    """

    generator: Generator

    batches_per_step: int = 1
    """How many batches of the run's batch size one :meth:`train_step` consumes (e.g. one per critic update of an
    n-critic GAN). The core reads it once, before the first step, and gives each step ``batches_per_step`` batches
    drawn from its seeded sampler, concatenated into one :class:`Batch` (``batch.split(batches_per_step)`` gives
    them back in order); "images seen" counts them all."""

    @abc.abstractmethod
    def train_step(self, batch: Batch) -> dict[str, torch.Tensor | float]:
        """Take one optimisation step on ``batch`` (``batches_per_step`` times the run's batch size); return its
        losses and statistics by name.

        Values are scalar tensors (detached; they may stay on the device: the core reads them to the host only
        every ``log_every`` steps, so a CUDA step never waits for the GPU) or plain floats.
        """

    @abc.abstractmethod
    def modules(self) -> dict[str, nn.Module]:
        """Every network that carries state, by a stable name (e.g. ``{"G": ..., "D": ...}``)."""

    @abc.abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Every optimiser, by a stable name."""

    def to(self, device: torch.device | str) -> Trainer:
        """Move all networks to ``device``. Call before any step (optimiser state must still be empty)."""
        for module in self.modules().values():
            module.to(device)
        return self

    def extra_state(self) -> dict[str, Any]:
        """State outside :meth:`modules` and :meth:`optimizers` that an exact resume needs: counters, schedules,
        anything a later step reads (e.g. how many updates an average has taken). Values are ints, floats, bools,
        strings, None, tensors, and lists and dicts (string keys) of them, so that the checkpoint stays readable with
        ``torch.load(weights_only=True)``. Saved in the checkpoint by :meth:`state_dict` and handed back to
        :meth:`load_extra_state` on resume. An attribute that a step changes and that is not here is lost on resume:
        the conformance check ``exact_resume`` catches it at the settings a model declares
        (:attr:`ModelSpec.resume_hparams`). Default: none."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:  # noqa: B027 - an optional hook: none by default
        """Restore what :meth:`extra_state` returned (tensors come back on the run's device). Default: nothing."""

    def state_dict(self) -> dict[str, Any]:
        """Networks, optimisers and :meth:`extra_state`, as nested dicts of tensors and plain values (``weights_only``
        safe). Raises :class:`zoo.errors.PluginError` naming the entry of :meth:`extra_state` that is not plain."""
        extra = self.extra_state()
        _check_plain(extra, "extra_state()")
        return {
            "modules": {name: m.state_dict() for name, m in self.modules().items()},
            "optimizers": {name: o.state_dict() for name, o in self.optimizers().items()},
            "extra": extra,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned; the trainer must be built with the same config. A state without
        extra state (a checkpoint written before zoo saved it) restores none."""
        for name, module in self.modules().items():
            module.load_state_dict(state["modules"][name])
        for name, optimizer in self.optimizers().items():
            optimizer.load_state_dict(state["optimizers"][name])
        self.load_extra_state(state.get("extra", {}))


def _check_plain(value: Any, where: str) -> None:
    """Raise :class:`PluginError` unless ``value`` is what ``torch.load(weights_only=True)`` reads back: tensors,
    numbers, strings, bools, None, and lists, tuples and string-keyed dicts of them."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise PluginError(f"{where} has a key {key!r} that is not a string")
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
    elif not (value is None or isinstance(value, (bool, int, float, str, torch.Tensor))):
        raise PluginError(
            f"{where} is a {type(value).__name__}; extra state holds only numbers, strings, tensors and lists and "
            "dicts of them (a checkpoint is read with weights_only=True)"
        )


@dataclass(frozen=True)
class ModelSpec:
    """What a plugin registers for one model (compare timm's registered model and its default config).

    ``factory(image_shape, num_classes, *, **hyperparameters) -> Trainer`` builds the model: ``image_shape`` is
    ``(C, H, W)``; ``num_classes`` is the dataset's class count for a conditional model and 0 for an unconditional
    one. Its keyword-only parameters ARE the hyperparameters: their defaults are the model's defaults, and values
    given elsewhere are converted to their annotated types (:mod:`zoo.hparams`). ``tiny_hparams`` make the model
    tiny (a few thousand parameters) for conformance checks, tests and the smoke profile; ``dataset_hparams``
    overrides defaults per dataset name. ``bf16``: the model trains well under bfloat16 autocast, so a run that
    asks for ``--precision bf16`` uses it (other models run in float32 there, and their rows say so).

    ``resume_hparams``: values over ``tiny_hparams`` at which the conformance check ``exact_resume`` runs once more
    (it always runs at ``tiny_hparams``): the setting in which state that matters only later in training (a
    warm-up, a schedule, an average that starts at some step) changes what happens within the check's few steps (it
    trains 4 steps, resuming after 2). Empty (the default): the tiny run only.

    ``search_space``: the range each hyperparameter a sweep varies is drawn from (:mod:`zoo.search_space`:
    ``{"lr": LogUniform(1e-5, 1e-2), ...}``), checked against the factory's keyword arguments at registration;
    the others keep their defaults. Empty (the default): a sweep runs the model at its defaults only.
    """

    name: str
    family: Literal["gan", "vae"]
    conditional: bool
    paper: str
    factory: Callable[..., Trainer]
    tiny_hparams: dict[str, Any] = field(default_factory=dict)
    dataset_hparams: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    license: str = ""
    bf16: bool = False
    resume_hparams: dict[str, Any] = field(default_factory=dict)
    search_space: dict[str, Range] = field(default_factory=dict)

    @property
    def hparams(self) -> dict[str, Any]:
        """The defaults, from the factory's signature."""
        return {name: hparam.default for name, hparam in signature_hparams(self.factory).items()}

    def resolve_hparams(
        self, dataset: str | None = None, overrides: dict[str, Any] | None = None, *, tiny: bool = False
    ) -> dict[str, Any]:
        """Defaults, then ``dataset``'s overrides, then :attr:`tiny_hparams` (when ``tiny``), then ``overrides``,
        each value converted to its annotated type.

        An unknown key raises :class:`zoo.errors.UnknownName` naming the ones the model has; a value of the wrong
        type raises :class:`zoo.errors.UsageError`.
        """
        known = signature_hparams(self.factory)
        resolved = self.hparams
        for layer in (self.dataset_hparams.get(dataset or "", {}), self.tiny_hparams if tiny else {}, overrides or {}):
            unknown = sorted(set(layer) - set(known))
            if unknown:
                has = ", ".join(known) or "none"
                raise UnknownName(f"model {self.name!r} has no hyperparameter {', '.join(unknown)}; it has: {has}")
            resolved.update(layer)
        try:
            return {name: coerce(name, value, known[name]) for name, value in resolved.items()}
        except UsageError as error:
            raise UsageError(f"model {self.name!r}: {error}") from None


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset a plugin registers.

    ``load(root: pathlib.Path, split: str, download: bool) -> (images, labels)`` returns uint8
    ``[N, *image_shape]`` and int64 ``[N]`` for ``split`` in ``splits``. ``root`` is zoo's data root. When the
    files are missing it downloads them if ``download`` is true, else raises
    :class:`zoo.errors.DatasetNotFound` naming where it looked and how to get the files.
    """

    name: str
    image_shape: ImageShape
    num_classes: int
    load: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    splits: tuple[str, ...] = ("train", "test")
    description: str = ""


@dataclass(frozen=True)
class ExtractorSpec:
    """A feature extractor a plugin registers for the metrics; a bench profile's protocol can then name it.

    ``extractor`` is a ``torch_fidelity.FeatureExtractorBase`` subclass (or a class whose construction returns an
    instance of one, as zoo's own do so that loading the registry imports no torch-fidelity): built as
    ``extractor(name, features_list, feature_extractor_weights_path=path)`` (``path`` None when the protocol names
    no weights), it takes uint8 ``[N, C, H, W]`` and returns one float ``[N, D]`` tensor per requested feature name.
    ``needs_weights``: a protocol must name a weights file for it (whose SHA-256 enters the protocol id); False for
    an extractor that has none (a fixed or seeded network, a hand-made feature): its protocols may leave
    ``weights`` out. ``feature_layer`` feeds FID, KID and
    precision/recall; ``logits_layer`` feeds the Inception Score (None if it has none: the IS is then reported
    unavailable with ``no_logits_reason``). ``channels``: the input channel count it needs (grey images are
    repeated to it), None to take images as they are; ``resize``: the side it resizes to internally, or None.
    ``classifies_dataset``: its logits are the classes of the dataset it is used on (logit ``k`` = the dataset's
    label ``k``), as a per-dataset classifier's are; zoo then measures class coverage (``class_entropy``,
    ``min_class_share``) and conditional models' ``label_accuracy`` from them. False for ImageNet networks.
    """

    name: str
    extractor: type
    feature_layer: str
    logits_layer: str | None = None
    no_logits_reason: str | None = None
    channels: int | None = None
    resize: int | None = None
    description: str = ""
    classifies_dataset: bool = False
    needs_weights: bool = True
