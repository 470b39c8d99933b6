"""Adversarial training, shared by GAN plugins: the losses, the gradient penalty, and :class:`GANTrainer` with its
switches.

:class:`GANTrainer` takes its losses as arguments, so a GAN that differs only in its objective is a few lines.
LSGAN (Mao et al. 2017), for example::

    def lsgan_d_loss(real_scores, fake_scores):
        return 0.5 * ((real_scores - 1) ** 2).mean() + 0.5 * (fake_scores**2).mean()

    def lsgan_g_loss(fake_scores):
        return 0.5 * ((fake_scores - 1) ** 2).mean()

    GANTrainer(generator, discriminator, lr=2e-4, betas=(0.5, 0.999), d_loss=lsgan_d_loss, g_loss=lsgan_g_loss)

The rest of what tells GANs apart is a switch of :class:`GANTrainer` (as in StudioGAN, where each is a
configuration entry), or of the networks:

* ``n_critic``: discriminator updates per step, each on a fresh real batch (the step asks zoo's loop for that many:
  :attr:`zoo.Trainer.batches_per_step`) and fresh noise;
* ``ema_decay``, ``ema_start``: an exponential moving average of G's weights, which is then the generator that is
  sampled, saved and scored (``trainer.generator``);
* ``aux_losses``: extra terms in D's or G's loss (:class:`AuxLoss`), each given what it needs of the update
  (:class:`GANUpdate`): WGAN-GP's gradient penalty (:func:`gradient_penalty_loss`; :class:`WGANGPTrainer` is a
  GANTrainer with it), InfoGAN's mutual-information term;
* spectral normalisation belongs to the networks: :func:`zoo.layers.spectral_norm`.

The cross-entropy losses are written with logits: ``D(x) = sigmoid(logit)``, so ``log D = -softplus(-logit)``
and ``log(1 - D) = -softplus(logit)``, which is numerically stable.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

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


def hinge_discriminator_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """``E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]``: the hinge loss (Lim & Ye 2017; SNGAN, Miyato et al. 2018)."""
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def hinge_generator_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """``-E[D(G(z))]``: the generator's side of the hinge loss."""
    return -fake_scores.mean()


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
    """The two-sided gradient penalty ``E[(||grad_x D(x_hat)||_2 - 1)^2]`` (a scalar, before the factor lambda): the
    mean of :func:`gradient_penalties`, which says what the arguments are."""
    return gradient_penalties(critic, real, fake, labels, eps).mean()


