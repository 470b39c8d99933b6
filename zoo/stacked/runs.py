"""Runs of one model whose seeds train as one stack (:class:`StackedRun`): each run's folder, scores and summary are
what its own :class:`zoo.runs.Run` writes."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from zoo.errors import Diverged, UsageError, ZooError
from zoo.plugins import prints_to_stderr
from zoo.runs import Run
from zoo.stacked import build_members, refusal
from zoo.stacked.training import train_stacked
from zoo.training import TrainResult


class StackedRun:
    """``runs`` (at least one, of one config but the seed: the same model, dataset, budget, hyperparameters and
    settings, on one device, distinct seeds) trained as one stack; each keeps its own folder.

    :meth:`execute` runs the phases of :meth:`zoo.runs.Run.execute` for every run around one call of
    :func:`zoo.stacked.training.train_stacked`. Raises a one-line :class:`~zoo.errors.UsageError` for runs that
    differ in more than the seed, or that ask for ``compile`` (a stack's networks are not compiled), and a
    :class:`~zoo.errors.ZooError` naming the reason for a model that cannot be stacked
    (:func:`zoo.stacked.refusal`), before any folder is touched.
    """

    def __init__(self, runs: Sequence[Run]):
        self.runs = list(runs)
        first = self.runs[0]
        seeds = [run.config.seed for run in self.runs]
        if len(set(seeds)) < len(seeds):
            raise UsageError(f"stacked seeds must differ, got {', '.join(map(str, seeds))}")
        for run in self.runs[1:]:
            same = dataclasses.replace(run.config, seed=first.config.seed) == first.config
            setting = (run.device, run.data_root, run.train_limit, run.download, run.evaluate_at)
            if not same or setting != (
                first.device,
                first.data_root,
                first.train_limit,
                first.download,
                first.evaluate_at,
            ):
                raise UsageError("stacked runs must differ in their seed only")
        if first.config.compile:
            raise UsageError("stacked seeds are not compiled: leave out --compile, or train the seeds one by one")

    def execute(
        self, *, resume: bool = False, replace: bool = False, checkpoint_every: int = 500
    ) -> list[TrainResult | Diverged]:
        """Train, score and write every run's folder, as :meth:`zoo.runs.Run.execute` does for one (``resume``:
        every run continues from its checkpoint, all at the same step); returns each run's training result, or its
        :class:`~zoo.errors.Diverged` when its losses stopped being finite (the others go on; its folder is then
        what a diverged run leaves). Raises :class:`~zoo.training.Interrupted` and
        :class:`~zoo.errors.PluginError` as :func:`zoo.training.train` does."""
        first = self.runs[0]
        config, dataset = first.config, first.dataset
        with prints_to_stderr():
            for run in self.runs:
                run.phase = "building the model"
            members = build_members(
                first.spec,
                dataset.image_shape,
                dataset.num_classes,
                hparams=config.hparams,
                seeds=[run.config.seed for run in self.runs],
                device=first.device,
            )
            reason = refusal(members[0].trainer)
            if reason is not None:
                raise ZooError(f"model {config.model!r} cannot be stacked: {reason}; train its seeds one by one")
            for run in self.runs:
                run.prepare_folder(resume=resume, replace=replace)
            data = first.training_data()
            for run, member in zip(self.runs, members, strict=True):
                run.begin(member.trainer, resume=resume)
                run.phase = "training"
            evaluators = [run.evaluator(member.trainer) for run, member in zip(self.runs, members, strict=True)]

            def on_evaluate(index: int, step: int, images_seen: int, train_seconds: float) -> None:
                evaluate = evaluators[index]
                assert evaluate is not None
                evaluate(step, images_seen, train_seconds)

            results = train_stacked(
                members,
                data,
                steps=config.steps,
                batch_size=config.batch_size,
                checkpoint_paths=[run.out_dir / "checkpoint.pt" for run in self.runs],
                checkpoint_every=checkpoint_every,
                resume=resume,
                evaluate_at=first.evaluate_at,
                on_evaluate=on_evaluate if first.evaluation else None,
                progress=first.progress,
                description=f"{first.description} x{len(self.runs)}",
                precision=config.precision,
            )
            for run, member, result in zip(self.runs, members, results, strict=True):
                if isinstance(result, TrainResult):
                    run.finish(member.trainer, result)
            return results
