"""WGAN-GP: Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", arXiv:1704.00028.

Networks: the DCGAN generator (:class:`zoo_dcgan.model.DCGANGenerator`, BatchNorm, tanh output in ``[-1, 1]``)
and the DCGAN discriminator *without* BatchNorm as the critic (:class:`zoo_dcgan.model.DCGANDiscriminator` with
``batchnorm=False``): the penalty constrains the gradient of the critic for each input independently, which
batch normalisation breaks (paper, Sec. 4). The critic outputs unbounded scores ``[N]``.

Training (paper, Algorithm 1): per zoo step, ``n_critic`` (5) critic updates minimising
``E[D(fake)] - E[D(real)] + lambda * GP`` (``lambda = 10``), then one generator update minimising ``-E[D(G(z))]``.
Adam with lr 1e-4 and betas (0.5, 0.9) (the paper uses beta1 = 0 or 0.5, beta2 = 0.9; ``betas`` is a
hyperparameter). The penalty is :func:`gradient_penalty`, with the interpolation factor drawn per sample.

Deviation from the paper: a zoo step is one generator update and consumes ONE batch, so the ``n_critic``
critic updates of a step all use the same real batch, each with fresh noise (and a fresh interpolation factor);
the paper draws a new real batch for every critic update. The core's profile may pass a larger batch to
compensate. Initialisation is DCGAN's N(0, 0.02) and the networks are sized for small images (two stride-2
layers, see :mod:`zoo_dcgan.model`).

Reported losses (means over the step's critic updates, except ``loss_g``): ``loss_d`` (the critic's full
loss), ``gp`` (the penalty before the factor lambda), ``wasserstein`` (``E[D(real)] - E[D(fake)]``, the critic's
estimate of the Wasserstein-1 distance), ``loss_g``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from zoo_dcgan.model import DCGANDiscriminator, DCGANGenerator

from zoo import Batch, Generator, Trainer
from zoo.interfaces import ImageShape


def gradient_penalty(
    critic: Callable[..., torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor | None = None,
    eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """The two-sided gradient penalty ``E[(||grad_x D(x_hat)||_2 - 1)^2]`` (a scalar, before the factor lambda).

    ``x_hat = eps * real + (1 - eps) * fake`` with ONE factor ``eps ~ U[0, 1]`` per sample (shape ``[N, 1, 1, 1]``),
    not one per pixel: the paper samples a point on the straight line between a real and a fake sample.
    ``real`` and ``fake`` (``[N, C, H, W]``) are detached; ``eps`` may be given (``[N]`` or ``[N, 1, 1, 1]``, e.g. in
    tests), else it is drawn with ``torch.rand``. The gradient graph is kept (``create_graph=True``) so the
    penalty can be back-propagated into the critic's parameters. ``critic(x_hat, labels)`` is called when
    ``labels`` is given, else ``critic(x_hat)``.
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


class WGANGPTrainer(Trainer):
    """``n_critic`` critic updates with the gradient penalty, then one generator update, per step.

    Conditional when the generator is: the batch labels then go to the critic and the generator.
    """

    def __init__(
        self,
        generator: Generator,
        critic: nn.Module,
        *,
        lr: float,
        betas: tuple[float, float],
        n_critic: int = 5,
        gp_weight: float = 10.0,
    ):
        if n_critic < 1:
            raise ValueError(f"n_critic must be at least 1, got {n_critic}")
        self.generator = generator
        self.critic = critic
        self.n_critic = n_critic
        self.gp_weight = gp_weight
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(critic.parameters(), lr=lr, betas=betas)

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.generator, "D": self.critic}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def _noise(self, real: torch.Tensor) -> torch.Tensor:
        return torch.randn(real.shape[0], self.generator.latent_dim, device=real.device)

    def train_step(self, batch: Batch) -> dict[str, float]:
        real = batch.images
        labels = batch.labels if self.generator.conditional else None
        totals = {"loss_d": 0.0, "gp": 0.0, "wasserstein": 0.0}
        for _ in range(self.n_critic):
            with torch.no_grad():
                fake = self.generator(self._noise(real), labels)
            distance = self.critic(real, labels).mean() - self.critic(fake, labels).mean()
            penalty = gradient_penalty(self.critic, real, fake, labels)
            loss_d = -distance + self.gp_weight * penalty
            self.opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_d.step()
            totals["loss_d"] += loss_d.item()
            totals["gp"] += penalty.item()
            totals["wasserstein"] += distance.item()

        self.critic.requires_grad_(False)  # the generator step needs no critic weight gradients
        try:
            loss_g = -self.critic(self.generator(self._noise(real), labels), labels).mean()
            self.opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            self.opt_g.step()
        finally:
            self.critic.requires_grad_(True)
        return {**{k: v / self.n_critic for k, v in totals.items()}, "loss_g": loss_g.item()}


def build(image_shape: ImageShape, num_classes: int, hparams: dict[str, Any]) -> WGANGPTrainer:
    """WGAN-GP trainer. ``num_classes`` is ignored (unconditional).

    Hyperparameters: ``latent_dim``, ``width`` (generator and critic), ``lr``, ``betas``, ``n_critic``,
    ``gp_weight`` (lambda).
    """
    width = int(hparams["width"])
    return WGANGPTrainer(
        DCGANGenerator(image_shape, latent_dim=int(hparams["latent_dim"]), width=width),
        DCGANDiscriminator(image_shape, width=width, batchnorm=False),
        lr=float(hparams["lr"]),
        betas=(float(hparams["betas"][0]), float(hparams["betas"][1])),
        n_critic=int(hparams["n_critic"]),
        gp_weight=float(hparams["gp_weight"]),
    )