def gradient_penalties(
    critic: Callable[..., torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    labels: torch.Tensor | None = None,
    eps: torch.Tensor | None = None,
) -> torch.Tensor:
    """The gradient penalty of each sample, ``(||grad_x D(x_hat)||_2 - 1)^2``, ``[N]``.

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
    return (grad.flatten(1).norm(2, dim=1) - 1) ** 2


@dataclass(frozen=True)
class GANUpdate:
    """What an auxiliary loss term (:class:`AuxLoss`) is given of one update: a discriminator update, or the
    generator's.

    ``generator``: the network being trained (never the EMA copy); ``discriminator``: D, frozen in G's update (no
    gradient reaches its weights there). ``real``: real images ``[N, C, H, W]`` (in G's update, those of the step's
    last D update). ``z``: the latent input ``[N, latent_dim]`` and ``fake = G(z, labels)`` ``[N, C, H, W]``:
    detached in a D update, carrying G's graph in G's update. ``labels``: int64 ``[N]`` for a conditional model,
    else None. ``fake_scores``: ``D(fake)`` ``[N]`` as the main loss saw them; ``real_scores``: ``D(real)`` ``[N]``
    in a D update, None in G's.
    """

    generator: Generator
    discriminator: Discriminator
    real: torch.Tensor
    z: torch.Tensor
    fake: torch.Tensor
    labels: torch.Tensor | None
    fake_scores: torch.Tensor
    real_scores: torch.Tensor | None


@dataclass(frozen=True)
class AuxLoss:
    """``weight * term(update)`` added to the loss of network ``on``: ``"D"`` (in every discriminator update) or
    ``"G"`` (in the generator update). ``term`` returns a scalar tensor, reported under ``name`` before its weight
    (for ``"D"``, the mean over the step's D updates). A term both networks minimise (InfoGAN's) is two entries,
    one per network, with two names."""

    name: str
    term: Callable[[GANUpdate], torch.Tensor]
    on: Literal["D", "G"] = "D"
    weight: float = 1.0


def gradient_penalty_loss(weight: float = 10.0) -> AuxLoss:
    """WGAN-GP's penalty as a D term: :func:`gradient_penalty` at points between each update's real and fake
    images, times ``weight`` (lambda), reported as ``gp``."""

    def penalty(update: GANUpdate) -> torch.Tensor:
        return gradient_penalty(update.discriminator, update.real, update.fake, update.labels)

    return AuxLoss("gp", penalty, on="D", weight=weight)


_REPORTED = ("loss_d", "loss_g", "score_real", "score_fake")


class GANTrainer(Trainer):
    """The adversarial step, Adam for both networks: ``n_critic`` discriminator updates, then one generator update.

    Per step, on ``n_critic`` real batches (:attr:`batches_per_step`; one by default, the GAN paper's ``k = 1``):

    1. For each real batch ``x``: fakes ``G(z)`` from fresh ``z ~ N(0, I)``; ``loss_d = d_loss(D(x), D(fake))`` (the
       fakes detached) plus the weighted D terms of ``aux_losses``; one Adam step on D.
    2. One G update: ``loss_g = g_loss(D(fake))`` plus the weighted G terms, D frozen (``requires_grad_(False)``
       on its parameters: gradients reach G through it, none is computed for its weights); one Adam step on G.
       With one D update, G's update takes that update's fakes through the updated D (DCGAN's step, as in
       pytorch/examples). With several, the D updates draw their fakes without G's graph and G's update draws
       fresh ones (WGAN-GP's Algorithm 1, SNGAN, StudioGAN).
    3. With ``ema_decay > 0``: the average follows G (:meth:`update_average`).

    Conditional when the generator is (``generator.num_classes > 0``): each batch's labels go to D with its real
    images and condition G and D for its fakes (G's fresh fakes take the last batch's labels). Reports ``loss_d``
    (the whole loss D minimises), ``loss_g`` (G's), the mean raw scores ``score_real`` and ``score_fake`` (D's
    values over the step's D updates are means) and each auxiliary term by its name.

    ``generator`` is what is sampled, saved and scored: with ``ema_decay > 0`` the average (``modules()["G_ema"]``,
    its parameters not trainable), else the trained network; ``trained_generator`` is always the trained one
    (``modules()["G"]``).
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
        n_critic: int = 1,
        ema_decay: float = 0.0,
        ema_start: int = 0,
        aux_losses: Sequence[AuxLoss] = (),
    ):
        """``n_critic`` >= 1 D updates per step; ``ema_decay`` in ``[0, 1)``: 0 keeps no average, else the average
        copies G for its first ``ema_start`` updates, then moves by ``1 - ema_decay`` towards G at each. ``ValueError``
        for values outside these ranges and for auxiliary losses whose names are not unique or clash with the
        reported losses."""
        if n_critic < 1:
            raise ValueError(f"n_critic must be at least 1, got {n_critic}")
        if not 0 <= ema_decay < 1 or ema_start < 0:
            raise ValueError(f"ema_decay must lie in [0, 1) and ema_start be >= 0, got {ema_decay} and {ema_start}")
        names = [aux.name for aux in aux_losses]
        clashes = sorted({name for name in names if names.count(name) > 1 or name in _REPORTED})
        if clashes or any(aux.on not in ("D", "G") for aux in aux_losses):
            raise ValueError(f"auxiliary losses need unique names other than {', '.join(_REPORTED)} and on='D' or "
                             f"'G'; clashing: {', '.join(clashes) or 'none'}")  # fmt: skip
        self.trained_generator = generator
        self.discriminator = discriminator
        self.d_loss, self.g_loss, self.n_critic = d_loss, g_loss, n_critic
        self.aux_losses = tuple(aux_losses)
        self.opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=betas)
        self.opt_d = torch.optim.Adam(discriminator.parameters(), lr=lr, betas=betas)
        self.ema_decay, self.ema_start, self.ema_updates = ema_decay, ema_start, 0
        self.generator = copy.deepcopy(generator).requires_grad_(False) if ema_decay else generator

    @property
    def batches_per_step(self) -> int:
        return self.n_critic

    def modules(self) -> dict[str, torch.nn.Module]:
        average = {"G_ema": self.generator} if self.ema_decay else {}
        return {"G": self.trained_generator, "D": self.discriminator, **average}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def extra_state(self) -> dict[str, Any]:
        """The average's update count (with ``ema_decay > 0``): it decides when the average stops copying G."""
        return {"ema_updates": self.ema_updates} if self.ema_decay else {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if self.ema_decay:
            self.ema_updates = int(state["ema_updates"])

    def latents(self, n: int, device: torch.device) -> torch.Tensor:
        """``n`` latent inputs ``[n, latent_dim]`` for G, from its prior (:meth:`zoo.Generator.prior`; by default
        ``z ~ N(0, I)``), drawn with torch's global generator, on ``device``."""
        return self.trained_generator.prior(n).to(device)

    def labels(self, batch: Batch) -> torch.Tensor | None:
        return batch.labels if self.trained_generator.conditional else None

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        reports = []
        for real in batch.split(self.n_critic):
            labels = self.labels(real)
            z = self.latents(len(real.images), real.images.device)
            with torch.set_grad_enabled(self.n_critic == 1):  # one D update: G's update reuses these fakes
                fake = self.trained_generator(z, labels)
            reports.append(self.update_discriminator(real.images, z, fake.detach(), labels))
        if self.n_critic > 1:
            z = self.latents(len(real.images), real.images.device)
            fake = self.trained_generator(z, labels)
        g_report = self.update_generator(real.images, z, fake, labels)
        if self.ema_decay:
            self.update_average()
        d_report = {name: torch.stack([report[name] for report in reports]).mean() for name in reports[0]}
        ordered = {name: (d_report | g_report)[name] for name in _REPORTED}
        return ordered | {aux.name: (d_report | g_report)[aux.name] for aux in self.aux_losses}

    def update_discriminator(
        self, real: torch.Tensor, z: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """One D step on ``d_loss(D(real), D(fake))`` plus the D terms (``fake`` detached); returns ``loss_d``,
        ``score_real``, ``score_fake`` and each D term, detached."""
        real_scores = self.discriminator(real, labels)
        fake_scores = self.discriminator(fake, labels)
        loss = self.d_loss(real_scores, fake_scores)
        update = GANUpdate(self.trained_generator, self.discriminator, real, z, fake, labels, fake_scores, real_scores)
        loss, terms = self._with_terms("D", loss, update)
        _update(self.opt_d, loss)
        scores = {"score_real": real_scores.detach().mean(), "score_fake": fake_scores.detach().mean()}
        return {"loss_d": loss.detach(), **scores, **terms}

    def update_generator(
        self, real: torch.Tensor, z: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """One G step on ``g_loss(D(fake))`` plus the G terms, D frozen; returns ``loss_g`` and each G term,
        detached."""
        self.discriminator.requires_grad_(False)
        try:
            fake_scores = self.discriminator(fake, labels)
            update = GANUpdate(self.trained_generator, self.discriminator, real, z, fake, labels, fake_scores, None)
            loss, terms = self._with_terms("G", self.g_loss(fake_scores), update)
            _update(self.opt_g, loss)
        finally:
            self.discriminator.requires_grad_(True)
        return {"loss_g": loss.detach(), **terms}

    @torch.no_grad()
    def update_average(self) -> None:
        """After a G update: the average's parameters and floating-point buffers (BatchNorm's running statistics)
        become ``decay * average + (1 - decay) * G``, with ``decay = ema_decay``, or copies of G's during its first
        ``ema_start`` updates; its other buffers are copied (as StudioGAN's ``Ema``)."""
        self.ema_updates += 1
        warming_up = self.ema_updates <= self.ema_start
        averaged = [*self.generator.parameters(), *self.generator.buffers()]
        current = [*self.trained_generator.parameters(), *self.trained_generator.buffers()]
        for average, value in zip(averaged, current, strict=True):
            if warming_up or not average.is_floating_point():
                average.copy_(value)
            else:
                average.lerp_(value, 1 - self.ema_decay)

    def _with_terms(
        self, network: str, loss: torch.Tensor, update: GANUpdate
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``loss`` plus the weighted auxiliary terms on ``network``, and those terms (detached, before weights)."""
        terms = {aux.name: (aux.weight, aux.term(update)) for aux in self.aux_losses if aux.on == network}
        for weight, value in terms.values():
            loss = loss + weight * value
        return loss, {name: value.detach() for name, (_, value) in terms.items()}


class WGANGPTrainer(GANTrainer):
    """WGAN-GP (Gulrajani et al. 2017, Algorithm 1): a :class:`GANTrainer` with the Wasserstein losses,
    ``n_critic`` critic updates per step, each on a fresh real batch and fresh noise, and the gradient penalty
    (:func:`gradient_penalty_loss`, factor ``gp_weight``) in the critic's loss.

    Reports, over the critic updates, the means of ``loss_d`` (the full critic loss), ``gp`` (the penalty before
    its factor), ``score_real``, ``score_fake`` and ``wasserstein`` (``E[D(real)] - E[D(fake)]``), and ``loss_g``.
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
        super().__init__(
            generator,
            critic,
            lr=lr,
            betas=betas,
            d_loss=wasserstein_critic_loss,
            g_loss=wasserstein_generator_loss,
            n_critic=n_critic,
            aux_losses=[gradient_penalty_loss(gp_weight)],
        )
        self.gp_weight = gp_weight

    @property
    def critic(self) -> Discriminator:
        return self.discriminator

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        losses = super().train_step(batch)
        return {**losses, "wasserstein": losses["score_real"] - losses["score_fake"]}


def _update(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
