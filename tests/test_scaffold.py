"""``zoo plugins new``: the GAN template with a Trainer of its own, and the conformance kit's placeholder check."""

from __future__ import annotations

import dataclasses

import pytest

from tests.helpers import zoo
from tests.test_third_party import fill_in_paper, run
from zoo.conformance import CHECKS, Probe, check_metadata
from zoo.errors import ZooError
from zoo.scaffold import new_plugin


@pytest.mark.slow
def test_a_gan_with_its_own_trainer_passes_its_generated_conformance_tests(tmp_path):
    created = zoo("plugins", "new", "own_step", "--conditional", "--own-trainer", out=tmp_path)
    assert created.exit_code == 0, created.output
    package = tmp_path / "zoo-own-step"
    source = package / "src" / "zoo_own_step"
    assert "class OwnStepTrainer(Trainer)" in (source / "trainer.py").read_text()
    assert "from zoo_own_step.trainer import OwnStepTrainer" in (source / "model.py").read_text()
    assert "GANTrainer" not in (source / "model.py").read_text()
    fill_in_paper(source / "__init__.py")
    site = tmp_path / "site"
    installed = run("pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(package))
    assert installed.returncode == 0, installed.stderr
    # the tests the scaffold wrote: every check at 28x28, 32x32x3 and 64x64x3, against the installed plugin
    tested = run("pytest", "-q", "-p", "no:cacheprovider", str(package / "tests"), site=site)
    assert tested.returncode == 0, tested.stdout[-3000:]
    assert f"{3 * len(CHECKS)} passed" in tested.stdout  # every check at each of the 3 shapes


def test_the_vae_template_always_has_its_own_trainer(tmp_path):
    with pytest.raises(ZooError, match="--own-trainer is for --family gan"):
        new_plugin("own_vae", family="vae", own_trainer=True, out_dir=tmp_path)


def test_the_conformance_kit_refuses_the_scaffolds_paper_placeholder(registry, tmp_path):
    package = new_plugin("placeholder", out_dir=tmp_path)
    placeholder = next(line for line in (package / "src/zoo_placeholder/__init__.py").open() if "paper=" in line)
    spec = dataclasses.replace(registry.models["dcgan"], paper=placeholder.split('"')[1])
    with pytest.raises(AssertionError, match="paper is a placeholder"):
        check_metadata(spec, Probe())
    check_metadata(registry.models["dcgan"], Probe())
