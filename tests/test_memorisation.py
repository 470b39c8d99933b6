"""Copying of training images: exact nearest neighbours, the copy share against the held-out yardstick, the pairs
figure.
"""

from __future__ import annotations

import pytest
import torch

from tests.test_swd import strokes
from zoo.metrics.memorisation import COPY_QUANTILE, copy_share, nearest, neighbour_pairs

TRAIN, HELDOUT, TEST = strokes(2000, seed=10), strokes(500, seed=11), strokes(500, seed=12)
"""One distribution: the training images, the held-out real images that set the yardstick, and unseen images a
"model" may return."""


def pixels(images: torch.Tensor) -> torch.Tensor:
    return images.flatten(1).float() / 255


def share_of(samples: torch.Tensor) -> float:
    bank = pixels(TRAIN)
    return copy_share(nearest(pixels(samples), bank)[0], nearest(pixels(HELDOUT), bank)[0])


def test_a_model_returning_training_images_copies_and_one_returning_unseen_images_does_not():
    generator = torch.Generator().manual_seed(0)
    copies = TRAIN[torch.randint(len(TRAIN), (500,), generator=generator)]
    assert share_of(copies) == 1.0
    noisy = (copies.float() + 4 * torch.randn(copies.shape, generator=generator)).round().clamp(0, 255)
    assert share_of(noisy.to(torch.uint8)) == 1.0  # copies under faint noise are still copies
    unseen = share_of(TEST)
    assert 0 < unseen < 2 * COPY_QUANTILE  # about the quantile: what real data scores by construction


def test_heldout_data_scores_the_quantile_against_itself():
    distances = torch.linspace(0, 1, 101)
    assert copy_share(distances, distances, quantile=0.2) == pytest.approx(0.2, abs=0.011)
    assert copy_share(torch.zeros(3), distances) == 1.0 and copy_share(torch.ones(3), distances) == 0.0


@pytest.mark.parametrize("chunk", [7, 2048])
def test_nearest_is_brute_force(chunk):
    generator = torch.Generator().manual_seed(1)
    bank = torch.rand(100, 784, generator=generator)
    queries = torch.cat([torch.rand(40, 784, generator=generator), bank[[5, 99, 0]]])  # and three exact copies
    distances, indices = nearest(queries, bank, chunk=chunk)
    brute = (queries.double()[:, None] - bank.double()[None]).norm(dim=2).min(dim=1)
    assert torch.equal(indices, brute.indices)
    torch.testing.assert_close(distances, brute.values, atol=1e-10, rtol=1e-12)
    assert distances.dtype == torch.float64 and distances[-3:].tolist() == [0.0, 0.0, 0.0]
    assert indices[-3:].tolist() == [5, 99, 0]


def test_nearest_orders_near_ties_that_float32_cannot():
    """Each query has two bank rows within 1e-4 per pixel, far closer together than float32's error in
    ``|q|^2 + |b|^2 - 2 q.b`` at values near 100: the exact re-measure must pick the nearer one."""
    generator = torch.Generator().manual_seed(2)
    queries = 100 + torch.rand(30, 784, generator=generator)
    near = [queries + 1e-4 * torch.randn(queries.shape, generator=generator) for _ in range(2)]
    bank = torch.cat([100 + torch.rand(50, 784, generator=generator), *near])
    # and far from the origin, where |q|^2 alone would swamp every difference (ties: the lowest index)
    for shifted_queries, shifted_bank in ((queries, bank), (queries + 1e4, bank + 1e4)):
        distances, indices = nearest(shifted_queries, shifted_bank, chunk=64)
        brute = (shifted_queries.double()[:, None] - shifted_bank.double()[None]).norm(dim=2).min(dim=1)
        assert torch.equal(indices, brute.indices) and torch.equal(distances, brute.values)


def test_nearest_takes_the_lowest_index_among_equal_neighbours_and_empty_queries():
    bank = torch.tensor([[0.0, 2.0], [1.0, 0.0], [1.0, 0.0], [3.0, 3.0]])
    distances, indices = nearest(torch.tensor([[1.0, 0.0], [1.0, 0.1]]), bank)
    assert indices.tolist() == [1, 1] and distances[0] == 0.0
    empty = nearest(torch.empty(0, 2), bank)
    assert empty[0].shape == empty[1].shape == (0,)
    with pytest.raises(ValueError, match="share D"):
        nearest(torch.zeros(2, 3), bank)


def test_neighbour_pairs_closest_first_sample_then_its_neighbour():
    samples = torch.stack([torch.full((1, 4, 4), value, dtype=torch.uint8) for value in (10, 20, 30)])
    train = torch.stack([torch.full((1, 4, 4), value, dtype=torch.uint8) for value in (100, 200)])
    distances, indices = torch.tensor([0.5, 0.1, 0.3]), torch.tensor([0, 1, 0])
    pairs = neighbour_pairs(samples, train, distances, indices, n=2)
    assert pairs.dtype == torch.uint8 and pairs.shape == (4, 1, 4, 4)
    assert pairs[:, 0, 0, 0].tolist() == [20, 200, 30, 100]
    assert neighbour_pairs(samples, train, distances, indices, n=10).shape == (6, 1, 4, 4)
    with pytest.raises(ValueError, match="uint8"):
        neighbour_pairs(samples.float(), train, distances, indices)
