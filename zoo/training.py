"""The one training loop: step budget, batches, progress, checkpoints, exact resume, NaN guard.

Plugins only implement ``Trainer.train_step``; this module calls it. A step is one call of ``train_step`` (for
GANs: one generator update) on the batches it asks for: ``Trainer.batches_per_step`` batches of ``batch_size``
images (one, unless it says otherwise), all drawn from the run's seeded sampler. "Images seen" counts every image
drawn: ``steps * batch_size * batches_per_step``, as :class:`TrainResult`, ``on_evaluate`` and
:class:`~zoo.errors.Diverged` report it.

Losses are read to the host only at the steps that need them (every ``log_every`` steps, before a checkpoint or
an evaluation, at the end), in one transfer, so a CUDA step never waits for the device; every step's losses are
still checked, and :class:`~zoo.errors.Diverged` names the first step whose losses were not finite. On a CPU, where
a read costs nothing, they are read at every step (:data:`READ_EVERY_STEP`), so training stops at the step that
diverged.

Two opt-ins for accelerators: ``precision="bf16"`` runs each ``train_step`` under ``torch.autocast`` with bfloat16.
Weights and optimiser state stay float32, and bfloat16 has float32's range, so no loss scaling is needed. A step
includes the plugin's own backward pass, which therefore also runs inside the context (PyTorch advises leaving
autocast before ``backward()``; a model that needs that can do it in its step): this is why a model opts in to
bf16 in its spec (``ModelSpec.bf16``) and a run asks for it. ``compile=True`` compiles every network of the trainer
with ``torch.compile``, in place, so state dicts and checkpoints keep their keys. Both are recorded with the run.

Exact resume: the trainer is built after seeding torch (:func:`zoo.factory.create_trainer`); checkpoints hold
the trainer's state plus torch's global RNG states and the batch sampler's generator, so a run resumed from step
``k`` follows the same trajectory as an uninterrupted one (bit for bit on the same machine and device).

Ctrl-C is deferred to the end of the running step, a checkpoint is written, then :class:`Interrupted` (a
``KeyboardInterrupt``) propagates: nothing is lost, and the state saved is never half a step. The first Ctrl-C is
acknowledged on stderr at once (a step may take long, or hang); a second one stops at once, mid-step, without
saving, and :class:`Interrupted` says which checkpoint (if any) is on disk. A step stuck in a C call that never
returns sees neither; Ctrl-\\ (SIGQUIT) or ``kill`` ends the process, losing only the steps since the last
checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
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
from zoo.errors import Diverged, PluginError, ZooError, describe
from zoo.interfaces import Trainer
from zoo.options import PRECISIONS

READ_EVERY_STEP = frozenset({"cpu"})
"""Device types whose losses are read at every step: no device runs ahead of Python there, so reading them costs
nothing, and a non-finite loss stops training at its own step."""


@dataclass
class TrainResult:
    """What a call of :func:`train` did. ``images_seen`` counts every image the run's steps drew, those before a
    resume included; ``seconds`` counts training steps only (no checkpoints, no evaluation);
    ``images_per_second`` is over this call's steps."""

    step: int
    images_seen: int
    seconds: float
    images_per_second: float
    history: list[dict[str, float]] = field(default_factory=list)


class Interrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C after ``step`` steps.

    ``saved_step`` is the step of the checkpoint on disk (None: none was written, so there is nothing to resume);
    ``forced``: a second Ctrl-C stopped it at once, mid-step, without saving.
    """

    def __init__(self, step: int, saved_step: int | None, *, forced: bool):
        self.step, self.saved_step, self.forced = step, saved_step, forced
        if not forced:
            what = f"interrupted at step {step}" + ("; checkpoint saved" if saved_step == step else "")
        else:
            saved = "no checkpoint was saved" if saved_step is None else f"the last checkpoint is at step {saved_step}"
            what = f"stopped during step {step + 1} by a second Ctrl-C; {saved}"
        super().__init__(what)


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
    on_evaluate: Callable[[int, int, float], None] | None = None,
    progress: bool = True,
    description: str = "train",
    precision: str = "fp32",
    compile: bool = False,
) -> TrainResult:
    """Train ``trainer`` on batches sampled from ``data`` until ``steps`` steps are done in total.

    ``resume``: continue from ``checkpoint_path`` (which must exist). ``history`` records the losses every
    ``log_every`` steps (``{"step": s, **losses}``) and travels in the checkpoint. ``on_evaluate(step,
    images_seen, seconds)`` is called after each step in ``evaluate_at`` with the images seen by then and this
    call's training seconds so far; its own time is not counted as training time. ``precision`` (one of
    :data:`PRECISIONS`) and ``compile``: see the module docstring. ``trainer.batches_per_step`` must be a positive
    int (else :class:`zoo.errors.PluginError`). Raises :class:`zoo.errors.Diverged` at the first step with a
    non-finite loss, :class:`Interrupted` on Ctrl-C (see the module docstring), and :class:`zoo.errors.PluginError`
    when ``train_step`` raises anything, even ``SystemExit`` (the original exception is its ``__cause__``).
    """
    if steps < 1 or batch_size < 1:
        raise ValueError("steps and batch_size must be positive")
    autocast = step_precision(precision, data.device)
    images_per_step = batch_size * batches_per_step(trainer)
    if compile:
        compile_networks(trainer)
    sampler = torch.Generator(device=data.device).manual_seed(seed)
    step, history, saved_step = 0, [], None
    if resume:
        if checkpoint_path is None:
            raise ValueError("resume needs a checkpoint_path")
        state = load_checkpoint(checkpoint_path, data.device)
        try:
            trainer.load_state_dict(state["trainer"])
            _set_rng_state(state["rng"], sampler)
            step, history = int(state["step"]), list(state["history"])
        except Exception as error:  # noqa: BLE001 - a checkpoint of another model, or edited
            raise ZooError(
                f"checkpoint {checkpoint_path} does not fit this run ({describe(error)}); restore the one zoo wrote, "
                "or train afresh in another folder"
            ) from None
        saved_step = step

    def checkpoint() -> None:
        nonlocal saved_step
        if checkpoint_path is not None:
            state = {"step": step, "trainer": trainer.state_dict(), "rng": _rng_state(sampler), "history": history}
            save_checkpoint(checkpoint_path, state)
            saved_step = step

    start_step, train_seconds, pending = step, 0.0, []
    read_every_step = data.device.type in READ_EVERY_STEP

    def settle() -> dict[str, float]:
        """Read the pending steps' losses to the host; raise Diverged at the first non-finite step."""
        read = _losses_to_host(pending)
        pending.clear()
        for at, losses in read:
            if not all(math.isfinite(value) for value in losses.values()):
                raise Diverged(at, losses, at * images_per_step)
        return read[-1][1]

    bar = tqdm(total=steps, initial=step, desc=description, unit="step", disable=not progress, dynamic_ncols=True)
    notice = "stopping after the current step" + (" and saving a checkpoint" if checkpoint_path else "")
    with bar, _deferred_interrupt(notice) as interrupts:
        try:
            while step < steps:
                started = time.perf_counter()
                try:
                    with autocast:
                        losses = trainer.train_step(data.sample(images_per_step, sampler))
                except BaseException as error:  # noqa: BLE001 - plugin code, even SystemExit; name it, no traceback
                    if interrupts.forced:  # the second Ctrl-C, whatever the step made of it
                        raise Interrupted(step, saved_step, forced=True) from None
                    raise PluginError(f"train_step failed at step {step + 1}: {describe(error)}") from error
                step += 1
                pending.append((step, _checked(losses, step)))
                evaluating = step in evaluate_at and on_evaluate is not None
                checkpointing = step % checkpoint_every == 0 or step == steps or interrupts.requested
                logging = step % log_every == 0 or step == steps
                if logging or evaluating or checkpointing or read_every_step:
                    last = settle()  # the read waits for the device, so the timing below includes its work
                train_seconds += time.perf_counter() - started
                if logging:
                    history.append({"step": step, **last})
                    rate = (step - start_step) * images_per_step / max(train_seconds, 1e-9)
                    postfix = {**{k: f"{v:.3g}" for k, v in last.items()}, "img/s": f"{rate:.0f}"}
                    bar.set_postfix(postfix, refresh=False)
                bar.update()
                if evaluating:
                    on_evaluate(step, step * images_per_step, train_seconds)
                if checkpointing:
                    checkpoint()
                if interrupts.requested:
                    raise Interrupted(step, saved_step, forced=False)
        except KeyboardInterrupt as stop:
            if interrupts.forced and not isinstance(stop, Interrupted):
                raise Interrupted(step, saved_step, forced=True) from None
            raise

    images = (step - start_step) * images_per_step
    return TrainResult(step, step * images_per_step, train_seconds, images / max(train_seconds, 1e-9), history)


def batches_per_step(trainer: Trainer) -> int:
    """``trainer.batches_per_step``, checked: a :class:`~zoo.errors.PluginError` unless it is a positive int."""
    count = trainer.batches_per_step
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise PluginError(f"{type(trainer).__name__}.batches_per_step must be a positive int, got {count!r}")
    return count


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


@dataclass
class _Interrupts:
    requested: bool = False
    """A first Ctrl-C arrived: stop after the running step."""
    forced: bool = False
    """A second Ctrl-C arrived: ``KeyboardInterrupt`` was raised at once."""


@contextlib.contextmanager
def _deferred_interrupt(notice: str) -> Iterator[_Interrupts]:
    """While active, a first SIGINT sets ``requested`` and says at once on stderr that it was received (``notice``
    says what happens next); a second one sets ``forced`` and raises ``KeyboardInterrupt``. Outside the main thread
    (where signals cannot be caught) nothing changes."""
    interrupts = _Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield interrupts
        return

    def handler(signum: int, frame: Any) -> None:
        if interrupts.requested:
            interrupts.forced = True
            raise KeyboardInterrupt
        interrupts.requested = True
        _tell(f"\nzoo: Ctrl-C received: {notice}; press Ctrl-C again to stop at once\n")

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield interrupts
    finally:
        signal.signal(signal.SIGINT, previous)


def _tell(text: str) -> None:
    """Write ``text`` to stderr from a signal handler: straight to the file descriptor when there is one (no
    re-entry into a buffered write the handler interrupted), else through ``sys.stderr``."""
    try:
        os.write(sys.stderr.fileno(), text.encode())
    except (AttributeError, OSError, ValueError):  # no real file behind sys.stderr (a test runner's capture)
        sys.stderr.write(text)
