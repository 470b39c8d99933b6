"""The ``zoo`` command. Each command parses its options, calls the library and prints; no logic lives here.

The module imports only click and torch-free modules (the options' choices and defaults come from
:mod:`zoo.options`); each command imports what it calls, so ``zoo --help`` and ``zoo --version`` import no torch.

User errors are printed as one line, never a traceback. Exit status 2: the command line asks for something that
does not exist or is not allowed (click's usage errors and :class:`zoo.errors.UsageError`: an unknown name, a value
of the wrong type or out of range). Exit status 1: any other :class:`zoo.errors.ZooError` (a file, folder, run,
dataset, plugin or training run that is not as it must be), a file the operating system refuses (``OSError``),
and an interrupted command.

For scripts and pipes, stdout holds only a command's own output: listings take ``--json`` (one JSON document),
plugin code prints to stderr, and progress bars (on stderr) appear only on a terminal and not after ``zoo --quiet``.
"""

from __future__ import annotations

import dataclasses
import errno
import faulthandler
import json
import math
import re
import shlex
import sys
import traceback
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from zoo.errors import UsageError, ZooError, ZooPluginWarning, ZooWarning
from zoo.fileio import writable_dir
from zoo.options import (
    CHECK_EVERY,
    CPU_THREADS_PER_WORKER,
    DEFAULT_MIN_ACCURACY,
    DEFAULT_SIZE,
    DEFAULT_TEST_FRACTION,
    DEVICE_CHOICES,
    EXECUTORS,
    GRID_SIZE,
    LOWER_IS_BETTER,
    PRECISIONS,
)
from zoo.scaffold import new_plugin

if TYPE_CHECKING:
    import torch

    from zoo.bench.profiles import Profile

MAX_SEED = 2**32 - 1
"""The largest seed the commands take: every RNG a plugin may seed (torch, numpy, random) accepts it."""


class _ZooGroup(click.Group):
    """Turns :class:`ZooError`, ``OSError`` and a plugin's ``sys.exit()`` into click's one-line errors (exit status 2
    for a :class:`UsageError`, else 1), and plugin warnings into one-line notes; keeps the command line as given
    (``ctx.meta["zoo.argv"]``) so results can record the command that made them."""

    def make_context(self, info_name, args, parent=None, **extra):  # noqa: ANN001, ANN201
        argv = list(args)
        ctx = super().make_context(info_name, args, parent, **extra)
        ctx.meta.setdefault("zoo.argv", argv)
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except UsageError as error:
            raise click.UsageError(str(error)) from None
        except ZooError as error:
            raise click.ClickException(str(error)) from None
        except SystemExit as stop:  # zoo itself never calls sys.exit (click raises its own exceptions): plugin code did
            frames = traceback.extract_tb(stop.__traceback__)
            where = f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "plugin code"
            raise click.ClickException(
                f"{where} called sys.exit({stop.code!r}) in the middle of the command; fix or uninstall the plugin "
                "it belongs to"
            ) from None
        except OSError as error:  # a full disk, a permission taken away mid-run: the system's words, one line
            if error.errno == errno.EPIPE:
                raise  # click handles a closed pipe (zoo models | head) itself
            raise click.ClickException(f"{error.filename or 'a file'}: {error.strerror or error}") from None


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    if issubclass(category, (ZooPluginWarning, ZooWarning)):
        click.echo(f"warning: {message}", err=True)
    else:
        click.echo(warnings.formatwarning(message, category, filename, lineno, line), err=True, nl=False)


@click.group(cls=_ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="genzoo", prog_name="zoo")
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress bars (there are none anyway when stderr is not a terminal)."
)
@click.pass_context
def main(ctx: click.Context, quiet: bool) -> None:
    """zoo: a plugin-based zoo of generative image models, with a benchmark harness.

    Models and datasets come from plugins (the built-ins are plugins too). Set
    ZOO_LOAD_PLUGINS=a,b to load only the named plugins, or to an empty string to load none.
    """
    ctx.meta["zoo.quiet"] = quiet
    if sys.__stderr__ is not None and not faulthandler.is_enabled():
        faulthandler.enable(sys.__stderr__)  # a crash in C code (a plugin's, say) prints where it happened


def _progress() -> bool:
    """Whether to show progress bars: only on a terminal (logs and pipes get none), and not after ``zoo --quiet``."""
    return _stderr_is_terminal() and not click.get_current_context().meta.get("zoo.quiet", False)


def _stderr_is_terminal() -> bool:
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _note(line: str) -> None:
    """A remark on stderr (what a profile left out or replaced), apart from the command's output."""
    click.echo(line, err=True)


def _print_table(rows: list[dict[str, Any]], empty: str) -> None:
    import pandas as pd

    click.echo(pd.DataFrame(rows).to_string(index=False) if rows else empty)


def _print_json(document: Any) -> None:
    """One JSON document on stdout, for scripts (``--json``)."""
    click.echo(json.dumps(document, indent=2))


_json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")


def _terminal_bold(text: str) -> str:
    """Markdown's ``**bold**`` in ``text`` as a terminal's bold, in the same width (so that table columns stay
    aligned): click drops the styling where stdout is not a terminal, leaving the plain value."""
    return re.sub(r"\*\*(.+?)\*\*", lambda found: "    " + click.style(found[1], bold=True), text)


