"""The shared conv stacks: their depth follows the image size (DCGAN's depth at 64x64), small images unchanged."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from zoo.factory import create_trainer
from zoo.layers import DCGANDiscriminator, DCGANGenerator, conv_features, spectral_norm, stride2_layers


def stride2(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.stride == (2, 2)]


def parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    ("shape", "layers"),
    [((1, 28, 28), 2), ((3, 32, 32), 2), ((3, 48, 48), 2), ((3, 64, 64), 4), ((3, 96, 96), 4), ((3, 128, 128), 5)],
)
def test_depth_follows_the_image_side(shape, layers):
    assert stride2_layers(shape) == layers
    assert len(stride2(DCGANGenerator(shape, width=4))) == layers
    assert len(stride2(DCGANDiscriminator(shape, width=4))) == layers


def test_at_64x64_the_generator_is_the_papers():
    """Radford et al. 2015, Fig. 1: z projected to 4x4x1024, then 512, 256, 128 and 3 channels at 64x64."""
    net = DCGANGenerator((3, 64, 64), latent_dim=100, width=128).net
    assert net[3].unflattened_size == (1024, 4, 4)
    assert [(m.in_channels, m.out_channels) for m in stride2(net)] == [(1024, 512), (512, 256), (256, 128), (128, 3)]
    discriminator = DCGANDiscriminator((3, 64, 64), width=128)
    assert [m.out_channels for m in stride2(discriminator)] == [128, 256, 512, 1024]
    assert discriminator.head.in_features == 1024 * 4 * 4
    assert discriminator(torch.zeros(2, 3, 64, 64)).shape == (2,)


@pytest.mark.parametrize(
    ("model", "shape", "counts"),
    [
        ("dcgan", (1, 28, 28), {"G": 771_969, "D": 138_689}),
        ("dcgan", (3, 32, 32), {"G": 969_859, "D": 142_657}),
        ("wgan_gp", (3, 32, 32), {"G": 969_859, "D": 142_529}),
        ("vae", (1, 28, 28), {"encoder": 133_824, "decoder": 89_794}),
    ],
)
def test_small_image_networks_are_unchanged(registry, model, shape, counts):
    trainer = create_trainer(registry.models[model], shape, 10)
    assert {name: parameters(module) for name, module in trainer.modules().items()} == counts


def test_sizes_the_stacks_cannot_halve_are_refused():
    with pytest.raises(ValueError, match="multiples of 4"):
        conv_features((1, 30, 30), 4)
    with pytest.raises(ValueError, match="multiples of 16"):
        conv_features((3, 72, 72), 4)


def test_spectral_norm_bounds_every_linear_and_conv_layer_by_one():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 4, 3), nn.ConvTranspose2d(4, 3, 4), nn.Flatten(), nn.LazyLinear(5), nn.ReLU())
    net(torch.zeros(1, 2, 8, 8))  # materialise the lazy layer
    assert spectral_norm(net) is net
    normalised = [m for m in net if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    assert all(nn.utils.parametrize.is_parametrized(m, "weight") for m in normalised)
    for _ in range(50):  # one power iteration per training-mode forward pass
        net(torch.randn(2, 2, 8, 8))
    net.eval()
    for layer, outputs in zip(normalised, (0, 1, 0), strict=True):  # a transposed conv's outputs are dim 1
        matrix = layer.weight.detach().movedim(outputs, 0).flatten(1)
        assert torch.linalg.matrix_norm(matrix, ord=2).item() == pytest.approx(1.0, abs=1e-3)
    assert "3.parametrizations.weight.original" in net.state_dict()
