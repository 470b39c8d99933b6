"""Plugin discovery: built-ins and third-party distributions through the same entry-point group."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers import toy_plugin_source
from zoo.cli import main
from zoo.conformance import CHECKS, Probe
from zoo.errors import PluginError
from zoo.plugins import ZooPluginWarning, load_registry

BUILT_IN_MODELS = {"vanilla_gan", "dcgan", "wgan_gp", "vae", "cgan", "infogan"}


def test_built_ins_are_found_through_entry_points(registry):
    assert set(registry.models) >= BUILT_IN_MODELS
    assert {"mnist", "fashion-mnist", "cifar10"} <= set(registry.datasets)
    for name in BUILT_IN_MODELS:
        assert registry.models.plugin(name).distribution == "genzoo"


def test_core_imports_no_built_in_by_name():
    built_ins = [ep.value for ep in metadata.entry_points(group="zoo") if ep.dist and ep.dist.name == "genzoo"]
    assert len(built_ins) >= 7  # the six architectures and the datasets
    names = {name for module in built_ins for name in (module, module.split(".")[0])}
    core = Path(__file__).resolve().parents[1] / "zoo"
    offenders = [
        (p.name, n) for p in core.rglob("*") if p.suffix in (".py", ".tmpl") for n in names if n in p.read_text()
    ]
    assert offenders == []


def test_third_party_distribution_appears_without_change_to_zoo(install_plugin):
    install_plugin("zoo-toy", {"toy": "toy_gan"}, {"toy_gan": toy_plugin_source()}, version="0.3")
    registry = load_registry()
    assert "toy" in registry.models
    plugin = registry.models.plugin("toy")
    assert (plugin.distribution, plugin.version, plugin.hooks) == ("zoo-toy", "0.3", ["register_models"])

    result = CliRunner().invoke(main, ["models"])
    assert result.exit_code == 0, result.output
    assert "toy" in result.output and "zoo-toy 0.3" in result.output


def test_plugin_that_fails_to_import_is_skipped_with_a_warning(install_plugin):
    install_plugin("zoo-broken", {"broken": "toy_broken"}, {"toy_broken": "raise ImportError('needs libfoo')"})
    with pytest.warns(ZooPluginWarning, match=r"skipping plugin broken \(zoo-broken\).*needs libfoo"):
        registry = load_registry()
    assert set(registry.models) >= BUILT_IN_MODELS
    broken = next(p for p in registry.plugins if p.name == "broken")
    assert broken.status == "failed" and "ImportError: needs libfoo" in broken.error


@pytest.mark.filterwarnings("always::zoo.plugins.ZooPluginWarning")  # let the CLI print it, as for a user
def test_cli_survives_a_broken_plugin_and_plugins_shows_it(install_plugin):
    install_plugin("zoo-broken", {"broken": "toy_broken"}, {"toy_broken": "raise RuntimeError('boom')"})
    runner = CliRunner()
    listed = runner.invoke(main, ["models"])
    assert listed.exit_code == 0 and "dcgan" in listed.stdout
    assert listed.stderr == "warning: zoo: skipping plugin broken (zoo-broken): import failed: RuntimeError: boom\n"

    shown = runner.invoke(main, ["plugins"])
    assert shown.exit_code == 0
    assert shown.stderr == ""  # the table shows the failure instead
    line = next(row for row in shown.stdout.splitlines() if row.strip().startswith("broken"))
    assert "failed" in line and "RuntimeError: boom" in line


def test_invalid_registration_is_skipped(install_plugin):
    source = """
    from zoo import ModelSpec, hookimpl

    @hookimpl
    def register_models(register):
        register(ModelSpec(name="Bad Name!", family="gan", conditional=False, paper="x", factory=print))
    """
    install_plugin("zoo-invalid", {"invalid": "toy_invalid"}, {"toy_invalid": source})
    with pytest.warns(ZooPluginWarning, match="invalid name 'Bad Name!'"):
        registry = load_registry()
    assert "Bad Name!" not in registry.models


def test_name_clash_names_both_distributions(install_plugin):
    install_plugin("zoo-toy-a", {"toy_a": "toy_a"}, {"toy_a": toy_plugin_source("dcgan")})
    with pytest.warns(ZooPluginWarning, match="clash"):
        registry = load_registry()
    with pytest.raises(PluginError, match=r"genzoo \(plugin dcgan\) and zoo-toy-a \(plugin toy_a\)"):
        registry.models["dcgan"]


def test_load_only_named_plugins(monkeypatch):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "dcgan,torchvision_datasets")
    registry = load_registry()
    assert list(registry.models) == ["dcgan"]
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "")
    assert list(load_registry().models) == []


def test_installed_zoo_command_lists_a_third_party_plugin(install_plugin):
    """The real console script, in a fresh process, sees a distribution on PYTHONPATH."""
    site = install_plugin("zoo-toy", {"toy": "toy_gan"}, {"toy_gan": toy_plugin_source()})
    env = {**os.environ, "PYTHONPATH": str(site)}
    zoo = os.path.join(os.path.dirname(sys.executable), "zoo")
    shown = subprocess.run([zoo, "plugins", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert '"distribution": "zoo-toy"' in shown.stdout


def test_the_lsgan_example_in_contributing_is_a_working_plugin(install_plugin):
    """The ten-line LSGAN of CONTRIBUTING.md, installed as a third-party distribution, passes every check."""
    guide = (Path(__file__).resolve().parents[1] / "CONTRIBUTING.md").read_text()
    section = guide[guide.index("LSGAN in ten lines") :]
    source = section[
        section.index("```python") + len("```python") : section.index("```", section.index("```python") + 3)
    ]
    assert len([line for line in source.strip().splitlines() if line.strip()]) <= 14
    install_plugin("zoo-lsgan", {"lsgan": "toy_lsgan"}, {"toy_lsgan": source})
    registry = load_registry()
    spec = registry.models["lsgan"]
    assert registry.models.plugin("lsgan").distribution == "zoo-lsgan"
    assert spec.hparams == {"latent_dim": 100, "width": 64, "lr": 2e-4}
    for check in CHECKS.values():
        check(spec, Probe((1, 28, 28), 10))
