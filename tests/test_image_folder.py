"""Image folders as datasets (zoo.data.folder), on tiny image folders the tests write themselves."""

from __future__ import annotations

import hashlib
import re
import shutil

import numpy as np
import PIL.Image
import pytest
import torch

from zoo.data import folder as folder_module
from zoo.data import load_split
from zoo.data.folder import (
    SkippedImagesWarning,
    assign_splits,
    folder_dataset_spec,
    load_image_folder,
    scan_image_folder,
)
from zoo.errors import ZooError


def write(path, value, size=(6, 6), mode=None, fmt=None):
    """Write a constant image: ``value`` an int (grey, mode L) or an (R, G, B) tuple, or an array (any mode)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(value, np.ndarray):
        image = PIL.Image.fromarray(value, mode=mode) if mode else PIL.Image.fromarray(value)
    else:
        image = PIL.Image.new(mode or ("L" if isinstance(value, int) else "RGB"), size, value)
    image.save(path, format=fmt)
    return path


def spec_for(path, size=4, **options):
    return folder_dataset_spec(path, size, cache_dir=path.parent / "cache", progress=False, **options)


def both_splits(spec):
    images, labels = zip(*(spec.load(None, split, False) for split in spec.splits), strict=True)
    return torch.cat(images), torch.cat(labels)


@pytest.fixture
def counted_opens(monkeypatch):
    """Counts calls to PIL.Image.open (the only way the module reads an image)."""
    calls = []
    real_open = PIL.Image.open

    def counting_open(path, *args, **kwargs):
        calls.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", counting_open)
    return calls


def test_a_flat_grey_folder_is_unlabelled_with_one_channel(tmp_path):
    faces = tmp_path / "faces"
    for i in range(10):
        write(faces / f"{i:02d}.png", 20 * i + 5)
    spec = spec_for(faces, size=4)
    assert (spec.image_shape, spec.num_classes, spec.splits) == ((1, 4, 4), 0, ("train", "test"))
    train, _ = spec.load(None, "train", False)
    test, test_labels = spec.load(None, "test", False)
    assert (len(train), len(test)) == (9, 1)
    images, labels = both_splits(spec)
    assert images.dtype == torch.uint8 and labels.dtype == torch.int64 and not labels.any()
    # every image exactly once, constant images stay constant through crop and resize
    assert sorted(images.flatten(1).unique(dim=1).flatten().tolist()) == [20 * i + 5 for i in range(10)]
    checked = load_split(spec, "test", root=tmp_path)  # zoo's own contract check on what load returns
    assert torch.equal(checked[0], test) and torch.equal(checked[1], test_labels)


def test_class_subfolders_give_sorted_labels_and_rgb(tmp_path):
    colours = {"dog": (200, 10, 10), "bird": (10, 200, 10), "cat": (10, 10, 200)}
    for name, colour in colours.items():
        for i in range(5):
            write(tmp_path / "pets" / name / f"{i}.jpg" if i % 2 else tmp_path / "pets" / name / "deep" / f"{i}.PNG",
                  colour, fmt="PNG")  # fmt: skip
    index = scan_image_folder(tmp_path / "pets")
    assert (index.layout, index.classes, index.num_classes) == ("classes", ("bird", "cat", "dog"), 3)
    spec = spec_for(tmp_path / "pets", size=3)
    assert (spec.image_shape, spec.num_classes) == ((3, 3, 3), 3)
    images, labels = both_splits(spec)
    assert torch.bincount(labels).tolist() == [5, 5, 5]
    for image, label in zip(images, labels.tolist(), strict=True):
        expected = torch.tensor(colours[("bird", "cat", "dog")[label]], dtype=torch.uint8)
        assert torch.equal(image.flatten(1).T.unique(dim=0), expected[None])
    _, test_labels = spec.load(None, "test", False)
    assert sorted(test_labels.tolist()) == [0, 1, 2]  # stratified: one of each class's five


def test_one_colour_image_makes_the_dataset_rgb_with_grey_images_repeated(tmp_path):
    write(tmp_path / "mixed" / "a.png", 77)
    write(tmp_path / "mixed" / "b.png", (1, 2, 3))
    data = load_image_folder(tmp_path / "mixed", 4, cache_dir=tmp_path / "cache")
    assert data.images.shape == (2, 3, 4, 4)
    assert (np.asarray(data.images[0]) == 77).all() and data.images[1, :, 0, 0].tolist() == [1, 2, 3]


def test_grey_modes_give_one_channel_and_16_bit_is_scaled(tmp_path):
    write(tmp_path / "grey" / "a.png", np.full((4, 4), 65535, dtype=np.uint16))  # I;16
    write(tmp_path / "grey" / "b.png", np.full((4, 4), 257 * 100, dtype=np.uint16))
    write(tmp_path / "grey" / "c.png", (90, 255), mode="LA", size=(4, 4))
    write(tmp_path / "grey" / "d.png", 1, mode="1", size=(4, 4))
    data = load_image_folder(tmp_path / "grey", 4, cache_dir=tmp_path / "cache")
    assert data.images.shape == (4, 1, 4, 4)
    assert [int(image.max()) for image in data.images] == [255, 100, 90, 255]


@pytest.mark.parametrize(("width", "height"), [(30, 10), (10, 30)])
def test_non_square_images_are_centre_cropped(tmp_path, width, height):
    stripes = np.zeros((height, width, 3), dtype=np.uint8)
    if width > height:
        stripes[:, :10], stripes[:, 10:20], stripes[:, 20:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    else:
        stripes[:10], stripes[10:20], stripes[20:] = (255, 0, 0), (0, 255, 0), (0, 0, 255)
    write(tmp_path / "wide" / "a.png", stripes)
    data = load_image_folder(tmp_path / "wide", 10, cache_dir=tmp_path / "cache")
    assert data.images.shape == (1, 3, 10, 10)
    assert np.asarray(data.images[0]).reshape(3, -1).T.tolist() == [[0, 255, 0]] * 100
    smaller = load_image_folder(tmp_path / "wide", 3, cache_dir=tmp_path / "cache")
    assert smaller.images.shape == (1, 3, 3, 3) and smaller.images[0, :, 1, 1].tolist() == [0, 255, 0]


def _celeba(root, partition):
    for i in range(1, len(partition) + 1):
        write(root / "img_align_celeba" / f"{i:06d}.jpg", (40 * i, 40 * i, 40 * i), size=(8, 10), fmt="JPEG")
    lines = "".join(f"{i:06d}.jpg {split}\n" for i, split in enumerate(partition, 1))
    (root / "list_eval_partition.txt").write_text(lines)
    (root / "list_attr_celeba.txt").write_text("not an image\n")


@pytest.mark.parametrize("torchvision_root", [False, True])
def test_celeba_layout_uses_its_official_partition(tmp_path, torchvision_root):
    _celeba(tmp_path / "data" / "celeba", [0, 0, 0, 1, 2, 2])
    spec = spec_for(tmp_path / "data" if torchvision_root else tmp_path / "data" / "celeba", size=4)
    assert (spec.splits, spec.num_classes, spec.image_shape) == (("train", "valid", "test"), 0, (3, 4, 4))
    brightness = {split: sorted(round(float(x) / 40) for x in spec.load(None, split, False)[0].float().mean((1, 2, 3)))
                  for split in spec.splits}  # fmt: skip
    assert brightness == {"train": [1, 2, 3], "valid": [4], "test": [5, 6]}


def test_celeba_without_partition_file_is_split_by_hash_and_unlisted_images_are_named(tmp_path):
    _celeba(tmp_path / "celeba", [0] * 10)
    (tmp_path / "celeba" / "list_eval_partition.txt").unlink()
    index = scan_image_folder(tmp_path / "celeba")
    assert (index.layout, index.num_classes, index.official_splits) == ("celeba", 0, None)
    assert sorted(assign_splits(index)).count("test") == 1
    _celeba(tmp_path / "celeba", [0] * 9)  # the partition file now misses 000010.jpg
    with pytest.raises(ZooError, match=r"000010\.jpg: not listed in .*list_eval_partition"):
        scan_image_folder(tmp_path / "celeba")
    (tmp_path / "celeba" / "list_eval_partition.txt").write_text("000001.jpg 7\n")
    with pytest.raises(ZooError, match="line 1"):
        scan_image_folder(tmp_path / "celeba")


def test_scan_skips_hidden_and_non_image_files_and_ignores_extension_case(tmp_path):
    for name in ["B.PNG", "a.JpEg", ".hidden.png", ".thumbs/x.png", "notes.txt", "c.tiff", "d.webp"]:
        write(tmp_path / "f" / name, 9, fmt="PNG")
    index = scan_image_folder(tmp_path / "f")
    assert (index.layout, index.files, index.labels) == ("flat", ("B.PNG", "a.JpEg", "c.tiff", "d.webp"), (0,) * 4)


def test_missing_empty_and_mixed_folders_are_clear_errors(tmp_path):
    with pytest.raises(ZooError, match="no such folder"):
        scan_image_folder(tmp_path / "nowhere")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(ZooError, match="not a folder"):
        scan_image_folder(tmp_path / "file.png")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("no images here")
    with pytest.raises(ZooError, match="no images"):
        scan_image_folder(tmp_path / "empty")
    write(tmp_path / "mixed" / "top.png", 1)
    write(tmp_path / "mixed" / "cls" / "low.png", 2)
    with pytest.raises(ZooError, match=r"top level \(e\.g\. top\.png\).*cls/low\.png"):
        scan_image_folder(tmp_path / "mixed")


def test_unreadable_files_stop_with_their_name_or_are_skipped_and_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(folder_module, "_CHUNK", 3)  # decoded in chunks of 3: order kept across chunks
    for i in range(4):
        write(tmp_path / "f" / f"{i}.png", 10 * i)
    (tmp_path / "f" / "1.png").write_bytes(b"not a png")
    good = (tmp_path / "f" / "3.png").read_bytes()
    (tmp_path / "f" / "3.png").write_bytes(good[: len(good) // 2])  # truncated
    cache = tmp_path / "cache"
    with pytest.raises(ZooError, match=r"f/1\.png: unreadable image .*on_error='skip'"):
        load_image_folder(tmp_path / "f", 4, cache_dir=cache)
    with pytest.warns(SkippedImagesWarning, match=r"skipped 2 unreadable of 4 images: 1\.png \(.*\), 3\.png"):
        data = load_image_folder(tmp_path / "f", 4, cache_dir=cache, on_error="skip")
    assert data.rows.tolist() == [0, 2] and [rel for rel, _ in data.skipped] == ["1.png", "3.png"]
    assert [int(image.max()) for image in data.images] == [0, 20]
    with pytest.raises(ZooError, match=r"f/1\.png"):  # a cache hit still refuses unreadable files on "stop"
        load_image_folder(tmp_path / "f", 4, cache_dir=cache)
    for name in ["0.png", "2.png"]:
        (tmp_path / "f" / name).write_bytes(b"")
    with pytest.raises(ZooError, match="none of the 4 images is readable"):
        load_image_folder(tmp_path / "f", 4, cache_dir=cache, on_error="skip")


def test_bad_options_are_user_errors(tmp_path):
    write(tmp_path / "f" / "a.png", 1)
    write(tmp_path / "f" / "b.png", 2)
    for options in [{"size": 0}, {"size": 2.5}, {"size": 4, "on_error": "ignore"}, {"size": 4, "test_fraction": 1.0}]:
        with pytest.raises(ZooError):
            folder_dataset_spec(tmp_path / "f", cache_dir=tmp_path / "cache", **options)


def test_a_cache_hit_reads_no_image_and_gives_the_same_arrays(tmp_path, counted_opens):
    for i in range(6):
        write(tmp_path / "f" / f"{i}.png", (i, 2 * i, 3 * i), size=(7, 5))
    first = load_image_folder(tmp_path / "f", 4, cache_dir=tmp_path / "cache")
    assert len(counted_opens) == 6
    again = load_image_folder(tmp_path / "f", 4, cache_dir=tmp_path / "cache")
    assert len(counted_opens) == 6 and np.array_equal(first.images, again.images)
    (stored,) = (tmp_path / "cache").glob("*.npy")
    assert np.array_equal(np.load(stored, allow_pickle=False), again.images)
    load_image_folder(tmp_path / "f", 3, cache_dir=tmp_path / "cache")  # another size is another entry
    assert len(counted_opens) == 12 and len(list((tmp_path / "cache").glob("*.npy"))) == 2


def test_a_damaged_cache_entry_is_rebuilt(tmp_path, counted_opens):
    for i in range(3):
        write(tmp_path / "f" / f"{i}.png", 10 * i)
    first = np.array(load_image_folder(tmp_path / "f", 4, cache_dir=tmp_path / "cache").images)
    (stored,) = (tmp_path / "cache").glob("*.npy")
    np.save(stored, first[:2], allow_pickle=False)  # e.g. a file from an interrupted copy: the wrong shape
    again = load_image_folder(tmp_path / "f", 4, cache_dir=tmp_path / "cache")
    assert len(counted_opens) == 6 and np.array_equal(again.images, first)


@pytest.mark.parametrize("change", ["rewrite", "add", "remove"])
def test_a_changed_folder_invalidates_the_cache(tmp_path, counted_opens, change):
    for i in range(4):
        write(tmp_path / "f" / f"{i}.png", 10 * i)
    load_image_folder(tmp_path / "f", 4, cache_dir=tmp_path / "cache")
    if change == "rewrite":
        before = (tmp_path / "f" / "2.png").stat().st_size
        write(tmp_path / "f" / "2.png", 222, size=(64, 64))
        assert (tmp_path / "f" / "2.png").stat().st_size != before  # a change the key sees even within one mtime tick
    elif change == "add":
        write(tmp_path / "f" / "4.png", 40)
    else:
        (tmp_path / "f" / "3.png").unlink()
    opened = len(counted_opens)
    data = load_image_folder(tmp_path / "f", 4, cache_dir=tmp_path / "cache")
    assert len(counted_opens) > opened
    expected = {"rewrite": [0, 10, 222, 30], "add": [0, 10, 20, 30, 40], "remove": [0, 10, 20]}[change]
    assert [int(image.max()) for image in data.images] == expected
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 1  # the stale entry is removed


def test_an_unwritable_cache_warns_and_still_loads(tmp_path):
    write(tmp_path / "f" / "a.png", 5)
    (tmp_path / "blocker").write_text("a file where the cache folder should be")
    with pytest.warns(UserWarning, match="could not cache"):
        data = load_image_folder(tmp_path / "f", 2, cache_dir=tmp_path / "blocker" / "cache")
    assert data.images.shape == (1, 1, 2, 2)


def test_the_split_is_deterministic_stratified_and_stable(tmp_path):
    for name, count in [("a", 20), ("b", 10), ("c", 1)]:
        for i in range(count):
            write(tmp_path / "one" / name / f"{i}.png", i)
    index = scan_image_folder(tmp_path / "one")
    splits = assign_splits(index, 0.1)
    tested = [rel.split("/")[0] for rel, split in zip(index.files, splits, strict=True) if split == "test"]
    assert sorted(tested) == ["a", "a", "b"]  # 10% of each class; a single image stays in train

    def lowest(name, count, n):  # the stated rule: the lowest SHA-256 of the relative path goes to test
        return sorted((f"{name}/{i}.png" for i in range(count)), key=lambda r: hashlib.sha256(r.encode()).digest())[:n]

    assert [rel for rel, split in zip(index.files, splits, strict=True) if split == "test"] == sorted(
        lowest("a", 20, 2) + lowest("b", 10, 1)
    )
    shutil.copytree(tmp_path / "one", tmp_path / "two")  # same relative paths elsewhere: the same split
    assert assign_splits(scan_image_folder(tmp_path / "two"), 0.1) == splits
    write(tmp_path / "two" / "a" / "new.png", 1)
    grown = scan_image_folder(tmp_path / "two")
    moved = dict(zip(grown.files, assign_splits(grown, 0.1), strict=True))
    assert sum(moved[rel] != split for rel, split in zip(index.files, splits, strict=True)) <= 1
    assert assign_splits(index, 0.5).count("test") == 10 + 5
    with pytest.raises(ZooError, match="test fraction"):
        assign_splits(index, 0.0)


def test_an_empty_split_is_a_user_error(tmp_path):
    write(tmp_path / "one" / "only.png", 3)
    spec = spec_for(tmp_path / "one")
    assert len(spec.load(None, "train", False)[0]) == 1
    with pytest.raises(ZooError, match="'test' split has no images"):
        spec.load(None, "test", False)


def test_the_dataset_name_is_valid_and_follows_the_data(tmp_path):
    for i in range(3):
        write(tmp_path / "My Faces!" / f"{i}.png", i)
    name = spec_for(tmp_path / "My Faces!", size=4).name
    assert re.fullmatch(r"folder-my-faces-4-[0-9a-f]{8}", name)
    assert spec_for(tmp_path / "My Faces!", size=4).name == name
    assert re.fullmatch(r"folder-my-faces-8-[0-9a-f]{8}", spec_for(tmp_path / "My Faces!", size=8).name)
    assert spec_for(tmp_path / "My Faces!", size=4, test_fraction=0.5).name != name
    write(tmp_path / "My Faces!" / "3.png", 3)
    assert spec_for(tmp_path / "My Faces!", size=4).name != name


def test_default_cache_lives_under_the_data_root(tmp_path):
    write(tmp_path / "f" / "a.png", 5)
    folder_dataset_spec(tmp_path / "f", 2, data_root=tmp_path / "root", progress=False)
    assert len(list((tmp_path / "root" / ".zoo-cache" / "folders").glob("f-*-2-*.npy"))) == 1


def test_progress_bar_only_for_many_files(tmp_path, capsys, monkeypatch):
    write(tmp_path / "f" / "a.png", 5)
    load_image_folder(tmp_path / "f", 2, cache_dir=tmp_path / "c1")
    assert "preprocessing" not in capsys.readouterr().err
    monkeypatch.setattr(folder_module, "_PROGRESS_MIN_FILES", 1)
    load_image_folder(tmp_path / "f", 2, cache_dir=tmp_path / "c2")
    assert "preprocessing f to 2px" in capsys.readouterr().err
