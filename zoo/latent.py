"""Named latent codes: the parts of a generator's latent input that mean something (InfoGAN's categorical and
continuous codes), and how zoo fixes and sweeps them.

A generator names its codes in :attr:`zoo.Generator.latent_codes` and draws them in its own prior
(:meth:`zoo.Generator.prior`), which takes fixed values for any of them. Then:

* ``generator.sample(n, codes={"c1": 3})`` draws ``n`` images with code ``c1`` held at 3 (a number holds it for every
  image, an ``[n]`` tensor gives each image its own value);
* :func:`traversal` draws a traversal grid, what ``zoo sample RUN --code c1`` writes: one row per draw of
  everything else, the swept code's values across (each value of a categorical code; :data:`TRAVERSAL_STEPS` evenly
  spaced values over a continuous code's range), other codes held where ``fixed`` says.

A generator without codes (every built-in but InfoGAN) refuses ``codes`` with a :class:`ValueError` that says it has
none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

if TYPE_CHECKING:
    from zoo.interfaces import Generator

TRAVERSAL_STEPS = 10
"""Columns of a continuous code's traversal: evenly spaced values from its ``low`` to its ``high`` (the InfoGAN
authors' visualisation shows ten, from -1 to 1)."""
CodeValue = float | int | torch.Tensor
"""A code's fixed value: a number for every image, or a tensor ``[n]`` with one value per image."""
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class LatentCode:
    """One named code in a generator's latent input.

    ``kind`` ``"categorical"``: ``values`` choices, ``0 .. values-1``, drawn uniformly by the prior (fixed values are
    int64); ``"continuous"``: a real number whose prior lives on ``[low, high]`` (fixed values are float32 and may lie
    outside the range: the InfoGAN paper extrapolates its continuous codes to ``[-2, 2]``). ``name``: an identifier
    (letters, digits, ``_``), unique among the generator's codes.
    """

    name: str
    kind: Literal["categorical", "continuous"]
    values: int = 0
    low: float = -1.0
    high: float = 1.0

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"latent code name {self.name!r} is not an identifier")
        if self.kind not in ("categorical", "continuous"):
            raise ValueError(
                f"latent code {self.name!r}: kind must be 'categorical' or 'continuous', not {self.kind!r}"
            )
        if self.kind == "categorical" and self.values < 2:
            raise ValueError(f"categorical code {self.name!r} needs at least 2 values, got {self.values}")
        if self.kind == "continuous" and not self.low < self.high:
            raise ValueError(f"continuous code {self.name!r} needs low < high, got [{self.low}, {self.high}]")

    @property
    def categorical(self) -> bool:
        return self.kind == "categorical"

    def describe(self) -> str:
        """E.g. ``c1 (categorical, 10 values)`` or ``c2 (continuous, -1 to 1)``."""
        if self.categorical:
            return f"{self.name} (categorical, {self.values} values)"
        return f"{self.name} (continuous, {self.low:g} to {self.high:g})"

    def sweep(self) -> torch.Tensor:
        """The values a traversal shows, across: each of a categorical code's values (int64 ``[values]``), or
        :data:`TRAVERSAL_STEPS` evenly spaced values over ``[low, high]`` (float32)."""
        if self.categorical:
            return torch.arange(self.values)
        return torch.linspace(self.low, self.high, TRAVERSAL_STEPS)

    def fixed(self, value: CodeValue, n: int, device: torch.device) -> torch.Tensor:
        """``value`` as this code's values for ``n`` images: a tensor ``[n]`` on ``device``, int64 for a categorical
        code, float32 for a continuous one. ``ValueError`` for a value the code cannot take (not finite, not an
        integer in ``[0, values)`` for a categorical code) or a tensor that is not ``[n]`` (or a single value)."""
        tensor = torch.as_tensor(value, device=device).detach()
        if tensor.dim() == 0 or tensor.shape == (1,):
            tensor = tensor.reshape(()).expand(n)
        if tensor.shape != (n,):
            raise ValueError(f"code {self.name!r} needs one value or {n}, got shape {list(tensor.shape)}")
        if not torch.isfinite(tensor.double()).all():
            raise ValueError(f"code {self.name!r} takes finite values")
        if not self.categorical:
            return tensor.to(torch.float32)
        integral = tensor.double().round() == tensor.double()
        if not integral.all() or tensor.min() < 0 or tensor.max() >= self.values:
            raise ValueError(f"code {self.name!r} takes the integers 0 to {self.values - 1}")
        return tensor.to(torch.long)


def code_values(
    known: Sequence[LatentCode], codes: Mapping[str, CodeValue] | None, n: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """``codes`` (name -> value) checked against the generator's codes ``known`` and made tensors ``[n]`` on
    ``device`` (:meth:`LatentCode.fixed`); empty for None. ``ValueError`` naming the codes the generator has (or
    "none") for a name it does not have."""
    by_name = {code.name: code for code in known}
    checked = {}
    for name, value in (codes or {}).items():
        if name not in by_name:
            raise _no_such_code(known, name)
        checked[name] = by_name[name].fixed(value, n, device)
    return checked


def traversal(
    generator: Generator,
    name: str,
    n: int,
    *,
    seed: int,
    fixed: Mapping[str, CodeValue] | None = None,
    labels: torch.Tensor | None = None,
) -> tuple[torch.Tensor, int]:
    """A traversal grid of code ``name`` with at least ``n`` images: images ``[rows * K, C, H, W]`` in row-major
    order, ``rows = ceil(n / K)``, and ``K``, the row length (the code's :meth:`~LatentCode.sweep` values).

    Row ``r`` is one draw of everything else from the generator's prior (noise, the other codes, the label of a
    conditional model), the same across the row; column ``k`` holds code ``name`` at its ``k``-th value. ``fixed``
    holds other codes (name -> value) in every image; ``labels`` (int64, at least ``rows`` of them) give a conditional
    model's row labels, the first ``rows``. Each column is drawn with a ``torch.Generator`` seeded with ``seed``: the
    prior's draws do not depend on which codes are fixed (:meth:`zoo.Generator.prior`), so the rows keep their noise
    across. ``ValueError`` for a code the generator does not have, or one also in ``fixed``."""
    code = next((code for code in generator.latent_codes if code.name == name), None)
    if code is None:
        raise _no_such_code(generator.latent_codes, name)
    if name in (fixed or {}):
        raise ValueError(f"code {name!r} cannot be both swept and fixed")
    values = code.sweep()
    rows = -(-n // len(values))
    row_labels = None if labels is None else labels[:rows]
    columns = []
    for value in values:
        rng = torch.Generator(device=generator.device).manual_seed(seed)
        codes = {**(fixed or {}), name: value}
        columns.append(generator.sample(rows, generator=rng, labels=row_labels, codes=codes))
    return torch.stack(columns, dim=1).flatten(0, 1), len(values)


def _no_such_code(known: Sequence[LatentCode], name: str) -> ValueError:
    has = ", ".join(code.describe() for code in known) or "none"
    return ValueError(f"the generator has no latent code {name!r}; its codes: {has}")
