"""`shapes`, the dataset zoo draws itself: registered by a built-in plugin, the same images on every machine, and the
smoke profile's dataset, with the classifier zoo trained on it shipped beside MNIST's."""

from __future__ import annotations

import hashlib
import json

import torch

from genzoo_plugins import shapes
from tests.helpers import zoo
from zoo.bench.profiles import load_profile
from zoo.bench.weights import BUILTIN_EXTRACTOR_DIR
from zoo.data import load_split
from zoo.metrics.domain import accuracy, load_domain_classifier

TRAIN_SHA256 = "bb34a470a98e"
"""The first 12 hex digits of the SHA-256 of the training images' bytes, as drawn when the shipped classifier was
trained: a change of the drawing (or of numpy's generator) shows here before it shows in a score."""


def test_shapes_is_a_built_in_dataset_with_two_seeded_splits(registry):
    listed = {d["name"]: d for d in json.loads(zoo("datasets", "--json").output)["datasets"]}
    assert listed["shapes"] == {"name": "shapes", "shape": [3, 32, 32], "classes": 4, "plugin": "genzoo"}
    spec = registry.datasets["shapes"]
    images, labels = load_split(spec, "train", root="/nonexistent")  # nothing is read from a data root
    test_images, test_labels = load_split(spec, "test")
    assert images.shape == (4000, 3, 32, 32) and test_images.shape == (1000, 3, 32, 32)
    assert torch.bincount(labels).tolist() == [1000] * 4 and torch.bincount(test_labels).tolist() == [250] * 4
    assert hashlib.sha256(images.numpy().tobytes()).hexdigest()[:12] == TRAIN_SHA256
    again, _ = shapes.draw_split.__wrapped__("train")  # drawn anew, not from the process's cache
    assert torch.equal(torch.from_numpy(again), images) and not torch.equal(images[:1000], test_images)


def test_the_smoke_profile_benches_shapes_with_the_classifier_zoo_ships_for_it(registry):
    profile = load_profile("smoke")
    assert profile.datasets == ("shapes",)
    (protocol,) = profile.protocols_for(registry.datasets["shapes"], registry.extractors, print)
    weights = profile.weights_path(protocol, "shapes")
    assert weights == BUILTIN_EXTRACTOR_DIR / "shapes-test_resnet.safetensors" and weights.stat().st_size < 2e6
    model, card = load_domain_classifier(weights)
    assert (card.dataset, card.image_shape, card.num_classes) == ("shapes", (3, 32, 32), 4)
    images, labels = load_split(registry.datasets["shapes"], "test")
    assert accuracy(model, images, labels) == card.test_accuracy >= 0.99
