"""Every registered model honours the contract (as timm tests every model in ``list_models``)."""

from __future__ import annotations

import pytest

from zoo.conformance import CHECKS, PROBE_SHAPES, Probe
from zoo.plugins import load_registry

REGISTRY = load_registry()
PROBES = {name: Probe(shape, 10) for name, shape in PROBE_SHAPES.items()}


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize("model", list(REGISTRY.models))
def test_contract_on_mnist_shape(model, check):
    CHECKS[check](REGISTRY.models[model], PROBES["28x28"])


@pytest.mark.parametrize("check", ["interfaces", "samples", "training"])
@pytest.mark.parametrize("model", list(REGISTRY.models))
@pytest.mark.parametrize("shape", ["32x32x3", "64x64x3"])
def test_contract_on_colour_shapes(shape, model, check):
    CHECKS[check](REGISTRY.models[model], PROBES[shape])


@pytest.mark.parametrize("model", list(REGISTRY.models))
def test_full_size_model_builds_and_samples(model):
    CHECKS["samples"](REGISTRY.models[model], Probe((1, 28, 28), 10, tiny=False))


def test_every_built_in_is_checked():
    assert {"vanilla_gan", "dcgan", "wgan_gp", "vae", "cgan", "infogan"} <= set(REGISTRY.models)