class _OutputPath(click.Path):
    """A path to write to: an empty one (``--out ""``) is a usage error, not the working directory."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value.strip():
            self.fail("an empty path; name a folder", param, ctx)
        return super().convert(value, param, ctx)


def _finite_seconds(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A time limit in seconds: a positive finite number (``nan`` and ``inf`` are no limit click would catch)."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a number of seconds; leave the option out for no limit")
    return value


_data_root_option = click.option(
    "--data-root",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder holding datasets in torchvision's layouts (default: $ZOO_DATA_ROOT, else ~/.cache/zoo/datasets).",
)
_folder_options = [
    click.option(
        "--size",
        type=click.IntRange(min=1),
        help=f"For --dataset folder:PATH (a folder of images; class sub-folders give labels): pixels a side, centre "
        f"crop and resize [default: {DEFAULT_SIZE}, or a bench profile's image_size].",
    ),
    click.option(
        "--test-fraction",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        default=DEFAULT_TEST_FRACTION,
        show_default=True,
        help="For folder:PATH: the share of each class held out as the test split (by a hash of the file names).",
    ),
    click.option(
        "--on-error",
        type=click.Choice(["stop", "skip"]),
        default="stop",
        show_default=True,
        help="For folder:PATH: stop at an unreadable image file (naming it), or leave such files out.",
    ),
]


def _folder_dataset_options(command: Any) -> Any:
    """The options that say how a ``folder:PATH`` dataset is read (``--size``, ``--test-fraction``, ``--on-error``)."""
    for option in reversed(_folder_options):
        command = option(command)
    return command


def _seed_option(what: str) -> Any:
    """``--seed``, bounded so that no RNG rejects it (a usage error, not a traceback)."""
    return click.option("--seed", type=click.IntRange(0, MAX_SEED), default=0, show_default=True, help=f"{what}.")


_precision_option = click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default="fp32",
    show_default=True,
    help="bf16: bfloat16 autocast for the models that opt in (meant for GPUs); recorded with the run.",
)
_compile_option = click.option(
    "--compile", "compile_", is_flag=True, help="torch.compile each network (recorded with the run)."
)
_work_dir_option = click.option(
    "--work-dir",
    type=_OutputPath(file_okay=False, path_type=Path),
    default=Path(".zoo-work"),
    show_default=True,
    help="Bench run folders and cached reference features, under WORK_DIR/PROFILE (not for git).",
)
_scoring_profile_option = click.option(
    "--profile",
    default="cpu",
    show_default=True,
    help="Whose evaluation protocols score (a built-in profile or a .toml: `zoo profiles`).",
)


def _comma_steps(ctx: click.Context, param: click.Parameter, raw: str | None) -> frozenset[int]:
    """``--eval-at 100,200`` as a set of positive step numbers."""
    if not raw:
        return frozenset()
    try:
        steps = frozenset(int(part) for part in raw.split(","))
    except ValueError:
        raise click.BadParameter(f"{raw!r} is not a comma-separated list of step numbers") from None
    if min(steps) < 1:
        raise click.BadParameter(f"{raw!r}: steps are counted from 1")
    return steps


def _comma_seeds(ctx: click.Context, param: click.Parameter, raw: str | None) -> tuple[int, ...]:
    """``--seeds 0,1,2`` as distinct seeds, in the order given."""
    if not raw:
        return ()
    try:
        seeds = tuple(int(part) for part in raw.split(","))
    except ValueError:
        raise click.BadParameter(f"{raw!r} is not a comma-separated list of seeds") from None
    if min(seeds) < 0 or max(seeds) > MAX_SEED or len(set(seeds)) < len(seeds):
        raise click.BadParameter(f"{raw!r}: seeds are distinct numbers from 0 to {MAX_SEED}")
    return seeds


_device_option = click.option(
    "--device",
    type=click.Choice(DEVICE_CHOICES),
    default="auto",
    show_default=True,
    help="auto: CUDA when available, else CPU.",
)


@main.command()
@_json_option
def models(as_json: bool) -> None:
    """List the registered models."""
    from zoo.plugins import load_registry

    registry = load_registry()
    records = []
    for name in registry.models:
        try:
            spec, plugin = registry.models[name], registry.models.plugin(name)
        except ZooError as error:  # a name clash: show it, not hide it
            unknown = dict.fromkeys(("family", "conditional", "plugin", "version", "paper"))
            records.append({"name": name, **unknown, "error": str(error)})
            continue
        records.append(
            {
                "name": name,
                "family": spec.family,
                "conditional": spec.conditional,
                "plugin": plugin.distribution,
                "version": plugin.version,
                "paper": spec.paper,
                "error": None,
            }
        )
    if as_json:
        _print_json(records)
        return
    rows = [
        {
            "name": r["name"],
            "family": r["family"] or "?",
            "conditional": {True: "yes", False: "no"}.get(r["conditional"], "?"),
            "plugin": "CLASH" if r["error"] else f"{r['plugin']} {r['version']}",
            "paper": r["error"] or r["paper"],
        }
        for r in records
    ]
    _print_table(rows, "no models registered (is a plugin installed? see `zoo plugins`)")


@main.command()
@_data_root_option
@_json_option
def datasets(data_root: Path | None, as_json: bool) -> None:
    """List the registered datasets and where their files are looked for.

    Any folder of images is a dataset too, with no plugin: --dataset folder:PATH (class sub-folders give labels,
    a flat folder is unlabelled) in train, bench and extractor train.
    """
    from zoo.data import resolve_data_root
    from zoo.plugins import load_registry

    registry = load_registry()
    rows = []
    for name in registry.datasets:
        spec, plugin = registry.datasets[name], registry.datasets.plugin(name)
        shape = list(spec.image_shape)
        rows.append({"name": name, "shape": shape, "classes": spec.num_classes, "plugin": plugin.distribution})
    if as_json:
        _print_json({"data_root": str(resolve_data_root(data_root)), "datasets": rows})
        return
    _print_table([{**row, "shape": "x".join(map(str, row["shape"]))} for row in rows], "no datasets registered")
    click.echo(f"\ndata root: {resolve_data_root(data_root)} (set with --data-root or ZOO_DATA_ROOT)")
    click.echo("image folders: --dataset folder:PATH --size N (no plugin needed; see `zoo train --help`)")


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.pass_context
def plugins(ctx: click.Context, as_json: bool) -> None:
    """List installed plugins: distribution, version, hooks, status and load errors.

    Subcommands write a new plugin package (new) and run the conformance kit on a model (check).
    """
    if ctx.invoked_subcommand:
        return
    from zoo.plugins import LOAD_PLUGINS_ENV, load_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ZooPluginWarning)  # failures are shown in the table instead
        registry = load_registry()
    rows = [
        {
            "name": p.name,
            "distribution": p.distribution,
            "version": p.version,
            "hooks": ", ".join(p.hooks),
            "status": p.status,
            "error": p.error or "",
        }
        for p in registry.plugins
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        _print_table(rows, f"no plugins loaded (check {LOAD_PLUGINS_ENV} and your installation)")


@plugins.command("new")
@click.argument("name")
@click.option("--family", type=click.Choice(["gan", "vae"]), default="gan", show_default=True)
@click.option("--conditional", is_flag=True, help="The model takes class labels.")
@click.option(
    "--own-trainer", is_flag=True, help="GAN: write a Trainer of its own (trainer.py) instead of using GANTrainer."
)
@click.option(
    "-o",
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder in which to create zoo-NAME/.",
)
def plugins_new(name: str, family: str, conditional: bool, own_trainer: bool, out: Path) -> None:
    """Write a pip-installable plugin package for a new model NAME: a working small model, its entry point,
    a README and a conformance test. Install it with `pip install -e zoo-NAME` and it appears in `zoo models`."""
    target = new_plugin(name, family=family, conditional=conditional, own_trainer=own_trainer, out_dir=out)
    click.echo(f"wrote {target}; next: pip install -e {target} && zoo plugins check {name}")


@plugins.command("probe")
@click.argument("names", nargs=-1)
def plugins_probe(names: tuple[str, ...]) -> None:
    """Load each plugin (or NAMES) in a Python process of its own and report the ones that end or hang the process
    (os._exit, a segfault, a kill, an endless import): what zoo cannot survive in-process. Exit 1 if any does."""
    from zoo.plugin_probe import installed_plugins, probe_plugins
    from zoo.plugins import LOAD_PLUGINS_ENV

    results = probe_plugins(names)
    _print_table([{"name": r.name, "status": r.status, "detail": r.detail} for r in results], "no plugins installed")
    fatal = [r.name for r in results if r.status == "fatal"]
    if fatal:
        rest = ",".join(name for name in installed_plugins() if name not in fatal)
        raise ZooError(
            f"loading {', '.join(fatal)} ends the zoo process: uninstall, or leave out with {LOAD_PLUGINS_ENV}={rest}"
        )


@plugins.command("check")
@click.argument("names", nargs=-1, required=True)
@click.option(
    "--shape",
    "shapes",
    multiple=True,
    metavar="CxHxW",
    help="Image shape to check with; repeatable [default: 1x28x28, 3x32x32 and 3x64x64, as the tests `zoo plugins "
    "new` writes].",
)
@click.option("--classes", type=click.IntRange(min=0), default=10, show_default=True)
@click.option(
    "--hparam",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set a hyperparameter on top of the model's tiny ones (value parsed as JSON); repeatable.",
)
@_device_option
def plugins_check(
    names: tuple[str, ...], shapes: tuple[str, ...], classes: int, hparam: tuple[str, ...], device: str
) -> None:
    """Run zoo's conformance kit on models (or on every model of the named plugins) at each image shape, built with
    their tiny hyperparameters (and --hparam); exit 1 on any failure."""
    from zoo.conformance import PROBE_SHAPES, Probe, models_of, run_checks
    from zoo.device import resolve_device
    from zoo.plugins import load_registry

    image_shapes = [_image_shape(shape) for shape in shapes] or list(PROBE_SHAPES.values())
    hparams = _parse_hparams(hparam)
    registry = load_registry()
    failed = 0
    for model in models_of(registry, names):
        spec = registry.models[model]
        spec.resolve_hparams(overrides=hparams, tiny=True)  # a name or value the model does not take: one line
        for image_shape in image_shapes:
            shape = "x".join(map(str, image_shape))
            given = f", hparams {json.dumps(hparams)}" if hparams else ""
            click.echo(f"{model} ({registry.models.plugin(model).distribution}), {shape}, {classes} classes{given}:")
            probe = Probe(image_shape, classes, str(resolve_device(device)), hparams=hparams)
            for check, problem in run_checks(spec, probe):
                failed += problem is not None
                click.echo(f"  {'FAIL' if problem else 'ok  '}  {check}" + (f": {problem}" if problem else ""))
    if failed:
        raise ZooError(f"{failed} check(s) failed")


def _image_shape(shape: str) -> tuple[int, int, int]:
    """``--shape CxHxW`` as ``(C, H, W)``."""
    try:
        image_shape = tuple(int(d) for d in shape.lower().split("x"))
    except ValueError:
        image_shape = ()
    if len(image_shape) != 3 or min(image_shape) < 1:
        raise click.BadParameter(f"{shape!r} is not CxHxW", param_hint="--shape")
    return image_shape  # type: ignore[return-value]


def _parse_hparams(values: tuple[str, ...]) -> dict[str, Any]:
    parsed = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--hparam")
        try:
            parsed[key] = json.loads(raw)
        except json.JSONDecodeError:
            parsed[key] = raw
    return parsed


@main.command()
@click.argument("model")
@click.option("--dataset", required=True, help="A registered dataset (see `zoo datasets`).")
@click.option(
    "--steps", type=click.IntRange(min=1), default=2000, show_default=True, help="Training steps (generator updates)."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True)
@_seed_option("Seed of the weights and the batch order")
@click.option(
    "--seeds",
    callback=_comma_seeds,
    metavar="SEEDS",
    help="Train these seeds (comma-separated) as one stack: one batched computation, a run folder per seed "
    "(MODEL-DATASET-sSEED in --out) as its own run writes it. For models with zoo.gan.GANTrainer's step.",
)
@click.option(
    "--out",
    type=_OutputPath(file_okay=False, path_type=Path),
    help="Run folder [default: runs/MODEL-DATASET-sSEED]; with --seeds, the folder of the runs [default: runs].",
)
@click.option(
    "--hparam", multiple=True, metavar="KEY=VALUE", help="Override a hyperparameter (value parsed as JSON); repeatable."
)
@click.option(
    "--hparams-from",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="RESULTS/PROFILE",
    help="Start from the hyperparameters of MODEL's best cell on the dataset in a bench's results folder (a sweep's "
    "best trial), by final FID under its first protocol; --hparam overrides them.",
)
@click.option(
    "--resume", is_flag=True, help="Continue the run in --out from its checkpoint (same config; --steps may grow)."
)
@click.option("--checkpoint-every", type=click.IntRange(min=1), default=500, show_default=True)
@click.option(
    "--eval-at",
    callback=_comma_steps,
    metavar="STEPS",
    help="Also score at these steps (comma-separated); the last step is always scored, unless --no-eval.",
)
@click.option("--no-eval", is_flag=True, help="Train without scoring.")
@_scoring_profile_option
@_work_dir_option
@_precision_option
@_compile_option
@_device_option
@_data_root_option
@click.option("--download", is_flag=True, help="Download missing dataset files through torchvision (needs internet).")
@_folder_dataset_options
def train(
    model: str,
    dataset: str,
    steps: int,
    batch_size: int,
    seed: int,
    seeds: tuple[int, ...],
    out: Path | None,
    hparam: tuple[str, ...],
    hparams_from: Path | None,
    resume: bool,
    checkpoint_every: int,
    eval_at: frozenset[int],
    no_eval: bool,
    profile: str,
    work_dir: Path,
    precision: str,
    compile_: bool,
    device: str,
    data_root: Path | None,
    download: bool,
    size: int | None,
    test_fraction: float,
    on_error: str,
) -> None:
    """Train MODEL on a dataset (a registered one, or folder:PATH), with a progress bar, periodic checkpoints,
    scores and a final sample grid.

    The run is scored at its last step (and at --eval-at steps) under the protocols --profile has for the dataset:
    the same metrics, computed the same way, as a bench row. Writes config.json, checkpoint.pt,
    generator.safetensors, samples.png and summary.json (with the scores) to the run folder. Ctrl-C saves a
    checkpoint at the end of the current step (a second Ctrl-C stops at once); continue with --resume. A run that
    stopped before its first checkpoint is started afresh by the same command.
    """
    if no_eval and eval_at:
        raise click.UsageError("--eval-at and --no-eval contradict each other")
    if eval_at and max(eval_at) > steps:
        raise click.UsageError(f"--eval-at {max(eval_at)} is past --steps {steps}")
    if seeds and click.get_current_context().get_parameter_source("seed") is not ParameterSource.DEFAULT:
        raise click.UsageError("--seed and --seeds contradict each other")

    from zoo.bench.profiles import load_profile
    from zoo.data.sources import FolderOptions, with_datasets
    from zoo.device import resolve_device
    from zoo.plugins import load_registry
    from zoo.runs import Evaluation, Run, RunConfig
    from zoo.scoring import references
    from zoo.training import Interrupted

    folders = FolderOptions(size or DEFAULT_SIZE, test_fraction, on_error)
    registry, (dataset,) = with_datasets(load_registry(), [dataset], folders, data_root=data_root, progress=_progress())
    if not seeds:
        out = out or Path("runs") / f"{model}-{dataset}-s{seed}"
    config = RunConfig(
        model=model,
        dataset=dataset,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        hparams={**_best_hparams(hparams_from, model, dataset), **_parse_hparams(hparam)},
        precision=precision,
        compile=compile_,
    )
    evaluation = None
    if not no_eval:
        chosen = load_profile(profile)
        try:
            refs = references(registry, chosen, dataset, data_root=data_root, echo=_note)
        except ZooError as error:
            if eval_at:
                raise
            click.echo(f"not scored: {error}", err=True)
        else:
            evaluation = Evaluation(refs, eval_at, work_dir / chosen.name / "reference-cache")
    options = dict(device=resolve_device(device), data_root=data_root, download=download, evaluation=evaluation,
                   progress=_progress())  # fmt: skip
    if seeds:
        from zoo.stacked.runs import StackedRun

        folder = out or Path("runs")
        runs = [
            Run(registry, dataclasses.replace(config, seed=s), folder / f"{model}-{dataset}-s{s}", **options)
            for s in seeds
        ]
    else:
        runs = [Run(registry, config, out, **options)]
    try:
        if seeds:
            results = StackedRun(runs).execute(resume=resume, checkpoint_every=checkpoint_every)
        else:
            results = [runs[0].execute(resume=resume, checkpoint_every=checkpoint_every)]
    except Interrupted as stop:
        if stop.saved_step is None:
            advice = f"start it again with: {_this_command(resume=False)}"
        else:
            advice = f"continue from step {stop.saved_step} with: {_this_command(resume=True)}"
        raise click.ClickException(f"{stop}; {advice}") from None
    diverged = []
    for run, result in zip(runs, results, strict=True):
        if isinstance(result, ZooError):  # a stacked seed that diverged; the others went on
            diverged.append(f"seed {run.config.seed}: {result}")
            continue
        for scored in run.scores:
            if scored.step == result.step:
                value = f"{scored.value:.4g}" if scored.value is not None else f"unavailable ({scored.reason})"
                click.echo(f"{scored.protocol} {scored.metric}: {value}")
        click.echo(
            f"trained {model} on {dataset}" + (f" (seed {run.config.seed})" if seeds else "")
            + f": {result.step} steps, {result.images_per_second:.0f} img/s; samples in {run.out_dir / 'samples.png'}"
            + (f", scores in {run.out_dir / 'summary.json'}" if run.scores else "")
        )  # fmt: skip
    if diverged:
        raise ZooError("; ".join(diverged))


def _best_hparams(results_dir: Path | None, model: str, dataset: str) -> dict[str, Any]:
    """The hyperparameters of ``model``'s best cell on ``dataset`` in ``results_dir``
    (:func:`zoo.report.sweep.best_cell`), said in a line; none without a folder."""
    if results_dir is None:
        return {}
    from zoo.report.sweep import best_cell

    best = best_cell(results_dir, model, dataset)
    _note(
        f"hyperparameters of {best.cell} in {results_dir}, the best of {best.among} (final FID {best.fid:.3g} under "
        f"protocol {best.protocol}): {json.dumps(best.hparams, sort_keys=True)}"
    )
    return best.hparams


def _this_command(*, resume: bool) -> str:
    """The command line being run, as a shell command, with ``--resume`` added or removed."""
    argv = [arg for arg in click.get_current_context().meta["zoo.argv"] if arg != "--resume"]
    return shlex.join(["zoo", *argv, *(["--resume"] if resume else [])])


def _parse_labels(raw: str | None, n: int) -> torch.Tensor | None:
    if raw is None:
        return None
    import torch

    try:
        classes = [int(v) for v in raw.split(",")]
    except ValueError:
        raise click.BadParameter(
            f"{raw!r} is not a comma-separated list of class numbers", param_hint="--labels"
        ) from None
    return torch.tensor(classes).repeat(n // len(classes) + 1)[:n]


def _parse_codes(values: tuple[str, ...]) -> tuple[dict[str, float], str | None]:
    """``--code NAME=VALUE`` (fixed) and ``--code NAME`` (swept, at most one) as (fixed values, swept name)."""
    fixed, swept = {}, []
    for item in values:
        name, sep, raw = item.partition("=")
        if not name:
            raise click.BadParameter(f"{item!r} is not NAME or NAME=VALUE", param_hint="--code")
        if not sep:
            swept.append(name)
            continue
        try:
            fixed[name] = float(raw)
        except ValueError:
            raise click.BadParameter(f"{item!r}: {raw!r} is not a number", param_hint="--code") from None
    if len(swept) > 1:
        raise click.BadParameter(
            f"sweeps one code at a time, got {', '.join(swept)}; hold the others with NAME=VALUE", param_hint="--code"
        )
    return fixed, swept[0] if swept else None


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "-n",
    "count",
    type=click.IntRange(min=1, max=10000),
    default=GRID_SIZE,
    show_default=True,
    help="Number of samples (a conditional model without --labels, or a --code sweep, rounds up to whole rows).",
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=Path("grid.png"), show_default=True
)
@click.option(
    "--labels",
    help="Class numbers for a conditional model, comma-separated, repeated to fill -n (e.g. 7 or 0,1,2); "
    "default: one grid row per class (-n rounded up to whole rows).",
)
@click.option(
    "--code",
    "codes",
    multiple=True,
    metavar="NAME[=VALUE]",
    help="For a model with latent codes (e.g. InfoGAN's c1, c2, c3): NAME=VALUE holds a code in every sample; a bare "
    "NAME draws a traversal grid, one row per draw of everything else, the code's values across (each value of a "
    "categorical code, 10 steps over a continuous code's range). Repeatable; one NAME at a time.",
)
@_seed_option("Sampling seed")
@_device_option
def sample(
    run_dir: Path, count: int, output: Path, labels: str | None, codes: tuple[str, ...], seed: int, device: str
) -> None:
    """Draw samples from a trained run folder and save them as a PNG grid."""
    from zoo.runs import load_run, save_samples

    fixed, swept = _parse_codes(codes)
    writable_dir(output.parent, "choose another -o")
    generator, _ = load_run(run_dir, device=device)
    _, written = save_samples(
        generator, output, count, labels=_parse_labels(labels, count), seed=seed, codes=fixed, sweep=swept
    )
    click.echo(f"wrote {written} samples to {output}" + (f" (rows: draws; columns: {swept}'s values)" if swept else ""))


@main.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--dataset", help="Score against this dataset's reference [default: a run's own dataset].")
@click.option("--protocol", "protocols", multiple=True, help="Only this protocol of the profile; repeatable.")
@_scoring_profile_option
@_work_dir_option
@_device_option
@_data_root_option
@_folder_dataset_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def score(
    source: Path,
    dataset: str | None,
    protocols: tuple[str, ...],
    profile: str,
    work_dir: Path,
    device: str,
    data_root: Path | None,
    size: int | None,
    test_fraction: float,
    on_error: str,
    as_json: bool,
) -> None:
    """Score SOURCE against a dataset's reference images under the profile's protocols.

    SOURCE is a run folder (zoo train's, a bench cell's, or zoo export's: its generator draws the samples, as in a
    bench) or a folder of image files (centre-cropped and resized to the dataset's size; a protocol's sample count is
    drawn from them with its seed). The numbers are the bench's for the same generator and protocol.
    """
    from zoo.bench.profiles import load_profile
    from zoo.data.sources import FolderOptions, with_datasets
    from zoo.device import resolve_device
    from zoo.plugins import load_registry
    from zoo.runs import load_run
    from zoo.scoring import folder_samples, generator_samples, references
    from zoo.scoring import score as score_samples

    chosen = load_profile(profile)
    is_run = (source / "config.json").is_file()
    if not is_run and dataset is None:
        raise click.UsageError(f"{source} is a folder of images: say which dataset to score it against (--dataset)")
    torch_device = resolve_device(device)
    if is_run:
        generator, config = load_run(source, device=device)
        dataset = dataset or config["dataset"]
    folders = FolderOptions(size or chosen.image_size, test_fraction, on_error)
    registry, (dataset,) = with_datasets(load_registry(), [dataset], folders, data_root=data_root, progress=_progress())
    spec = registry.datasets[dataset]
    refs = references(registry, chosen, dataset, data_root=data_root, only=protocols or None, echo=_note)
    samples = generator_samples(generator) if is_run else folder_samples(source, spec.image_shape, data_root=data_root)
    scores = score_samples(refs, samples, cache_dir=work_dir / chosen.name / "reference-cache", device=torch_device)
    records = [
        {
            "protocol": s.protocol.name,
            "protocol_id": s.protocol.id,
            "metric": s.metric,
            "value": s.value.value,
            "reason": s.value.reason or "",
        }
        for s in scores
    ]
    if as_json:
        click.echo(json.dumps({"source": str(source), "dataset": dataset, "profile": chosen.name, "scores": records}))
        return
    _print_table(records, "no scores")


@main.command()
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", type=_OutputPath(file_okay=False, path_type=Path))
@click.option(
    "--results",
    "results_csv",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A bench's results.csv: adds each score's mean ± std over seeds to the model card.",
)
def export(run_dir: Path, out_dir: Path, results_csv: Path | None) -> None:
    """Write RUN_DIR as a Hugging Face Hub model folder in OUT_DIR: config.json, model.safetensors and a README.md
    model card (model, paper, data, protocols, scores, budget, machine). zoo.load_run(OUT_DIR) opens it; push it
    with huggingface_hub if you like (README.md, "Use")."""
    from zoo.export import export_run

    card = export_run(run_dir, out_dir, results_csv=results_csv)
    click.echo(f"exported {run_dir} to {out_dir} (model card: {card})")


@main.command()
@click.argument("models", nargs=-1)
@click.option("--all", "all_models", is_flag=True, help="Bench every registered model (built-in and third-party).")
@click.option(
    "--profile",
    default="cpu",
    show_default=True,
    help="A built-in profile (cpu, gpu, smoke: see `zoo profiles`) or the path of your own .toml (docs/profiles.md).",
)
@click.option(
    "--dataset",
    "datasets",
    multiple=True,
    help="Only these datasets (default: the profile's); a registered name or folder:PATH; repeatable.",
)
@click.option("--seeds", type=click.IntRange(min=1), help="Only the profile's first N seeds.")
@click.option(
    "--trials",
    type=click.IntRange(min=1),
    help="A hyperparameter sweep: each model at K settings (trial 0 its defaults, the others drawn from its search "
    "space), each with every seed [default: the profile's [sweep], else none].",
)
@click.option(
    "--sweep-seed",
    type=click.IntRange(0, MAX_SEED),
    help="The seed the sweep's settings are drawn with [default: the profile's [sweep] seed, else 0].",
)
@click.option("--force", is_flag=True, help="Redo cells that are already finished.")
@click.option(
    "--results",
    type=_OutputPath(file_okay=False, path_type=Path),
    default=Path("results"),
    show_default=True,
    help="Results root; tables go to RESULTS/PROFILE.",
)
@_work_dir_option
@_device_option
@_data_root_option
@click.option(
    "--download",
    is_flag=True,
    help="Download a registered dataset's missing files (through torchvision: needs internet) before any cell starts.",
)
@_folder_dataset_options
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="Cells run at once, each in its own process [default: one per GPU x --cells-per-device on CUDA; "
    f"one per {CPU_THREADS_PER_WORKER} core(s) on a CPU; what the cluster fits with --executor ray].",
)
@click.option(
    "--cells-per-device",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="On GPUs: cells sharing one device (small models leave most of a GPU idle).",
)
@click.option(
    "--cell-timeout",
    type=click.FloatRange(min=0, min_open=True),
    callback=_finite_seconds,
    help="Seconds a cell may run before it is ended and recorded as timed out [default: the profile's "
    "cell_timeout, else none].",
)
@click.option(
    "--executor",
    type=click.Choice(EXECUTORS),
    default="local",
    show_default=True,
    help="Where cells run: local processes, or Ray tasks on a cluster (pip install 'genzoo[ray]').",
)
@click.option(
    "--address",
    help="With --executor ray: the cluster, auto or ray://HOST:PORT [default: RAY_ADDRESS or a new local one].",
)
@click.option(
    "--stack-seeds",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Train up to this many seeds of a model on a dataset as one stack in one worker (one batched computation; "
    "each cell's rows and run folder as its own). Models without zoo.gan.GANTrainer's step run one by one. A job's "
    "time limit grows with it.",
)
@_precision_option
@_compile_option
def bench(
    models: tuple[str, ...],
    all_models: bool,
    profile: str,
    datasets: tuple[str, ...],
    seeds: int | None,
    trials: int | None,
    sweep_seed: int | None,
    force: bool,
    results: Path,
    work_dir: Path,
    device: str,
    data_root: Path | None,
    download: bool,
    size: int | None,
    test_fraction: float,
    on_error: str,
    workers: int | None,
    cells_per_device: int,
    cell_timeout: float | None,
    executor: str,
    address: str | None,
    stack_seeds: int,
    precision: str,
    compile_: bool,
) -> None:
    """Train, score and rank MODELS (or --all) on the profile's datasets and seeds.

    Each (model, dataset, seed) cell runs in a worker process (several at once with --workers), is evaluated at the
    profile's steps with torch-fidelity, and is stored atomically by this command; a rerun skips finished cells
    with the same settings and re-runs changed ones, so an interrupted bench continues where it stopped. A cell
    that fails, crashes or times out is reported with its cause and the others go on. Two benches on one results
    folder share the cells. Writes RESULTS/PROFILE/{results.csv, leaderboard.md, grids/}.
    """
    if all_models and models:
        raise click.UsageError("name models or pass --all, not both")
    if not all_models and not models:
        raise click.UsageError("name the models to bench, or pass --all (`zoo models` lists them)")
    if address and executor != "ray":
        raise click.UsageError("--address is for --executor ray")
    if stack_seeds > 1 and compile_:
        raise click.UsageError("stacked seeds are not compiled: leave out --compile or --stack-seeds")
    from zoo.bench import BenchOptions, load_profile, run_bench
    from zoo.data.sources import FolderOptions, with_datasets
    from zoo.plugins import load_registry, plugin_selection

    chosen = _with_sweep(load_profile(profile), trials, sweep_seed)
    folders = FolderOptions(size or chosen.image_size, test_fraction, on_error)
    progress = _progress()
    registry, names = with_datasets(
        load_registry(), datasets or chosen.datasets, folders, data_root=data_root, progress=progress
    )
    try:
        report = run_bench(
            registry,
            chosen,
            models=None if all_models else list(models),
            results_dir=results / chosen.name,
            work_dir=work_dir / chosen.name,
            command="zoo " + shlex.join(click.get_current_context().meta["zoo.argv"]),
            datasets=names,
            seeds=list(chosen.seeds[:seeds]) if seeds else None,
            force=force,
            data_root=data_root,
            download=download,
            device=device,
            options=BenchOptions(
                workers=workers,
                cells_per_device=cells_per_device,
                cell_timeout=cell_timeout,
                executor=executor,
                address=address,
                precision=precision,
                compile=compile_,
                stack_seeds=stack_seeds,
            ),
            load_plugins=plugin_selection(),
            progress=progress,
        )
    except KeyboardInterrupt:
        raise click.ClickException(
            "interrupted: finished cells are kept; run the same command again to go on"
        ) from None
    click.echo(f"report: {report}")


def _with_sweep(profile: Profile, trials: int | None, seed: int | None) -> Profile:
    """``profile`` with its ``[sweep]`` as ``--trials`` and ``--sweep-seed`` change it."""
    if trials is None and seed is None:
        return profile
    from zoo.bench.profiles import Sweep

    if trials is None and profile.sweep is None:
        raise click.UsageError(f"--sweep-seed is for a sweep: add --trials K (profile {profile.name} has no [sweep])")
    base = profile.sweep or Sweep(trials=1)
    return dataclasses.replace(profile, sweep=Sweep(trials or base.trials, base.seed if seed is None else seed))


_profile_option = click.option("--profile", default="cpu", show_default=True, help="Whose results: RESULTS/PROFILE.")
_results_option = click.option(
    "--results", type=_OutputPath(file_okay=False, path_type=Path), default=Path("results"), show_default=True
)


@main.command()
@_profile_option
@_results_option
@click.option("--dataset", help="Only this dataset.")
@click.option("--metric", type=click.Choice(list(LOWER_IS_BETTER)), help="Rank by this metric (default: FID).")
@_json_option
def leaderboard(profile: str, results: Path, dataset: str | None, metric: str | None, as_json: bool) -> None:
    """Print the leaderboards stored in RESULTS/PROFILE (one per dataset and evaluation protocol), and rewrite
    the folder's report: leaderboard.md, its plots and leaderboard.html.

    A column's clear best is bold on a terminal (and in leaderboard.md); --json gives each table's rows as
    printed, its best model per column, warnings and measured budgets."""
    from zoo.report import leaderboard_data, leaderboard_text, write_report

    folder = results / profile
    if as_json:
        data = leaderboard_data(folder, dataset=dataset, metric=metric)
        _print_json({**data, "report": str(write_report(folder))})
        return
    click.echo(_terminal_bold(leaderboard_text(folder, dataset=dataset, metric=metric)))
    click.echo(f"\nreport: {write_report(folder)}")


@main.command()
@_profile_option
@_results_option
@click.option(
    "--html/--no-html",
    default=True,
    show_default=True,
    help="Also write leaderboard.html, one self-contained page (--no-html deletes an existing one).",
)
def report(profile: str, results: Path, html: bool) -> None:
    """Rewrite the report of RESULTS/PROFILE from its stored results: leaderboard.md, the figures in plots/ and
    (with --html) leaderboard.html, a single page with every table, figure and sample grid inlined."""
    from zoo.report import HTML, PLOTS, write_report

    folder = results / profile
    if not (folder / "cells").is_dir():
        raise ZooError(f"no results in {folder}; run `zoo bench --profile {profile}` first")
    written = write_report(folder, html=html)
    click.echo(f"wrote {written}, {folder / PLOTS}/" + (f" and {folder / HTML}" if html else ""))


@main.group("results")
def results_group() -> None:
    """Manage a results folder (RESULTS/PROFILE) without editing its files by hand."""


@results_group.command("drop")
@click.argument("models", nargs=-1)
@click.option(
    "--uninstalled",
    is_flag=True,
    help="Drop what no installed plugin provides: its models, its datasets, and the rows of protocols whose "
    "extractor none registers.",
)
@click.option(
    "--failures",
    is_flag=True,
    help="Drop only failure records (of MODELS if named, else of every model), keeping every finished cell: the "
    "failed cells of an earlier attempt leave the report; a bench tries them again as it would anyway.",
)
@click.option("--dataset", help="Only this dataset's cells.")
@_profile_option
@_results_option
def results_drop(
    models: tuple[str, ...], uninstalled: bool, failures: bool, dataset: str | None, profile: str, results: Path
) -> None:
    """Delete the cells, sample grids and failure records of MODELS (or what no installed plugin provides, or with
    --failures only failure records) from RESULTS/PROFILE, then rebuild results.csv and the report."""
    from zoo.plugins import load_registry
    from zoo.report import write_report
    from zoo.results.drop import drop_failures, drop_models, drop_uninstalled

    folder = results / profile
    if not models and not uninstalled and not failures:
        raise click.UsageError("name the models to drop, or pass --uninstalled or --failures")
    if failures and uninstalled:
        raise click.UsageError("--failures and --uninstalled drop different things: pass one of them")
    if failures:
        deleted = drop_failures(folder, list(models) or None, dataset=dataset)
        write_report(folder)
        click.echo(f"dropped {len(deleted)} failure record(s); report rebuilt")
        return
    said = []
    if models:
        named = list(dict.fromkeys(models))
        said.append(f"dropped {', '.join(named)}: deleted {len(drop_models(folder, named, dataset=dataset))} files")
    if uninstalled:
        dropped = drop_uninstalled(folder, load_registry(), dataset=dataset)
        if dropped.gone:
            rewrote = f", rewrote {len(dropped.rewrote)} cell files" if dropped.rewrote else ""
            said.append(f"dropped {dropped.gone}: deleted {len(dropped.deleted)} files{rewrote}")
        elif not models:
            click.echo(f"everything in {folder} is installed; nothing to drop")
            return
    write_report(folder)
    click.echo("; ".join(said) + "; report rebuilt")


@main.group(invoke_without_command=True)
@_json_option
@click.pass_context
def profiles(ctx: click.Context, as_json: bool) -> None:
    """List the built-in bench profiles. A profile of your own is any .toml file (bench --profile ./mine.toml);
    docs/profiles.md describes every key."""
    if ctx.invoked_subcommand:
        return
    from zoo.bench import load_profile
    from zoo.bench.profiles import builtin_profiles

    rows = [
        {"name": path.stem, "description": load_profile(path).description, "file": str(path)}
        for path in builtin_profiles()
    ]
    if as_json:
        _print_json(rows)
        return
    _print_table(rows, "no built-in profiles: is zoo installed with its package data?")


@profiles.command("show")
@click.argument("profile")
def profiles_show(profile: str) -> None:
    """Check PROFILE (a built-in name or a .toml path) and print it; start your own from a built-in with
    `zoo profiles show smoke > mine.toml`."""
    from zoo.bench import load_profile
    from zoo.bench.profiles import profile_path

    path = profile_path(profile)
    load_profile(path)  # a broken profile is a one-line error naming the key
    click.echo(path.read_text(encoding="utf-8"), nl=False)


@main.group()
def extractor() -> None:
    """Feature extractors for the metrics (the per-dataset domain classifier)."""


@extractor.command("list")
@_json_option
def extractor_list(as_json: bool) -> None:
    """List the feature extractors protocols can name: zoo's own and those plugins register."""
    from zoo.plugins import load_registry

    registry = load_registry()
    rows = [
        {
            "name": name,
            "feature_layer": spec.feature_layer,
            "logits_layer": spec.logits_layer,
            "plugin": registry.extractors.plugin(name).distribution,
            "description": spec.description,
        }
        for name, spec in ((n, registry.extractors[n]) for n in registry.extractors)
    ]
    if as_json:
        _print_json(rows)
        return
    shown = [{**row, "logits_layer": row["logits_layer"] or "-"} for row in rows]
    _print_table([{key.replace("_", " "): value for key, value in row.items()} for row in shown], "no extractors")


