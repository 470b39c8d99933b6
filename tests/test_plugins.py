"""Plugin discovery: built-ins and third-party distributions through the same entry-point group."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import pytest
import safetensors.torch
import torch
from click.testing import CliRunner

from tests.helpers import toy_plugin_source
from zoo import Batch
from zoo.checkpoint import load_checkpoint
from zoo.cli import main
from zoo.conformance import CHECKS, Probe
from zoo.errors import PluginError
from zoo.gan import GANTrainer
from zoo.layers import DCGANDiscriminator, DCGANGenerator
from zoo.plugin_code import code_sha256
from zoo.plugins import ZooPluginWarning, load_registry
from zoo.runs import Run, RunConfig, load_run

BUILT_IN_MODELS = {"vanilla_gan", "dcgan", "wgan_gp", "vae", "cgan", "infogan"}
GUIDE = (Path(__file__).resolve().parents[1] / "CONTRIBUTING.md").read_text()


def guide_block(containing: str) -> str:
    """The one ``python`` block of CONTRIBUTING.md that contains ``containing``, dedented (a block in a list item is
    indented)."""
    blocks = re.findall(r"```python\n(.*?)```", GUIDE, flags=re.DOTALL)
    (block,) = [b for b in blocks if containing in b]
    return textwrap.dedent(block)


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


def test_an_editable_plugins_code_digest_covers_the_packages_its_entry_points_import(install_plugin):
    modules = {"toy_edit/__init__": "from toy_edit.model import X\n", "toy_edit/model": "X = 1\n"}
    source = install_plugin("zoo-edit", {"edit": "toy_edit"}, modules, editable=True)
    first = code_sha256("zoo-edit")
    assert len(first) == 64 and code_sha256("zoo-not-installed") == ""
    (source / "toy_edit" / "__pycache__").mkdir()
    (source / "toy_edit" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"stale bytecode")
    (source / "setup_notes.py").write_text("X = 'beside the package, not imported by an entry point'\n")
    assert code_sha256("zoo-edit") == first
    (source / "toy_edit" / "model.py").write_text("X = 2\n")
    assert code_sha256("zoo-edit") != first


def test_an_installed_plugins_code_digest_covers_the_python_files_its_record_lists(install_plugin):
    site = install_plugin("zoo-wheel", {"wheel": "toy_wheel"}, {"toy_wheel/__init__": "X = 1\n", "toy_wheel/io": ""})
    (site / "zoo_wheel-1.0.dist-info" / "RECORD").write_text(
        "toy_wheel/__init__.py,,\ntoy_wheel/io.py,,\nzoo_wheel-1.0.dist-info/METADATA,,\n../../bin/wheel,,\n"
    )
    installed = code_sha256("zoo-wheel")
    (site / "toy_wheel" / "unlisted.py").write_text("X = 'no file of the distribution'\n")
    (site / "zoo_wheel-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: zoo-wheel\nVersion: 2\n")
    assert code_sha256("zoo-wheel") == installed, "the version is recorded beside the digest, not in it"
    (site / "toy_wheel" / "io.py").write_text("Y = 2\n")
    assert code_sha256("zoo-wheel") != installed


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


@pytest.mark.slow
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
    source = guide_block("least-squares losses")
    assert len([line for line in source.strip().splitlines() if line.strip()]) <= 14
    install_plugin("zoo-lsgan", {"lsgan": "toy_lsgan"}, {"toy_lsgan": source})
    registry = load_registry()
    spec = registry.models["lsgan"]
    assert registry.models.plugin("lsgan").distribution == "zoo-lsgan"
    assert spec.hparams == {"latent_dim": 100, "width": 64, "lr": 2e-4}
    for check in CHECKS.values():
        check(spec, Probe((1, 28, 28), 10))


def test_the_sngan_example_in_contributing_is_a_working_plugin(install_plugin, tiny_mnist_root, tmp_path):
    """The SNGAN-style model of CONTRIBUTING.md, installed as a distribution, passes every check (exact resume at its
    resume_hparams included) and trains through the run pipeline, which saves the EMA generator."""
    source = guide_block("hinge_discriminator_loss, hinge_generator_loss")
    assert len([line for line in source.strip().splitlines() if line.strip()]) <= 18
    install_plugin("zoo-sngan", {"sngan": "toy_sngan"}, {"toy_sngan": source})
    registry = load_registry()
    spec = registry.models["sngan"]
    assert spec.resume_hparams == {"ema_start": 2}
    for check in CHECKS.values():
        check(spec, Probe((1, 28, 28), 10))

    out = tmp_path / "run"
    config = RunConfig("sngan", "mnist", steps=3, batch_size=4, seed=0, hparams={**spec.tiny_hparams, "ema_start": 1})
    result = Run(registry, config, out, device=torch.device("cpu"), data_root=tiny_mnist_root, progress=False).execute()
    assert result.images_seen == 3 * 4 * 2, "two real batches per step (n_dis=2), all counted"
    assert json.loads((out / "summary.json").read_text())["images_seen"] == 24
    state = load_checkpoint(out / "checkpoint.pt")["trainer"]
    assert state["extra"] == {"ema_updates": 3}
    assert "features.0.parametrizations.weight.original" in state["modules"]["D"], "D is spectrally normalised"
    saved = safetensors.torch.load_file(out / "generator.safetensors")
    assert all(torch.equal(value, state["modules"]["G_ema"][key]) for key, value in saved.items())
    assert not all(torch.equal(value, state["modules"]["G"][key]) for key, value in saved.items())
    generator, _ = load_run(out, device="cpu", registry=registry)
    assert torch.equal(generator.state_dict()["net.0.weight"], state["modules"]["G_ema"]["net.0.weight"])


def test_the_r1_term_in_contributing_trains_the_discriminator():
    namespace: dict = {}
    exec(guide_block("def r1_penalty"), namespace)
    discriminators = []
    for aux in ([], [namespace["R1"]]):
        torch.manual_seed(0)
        gan = GANTrainer(DCGANGenerator((1, 8, 8), 4, 4), DCGANDiscriminator((1, 8, 8), 4), lr=1e-3,
                         betas=(0.5, 0.999), aux_losses=aux)  # fmt: skip
        step = gan.train_step(Batch(torch.rand(4, 1, 8, 8) * 2 - 1, torch.zeros(4, dtype=torch.long)))
        discriminators.append(gan.discriminator.head.weight.detach())
    assert 0 < step["r1"].item() < float("inf")
    assert not torch.equal(*discriminators)


def test_the_extra_state_example_in_contributing_resumes_exactly(install_plugin):
    install_plugin("zoo-warmup", {"warmup_gan": "toy_warmup"}, {"toy_warmup": guide_block("class WarmupGANTrainer")})
    spec = load_registry().models["warmup_gan"]
    assert spec.resume_hparams == {"warmup": 4}
    for check in CHECKS.values():
        check(spec, Probe((1, 28, 28), 10))


OWN_EMA = """
    import copy

    import torch

    from zoo import ModelSpec, hookimpl
    from zoo.gan import GANTrainer
    from zoo.layers import DCGANDiscriminator, DCGANGenerator


    class OwnEMATrainer(GANTrainer):
        '''Averages G after `start` updates, counted in a plain attribute (`kept`: in extra_state too).'''

        def __init__(self, image_shape, *, start, kept):
            networks = DCGANGenerator(image_shape, 8, 4), DCGANDiscriminator(image_shape, 4)
            super().__init__(*networks, lr=2e-4, betas=(0.5, 0.999))
            self.average, self.updates, self.start, self.kept = copy.deepcopy(self.generator), 0, start, kept

        def modules(self):
            return {**super().modules(), "average": self.average}

        def train_step(self, batch):
            losses = super().train_step(batch)
            self.updates += 1
            with torch.no_grad():
                for mine, new in zip(self.average.parameters(), self.generator.parameters()):
                    mine.copy_(new) if self.updates <= self.start else mine.lerp_(new, 0.1)
            return losses

        def extra_state(self):
            return {"updates": self.updates} if self.kept else {}

        def load_extra_state(self, state):
            if self.kept:
                self.updates = state["updates"]


    def spec(name, kept):
        def build(image_shape, num_classes, *, ema_start: int = 1000):
            return OwnEMATrainer(image_shape, start=ema_start, kept=kept)

        return ModelSpec(name=name, family="gan", conditional=False, paper="none (a test fixture)", factory=build,
                         tiny_hparams={"ema_start": 0}, resume_hparams={"ema_start": 2}, description="own EMA",
                         license="MIT")


    @hookimpl
    def register_models(register):
        register(spec("toy_ema_attribute", kept=False))
        register(spec("toy_ema_kept", kept=True))
"""


def test_exact_resume_at_resume_hparams_catches_an_ema_counter_kept_as_a_plain_attribute(install_plugin):
    install_plugin("zoo-own-ema", {"toy_ema": "toy_ema"}, {"toy_ema": OWN_EMA})
    registry, probe = load_registry(), Probe((1, 28, 28), 10)
    attribute, kept = registry.models["toy_ema_attribute"], registry.models["toy_ema_kept"]
    CHECKS["exact_resume"](dataclasses.replace(attribute, resume_hparams={}), probe)  # tiny: the counter is idle
    lost = "average.net.0.weight differs after resume (at resume_hparams {'ema_start': 2}); state a step changes"
    with pytest.raises(AssertionError, match=re.escape(lost)):
        CHECKS["exact_resume"](attribute, probe)
    CHECKS["exact_resume"](kept, probe)
