"""Why zoo's first vanilla GAN collapsed on MNIST, and what fixed it: the before/after figure of benchmarks/README.md.

Trains fully connected GANs on MNIST from one seed for the same number of steps through zoo's own builder
(:func:`zoo.create_trainer` with the ``vanilla_gan`` plugin: batch 64, Adam 2e-4, betas (0.5, 0.999),
non-saturating G loss, one D then one G update per step), varying only the networks:

* ``before``: the vanilla GAN as first shipped: G 64 -> 256 -> 512 -> 784 and no normalisation; D 784 -> 512 ->
  256 -> 1 (LeakyReLU 0.2 throughout).
* ``after``: the plugin as it is now, PyTorch-GAN's ``implementations/gan/gan.py`` networks: G 100 -> 128 -> 256 ->
  512 -> 1024 -> 784 with BatchNorm (PyTorch's default eps 1e-5) on all hidden layers but the first.
* controls (``--variants``): ``after_eps0.8`` is PyTorch-GAN verbatim (its ``BatchNorm1d(n, 0.8)`` sets eps=0.8),
  ``after_nobn`` the same widths without BatchNorm.

Every ``--every`` steps it draws 2,000 samples (eval mode, as the bench does) and records the share of each digit
as judged by zoo's MNIST domain classifier; at the end, the class histogram of 10,000 samples (smallest class
share, entropy of the histogram / ln 10) and 64 samples. Writes ``<out>/<variant>.json`` and one figure,
``<out>/vanilla_gan_diagnosis.png`` (per variant: samples, final class shares with the 5% line, share over
training). Each variant runs in its own process with one thread, two at a time.

    python benchmarks/vanilla_gan_diagnosis.py --data-root ../shared/datasets [--steps 10000] [--every 1000]
        [--variants before after after_eps0.8 after_nobn] [--out vanilla_gan_diagnosis]
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

import torch
from torch import nn

from zoo import create_trainer
from zoo.data import InMemoryDataset, load_split
from zoo.imaging import to_uint8, to_unit_range
from zoo.metrics.domain import load_domain_classifier
from zoo.plugins import load_registry
from zoo.training import train

CLASSIFIER = Path(__file__).resolve().parents[1] / "zoo/extractors/mnist-test_resnet.safetensors"
BEFORE = {"latent_dim": 64, "hidden": [256, 512], "d_hidden": [512, 256]}
VARIANTS = {
    # name: (vanilla_gan hyperparameters, the generator's BatchNorm: "default", an eps, or None for none)
    "before": (BEFORE, None),
    "after": ({}, "default"),
    "after_eps0.8": ({}, 0.8),
    "after_nobn": ({}, None),
}


def build(name: str, seed: int):
    """The variant's trainer: the ``vanilla_gan`` plugin's, its generator's BatchNorm layers changed as named."""
    hparams, batchnorm = VARIANTS[name]
    trainer = create_trainer(load_registry().models["vanilla_gan"], (1, 28, 28), 0, hparams=hparams, seed=seed)
    net = trainer.generator.net
    for index, layer in enumerate(net):
        if isinstance(layer, nn.BatchNorm1d) and batchnorm is None:
            net[index] = nn.Identity()
        elif isinstance(layer, nn.BatchNorm1d) and batchnorm != "default":
            layer.eps = batchnorm
    return trainer


@torch.no_grad()
def class_shares(classifier: nn.Module, generator, n: int, seed: int) -> list[float]:
    """Share of each digit among ``n`` samples (eval mode, noise seeded with ``seed``), by the domain classifier."""
    rng = torch.Generator().manual_seed(seed)
    samples = torch.cat([to_uint8(generator.sample(min(1000, n - i), generator=rng)) for i in range(0, n, 1000)])
    predicted = torch.cat([classifier(to_unit_range(samples[i : i + 1000])).argmax(1) for i in range(0, n, 1000)])
    return (torch.bincount(predicted, minlength=10).float() / n).tolist()


