"""The sliced Wasserstein distance between two image sets on Laplacian-pyramid patches (Karras et al. 2018,
"Progressive Growing of GANs", Appendix D; their ``metrics/sliced_wasserstein.py`` is the reference).

Each set's images are decomposed into a Laplacian pyramid (5x5 binomial filter, mirrored borders, as OpenCV's
``pyrDown``/``pyrUp``), from the full side down while the smaller side is at least twice the patch size
(28 -> 28, 14; 64 -> 64, 32, 16); the coarsest level is the low-pass image itself. From each level, random
``patch_size`` x ``patch_size`` patches are the descriptors, normalised per channel to zero mean and unit variance
over each set's own descriptors (as Karras does: the metric compares the shapes of the two patch distributions, not
their brightness or contrast). The distance per level is the mean, over random unit directions, of the 1-D
Wasserstein-1 distance between the two sets' projections, times 1e3 (the scale Karras reports); the figure is the
mean over levels. It sees pixels: texture, speckle and blur move it, which a classifier's features may not.

Unlike Karras, both sets use the same patch positions and directions and the same seeded choice of images (by
index), so a set scores exactly 0 against itself and the comparison's randomness is shared; no global random state
is touched.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

_BINOMIAL = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)
"""Karras's (and OpenCV's) 5x5 pyramid filter is this 1-D filter applied along rows and along columns."""


def sliced_wasserstein(samples: torch.Tensor, reference: torch.Tensor, *, seed: int, **options: int) -> float:
    """The SWD x1e3 (>= 0, lower is closer) of :func:`sliced_wasserstein_levels` (same arguments), averaged over
    the levels."""
    return float(np.mean(sliced_wasserstein_levels(samples, reference, seed=seed, **options)))


def sliced_wasserstein_levels(
    samples: torch.Tensor,
    reference: torch.Tensor,
    *,
    seed: int,
    images: int = 4096,
    patches_per_image: int = 8,
    patch_size: int = 7,
    directions: int = 128,
    repeats: int = 4,
) -> list[float]:
    """The SWD x1e3 per pyramid level, finest first, between uint8 CPU ``[N, C, H, W]`` ``samples`` and uint8 CPU
    ``[M, C, H, W]`` ``reference`` (same C, H, W; ``min(H, W) >= 2 * patch_size``).

    ``min(images, N, M)`` images of each set are used, chosen by ``seed``; ``patches_per_image`` patches per image
    and level; ``repeats`` draws of ``directions`` unit directions per level. The same inputs and arguments give the
    same values bit for bit on the same machine and thread count.
    """
    _check_images(samples, reference, patch_size)
    count = min(images, len(samples), len(reference))
    generator = torch.Generator().manual_seed(seed)
    pyramids = [_laplacian_pyramid(_subset(images_u8, count, seed), patch_size) for images_u8 in (samples, reference)]
    distances = []
    for sample_level, reference_level in zip(*pyramids, strict=True):
        corners = _patch_corners(sample_level.shape, patches_per_image, patch_size, generator)
        descriptors = [_descriptors(level, corners, patch_size) for level in (sample_level, reference_level)]
        distances.append(1e3 * _sliced_distance(*descriptors, directions, repeats, generator))
    return distances


def _check_images(samples: torch.Tensor, reference: torch.Tensor, patch_size: int) -> None:
    for what, images in (("samples", samples), ("reference", reference)):
        if images.dtype != torch.uint8 or images.dim() != 4 or len(images) < 1:
            raise ValueError(f"{what} must be uint8 [N, C, H, W] with N >= 1, got {images.dtype} {list(images.shape)}")
    if samples.shape[1:] != reference.shape[1:]:
        raise ValueError(f"samples {list(samples.shape[1:])} and reference {list(reference.shape[1:])} differ in shape")
    if min(samples.shape[2:]) < 2 * patch_size:
        raise ValueError(f"images of {list(samples.shape[2:])} are too small for {patch_size}x{patch_size} patches")


def _subset(images: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """``count`` of ``images``, chosen by ``seed`` alone (two sets of one size get the same indices), as float32."""
    order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return images[order[:count]].float()


def _laplacian_pyramid(images: torch.Tensor, patch_size: int) -> list[torch.Tensor]:
    """float ``[N, C, H, W]`` -> its Laplacian levels while the smaller side is >= ``2 * patch_size``, finest first;
    the last level is the low-pass image."""
    levels = [images]
    while min(levels[-1].shape[2:]) // 2 >= 2 * patch_size:
        finer = levels[-1]
        coarser = _blur(finer)[:, :, ::2, ::2]
        upsampled = torch.zeros_like(finer)
        upsampled[:, :, ::2, ::2] = coarser
        levels[-1] = finer - 4.0 * _blur(upsampled)
        levels.append(coarser)
    return levels


def _blur(images: torch.Tensor) -> torch.Tensor:
    """:data:`_BINOMIAL` along rows and columns of each channel, borders mirrored (``d c b | a b c d | c b a``,
    scipy's "mirror"); shifted sums, several times faster than a 1-channel ``conv2d`` on a CPU."""
    _, _, h, w = images.shape
    padded = F.pad(images, (2, 2, 2, 2), mode="reflect")
    rows = padded[:, :, :h, :] * _BINOMIAL[0]
    for k, weight in enumerate(_BINOMIAL[1:], start=1):
        rows.add_(padded[:, :, k : k + h, :], alpha=weight)
    blurred = rows[:, :, :, :w] * _BINOMIAL[0]
    for k, weight in enumerate(_BINOMIAL[1:], start=1):
        blurred.add_(rows[:, :, :, k : k + w], alpha=weight)
    return blurred


def _patch_corners(
    shape: torch.Size, per_image: int, patch_size: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Image index, top row and left column of ``per_image`` random patches per image of a level of ``shape``."""
    n, _, h, w = shape
    image = torch.arange(n).repeat_interleave(per_image)
    top = torch.randint(h - patch_size + 1, (n * per_image,), generator=generator)
    left = torch.randint(w - patch_size + 1, (n * per_image,), generator=generator)
    return image, top, left


def _descriptors(level: torch.Tensor, corners: tuple[torch.Tensor, ...], patch_size: int) -> torch.Tensor:
    """The patches at ``corners``, normalised per channel over all of them, as float32 ``[P, C * patch_size**2]``."""
    image, top, left = corners
    windows = level.unfold(2, patch_size, 1).unfold(3, patch_size, 1)  # [N, C, H', W', p, p], a view
    patches = windows[image, :, top, left]  # [P, C, p, p]
    patches = patches - patches.mean(dim=(0, 2, 3), keepdim=True)
    patches = patches / patches.std(dim=(0, 2, 3), correction=0, keepdim=True).clamp_min(1e-8)
    return patches.reshape(len(patches), -1)


def _sliced_distance(
    a: torch.Tensor, b: torch.Tensor, directions: int, repeats: int, generator: torch.Generator
) -> float:
    """Mean over ``repeats`` x ``directions`` random unit directions of the 1-D Wasserstein-1 distance between the
    projections of equally many descriptors ``a`` and ``b`` (float ``[P, D]``)."""
    means = []
    for _ in range(repeats):
        unit = torch.randn(a.shape[1], directions, generator=generator)
        unit = unit / unit.norm(dim=0, keepdim=True)
        # [directions, P], each row sorted; numpy's sort is several times faster than torch's here
        projected = [np.sort((unit.T @ descriptors.T).numpy(), axis=1) for descriptors in (a, b)]
        means.append(np.abs(projected[0] - projected[1]).mean(dtype=np.float64))
    return float(np.mean(means))
