"""The choices and defaults of zoo's options, shared by the command line and the code that takes them.

Plain values, importing nothing, so that :mod:`zoo.cli` declares its options (the choices and defaults ``--help``
shows) without importing torch; the modules that use a value import it from here.
"""

DEVICE_CHOICES = ("auto", "cpu", "cuda")
"""``auto``: CUDA when torch sees a GPU, else the CPU (:func:`zoo.device.resolve_device`)."""

PRECISIONS = ("fp32", "bf16")
"""``fp32``: float32 throughout; ``bf16``: each step under bfloat16 autocast."""

GRID_SIZE = 64
"""Samples in a run's sample grid unless chosen (``samples.png``, ``zoo sample -n``)."""

DEFAULT_SIZE = 64
"""Pixels a side of an image folder's images unless chosen: DCGAN's resolution, CelebA's usual one."""

DEFAULT_TEST_FRACTION = 0.1
"""The share of each class of an image folder held out as its test split unless chosen."""

EXECUTORS = ("local", "ray")
"""Where a bench's cells run: local processes, or Ray tasks on a cluster."""

CPU_THREADS_PER_WORKER = 1
"""On a CPU, the default gives each worker this many torch threads and runs ``cores / this`` workers at once.
Measured on a 2-core machine (benchmarks/README.md, "Workers on a CPU"): 2 workers x 1 thread against
1 worker x 2 threads, same cells."""

DEFAULT_MIN_ACCURACY = 0.8
"""The test accuracy below which a trained classifier is not saved unless asked: far above chance (10% for ten
classes: what a 2-step run reaches) and below what the default recipe reaches on the shipped datasets (99.2% on
MNIST, 91.4% on Fashion-MNIST). A classifier that barely separates the classes gives features, and so scores, that
say little about the samples."""

CHECK_EVERY = 100
"""Steps between two test-accuracy checks of ``zoo extractor train --target-accuracy`` unless chosen."""

LOWER_IS_BETTER = {
    "fid": True,
    "kid_mean": True,
    "swd": True,
    "is_mean": False,
    "precision": False,
    "recall": False,
    "copy_share_features": True,
    "copy_share_pixels": True,
    "class_entropy": False,
    "min_class_share": False,
    "label_accuracy": False,
    "ifid": True,
    "code_accuracy": False,
}
"""The metrics a leaderboard shows (those present), in column order, and their direction."""
