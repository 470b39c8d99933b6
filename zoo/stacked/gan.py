""":class:`zoo.gan.GANTrainer`'s step for a stack of members (:class:`StackedGAN`), and which GAN trainers it can
run (:func:`step_refusal`).

The step is GANTrainer's, line for line (``n_critic`` D updates, then one G update, then the average), on stacked
tensors: real images ``[S, N, C, H, W]``, scores ``[S, N]``, losses ``[S]``. The losses (``d_loss``, ``g_loss``)
run under ``torch.func.vmap``, so they see one member's ``[N]`` scores as in a separate run; each update back-
propagates the sum of the members' losses (member ``s``'s weights get exactly the gradient of its own loss) and
takes one step of the stacked optimiser. Every random number is drawn from the member's own streams
(:class:`~zoo.stacked.members.Member`) in the order its separate run draws it: the latent input of each update
(``generator.prior(n, generator=...)``) and the gradient penalty's factors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.func import vmap

from zoo.gan import _REPORTED, GANTrainer, WGANGPTrainer, gradient_penalties, gradient_penalty_loss
from zoo.interfaces import Trainer
from zoo.stacked.members import Member, Stack, stack_refusal

_STEP_METHODS = (
    "train_step",
    "update_discriminator",
    "update_generator",
    "latents",
    "labels",
    "update_average",
    "_with_terms",
    "modules",
    "optimizers",
    "extra_state",
    "load_extra_state",
)
"""The methods that make GANTrainer's step: a subclass that overrides one takes a step of its own."""
_PENALTY = gradient_penalty_loss().term.__code__
"""The code of the gradient penalty's term: every term :func:`zoo.gan.gradient_penalty_loss` makes runs it."""


def refusal(trainer: Trainer) -> str | None:
    """Why ``trainer``'s model cannot be stacked, in a phrase (a one-line error names the model before it); None
    when it can: :func:`step_refusal` and :func:`zoo.stacked.members.stack_refusal`."""
    return step_refusal(trainer) or stack_refusal(trainer)


def step_refusal(trainer: Trainer) -> str | None:
    """Why :class:`StackedGAN` cannot take ``trainer``'s step, in a phrase; None when it can: ``trainer`` is a
    :class:`~zoo.gan.GANTrainer` (or :class:`~zoo.gan.WGANGPTrainer`) with GANTrainer's own step, whose
    auxiliary losses are D's gradient penalty at most."""
    kind = type(trainer).__name__
    if not isinstance(trainer, GANTrainer):
        return f"its trainer ({kind}) takes a step of its own; stacking runs zoo.gan.GANTrainer's step"
    for method in _STEP_METHODS:
        found = getattr(type(trainer), method)
        if found is not getattr(GANTrainer, method) and found is not getattr(WGANGPTrainer, method):
            return f"{kind} overrides GANTrainer.{method}; stacking runs GANTrainer's own step"
    for aux in trainer.aux_losses:
        if getattr(aux.term, "__code__", None) is not _PENALTY or aux.on != "D":
            return (
                f"its auxiliary loss {aux.name!r} is not D's gradient penalty, the one term stacking draws per member"
            )
    return None


