"""The members of a stack: each seed's trainer, built as its separate run builds it, with that run's random streams
(:class:`Member`), and their networks and optimisers stacked (:class:`Stack`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.nn.utils import parametrize

from zoo.factory import create_trainer
from zoo.interfaces import ImageShape, ModelSpec, Trainer
from zoo.stacked.networks import (
    ELEMENTWISE_OPTIMIZERS,
    StackedNetwork,
    optimizer_params,
    stacked_optimizer,
    write_optimizer_state,
)


@dataclass
class Member:
    """One seed of a stack: its ``trainer`` and the random streams its separate run would draw from.

    ``noise`` stands for torch's global generator on the run's device, from which a separate run's trainer draws
    its noise (``torch.randn`` without a generator): it starts in the state that generator is in once the trainer
    is built. ``sampler`` is the training loop's batch sampler, seeded with ``seed``. ``saved_rng`` holds the
    global states that the run does not draw from on its device (the CPU's on a CUDA run, CUDA's on a CPU run), as
    they were after the build, so that the member's checkpoint holds what the separate run's holds.
    """

    seed: int
    trainer: Trainer
    noise: torch.Generator
    sampler: torch.Generator
    saved_rng: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> torch.device:
        return self.noise.device

    def rng_state(self) -> dict[str, Any]:
        """The ``rng`` entry of the member's checkpoint, as :func:`zoo.training.train` writes it."""
        state = {"torch": self.saved_rng["torch"], "sampler": self.sampler.get_state()}
        if "cuda" in self.saved_rng:
            state["cuda"] = list(self.saved_rng["cuda"])
        if self.device.type == "cuda":
            state["cuda"][_cuda_index(self.device)] = self.noise.get_state()
        else:
            state["torch"] = self.noise.get_state()
        return state

    def set_rng_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`rng_state` returned (or a separate run's checkpoint wrote)."""
        self.saved_rng = {"torch": state["torch"].cpu()}
        if "cuda" in state and torch.cuda.is_available():
            self.saved_rng["cuda"] = [s.cpu() for s in state["cuda"]]
        if self.device.type == "cuda":
            self.noise.set_state(self.saved_rng["cuda"][_cuda_index(self.device)])
        else:
            self.noise.set_state(self.saved_rng["torch"])
        self.sampler.set_state(state["sampler"].cpu())


def build_members(
    spec: ModelSpec,
    image_shape: ImageShape,
    num_classes: int,
    *,
    hparams: dict[str, Any],
    seeds: Sequence[int],
    device: torch.device,
) -> list[Member]:
    """One :class:`Member` per seed, its trainer built by :func:`zoo.create_trainer` (seeded) as its separate run's
    is, in the order of ``seeds``."""
    members = []
    for seed in seeds:
        trainer = create_trainer(spec, image_shape, num_classes, hparams=hparams, seed=seed, device=device)
        saved = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            saved["cuda"] = torch.cuda.get_rng_state_all()
        noise = torch.Generator(device=device)
        noise.set_state(saved["cuda"][_cuda_index(device)] if device.type == "cuda" else saved["torch"])
        sampler = torch.Generator(device=device).manual_seed(seed)
        members.append(Member(seed, trainer, noise, sampler, saved))
    return members


class Stack:
    """The members' networks (every one of ``Trainer.modules()``, by name) and optimisers (by name), stacked.

    Built from the members as they are (fresh, or loaded from their checkpoints); :meth:`write_members` copies the
    stacked state back into each member's trainer, whose ``state_dict()`` and ``generator`` are then what its
    separate run's would be at this step. Subclasses add the step.
    """

    def __init__(self, members: Sequence[Member]):
        self.members = list(members)
        trainers = [member.trainer for member in members]
        self.networks = {name: StackedNetwork([t.modules()[name] for t in trainers]) for name in trainers[0].modules()}
        owners = _owners(trainers[0])
        self.optimizers = {
            name: stacked_optimizer(
                [t.optimizers()[name] for t in trainers],
                [
                    self.networks[net].params[param]
                    for net, param in map(owners.__getitem__, map(id, optimizer_params(opt)))
                ],
            )
            for name, opt in trainers[0].optimizers().items()
        }

    @property
    def size(self) -> int:
        return len(self.members)

    def write_members(self) -> None:
        """Each member's trainer gets its row of every stacked network and optimiser state (and, in subclasses, of
        the extra state)."""
        trainers = [member.trainer for member in self.members]
        for name, network in self.networks.items():
            network.write([t.modules()[name] for t in trainers])
        for name, optimizer in self.optimizers.items():
            write_optimizer_state(optimizer, [t.optimizers()[name] for t in trainers])


def stack_refusal(trainer: Trainer) -> str | None:
    """Why ``trainer``'s networks and optimisers cannot be stacked, in a phrase; None when they can: every
    optimiser is one of :data:`~zoo.stacked.networks.ELEMENTWISE_OPTIMIZERS` over parameters of ``modules()``, no
    parameter belongs to two of them, and no network is parametrised (spectral norm's power iteration updates its
    vectors in place with ``out=``, which vmap cannot batch)."""
    owners = _owners(trainer)
    if len(owners) < sum(1 for module in trainer.modules().values() for _ in module.parameters()):
        return "a parameter belongs to two of its modules(), which stacking would copy apart"
    for name, optimizer in trainer.optimizers().items():
        if type(optimizer) not in ELEMENTWISE_OPTIMIZERS:
            kinds = ", ".join(kind.__name__ for kind in ELEMENTWISE_OPTIMIZERS)
            return f"its optimiser {name!r} is a {type(optimizer).__name__}; stacking runs {kinds} (weight by weight)"
        if any(id(param) not in owners for param in optimizer_params(optimizer)):
            return f"its optimiser {name!r} holds a weight that is not a parameter of its modules()"
    for name, module in trainer.modules().items():
        if any(parametrize.is_parametrized(layer) for layer in module.modules()):
            return f"its network {name!r} is parametrised (e.g. spectral norm), which vmap cannot run"
    return None


def _owners(trainer: Trainer) -> dict[int, tuple[str, str]]:
    return {
        id(param): (module_name, param_name)
        for module_name, module in trainer.modules().items()
        for param_name, param in module.named_parameters()
    }


def _cuda_index(device: torch.device) -> int:
    return torch.cuda.current_device() if device.index is None else device.index
