"""``code_accuracy``: how well a categorical latent code captures the classes without labels (InfoGAN's number), from
the domain classifier's predictions, under the best one-to-one mapping of code values to classes."""

from __future__ import annotations

import dataclasses
import itertools
import random

import pytest
import torch
from torch import nn

from tests import test_metrics
from tests.test_metrics import BASE, COUNTED, EXTRACTORS, REFERENCE, NoisyGenerator, domain_protocol, logits_for
from zoo import Generator
from zoo.imaging import to_uint8
from zoo.latent import LatentCode
from zoo.metrics import evaluate, generate_samples
from zoo.metrics.classes import best_matching, class_metrics
from zoo.metrics.sampling import class_code

classifier = test_metrics.classifier
"""tests/test_metrics.py's session fixture (a domain classifier of 9 square classes), shared."""
CLASSES = 9
"""The test classifier's classes (tests/test_metrics.py's squares)."""
SHUFFLED = torch.tensor([4, 0, 7, 2, 8, 1, 6, 3, 5])
"""The class each value of :class:`SquaresGenerator`'s code draws: a permutation, which the best mapping undoes."""


def test_the_best_matching_is_the_best_permutation():
    chooser = random.Random(0)
    for _ in range(300):
        k = chooser.randint(1, 6)
        weights = [[chooser.randint(0, chooser.choice([2, 40])) for _ in range(k)] for _ in range(k)]
        best = max(sum(weights[i][p[i]] for i in range(k)) for p in itertools.permutations(range(k)))
        assert best_matching(weights) == best, weights
    assert best_matching([]) == 0


def test_a_code_that_is_the_class_scores_1_and_an_ignored_one_about_chance():
    codes = torch.arange(4).repeat(5)
    permuted = class_metrics(COUNTED, logits_for([(3 - c) for c in codes.tolist()]), None, codes)
    assert permuted["code_accuracy"].value == 1.0  # the classes are the code values in another order
    ignored = class_metrics(COUNTED, logits_for([0, 1, 2, 3] * 5), None, torch.arange(4).repeat_interleave(5))
    assert ignored["code_accuracy"].value == pytest.approx(8 / 20)  # each value's 5 samples: at most 2 of one class
    assert "code_accuracy" not in class_metrics(COUNTED, logits_for([0, 1]), None)
    unavailable = class_metrics(dataclasses.replace(COUNTED, classifies_dataset=False), logits_for([0]), None, codes)
    assert not unavailable["code_accuracy"].available and "does not classify" in unavailable["code_accuracy"].reason


class SquaresGenerator(Generator):
    """Draws the test classifier's squares (a bright square on a dark background, its position the class) with a
    categorical code ``shape`` of ``values`` values: the class of code value ``v`` is ``SHUFFLED[v]``, or (``uses_code``
    false) a class drawn from the noise, whatever the code."""

    def __init__(self, uses_code: bool = True, values: int = CLASSES):
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = values + 1, 0, (1, 16, 16)
        self.latent_codes = (LatentCode("shape", "categorical", values=values),)
        self.uses_code, self.values = uses_code, values
        self.anchor = nn.Parameter(torch.zeros(()))

    def prior(self, n, *, generator=None, codes=None):
        noise = torch.rand(n, 1, generator=generator)
        value = (codes or {}).get("shape", torch.randint(self.values, (n,), generator=generator))
        return torch.cat([nn.functional.one_hot(value, self.values).float(), noise], dim=1)

    def forward(self, z, labels=None):
        value = z[:, : self.values].argmax(1)
        classes = SHUFFLED[value % CLASSES] if self.uses_code else (z[:, -1] * CLASSES).long().clamp(max=CLASSES - 1)
        images = torch.full((len(z), *self.image_shape), -0.8)
        for i, label in enumerate(classes.tolist()):
            row, col = 1 + 5 * (label // 3), 1 + 5 * (label % 3)
            images[i, :, row : row + 4, col : col + 4] = 1.0
        return images + self.anchor


def test_evaluation_samples_draw_the_class_code_evenly_and_hold_it():
    protocol = dataclasses.replace(BASE, reference_class_counts=(5,) * CLASSES)
    samples = generate_samples(SquaresGenerator(), protocol, batch_size=40)
    counts = torch.bincount(samples.codes, minlength=CLASSES)
    assert counts.max() - counts.min() <= 1  # each value equally often, as far as the count allows
    generator = SquaresGenerator()  # its images are a function of the code: those of the codes recorded
    assert torch.equal(samples.images, to_uint8(generator(generator.prior(1000, codes={"shape": samples.codes}))))
    again = generate_samples(SquaresGenerator(), protocol, batch_size=70)
    assert torch.equal(again.codes, samples.codes)  # drawn before the batches: the batch size does not move them
    assert generate_samples(NoisyGenerator(), protocol).codes is None  # no code: sampled as always
    assert class_code(SquaresGenerator(values=4), protocol.reference_class_counts) is None  # 4 values, 9 classes
    assert class_code(SquaresGenerator(), None) is None


@pytest.mark.parametrize(("uses_code", "low", "high"), [(True, 0.9, 1.0), (False, 0.0, 0.3)])
def test_code_accuracy_under_the_domain_classifier(classifier, tmp_path, uses_code, low, high):
    """A generator whose code is the class (in another order) scores about 1; one that ignores its code about chance
    (1/9, plus what the best mapping of 150 samples gains by luck)."""
    _, path = classifier
    protocol = domain_protocol(path)
    values = evaluate(
        generate_samples(SquaresGenerator(uses_code), protocol),
        reference_u8=REFERENCE[0],
        protocol=protocol,
        extractor=EXTRACTORS[protocol.settings.extractor],
        weights_path=path,
        cache_dir=tmp_path,
    )
    assert low <= values["code_accuracy"].value <= high
    assert "label_accuracy" not in values
