"""The CUDA path on a GPU: the model contract (training, sampling, exact resume) for every registered model, bf16
autocast, ``torch.compile``, and a ``zoo train`` whose evaluation extracts its features on the device.

Marked ``cuda``: skipped where torch sees no CUDA device (``tests/conftest.py``), so CI collects them and a lent GPU
machine runs them (``benchmarks/gpu_check.py``). With ``ZOO_TEST_DEVICE=cpu`` they run on the CPU instead (the
check's dry run), except the compiled one (minutes of C++ compilation there).
"""

from __future__ import annotations

import json
import math
import os

import pytest
import torch

from tests.helpers import smoke_profile, zoo
from zoo.bench.profiles import load_profile
from zoo.conformance import Probe, build, check_exact_resume, random_data, run_checks
from zoo.metrics import Samples
from zoo.plugins import load_registry
from zoo.scoring import references, score
from zoo.training import train

pytestmark = pytest.mark.cuda

REGISTRY = load_registry()
TEST_DEVICE = "ZOO_TEST_DEVICE"
"""The variable naming the device these tests use instead of ``cuda`` (``cpu``: the gpu check's dry run)."""


@pytest.fixture(scope="module")
def probe() -> Probe:
    """The conformance probe (MNIST's shape, tiny models) on the device under test."""
    return Probe(device=os.environ.get(TEST_DEVICE, "cuda"))


def losses_of(model: str, probe: Probe, **options) -> list[dict[str, float]]:
    """The losses of 3 steps (batch 4) of ``model`` built for ``probe``, through zoo's loop with ``options``."""
    trainer = build(REGISTRY.models[model], probe)
    return train(
        trainer, random_data(probe), steps=3, batch_size=4, seed=0, progress=False, log_every=1, **options
    ).history


@pytest.mark.parametrize("model", list(REGISTRY.models))
def test_the_model_contract_holds_on_the_device(model, probe):
    """Every conformance check on the device: training changes every network, samples are finite in [-1, 1] and
    seeded, generator weights round-trip, and a resumed run equals an uninterrupted one bit for bit."""
    failed = [(check, problem) for check, problem in run_checks(REGISTRY.models[model], probe) if problem]
    assert not failed, failed


@pytest.mark.parametrize("model", list(REGISTRY.models))
def test_exact_resume_with_deterministic_cudnn(model, probe, monkeypatch):
    """Beside the contract, as a diagnosis: where exact resume fails above but passes here, cuDNN's
    nondeterministic kernels are the cause, and deterministic cuDNN the fix."""
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    check_exact_resume(REGISTRY.models[model], probe)


@pytest.mark.parametrize("model", ["dcgan", "vae"])
def test_bf16_steps_run_under_bfloat16_autocast_and_keep_float32_weights(model, probe):
    dtypes = []
    trainer = build(REGISTRY.models[model], probe)
    first = next(m for m in trainer.generator.modules() if isinstance(m, (torch.nn.Linear, torch.nn.ConvTranspose2d)))
    first.register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    options = dict(steps=3, batch_size=4, seed=0, progress=False, log_every=1, precision="bf16")
    history = train(trainer, random_data(probe), **options).history
    assert torch.bfloat16 in dtypes, f"the generator's first layer ran in {set(dtypes)}, not bfloat16"
    assert all(math.isfinite(value) for losses in history for value in losses.values()), history
    parameters = [p for module in trainer.modules().values() for p in module.parameters()]
    assert {p.dtype for p in parameters} == {torch.float32}


def test_compiled_steps_match_eager_steps(probe):
    if probe.device == "cpu":
        pytest.skip("torch.compile takes minutes of C++ compilation on a CPU; the GPU check runs it on CUDA")
    eager, compiled = losses_of("dcgan", probe), losses_of("dcgan", probe, compile=True)
    for want, got in zip(eager, compiled, strict=True):
        assert got.keys() == want.keys()
        assert all(math.isclose(got[k], want[k], rel_tol=1e-2, abs_tol=1e-3) for k in want), (want, got)


def test_metrics_on_the_device_agree_with_the_cpu(probe, tiny_mnist_root, tmp_path, monkeypatch):
    """The same samples scored with features extracted on the device and on the CPU, TF32 off: the same FID and KID
    (64 samples of wider features: FID's matrix square root magnifies tiny feature differences, hence 2%), and
    precision/recall, computed on the device, within two samples' worth (a point on a ball's edge may fall either
    way)."""
    profile = load_profile(smoke_profile(tmp_path))
    (ref,) = references(REGISTRY, profile, "mnist", data_root=tiny_mnist_root)
    images = ref.images.flip(-1)  # other images than the reference, of the protocol's count

    def scored(device: str) -> dict[str, float]:
        found = score([ref], lambda protocol: Samples(images), cache_dir=tmp_path / device, device=torch.device(device))
        return {s.metric: s.value.value for s in found if s.value.available}

    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    precision = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        on_device, on_cpu = scored(probe.device), scored("cpu")
    finally:
        torch.set_float32_matmul_precision(precision)
    for metric in ("fid", "kid_mean"):
        assert math.isclose(on_device[metric], on_cpu[metric], rel_tol=2e-2, abs_tol=1e-4), (metric, on_device, on_cpu)
    for metric in ("precision", "recall"):
        assert abs(on_device[metric] - on_cpu[metric]) <= 2 / len(images), (metric, on_device, on_cpu)


def test_zoo_train_trains_and_scores_on_the_device(probe, tiny_mnist_root, tmp_path):
    result = zoo(
        "train", "dcgan", "--dataset", "mnist", "--steps", 4, "--batch-size", 8, "--eval-at", 2,
        "--hparam", "width=4", "--hparam", "latent_dim=8", profile=smoke_profile(tmp_path), data_root=tiny_mnist_root,
        out=tmp_path / "run", work_dir=tmp_path / "work", device=probe.device,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["provenance"]["device"].startswith(probe.device), config["provenance"]
    metrics = json.loads((tmp_path / "run" / "summary.json").read_text())["metrics"]
    fids = [m["value"] for m in metrics if m["metric"] == "fid"]
    assert len(fids) == 2 and all(math.isfinite(fid) for fid in fids), metrics
