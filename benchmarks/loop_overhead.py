"""How much zoo's training loop costs over a bare, hand-written PyTorch loop, for the same DCGAN.

Both loops train the same networks (built by the dcgan plugin with the same seed) on the same in-memory
MNIST, for the same number of steps, alternating A/B/A/B in one process so that machine noise hits both.
zoo's side is the real thing: ``zoo.training.train`` with ``GANTrainer``, progress bar, loss history and a
checkpoint every 500 steps. The bare side is GANTrainer's step written out by hand, the same work (D frozen with
``requires_grad_(False)`` during the G update, the mean scores it reports), with nothing around it.

    python benchmarks/loop_overhead.py --data-root ../shared/datasets [--steps 400] [--repeats 3]

Prints the seconds of every run and the ratio of medians (zoo / bare); the target is <= 1.03.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from zoo import create_trainer
from zoo.data import InMemoryDataset, load_split
from zoo.plugins import load_registry
from zoo.training import train

BATCH = 64


def build(registry, device):
    return create_trainer(registry.models["dcgan"], (1, 28, 28), 10, seed=0, device=device)


def zoo_loop(registry, data: InMemoryDataset, steps: int, folder: Path) -> float:
    trainer = build(registry, data.device)
    started = time.perf_counter()
    train(
        trainer,
        data,
        steps=steps,
        batch_size=BATCH,
        seed=0,
        checkpoint_path=folder / "ckpt.pt",
        progress=True,
        description="zoo loop",
    )
    return time.perf_counter() - started


def bare_step(G, D, opt_g, opt_d, real: torch.Tensor) -> list[float]:
    """The work of ``GANTrainer.train_step`` (zoo/gan.py) on ``real``, written out by hand; its losses and scores."""
    fake = G(torch.randn(len(real), G.latent_dim, device=real.device))
    real_scores, fake_scores = D(real), D(fake.detach())
    loss_d = F.softplus(-real_scores).mean() + F.softplus(fake_scores).mean()
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    D.requires_grad_(False)  # as GANTrainer.update_generator: no gradients for D's weights in the G update
    loss_g = F.softplus(-D(fake)).mean()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    D.requires_grad_(True)
    scores = real_scores.detach().mean(), fake_scores.detach().mean()  # GANTrainer reports these too
    return [value.item() for value in (loss_d, loss_g, *scores)]  # the zoo loop reads its losses too


def bare_loop(registry, data: InMemoryDataset, steps: int) -> float:
    """``steps`` of :func:`bare_step` on batches drawn as zoo draws them; no progress, history or checkpoints."""
    trainer = build(registry, data.device)
    G, D = trainer.generator, trainer.discriminator
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    images = data.images
    sampler = torch.Generator(device=data.device).manual_seed(0)
    started = time.perf_counter()
    for _ in range(steps):
        index = torch.randint(len(images), (BATCH,), generator=sampler, device=data.device)
        bare_step(G, D, opt_g, opt_d, images[index].float() / 127.5 - 1)
    if data.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    registry = load_registry()
    images, labels = load_split(registry.datasets["mnist"], "train", root=args.data_root)
    data = InMemoryDataset(images, labels, device=args.device)
    bare_loop(registry, data, 20)  # warm-up: allocator, kernels, thread pools
    times: dict[str, list[float]] = {"zoo": [], "bare": []}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            times["bare"].append(bare_loop(registry, data, args.steps))
            times["zoo"].append(zoo_loop(registry, data, args.steps, Path(folder)))
    for name, runs in times.items():
        print(f"{name:>4}: " + ", ".join(f"{t:.2f}s" for t in runs) + f"  (median {statistics.median(runs):.2f}s)")
    ratio = statistics.median(times["zoo"]) / statistics.median(times["bare"])
    print(
        f"DCGAN, {args.steps} steps x {args.repeats}, batch {BATCH}, {args.device}, "
        f"{torch.get_num_threads()} threads: zoo / bare = {ratio:.3f}"
    )


if __name__ == "__main__":
    main()
