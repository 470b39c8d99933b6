"""Adversarial training, shared by GAN plugins: the losses, the gradient penalty and two trainers.

:class:`GANTrainer` takes its losses as arguments, so a GAN that differs only in its objective is a few lines.
LSGAN (Mao et al. 2017), for example::

    def lsgan_d_loss(real_scores, fake_scores):
        return 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (fake_scores**2).mean()

    def lsgan_g_loss(fake_scores):
        return 0.5 * ((fake_scores - 1) ** 2).mean()

    GANTrainer(generator, discriminator, lr=2e-4, betas=(0.5, 0.999), d_loss=lsgan_d_loss, g_loss=lsgan_g_loss)

The cross-entropy losses are written with logits: ``D(x) = sigmoid(logit)``, so ``log D = -softplus(-logit)``
and ``log(1 - D) = -softplus(logit)``, which is numerically stable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

from zoo.interfaces import Batch, Discriminator, Generator, Trainer

DiscriminatorLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``d_loss(real_scores [N], fake_scores [N]) -> scalar`` to minimise."""
GeneratorLoss = Callable[[torch.Tensor], torch.Tensor]
"""``g_loss(fake_scores [N]) -> scalar`` to minimise."""


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``-E[log D(x)] - E[log(1 - D(G(z)))]``: binary cross-entropy with real=1, fake=0."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def non_saturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``-E[log D(G(z))]``: the paper's practical choice, strong gradients early on."""
    return F.softplus(-fake_logits).mean()


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``E[log(1 - D(G(z)))]``: the game as written; weak gradients while D wins."""
    return -F.softplus(fake_logits).mean()


GeneratorLossName = Literal["non_saturating", "minimax"]
GENERATOR_LOSSES: dict[str, GeneratorLoss] = {
    "non_saturating": non_saturating_generator_loss,
    "minimax": minimax_generator_loss,
}


def wasserstein_critic_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """``E[D(G(z))] - E[D(x)]``: minus the critic's estimate of the Wasserstein-1 distance."""
    return fake_scores.mean() - real_scores.mean()


