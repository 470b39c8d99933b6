"""The standard adversarial training step (Goodfellow et al. 2014), shared by GAN plugins.

Losses are written with logits: ``D(x) = sigmoid(logit)``, so ``log D = -softplus(-logit)`` and
``log(1 - D) = -softplus(logit)``, which is numerically stable.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from zoo.interfaces import Batch, Discriminator, Generator, Trainer

GLoss = Literal["non_saturating", "minimax"]


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-E[log D(x)] - E[log(1 - D(G(z)))]``: binary cross-entropy with real=1, fake=0."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(fake_logits: torch.Tensor, form: GLoss = "non_saturating") -> torch.Tensor:
    """``non_saturating``: minimise ``-E[log D(G(z))]`` (the paper's practical choice);
    ``minimax``: minimise ``E[log(1 - D(G(z)))]`` (the game as written, weak gradients early on)."""
    if form == "non_saturating":
        return F.softplus(-fake_logits).mean()
    if form == "minimax":
        return -F.softplus(fake_logits).mean()
    raise ValueError(f"unknown generator loss {form!r}; use 'non_saturating' or 'minimax'")


class GANTrainer(Trainer):
    """One D update then one G update per step, both with Adam.

    Conditional when the generator is (``generator.num_classes > 0``): the batch labels go to D with the
    real images, and the same labels condition G and D for the fakes.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        *,
        lr: float,
        betas: tuple[float, float],
        g_loss: GLoss = "non_saturating",
    ):
        generator_loss(torch.zeros(1), g_loss)  # reject an unknown form now, not at the first step
        self.generator = generator
        self.discriminator = discriminator
        self.g_loss = g_loss
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"G": self.generator, "D": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def train_step(self, batch: Batch) -> dict[str, float]:
        real = batch.images
        labels = batch.labels if self.generator.conditional else None
        z = torch.randn(real.shape[0], self.generator.latent_dim, device=real.device)
        fake = self.generator(z, labels)

        real_logits = self.discriminator(real, labels)
        fake_logits = self.discriminator(fake.detach(), labels)
        loss_d = discriminator_loss(real_logits, fake_logits)
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()

        loss_g = generator_loss(self.discriminator(fake, labels), self.g_loss)
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return {
            "loss_d": loss_d.item(),
            "loss_g": loss_g.item(),
            "d_real": torch.sigmoid(real_logits).mean().item(),
            "d_fake": torch.sigmoid(fake_logits).mean().item(),
        }