def summarise(shares: list[float]) -> dict[str, float]:
    """Smallest class share and the entropy of the class histogram / ln 10 (1 = uniform, 0 = one class)."""
    entropy = -sum(p * math.log(p) for p in shares if p > 0) / math.log(10)
    return {"min_share": min(shares), "entropy": max(0.0, entropy)}


def run_variant(name: str, args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    images, labels = load_split(load_registry().datasets["mnist"], "train", root=args.data_root)
    data = InMemoryDataset(images, labels)
    classifier, _ = load_domain_classifier(CLASSIFIER)
    trainer = build(name, args.seed)
    trace, seconds = [], 0.0
    for done in range(args.every, args.steps + 1, args.every):
        result = train(trainer, data, steps=args.every, batch_size=64, seed=args.seed + done, progress=False)
        seconds += result.seconds
        shares = class_shares(classifier, trainer.generator, 2000, seed=done)
        trace.append({"step": done, "shares": shares, **summarise(shares)})
        print(f"{name:>13} step {done:>6}: smallest class share {trace[-1]['min_share']:.3f}", flush=True)
    shares = class_shares(classifier, trainer.generator, 10000, seed=0)
    grid = to_uint8(trainer.generator.sample(64, generator=torch.Generator().manual_seed(0)))
    summary = {"variant": name, "steps": args.steps, "seed": args.seed, "train_seconds": round(seconds, 1),
               "shares": shares, **summarise(shares), "trace": trace, "grid": grid.tolist()}  # fmt: skip
    (args.out / f"{name}.json").write_text(json.dumps(summary))


def figure(out: Path, names: list[str]) -> Path:
    """One PNG, a column per variant: 64 samples, the final class shares (5% line), the shares over training."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    results = [json.loads((out / f"{name}.json").read_text()) for name in names]
    fig, axes = plt.subplots(3, len(names), figsize=(3.2 * len(names), 9), squeeze=False)
    for column, result in zip(axes.T, results, strict=True):
        grid = make_grid(torch.tensor(result["grid"], dtype=torch.uint8), nrow=8, padding=2, pad_value=255)
        column[0].imshow(grid.permute(1, 2, 0).numpy())
        column[0].set_title(f"{result['variant']}, {result['steps']} steps\nsmallest class share "
                            f"{result['min_share']:.3f}", fontsize=9)  # fmt: skip
        column[0].axis("off")
        column[1].bar(range(10), result["shares"])
        column[1].axhline(0.05, color="red", linewidth=1)
        column[1].set(xticks=range(10), ylim=(0, 0.4), xlabel="digit (domain classifier)", ylabel="share")
        steps = [t["step"] for t in result["trace"]]
        column[2].imshow([t["shares"] for t in result["trace"]], aspect="auto", cmap="Greys", vmin=0, vmax=0.3,
                         extent=(-0.5, 9.5, steps[-1], 0))  # fmt: skip
        column[2].set(xticks=range(10), xlabel="digit", ylabel="step (dark = frequent)")
    fig.tight_layout()
    path = out / "vanilla_gan_diagnosis.png"
    fig.savefig(path, dpi=80)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path)
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--every", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=["before", "after"], choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("vanilla_gan_diagnosis"))
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.variant:
        run_variant(args.variant, args)
        return
    common = [f"--steps={args.steps}", f"--every={args.every}", f"--seed={args.seed}", f"--out={args.out}"]
    common += [f"--data-root={args.data_root}"] if args.data_root else []
    for start in range(0, len(args.variants), 2):  # two processes at a time, one thread each
        children = [subprocess.Popen([sys.executable, __file__, f"--variant={name}", *common])
                    for name in args.variants[start : start + 2]]  # fmt: skip
        if any(child.wait() for child in children):
            sys.exit(1)
    print(f"figure: {figure(args.out, args.variants)}")
    for name in args.variants:
        result = json.loads((args.out / f"{name}.json").read_text())
        print(f"{name:>13}: {result['steps']} steps, {result['train_seconds']} s; 10k samples: smallest class share "
              f"{result['min_share']:.4f}, entropy {result['entropy']:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