def wasserstein_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """``-E[D(G(z))]``."""
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[..., torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor | None = None,
    eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """The two-sided gradient penalty ``E[(||grad_x D(x_hat)||_2 - 1)^2]`` (a scalar, before the factor lambda).

    ``x_hat = eps * real + (1 - eps) * fake`` with ONE factor ``eps ~ U[0, 1]`` per sample (shape ``[N, 1, 1, 1]``),
    not one per pixel: Gulrajani et al. 2017 sample a point on the straight line between a real and a fake
    sample. ``real`` and ``fake`` (``[N, C, H, W]``) are detached; ``eps`` may be given (``[N]`` or ``[N, 1, 1, 1]``,
    e.g. in tests), else it is drawn with ``torch.rand``. The gradient graph is kept (``create_graph=True``) so the
    penalty back-propagates into the critic. ``critic(x_hat, labels)`` is called when ``labels`` is given, else
    ``critic(x_hat)``.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {list(real.shape)} and {list(fake.shape)}")
    n = real.shape[0]
    per_sample = (n,) + (1,) * (real.dim() - 1)
    if eps is None:
        eps = torch.rand(per_sample, device=real.device, dtype=real.dtype)
    elif eps.numel() != n:
        raise ValueError(f"eps must hold one factor per sample ({n}), got shape {list(eps.shape)}")
    eps = eps.to(device=real.device, dtype=real.dtype).reshape(per_sample)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat) if labels is None else critic(x_hat, labels)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


class GANTrainer(Trainer):
    """One discriminator update, then one generator update on the same fakes, per step (the paper's ``k = 1``);
    Adam for both.

    Conditional when the generator is (``generator.num_classes > 0``): the batch labels go to D with the real
    images, and the same labels condition G and D for the fakes. Reports ``loss_d``, ``loss_g`` and the mean raw
    scores ``score_real`` and ``score_fake``.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        *,
        lr: float,
        betas: tuple[float, float],
        d_loss: DiscriminatorLoss = discriminator_loss,
        g_loss: GeneratorLoss = non_saturating_generator_loss,
    ):
        self.generator = generator
        self.discriminator = discriminator
        self.d_loss, self.g_loss = d_loss, g_loss
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)

    def modules(self) -> dict[str, torch.nn.Module]:
        return {"G": self.generator, "D": self.discriminator}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def fakes(self, batch: Batch) -> torch.Tensor:
        """Generated images for ``batch`` (as many, with its labels when conditional), from fresh noise."""
        z = torch.randn(len(batch.images), self.generator.latent_dim, device=batch.images.device)
        return self.generator(z, self.labels(batch))

    def labels(self, batch: Batch) -> torch.Tensor | None:
        return batch.labels if self.generator.conditional else None

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        labels = self.labels(batch)
        fake = self.fakes(batch)
        real_scores = self.discriminator(batch.images, labels)
        fake_scores = self.discriminator(fake.detach(), labels)
        loss_d = self.d_loss(real_scores, fake_scores)
        _update(self.opt_d, loss_d)
        loss_g = self.update_generator(fake, labels)
        return {
            "loss_d": loss_d.detach(),
            "loss_g": loss_g,
            "score_real": real_scores.detach().mean(),
            "score_fake": fake_scores.detach().mean(),
        }

    def update_generator(self, fake: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """One generator step on ``g_loss(D(fake))`` (D's weights get no gradients); returns the loss, detached."""
        self.discriminator.requires_grad_(False)
        try:
            loss = self.g_loss(self.discriminator(fake, labels))
            _update(self.opt_g, loss)
        finally:
            self.discriminator.requires_grad_(True)
        return loss.detach()


class WGANGPTrainer(GANTrainer):
    """WGAN-GP (Gulrajani et al. 2017, Algorithm 1): per step, ``n_critic`` critic updates on the Wasserstein loss
    plus ``gp_weight`` times :func:`gradient_penalty`, each with fresh noise, then one generator update.

    A step consumes one batch, so the critic updates of a step share its real images. Reports the means over the
    critic updates of ``loss_d`` (the full critic loss), ``gp`` (the penalty before its factor) and
    ``wasserstein`` (``E[D(real)] - E[D(fake)]``), and ``loss_g``.
    """

    def __init__(
        self,
        generator: Generator,
        critic: Discriminator,
        *,
        lr: float,
        betas: tuple[float, float],
        n_critic: int = 5,
        gp_weight: float = 10.0,
    ):
        if n_critic < 1:
            raise ValueError(f"n_critic must be at least 1, got {n_critic}")
        super().__init__(
            generator, critic, lr=lr, betas=betas, d_loss=wasserstein_critic_loss, g_loss=wasserstein_generator_loss
        )
        self.n_critic, self.gp_weight = n_critic, gp_weight

    @property
    def critic(self) -> Discriminator:
        return self.discriminator

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        labels = self.labels(batch)
        totals = torch.zeros(3, device=batch.images.device)  # loss_d, gp, wasserstein
        for _ in range(self.n_critic):
            with torch.no_grad():
                fake = self.fakes(batch)
            loss = self.d_loss(self.critic(batch.images, labels), self.critic(fake, labels))
            penalty = gradient_penalty(self.critic, batch.images, fake, labels)
            loss_d = loss + self.gp_weight * penalty
            _update(self.opt_d, loss_d)
            totals += torch.stack([loss_d, penalty, -loss]).detach()
        loss_d, gp, wasserstein = totals / self.n_critic
        loss_g = self.update_generator(self.fakes(batch), labels)
        return {"loss_d": loss_d, "gp": gp, "wasserstein": wasserstein, "loss_g": loss_g}


def _update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
