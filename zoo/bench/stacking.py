"""``zoo bench --stack-seeds S``: the seeds of a model on a dataset run as stacks of up to S cells, each stack one job
in one worker (:mod:`zoo.stacked`: one batched computation on the device), each cell's rows and run folder as its
own job's.

A stackable model's cells record the setting in their key (``stack_seeds``: S), since a stacked member's numbers
equal its separate run's only up to float rounding (:mod:`zoo.stacked`); a model that cannot be stacked
(:func:`zoo.stacked.refusal`) runs its cells one by one, as without the option, and the driver says why once. The
driver groups only the cells that still need running, so a stack may hold fewer than S.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from zoo.bench.jobs import Job
from zoo.errors import describe
from zoo.factory import create_trainer
from zoo.plugins import Registry
from zoo.runs import RunConfig

KEY = "stack_seeds"
"""The key entry of a cell that runs in a stack: the most cells a stack holds."""


def refusal(registry: Registry, config: RunConfig) -> str | None:
    """Why ``config``'s model cannot be stacked (:func:`zoo.stacked.refusal`, its trainer built on the CPU for the
    dataset's images; a build that fails is a reason too, and its cells then fail in their workers as usual), or
    None."""
    from zoo.stacked import refusal as trainer_refusal

    dataset = registry.datasets[config.dataset]
    spec = registry.models[config.model]
    try:
        trainer = create_trainer(spec, dataset.image_shape, dataset.num_classes, hparams=config.hparams)
    except Exception as error:  # noqa: BLE001 - plugin code: its cells will fail in their workers
        return f"building it failed ({describe(error)})"
    return trainer_refusal(trainer)


def marked(job: Job, size: int) -> Job:
    """``job`` with :data:`KEY` in its key: it runs in stacks of up to ``size``."""
    return dataclasses.replace(job, key={**job.key, KEY: size})


def stacked(jobs: Sequence[Job]) -> list[Job]:
    """``jobs`` with the marked ones of each (model, dataset, sweep trial) grouped, in seed order, into stacked jobs
    (:attr:`Job.stack`) of up to their ``stack_seeds``; each stack takes its first member's place. (A sweep's trials
    have settings of their own: only the seeds of one trial share every hyperparameter.)"""
    groups: dict[tuple[str, str, int | None], list[list[Job]]] = {}
    order: list[Job | tuple[tuple[str, str, int | None], int]] = []
    for job in jobs:
        if KEY not in job.key:
            order.append(job)
            continue
        group = job.cell.model, job.cell.dataset, job.cell.trial
        chunks = groups.setdefault(group, [])
        if not chunks or len(chunks[-1]) == job.key[KEY]:
            chunks.append([])
            order.append((group, len(chunks) - 1))
        chunks[-1].append(job)
    return [entry if isinstance(entry, Job) else stack_of(groups[entry[0]][entry[1]]) for entry in order]


def stack_of(members: Sequence[Job]) -> Job:
    """One job running ``members`` (jobs of cells of one model and dataset, and one trial of a sweep) as a stack."""
    return dataclasses.replace(members[0], stack=tuple(members))
