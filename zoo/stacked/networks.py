"""S networks of one architecture run as one (:class:`StackedNetwork`), and their optimiser
(:func:`stacked_optimizer`): the members' weights stacked on a leading member dimension."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, vmap

ELEMENTWISE_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW, torch.optim.SGD)
"""Optimisers whose update of a weight reads only that weight, its gradient and its own state (and the step
count): one of them over stacked weights ``[S, *shape]`` updates each member as the member's own would."""
SHARED_STATE = frozenset({"step"})
"""The per-weight optimiser state of :data:`ELEMENTWISE_OPTIMIZERS` that is not weight-shaped: the step count,
the same for every member (they step together). Every other entry (moments, momentum) is stacked per member."""


class StackedNetwork:
    """The members' modules (one architecture: the same class, state-dict keys and shapes) as one network whose
    parameters and buffers are stacked, ``[S, *shape]`` each, row ``s`` being member ``s``'s.

    Calling it runs every member on its own inputs: each tensor argument is ``[S, *member_shape]`` (None stays None)
    and so is the output. It is ``torch.func.vmap`` over ``torch.func.functional_call`` of one copy of the
    architecture held on the meta device (it holds no weights), so each op runs in its batched form (matmuls
    batched, convolutions grouped): a member's output is its module's up to the order of float sums. The stacked
    parameters are autograd leaves (needing grad where the members' do), so ordinary autograd differentiates
    through a call, to second order too; buffers are updated in place row by row (BatchNorm's running statistics in
    training mode are each member's own, as in its module, so eval-mode sampling is unchanged). The members'
    training/eval mode is the one they had when stacked.
    """

    def __init__(self, modules: Sequence[nn.Module]):
        first = modules[0]
        self._architecture = copy.deepcopy(first).to("meta")
        self.params = {
            name: torch.stack([m.get_parameter(name).detach() for m in modules]).requires_grad_(p.requires_grad)
            for name, p in first.named_parameters()
        }
        self.buffers = {name: torch.stack([m.get_buffer(name) for m in modules]) for name, _ in first.named_buffers()}

    def __call__(self, *args: torch.Tensor | None) -> Any:
        in_dims = (0, 0, *(None if arg is None else 0 for arg in args))
        return vmap(self._member, in_dims=in_dims)(self.params, self.buffers, *args)

    def _member(self, params: dict[str, torch.Tensor], buffers: dict[str, torch.Tensor], *args: Any) -> Any:
        return functional_call(self._architecture, (params, buffers), args)

    def requires_grad_(self, requires_grad: bool) -> None:
        """Freeze (False) or unfreeze every stacked parameter, as ``module.requires_grad_`` does."""
        for param in self.params.values():
            param.requires_grad_(requires_grad)

    def tensors(self) -> list[torch.Tensor]:
        """Parameters, then buffers, in the members' ``named_parameters``/``named_buffers`` order."""
        return [*self.params.values(), *self.buffers.values()]

    @torch.no_grad()
    def write(self, modules: Sequence[nn.Module]) -> None:
        """Copy row ``s`` of every parameter and buffer into ``modules[s]``."""
        for s, module in enumerate(modules):
            for name, param in self.params.items():
                module.get_parameter(name).copy_(param[s])
            for name, buffer in self.buffers.items():
                module.get_buffer(name).copy_(buffer[s])


def stacked_optimizer(
    optimizers: Sequence[torch.optim.Optimizer], stacked: list[torch.Tensor]
) -> torch.optim.Optimizer:
    """One optimiser of the members' class and param groups over ``stacked``: the stacked weights of the members'
    parameters in their optimisers' order (``stacked[i]`` stacks each member's ``i``-th parameter); its state is
    the members' state stacked (:func:`load_optimizer_state`). For :data:`ELEMENTWISE_OPTIMIZERS` only."""
    first, weights = optimizers[0], iter(stacked)
    groups = [
        {
            **{key: value for key, value in group.items() if key != "params"},
            "params": [next(weights) for _ in group["params"]],
        }
        for group in first.param_groups
    ]
    optimizer = type(first)(groups)
    load_optimizer_state(optimizer, optimizers)
    return optimizer


def load_optimizer_state(stacked: torch.optim.Optimizer, optimizers: Sequence[torch.optim.Optimizer]) -> None:
    """``stacked``'s state from the members' ``optimizers``: the moments and momenta stacked, the step count
    (:data:`SHARED_STATE`) taken from the first member."""
    stacked.state.clear()
    for weight, *members in zip(optimizer_params(stacked), *map(optimizer_params, optimizers), strict=True):
        states = [optimizer.state.get(param) for optimizer, param in zip(optimizers, members, strict=True)]
        if states[0]:
            stacked.state[weight] = {
                key: _copy(value) if key in SHARED_STATE else torch.stack([state[key] for state in states])
                for key, value in states[0].items()
            }


def write_optimizer_state(stacked: torch.optim.Optimizer, optimizers: Sequence[torch.optim.Optimizer]) -> None:
    """The reverse of :func:`load_optimizer_state`: each member's optimiser gets its row of ``stacked``'s state."""
    for weight, *members in zip(optimizer_params(stacked), *map(optimizer_params, optimizers), strict=True):
        state = stacked.state.get(weight)
        for s, (optimizer, param) in enumerate(zip(optimizers, members, strict=True)):
            if state:
                optimizer.state[param] = {
                    key: _copy(value) if key in SHARED_STATE else value[s].clone() for key, value in state.items()
                }


def optimizer_params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """Every parameter of ``optimizer``, group by group, in order."""
    return [param for group in optimizer.param_groups for param in group["params"]]


def _copy(value: Any) -> Any:
    return value.clone() if isinstance(value, torch.Tensor) else value
