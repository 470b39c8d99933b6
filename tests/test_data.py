"""The data layer and the built-in datasets plugin, on tiny files written here in torchvision's on-disk formats."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.helpers import OFFICIAL_MNIST_ROOT, idx_bytes, needs_official_mnist, write_idx, write_image_folder
from zoo.data import InMemoryDataset, load_mnist_layout, load_split, random_subset, read_idx, resolve_data_root
from zoo.data.sources import with_datasets
from zoo.errors import DatasetNotFound, PluginError, ZooError
from zoo.interfaces import DatasetSpec
from zoo.plugins import load_registry

MNIST_FOLDERS = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}
SPLIT_SIZES = {"train": 7, "test": 3}


@pytest.fixture(scope="module")
def specs() -> dict[str, DatasetSpec]:
    """The specs the built-in plugin registers, found through its entry point."""
    registry = load_registry(["torchvision_datasets"])
    return {name: registry.datasets[name] for name in registry.datasets}


def write_mnist_split(root: Path, folder: str, split: str, gz: bool) -> tuple[np.ndarray, np.ndarray]:
    """Random images ``[n, 28, 28]`` and labels ``[n]`` written as torchvision's raw MNIST files."""
    rng = np.random.default_rng(len(split))
    n = SPLIT_SIZES[split]
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    prefix = {"train": "train", "test": "t10k"}[split]
    write_idx(root / folder / "raw" / f"{prefix}-images-idx3-ubyte", images, gz)
    write_idx(root / folder / "raw" / f"{prefix}-labels-idx1-ubyte", labels, gz)
    return images, labels