class StackedGAN(Stack):
    """The members' :class:`~zoo.gan.GANTrainer` step as one (module docstring). The members' trainers must take
    the same step (:func:`step_refusal` None; one model, one set of hyperparameters): the first one's settings
    (losses, ``n_critic``, the average, the penalty's weight) are the stack's."""

    def __init__(self, members: Sequence[Member]):
        super().__init__(members)
        first = members[0].trainer
        assert isinstance(first, GANTrainer)
        self.settings = first
        self.generator, self.discriminator = self.networks["G"], self.networks["D"]
        self.average = self.networks.get("G_ema")
        self.ema_updates = first.ema_updates
        self.wasserstein = type(first).train_step is WGANGPTrainer.train_step

    @property
    def batches_per_step(self) -> int:
        return self.settings.n_critic

    def write_members(self) -> None:
        super().write_members()
        for member in self.members:
            member.trainer.ema_updates = self.ema_updates

    def train_step(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """One step of every member on its ``n_critic`` batches: ``images`` ``[S, n_critic * N, C, H, W]``,
        ``labels`` ``[S, n_critic * N]``; returns each reported loss as ``[S]`` (detached), GANTrainer's names."""
        n_critic, conditional = self.settings.n_critic, self.settings.trained_generator.conditional
        size = images.shape[1] // n_critic
        reports = []
        for real, real_labels in zip(images.split(size, dim=1), labels.split(size, dim=1), strict=True):
            condition = real_labels if conditional else None
            z = self.latents(size)
            with torch.set_grad_enabled(n_critic == 1):  # one D update: G's update reuses these fakes
                fake = self.generator(z, condition)
            reports.append(self.update_discriminator(real, fake.detach(), condition))
        if n_critic > 1:
            z = self.latents(size)
            fake = self.generator(z, condition)
        g_report = self.update_generator(fake, condition)
        if self.average is not None:
            self.update_average()
        d_report = {name: torch.stack([report[name] for report in reports]).mean(0) for name in reports[0]}
        merged = d_report | g_report
        ordered = {name: merged[name] for name in _REPORTED} | {
            aux.name: merged[aux.name] for aux in self.settings.aux_losses
        }
        if self.wasserstein:
            ordered["wasserstein"] = ordered["score_real"] - ordered["score_fake"]
        return ordered

    def latents(self, n: int) -> torch.Tensor:
        """``[S, n, latent_dim]``: each member's ``n`` latent inputs from its generator's prior and noise stream."""
        return torch.stack(
            [member.trainer.trained_generator.prior(n, generator=member.noise) for member in self.members]
        )

    def update_discriminator(
        self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None
    ) -> dict[str, torch.Tensor]:
        """GANTrainer.update_discriminator for every member: ``[S]`` losses and scores."""
        real_scores = self.discriminator(real, labels)
        fake_scores = self.discriminator(fake, labels)
        loss = vmap(self.settings.d_loss)(real_scores, fake_scores)
        terms = {}
        for aux in self.settings.aux_losses:  # the gradient penalty (step_refusal)
            terms[aux.name] = self.penalties(real, fake, labels)
            loss = loss + aux.weight * terms[aux.name]
        _update(self.optimizers["D"], loss)
        scores = {"score_real": real_scores.detach().mean(1), "score_fake": fake_scores.detach().mean(1)}
        return {"loss_d": loss.detach(), **scores, **{name: value.detach() for name, value in terms.items()}}

    def update_generator(self, fake: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """GANTrainer.update_generator for every member, D frozen: ``[S]`` losses."""
        self.discriminator.requires_grad_(False)
        try:
            loss = vmap(self.settings.g_loss)(self.discriminator(fake, labels))
            _update(self.optimizers["G"], loss)
        finally:
            self.discriminator.requires_grad_(True)
        return {"loss_g": loss.detach()}

    def penalties(self, real: torch.Tensor, fake: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """Each member's gradient penalty ``[S]`` (:func:`zoo.gan.gradient_penalties`, averaged per member), its
        factors drawn from the member's noise stream as ``torch.rand`` draws them in its separate run."""
        members, size = real.shape[:2]
        shape = (size,) + (1,) * (real.dim() - 2)
        eps = torch.stack(
            [torch.rand(shape, generator=m.noise, device=real.device, dtype=real.dtype) for m in self.members]
        )

        def critic(x: torch.Tensor, flat_labels: torch.Tensor | None = None) -> torch.Tensor:
            rows = None if flat_labels is None else flat_labels.unflatten(0, (members, size))
            return self.discriminator(x.unflatten(0, (members, size)), rows).flatten()

        flat_labels = None if labels is None else labels.flatten(0, 1)
        per_sample = gradient_penalties(critic, real.flatten(0, 1), fake.flatten(0, 1), flat_labels, eps.flatten())
        return per_sample.unflatten(0, (members, size)).mean(1)

    @torch.no_grad()
    def update_average(self) -> None:
        """GANTrainer.update_average on the stacked weights (elementwise, so each member's as its own)."""
        assert self.average is not None
        self.ema_updates += 1
        warming_up = self.ema_updates <= self.settings.ema_start
        for average, value in zip(self.average.tensors(), self.generator.tensors(), strict=True):
            if warming_up or not average.is_floating_point():
                average.copy_(value)
            else:
                average.lerp_(value, 1 - self.settings.ema_decay)


def _update(optimizer: torch.optim.Optimizer, losses: torch.Tensor) -> None:
    """One step of ``optimizer`` on the members' ``losses`` ``[S]``: the gradient of their sum is, for member
    ``s``'s weights, the gradient of its own loss."""
    optimizer.zero_grad(set_to_none=True)
    losses.sum().backward()
    optimizer.step()
