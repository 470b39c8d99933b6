"""Light imports: what `zoo --help` and a plugin's `from zoo import ...` import, checked in fresh processes (this
one has imported everything long ago)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from torch_fidelity import FeatureExtractorBase

import zoo
import zoo.metrics
from zoo.bench.weights import BUILTIN_EXTRACTOR_DIR
from zoo.cli import main
from zoo.metrics import DOMAIN_CLASSIFIER, extractor_networks
from zoo.plugins import load_registry

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "timm", "torch_fidelity", "matplotlib", "pandas")


def modules_after(code: str) -> dict[str, list[str]]:
    """Run ``code`` in a fresh interpreter (in the checkout, so that it imports this zoo); it may record
    ``stage(name)`` points. Returns, for each stage and for ``"end"``, the :data:`HEAVY` packages and the
    ``zoo.metrics`` modules imported by then."""
    prelude = textwrap.dedent(
        f"""
        import json, sys
        HEAVY, _stages = {HEAVY!r}, {{}}
        def stage(name):
            _stages[name] = sorted(m for m in sys.modules if m in HEAVY or m.startswith("zoo.metrics"))
        """
    )
    epilogue = '\nstage("end")\nprint("\\n" + json.dumps(_stages))\n'
    done = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code) + epilogue],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def command_paths(group: click.Group = main, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and sub-command of ``zoo``, as the words that name it."""
    paths = []
    for name, command in sorted(group.commands.items()):
        paths.append((*path, name))
        if isinstance(command, click.Group):
            paths += command_paths(command, (*path, name))
    return paths


RUN_MAIN = {
    "python -m zoo.cli": 'import runpy\nrunpy.run_module("zoo.cli", run_name="__main__")',
    "zoo (the console script)": "from importlib import metadata\n"
    'metadata.entry_points(group="console_scripts")["zoo"].load()()',
}


@pytest.mark.parametrize("route", RUN_MAIN)
@pytest.mark.parametrize("option", ["--help", "--version"])
def test_zoo_help_and_version_import_no_torch(route, option):
    run = textwrap.indent(RUN_MAIN[route], "    ")
    code = (
        f"sys.argv = ['zoo', {option!r}]\ntry:\n{run}\nexcept SystemExit as stop:\n    assert stop.code in (0, None)\n"
    )
    assert modules_after(code)["end"] == []


def test_no_command_help_imports_torch():
    code = f"""
        from zoo.cli import main
        for path in {command_paths()!r}:
            try:
                main([*path, "--help"])
            except SystemExit as stop:
                assert stop.code == 0, (path, stop.code)
        """
    assert modules_after(code)["end"] == []


def test_the_plugin_api_imports_torch_but_none_of_the_heavy_rest():
    assert modules_after("from zoo import hookimpl, ModelSpec")["end"] == ["torch"]


@pytest.mark.slow
def test_the_plugin_manager_imports_the_metrics_only_to_load_the_registry_and_then_cheaply():
    stages = modules_after(
        """
        from zoo.plugins import load_registry
        stage("imported")
        registry = load_registry(only=[])
        assert len(registry.extractors) == 3, list(registry.extractors)
        """
    )
    assert stages["imported"] == ["torch"]
    assert stages["end"] == ["torch", "zoo.metrics", "zoo.metrics.extractors"]


def test_zoo_registers_a_class_for_each_network_that_builds_it():
    extractors = load_registry(only=[]).extractors
    for name in extractors:
        network = getattr(extractor_networks, extractors[name].extractor.__name__)
        assert issubclass(network, FeatureExtractorBase), name
    spec = extractors[DOMAIN_CLASSIFIER]
    weights = BUILTIN_EXTRACTOR_DIR / "mnist-test_resnet.safetensors"
    network = spec.extractor(DOMAIN_CLASSIFIER, ["penultimate"], feature_extractor_weights_path=str(weights))
    assert isinstance(network, FeatureExtractorBase)
    assert type(network).__name__ == spec.extractor.__name__


@pytest.mark.parametrize("package", [zoo, zoo.metrics], ids=lambda p: p.__name__)
def test_every_public_name_of_a_lazy_package_resolves(package):
    assert package.__all__ and set(package.__all__) <= set(dir(package))
    for name in package.__all__:
        assert getattr(package, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        package.nothing  # noqa: B018 - the access is the test


@pytest.mark.slow
def test_a_name_that_is_also_a_submodule_is_the_name_whichever_is_imported_first():
    modules_after(
        """
        import types
        from zoo.metrics import METRIC_KEYS, evaluate  # METRIC_KEYS imports the module zoo.metrics.evaluate
        assert isinstance(evaluate, types.FunctionType), evaluate
        """
    )
    assert isinstance(zoo.metrics.evaluate, types.FunctionType)


@pytest.mark.parametrize("path", command_paths(), ids=" ".join)
def test_every_command_has_working_help(path):
    shown = CliRunner().invoke(main, [*path, "--help"], prog_name="zoo")
    assert shown.exit_code == 0, shown.output
    assert f"Usage: zoo {' '.join(path)} " in shown.output
