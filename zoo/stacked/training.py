"""The training loop of a stack: :func:`zoo.training.train` for S members at once, each member's bookkeeping
(history, checkpoints, evaluations, divergence) its own."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from zoo.checkpoint import load_checkpoint, save_checkpoint
from zoo.data import InMemoryDataset
from zoo.errors import Diverged, PluginError, ZooError, describe
from zoo.stacked.gan import StackedGAN, refusal
from zoo.stacked.members import Member
from zoo.training import READ_EVERY_STEP, Interrupted, TrainResult, _deferred_interrupt, step_precision

MemberEvaluation = Callable[[int, int, int, float], None]
"""``on_evaluate(member index, step, images seen, training seconds)``."""


def train_stacked(
    members: Sequence[Member],
    data: InMemoryDataset,
    *,
    steps: int,
    batch_size: int,
    checkpoint_paths: Sequence[Path] | None = None,
    checkpoint_every: int = 500,
    resume: bool = False,
    log_every: int = 50,
    evaluate_at: frozenset[int] = frozenset(),
    on_evaluate: MemberEvaluation | None = None,
    progress: bool = True,
    description: str = "train",
    precision: str = "fp32",
) -> list[TrainResult | Diverged]:
    """Train every member (built by :func:`~zoo.stacked.members.build_members`, stackable: :func:`zoo.stacked.refusal`
    None) on batches of ``data`` until ``steps`` steps are done, as one computation; what each member gets is what
    :func:`zoo.training.train` gives its separate run with the same arguments.

    ``checkpoint_paths[s]`` is member ``s``'s checkpoint, written when a separate run writes it and holding what it
    holds (so a member resumes as a separate run, and a separate run's checkpoint as a member); ``resume`` loads
    every member's (they must be at the same step). ``on_evaluate`` is called for each member after each step in
    ``evaluate_at`` (its generator holds the member's weights then). Training seconds are the stack's: each member
    is reported as having taken them all. A member whose losses are not finite stops there as its separate run
    would (its result is the :class:`~zoo.errors.Diverged`, no checkpoint or evaluation follows) while the others
    go on. Raises :class:`~zoo.errors.ZooError` for members that cannot be stacked, :class:`~zoo.training.Interrupted`
    on Ctrl-C (after checkpointing every member still training), :class:`~zoo.errors.PluginError` when the step
    raises.
    """
    if steps < 1 or batch_size < 1:
        raise ValueError("steps and batch_size must be positive")
    reason = refusal(members[0].trainer)
    if reason is not None:
        raise ZooError(f"these trainers cannot be stacked: {reason}")
    autocast = step_precision(precision, data.device)
    size, step, saved_step = len(members), 0, None
    histories: list[list[dict[str, float]]] = [[] for _ in members]
    if resume:
        if checkpoint_paths is None:
            raise ValueError("resume needs checkpoint_paths")
        step, histories = _load(members, checkpoint_paths, data.device)
        saved_step = step
    stack = StackedGAN(members)
    images_per_step = batch_size * stack.batches_per_step
    stopped: list[Diverged | None] = [None] * size

    def live() -> list[int]:
        return [s for s in range(size) if stopped[s] is None]

    def checkpoint() -> None:
        nonlocal saved_step
        if checkpoint_paths is not None:
            stack.write_members()
            for s in live():
                member = members[s]
                state = {"step": step, "trainer": member.trainer.state_dict(), "rng": member.rng_state()}
                save_checkpoint(checkpoint_paths[s], {**state, "history": histories[s]})
            saved_step = step

    start_step, train_seconds, pending = step, 0.0, []
    read_every_step = data.device.type in READ_EVERY_STEP

    def settle() -> list[dict[str, float]]:
        """Read the pending steps' losses to the host; stop each member at its first non-finite step."""
        read = _losses_to_host(pending, size)
        pending.clear()
        for at, losses in read:
            for s in live():
                if not all(math.isfinite(value) for value in losses[s].values()):
                    stopped[s] = Diverged(at, losses[s], at * images_per_step)
        return read[-1][1]

    bar = tqdm(total=steps, initial=step, desc=description, unit="step", disable=not progress, dynamic_ncols=True)
    notice = "stopping after the current step" + (" and saving checkpoints" if checkpoint_paths else "")
    with bar, _deferred_interrupt(notice) as interrupts:
        try:
            while step < steps and live():
                started = time.perf_counter()
                batches = [data.sample(images_per_step, member.sampler) for member in members]
                try:
                    with autocast:
                        losses = stack.train_step(
                            torch.stack([b.images for b in batches]), torch.stack([b.labels for b in batches])
                        )
                except BaseException as error:  # noqa: BLE001 - plugin code, even SystemExit; name it, no traceback
                    if interrupts.forced:
                        raise Interrupted(step, saved_step, forced=True) from None
                    raise PluginError(f"the stacked step failed at step {step + 1}: {describe(error)}") from error
                step += 1
                pending.append((step, losses))
                evaluating = step in evaluate_at and on_evaluate is not None
                checkpointing = step % checkpoint_every == 0 or step == steps or interrupts.requested
                logging = step % log_every == 0 or step == steps
                if logging or evaluating or checkpointing or read_every_step:
                    last = settle()
                train_seconds += time.perf_counter() - started
                if logging:
                    for s in live():
                        histories[s].append({"step": step, **last[s]})
                    rate = (step - start_step) * images_per_step * size / max(train_seconds, 1e-9)
                    bar.set_postfix({"members": len(live()), "img/s": f"{rate:.0f}"}, refresh=False)
                bar.update()
                if evaluating and live():
                    stack.write_members()
                    for s in live():
                        on_evaluate(s, step, step * images_per_step, train_seconds)
                if checkpointing:
                    checkpoint()
                if interrupts.requested:
                    raise Interrupted(step, saved_step, forced=False)
        except KeyboardInterrupt as stop:
            if interrupts.forced and not isinstance(stop, Interrupted):
                raise Interrupted(step, saved_step, forced=True) from None
            raise

    stack.write_members()
    images = (step - start_step) * images_per_step
    rate = images / max(train_seconds, 1e-9)
    return [
        stopped[s] or TrainResult(step, step * images_per_step, train_seconds, rate, histories[s]) for s in range(size)
    ]


def _load(members: Sequence[Member], paths: Sequence[Path], device: torch.device) -> tuple[int, list[list[dict]]]:
    """Load every member's checkpoint into it; the step they are at and their histories."""
    steps, histories = set(), []
    for member, path in zip(members, paths, strict=True):
        state = load_checkpoint(path, device)
        try:
            member.trainer.load_state_dict(state["trainer"])
            member.set_rng_state(state["rng"])
            steps.add(int(state["step"]))
            histories.append(list(state["history"]))
        except Exception as error:  # noqa: BLE001 - a checkpoint of another model, or edited
            raise ZooError(
                f"checkpoint {path} does not fit this run ({describe(error)}); restore the one zoo wrote, or train "
                "afresh in another folder"
            ) from None
    if len(steps) > 1:
        raise ZooError(f"the stacked runs' checkpoints are at different steps ({', '.join(map(str, sorted(steps)))}); "
                       "resume them one by one")  # fmt: skip
    return steps.pop(), histories


def _losses_to_host(
    pending: list[tuple[int, dict[str, torch.Tensor]]], size: int
) -> list[tuple[int, list[dict[str, float]]]]:
    """``(step, per-member losses)`` pairs, each ``[S]`` loss read to Python floats, in one device-to-host transfer."""
    host = torch.stack([v.detach().to(torch.float64) for _, losses in pending for v in losses.values()]).tolist()
    rows = iter(host)
    read = []
    for step, losses in pending:
        values = {name: next(rows) for name in losses}
        read.append((step, [{name: values[name][s] for name in losses} for s in range(size)]))
    return read
