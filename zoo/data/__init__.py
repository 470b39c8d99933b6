"""The data layer: where datasets live, readers for torchvision's file layouts, loading and batching."""

from zoo.data.formats import load_cifar10, load_mnist_layout, read_idx
from zoo.data.loading import load_split, random_subset
from zoo.data.memory import InMemoryDataset
from zoo.data.root import DATA_ROOT_ENV, resolve_data_root

__all__ = [
    "DATA_ROOT_ENV",
    "InMemoryDataset",
    "load_cifar10",
    "load_mnist_layout",
    "load_split",
    "random_subset",
    "read_idx",
    "resolve_data_root",
]
