"""The one training loop: step budget, batches, progress, checkpoints, exact resume, NaN guard.

Plugins only implement ``Trainer.train_step``; this module calls it. A step is one call of ``train_step``
on one batch (for GANs: one generator update), so ``steps * batch_size`` images are seen in all.

Losses are read to the host only at the steps that need them (every ``log_every`` steps, before a checkpoint or
an evaluation, at the end), in one transfer, so a CUDA step never waits for the device; every step's losses are
still checked, and :class:`~zoo.errors.Diverged` names the first step whose losses were not finite.

Two opt-ins for accelerators: ``precision="bf16"`` runs each ``train_step`` under ``torch.autocast`` with bfloat16.
Weights and optimiser state stay float32, and bfloat16 has float32's range, so no loss scaling is needed. A step
includes the plugin's own backward pass, which therefore also runs inside the context (PyTorch advises leaving
autocast before ``backward()``; a model that needs that can do it in its step): this is why a model opts in to
bf16 in its spec (``ModelSpec.bf16``) and a run asks for it. ``compile=True`` compiles every network of the trainer
with ``torch.compile``, in place, so state dicts and checkpoints keep their keys. Both are recorded with the run.

Exact resume: the trainer is built after seeding torch (:func:`zoo.factory.create_trainer`); checkpoints hold
the trainer's state plus torch's global RNG states and the batch sampler's generator, so a run resumed from step
``k`` follows the same trajectory as an uninterrupted one (bit for bit on the same machine and device).

Ctrl-C is deferred to the end of the running step, a checkpoint is written, then ``KeyboardInterrupt``
propagates: nothing is lost, and the state saved is never half a step.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from zoo.checkpoint import load_checkpoint, save_checkpoint
from zoo.data import InMemoryDataset
from zoo.errors import Diverged, PluginError
from zoo.interfaces import Trainer

PRECISIONS = ("fp32", "bf16")
"""``fp32``: float32 throughout; ``bf16``: each step under bfloat16 autocast."""


@dataclass
class TrainResult:
    """What a call of :func:`train` did. ``seconds`` counts training steps only (no checkpoints, no
    evaluation); ``images_per_second`` is over this call's steps."""

    step: int
    images_seen: int
    seconds: float
    images_per_second: float
    history: list[dict[str, float]] = field(default_factory=list)


