"""What the gpu profile's target needs, estimated from counts made on the CPU: every built-in on both datasets, 5 seeds,
the classifier and Inception protocols, in at most 30 minutes on one H100.

Counted here, on the CPU, for each built-in at the gpu profile's batch size (its hyperparameters, full size): the
FLOPs of one training step (``torch.utils.flop_counter``: matrix products and convolutions, forward and backward)
and the device operations it dispatches (aten operators after autograd, views and other metadata-only ones left out;
optimisers set to their multi-tensor form, as they run on CUDA): on a GPU each is about one kernel launch. And the
FLOPs per image of each protocol's feature extractor (the FID Inception at 299x299 with its initial weights: the
weights change no FLOP).

From these, under stated assumptions (``--launch-us``: host time per launched operation of an eager step, which
bounds a small model's step on a fast GPU; ``--tflops``: the convolutions' and matrix products' achieved rate;
``--cells-at-once``: concurrent cells that overlap their launches on the device; ``--metrics-s``: CPU seconds of
KID, precision/recall and FID per evaluation point and protocol), the estimate for the profile: each cell's step
cost (the larger of launch-bound and FLOP-bound), its training time at the profile's steps, its evaluation time, and
the bench's wall time. Every figure printed is an estimate; ``--check GPU_CHECK_JSON`` (what
``benchmarks/gpu_check.py`` wrote on a GPU) replaces the step costs by the ones the device recorded and the
evaluation cost by the one it measured, which confirms or refutes it.

    python benchmarks/gpu_plan.py [--profile gpu] [--steps 20000] [--launch-us 8] [--tflops 100]
        [--cells-at-once 4] [--check gpu_check.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from zoo import create_trainer
from zoo.bench.profiles import load_profile
from zoo.conformance import Probe, random_data
from zoo.plugins import load_registry
from zoo.training import batches_per_step

SHAPE = (1, 28, 28)
"""MNIST's and Fashion-MNIST's image shape: the two datasets cost the same."""
INCEPTION_IMAGE_FLOPS_NOTE = "torch-fidelity's FID Inception-v3, input resized to 299x299"


class Counter(TorchDispatchMode):
    """Counts the aten operators dispatched inside it (``operations``), leaving out those that only change metadata,
    and their FLOPs (``flops``: matrix products and convolutions, by ``torch.utils.flop_counter``'s formulas; a
    dispatch mode of its own, as ``FlopCounterMode``'s module hooks break ``autograd.grad``, which WGAN-GP calls)."""

    METADATA_ONLY = {
        "view",
        "_unsafe_view",
        "alias",
        "t",
        "transpose",
        "permute",
        "expand",
        "detach",
        "unsqueeze",
        "squeeze",
        "as_strided",
        "reshape",
        "select",
        "slice",
        "split",
        "split_with_sizes",
        "unbind",
        "_reshape_alias",
        "lift_fresh",
        "empty",
        "empty_like",
        "empty_strided",
        "_to_copy_",
        "is_same_size",
        "set_",
        "unflatten",
    }

    def __init__(self) -> None:
        super().__init__()
        self.operations, self.flops = 0, 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func.overloadpacket
        if packet.__name__ not in self.METADATA_ONLY:
            self.operations += 1
        if packet in flop_registry:
            self.flops += flop_registry[packet](*args, **kwargs, out_val=out)
        return out


def step_counts(model: str, batch_size: int, hparams: dict[str, Any]) -> dict[str, float]:
    """FLOPs and launched operations of one training step of ``model`` (MNIST shape, seed 0), after two untimed steps
    (optimiser state made), with every optimiser in its multi-tensor form."""
    registry = load_registry()
    spec = registry.models[model]
    resolved = spec.resolve_hparams(overrides=hparams)
    trainer = create_trainer(spec, SHAPE, 10, hparams=resolved, seed=0, device=torch.device("cpu"))
    for optimizer in trainer.optimizers().values():
        for group in optimizer.param_groups:
            group["foreach"] = True
    data = random_data(Probe(SHAPE, 10), n=4 * batch_size)
    sampler = torch.Generator().manual_seed(0)
    images = batch_size * batches_per_step(trainer)
    for _ in range(2):
        trainer.train_step(data.sample(images, sampler))
    batch = data.sample(images, sampler)
    with Counter() as counter:
        trainer.train_step(batch)
    return dict(flops=float(counter.flops), operations=float(counter.operations))


def extractor_flops() -> dict[str, float]:
    """FLOPs per image of the domain classifier (MNIST's) and of the FID Inception (299x299)."""
    registry = load_registry()
    profile = load_profile("gpu")
    classifier_protocol = profile.protocols[0]
    weights = profile.weights_path(classifier_protocol, "mnist")
    classifier = registry.extractors[classifier_protocol.extractor].extractor(
        classifier_protocol.extractor, ["penultimate"], feature_extractor_weights_path=str(weights)
    )
    from eval_split import UntrainedInception

    counted = {}
    for name, network, image in (
        ("classifier", classifier, torch.zeros(1, *SHAPE, dtype=torch.uint8)),
        ("inception", UntrainedInception(), torch.zeros(1, 3, *SHAPE[1:], dtype=torch.uint8)),
    ):
        with Counter() as counter, torch.no_grad():
            network.eval()(image)
        counted[name] = float(counter.flops)
    return counted


def measured(check_json: Path) -> tuple[dict[str, float], float | None]:
    """From a GPU check's record: seconds per step the device recorded per model, and one evaluation point's
    seconds (both protocols: sampling, generated features, metrics; reference features are cached)."""
    record = json.loads(check_json.read_text())
    stages = record["stages"]
    costs = stages.get("plan", {}).get("figures", {}).get("seconds_per_step", {})
    split = stages.get("eval_split", {}).get("figures", {}).get("seconds")
    if not split:
        return costs, None
    pieces = ["sampling"] + [
        f"{p}_{part}"
        for p in ("classifier", "inception")
        for part in ("features_generated", "fid", "kid", "prc", "isc")
    ]
    return costs, sum(split.get(piece, 0.0) for piece in pieces)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="gpu")
    parser.add_argument("--steps", type=int, default=None, help="steps per cell [the profile's, per model]")
    parser.add_argument("--launch-us", type=float, default=8.0, help="host microseconds per launched operation")
    parser.add_argument("--tflops", type=float, default=100.0, help="achieved TFLOP/s of the FLOP-bound work")
    parser.add_argument("--cells-at-once", type=int, default=4, help="cells whose launches overlap on the device")
    parser.add_argument("--metrics-s", type=float, default=10.0, help="CPU s of the metrics per point and protocol")
    parser.add_argument("--samples", type=int, default=10000, help="generated samples per point and protocol")
    parser.add_argument("--check", type=Path, default=None, help="a GPU check's gpu_check.json: measured costs")
    parser.add_argument("--json", type=Path, default=None, help="also write the counts and the estimate here")
    args = parser.parse_args()
    profile = load_profile(args.profile)
    models = list(load_registry().models)
    cells_per_model = len(("mnist", "fashion-mnist")) * len(profile.seeds)
    costs, point = measured(args.check) if args.check else ({}, None)
    per_image = extractor_flops()
    print(
        f"profile {profile.name}: batch {profile.batch_size}, seeds {len(profile.seeds)}, both datasets: "
        f"{cells_per_model * len(models)} cells; classifier {per_image['classifier'] / 1e9:.3f} GFLOP/image, "
        f"Inception {per_image['inception'] / 1e9:.2f} GFLOP/image ({INCEPTION_IMAGE_FLOPS_NOTE})"
    )
    if point is None:
        features = args.samples * (per_image["classifier"] + per_image["inception"]) / (args.tflops * 1e12)
        point = features + 2 * args.metrics_s
        print(
            f"one evaluation point (both protocols, {args.samples} samples, reference cached): {features:.1f} s of "
            f"features + 2 x {args.metrics_s:g} s of metrics = {point:.1f} s (estimate)"
        )
    else:
        print(f"one evaluation point (both protocols): {point:.1f} s (measured by the GPU check)")
    print(
        f"{'model':<12} {'GFLOP/step':>10} {'ops/step':>8} {'ms/step':>8} {'steps':>6} {'train s':>8} "
        f"{'points':>6} {'eval s':>7}  step cost from"
    )
    rows, device_seconds = [], 0.0
    for model in models:
        counts = step_counts(model, profile.batch_size, profile.hparams_per_model.get(model, {}))
        launch_bound = counts["operations"] * args.launch_us / 1e6
        flop_bound = counts["flops"] / (args.tflops * 1e12)
        cost, source = (costs[model], "GPU check") if model in costs else (max(launch_bound, flop_bound), "estimate")
        steps = args.steps or profile.steps_for(model)
        points = len(profile.eval_steps_for(model))
        train, evaluate = steps * cost, points * point
        device_seconds += cells_per_model * (train + evaluate)
        rows.append(
            dict(
                model=model,
                **counts,
                seconds_per_step=cost,
                source=source,
                steps=steps,
                train_s=train,
                points=points,
                eval_s=evaluate,
            )
        )
        print(
            f"{model:<12} {counts['flops'] / 1e9:10.2f} {counts['operations']:8.0f} {1000 * cost:8.2f} "
            f"{steps:6d} {train:8.0f} {points:6d} {evaluate:7.0f}  {source}",
            flush=True,
        )
    wall = device_seconds / args.cells_at_once
    print(
        f"all cells: {device_seconds / 60:.0f} min of cell time; {args.cells_at_once} at once: {wall / 60:.0f} min "
        f"wall (target: 30 min; estimate unless every row says GPU check)"
    )
    if args.json:
        estimate = dict(per_image_flops=per_image, point_s=point, rows=rows, wall_s=wall, assumptions=vars(args))
        args.json.write_text(json.dumps(estimate, indent=1, default=str))


if __name__ == "__main__":
    main()
