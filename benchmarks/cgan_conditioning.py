"""Why cgan's discriminator takes the label as one-hot input maps rather than by projection.

Trains the cgan plugin on MNIST twice from the same seed, once as shipped (one-hot label maps into D) and once
with a projection discriminator (Miyato & Koyama 2018) on the same DCGAN features, and reports the mean
within-class pixel standard deviation of 64 samples per class: near 0 means the generator ignores ``z`` (one
image per class); real MNIST digits give about 0.3.

    python benchmarks/cgan_conditioning.py --data-root ../shared/datasets [--steps 1250]

Each variant runs in its own process with one thread, both at once.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from zoo import Discriminator, create_trainer
from zoo.data import InMemoryDataset, load_split
from zoo.layers import conv_features, dcgan_init
from zoo.plugins import load_registry
from zoo.training import train

VARIANTS = ("one-hot", "projection")


class ProjectionDiscriminator(Discriminator):
    """``linear(phi(x)) + <embed(y), phi(x)>`` on DCGAN features (the design cgan does NOT use)."""

    def __init__(self, image_shape, num_classes: int, width: int):
        super().__init__()
        self.features, num_features = conv_features(tuple(image_shape), width, batchnorm=True)
        self.linear = nn.Linear(num_features, 1)
        self.embed = nn.Embedding(num_classes, num_features)
        self.apply(dcgan_init)
        nn.init.normal_(self.embed.weight, 0.0, 0.02)

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        phi = self.features(images)
        return self.linear(phi).squeeze(1) + (self.embed(labels) * phi).sum(dim=1)


def within_class_std(images: torch.Tensor, labels: torch.Tensor) -> float:
    """Mean over classes of the per-pixel standard deviation across that class's images (float in [-1, 1])."""
    return torch.stack([images[labels == k].std(0).mean() for k in labels.unique()]).mean().item()


def run_variant(variant: str, steps: int, data_root: Path | None) -> None:
    torch.set_num_threads(1)
    registry = load_registry()
    spec = registry.models["cgan"]
    images, labels = load_split(registry.datasets["mnist"], "train", root=data_root)
    trainer = create_trainer(spec, (1, 28, 28), 10, hparams=spec.resolve_hparams("mnist"), seed=0)
    if variant == "projection":
        trainer.discriminator = ProjectionDiscriminator((1, 28, 28), 10, spec.hparams["width"])
        trainer.opt_d = torch.optim.Adam(trainer.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    train(trainer, InMemoryDataset(images, labels), steps=steps, batch_size=64, seed=0, progress=False)
    sample_labels = torch.arange(640) % 10
    samples = trainer.generator.sample(640, generator=torch.Generator().manual_seed(0), labels=sample_labels)
    real = images[:6400].float() / 127.5 - 1
    print(
        f"{variant:>10}: within-class std of samples {within_class_std(samples, sample_labels):.3f} "
        f"(real MNIST {within_class_std(real, labels[:6400]):.3f}) after {steps} steps"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--steps", type=int, default=1250)
    parser.add_argument("--variant", choices=VARIANTS, help="run one variant in this process")
    args = parser.parse_args()
    if args.variant:
        run_variant(args.variant, args.steps, args.data_root)
        return
    root = ["--data-root", str(args.data_root)] if args.data_root else []
    children = [
        subprocess.Popen([sys.executable, __file__, "--variant", v, "--steps", str(args.steps), *root])
        for v in VARIANTS
    ]
    sys.exit(max(child.wait() for child in children))


if __name__ == "__main__":
    main()