@extractor.command("train")
@click.option("--dataset", required=True, help="A dataset with classes: a registered one, or folder:PATH.")
@click.option(
    "--arch",
    default="test_resnet",
    show_default=True,
    help="A timm architecture (trained from scratch, never downloaded).",
)
@click.option("--steps", type=click.IntRange(min=1), default=2000, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=128, show_default=True)
@_seed_option("Seed of the weights and the batch order")
@click.option(
    "--out",
    type=_OutputPath(file_okay=False, path_type=Path),
    help="Folder for DATASET-ARCH.safetensors and its .json card [default: ~/.cache/zoo/extractors, where profiles "
    "find a classifier by name].",
)
@click.option("--force", is_flag=True, help="Replace a classifier already in --out (its protocols get a new id).")
@click.option(
    "--min-accuracy",
    type=click.FloatRange(0, 1),
    default=DEFAULT_MIN_ACCURACY,
    show_default=True,
    help="Refuse to save a classifier below this test accuracy (a fraction); 0 keeps any.",
)
@click.option(
    "--target-accuracy",
    type=click.FloatRange(0, 1, min_open=True),
    help="Stop early once the test accuracy (a fraction) reaches this, checked every --check-every steps "
    "[default: train all --steps].",
)
@click.option(
    "--check-every",
    type=click.IntRange(min=1),
    default=CHECK_EVERY,
    show_default=True,
    help="With --target-accuracy: steps between two checks of the test accuracy.",
)
@_device_option
@_data_root_option
@_folder_dataset_options
def extractor_train(
    dataset: str,
    arch: str,
    steps: int,
    batch_size: int,
    seed: int,
    out: Path | None,
    force: bool,
    min_accuracy: float,
    target_accuracy: float | None,
    check_every: int,
    device: str,
    data_root: Path | None,
    size: int | None,
    test_fraction: float,
    on_error: str,
) -> None:
    """Train the domain classifier for a dataset with timm; saves safetensors weights and a sidecar with the
    sha256 and test accuracy, which bench profiles then name in their protocols.

    Says after a few steps how long the whole run takes; --target-accuracy stops it once accurate enough. Never
    replaces an existing classifier without --force, and never saves one below --min-accuracy."""
    from zoo.data.sources import FolderOptions, with_datasets
    from zoo.device import resolve_device
    from zoo.metrics.domain import train_for_dataset, user_extractor_dir
    from zoo.plugins import load_registry

    folders = FolderOptions(size or DEFAULT_SIZE, test_fraction, on_error)
    registry, (dataset,) = with_datasets(load_registry(), [dataset], folders, data_root=data_root, progress=_progress())
    path, trained = train_for_dataset(
        registry.datasets[dataset],
        out or user_extractor_dir(),
        arch=arch,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        device=resolve_device(device),
        data_root=data_root,
        min_accuracy=min_accuracy,
        target_accuracy=target_accuracy,
        check_every=check_every,
        force=force,
        progress=_progress(),
        note=_note,
    )
    early = f", reached at step {trained.steps} of {steps}" if trained.steps < steps else ""
    click.echo(
        f"{arch} on {dataset}: test accuracy {trained.test_accuracy:.2%}{early}; weights {path} "
        f"(sha256 in {path.with_suffix('.json').name})"
    )


if __name__ == "__main__":  # python -m zoo.cli
    main()
