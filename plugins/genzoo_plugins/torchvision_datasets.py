"""Built-in datasets: MNIST, Fashion-MNIST and CIFAR-10, in torchvision's layouts under zoo's data root."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from torchvision.datasets import MNIST, FashionMNIST

from zoo import DatasetSpec, hookimpl
from zoo.data import load_cifar10, load_mnist_layout

_MNIST_LIKE = {  # name: (torchvision's class, description, a Debian package of the same files and their folder)
    "mnist": (
        MNIST,
        "Handwritten digits, 60k train / 10k test, 28x28 grey. LeCun, Bottou, Bengio & Haffner, 'Gradient-based "
        "learning applied to document recognition', Proc. IEEE 86(11), 1998.",
        None,
    ),
    "fashion-mnist": (
        FashionMNIST,
        "Zalando clothing articles, 60k train / 10k test, 28x28 grey. Xiao, Rasul & Vollgraf, 'Fashion-MNIST: a "
        "novel image dataset for benchmarking machine learning algorithms', arXiv:1708.07747, 2017. Also packaged "
        "by Debian as dataset-fashion-mnist.",
        ("dataset-fashion-mnist", "/usr/share/datasets/fashion-mnist"),
    ),
}


@hookimpl
def register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    for name, (torchvision_cls, description, debian) in _MNIST_LIKE.items():
        load = partial(
            load_mnist_layout, folder=torchvision_cls.__name__, torchvision_cls=torchvision_cls, debian=debian
        )
        register(DatasetSpec(name=name, image_shape=(1, 28, 28), num_classes=10, load=load, description=description))
    register(
        DatasetSpec(
            name="cifar10",
            image_shape=(3, 32, 32),
            num_classes=10,
            load=load_cifar10,
            description="Tiny colour photos in 10 classes, 50k train / 10k test, 32x32 RGB. Krizhevsky, 'Learning "
            "multiple layers of features from tiny images', tech. report, University of Toronto, 2009.",
        )
    )