def train(
    trainer: Trainer,
    data: InMemoryDataset,
    *,
    steps: int,
    batch_size: int,
    seed: int,
    checkpoint_path: Path | None = None,
    checkpoint_every: int = 500,
    resume: bool = False,
    log_every: int = 50,
    evaluate_at: frozenset[int] = frozenset(),
    on_evaluate: Callable[[int, float], None] | None = None,
    progress: bool = True,
    description: str = "train",
    precision: str = "fp32",
    compile: bool = False,
) -> TrainResult:
    """Train ``trainer`` on batches sampled from ``data`` until ``steps`` steps are done in total.

    ``resume``: continue from ``checkpoint_path`` (which must exist). ``history`` records the losses every
    ``log_every`` steps (``{"step": s, **losses}``) and travels in the checkpoint. ``on_evaluate(step, seconds)``
    is called after each step in ``evaluate_at`` with this call's training seconds so far; its own time is not
    counted as training time. ``precision`` (one of :data:`PRECISIONS`) and ``compile``: see the module docstring.
    Raises :class:`zoo.errors.Diverged` at the first step with a non-finite loss, and
    :class:`zoo.errors.PluginError` when ``train_step`` raises (the original exception is its ``__cause__``).
    """
    if steps < 1 or batch_size < 1:
        raise ValueError("steps and batch_size must be positive")
    autocast = step_precision(precision, data.device)
    if compile:
        compile_networks(trainer)
    sampler = torch.Generator(device=data.device).manual_seed(seed)
    step, history = 0, []
    if resume:
        if checkpoint_path is None:
            raise ValueError("resume needs a checkpoint_path")
        state = load_checkpoint(checkpoint_path, data.device)
        trainer.load_state_dict(state["trainer"])
        _set_rng_state(state["rng"], sampler)
        step, history = state["step"], state["history"]

    def checkpoint() -> None:
        if checkpoint_path is not None:
            state = {"step": step, "trainer": trainer.state_dict(), "rng": _rng_state(sampler), "history": history}
            save_checkpoint(checkpoint_path, state)

    start_step, train_seconds, pending = step, 0.0, []

    def settle() -> dict[str, float]:
        """Read the pending steps' losses to the host; raise Diverged at the first non-finite step."""
        read = _losses_to_host(pending)
        pending.clear()
        for at, losses in read:
            if not all(math.isfinite(value) for value in losses.values()):
                raise Diverged(at, losses)
        return read[-1][1]

    bar = tqdm(total=steps, initial=step, desc=description, unit="step", disable=not progress, dynamic_ncols=True)
    with bar, _deferred_interrupt() as interrupted:
        while step < steps:
            started = time.perf_counter()
            try:
                with autocast:
                    losses = trainer.train_step(data.sample(batch_size, sampler))
            except Exception as error:  # noqa: BLE001 - plugin code; name it, not a bare traceback
                raise PluginError(f"train_step failed at step {step + 1}: {type(error).__name__}: {error}") from error
            step += 1
            pending.append((step, _checked(losses, step)))
            evaluating = step in evaluate_at and on_evaluate is not None
            checkpointing = step % checkpoint_every == 0 or step == steps or interrupted.is_set()
            logging = step % log_every == 0 or step == steps
            if logging or evaluating or checkpointing:
                last = settle()  # the read waits for the device, so the timing below includes its work
            train_seconds += time.perf_counter() - started
            if logging:
                history.append({"step": step, **last})
                rate = (step - start_step) * batch_size / max(train_seconds, 1e-9)
                bar.set_postfix({**{k: f"{v:.3g}" for k, v in last.items()}, "img/s": f"{rate:.0f}"}, refresh=False)
            bar.update()
            if evaluating:
                on_evaluate(step, train_seconds)
            if checkpointing:
                checkpoint()
            if interrupted.is_set():
                raise KeyboardInterrupt(f"interrupted at step {step}; checkpoint saved")

    images = (step - start_step) * batch_size
    return TrainResult(step, step * batch_size, train_seconds, images / max(train_seconds, 1e-9), history)


def step_precision(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The context a step runs in for ``precision`` on ``device``: nothing for ``fp32``, bfloat16 autocast for
    ``bf16`` (on CUDA, and on a CPU too, where it is slower but lets the path be tested)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def compile_networks(trainer: Trainer) -> None:
    """Compile each network of ``trainer`` in place with ``torch.compile`` (the first steps pay the compilation)."""
    for module in trainer.modules().values():
        module.compile()


def _checked(losses: object, step: int) -> dict[str, torch.Tensor | float]:
    """``losses`` if it is what ``train_step`` promises (names -> scalar tensors or numbers); no device sync."""
    if (
        isinstance(losses, dict)
        and losses
        and all(
            isinstance(k, str) and (isinstance(v, (int, float)) or (isinstance(v, torch.Tensor) and v.numel() == 1))
            for k, v in losses.items()
        )
    ):
        return losses
    raise PluginError(
        f"train_step returned {type(losses).__name__} at step {step}; it must return a non-empty dict of losses "
        "(names -> scalar tensors or floats)"
    )


def _losses_to_host(pending: list[tuple[int, dict[str, torch.Tensor | float]]]) -> list[tuple[int, dict[str, float]]]:
    """``(step, losses)`` pairs with every value read to a Python float, in one device-to-host transfer."""
    values = [torch.as_tensor(v).detach().reshape(()) for _, losses in pending for v in losses.values()]
    host = iter(torch.stack([v.to(values[0].device, torch.float64) for v in values]).tolist())
    return [(step, {name: next(host) for name in losses}) for step, losses in pending]


def _rng_state(sampler: torch.Generator) -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "sampler": sampler.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], sampler: torch.Generator) -> None:
    torch.set_rng_state(state["torch"].cpu())
    sampler.set_state(state["sampler"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


@contextlib.contextmanager
def _deferred_interrupt() -> Iterator[threading.Event]:
    """While active, SIGINT sets the yielded event instead of raising; a second SIGINT raises at once."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def handler(signum: int, frame: Any) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)
