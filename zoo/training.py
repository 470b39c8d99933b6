"""The one training loop: step budget, batches, progress, checkpoints, exact resume, NaN guard.

Plugins only implement ``Trainer.train_step``; this module calls it. A step is one call of ``train_step``
on one batch (for GANs: one generator update), so ``steps * batch_size`` images are seen in all.

Exact resume: :func:`seed_everything` is called before the trainer is built; checkpoints hold the trainer's
state plus torch's global RNG states and the batch sampler's generator, so a run resumed from step ``k``
follows the same trajectory as an uninterrupted one (bit for bit on the same machine and device).

Ctrl-C is deferred to the end of the running step, a checkpoint is written, then ``KeyboardInterrupt``
propagates: nothing is lost, and the state saved is never half a step.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from tqdm.auto import tqdm

from zoo.checkpoint import load_checkpoint, save_checkpoint
from zoo.data import InMemoryDataset
from zoo.errors import Diverged, PluginError
from zoo.interfaces import Trainer


def seed_everything(seed: int) -> None:
    """Seed torch's global CPU and CUDA generators (call before building a trainer)."""
    torch.manual_seed(seed)


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
) -> TrainResult:
    """Train ``trainer`` on batches sampled from ``data`` until ``steps`` steps are done in total.

    ``resume``: continue from ``checkpoint_path`` (which must exist). ``history`` records the losses every
    ``log_every`` steps (``{"step": s, **losses}``) and travels in the checkpoint. ``on_evaluate(step, seconds)``
    is called after each step in ``evaluate_at`` with this call's training seconds so far; its own time is not
    counted as training time.
    Raises :class:`zoo.errors.Diverged` at the first step with a non-finite loss, and
    :class:`zoo.errors.PluginError` when ``train_step`` raises (the original exception is its ``__cause__``).
    """
    if steps < 1 or batch_size < 1:
        raise ValueError("steps and batch_size must be positive")
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

    start_step, train_seconds = step, 0.0
    bar = tqdm(total=steps, initial=step, desc=description, unit="step", disable=not progress, dynamic_ncols=True)
    with bar, _deferred_interrupt() as interrupted:
        while step < steps:
            started = time.perf_counter()
            try:
                losses = trainer.train_step(data.sample(batch_size, sampler))
            except Exception as error:  # noqa: BLE001 - plugin code; name it, not a bare traceback
                raise PluginError(f"train_step failed at step {step + 1}: {type(error).__name__}: {error}") from error
            train_seconds += time.perf_counter() - started
            step += 1
            if not all(math.isfinite(value) for value in losses.values()):
                raise Diverged(step, losses)
            if step % log_every == 0 or step == steps:
                history.append({"step": step, **losses})
                rate = (step - start_step) * batch_size / max(train_seconds, 1e-9)
                bar.set_postfix({**{k: f"{v:.3g}" for k, v in losses.items()}, "img/s": f"{rate:.0f}"}, refresh=False)
            bar.update()
            if step in evaluate_at and on_evaluate is not None:
                on_evaluate(step, train_seconds)
            if step % checkpoint_every == 0 or step == steps or interrupted.is_set():
                checkpoint()
            if interrupted.is_set():
                raise KeyboardInterrupt(f"interrupted at step {step}; checkpoint saved")

    images = (step - start_step) * batch_size
    return TrainResult(step, step * batch_size, train_seconds, images / max(train_seconds, 1e-9), history)


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
