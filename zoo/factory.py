"""Building a model: the one place that seeds, calls a plugin's factory and moves the trainer to a device
(compare timm's ``create_model``)."""

from __future__ import annotations

from typing import Any

import torch

from zoo.errors import PluginError, ZooError
from zoo.interfaces import ImageShape, ModelSpec, Trainer


def create_trainer(
    spec: ModelSpec,
    image_shape: ImageShape,
    num_classes: int,
    *,
    hparams: dict[str, Any] | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
) -> Trainer:
    """``spec``'s trainer for ``image_shape`` images, built after seeding torch's global generators with ``seed``.

    ``hparams`` override the model's defaults (unknown keys and bad values are :class:`ZooError`s). The factory gets
    ``num_classes`` when the model is conditional (a dataset without classes is then a :class:`ZooError`) and 0
    otherwise. Whatever the plugin's factory raises, or a result that is not a :class:`Trainer`, is a
    :class:`PluginError` naming the model.
    """
    if spec.conditional and num_classes < 1:
        raise ZooError(f"model {spec.name!r} is conditional and needs a dataset with class labels")
    resolved = spec.resolve_hparams(overrides=hparams)
    torch.manual_seed(seed)
    shape = "x".join(map(str, image_shape))
    try:
        trainer = spec.factory(tuple(image_shape), num_classes if spec.conditional else 0, **resolved)
    except Exception as error:  # noqa: BLE001 - plugin code: unsupported shapes, bad values, bugs
        raise PluginError(f"cannot build {spec.name!r} for {shape} images: {type(error).__name__}: {error}") from error
    if not isinstance(trainer, Trainer):
        raise PluginError(f"the factory of {spec.name!r} returned a {type(trainer).__name__}, not a zoo.Trainer")
    return trainer.to(device)
