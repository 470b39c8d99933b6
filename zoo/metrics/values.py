"""A metric's outcome: a number, or the reason there is none."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MetricValue:
    """A metric's value, or None with the ``reason`` it could not be computed (exactly one of the two is set)."""

    value: float | None
    reason: str | None = None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.reason is None):
            raise ValueError("a MetricValue has either a value or a reason, not both or neither")

    @property
    def available(self) -> bool:
        return self.value is not None
