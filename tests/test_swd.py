"""The sliced Wasserstein distance on Laplacian-pyramid patches: Karras's pyramid, sensitivity to speckle,
determinism, input checks.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from zoo.metrics.swd import _laplacian_pyramid, sliced_wasserstein, sliced_wasserstein_levels

SETTINGS = dict(images=1000, patches_per_image=16, directions=64, repeats=2)
"""Small enough for a test, large enough that two clean halves score well below speckled ones."""


def strokes(n: int, seed: int, side: int = 28, channels: int = 1) -> torch.Tensor:
    """uint8 ``[n, channels, side, side]`` digit-like images: two or three thick bright anti-aliased strokes on a
    black background (each image and channel its own brightness)."""
    generator = torch.Generator().manual_seed(seed)
    grid = torch.stack(torch.meshgrid(torch.arange(side), torch.arange(side), indexing="ij"), -1).float()  # [H, W, 2]
    images = torch.zeros(n, side, side)
    for _ in range(3):
        start, end = (side * (0.2 + 0.6 * torch.rand(2, n, 1, 1, 2, generator=generator))).unbind(0)
        along = ((grid - start) * (end - start)).sum(-1) / (end - start).square().sum(-1).clamp_min(1e-6)
        distance = (grid - (start + along.clamp(0, 1).unsqueeze(-1) * (end - start))).norm(dim=-1)
        present = torch.rand(n, 1, 1, generator=generator) < 0.8
        images = torch.maximum(images, present * (1.5 - distance / 1.2).clamp(0, 1))
    brightness = 0.6 + 0.4 * torch.rand(n, channels, 1, 1, generator=generator)
    return (255 * images.unsqueeze(1) * brightness).round().to(torch.uint8)


def speckle(images: torch.Tensor, share: float, seed: int) -> torch.Tensor:
    """``images`` with ``share`` of their pixels set to black or white at random (salt-and-pepper noise)."""
    generator = torch.Generator().manual_seed(seed)
    hit = torch.rand(images.shape, generator=generator) < share
    salt = (torch.rand(images.shape, generator=generator) < 0.5).to(torch.uint8) * 255
    return torch.where(hit, salt, images)


CLEAN = strokes(2000, seed=0)
HALF = len(CLEAN) // 2


def test_speckle_moves_swd_far_beyond_two_clean_halves():
    clean = sliced_wasserstein_levels(CLEAN[:HALF], CLEAN[HALF:], seed=0, **SETTINGS)
    speckled = sliced_wasserstein_levels(CLEAN[:HALF], speckle(CLEAN[HALF:], 0.02, seed=1), seed=0, **SETTINGS)
    assert np.mean(speckled) > 3 * np.mean(clean) > 0
    # the finest level sees the speckle; the low-pass level barely does
    assert speckled[0] > 5 * clean[0] and speckled[1] < 1.5 * clean[1]


def test_identical_sets_score_zero():
    assert sliced_wasserstein(CLEAN, CLEAN.clone(), seed=3, **SETTINGS) == 0.0


def test_each_set_is_normalised_by_its_own_statistics_so_contrast_is_not_seen():
    halved = CLEAN // 2  # exactly half of CLEAN & 254: the same patches at half the contrast
    assert sliced_wasserstein(CLEAN & 254, halved, seed=3, **SETTINGS) == 0.0


def test_same_seed_same_float_bit_for_bit_and_global_random_state_untouched():
    torch.rand(1), np.random.rand(), random.random()  # states no seeding call can restore
    torch_state, numpy_state, python_state = torch.get_rng_state(), np.random.get_state(), random.getstate()
    first = sliced_wasserstein(CLEAN[:HALF], CLEAN[HALF:], seed=5, **SETTINGS)
    assert sliced_wasserstein(CLEAN[:HALF], CLEAN[HALF:], seed=5, **SETTINGS) == first
    assert sliced_wasserstein(CLEAN[:HALF], CLEAN[HALF:], seed=6, **SETTINGS) != first
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert random.getstate() == python_state
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state, strict=True))


def test_pyramid_levels_by_side_and_colour_images():
    assert len(sliced_wasserstein_levels(CLEAN[:50], CLEAN[50:100], seed=0, **SETTINGS)) == 2  # 28, 14
    rgb = strokes(40, seed=2, side=64, channels=3)
    levels = sliced_wasserstein_levels(rgb[:20], rgb[20:], seed=0, **SETTINGS)
    assert len(levels) == 3 and all(value > 0 for value in levels)  # 64, 32, 16
    odd = strokes(20, seed=3, side=29)
    assert [level.shape[-1] for level in _laplacian_pyramid(odd.float(), 7)] == [29, 15]


def karras_pyramid(images: np.ndarray, levels: int) -> list[np.ndarray]:
    """Karras's ``generate_laplacian_pyramid`` (scipy.ndimage.convolve, mode="mirror"), written with numpy alone."""
    kernel = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]).astype(np.float32) / 256

    def convolve(x):
        padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")
        windows = np.lib.stride_tricks.sliding_window_view(padded, (5, 5), axis=(2, 3))
        return np.einsum("nchwij,ij->nchw", windows, kernel)

    pyramid = [images.astype(np.float32)]
    for _ in range(1, levels):
        pyramid.append(convolve(pyramid[-1])[:, :, ::2, ::2])
        upsampled = np.zeros_like(pyramid[-2])
        upsampled[:, :, ::2, ::2] = pyramid[-1]
        pyramid[-2] = pyramid[-2] - 4 * convolve(upsampled)
    return pyramid


def test_laplacian_pyramid_is_karras_s():
    images = torch.randint(256, (8, 3, 64, 64), generator=torch.Generator().manual_seed(4), dtype=torch.uint8)
    ours = _laplacian_pyramid(images.float(), patch_size=7)
    theirs = karras_pyramid(images.numpy(), levels=3)
    assert len(ours) == 3
    for mine, reference in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(mine.numpy(), reference, atol=1e-3)


@pytest.mark.parametrize(
    ("samples", "reference", "message"),
    [
        (CLEAN.float(), CLEAN, "samples must be uint8"),
        (CLEAN, CLEAN[:, 0], "reference must be uint8"),
        (CLEAN[:0], CLEAN, "N >= 1"),
        (CLEAN, torch.cat([CLEAN, CLEAN], 1), "differ in shape"),
        (CLEAN[:, :, :13, :13], CLEAN[:, :, :13, :13], "too small"),
    ],
)
def test_wrong_inputs_are_refused(samples, reference, message):
    with pytest.raises(ValueError, match=message):
        sliced_wasserstein(samples, reference, seed=0)
