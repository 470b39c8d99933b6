"""The layer-shape tables in the built-in models' docstrings describe the networks as built.

Each built-in's module docstring lists, for its networks at the default hyperparameters, every module in the order
the forward pass calls it, with its class and output shape, in tables of this form::

    G at 1x28x28, 771,969 parameters::

        net.0-2  Linear BatchNorm1d ReLU  6272
        net.3    Unflatten                128x7x7

(``net.0-2`` is ``net.0``, ``net.1``, ``net.2``; a conditional model's header adds ``, 10 classes`` after the
shape). Forward hooks on the network that ``zoo.create_trainer`` builds record what really runs: a network edited
without its table fails here.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import pytest
import torch
from torch import nn

from zoo import Discriminator, Generator, create_trainer
from zoo.plugins import load_registry

REGISTRY = load_registry()
BUILT_INS = sorted(name for name in REGISTRY.models if REGISTRY.models.plugin(name).distribution == "genzoo")
DOCUMENTED_SHAPES = [(1, 28, 28), (3, 64, 64)]
"""Every network of every built-in has a table at each of these image shapes."""

HEADER = re.compile(
    r"^(?P<net>\w+) at (?P<shape>\d+x\d+x\d+)(?:, (?P<classes>\d+) classes)?, (?P<params>[\d,]+) parameters::$"
)
ROW = re.compile(
    r"^    (?P<first>[\w.]+?)(?:-(?P<last>\d+))?  +(?P<classes>[A-Z]\w*(?: [A-Z]\w*)*)  +(?P<shape>\d+(?:x\d+)*)$"
)

Layer = tuple[str, str, tuple[int, ...]]
"""A module's name in its network, its class name and its output shape without the batch dimension."""


@dataclass(frozen=True)
class Table:
    network: str
    image_shape: tuple[int, int, int]
    num_classes: int
    parameters: int
    layers: list[Layer]


def shape_of(text: str) -> tuple[int, ...]:
    return tuple(int(side) for side in text.split("x"))


def tables(doc: str) -> list[Table]:
    """Every layer-shape table in ``doc``; a row that does not parse fails the test with the row."""
    lines, found = doc.splitlines(), []
    for at, line in enumerate(lines):
        header = HEADER.match(line)
        if not header:
            continue
        assert lines[at + 1] == "", f"no blank line after {line!r}"
        layers: list[Layer] = []
        for row in lines[at + 2 :]:
            if not row.strip():
                break
            parsed = ROW.match(row)
            assert parsed, f"row of {line!r} does not parse: {row!r}"
            classes = parsed["classes"].split()
            if parsed["last"] is None:
                names = [parsed["first"]]
            else:
                parent, first = parsed["first"].rsplit(".", 1)
                names = [f"{parent}.{i}" for i in range(int(first), int(parsed["last"]) + 1)]
            assert len(names) == len(classes), f"{row!r} names {len(names)} modules but {len(classes)} classes"
            layers += [(name, cls, shape_of(parsed["shape"])) for name, cls in zip(names, classes, strict=True)]
        assert layers, f"no rows under {line!r}"
        classes = int(header["classes"] or 0)
        params = int(header["params"].replace(",", ""))
        found.append(Table(header["net"], shape_of(header["shape"]), classes, params, layers))  # type: ignore[arg-type]
    return found


def traced(network: nn.Module, image_shape: tuple[int, int, int], num_classes: int) -> list[Layer]:
    """Every module without children that ``network``'s forward pass calls, in call order, with its output shape."""
    calls: list[Layer] = []
    hooks = [
        module.register_forward_hook(lambda m, _, out, name=name: calls.append((name, type(m).__name__, out.shape[1:])))
        for name, module in network.named_modules()
        if name and next(module.children(), None) is None
    ]
    labels = torch.zeros(2, dtype=torch.long) if num_classes else None
    network.eval()
    try:
        with torch.no_grad():
            if isinstance(network, Generator):
                network(torch.zeros(2, network.latent_dim), labels)
            elif isinstance(network, Discriminator):
                network(torch.zeros(2, *image_shape), labels)
            else:  # an encoder
                network(torch.zeros(2, *image_shape))
    finally:
        for hook in hooks:
            hook.remove()
    return [(name, cls, tuple(shape)) for name, cls, shape in calls]


def test_every_built_in_is_covered():
    assert {"vanilla_gan", "dcgan", "wgan_gp", "vae", "cgan", "infogan"} <= set(BUILT_INS)


@pytest.mark.parametrize("model", BUILT_INS)
def test_documented_layer_shapes_are_the_networks(model):
    spec = REGISTRY.models[model]
    documented = tables(sys.modules[spec.factory.__module__].__doc__ or "")
    keys = [(table.network, table.image_shape) for table in documented]
    assert len(set(keys)) == len(keys), f"{model}: a network has two tables at one image shape"
    for image_shape in sorted(set(DOCUMENTED_SHAPES) | {table.image_shape for table in documented}):
        trainer = create_trainer(spec, image_shape, 10, hparams={}, seed=0)
        here = {table.network: table for table in documented if table.image_shape == image_shape}
        assert set(here) == set(trainer.modules()), f"{model}: tables at {image_shape} for {sorted(here)}"
        for name, network in trainer.modules().items():
            table, where = here[name], f"{model} {name} at {image_shape}"
            assert table.num_classes == (10 if spec.conditional else 0), f"{where}: classes in the header"
            assert sum(p.numel() for p in network.parameters()) == table.parameters, f"{where}: parameters"
            assert traced(network, image_shape, table.num_classes) == table.layers, f"{where}: layers"


def test_a_stale_table_is_told_from_the_network():
    doc = sys.modules[REGISTRY.models["dcgan"].factory.__module__].__doc__ or ""
    (table,) = [t for t in tables(doc) if t.network == "G" and t.image_shape == (1, 28, 28)]
    generator = create_trainer(REGISTRY.models["dcgan"], (1, 28, 28), 10).generator
    assert traced(generator, (1, 28, 28), 0) == table.layers
    (stale,) = [
        t
        for t in tables(doc.replace("ReLU  64x14x14", "ReLU  64x13x13"))
        if t.network == "G" and t.image_shape == (1, 28, 28)
    ]
    assert traced(generator, (1, 28, 28), 0) != stale.layers  # a row edited without the network
    generator.net.append(nn.Identity())
    assert traced(generator, (1, 28, 28), 0) != table.layers  # the network edited without its row