def write_cifar_batch(path: Path, data: np.ndarray, labels: list[int]) -> None:
    """A batch in the official python format: a pickled dict with ``b"data"`` ``[n, 3072]`` and ``b"labels"``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({b"batch_label": b"test", b"data": data, b"labels": labels}))


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("name", sorted(MNIST_FOLDERS))
def test_mnist_layouts_round_trip(specs, tmp_path, name, gz):
    for split in SPLIT_SIZES:
        images, labels = write_mnist_split(tmp_path, MNIST_FOLDERS[name], split, gz)
        got_images, got_labels = load_split(specs[name], split, root=tmp_path)
        assert got_images.dtype == torch.uint8 and got_images.shape == (len(images), 1, 28, 28)
        assert got_labels.dtype == torch.int64
        assert torch.equal(got_images[:, 0], torch.from_numpy(images))
        assert torch.equal(got_labels, torch.from_numpy(labels).long())


def test_cifar10_round_trips(specs, tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (10, 3072), dtype=np.uint8)
    train[0, :1024], train[0, 1024:2048], train[0, 2048:] = 10, 20, 30  # R, G and B planes of image 0
    for i in range(5):  # two images per training batch, in order
        write_cifar_batch(folder / f"data_batch_{i + 1}", train[2 * i : 2 * i + 2], [2 * i, 2 * i + 1])
    write_cifar_batch(folder / "test_batch", train[:3], [9, 8, 7])

    images, labels = load_split(specs["cifar10"], "train", root=tmp_path)
    assert images.dtype == torch.uint8 and images.shape == (10, 3, 32, 32)
    assert torch.equal(images, torch.from_numpy(train).view(10, 3, 32, 32))
    assert images[0, :, 5, 7].tolist() == [10, 20, 30]
    assert labels.dtype == torch.int64 and labels.tolist() == list(range(10))
    test_images, test_labels = load_split(specs["cifar10"], "test", root=tmp_path)
    assert torch.equal(test_images, images[:3]) and test_labels.tolist() == [9, 8, 7]


@pytest.mark.parametrize(
    ("name", "folder"),
    [("mnist", "MNIST/raw"), ("fashion-mnist", "FashionMNIST/raw"), ("cifar10", "cifar-10-batches-py")],
)
def test_missing_files_say_where_and_how(specs, tmp_path, name, folder):
    with pytest.raises(DatasetNotFound) as caught:
        load_split(specs[name], "train", root=tmp_path)
    message = str(caught.value)
    assert str(tmp_path / folder) in message and "--download" in message and "\n" not in message


def test_missing_fashion_mnist_names_the_debian_package_that_has_it(specs, tmp_path):
    with pytest.raises(DatasetNotFound) as caught:
        load_split(specs["fashion-mnist"], "test", root=tmp_path)
    raw = tmp_path / "FashionMNIST" / "raw"
    assert f"install Debian's dataset-fashion-mnist and link its /usr/share/datasets/fashion-mnist as {raw}" in str(
        caught.value
    )
    with pytest.raises(DatasetNotFound, match="needs internet") as caught:
        load_split(specs["mnist"], "test", root=tmp_path)
    assert "Debian" not in str(caught.value)


def test_missing_labels_file_is_named(specs, tmp_path):
    write_mnist_split(tmp_path, "MNIST", "train", gz=True)
    (tmp_path / "MNIST" / "raw" / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetNotFound, match=r"train-labels-idx1-ubyte\[\.gz\]\)") as caught:
        load_split(specs["mnist"], "train", root=tmp_path)
    assert "train-images" not in str(caught.value)


def test_download_fetches_with_torchvision_then_reads(tmp_path):
    calls = []

    def fake_torchvision(root, train, download):  # stands in for torchvision.datasets.MNIST: writes the files
        calls.append((root, train, download))
        write_mnist_split(root, "MNIST", "train", gz=False)

    images, labels = load_mnist_layout(tmp_path, "train", True, folder="MNIST", torchvision_cls=fake_torchvision)
    assert calls == [(tmp_path, True, True)] and images.shape == (SPLIT_SIZES["train"], 1, 28, 28)
    load_mnist_layout(tmp_path, "train", True, folder="MNIST", torchvision_cls=fake_torchvision)
    assert len(calls) == 1  # files present: no second download

    def offline(root, train, download):
        raise RuntimeError("Error downloading t10k-images-idx3-ubyte.gz:\nTried mirrors")

    with pytest.raises(DatasetNotFound, match=r"failed \(Error downloading t10k-images-idx3-ubyte.gz\); copy"):
        load_mnist_layout(tmp_path, "test", True, folder="MNIST", torchvision_cls=offline)


GOOD_IDX = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


@pytest.mark.parametrize(
    ("data", "gz", "match"),
    [
        (b"\x00\x00\x0d\x03" + GOOD_IDX[4:], False, "not a uint8 IDX file"),  # float32 dtype code
        (b"\x1f\x8b\x08\x03" + GOOD_IDX[4:], False, "not a uint8 IDX file"),
        (GOOD_IDX[:-1], False, "truncated"),
        (GOOD_IDX[:9], False, "truncated"),  # inside the header
        (GOOD_IDX + b"\x00", False, "corrupt IDX"),
        (gzip.compress(GOOD_IDX)[:-10], True, "gzip"),
        (GOOD_IDX, True, "gzip"),  # a .gz name over uncompressed bytes
    ],
)
def test_corrupt_idx_is_a_zoo_error(tmp_path, data, gz, match):
    path = tmp_path / "x-idx3-ubyte"
    path.with_name(path.name + ".gz" if gz else path.name).write_bytes(data)
    with pytest.raises(ZooError, match=match) as caught:
        read_idx(path)
    assert "\n" not in str(caught.value)


def test_read_idx_reads_plain_and_gz(tmp_path):
    expected = torch.arange(24, dtype=torch.uint8).view(2, 3, 4)
    (tmp_path / "plain").write_bytes(GOOD_IDX)
    (tmp_path / "packed.gz").write_bytes(gzip.compress(GOOD_IDX))
    assert torch.equal(read_idx(tmp_path / "plain"), expected)
    assert torch.equal(read_idx(tmp_path / "packed"), expected)
    assert torch.equal(read_idx(tmp_path / "packed.gz"), expected)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo should-not-run",))


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0]})[:-20], "not a readable CIFAR-10"),
        (pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [0, 1]}), r"uint8 array \[2, 3072\]"),
        (pickle.dumps({b"data": _RunsCode(), b"labels": [0]}), "posix.system is not allowed|nt.system is not allowed"),
    ],
    ids=["truncated", "label-count", "code"],
)
def test_corrupt_or_tampered_cifar_batch_is_a_zoo_error(specs, tmp_path, payload, match):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "test_batch").write_bytes(payload)
    with pytest.raises(ZooError, match=match):
        load_split(specs["cifar10"], "test", root=tmp_path)


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("ZOO_DATA_ROOT", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert resolve_data_root() == tmp_path / "home" / ".cache" / "zoo" / "datasets"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_root() == tmp_path / "xdg" / "zoo" / "datasets"
    monkeypatch.setenv("ZOO_DATA_ROOT", str(tmp_path / "env"))
    assert resolve_data_root() == tmp_path / "env"
    assert resolve_data_root(str(tmp_path / "explicit")) == tmp_path / "explicit"
    assert resolve_data_root(tmp_path / "explicit") == tmp_path / "explicit"


def numbered_dataset() -> InMemoryDataset:
    """Image ``i`` (1x4x5) is filled with the value ``i`` and labelled ``i % 10``."""
    n = 50
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 4, 5).contiguous()
    return InMemoryDataset(images, torch.arange(n) % 10)


def test_in_memory_dataset_samples_deterministically():
    dataset = numbered_dataset()
    assert (len(dataset), tuple(dataset.images.shape[1:]), dataset.num_classes) == (50, (1, 4, 5), 10)
    assert dataset.device == torch.device("cpu")
    first = dataset.sample(32, torch.Generator().manual_seed(3))
    again = dataset.sample(32, torch.Generator().manual_seed(3))
    other = dataset.sample(32, torch.Generator().manual_seed(4))
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    assert not torch.equal(first.labels, other.labels)

    assert first.images.dtype == torch.float32 and first.images.shape == (32, 1, 4, 5)
    assert first.images.min() >= -1 and first.images.max() <= 1
    index = ((first.images + 1) * 127.5).round().long()
    assert (index == index[:, :1, :1, :1]).all()  # each sampled image is one whole stored image
    assert torch.equal(first.labels, index[:, 0, 0, 0] % 10)


def test_in_memory_dataset_takes_num_classes():
    images = torch.zeros(3, 1, 2, 2, dtype=torch.uint8)
    assert InMemoryDataset(images, torch.zeros(3, dtype=torch.long), num_classes=0).num_classes == 0


def fake_spec(result: object, num_classes: int = 10) -> DatasetSpec:
    return DatasetSpec(name="fake", image_shape=(1, 2, 2), num_classes=num_classes, load=lambda *_: result)


GOOD_IMAGES = torch.zeros(4, 1, 2, 2, dtype=torch.uint8)
GOOD_LABELS = torch.tensor([0, 9, 3, 1])


@pytest.mark.parametrize(
    "result",
    [
        [GOOD_IMAGES, GOOD_LABELS],
        (GOOD_IMAGES.float(), GOOD_LABELS),
        (GOOD_IMAGES.view(4, 1, 4), GOOD_LABELS),
        (torch.zeros(4, 3, 2, 2, dtype=torch.uint8), GOOD_LABELS),
        (GOOD_IMAGES[:0], GOOD_LABELS[:0]),
        (GOOD_IMAGES, GOOD_LABELS.int()),
        (GOOD_IMAGES, GOOD_LABELS[:3]),
        (GOOD_IMAGES, GOOD_LABELS + 1),
        (GOOD_IMAGES, GOOD_LABELS - 1),
    ],
    ids=["list", "float", "3d", "channels", "empty", "int32", "count", "above", "negative"],
)
def test_load_split_rejects_bad_plugin_output(result):
    with pytest.raises(PluginError, match="dataset 'fake' returned bad train data"):
        load_split(fake_spec(result), "train", root="/nonexistent")


def test_load_split_checks_split_and_limits():
    spec = fake_spec((GOOD_IMAGES, GOOD_LABELS))
    with pytest.raises(ZooError, match="no split 'valid'; its splits: train, test"):
        load_split(spec, "valid")
    images, labels = load_split(spec, "test", root="/nonexistent", limit=2)
    assert images.shape == (2, 1, 2, 2) and labels.tolist() == [0, 9]
    with pytest.raises(PluginError, match=r"\[0, 1\)"):  # a dataset without classes must label everything 0
        load_split(fake_spec((GOOD_IMAGES, GOOD_LABELS), num_classes=0), "train", root="/nonexistent")


@needs_official_mnist
def test_real_mnist(specs):
    images, labels = load_split(specs["mnist"], "train", root=OFFICIAL_MNIST_ROOT)
    assert images.shape == (60000, 1, 28, 28)
    assert labels.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    test_images, test_labels = load_split(specs["mnist"], "test", root=OFFICIAL_MNIST_ROOT)
    assert test_images.shape == (10000, 1, 28, 28) and len(test_labels) == 10000


def test_a_seeded_subset_of_a_class_ordered_folder_holds_every_class(tmp_path, registry):
    """Reference images and the real-data floor are drawn by random_subset: on a folder read class by class, the
    first rows are one class; the seeded draw has every class in about equal numbers, and the same seed draws the
    same rows."""
    folder = write_image_folder(tmp_path / "ordered", per_class=40, classes=4)
    found, (name,) = with_datasets(registry, [f"folder:{folder}"], data_root=tmp_path / "root", progress=False)
    images, labels = load_split(found.datasets[name], "train", root=tmp_path / "root")
    assert labels[:30].unique().tolist() == [0], "the split is class-ordered: its first rows are one class"

    drawn, drawn_labels = random_subset(images, labels, 30, seed=0)
    shares = torch.bincount(drawn_labels, minlength=4).double() / 30
    entropy = float(-(shares[shares > 0] * shares[shares > 0].log()).sum() / np.log(4))
    assert entropy > 0.9
    again = random_subset(images, labels, 30, seed=0)
    assert torch.equal(again[0], drawn) and torch.equal(again[1], drawn_labels)
    assert not torch.equal(random_subset(images, labels, 30, seed=1)[1], drawn_labels)
    whole = random_subset(images, labels, len(images), seed=0)
    assert whole[0] is images and whole[1] is labels, "a split no larger than n is kept as it is"
