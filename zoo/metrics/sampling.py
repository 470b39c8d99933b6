"""The images a protocol scores: drawn from a generator with the protocol's count, seed and label rule.

Generation leaves every global random state as it found it (:func:`~zoo.metrics.randomness.preserved_random_state`),
draws conditional models' labels with the reference set's class frequencies (:data:`~zoo.metrics.protocol.LABEL_RULE`),
draws the values of a latent code that can stand for the classes (:func:`class_code`) in equal numbers, and measures
how much of the generator's output leaves ``[-1, 1]`` before clipping it to uint8 for scoring. Output that is not
floating point (uint8 pixel values, say) or not finite (NaN, Inf) is refused, never scored: clipped to uint8 it
would be a plausible-looking image (NaN becomes 0, black) and earn a number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from zoo.errors import PluginError
from zoo.imaging import to_uint8
from zoo.interfaces import Generator
from zoo.latent import LatentCode
from zoo.metrics.protocol import Protocol
from zoo.metrics.randomness import preserved_random_state

SAMPLE_BATCH = 500
"""Images generated per forward pass."""


@dataclass(frozen=True)
class Samples:
    """Images to score under a protocol.

    ``images``: uint8 ``[N, C, H, W]``. ``labels``: int64 ``[N]``, the labels a conditional generator drew them for
    (None otherwise, e.g. for real images). ``out_of_range``: the share (in ``[0, 1]``) of the generator's output
    values outside ``[-1, 1]`` or not finite, before clipping; None for images that were never floats. ``codes``:
    int64 ``[N]``, the value of the generator's :func:`class_code` each image was drawn with (None when it has none).
    ``from_training_set``: the images are training images (the real-data floor), so their memorisation is measured
    on held-out images instead (:func:`zoo.metrics.evaluate.evaluate`).
    """

    images: torch.Tensor
    labels: torch.Tensor | None = None
    out_of_range: float | None = None
    codes: torch.Tensor | None = None
    from_training_set: bool = False


def class_code(generator: Generator, class_counts: tuple[int, ...] | None) -> LatentCode | None:
    """The generator's first categorical latent code with as many values as ``class_counts`` has classes (InfoGAN's
    ``c1`` on MNIST), whose values ``code_accuracy`` maps to the classes (:mod:`zoo.metrics.classes`); None when it
    has no such code or the reference has no classes."""
    if not class_counts:
        return None
    fits = (code for code in generator.latent_codes if code.categorical and code.values == len(class_counts))
    return next(fits, None)


def evaluation_labels(class_counts: tuple[int, ...], n: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` int64 labels by :data:`~zoo.metrics.protocol.LABEL_RULE`: the multiset of reference labels given by
    ``class_counts`` (images per class), taken in a random order from ``generator`` without replacement, the whole
    multiset again for every further ``sum(class_counts)`` labels. On ``generator``'s device."""
    device = generator.device
    pool = torch.arange(len(class_counts), device=device).repeat_interleave(torch.tensor(class_counts, device=device))
    rounds = math.ceil(n / len(pool))
    order = torch.cat([torch.randperm(len(pool), generator=generator, device=device) for _ in range(rounds)])
    return pool[order[:n]]


@torch.no_grad()
def generate_samples(generator: Generator, protocol: Protocol, batch_size: int = SAMPLE_BATCH) -> Samples:
    """``protocol.settings.num_generated`` samples of ``generator``, as :class:`Samples` on the CPU.

    Drawn in batches of ``batch_size`` from one ``torch.Generator`` on the generator's device seeded with
    ``protocol.settings.seed``: a conditional generator's labels first (:func:`evaluation_labels` with the
    protocol's reference class counts), then, for a generator with a :func:`class_code`, that code's values (each
    value equally often, :func:`evaluation_labels` with one count per value; the prior draws a categorical code
    uniformly, so this is a stratified draw of the same distribution), held while sampling, then the latent input.
    Every global random state is left as it was.
    Raises :class:`~zoo.errors.PluginError` when a batch is not floating point or holds a NaN or an infinity.
    """
    n, seed = protocol.settings.num_generated, protocol.settings.seed
    with preserved_random_state():
        rng = torch.Generator(device=generator.device).manual_seed(seed)
        labels = None
        if generator.conditional:
            counts = protocol.reference_class_counts
            if counts is None or len(counts) != generator.num_classes:
                raise ValueError(
                    f"a generator of {generator.num_classes} classes cannot be scored under protocol "
                    f"{protocol.name!r}, whose reference has class counts {counts}"
                )
            labels = evaluation_labels(counts, n, rng)
        code = class_code(generator, protocol.reference_class_counts)
        codes = None if code is None else evaluation_labels((1,) * code.values, n, rng)
        chunks, outside = [], 0
        for start in range(0, n, batch_size):
            batch = slice(start, start + batch_size)
            batch_labels = None if labels is None else labels[batch]
            held = None if code is None else {code.name: codes[batch]}
            images = generator.sample(min(batch_size, n - start), generator=rng, labels=batch_labels, codes=held)
            _check_scorable(images)
            outside += int((~((images >= -1.0) & (images <= 1.0))).sum())
            chunks.append(to_uint8(images).cpu())
    images = torch.cat(chunks)
    return Samples(
        images,
        None if labels is None else labels.cpu(),
        outside / images.numel(),
        None if codes is None else codes.cpu(),
    )


def _check_scorable(images: torch.Tensor) -> None:
    """Refuse a batch of generator output that is not floating point or not finite, in one line."""
    contract = "a generator's samples must be finite floats in [-1, 1] (`zoo plugins check MODEL` tests them)"
    if not images.is_floating_point():
        raise PluginError(f"the generator returned {images.dtype} samples, not floats; {contract}")
    bad = int((~torch.isfinite(images)).sum())
    if bad:
        raise PluginError(
            f"the generator returned NaN or infinite values ({bad} of {images.numel()} in {len(images)} samples); "
            f"{contract}"
        )
