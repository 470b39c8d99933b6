"""Third-party plugins as a product: scaffold, install, check, bench, uninstall; broken plugins; extra hooks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.helpers import cli_args, toy_plugin_source, zoo
from zoo.cli import main
from zoo.conformance import CHECKS
from zoo.plugin_code import code_sha256
from zoo.results import ResultStore

BIN = Path(sys.executable).parent


def run(*args: str, site: Path | None = None) -> subprocess.CompletedProcess:
    """A command from the test environment's bin folder, in a fresh process (as a user runs it), with the packages
    installed in ``site`` (a ``pip install --target`` folder) importable."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **({"PYTHONPATH": str(site)} if site else {})}
    return subprocess.run([str(BIN / args[0]), *args[1:]], capture_output=True, text=True, timeout=300, env=env)


def fill_in_paper(module: Path) -> None:
    """Replace the scaffold's paper placeholder, as its author must (the conformance kit refuses it)."""
    source = module.read_text()
    assert "TODO" in source
    module.write_text(re.sub(r'paper="TODO[^"]*"', 'paper="Doe et al. 2025, A Test Model, arXiv:0000.00000"', source))


@pytest.mark.slow
def test_scaffolded_plugin_installs_checks_and_benches(tmp_path, tiny_mnist_root):
    created = run("zoo", "plugins", "new", "scaffold_gan", "--conditional", "-o", str(tmp_path))
    assert created.returncode == 0, created.stderr
    package = tmp_path / "zoo-scaffold-gan"
    assert {p.name for p in package.rglob("*") if p.is_file()} == {
        "pyproject.toml",
        "README.md",
        "__init__.py",
        "model.py",
        "test_conformance.py",
    }
    fill_in_paper(package / "src" / "zoo_scaffold_gan" / "__init__.py")
    site = tmp_path / "site"  # installed beside the test environment, never into it: nothing to clean up
    installed = run("pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(package))
    assert installed.returncode == 0, installed.stderr

    listed = run("zoo", "models", site=site)
    assert "scaffold_gan" in listed.stdout and "zoo-scaffold-gan 0.1.0" in listed.stdout
    checked = run("zoo", "plugins", "check", "scaffold_gan", site=site)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("ok  ") == 3 * len(CHECKS) and "FAIL" not in checked.stdout  # at 3 shapes

    results = tmp_path / "results"
    options = dict(profile="smoke", results=results, work_dir=tmp_path / "work", data_root=tiny_mnist_root)
    benched = run("zoo", *cli_args("bench", "scaffold_gan", "dcgan", **options), site=site)
    assert benched.returncode == 0, benched.stderr
    rows = ResultStore(results / "smoke").rows()
    ours = rows[rows["model"] == "scaffold_gan"]
    assert set(ours["plugin"]) == {"zoo-scaffold-gan"} and set(ours["plugin_version"]) == {"0.1.0"}
    assert ours[(ours["metric"] == "fid") & (ours["step"] == 20)]["value"].notna().all()
    assert "scaffold_gan" in (results / "smoke" / "leaderboard.md").read_text()

    without = run("zoo", "models")  # the test environment itself never saw it
    assert without.returncode == 0 and "scaffold_gan" not in without.stdout and "dcgan" in without.stdout


def test_scaffold_refuses_bad_names_and_existing_folders(tmp_path):
    runner = CliRunner()
    bad = runner.invoke(main, ["plugins", "new", "My-Model", "-o", str(tmp_path)])
    assert bad.exit_code == 2 and "invalid plugin name 'My-Model'" in bad.stderr
    assert runner.invoke(main, ["plugins", "new", "twice", "-o", str(tmp_path)]).exit_code == 0
    again = runner.invoke(main, ["plugins", "new", "twice", "-o", str(tmp_path)])
    assert again.exit_code == 1 and "already exists" in again.stderr


@pytest.fixture
def raising_plugin(install_plugin):
    source = textwrap.dedent("""
        from toy_gan import GANTrainer, ModelSpec, build, hookimpl

        def build_raising(image_shape, num_classes, *, latent_dim: int = 8, lr: float = 1e-3):
            toy = build(image_shape, num_classes, latent_dim=latent_dim, lr=lr)
            trainer = GANTrainer(toy.generator, toy.discriminator, lr=1e-3, betas=(0.5, 0.999))
            def train_step(batch):
                raise RuntimeError("kernel exploded")
            trainer.train_step = train_step
            return trainer

        @hookimpl
        def register_models(register):
            register(ModelSpec(name="toy_raise", family="gan", conditional=False, paper="none (a test fixture)",
                               factory=build_raising, tiny_hparams={"latent_dim": 4}, description="raises",
                               license="MIT"))
    """)
    return install_plugin(
        "zoo-raise", {"toy_raise": "toy_raise"}, {"toy_gan": toy_plugin_source(), "toy_raise": source}
    )


def test_train_step_raising_is_a_one_line_error_in_train(raising_plugin, tiny_mnist_root, tmp_path):
    result = zoo("train", "toy_raise", dataset="mnist", steps=2, data_root=tiny_mnist_root, out=tmp_path / "run")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "train_step failed at step 1: RuntimeError: kernel exploded" in result.stderr


@pytest.mark.slow
def test_train_step_raising_fails_its_cells_and_the_bench_goes_on(raising_plugin, tmp_path):
    result = zoo("bench", "toy_raise", "vae", profile="smoke", results=tmp_path, work_dir=tmp_path / "work")
    assert result.exit_code == 1
    assert "toy_raise on shapes, seed 0: FAILED (error), not recorded: training: PluginError" in result.output
    assert "vae on shapes, seed 0: ok" in result.output
    assert "1 cell(s) failed and were not recorded" in result.stderr and "kernel exploded" in result.stderr
    store = ResultStore(tmp_path / "smoke")
    rows = store.rows()
    assert "toy_raise" not in set(rows["model"]) and "vae" in set(rows["model"])
    [failure] = store.failures()
    assert failure["model"] == "toy_raise" and "kernel exploded" in failure["cause"]


def test_plugins_check_reports_failures_and_exits_non_zero(raising_plugin):
    result = zoo("plugins", "check", "toy_raise")
    assert result.exit_code == 1
    assert "FAIL  training: RuntimeError: kernel exploded" in result.output
    assert "ok    samples" in result.output and "check(s) failed" in result.stderr


WORLD = """
    import torch
    from torch_fidelity import FeatureExtractorBase
    import safetensors.torch
    from zoo import DatasetSpec, ExtractorSpec, hookimpl

    def load_blobs(root, split, download):
        g = torch.Generator().manual_seed(0 if split == "train" else 1)
        labels = torch.randint(0, 2, (96,), generator=g)
        images = torch.randint(0, 60, (96, 1, 8, 8), generator=g, dtype=torch.uint8)
        images[labels == 1, :, 2:6, 2:6] = 250
        return images, labels

    class Pixels(FeatureExtractorBase):
        def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
            super().__init__(name, features_list)
            self.projection = safetensors.torch.load_file(feature_extractor_weights_path)["projection"]

        def forward(self, images):
            flat = images.flatten(1).float() / 255
            return tuple({"pixels": flat @ self.projection}[name] for name in self.features_list)

        @staticmethod
        def get_provided_features_list():
            return ("pixels",)

        @staticmethod
        def get_default_feature_layer_for_metric(metric):
            return "pixels"

    class SeededPixels(Pixels):  # the same features through a projection drawn from a fixed seed: no weights
        def __init__(self, name, features_list, feature_extractor_weights_path=None, **kwargs):
            FeatureExtractorBase.__init__(self, name, features_list)
            self.projection = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))

    @hookimpl
    def register_datasets(register):
        register(DatasetSpec(name="blobs", image_shape=(1, 8, 8), num_classes=2, load=load_blobs))

    @hookimpl
    def register_extractors(register):
        register(ExtractorSpec(name="pixels", extractor=Pixels, feature_layer="pixels",
                               no_logits_reason="pixels has no classifier: IS unavailable"))
        register(ExtractorSpec(name="seeded-pixels", extractor=SeededPixels, feature_layer="pixels",
                               no_logits_reason="pixels has no classifier: IS unavailable", needs_weights=False))
"""


def blobs_profile(folder: Path, extractor: str = "pixels", weights: str | None = "pixels.safetensors") -> Path:
    """A profile benching the ``blobs`` dataset under one protocol of ``extractor`` (with ``weights``, if any)."""
    named = f'weights = "{weights}"' if weights else ""
    path = folder / "blobs.toml"
    path.write_text(
        textwrap.dedent(f"""
        datasets = ["blobs"]
        seeds = [0]
        batch_size = 8
        steps = 4
        hparams_per_model = {{ dcgan = {{ width = 4, latent_dim = 8 }} }}
        [[protocols]]
        name = "pixels"
        extractor = "{extractor}"
        {named}
        num_generated = 48
        num_reference = 48
        kid_subset_size = 24
        kid_subsets = 4
        """)
    )
    return path


def test_plugin_dataset_and_extractor_can_be_listed_and_benched(install_plugin, tmp_path):
    import safetensors.torch
    import torch

    install_plugin("zoo-world", {"world": "toy_world"}, {"toy_world": WORLD})
    runner = CliRunner()
    assert "blobs" in runner.invoke(main, ["datasets"]).output
    assert "zoo-world" in runner.invoke(main, ["extractor", "list"]).output
    plugins = json.loads(runner.invoke(main, ["plugins", "--json"]).output)
    world = next(p for p in plugins if p["name"] == "world")
    assert world["hooks"] == "register_datasets, register_extractors" and world["status"] == "ok"

    safetensors.torch.save_file(
        {"projection": torch.randn(64, 16, generator=torch.Generator().manual_seed(0))},
        str(tmp_path / "pixels.safetensors"),
    )
    profile, results = blobs_profile(tmp_path), tmp_path / "results"
    result = zoo("bench", "dcgan", profile=profile, results=results, work_dir=tmp_path / "work")
    assert result.exit_code == 0, result.output
    rows = ResultStore(results / "blobs").rows()
    final = rows[(rows["model"] == "dcgan") & (rows["step"] == 4)].set_index("metric")
    assert final.loc["fid", "value"] > 0 and final.loc["is_mean", "status"] == "unavailable"
    assert "IS unavailable" in final.loc["is_mean", "reason"]


@pytest.mark.slow
def test_a_weight_free_extractor_is_benched_with_no_weights_and_its_plugin_code_in_the_protocol_id(
    install_plugin, tmp_path
):
    source = install_plugin("zoo-world", {"world": "toy_world"}, {"toy_world": WORLD}, editable=True)
    needs_them = zoo("bench", "dcgan", profile=blobs_profile(tmp_path, weights=None), results=tmp_path / "results")
    assert needs_them.exit_code == 1 and len(needs_them.stderr.strip().splitlines()) == 1
    assert "protocol 'pixels' names no weights, but extractor 'pixels' needs them" in needs_them.stderr

    profile, results = blobs_profile(tmp_path, "seeded-pixels", weights=None), tmp_path / "results"
    assert zoo("bench", "dcgan", profile=profile, results=results, work_dir=tmp_path / "work").exit_code == 0
    store = ResultStore(results / "blobs")
    [(first, protocol)] = store.protocols().items()
    assert protocol["weights"] is None and protocol["weights_sha256"] is None
    assert protocol["extractor_plugin"] == {
        "distribution": "zoo-world",
        "version": "1.0",
        "code_sha256": code_sha256("zoo-world"),
    }
    rows = store.rows()
    assert rows.loc[(rows["step"] == 4) & (rows["metric"] == "fid"), "value"].item() > 0
    assert set(rows["protocol_id"]) == {first}

    module = source / "toy_world.py"
    module.write_text(module.read_text().replace("flat @ self.projection", "2 * flat @ self.projection"))
    again = zoo("bench", "dcgan", profile=profile, results=results, work_dir=tmp_path / "work")
    assert again.exit_code == 0 and "finished earlier, skipped" not in again.output
    [second] = store.protocols()
    assert second != first and set(store.rows()["protocol_id"]) == {second}, "a new extractor, a new protocol"
